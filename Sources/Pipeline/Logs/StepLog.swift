import Core
import Foundation

/// Wakes followers of a run's logs when new output is written or a step ends. No polling: a follower
/// awaits the next change, then reads the files from where it stopped.
package actor LogHub {
    private var followers: [Int64: [UUID: AsyncStream<Void>.Continuation]] = [:]

    package init() {}

    /// A stream that yields once per change of `runID`'s logs (coalesced), until `runFinished`.
    package func follow(runID: Int64) -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        followers[runID, default: [:]][id] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.drop(runID: runID, id: id) }
        }
        return stream
    }

    package func changed(runID: Int64) {
        followers[runID]?.values.forEach { $0.yield() }
    }

    package func runFinished(runID: Int64) {
        followers[runID]?.values.forEach {
            $0.yield()
            $0.finish()
        }
        followers[runID] = nil
    }

    private func drop(runID: Int64, id: UUID) {
        followers[runID]?[id] = nil
        if followers[runID]?.isEmpty == true { followers[runID] = nil }
    }
}

/// Writes one step's output to `logs/<step>.log` as it arrives: secrets masked, bytes kept as they are
/// (no UTF-8 decoding), at most `cap` bytes, then a `[truncated: N bytes]` marker when the step ends.
/// When a write fails (the disk is full), the log is cut back to its first `keepOnWriteFailure` bytes to give
/// the space back to the store, the rest of the output is dropped, and `close()` reports the failure.
package actor StepLogFile: LogSink {
    /// What stays of a log whose write failed.
    static let keepOnWriteFailure: Int64 = 256 << 10
    private let handle: FileHandle
    private let cap: Int64
    private var masker: StreamingMasker
    private let hub: LogHub?
    private let runID: Int64
    private(set) var written: Int64 = 0
    private(set) var dropped: Int64 = 0
    /// The first write error (e.g. "No space left on device"); after it, output is dropped.
    private(set) var writeError: String?
    /// The last 64 KiB, for test-summary parsing without re-reading a huge file.
    private(set) var tail = Data()
    private static let tailSize = 64 << 10

    package init(url: URL, cap: Int64, masker: SecretMasker, hub: LogHub?, runID: Int64) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw SandboxError("cannot create log file \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
        self.cap = cap
        self.masker = StreamingMasker(masker)
        self.hub = hub
        self.runID = runID
    }

    package func write(_ bytes: Data, from stream: LogStream) async {
        append(masker.push(bytes))
        await hub?.changed(runID: runID)
    }

    /// Writes a line of the runner's own (e.g. "[pushbox] timed out"); it is masked too.
    package func note(_ text: String) async {
        append(masker.push(Data(text.utf8)))
        await hub?.changed(runID: runID)
    }

    private func append(_ data: Data) {
        guard !data.isEmpty else { return }
        let room = writeError == nil ? max(0, cap - written) : 0
        let accepted = data.prefix(Int(min(Int64(data.count), room)))
        if !accepted.isEmpty {
            do {
                try handle.write(contentsOf: accepted)
                written += Int64(accepted.count)
                tail.append(accepted)
                if tail.count > Self.tailSize * 2 { tail = Data(tail.suffix(Self.tailSize)) }
            } catch {
                dropped += Int64(accepted.count)
                failed(error)
            }
        }
        dropped += Int64(data.count - accepted.count)
    }

    /// Records the first write failure and cuts the file back, so that a full disk has room again for the
    /// store to record how the run ended.
    private func failed(_ error: any Error) {
        guard writeError == nil else { return }
        let posix = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        writeError = posix.map { String(cString: strerror(Int32($0.code))) } ?? "\(error)"
        let kept = min(written, Self.keepOnWriteFailure)
        if (try? handle.truncate(atOffset: UInt64(kept))) != nil {
            dropped += written - kept
            written = kept
            try? handle.seek(toOffset: UInt64(kept))
        }
    }

    /// Flushes the masker, writes the truncation marker if bytes were dropped, and closes the file.
    /// Returns the bytes written and whether the log was truncated.
    package func close() -> (bytes: Int64, truncated: Bool, tail: Data, writeError: String?) {
        append(masker.finish())
        if dropped > 0 {
            let reason = writeError.map { ": the log could not be written (\($0)), cut to its first \(Self.keepOnWriteFailure >> 10) KiB" } ?? ""
            let marker = Data("\n[truncated: \(dropped) bytes\(reason)]\n".utf8)
            if (try? handle.write(contentsOf: marker)) != nil { written += Int64(marker.count) }
        }
        try? handle.synchronize()
        try? handle.close()
        return (written, dropped > 0, Data(tail.suffix(Self.tailSize)), writeError)
    }
}
