import Core
import Foundation
import Testing
import TestSupport

/// `$PUSHBOX_HOME` on a small loop-mounted file system that fills up: while a job writes its log, and while
/// the store records a push. Each ends with a clear message, the daemon keeps serving, the store stays
/// sound, and runs work again once there is space.
@Suite("disk full", .serialized)
struct DiskFullTests {
    static func sh(_ command: String) throws -> Command.Result {
        try Command.run(["sh", "-c", command])
    }

    static func integrity(_ home: URL) throws -> String {
        try sh("python3 -c \"import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])\" '\(home.path)/pushbox.sqlite'")
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A daemon fixture (reconciling every second) whose `$PUSHBOX_HOME` is a 48 MB loop-mounted ext4 file
    /// system, and what stops it, unmounts and removes it.
    static func smallHome() throws -> (DaemonFixture, cleanUp: () -> Void) {
        let image = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-diskfull-\(UUID().uuidString).img")
        var mounted: URL?
        let pushbox = try DaemonFixture(config: "reconcile_every: 1s\n") { home in
            let made = try Self.sh("truncate -s 48M '\(image.path)' && mkfs.ext4 -q -F '\(image.path)' && mount -o loop '\(image.path)' '\(home.path)'")
            guard made.status == 0 else { throw FixtureError("cannot mount a small file system: \(made.output)") }
            mounted = home
        }
        return (pushbox, {
            pushbox.stopDaemon()
            pushbox.stopOrphanedEngine()
            if let mounted { _ = try? Self.sh("umount '\(mounted.path)' || umount -l '\(mounted.path)'") }
            try? FileManager.default.removeItem(at: image)
        })
    }

    @Test("a log that fills the disk ends the run in error and gives the space back; a full store recovers by the scan")
    func diskFull() throws {
        let (pushbox, cleanUp) = try Self.smallHome()
        defer { cleanUp() }
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: ok, run: echo first}\n")
        let firstSHA = try repo.commit("first")
        let first = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first))
        #expect(first.state == .passed)

        // 1. The job's output fills the disk.
        try repo.write(".pushbox.yml", "steps:\n  - {name: flood, run: \"yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 200000000\"}\n")
        _ = try repo.commit("flood")
        let flood = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first), timeout: .seconds(120))
        #expect(flood.state == .error)
        #expect(flood.message?.contains("cannot write the log of step flood: No space left on device") == true, "\(flood.message ?? "")")
        #expect(pushbox.log(run: flood.id, step: "flood").contains("[truncated:"), "the log says it was cut")
        #expect(pushbox.isDaemonRunning)
        #expect(try Self.integrity(pushbox.home) == "ok")
        #expect(try pushbox.note(repo, firstSHA)?.hasPrefix("pushbox: passed") == true, "what was stored before is intact")

        // 2. Something else fills the disk: the store may not be able to record the push; the push itself succeeds.
        let filler = pushbox.home.appendingPathComponent("filler")
        _ = try Self.sh("dd if=/dev/zero of='\(filler.path)' bs=1M 2>/dev/null; sync")
        try repo.write(".pushbox.yml", "steps:\n  - {name: later, run: echo after the disk was full}\n")
        let laterSHA = try repo.commit("while full")
        let push = try repo.push()
        #expect(push.status == 0, "a full runner never fails a push")
        #expect(pushbox.isDaemonRunning)
        // Space returns: the scan finds the head that has no run and runs it; or, when the store could record
        // it but its workspace could not be made, that run ended `error: runner disk full…` and is retried once.
        try FileManager.default.removeItem(at: filler)
        let deadline = ContinuousClock.now + .seconds(60)
        var later: Run?
        while ContinuousClock.now < deadline {
            later = try? pushbox.runs().first { $0.sha == laterSHA && $0.state == .passed }
            if later != nil { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(later?.state == .passed, "\(push.output)\n\(pushbox.daemonOutput().suffix(2000))")
        let errors = try pushbox.runs().filter { $0.sha == laterSHA && $0.state == .error }
        for failed in errors {
            #expect(failed.message?.hasPrefix("runner disk full: ") == true, "\(failed.message ?? "")")
        }
        if !errors.isEmpty {
            #expect(later?.source == .diskRetry && errors.map(\.id).contains(later?.retryOf ?? -1), "the run that could not start was retried once")
        }
        #expect(try Self.integrity(pushbox.home) == "ok")
        #expect(try pushbox.runs().count >= 3)
    }

    @Test("a run whose workspace cannot be made on a full runner disk ends error: runner disk full, and runs once more when space is back")
    func workspaceOnAFullDisk() throws {
        let (pushbox, cleanUp) = try Self.smallHome()
        defer { cleanUp() }
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: ok, run: echo made it}\n")
        let sha = try repo.commit("while nearly full")
        // Leave about 1 MiB: enough for the store to record the push, not for the workspace's file system
        // (mkfs writes a few MiB of metadata for the 10 GiB default quota).
        var stats = statvfs()
        #expect(statvfs(pushbox.home.path, &stats) == 0)
        let available = Int64(stats.f_bavail) * Int64(stats.f_frsize)
        let filler = pushbox.home.appendingPathComponent("filler")
        #expect(try Self.sh("dd if=/dev/zero of='\(filler.path)' bs=1M count=\(available / (1 << 20) - 1) 2>&1; sync").status == 0)
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let failed = try pushbox.waitForRun(id)
        #expect(failed.state == .error)
        #expect(failed.message?.hasPrefix("runner disk full: cannot create the workspace (workspace_quota 10.0 GiB): ") == true, "\(failed.message ?? "")")
        #expect(failed.message?.contains("No space left on device") == true)
        Thread.sleep(forTimeInterval: 2.5)
        #expect(try pushbox.runs().count == 1, "no retry while the disk is still full")

        try FileManager.default.removeItem(at: filler)
        let deadline = ContinuousClock.now + .seconds(60)
        var retry: Run?
        while ContinuousClock.now < deadline {
            retry = try pushbox.runs().first { $0.retryOf == id && $0.state.isFinished }
            if retry != nil { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(retry?.state == .passed && retry?.source == .diskRetry && retry?.sha == sha)
        Thread.sleep(forTimeInterval: 2.5)
        #expect(try pushbox.runs().count == 2, "retried once")
        #expect(try pushbox.note(repo, sha)?.hasPrefix("pushbox: passed") == true)
    }
}
