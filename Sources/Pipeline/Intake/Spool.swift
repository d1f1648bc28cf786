import Core
import Foundation

/// One post-receive event written by the hook while the daemon was unreachable.
package struct SpoolEvent: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case repoPath = "repo_path"
        case updates
        case receivedAt = "received_at"
    }

    package var repoPath: String
    package var updates: [RefUpdate]
    package var receivedAt: Date

    package init(repoPath: String, updates: [RefUpdate], receivedAt: Date = Date()) {
        self.repoPath = repoPath
        self.updates = updates
        self.receivedAt = receivedAt
    }
}

/// `$PUSHBOX_HOME/spool/`: one JSON file per event, written to a temporary name, fsync'd, renamed, and the
/// directory fsync'd, so an event the hook reported as spooled survives a power cut. The daemon drains it
/// in order of arrival on start and on every reconciliation tick, deleting a file only after its event
/// is in the store.
package struct Spool: Sendable {
    package let directory: URL

    package init(directory: URL) { self.directory = directory }

    /// Durably appends `event`; returns the file written.
    @discardableResult
    package func append(_ event: SpoolEvent) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = Timestamps.encoding
        let data = try encoder.encode(event)
        let stamp = String(format: "%020.6f", event.receivedAt.timeIntervalSince1970)
        let name = "\(stamp)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).json"
        let temporary = directory.appendingPathComponent(".\(name).tmp")
        let final = directory.appendingPathComponent(name)
        try Self.writeSynced(data, to: temporary)
        guard rename(temporary.path, final.path) == 0 else {
            throw SpoolError("cannot rename \(temporary.path): \(String(cString: strerror(errno)))")
        }
        try Self.syncDirectory(directory)
        return final
    }

    /// Spooled events, oldest first, with the file each came from. Unreadable files are returned as
    /// errors so the caller can report them; they are left in place.
    package func pending() -> [(file: URL, event: Result<SpoolEvent, SpoolError>)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = Timestamps.decoding
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().map { name in
            let file = directory.appendingPathComponent(name)
            do {
                let data = try Data(contentsOf: file)
                return (file, .success(try decoder.decode(SpoolEvent.self, from: data)))
            } catch {
                return (file, .failure(SpoolError("cannot read spooled event \(name): \(error)")))
            }
        }
    }

    package func remove(_ file: URL) {
        unlink(file.path)
    }

    private static func writeSynced(_ data: Data, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError("cannot create \(url.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                guard written > 0 else { throw SpoolError("cannot write \(url.path): \(String(cString: strerror(errno)))") }
                offset += written
            }
        }
        guard fsync(fd) == 0 else { throw SpoolError("cannot fsync \(url.path): \(String(cString: strerror(errno)))") }
    }

    private static func syncDirectory(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = fsync(fd)
    }
}

package struct SpoolError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}
