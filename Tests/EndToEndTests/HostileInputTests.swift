import Core
import Foundation
import Testing
import TestSupport

/// Odd and oversized pushes and output through the real daemon: each gets its run, loses nothing it
/// should keep, and leaves the daemon serving.
@Suite("hostile and odd input", .serialized)
struct HostileInputTests {
    @Test("binary garbage, a 3 MB line without a newline and a \\r progress bar: the log keeps every byte, the page and live view show the bar's last state")
    func oddOutput() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            steps:
              - name: odd
                run: |
                  head -c 3000000 /dev/zero | tr '\\000' a
                  python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096)"
                  for i in $(seq 1 500); do printf '\\rprogress %3d%%' $i; done
                  printf '\\n'
            """)
        try repo.commit("odd output")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(id).state == .passed)

        var expected = Data(repeating: UInt8(ascii: "a"), count: 3_000_000)
        for _ in 0..<4096 { expected.append(contentsOf: (0...255).map { UInt8($0) }) }
        for i in 1...500 { expected.append(contentsOf: Array(String(format: "\rprogress %3d%%", i).utf8)) }
        expected.append(UInt8(ascii: "\n"))
        let stored = try Data(contentsOf: pushbox.home.appendingPathComponent("runs/\(id)/logs/odd.log"))
        #expect(stored.count == expected.count)
        #expect(stored == expected, "the log is byte for byte what the job printed")

        // The raw log over the API is the same bytes.
        let download = pushbox.home.appendingPathComponent("download.log")
        _ = try Command.run(["curl", "-sS", "-o", download.path, "http://127.0.0.1:\(pushbox.port)/api/v1/runs/\(id)/logs/odd"])
        #expect(try Data(contentsOf: download) == expected)

        // The run page shows the bar as a terminal leaves it: its last state, not 500 states on one line.
        let page = try HTTPGet.fetch("http://127.0.0.1:\(pushbox.port)/runs/\(id)")
        #expect(page.status == 200)
        #expect(page.body.contains("progress 500%\n</span>"), "\(page.body.suffix(500))")
        #expect(!page.body.contains("progress 499%"))
        // The live view (server-sent events) too.
        let events = try Command.run(["curl", "-sS", "-H", "Accept: text/event-stream",
                                      "http://127.0.0.1:\(pushbox.port)/api/v1/runs/\(id)/logs/odd"], mergeErrors: false)
        #expect(events.output.contains("data: progress 500%\n"))
        #expect(!events.output.contains("progress 499%"))
        #expect(events.output.hasSuffix("event: end\ndata: passed\n\n"))
        #expect(events.output.contains("data: " + String(repeating: "a", count: 3_000_000)), "the long line is one event")
    }

    @Test("a job printing 1 GiB: the log stops at log_cap with the exact count of bytes dropped, the run passes, the daemon serves on")
    func gigabyteOfOutput() throws {
        let pushbox = try DaemonFixture(config: "log_cap: 64m\n")
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            steps:
              - name: flood
                run: yes 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde | head -c 1073741824
              - name: after
                run: echo still here
            """)
        try repo.commit("flood")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(600))
        #expect(run.state == .passed)
        let log = pushbox.home.appendingPathComponent("runs/\(id)/logs/flood.log")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: log.path)[.size] as? Int)
        let cap = 64 << 20, dropped = (1 << 30) - cap
        let marker = "\n[truncated: \(dropped) bytes]\n"
        #expect(size == cap + marker.utf8.count, "\(size)")
        let handle = try FileHandle(forReadingFrom: log)
        try handle.seek(toOffset: UInt64(cap))
        #expect(String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self) == marker)
        try handle.seek(toOffset: 0)
        #expect(String(decoding: try handle.read(upToCount: 128) ?? Data(), as: UTF8.self).hasPrefix("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n0123"))
        try handle.close()
        #expect(pushbox.log(run: id, step: "after") == "still here\n")
        #expect(try HTTPGet.fetch("http://127.0.0.1:\(pushbox.port)/runs/\(id)").status == 200)
    }

    @Test("a 50 MB .pushbox.yml is an error run that says why, read no further than its object header")
    func hugePipelineFile() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        let padding = String(repeating: "# padding padding padding padding padding padding\n", count: 1_000_000)
        try repo.write(".pushbox.yml", "steps: [make]\n" + padding)
        let sha = try repo.commit("a 50 MB pipeline")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .error)
        #expect(run.message?.contains(".pushbox.yml is \(14 + padding.utf8.count) bytes, more than the limit of 1048576") == true, "\(run.message ?? "")")
        #expect(try pushbox.note(repo, sha)?.contains("more than the limit of 1048576") == true)
        #expect(pushbox.isDaemonRunning)
    }

    @Test("a 2 GiB file in the pushed tree arrives whole in the job's workspace")
    func twoGigabyteFile() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        // Zeros with a marker at the end: cheap to compress and push, and the job checks every byte's count
        // and the end.
        let big = repo.clone.appendingPathComponent("big.bin")
        let fd = open(big.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        #expect(ftruncate(fd, off_t(2 << 30) - 4) == 0)
        #expect(lseek(fd, 0, SEEK_END) == off_t(2 << 30) - 4)
        #expect(write(fd, "end\n", 4) == 4)
        close(fd)
        try repo.write(".pushbox.yml", """
            steps:
              - name: check
                run: |
                  echo "size: $(stat -c %s big.bin)"
                  echo "tail: $(tail -c 4 big.bin)"
                  echo "nonzero: $(head -c 2147483644 big.bin | tr -d '\\000' | wc -c)"
            """)
        try repo.commit("a 2 GiB file")
        #expect(try repo.push().status == 0)
        let id = try #require(try pushbox.runs().first?.id)
        let run = try pushbox.waitForRun(id, timeout: .seconds(900))
        #expect(run.state == .passed, "\(run.message ?? "")")
        let log = pushbox.log(run: id, step: "check")
        #expect(log.contains("size: 2147483648\n"), "\(log)")
        #expect(log.contains("tail: end\n"))
        #expect(log.contains("nonzero: 0\n"))
        let checkout = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(id)/checkout.log"), encoding: .utf8)
        #expect(checkout.contains(": 2 files,"), "\(checkout)")
    }

    @Test("a tree of 100,000 files is checked out whole")
    func hundredThousandFiles() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        for directory in 0..<100 {
            let folder = repo.clone.appendingPathComponent("d\(directory)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for file in 0..<1000 {
                try Data("\(directory)-\(file)\n".utf8).write(to: folder.appendingPathComponent("f\(file)"))
            }
        }
        try repo.write(".pushbox.yml", """
            steps:
              - name: count
                run: |
                  echo "files: $(find . -path ./.git -prune -o -type f -print | wc -l)"
                  echo "sample: $(cat d99/f999)"
            """)
        try repo.commit("100k files")
        #expect(try repo.push().status == 0)
        let id = try #require(try pushbox.runs().first?.id)
        let run = try pushbox.waitForRun(id, timeout: .seconds(900))
        #expect(run.state == .passed, "\(run.message ?? "")")
        let log = pushbox.log(run: id, step: "count")
        #expect(log.contains("files: 100001\n"), "\(log)")
        #expect(log.contains("sample: 99-999\n"))
    }
}
