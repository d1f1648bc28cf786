import Core
import Foundation
import Store
import Testing

@Suite("RunStore: repositories")
struct RepoTests {
    @Test("addRepo returns the repo, and every lookup finds it")
    func addAndFind() throws {
        try StoreFixture.with { store, fixture in
            let before = Date()
            let app = try store.repositories.addRepo(name: "app", path: "/srv/git/app.git")
            let lib = try store.repositories.addRepo(name: "lib", path: "/srv/git/lib.git")
            let api = try store.repositories.addRepo(name: "api", path: "/srv/git/api.git")
            #expect(app.id > 0)
            #expect(Set([app.id, lib.id, api.id]).count == 3)
            #expect(app.name == "app")
            #expect(app.path == "/srv/git/app.git")
            #expect(app.createdAt >= before.addingTimeInterval(-1) && app.createdAt <= Date().addingTimeInterval(1))
            #expect(try store.repositories.repos().map(\.name) == ["api", "app", "lib"])
            #expect(try store.repositories.repo(named: "lib")?.id == lib.id)
            #expect(try store.repositories.repo(path: "/srv/git/api.git")?.name == "api")
            #expect(try store.repositories.repo(id: app.id)?.path == "/srv/git/app.git")
            #expect(try store.repositories.repo(named: "nope") == nil)
            #expect(try store.repositories.repo(path: "/nope") == nil)
            #expect(try store.repositories.repo(id: 9999) == nil)
            #expect(FileManager.default.fileExists(atPath: fixture.path))
        }
    }

    @Test("duplicates are refused with a message that says what to do", arguments: [
        ("app", "/srv/git/app.git", "/srv/git/app.git is already registered as \"app\""),
        ("other", "/srv/git/app.git", "/srv/git/app.git is already registered as \"app\""),
        ("app", "/srv/git/elsewhere.git", "a repository named \"app\" is already registered; choose another with --name"),
    ])
    func duplicates(_ name: String, _ path: String, _ message: String) throws {
        try StoreFixture.with { store, _ in
            _ = try store.repositories.addRepo(name: "app", path: "/srv/git/app.git")
            #expect(throws: StoreError(message)) { try store.repositories.addRepo(name: name, path: path) }
            #expect(try store.repositories.repos().count == 1)
        }
    }

    @Test("removeRepo takes its runs, steps, pushes and heads with it")
    func removeCascades() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let keep = try store.repositories.addRepo(name: "keep", path: "/k")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            try store.records.setSteps(runID: run.id, [StepResult(position: 0, name: "build", command: "make")])
            try store.queue.rememberHeads(repoID: app.id, ["refs/heads/dev": sha(9)])
            let kept = try store.queue.enqueue(repo: keep, update: update(2), source: .hook).run

            try store.repositories.removeRepo(named: "app")
            #expect(try store.repositories.repo(named: "app") == nil)
            #expect(try store.records.run(id: run.id) == nil)
            #expect(try store.records.runs(limit: 10).map(\.id) == [kept.id])
            #expect(try store.queue.knownHeads(repoID: app.id).isEmpty)
            #expect(try store.queue.hasRun(repoID: app.id, sha: sha(1)) == false)
            #expect(try store.records.run(id: kept.id)?.state == .queued)
            #expect(try store.queue.knownHeads(repoID: keep.id) == ["refs/heads/main": sha(2)])
            #expect(try store.records.integrityCheck() == "ok")

            // A repo registered again under the same name starts with nothing.
            let again = try store.repositories.addRepo(name: "app", path: "/a")
            #expect(again.id != app.id)
            #expect(try store.records.runs(repoID: again.id).isEmpty)
        }
    }

    @Test("removing an unknown repo says so")
    func removeUnknown() throws {
        try StoreFixture.with { store, _ in
            #expect(throws: StoreError("no repository named \"ghost\" is registered")) { try store.repositories.removeRepo(named: "ghost") }
        }
    }
}

@Suite("RunStore: the queue")
struct QueueTests {
    @Test("enqueue returns a queued run with every field set from the push")
    func enqueueFields() throws {
        try StoreFixture.with { store, _ in
            let repo = try store.repositories.addRepo(name: "app", path: "/a")
            let before = Date().addingTimeInterval(-1)
            let pushed = RefUpdate(oldSHA: sha(7), newSHA: sha(8), ref: "refs/heads/feature/x")
            let result = try store.queue.enqueue(repo: repo, update: pushed, source: .spool, retryOf: 41)
            let run = result.run
            #expect(result.superseded == [])
            #expect(run.id > 0)
            #expect(run.repoID == repo.id)
            #expect(run.repoName == "app")
            #expect(run.ref == "refs/heads/feature/x")
            #expect(run.sha == sha(8))
            #expect(run.oldSHA == sha(7))
            #expect(run.state == .queued)
            #expect(run.message == nil)
            #expect(run.detected == nil)
            #expect(run.image == nil)
            #expect(run.sandboxID == nil)
            #expect(run.supersededBy == nil)
            #expect(run.requeues == 0)
            #expect(run.retryOf == 41)
            #expect(run.source == .spool)
            #expect(run.createdAt >= before && run.createdAt <= Date().addingTimeInterval(1))
            #expect(run.startedAt == nil)
            #expect(run.finishedAt == nil)
            #expect(run.steps == [])
            #expect(try store.records.run(id: run.id) == run)
            #expect(try store.queue.queuedRuns().map(\.id) == [run.id])
            #expect(try store.queue.knownHeads(repoID: repo.id) == ["refs/heads/feature/x": sha(8)])
        }
    }

    @Test("a second enqueue of the same repo and ref supersedes the queued one")
    func supersede() throws {
        try StoreFixture.with { store, _ in
            let repo = try store.repositories.addRepo(name: "app", path: "/a")
            let first = try store.queue.enqueue(repo: repo, update: update(1), source: .hook).run
            let second = try store.queue.enqueue(repo: repo, update: update(2), source: .hook)
            #expect(second.superseded == [first.id])
            #expect(second.run.state == .queued)
            let old = try #require(try store.records.run(id: first.id))
            #expect(old.state == .canceled)
            #expect(old.message == "superseded by run \(second.run.id)")
            #expect(old.supersededBy == second.run.id)
            #expect(old.finishedAt != nil)

            // A third supersedes only the second: the first is already canceled.
            let third = try store.queue.enqueue(repo: repo, update: update(3), source: .scan)
            #expect(third.superseded == [second.run.id])
            #expect(try store.records.run(id: first.id)?.supersededBy == second.run.id)
            #expect(try store.records.run(id: second.run.id)?.message == "superseded by run \(third.run.id)")
            #expect(try store.queue.queuedRuns().map(\.id) == [third.run.id])
            #expect(try store.records.counts() == [.canceled: 2, .queued: 1])
        }
    }

    @Test("a different ref or repo is not superseded; a running run stays running, listed for its driver to end")
    func notSuperseded() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let other = try store.repositories.addRepo(name: "other", path: "/o")
            let running = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            #expect(try store.queue.claim(runID: running.id))
            let dev = try store.queue.enqueue(repo: app, update: update("refs/heads/dev", 2), source: .hook).run
            let otherMain = try store.queue.enqueue(repo: other, update: update(3), source: .hook).run
            let tag = try store.queue.enqueue(repo: app, update: update("refs/tags/main", 4), source: .hook).run
            let main = try store.queue.enqueue(repo: app, update: update(5), source: .hook)
            #expect(main.superseded == [])
            #expect(main.supersededRunning == [running.id])
            #expect(try store.records.run(id: running.id)?.state == .running)
            #expect(try store.records.run(id: running.id)?.supersededBy == nil)
            for id in [dev.id, otherMain.id, tag.id, main.run.id] {
                #expect(try store.records.run(id: id)?.state == .queued)
            }
            #expect(try store.queue.queuedRuns().map(\.id) == [dev.id, otherMain.id, tag.id, main.run.id])
        }
    }

    @Test("a finished run is not superseded either")
    func finishedNotSuperseded() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let done = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            #expect(try store.queue.claim(runID: done.id))
            #expect(try store.records.finish(runID: done.id, state: .failed, message: "step test failed"))
            let next = try store.queue.enqueue(repo: app, update: update(2), source: .hook)
            #expect(next.superseded == [])
            let after = try #require(try store.records.run(id: done.id))
            #expect(after.state == .failed)
            #expect(after.message == "step test failed")
            #expect(after.supersededBy == nil)
        }
    }

    @Test("startNow creates a running run and supersedes nothing")
    func startNow() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let queued = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            let foreground = try store.queue.enqueue(repo: app, update: update(2), source: .run, startNow: true)
            #expect(foreground.superseded == [])
            #expect(foreground.run.state == .running)
            #expect(foreground.run.startedAt != nil)
            #expect(foreground.run.source == .run)
            #expect(try store.records.run(id: queued.id)?.state == .queued)
            #expect(try store.queue.queuedRuns().map(\.id) == [queued.id])
            // No daemon can claim it.
            #expect(try store.queue.claim(runID: foreground.run.id) == false)
            // And a later push does not supersede it (it is not queued).
            let later = try store.queue.enqueue(repo: app, update: update(3), source: .hook)
            #expect(later.superseded == [queued.id])
            #expect(later.supersededRunning == [], "a foreground run is the `pushbox run` process's, not the daemon's")
            #expect(try store.records.run(id: foreground.run.id)?.state == .running)
        }
    }

    @Test("claim succeeds exactly once")
    func claimOnce() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            #expect(try store.queue.claim(runID: run.id))
            #expect(try store.queue.claim(runID: run.id) == false)
            let claimed = try #require(try store.records.run(id: run.id))
            #expect(claimed.state == .running)
            #expect(claimed.startedAt != nil)
            #expect(try store.queue.queuedRuns().isEmpty)
            #expect(try store.queue.claim(runID: 424_242) == false)
        }
    }

    @Test("claim of a superseded or finished run fails", arguments: [RunState.canceled, .passed, .error])
    func claimFinished(_ state: RunState) throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            #expect(try store.records.finish(runID: run.id, state: state, message: "done"))
            #expect(try store.queue.claim(runID: run.id) == false)
            #expect(try store.records.run(id: run.id)?.state == state)
        }
    }

    @Test("claim from 8 tasks at once: exactly one wins")
    func claimRace() async throws {
        try await StoreFixture.withAsync { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 { group.addTask { try store.queue.claim(runID: run.id) } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
        }
    }

    @Test("recoverInterrupted re-queues a running run once, then ends it error")
    func recoverInterrupted() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            let untouched = try store.queue.enqueue(repo: app, update: update("refs/heads/dev", 2), source: .hook).run
            #expect(try store.queue.claim(runID: run.id))
            try store.records.update(runID: run.id, sandboxID: "container-1")
            try store.records.setSteps(runID: run.id, [
                StepResult(position: 0, name: "build", command: "make", state: .passed),
                StepResult(position: 1, name: "test", command: "make test", state: .running),
            ])

            let first = try store.queue.recoverInterrupted()
            #expect(first.requeued == [run.id])
            #expect(first.failed == [])
            let requeued = try #require(try store.records.run(id: run.id))
            #expect(requeued.state == .queued)
            #expect(requeued.requeues == 1)
            #expect(requeued.startedAt == nil)
            #expect(requeued.sandboxID == nil)
            #expect(requeued.steps == [])
            #expect(requeued.message == "interrupted by a daemon restart; queued again")
            #expect(try store.records.run(id: untouched.id)?.state == .queued)

            #expect(try store.queue.claim(runID: run.id))
            #expect(try store.records.run(id: run.id)?.message == nil)
            try store.records.setSteps(runID: run.id, [
                StepResult(position: 0, name: "build", command: "make", state: .passed),
                StepResult(position: 1, name: "test", command: "make test", state: .running),
                StepResult(position: 2, name: "lint", command: "make lint", state: .pending),
            ])
            let second = try store.queue.recoverInterrupted()
            #expect(second.requeued == [])
            #expect(second.failed == [run.id])
            let failed = try #require(try store.records.run(id: run.id))
            #expect(failed.state == .error)
            #expect(failed.requeues == 1)
            #expect(failed.finishedAt != nil)
            #expect(failed.message == "interrupted twice by daemon restarts; not retried again (use pushbox retry)")
            #expect(failed.steps.map(\.state) == [.passed, .error, .error])

            let third = try store.queue.recoverInterrupted()
            #expect(third.requeued.isEmpty && third.failed.isEmpty)
            #expect(try store.records.run(id: run.id)?.state == .error)
        }
    }

    @Test("recoverInterrupted leaves a foreground `pushbox run` (startNow) alone")
    func recoverForeground() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let foreground = try store.queue.enqueue(repo: app, update: update(1), source: .run, startNow: true).run
            _ = try store.queue.recoverInterrupted()
            let state = try store.records.run(id: foreground.id)?.state
            let queued = try store.queue.queuedRuns().map(\.id)
            #expect(state == .running)
            #expect(queued.isEmpty)
        }
    }

    @Test("finish is first-write-wins", arguments: [
        (RunState.passed, RunState.failed), (.canceled, .passed), (.error, .canceled), (.failed, .error),
    ])
    func finishFirstWins(_ first: RunState, _ second: RunState) throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            #expect(try store.queue.claim(runID: run.id))
            #expect(try store.records.finish(runID: run.id, state: first, message: "first"))
            let finishedAt = try store.records.run(id: run.id)?.finishedAt
            #expect(finishedAt != nil)
            #expect(try store.records.finish(runID: run.id, state: second, message: "second") == false)
            let after = try #require(try store.records.run(id: run.id))
            #expect(after.state == first)
            #expect(after.message == "first")
            #expect(after.finishedAt == finishedAt)
        }
    }

    @Test("finish without a message keeps the one there; unfinished steps become skipped or canceled", arguments: [
        (RunState.failed, StepState.skipped), (.canceled, .canceled), (.error, .skipped), (.passed, .skipped),
    ])
    func finishSteps(_ state: RunState, _ leftover: StepState) throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            #expect(try store.queue.claim(runID: run.id))
            try store.records.update(runID: run.id, detected: "make (Makefile)")
            try store.records.setSteps(runID: run.id, [
                StepResult(position: 0, name: "build", command: "make", state: .passed),
                StepResult(position: 1, name: "test", command: "make test", state: .failed, exitCode: 2),
                StepResult(position: 2, name: "lint", command: "make lint", state: .running),
                StepResult(position: 3, name: "docs", command: "make docs", state: .pending),
            ])
            #expect(try store.records.finish(runID: run.id, state: state, message: nil))
            let after = try #require(try store.records.run(id: run.id))
            #expect(after.state == state)
            #expect(after.message == nil)
            #expect(after.detected == "make (Makefile)")
            #expect(after.steps.map(\.state) == [.passed, .failed, leftover, leftover])
        }
    }

    @Test("finish keeps an earlier message when given none")
    func finishKeepsMessage() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let first = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            #expect(try store.queue.claim(runID: first.id))
            _ = try store.queue.recoverInterrupted()
            #expect(try store.records.finish(runID: first.id, state: .canceled, message: nil))
            #expect(try store.records.run(id: first.id)?.message == "interrupted by a daemon restart; queued again")
        }
    }
}

@Suite("RunStore: which runs a push supersedes")
struct SupersedeRunningTests {
    /// A run of `update` in `repo`, claimed (running in the daemon).
    private func running(_ store: RunStore, _ repo: Repo, _ update: RefUpdate, pushedAt: Date? = nil) throws -> Run {
        let run = try store.queue.enqueue(repo: repo, update: update, source: .hook, pushedAt: pushedAt).run
        #expect(try store.queue.claim(runID: run.id))
        return run
    }

    @Test("a later push of a branch lists its running run; the driver's finish records canceled and superseded_by at once")
    func runningListed() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let old = try running(store, app, update(1))
            let newer = try store.queue.enqueue(repo: app, update: update(2), source: .hook)
            #expect(newer.supersededRunning == [old.id])
            #expect(newer.superseded == [])
            // The store leaves it to its driver: still running, not yet marked.
            let before = try #require(try store.records.run(id: old.id))
            #expect(before.state == .running && before.supersededBy == nil && before.finishedAt == nil)
            #expect(try store.records.finish(runID: old.id, state: .canceled, message: RunState.supersededMessage(by: newer.run.id),
                                     supersededBy: newer.run.id))
            let after = try #require(try store.records.run(id: old.id))
            #expect(after.state == .canceled)
            #expect(after.message == "superseded by run \(newer.run.id)")
            #expect(after.supersededBy == newer.run.id)
            #expect(after.finishedAt != nil)
            // Written once: a second end changes nothing.
            #expect(try store.records.finish(runID: old.id, state: .canceled, message: "canceled", supersededBy: 999) == false)
            #expect(try store.records.run(id: old.id)?.supersededBy == newer.run.id)
            #expect(try store.records.run(id: old.id)?.message == "superseded by run \(newer.run.id)")
            // The newer run is queued and supersedes nobody once the old one has ended.
            #expect(try store.queue.enqueue(repo: app, update: update("refs/heads/other", 3), source: .hook).supersededRunning == [])
        }
    }

    @Test("a run that finished on its own before its driver heard of the push keeps its outcome")
    func finishedFirstNotRewritten() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let old = try running(store, app, update(1))
            let newer = try store.queue.enqueue(repo: app, update: update(2), source: .hook)
            #expect(newer.supersededRunning == [old.id])
            #expect(try store.records.finish(runID: old.id, state: .passed, message: nil))
            #expect(try store.records.finish(runID: old.id, state: .canceled, message: RunState.supersededMessage(by: newer.run.id),
                                     supersededBy: newer.run.id) == false)
            let run = try #require(try store.records.run(id: old.id))
            #expect(run.state == .passed && run.supersededBy == nil && run.message == nil)
        }
    }

    @Test("queued and running runs of the branch together: the queued ones are canceled here, the running one listed")
    func queuedAndRunning() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let old = try running(store, app, update(1))
            let waiting = try store.queue.enqueue(repo: app, update: update(2), source: .hook)
            #expect(waiting.supersededRunning == [old.id])
            let newest = try store.queue.enqueue(repo: app, update: update(3), source: .scan)
            #expect(newest.superseded == [waiting.run.id])
            #expect(newest.supersededRunning == [old.id], "still running: the newest push stops it too")
            #expect(try store.records.run(id: waiting.run.id)?.supersededBy == newest.run.id)
            #expect(try store.records.run(id: waiting.run.id)?.state == .canceled)
            #expect(try store.records.run(id: old.id)?.state == .running)
        }
    }

    @Test("no running run is listed for another branch, repository, a tag, an autofix/ branch, a retry, a foreground run")
    func notListed() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let other = try store.repositories.addRepo(name: "other", path: "/o")
            let main = try running(store, app, update(1))
            #expect(try store.queue.enqueue(repo: app, update: update("refs/heads/dev", 2), source: .hook).supersededRunning == [])
            #expect(try store.queue.enqueue(repo: other, update: update(3), source: .hook).supersededRunning == [])
            // A tag pushed again: its queued run is superseded as before, its running run is left to finish.
            let tag = try running(store, app, update("refs/tags/v1", 4))
            let queuedTag = try store.queue.enqueue(repo: app, update: update("refs/tags/v1", 5), source: .hook)
            #expect(queuedTag.supersededRunning == [])
            let retag = try store.queue.enqueue(repo: app, update: update("refs/tags/v1", 6), source: .hook)
            #expect(retag.superseded == [queuedTag.run.id])
            #expect(retag.supersededRunning == [])
            // An autofix/ branch: the same.
            let fix = try running(store, app, update("refs/heads/autofix/main/0000000a", 7))
            #expect(try store.queue.enqueue(repo: app, update: update("refs/heads/autofix/main/0000000a", 8), source: .hook).supersededRunning == [])
            // A retry is no push: it supersedes neither a running nor a queued run of its ref.
            let queuedMain = try store.queue.enqueue(repo: app, update: update(9), source: .hook)
            #expect(queuedMain.supersededRunning == [main.id])
            let retry = try store.queue.enqueue(repo: app, update: update(1), source: .retry, retryOf: main.id)
            #expect(retry.superseded == [] && retry.supersededRunning == [])
            #expect(try store.records.run(id: queuedMain.run.id)?.state == .queued)
            let engineRetry = try store.queue.enqueue(repo: app, update: update(1), source: .engineRetry, retryOf: main.id)
            #expect(engineRetry.superseded == [] && engineRetry.supersededRunning == [])
            // A foreground `pushbox run` is never listed, and lists nothing itself.
            let foreground = try store.queue.enqueue(repo: app, update: update("refs/heads/solo", 10), source: .run, startNow: true)
            #expect(foreground.supersededRunning == [])
            #expect(try store.queue.enqueue(repo: app, update: update("refs/heads/solo", 11), source: .hook).supersededRunning == [])
            for id in [main.id, tag.id, fix.id, foreground.run.id] { #expect(try store.records.run(id: id)?.state == .running) }
        }
    }

    @Test("after a crash, a running run a later push superseded ends canceled, never re-queued; the others are re-queued")
    func recoverSuperseded() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let main = try running(store, app, update(1))
            let newer = try store.queue.enqueue(repo: app, update: update(2), source: .hook)
            let newest = try store.queue.enqueue(repo: app, update: update(3), source: .hook)
            #expect(newer.supersededRunning == [main.id] && newest.supersededRunning == [main.id])
            try store.records.setSteps(runID: main.id, [StepResult(position: 0, name: "wait", command: "sleep 600", state: .running)])
            // Running with only a retry after it, a tag with a later tag push, a branch with nothing after it.
            let retried = try running(store, app, update("refs/heads/dev", 4))
            _ = try store.queue.enqueue(repo: app, update: update("refs/heads/dev", 4), source: .retry, retryOf: retried.id)
            let tag = try running(store, app, update("refs/tags/v1", 5))
            _ = try store.queue.enqueue(repo: app, update: update("refs/tags/v1", 6), source: .hook)
            let alone = try running(store, app, update("refs/heads/alone", 7))

            let recovered = try store.queue.recoverInterrupted()
            #expect(recovered.superseded == [main.id])
            #expect(Set(recovered.requeued) == [retried.id, tag.id, alone.id])
            #expect(recovered.failed == [])
            let run = try #require(try store.records.run(id: main.id))
            #expect(run.state == .canceled)
            #expect(run.supersededBy == newer.run.id, "the first later push is the one that superseded it")
            #expect(run.message == "superseded by run \(newer.run.id)")
            #expect(run.requeues == 0 && run.finishedAt != nil)
            #expect(run.steps.map(\.state) == [.canceled])
            #expect(try store.records.unreportedFinishedRuns(before: Date().addingTimeInterval(1)).contains(main.id))
        }
    }

    @Test("a spooled push supersedes only runs pushed before it, never a newer one")
    func spooledPush() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            // Pushed at date(0), running; then a spooled push that happened at date(10): it is the later one.
            let early = try running(store, app, update(1), pushedAt: date(0))
            let spooled = try store.queue.enqueue(repo: app, update: update(2), source: .spool, pushedAt: date(10))
            #expect(spooled.supersededRunning == [early.id])
            #expect(try store.records.finish(runID: early.id, state: .canceled, message: nil, supersededBy: spooled.run.id))
            // Runs of pushes received now (long after date(20)), one running, one queued; then a spool event
            // of a push at date(20) drained late: both runs are newer, neither is superseded.
            #expect(try store.queue.claim(runID: spooled.run.id))
            let recent = try running(store, app, update(3))
            #expect(try store.records.finish(runID: spooled.run.id, state: .canceled, message: nil, supersededBy: recent.id))
            let queued = try store.queue.enqueue(repo: app, update: update(4), source: .hook)
            #expect(queued.supersededRunning == [recent.id])
            let late = try store.queue.enqueue(repo: app, update: update(5), source: .spool, pushedAt: date(20))
            #expect(late.superseded == [])
            #expect(late.supersededRunning == [])
            #expect(try store.records.run(id: recent.id)?.state == .running)
            #expect(try store.records.run(id: queued.run.id)?.state == .queued)
        }
    }
}

@Suite("RunStore: steps and progress")
struct StepTests {
    static let full = StepResult(position: 1, name: "test", command: "make test V=1", state: .failed, exitCode: 137,
                                 timedOut: true, startedAt: date(0.25), finishedAt: date(12.5), testsPassed: 41,
                                 testsFailed: 1, testsSkipped: 3, logBytes: 104_857_600, truncated: true)

    @Test("setSteps round-trips every StepResult field", arguments: [
        full,
        StepResult(position: 0, name: "build", command: "make"),
        StepResult(position: 7, name: "edge", command: "sh -c 'exit -1'\nsecond line", state: .error, exitCode: Int32.min,
                   timedOut: false, startedAt: date(-1_700_000_000), finishedAt: date(0), testsPassed: 0, testsFailed: 0,
                   testsSkipped: 0, logBytes: Int64.max, truncated: false),
        StepResult(position: 2, name: "unicode-é", command: "echo '日本語' && exit 2147483647", state: .skipped,
                   exitCode: Int32.max),
        StepResult(position: 3, name: "c", command: "c", state: .canceled, exitCode: -15),
        StepResult(position: 4, name: "r", command: "r", state: .running, startedAt: date(5)),
        StepResult(position: 5, name: "p", command: "p", state: .passed, exitCode: 0, testsPassed: 10),
    ])
    func roundTrip(_ step: StepResult) throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            try store.records.setSteps(runID: run.id, [step])
            #expect(try store.records.run(id: run.id)?.steps == [step])
        }
    }

    @Test("setSteps replaces the list; updateStep replaces one position; steps come back in position order")
    func replace() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            let other = try store.queue.enqueue(repo: app, update: update("refs/heads/dev", 2), source: .hook).run
            try store.records.setSteps(runID: run.id, [
                StepResult(position: 2, name: "c", command: "c"),
                StepResult(position: 0, name: "a", command: "a"),
                StepResult(position: 1, name: "b", command: "b"),
            ])
            try store.records.setSteps(runID: other.id, [StepResult(position: 0, name: "x", command: "x")])
            #expect(try store.records.run(id: run.id)?.steps.map(\.name) == ["a", "b", "c"])

            try store.records.updateStep(runID: run.id, Self.full)
            let steps = try #require(try store.records.run(id: run.id)?.steps)
            #expect(steps.map(\.name) == ["a", "test", "c"])
            #expect(steps[1] == Self.full)

            try store.records.setSteps(runID: run.id, [StepResult(position: 0, name: "only", command: "o")])
            #expect(try store.records.run(id: run.id)?.steps.map(\.name) == ["only"])
            #expect(try store.records.run(id: other.id)?.steps.map(\.name) == ["x"])

            try store.records.setSteps(runID: run.id, [])
            #expect(try store.records.run(id: run.id)?.steps == [])
        }
    }

    @Test("update sets detected, image and sandbox; nil leaves a field alone")
    func updateRun() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            try store.records.update(runID: run.id, detected: "node (package.json)", image: "pushbox/debian:bookworm")
            try store.records.update(runID: run.id, sandboxID: "abc123")
            let after = try #require(try store.records.run(id: run.id))
            #expect(after.detected == "node (package.json)")
            #expect(after.image == "pushbox/debian:bookworm")
            #expect(after.sandboxID == "abc123")
        }
    }
}

@Suite("RunStore: reading")
struct ReadingTests {
    @Test("runs(limit:repoID:states:) is newest first and filters")
    func runsOrdering() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let lib = try store.repositories.addRepo(name: "lib", path: "/l")
            var ids: [Int64] = []
            for n in 0..<10 {
                let repo = n.isMultiple(of: 2) ? app : lib
                ids.append(try store.queue.enqueue(repo: repo, update: update("refs/heads/b\(n)", n + 1), source: .hook).run.id)
            }
            #expect(try store.records.runs().map(\.id) == ids.reversed())
            #expect(try store.records.runs(limit: 3).map(\.id) == [ids[9], ids[8], ids[7]])
            #expect(try store.records.runs(limit: 0).isEmpty)
            #expect(try store.records.runs(repoID: app.id).map(\.id) == [ids[8], ids[6], ids[4], ids[2], ids[0]])
            #expect(try store.records.runs(limit: 2, repoID: lib.id).map(\.id) == [ids[9], ids[7]])
            #expect(try store.records.runs(repoID: 9999).isEmpty)

            #expect(try store.queue.claim(runID: ids[3]))
            #expect(try store.queue.claim(runID: ids[4]))
            #expect(try store.records.finish(runID: ids[4], state: .passed, message: nil))
            #expect(try store.records.runs(states: [.running]).map(\.id) == [ids[3]])
            #expect(try store.records.runs(states: [.running, .passed]).map(\.id) == [ids[4], ids[3]])
            #expect(try store.records.runs(repoID: app.id, states: [.running, .passed]).map(\.id) == [ids[4]])
            #expect(try store.records.runs(states: []).isEmpty)
            #expect(try store.records.counts() == [.queued: 8, .running: 1, .passed: 1])
            #expect(try store.queue.queuedRuns().map(\.id) == ids.filter { $0 != ids[3] && $0 != ids[4] })
        }
    }

    @Test("hasRun: any ref, any state, only this repo")
    func hasRun() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let lib = try store.repositories.addRepo(name: "lib", path: "/l")
            #expect(try store.queue.hasRun(repoID: app.id, sha: sha(1)) == false)
            let run = try store.queue.enqueue(repo: app, update: update("refs/heads/dev", 1), source: .hook).run
            #expect(try store.queue.hasRun(repoID: app.id, sha: sha(1)))
            #expect(try store.queue.hasRun(repoID: lib.id, sha: sha(1)) == false)
            #expect(try store.queue.hasRun(repoID: app.id, sha: sha(2)) == false)
            _ = try store.queue.enqueue(repo: app, update: update("refs/heads/dev", 2), source: .hook)
            #expect(try store.records.run(id: run.id)?.state == .canceled)
            #expect(try store.queue.hasRun(repoID: app.id, sha: sha(1)), "a superseded run still counts")
        }
    }

    @Test("knownHeads, rememberHeads, and recordPush (a deletion forgets the head)")
    func heads() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let lib = try store.repositories.addRepo(name: "lib", path: "/l")
            #expect(try store.queue.knownHeads(repoID: app.id) == [:])
            try store.queue.rememberHeads(repoID: app.id, ["refs/heads/main": sha(1), "refs/heads/dev": sha(2), "refs/tags/v1": sha(3)])
            #expect(try store.queue.knownHeads(repoID: app.id) == ["refs/heads/main": sha(1), "refs/heads/dev": sha(2), "refs/tags/v1": sha(3)])
            #expect(try store.queue.knownHeads(repoID: lib.id) == [:])

            try store.queue.rememberHeads(repoID: app.id, ["refs/heads/main": sha(4)])
            #expect(try store.queue.knownHeads(repoID: app.id)["refs/heads/main"] == sha(4))

            try store.queue.recordPush(repo: app, update: RefUpdate(oldSHA: sha(2), newSHA: sha(5), ref: "refs/heads/dev"), source: .hook)
            #expect(try store.queue.knownHeads(repoID: app.id)["refs/heads/dev"] == sha(5))

            try store.queue.recordPush(repo: app, update: RefUpdate(oldSHA: sha(5), newSHA: RefUpdate.zeroSHA, ref: "refs/heads/dev"),
                                 source: .hook)
            #expect(try store.queue.knownHeads(repoID: app.id) == ["refs/heads/main": sha(4), "refs/tags/v1": sha(3)])

            try store.queue.recordPush(repo: app, update: RefUpdate(oldSHA: RefUpdate.zeroSHA, newSHA: sha(6), ref: "refs/heads/new"),
                                 source: .scan)
            _ = try store.queue.enqueue(repo: app, update: update(7, old: sha(4)), source: .hook)
            #expect(try store.queue.knownHeads(repoID: app.id) == ["refs/heads/main": sha(7), "refs/tags/v1": sha(3), "refs/heads/new": sha(6)])
            // recordPush starts no run.
            #expect(try store.queue.hasRun(repoID: app.id, sha: sha(6)) == false)
            #expect(try store.records.runs().count == 1)
        }
    }

    @Test("integrity_check says ok, and the file is a real on-disk WAL database")
    func integrity() throws {
        try StoreFixture.with { store, fixture in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            _ = try store.queue.enqueue(repo: app, update: update(1), source: .hook)
            #expect(try store.records.integrityCheck() == "ok")
            #expect(FileManager.default.fileExists(atPath: fixture.path))
            #expect(FileManager.default.fileExists(atPath: fixture.path + "-wal"))
        }
    }
}

@Suite("RunStore: several users of one file")
struct SharingTests {
    @Test("two RunStore instances on one file (daemon and hook) see each other's writes")
    func twoInstances() throws {
        try StoreFixture.with { daemon, fixture in
            let hook = try RunStore(path: fixture.path)
            let app = try daemon.repositories.addRepo(name: "app", path: "/a")
            let seen = try #require(try hook.repositories.repo(named: "app"))
            #expect(seen.id == app.id && seen.name == app.name && seen.path == app.path)
            #expect(abs(seen.createdAt.timeIntervalSince(app.createdAt)) < 0.001)

            let queued = try hook.queue.enqueue(repo: app, update: update(1), source: .hook).run
            #expect(try daemon.queue.queuedRuns().map(\.id) == [queued.id])
            #expect(try daemon.queue.claim(runID: queued.id))
            #expect(try hook.queue.claim(runID: queued.id) == false)
            #expect(try hook.records.run(id: queued.id)?.state == .running)

            let next = try hook.queue.enqueue(repo: app, update: update(2), source: .hook)
            #expect(next.superseded == [])
            #expect(try daemon.records.finish(runID: queued.id, state: .passed, message: nil))
            #expect(try hook.records.run(id: queued.id)?.state == .passed)
            #expect(try hook.records.finish(runID: queued.id, state: .failed, message: nil) == false)

            // A third opening migrates nothing and sees everything.
            let third = try RunStore(path: fixture.path)
            #expect(try third.records.runs().map(\.id) == [next.run.id, queued.id])
            #expect(try third.records.integrityCheck() == "ok")
        }
    }

    @Test("a store reopened after the first is gone keeps everything")
    func reopen() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        var runID: Int64 = 0
        do {
            let store = try RunStore(path: fixture.path)
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            runID = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run.id
            try store.records.setSteps(runID: runID, [StepTests.full])
        }
        let reopened = try RunStore(path: fixture.path)
        let run = try #require(try reopened.records.run(id: runID))
        #expect(run.steps == [StepTests.full])
        #expect(run.repoName == "app")
    }

    @Test("concurrent enqueues from 8 tasks all get distinct ids", arguments: [false, true])
    func concurrentEnqueues(_ sameRef: Bool) async throws {
        try await StoreFixture.withAsync { store, fixture in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let second = try RunStore(path: fixture.path)
            let results = try await withThrowingTaskGroup(of: Enqueued.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        let ref = sameRef ? "refs/heads/main" : "refs/heads/t\(task)"
                        let target = task.isMultiple(of: 2) ? store : second
                        return try target.queue.enqueue(repo: app, update: update(ref, task + 1), source: .hook)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let ids = results.map(\.run.id)
            #expect(Set(ids).count == 8)
            #expect(try store.records.runs().count == 8)
            if sameRef {
                // Exactly one survives: the newest. Every other was superseded by a later run, once.
                let newest = try #require(ids.max())
                #expect(try store.queue.queuedRuns().map(\.id) == [newest])
                let superseded = results.flatMap(\.superseded)
                #expect(Set(superseded).count == superseded.count)
                #expect(Set(superseded) == Set(ids).subtracting([newest]))
                for run in try store.records.runs() where run.id != newest {
                    #expect(run.state == .canceled)
                    #expect(try #require(run.supersededBy) > run.id)
                }
            } else {
                #expect(try store.queue.queuedRuns().count == 8)
                #expect(results.allSatisfy { $0.superseded.isEmpty })
            }
            #expect(try store.records.integrityCheck() == "ok")
        }
    }
}

@Suite("RunStore: VM results")
struct RunStoreVMTests {
    static let full = VMResult(position: 2, profile: "linux-aarch64", tree: .autofix, command: "make test\nsecond line",
                               state: .failed, message: "vm says é", exitCode: 2, timedOut: true,
                               accel: "tcg (KVM probe failed: …)", bootSeconds: 3.25, startedAt: date(1), finishedAt: date(9.5),
                               testsPassed: 4, testsFailed: 1, testsSkipped: 2, logBytes: 123_456, truncated: true)

    @Test("setVMs/updateVM round-trip every field; VM results come back in position order with the run")
    func roundTrip() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            let planned = [VMResult(position: 0, profile: "linux-x86_64", command: ""), VMResult(position: 1, profile: "windows-11", command: "")]
            try store.records.setVMs(runID: run.id, tree: .pushed, planned)
            try store.records.setVMs(runID: run.id, tree: .autofix, [Self.full])
            #expect(try store.records.run(id: run.id)?.vms == planned + [Self.full])
            var done = planned[1]
            done.state = .passed
            done.exitCode = 0
            try store.records.updateVM(runID: run.id, done)
            #expect(try store.records.run(id: run.id)?.vms == [planned[0], done, Self.full])
            // Replacing one tree's entries leaves the other tree's alone.
            try store.records.setVMs(runID: run.id, tree: .pushed, [])
            #expect(try store.records.run(id: run.id)?.vms == [Self.full])
        }
    }

    @Test("finishing a run marks its pending and running VM entries skipped (canceled when canceled); a re-queue forgets them")
    func finishAndRequeue() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            for (final, leftover) in [(RunState.error, StepState.skipped), (.canceled, .canceled)] {
                let run = try store.queue.enqueue(repo: app, update: update("refs/heads/b\(final.rawValue)", 1), source: .hook).run
                #expect(try store.queue.claim(runID: run.id))
                var passed = VMResult(position: 0, profile: "a", command: "x", state: .passed)
                passed.exitCode = 0
                try store.records.setVMs(runID: run.id, tree: .pushed, [passed, VMResult(position: 1, profile: "b", command: "x", state: .running),
                                                                  VMResult(position: 2, profile: "c", command: "x")])
                try store.records.finish(runID: run.id, state: final, message: "m")
                #expect(try store.records.run(id: run.id)?.vms.map(\.state) == [.passed, leftover, leftover])
            }
            let again = try store.queue.enqueue(repo: app, update: update("refs/heads/c", 2), source: .hook).run
            #expect(try store.queue.claim(runID: again.id))
            try store.records.setVMs(runID: again.id, tree: .pushed, [VMResult(position: 0, profile: "a", command: "x", state: .running)])
            try store.queue.requeue(runID: again.id, message: "shutdown")
            #expect(try store.records.run(id: again.id)?.vms == [])
        }
    }
}

@Suite("RunStore: autofix attempts")
struct RunStoreFixAttemptTests {
    @Test("setFixAttempts round-trips every field, replaces the list, and a re-queue forgets it")
    func roundTrip() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            let first = FixAttemptSummary(attempt: 1, backend: "anthropic", model: "claude-sonnet-5-5", stop: "end_turn", passed: false,
                                          rejection: "deletes test file tests/test_a.py", verification: nil, diff: "--- a\n+++ b\n",
                                          costUSD: 0.0125, inputTokens: 1200, outputTokens: 300, cacheReadTokens: 900,
                                          cacheWriteTokens: 1100, turns: 3, toolCalls: 5, durationSeconds: 4.5)
            let second = FixAttemptSummary(attempt: 2, backend: "command", model: "", stop: "exit 0", passed: true, verification: "passed")
            try store.records.setFixAttempts(runID: run.id, [second, first])
            #expect(try store.records.fixAttempts(runID: run.id) == [first, second])
            try store.records.setFixAttempts(runID: run.id, [second])
            #expect(try store.records.fixAttempts(runID: run.id) == [second])
            #expect(try store.queue.claim(runID: run.id))
            try store.queue.requeue(runID: run.id, message: "shutdown")
            #expect(try store.records.fixAttempts(runID: run.id).isEmpty)
        }
    }
}

@Suite("RunStore: report outbox")
struct RunStoreOutboxTests {
    @Test("a delivery is due at once, retried when recorded as failed, done when delivered, given up past its horizon")
    func lifecycle() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let run = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run
            let now = Date(timeIntervalSince1970: 1_700_000_000)
            let added = try store.deliveries.addDelivery(runID: run.id, event: .finished, kind: "webhook", url: "http://127.0.0.1:9/h", secretEnv: "S", tokenEnv: nil,
                                              payload: Data("{\"a\":1}".utf8), uuid: "u-1", retryFor: .seconds(60), backoff: .seconds(2), now: now)
            #expect(added.state == .pending && added.attempts == 0 && added.backoffMs == 2000)
            #expect(added.giveUpAt == now.addingTimeInterval(60))
            #expect(try store.deliveries.dueDeliveries(now: now, limit: 16).map(\.payload) == [Data("{\"a\":1}".utf8)])
            #expect(try store.deliveries.nextDeliveryDue() == now)
            // A failed try: due again later, not before.
            try store.deliveries.recordDeliveryAttempt(DeliveryAttempt(attempt: 1, at: now, status: 500, latencyMs: 12, excerpt: "down"),
                                            deliveryID: added.id, delivered: false, retryAt: now.addingTimeInterval(2))
            #expect(try store.deliveries.dueDeliveries(now: now.addingTimeInterval(1), limit: 16).isEmpty)
            #expect(try store.deliveries.dueDeliveries(now: now.addingTimeInterval(2), limit: 16).count == 1)
            try store.deliveries.recordDeliveryAttempt(DeliveryAttempt(attempt: 2, at: now, status: 200, latencyMs: 8, excerpt: "ok"),
                                            deliveryID: added.id, delivered: true, retryAt: nil)
            #expect(try store.deliveries.dueDeliveries(now: now.addingTimeInterval(1000), limit: 16).isEmpty)
            #expect(try store.deliveries.nextDeliveryDue() == nil)
            let listed = try store.deliveries.deliveries(runID: run.id)
            #expect(listed.count == 1 && listed[0].delivery.state == .delivered && listed[0].delivery.attempts == 2)
            #expect(listed[0].attempts.map(\.status) == [500, 200] && listed[0].attempts[0].excerpt == "down")
            // Another one given up: not due any more, its last error kept.
            let second = try store.deliveries.addDelivery(runID: run.id, event: .queued, kind: "webhook", url: "http://x", secretEnv: nil, tokenEnv: nil, payload: Data(),
                                               uuid: "u-2", retryFor: .seconds(1), backoff: .seconds(1), now: now)
            try store.deliveries.recordDeliveryAttempt(DeliveryAttempt(attempt: 1, at: now, status: nil, latencyMs: 10_000, excerpt: "timeout"),
                                            deliveryID: second.id, delivered: false, retryAt: nil)
            let gaveUp = try store.deliveries.deliveries(runID: run.id)[1].delivery
            #expect(gaveUp.state == .gaveUp && gaveUp.lastError == "timeout" && gaveUp.lastStatus == nil)
            #expect(try store.deliveries.dueDeliveries(now: now.addingTimeInterval(1000), limit: 16).isEmpty)
        }
    }
}
