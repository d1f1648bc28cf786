import Core
import Foundation
import Pipeline
import Testing
import TestSupport

private func sha(_ n: Int) -> String { String(format: "%040x", n + 1) }

private func event(_ n: Int, at seconds: Double) -> SpoolEvent {
    SpoolEvent(repoPath: "/srv/git/repo-\(n).git",
               updates: [RefUpdate(oldSHA: sha(n), newSHA: sha(n + 100), ref: "refs/heads/b\(n)"),
                         RefUpdate(oldSHA: RefUpdate.zeroSHA, newSHA: sha(n + 200), ref: "refs/tags/t\(n)")],
               receivedAt: Date(timeIntervalSince1970: 1_700_000_000 + seconds))
}

private func names(_ directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
}

@Suite("Spool")
struct SpoolTests {
    @Test("append then pending() returns the events in arrival order with exact contents", arguments: [1, 2, 12])
    func arrivalOrder(_ count: Int) throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        // The directory does not exist yet: append creates it.
        let spool = Spool(directory: directory.url("home/spool"))
        var written: [(URL, SpoolEvent)] = []
        for n in 0..<count {
            // Timestamps grow irregularly, with fractions of a second.
            let e = event(n, at: Double(n * n) * 11 + Double(n) * 0.001)
            written.append((try spool.append(e), e))
        }
        let pending = spool.pending()
        #expect(pending.count == count)
        for (index, item) in pending.enumerated() {
            #expect(item.file == written[index].0)
            guard case let .success(event) = item.event else {
                Issue.record("event \(index) did not decode: \(item.event)")
                continue
            }
            #expect(event.repoPath == written[index].1.repoPath)
            #expect(event.updates == written[index].1.updates)
            // The spool stores whole seconds.
            #expect(event.receivedAt.timeIntervalSince1970.rounded(.down) == written[index].1.receivedAt.timeIntervalSince1970.rounded(.down))
        }
    }

    @Test("events with whole-second timestamps round-trip exactly")
    func exactRoundTrip() throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        let spool = Spool(directory: directory.url)
        let events = (0..<5).map { event($0, at: Double($0)) }
        for e in events { try spool.append(e) }
        let decoded = spool.pending().compactMap { try? $0.event.get() }
        #expect(decoded == events)
    }

    @Test("an event written later but stamped earlier still drains by its timestamp")
    func timestampOrder() throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        let spool = Spool(directory: directory.url)
        try spool.append(event(1, at: 500))
        try spool.append(event(2, at: 5))
        #expect(spool.pending().compactMap { try? $0.event.get().repoPath } == ["/srv/git/repo-2.git", "/srv/git/repo-1.git"])
    }

    @Test("spool files are 0600 JSON, and no temporary file is left behind")
    func filesOnDisk() throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        let spool = Spool(directory: directory.url("spool"))
        var files: [URL] = []
        for n in 0..<5 { files.append(try spool.append(event(n, at: Double(n)))) }
        let listing = try names(directory.url("spool"))
        #expect(listing == files.map(\.lastPathComponent).sorted())
        #expect(!listing.contains { $0.hasSuffix(".tmp") || $0.hasPrefix(".") })
        for (n, file) in files.enumerated() {
            #expect(file.pathExtension == "json")
            #expect(file.deletingLastPathComponent().path == directory.url("spool").path)
            let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
            let json = try Data(contentsOf: file)
            let object = try JSONSerialization.jsonObject(with: json) as? [String: Any]
            let repoPath = object?["repo_path"] as? String
            #expect(repoPath == "/srv/git/repo-\(n).git", "\(String(decoding: json, as: UTF8.self))")
        }
    }

    @Test("a corrupt file is reported as a failure and left in place; good events around it still drain", arguments: [
        "{not json", "", "{\"repoPath\": \"/x\"}", "\u{0}\u{1}\u{2}", "[]",
    ])
    func corruptFile(_ content: String) throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        let spool = Spool(directory: directory.url)
        try spool.append(event(1, at: 1))
        let corrupt = directory.url("0001700000002.000000-1-1.json")
        try Data(content.utf8).write(to: corrupt)
        try spool.append(event(3, at: 3))

        let pending = spool.pending()
        #expect(pending.count == 3)
        #expect(pending.map(\.file.lastPathComponent).sorted() == pending.map(\.file.lastPathComponent))
        #expect(pending[1].file.lastPathComponent == corrupt.lastPathComponent)
        guard case let .failure(error) = pending[1].event else {
            Issue.record("corrupt file decoded: \(pending[1].event)")
            return
        }
        #expect(error.message.contains("cannot read spooled event 0001700000002.000000-1-1.json"))
        #expect(FileManager.default.fileExists(atPath: corrupt.path))
        #expect((try? pending[0].event.get())?.repoPath == "/srv/git/repo-1.git")
        #expect((try? pending[2].event.get())?.repoPath == "/srv/git/repo-3.git")
        // Asking again reports it again: nothing was deleted.
        #expect(spool.pending().count == 3)
    }

    @Test("hidden, temporary and non-JSON files are not events")
    func ignoredFiles() throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        let spool = Spool(directory: directory.url)
        let good = try spool.append(event(1, at: 1))
        for name in [".0001700000000.000000-1-1.json.tmp", ".hidden.json", "notes.txt", "x.json.tmp"] {
            try Data("{".utf8).write(to: directory.url(name))
        }
        let pending = spool.pending()
        #expect(pending.map(\.file) == [good])
    }

    @Test("remove() deletes exactly the file given")
    func remove() throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        let spool = Spool(directory: directory.url)
        let first = try spool.append(event(1, at: 1))
        let second = try spool.append(event(2, at: 2))
        spool.remove(first)
        #expect(!FileManager.default.fileExists(atPath: first.path))
        #expect(FileManager.default.fileExists(atPath: second.path))
        #expect(spool.pending().map(\.file) == [second])
        spool.remove(second)
        #expect(spool.pending().isEmpty)
        #expect(try names(directory.url).isEmpty)
        // Removing twice is harmless.
        spool.remove(second)
    }

    @Test("pending() of a spool directory that does not exist is empty")
    func missingDirectory() throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        #expect(Spool(directory: directory.url("nope")).pending().isEmpty)
    }

    @Test("appends from 8 tasks at once all land, each in its own file")
    func concurrentAppends() async throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-spooltests")
        defer { directory.remove() }
        let spool = Spool(directory: directory.url)
        let files = try await withThrowingTaskGroup(of: URL.self) { group in
            for n in 0..<8 { group.addTask { try spool.append(event(n, at: 7)) } }
            return try await group.reduce(into: Set<URL>()) { $0.insert($1) }
        }
        #expect(files.count == 8)
        let repos = spool.pending().compactMap { try? $0.event.get().repoPath }
        #expect(Set(repos) == Set((0..<8).map { "/srv/git/repo-\($0).git" }))
    }
}
