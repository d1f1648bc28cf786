import API
import Core
import Foundation
import Pipeline
import Testing
import TestSupport

private let quick = "steps:\n  - {name: hello, run: \"echo hello\"}\n"
private let slow = "steps:\n  - {name: wait, run: \"sleep 60\"}\n"

/// The queue in-process (`Scheduler` + `RunDriver` + a SQLite store in a temporary home, real bare
/// repositories, the scripted executor): supersede, the deduplication of spooled, scanned and hooked pushes,
/// crash recovery, and the retries after the engine's loss and a full runner disk.
@Suite("Queue")
struct QueueTests {
    // MARK: supersede

    @Test("a second push of a branch cancels its queued run: superseded by run N, never started")
    func supersedesTheQueuedRun() async throws {
        // One slot, taken by another branch's long run, so main's first run stays queued.
        try await QueueWorld.with(concurrency: 1) { world in
            let blockerSHA = try world.push(slow, to: "blocker")
            let blocker = try #require(try await world.hook(blockerSHA, branch: "blocker").runID)
            _ = try await world.stepRunning(blocker, 0)

            let first = try world.push(quick)
            let queued = try await world.hook(first)
            let queuedID = try #require(queued.runID)
            #expect(queued.status == .queued && queued.superseded.isEmpty)
            #expect(try world.run(queuedID).state == .queued)

            let second = try world.push(quick)
            let newer = try await world.hook(second, from: first)
            let newerID = try #require(newer.runID)
            #expect(newer.status == .queued)
            #expect(newer.superseded == [queuedID])
            #expect(newer.line == "pushbox: run \(newerID) queued for main (\(second.prefix(7))) \(QueueWorld.url)/runs/\(newerID) (supersedes run \(queuedID))")

            let superseded = try world.run(queuedID)
            #expect(superseded.state == .canceled)
            #expect(superseded.message == "superseded by run \(newerID)")
            #expect(superseded.supersededBy == newerID)
            #expect(superseded.startedAt == nil)
            #expect(try world.run(newerID).state == .queued, "still waiting for the slot")

            // Free the slot: the newer run goes; the superseded one never does.
            #expect(try await world.scheduler.cancel(runID: blocker) == .stopping)
            #expect(try await world.finished(blocker).state == .canceled)
            #expect(try await world.finished(newerID).state == .passed)
            try await world.idle()
            #expect(world.engine.asked == [blocker, newerID])
            #expect(try world.run(queuedID).state == .canceled && world.run(queuedID).startedAt == nil)
            #expect(world.engine.undestroyed == 0 && world.engine.violations.isEmpty)
        }
    }

    @Test("a second push of a branch stops its running run: canceled, superseded by run N; the new run starts after it")
    func supersedesTheRunningRun() async throws {
        try await QueueWorld.with { world in
            let first = try world.push(slow)
            let runningID = try #require(try await world.hook(first).runID)
            _ = try await world.stepRunning(runningID, 0)

            let started = ContinuousClock.now
            let second = try world.push(quick)
            let newer = try await world.hook(second, from: first)
            let newerID = try #require(newer.runID)
            #expect(newer.status == .queued)
            #expect(newer.superseded == [runningID])
            #expect(newer.line.hasSuffix("(supersedes run \(runningID))"))

            let stopped = try await world.finished(runningID)
            #expect(stopped.state == .canceled)
            #expect(stopped.message == "superseded by run \(newerID)")
            #expect(stopped.supersededBy == newerID)
            #expect(stopped.steps.map(\.state) == [.canceled])
            let passed = try await world.finished(newerID)
            #expect(passed.state == .passed)
            #expect(ContinuousClock.now - started < .seconds(20), "the 60 s step was stopped, not waited for")
            // One run at a time per ref: the newer run was claimed only once the stopped one had ended.
            let stoppedAt = try #require(stopped.finishedAt), startedAt = try #require(passed.startedAt)
            #expect(startedAt >= stoppedAt)
            try await world.idle()
            #expect(world.engine.made == [runningID, newerID])
            #expect(world.engine.undestroyed == 0 && world.engine.violations.isEmpty)
        }
    }

    // MARK: the spool

    @Test("a spooled push of a commit the daemon already ran is not run again")
    func spooledPushAlreadyRun() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push(quick)
            let pushedAt = Date()
            // The hook reached the daemon, which recorded and ran the push, but the answer was lost: the
            // hook spooled the same push.
            let runID = try #require(try await world.hook(sha).runID)
            #expect(try await world.finished(runID).state == .passed)
            try world.spool(sha, pushedAt: pushedAt)
            #expect(world.spooled == 1)

            await world.scheduler.reconcile()
            #expect(world.spooled == 0, "drained")
            try await world.idle()
            #expect(try world.runs().map(\.id) == [runID], "one run for one push")
            #expect(world.engine.asked == [runID])

            // What the drain decided, as `submit` says it for a spooled push.
            let again = try await world.scheduler.submit(repoPath: world.git.bare.path, updates: [QueueWorld.update(sha, from: nil, branch: "main")],
                                                         source: .spool, pushedAt: pushedAt)
            #expect(again.map(\.status) == [.skipped])
            #expect(again.map(\.runID) == [runID])
            #expect(again.first?.message == "already has run \(runID)")
            #expect(try world.runs().count == 1)
        }
    }

    @Test("a spooled push that a later push overtook is recorded superseded by it and never run")
    func spooledPushOvertaken() async throws {
        try await QueueWorld.with { world in
            // A is pushed while the daemon is down (spooled); B is pushed once it is back (hooked).
            let a = try world.push(quick)
            try world.spool(a, pushedAt: Date().addingTimeInterval(-2))
            let b = try world.push(quick)
            let newer = try #require(try await world.hook(b, from: a).runID)

            await world.scheduler.reconcile()
            #expect(world.spooled == 0)
            #expect(try await world.finished(newer).state == .passed)
            try await world.idle()
            let runs = try world.runs()
            #expect(runs.map(\.sha) == [b, a])
            let overtaken = try #require(runs.last)
            #expect(overtaken.source == .spool)
            #expect(overtaken.state == .canceled)
            #expect(overtaken.message == "superseded by run \(newer)")
            #expect(overtaken.supersededBy == newer)
            #expect(overtaken.startedAt == nil)
            #expect(world.engine.asked == [newer], "the overtaken push never ran")

            // Another reconciliation neither runs A (the branch's head is B) nor B again.
            await world.scheduler.reconcile()
            try await world.idle()
            #expect(try world.runs().count == 2)
        }
    }

    // MARK: the scan

    @Test("the scan queues an unhooked head once; its late hook is told the scan's run (queued, same id); nothing runs twice")
    func scanThenHook() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push(quick)
            let pushedAt = Date()
            await world.scheduler.reconcile()
            await world.scheduler.reconcile()
            let scanned = try world.runs()
            #expect(scanned.map(\.source) == [RunSource.scan], "queued once, by the scan")
            let runID = try #require(scanned.first?.id)
            #expect(scanned.first?.sha == sha && scanned.first?.ref == "refs/heads/main")

            let late = try await world.hook(sha)
            #expect(late.status == .queued)
            #expect(late.runID == runID)
            #expect(late.url == "\(QueueWorld.url)/runs/\(runID)")
            #expect(late.message == "already has run \(runID) (found by the scan)")
            #expect(late.line == "pushbox: run \(runID) queued for main (\(sha.prefix(7))) \(QueueWorld.url)/runs/\(runID)")

            // The same push spooled as well (the hook's request got no answer): still the one run.
            try world.spool(sha, pushedAt: pushedAt)
            await world.scheduler.reconcile()
            #expect(world.spooled == 0)
            #expect(try await world.finished(runID).state == .passed)
            await world.scheduler.reconcile()
            try await world.idle()
            #expect(try world.runs().map(\.id) == [runID])
            #expect(world.engine.asked == [runID])
        }
    }

    // MARK: crash recovery

    @Test("a run a dead daemon left running is queued again at start() and runs; requeues counts it")
    func crashRequeue() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push(quick)
            let id = try world.leaveRunning(sha)
            #expect(try world.run(id).state == .running)

            await world.scheduler.start()
            let run = try await world.finished(id)
            #expect(run.state == .passed)
            #expect(run.requeues == 1)
            #expect(run.message == nil, "the re-queue note is cleared when the run starts again")
            #expect(run.steps.map(\.state) == [.passed])
            try await world.idle()
            #expect(try world.runs().map(\.id) == [id], "the same run, not a new one")
            #expect(world.engine.made == [id])
        }
    }

    @Test("a run interrupted by a second crash is not queued again: error, interrupted twice")
    func crashTwice() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push(quick)
            let id = try world.leaveRunning(sha, interruptedBefore: true)
            await world.scheduler.start()
            let run = try world.run(id)
            #expect(run.state == .error)
            #expect(run.message == "interrupted twice by daemon restarts; not retried again (use pushbox retry)")
            try await world.idle()
            #expect(world.engine.asked.isEmpty)
            #expect(try world.runs().count == 1)
        }
    }

    @Test("a run a dead daemon left running after a later push of its branch ends superseded at start(), not re-queued")
    func crashAfterSupersede() async throws {
        try await QueueWorld.with { world in
            let first = try world.push(slow)
            let stale = try world.leaveRunning(first)
            let second = try world.push(quick)
            let newer = try world.recordPush(second, from: first)

            await world.scheduler.start()
            let run = try world.run(stale)
            #expect(run.state == .canceled)
            #expect(run.message == "superseded by run \(newer)")
            #expect(run.supersededBy == newer)
            #expect(try await world.finished(newer).state == .passed)
            try await world.idle()
            #expect(world.engine.asked == [newer])
        }
    }

    // MARK: retries

    @Test("runs that ended because the engine stopped answering are retried once it answers: once each, engine-retry, retry_of; not when the branch has a newer run")
    func engineRetry() async throws {
        try await QueueWorld.with { world in
            world.engine.available = false
            let a = try world.push(quick)
            let lostA = try #require(try await world.hook(a).runID)
            let runA = try await world.finished(lostA)
            #expect(runA.state == .error)
            #expect(runA.message == "\(RunState.engineUnavailablePrefix): \(TestEngine.unavailable)")
            let b = try world.push(quick)
            let lostB = try #require(try await world.hook(b, from: a).runID)
            #expect(try await world.finished(lostB).message?.hasPrefix(RunState.engineUnavailablePrefix + ": ") == true)
            try await world.idle()

            await world.scheduler.reconcile()
            #expect(try world.runs().count == 2, "no retry while the engine does not answer")

            world.engine.available = true
            await world.scheduler.reconcile()
            let runs = try world.runs()
            #expect(runs.count == 3, "one retry: run \(lostA) is not the latest of its branch")
            let retry = try #require(runs.last)
            #expect(retry.source == .engineRetry)
            #expect(retry.retryOf == lostB)
            #expect(retry.sha == b && retry.ref == "refs/heads/main")
            #expect(try await world.finished(retry.id).state == .passed)

            await world.scheduler.reconcile()
            await world.scheduler.reconcile()
            try await world.idle()
            #expect(try world.runs().count == 3, "retried once")
            #expect(world.engine.made == [retry.id])
            #expect(world.engine.undestroyed == 0)
        }
    }

    @Test("an engine lost during a step: the run ends error, is retried once when the engine answers, and that retry is not retried again")
    func engineLostDuringAStep() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push("steps:\n  - {name: one, run: \"echo ok\"}\n  - {name: two, run: \"\(TestEngine.loseEngine)\"}\n")
            let id = try #require(try await world.hook(sha).runID)
            let lost = try await world.finished(id)
            #expect(lost.state == .error)
            #expect(lost.message == "\(RunState.engineUnavailablePrefix): \(TestEngine.lost)")
            #expect(lost.steps.map(\.state) == [.passed, .error])
            try await world.idle()
            #expect(!world.engine.available)

            world.engine.available = true
            await world.scheduler.reconcile()
            let retry = try #require(try world.runs().last)
            #expect(retry.id != id && retry.source == .engineRetry && retry.retryOf == id)
            // The retry loses the engine again: it ends the same way, and is not retried in turn.
            let lostAgain = try await world.finished(retry.id)
            #expect(lostAgain.state == .error)
            #expect(lostAgain.message?.hasPrefix(RunState.engineUnavailablePrefix + ": ") == true)
            try await world.idle()
            world.engine.available = true
            await world.scheduler.reconcile()
            await world.scheduler.reconcile()
            try await world.idle()
            #expect(try world.runs().map(\.id) == [id, retry.id], "one retry per lost run, none of a retry")
            #expect(world.engine.made == [id, retry.id])
            #expect(world.engine.undestroyed == 0 && world.engine.violations.isEmpty)
        }
    }

    @Test("a run whose checkout found the runner disk full ends error: runner disk full, and is retried once: disk-retry, retry_of")
    func diskRetry() async throws {
        try await QueueWorld.with { world in
            // The tree does not fit in run 1's directory (a 64 KiB tmpfs); the runner home has room.
            let sha = try world.push(quick, files: ["big.txt": String(repeating: "0123456789abcdef\n", count: 32 << 10)])
            try world.fillDisk(forRun: 1)
            let full = try #require(try await world.hook(sha).runID)
            #expect(full == 1)
            let failed = try await world.finished(full)
            #expect(failed.state == .error)
            #expect(failed.message?.hasPrefix("\(RunState.runnerDiskFullPrefix): checkout failed: ") == true, "\(failed.message ?? "")")
            #expect(failed.message?.contains("No space left on device") == true)
            #expect(world.engine.asked.isEmpty, "no sandbox for a run without a workspace")
            try await world.idle()

            await world.scheduler.reconcile()
            let runs = try world.runs()
            #expect(runs.count == 2)
            let retry = try #require(runs.last)
            #expect(retry.source == .diskRetry)
            #expect(retry.retryOf == full)
            #expect(retry.sha == sha)
            #expect(try await world.finished(retry.id).state == .passed)

            await world.scheduler.reconcile()
            await world.scheduler.reconcile()
            try await world.idle()
            #expect(try world.runs().count == 2, "retried once")
            #expect(world.engine.undestroyed == 0)
        }
    }
}
