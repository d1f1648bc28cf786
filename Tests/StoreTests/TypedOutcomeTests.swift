import Core
import Foundation
import GRDB
import Store
import Testing

/// What decides behaviour is stored typed: the error cause decides the automatic retries, the autofix
/// status decides the "has a fix" hint; a message's text decides nothing. Rows from before v13 are
/// translated once by the migration.
@Suite("RunStore: typed causes and outcomes")
struct TypedOutcomeTests {
    @Test("automatic retries are chosen by cause, not by message; an automatic retry or a retried run is not chosen again")
    func retriesByCause() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            func ended(_ n: Int, _ cause: RunErrorCause, _ message: String, source: RunSource = .hook, retryOf: Int64? = nil) throws -> Int64 {
                let id = try store.queue.enqueue(repo: app, update: update("refs/heads/b\(n)", n), source: source, retryOf: retryOf).run.id
                #expect(try store.queue.claim(runID: id))
                #expect(try store.records.finish(runID: id, state: .error, cause: cause, message: message))
                return id
            }
            let full = try ended(1, .runnerDiskFull, "cannot create the workspace: No space left on device")
            let looksFull = try ended(2, .configuration, "runner disk full: but a configuration error says so")
            let engine = try ended(3, .engineUnavailable, "no answer")
            let retried = try ended(4, .runnerDiskFull, "first")
            _ = try ended(5, .runnerDiskFull, "the retry of run 4", source: .diskRetry, retryOf: retried)
            #expect(try store.queue.runsAwaitingRetry(after: .runnerDiskFull) == [full])
            #expect(try store.queue.runsAwaitingRetry(after: .engineUnavailable) == [engine])
            #expect(try store.records.run(id: looksFull)?.errorCause == .configuration)
            #expect(try store.records.run(id: full)?.errorCause == .runnerDiskFull)
            // Only `error` runs have a cause; a cause given with another state is not stored.
            let passed = try store.queue.enqueue(repo: app, update: update("refs/heads/ok", 6), source: .hook).run.id
            #expect(try store.records.finish(runID: passed, state: .passed, cause: .other, message: nil))
            #expect(try store.records.run(id: passed)?.errorCause == nil)
        }
    }

    @Test("an autofix outcome round-trips its columns, renders the note's line, and only a passed one is the latest fix")
    func autofixOutcome() throws {
        try StoreFixture.with { store, _ in
            let app = try store.repositories.addRepo(name: "app", path: "/a")
            let fixed = try store.queue.enqueue(repo: app, update: update(1), source: .hook).run.id
            let outcome = AutofixOutcome(status: .passed, branch: "autofix/main/1a2b3c4d", attempts: 2, costUSD: 0.071,
                                         failedIn: .vm("linux-aarch64"), keptNewerFixOf: 9)
            try store.records.setAutofix(runID: fixed, outcome)
            let run = try #require(try store.records.run(id: fixed))
            #expect(run.autofixOutcome == outcome)
            #expect(run.autofix == "passed autofix/main/1a2b3c4d (2 attempts, $0.07); kept the newer fix of run 9")
            #expect(try store.records.latestAutofixed(repoID: app.id, ref: "refs/heads/main")?.id == fixed)

            let later = try store.queue.enqueue(repo: app, update: update(2), source: .hook).run.id
            let failed = AutofixOutcome(status: .gaveUp, attempts: 2, costUSD: 0.5, failedIn: .step("test"), repeatedFailure: true)
            try store.records.setAutofix(runID: later, failed)
            #expect(try store.records.run(id: later)?.autofixOutcome == failed)
            #expect(try store.records.run(id: later)?.autofix == "gave up, same failure twice (attempt 2 failed in step test)")
            #expect(try store.records.latestAutofixed(repoID: app.id, ref: "refs/heads/main")?.id == fixed, "a run whose autofix gave up is no fix")
        }
    }

    @Test("v13 translates older rows once: error causes from their messages, autofix statuses and branches from their lines")
    func migration() throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        do {
            let queue = try DatabaseQueue(path: fixture.path)
            try SQLiteDatabase.migrator.migrate(queue, upTo: "v12: flaky runs and tests")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO repos (name, path, created_at) VALUES ('app', '/a', 0)")
                let rows: [(String, String?, String?)] = [
                    ("error", "container engine unavailable: no answer", nil),
                    ("error", "runner disk full: cannot create the workspace", nil),
                    ("error", "cannot read .pushbox.yml", nil),
                    ("failed", "step test failed", "passed autofix/main/1a2b3c4d (1 attempt, $0.02)"),
                    ("failed", "step test failed", "gave up after 3 attempts: budget"),
                ]
                for (index, row) in rows.enumerated() {
                    try db.execute(sql: """
                        INSERT INTO runs (repo_id, ref, sha, state, source, message, autofix, created_at, finished_at)
                        VALUES (1, 'refs/heads/main', ?, ?, 'hook', ?, ?, 0, 0)
                        """, arguments: [String(repeating: "\(index)", count: 40), row.0, row.1, row.2])
                }
            }
        }
        let store = try RunStore(path: fixture.path)
        let runs = try store.records.runs(limit: 10).reversed().map { $0 }
        #expect(runs.map(\.errorCause) == [.engineUnavailable, .runnerDiskFull, .other, nil, nil])
        #expect(runs.map(\.autofixOutcome?.status) == [nil, nil, nil, .passed, .gaveUp])
        #expect(runs[3].autofixOutcome?.branch == "autofix/main/1a2b3c4d")
        #expect(runs[3].autofix == "passed autofix/main/1a2b3c4d (1 attempt, $0.02)", "the old line is what the API shows")
        #expect(try store.queue.runsAwaitingRetry(after: .engineUnavailable, within: 1e10, now: Date()) == [runs[0].id])
        #expect(try store.records.latestAutofixed(repoID: 1, ref: "refs/heads/main")?.id == runs[3].id)
    }
}
