import API
import Core
import Foundation
import Pipeline
import Testing
import TestSupport

/// The run driver in-process, through the scheduler that owns it: the steps' outcome, and a cancel at each
/// stage of a run (queued, while its sandbox is made, during its first step, during a later step) and a
/// daemon shutdown. Each ends with the sandbox destroyed and no step run after it.
@Suite("RunDriver")
struct RunDriverTests {
    @Test("steps run in order in one sandbox; a failing step fails the run and skips the rest")
    func stepsOutcome() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push("""
                steps:
                  - {name: one, run: "echo first"}
                  - {name: two, run: "echo second; exit 3"}
                  - {name: three, run: "echo never"}
                """)
            let id = try #require(try await world.hook(sha).runID)
            let run = try await world.finished(id)
            #expect(run.state == .failed)
            #expect(run.message == "step two failed (exit 3)")
            #expect(run.steps.map(\.state) == [.passed, .failed, .skipped])
            #expect(run.steps.map(\.exitCode) == [0, 3, nil])
            #expect(run.sandboxID == "scripted-\(id)")
            #expect(world.log(id, step: "one") == "first\n")
            #expect(world.log(id, step: "two") == "second\n")
            #expect(world.log(id, step: "three") == nil, "a skipped step writes no log")
            #expect(world.environment.pipelines.parses == 1, ".pushbox.yml is parsed once: at the push, and the run uses that parse")
            try await world.idle()
            #expect(world.engine.made == [id])
            #expect(world.engine.undestroyed == 0 && world.engine.violations.isEmpty)
        }
    }

    @Test("cancel while queued: canceled before it started, no sandbox; cancel answers for finished and unknown runs")
    func cancelQueued() async throws {
        try await QueueWorld.with(concurrency: 1) { world in
            let blockerSHA = try world.push("steps:\n  - {name: wait, run: \"sleep 60\"}\n", to: "blocker")
            let blocker = try #require(try await world.hook(blockerSHA, branch: "blocker").runID)
            _ = try await world.stepRunning(blocker, 0)
            let sha = try world.push("steps:\n  - {name: hello, run: \"echo hello\"}\n")
            let id = try #require(try await world.hook(sha).runID)
            #expect(try world.run(id).state == .queued)

            #expect(try await world.scheduler.cancel(runID: id) == .canceled)
            let canceled = try world.run(id)
            #expect(canceled.state == .canceled)
            #expect(canceled.message == "canceled before it started")
            #expect(canceled.startedAt == nil)
            #expect(canceled.steps.isEmpty)
            #expect(try await world.scheduler.cancel(runID: id) == .alreadyFinished)
            #expect(try await world.scheduler.cancel(runID: 999) == .notFound)

            // The slot frees: the canceled run is not started.
            #expect(try await world.scheduler.cancel(runID: blocker) == .stopping)
            #expect(try await world.finished(blocker).state == .canceled)
            try await world.idle()
            #expect(try world.run(id).state == .canceled)
            #expect(world.engine.asked == [blocker])
            #expect(world.engine.undestroyed == 0 && world.engine.violations.isEmpty)
        }
    }

    @Test("cancel while the sandbox is being made: canceled, no step passes, any sandbox made is destroyed",
          arguments: [TestEngine.Hold.untilCancelled, .untilCancelledThenMake])
    func cancelWhileMakingTheSandbox(_ hold: TestEngine.Hold) async throws {
        try await QueueWorld.with(engine: TestEngine(hold: hold)) { world in
            let sha = try world.push("steps:\n  - {name: one, run: \"sleep 0.5\"}\n  - {name: two, run: \"sleep 0.5\"}\n")
            let id = try #require(try await world.hook(sha).runID)
            _ = try await world.wait("run \(id) to ask for its sandbox") { world.engine.asked == [id] ? true : nil }

            #expect(try await world.scheduler.cancel(runID: id) == .stopping)
            let run = try await world.finished(id)
            #expect(run.state == .canceled)
            #expect(run.message == "canceled")
            #expect(!run.steps.contains { $0.state == .passed || $0.state == .running || $0.state == .pending },
                    "\(run.steps.map(\.state))")
            try await world.idle()
            #expect(world.engine.made == (hold == .untilCancelled ? [] : [id]))
            #expect(world.engine.undestroyed == 0)
            #expect(world.engine.violations.isEmpty)
        }
    }

    @Test("cancel during the first step: canceled at once, the step and the rest canceled, sandbox destroyed")
    func cancelDuringAStep() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push("steps:\n  - {name: one, run: \"sleep 60\"}\n  - {name: two, run: \"echo never\"}\n")
            let id = try #require(try await world.hook(sha).runID)
            _ = try await world.stepRunning(id, 0)

            let asked = ContinuousClock.now
            #expect(try await world.scheduler.cancel(runID: id) == .stopping)
            let run = try await world.finished(id)
            #expect(ContinuousClock.now - asked < .seconds(20), "the 60 s step was stopped, not waited for")
            #expect(run.state == .canceled)
            #expect(run.message == "canceled")
            #expect(run.supersededBy == nil)
            #expect(run.steps.map(\.state) == [.canceled, .canceled])
            #expect(world.log(id, step: "two") == nil)
            try await world.idle()
            #expect(world.engine.made == [id])
            #expect(world.engine.undestroyed == 0 && world.engine.violations.isEmpty)
        }
    }

    @Test("cancel during a later step: the earlier step stays passed, the running and later ones canceled, sandbox destroyed")
    func cancelDuringALaterStep() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push("""
                steps:
                  - {name: one, run: "echo first"}
                  - {name: two, run: "sleep 60"}
                  - {name: three, run: "echo never"}
                """)
            let id = try #require(try await world.hook(sha).runID)
            _ = try await world.stepRunning(id, 1)

            #expect(try await world.scheduler.cancel(runID: id) == .stopping)
            let run = try await world.finished(id)
            #expect(run.state == .canceled)
            #expect(run.message == "canceled")
            #expect(run.steps.map(\.state) == [.passed, .canceled, .canceled])
            #expect(run.steps.first?.exitCode == 0)
            #expect(world.log(id, step: "one") == "first\n")
            #expect(world.log(id, step: "three") == nil)
            // A second cancel of the stopping or stopped run changes nothing.
            _ = try await world.scheduler.cancel(runID: id)
            try await world.idle()
            #expect(try world.run(id).state == .canceled && world.run(id).message == "canceled")
            #expect(world.engine.made == [id])
            #expect(world.engine.undestroyed == 0 && world.engine.violations.isEmpty)
        }
    }

    @Test("stop() puts a running run back in the queue, sandbox destroyed; the next start runs it again")
    func shutdownRequeues() async throws {
        try await QueueWorld.with { world in
            let sha = try world.push("steps:\n  - {name: one, run: \"sleep 60\"}\n")
            let id = try #require(try await world.hook(sha).runID)
            _ = try await world.stepRunning(id, 0)

            await world.scheduler.stop()
            let requeued = try world.run(id)
            #expect(requeued.state == .queued)
            #expect(requeued.message == "interrupted by a daemon shutdown; queued again")
            #expect(requeued.requeues == 0, "a graceful stop is no crash")
            #expect(world.engine.undestroyed == 0)

            let next = world.restart()
            await next.start()
            _ = try await world.stepRunning(id, 0)
            #expect(await next.runningRunIDs() == [id])
            #expect(try await next.cancel(runID: id) == .stopping)
            #expect(try await world.finished(id).state == .canceled)
            try await world.idle()
            #expect(world.engine.made == [id, id])
            #expect(world.engine.undestroyed == 0 && world.engine.violations.isEmpty)
        }
    }
}
