import Core
import Foundation
import Pipeline
import Testing
import TestSupport

/// Runs `body`, giving up (returning nil) after `seconds`. The body is cancelled when time runs out.
private func withTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async -> T) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

private func writeAll(_ chunks: [Data], cap: Int64, secrets: [String] = [], hub: LogHub? = nil, runID: Int64 = 1)
    async throws -> (file: Data, bytes: Int64, truncated: Bool, tail: Data) {
    let directory = try TemporaryDirectory(prefix: "pushbox-steplogtests")
    defer { directory.remove() }
    let url = directory.url("runs/\(runID)/logs/build.log")
    let log = try StepLogFile(url: url, cap: cap, masker: SecretMasker(secrets: secrets), hub: hub, runID: runID)
    #expect(FileManager.default.fileExists(atPath: url.path))
    for (index, chunk) in chunks.enumerated() {
        await log.write(chunk, from: index.isMultiple(of: 2) ? .stdout : .stderr)
    }
    let result = await log.close()
    return (try Data(contentsOf: url), result.bytes, result.truncated, result.tail)
}

@Suite("StepLogFile")
struct StepLogFileTests {
    static let binary: Data = {
        var data = Data("ok ✓\n".utf8)
        data += Data([0x00, 0x00, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x00, 0x80, 0xed, 0xa0, 0x80, 0x0d, 0x0a])
        data += Data("\u{1b}[31mred\u{1b}[0m\r\nprogress 10%\rprogress 100%\n".utf8)
        data += Data((0...255).map { UInt8($0) })
        return data
    }()

    @Test("bytes are kept exactly: invalid UTF-8, NULs, escapes, CRs", arguments: [[1], [3, 7, 100000], [1, 1, 1, 2, 500]])
    func exactBytes(_ sizes: [Int]) async throws {
        var chunks: [Data] = []
        var rest = Self.binary[...]
        var index = 0
        while !rest.isEmpty {
            let size = sizes[index % sizes.count]
            chunks.append(Data(rest.prefix(size)))
            rest = rest.dropFirst(size)
            index += 1
        }
        for secrets in [[], ["a-secret-not-in-the-output"]] {
            let result = try await writeAll(chunks, cap: 1 << 20, secrets: secrets)
            #expect(result.file == Self.binary)
            #expect(result.bytes == Int64(Self.binary.count))
            #expect(result.truncated == false)
            #expect(result.tail == Self.binary)
        }
    }

    struct CapCase: Sendable, CustomTestStringConvertible {
        var name: String
        var chunks: [String]
        var cap: Int64
        var kept: String
        var dropped: Int
        var testDescription: String { name }
    }

    static let capCases: [CapCase] = [
        .init(name: "one write over the cap", chunks: ["0123456789ABCDEF"], cap: 10, kept: "0123456789", dropped: 6),
        .init(name: "the cap crossed inside the second write", chunks: ["0123456", "789ABCD", "EFGHIJK"], cap: 10,
              kept: "0123456789", dropped: 11),
        .init(name: "exactly at the cap: no marker", chunks: ["01234", "56789"], cap: 10, kept: "0123456789", dropped: 0),
        .init(name: "one byte over", chunks: ["01234", "567890"], cap: 10, kept: "0123456789", dropped: 1),
        .init(name: "cap zero", chunks: ["abc", "def"], cap: 0, kept: "", dropped: 6),
        .init(name: "many writes after the cap", chunks: Array(repeating: "xxxxxxxxxx", count: 100), cap: 25,
              kept: String(repeating: "x", count: 25), dropped: 975),
    ]

    @Test("the cap truncates and the marker gives the exact number of bytes dropped", arguments: capCases)
    func cap(_ c: CapCase) async throws {
        let result = try await writeAll(c.chunks.map { Data($0.utf8) }, cap: c.cap)
        let marker = c.dropped > 0 ? "\n[truncated: \(c.dropped) bytes]\n" : ""
        #expect(String(decoding: result.file, as: UTF8.self) == c.kept + marker)
        #expect(result.truncated == (c.dropped > 0))
        #expect(result.bytes == Int64(result.file.count))
        #expect(result.tail == Data(c.kept.utf8))
    }

    @Test("the cap counts bytes after masking, and a secret is never cut in half")
    func capWithSecret() async throws {
        let result = try await writeAll([Data("abc hunter2-secret def".utf8)], cap: 8, secrets: ["hunter2-secret"])
        // Masked: "abc *** def" (11 bytes); 8 kept, 3 dropped.
        #expect(String(decoding: result.file, as: UTF8.self) == "abc *** \n[truncated: 3 bytes]\n")
    }

    @Test("the tail holds the last 64 KiB")
    func tail() async throws {
        let chunk = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let chunks = Array(repeating: chunk, count: 30)
        let all = chunks.reduce(Data(), +)
        let result = try await writeAll(chunks, cap: 1 << 30)
        #expect(result.file == all)
        #expect(result.tail == all.suffix(64 << 10))
    }

    @Test("secrets are masked in the file even when split across writes, at every split position")
    func maskedAcrossWrites() async throws {
        let secret = "hunter2-secret-value"
        let line = "login with \(secret) ok\n"
        let bytes = [UInt8](line.utf8)
        for split in 1..<bytes.count {
            let result = try await writeAll([Data(bytes[..<split]), Data(bytes[split...])], cap: 1 << 20, secrets: [secret])
            #expect(String(decoding: result.file, as: UTF8.self) == "login with *** ok\n", "split at \(split)")
        }
        // Three pieces, the secret across all of them, plus base64 of it.
        let b64 = Data(secret.utf8).base64EncodedString()
        let pieces = ["token=hunter2-", "secret", "-value;b64=\(b64.prefix(9))", "\(b64.dropFirst(9))\n"].map { Data($0.utf8) }
        let result = try await writeAll(pieces, cap: 1 << 20, secrets: [secret])
        let text = String(decoding: result.file, as: UTF8.self)
        #expect(!text.contains("hunter2"))
        #expect(text.hasPrefix("token=***;b64=***"))
    }

    @Test("note() lines are written and masked too")
    func note() async throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-steplogtests")
        defer { directory.remove() }
        let url = directory.url("logs/test.log")
        let log = try StepLogFile(url: url, cap: 1 << 20, masker: SecretMasker(secrets: ["s3cr3t-token"]), hub: nil, runID: 9)
        await log.write(Data("out\n".utf8), from: .stdout)
        await log.note("[pushbox] step exited 1 (token s3cr3t-token)\n")
        _ = await log.close()
        #expect(try String(contentsOf: url, encoding: .utf8) == "out\n[pushbox] step exited 1 (token ***)\n")
    }
}

@Suite("LogHub")
struct LogHubTests {
    @Test("a follower wakes when a step log is written, and its stream ends on runFinished")
    func wakesAndFinishes() async throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-loghubtests")
        defer { directory.remove() }
        let hub = LogHub()
        let stream = await hub.follow(runID: 7)
        let log = try StepLogFile(url: directory.url("logs/build.log"), cap: 1 << 20, masker: SecretMasker(secrets: []),
                                  hub: hub, runID: 7)
        await log.write(Data("hello\n".utf8), from: .stdout)
        let woke = await withTimeout(10) {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next() != nil
        }
        #expect(woke == true)
        _ = await log.close()
        await hub.runFinished(runID: 7)
        let ended = await withTimeout(10) {
            var count = 0
            for await _ in stream { count += 1 }
            return count
        }
        // At most the coalesced wake-up of the last change, then the end.
        #expect(ended != nil)
        #expect((ended ?? 99) <= 1)
    }

    @Test("changes are coalesced; runFinished yields once more and ends the stream")
    func coalesced() async {
        let hub = LogHub()
        let stream = await hub.follow(runID: 1)
        for _ in 0..<5 { await hub.changed(runID: 1) }
        await hub.runFinished(runID: 1)
        let count = await withTimeout(10) {
            var count = 0
            for await _ in stream { count += 1 }
            return count
        }
        #expect(count == 1)
    }

    @Test("another run's changes and end do not touch a follower")
    func otherRun() async {
        let hub = LogHub()
        let stream = await hub.follow(runID: 2)
        await hub.changed(runID: 1)
        await hub.runFinished(runID: 1)
        await hub.changed(runID: 2)
        let events = await withTimeout(10) { () -> [Bool] in
            var iterator = stream.makeAsyncIterator()
            let first = await iterator.next() != nil
            await hub.runFinished(runID: 2)
            let second = await iterator.next() != nil
            let third = await iterator.next() != nil
            return [first, second, third]
        }
        #expect(events == [true, true, false])
    }

    @Test("every follower of a run wakes", arguments: [1, 2, 8])
    func manyFollowers(_ count: Int) async {
        let hub = LogHub()
        var streams: [AsyncStream<Void>] = []
        for _ in 0..<count { streams.append(await hub.follow(runID: 3)) }
        await hub.changed(runID: 3)
        let snapshot = streams
        let woke = await withTimeout(10) {
            var woke = 0
            for stream in snapshot {
                var iterator = stream.makeAsyncIterator()
                if await iterator.next() != nil { woke += 1 }
            }
            return woke
        }
        #expect(woke == count)
        await hub.runFinished(runID: 3)
        let ended = await withTimeout(10) {
            var ended = 0
            for stream in snapshot {
                var iterator = stream.makeAsyncIterator()
                _ = await iterator.next()
                if await iterator.next() == nil { ended += 1 }
            }
            return ended
        }
        #expect(ended == count)
    }

    @Test("following a run that already finished waits for the next change (no stale end)")
    func followAfterFinish() async {
        let hub = LogHub()
        await hub.runFinished(runID: 4)
        let stream = await hub.follow(runID: 4)
        await hub.changed(runID: 4)
        let woke = await withTimeout(10) {
            var iterator = stream.makeAsyncIterator()
            return await iterator.next() != nil
        }
        #expect(woke == true)
        await hub.runFinished(runID: 4)
    }
}
