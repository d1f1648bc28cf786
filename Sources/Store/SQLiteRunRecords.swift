import Core
import Foundation
import GRDB

/// `RunRecords` in the SQLite file: `runs` and their `steps`, `vm_results`, `fix_attempts`, `artifacts`, `flaky_tests`.
package final class SQLiteRunRecords: RunRecords, Sendable {
    private let database: SQLiteDatabase
    private var pool: DatabasePool { database.pool }

    init(_ database: SQLiteDatabase) { self.database = database }

    // MARK: artifacts

    /// Records the files kept from a run's workspace (replacing any earlier list).
    package func setArtifacts(runID: Int64, _ files: [ArtifactFile]) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM artifacts WHERE run_id = ?", arguments: [runID])
            for file in files {
                try db.execute(sql: "INSERT INTO artifacts (run_id, path, size) VALUES (?, ?, ?)", arguments: [runID, file.path, file.size])
            }
        }
    }

    /// Runs of a repository whose artifact files are still on disk, beyond its newest `keep` runs that
    /// have artifacts (retention); oldest first.
    package func runsWithExpiredArtifacts(repoID: Int64, keep: Int) throws -> [Int64] {
        try pool.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT id FROM runs WHERE repo_id = ? AND artifacts_removed_at IS NULL
                  AND EXISTS (SELECT 1 FROM artifacts WHERE artifacts.run_id = runs.id)
                ORDER BY id DESC LIMIT -1 OFFSET ?
                """, arguments: [repoID, keep]).reversed()
        }
    }

    package func markArtifactsRemoved(runID: Int64, at date: Date) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET artifacts_removed_at = ? WHERE id = ?", arguments: [date.timeIntervalSince1970, runID])
        }
    }

    package func update(runID: Int64, detected: String?, image: String?, sandboxID: String?, subject: String?) throws {
        try pool.write { db in
            if let subject { try db.execute(sql: "UPDATE runs SET subject = ? WHERE id = ?", arguments: [subject, runID]) }
            if let detected { try db.execute(sql: "UPDATE runs SET detected = ? WHERE id = ?", arguments: [detected, runID]) }
            if let image { try db.execute(sql: "UPDATE runs SET image = ? WHERE id = ?", arguments: [image, runID]) }
            if let sandboxID { try db.execute(sql: "UPDATE runs SET sandbox_id = ? WHERE id = ?", arguments: [sandboxID, runID]) }
        }
    }

    /// Records that the run's failing step passed on its re-run: `flaky` is the note's line without the
    /// prefix; `tests` the names recorded for the repository (the failing JUnit tests, or `step <name>`).
    package func recordFlaky(runID: Int64, repoID: Int64, flaky: String, tests: [String]) throws {
        let now = Date().timeIntervalSince1970
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET flaky = ? WHERE id = ?", arguments: [flaky, runID])
            for name in Set(tests).sorted() {
                try db.execute(sql: "INSERT INTO flaky_tests (repo_id, run_id, name, seen_at) VALUES (?, ?, ?, ?)",
                               arguments: [repoID, runID, name, now])
            }
        }
    }

    /// The flaky tests of one repository (nil: of all), most often seen first.
    package func flakyTests(repoID: Int64?) throws -> [FlakyTest] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT repos.name AS repo, flaky_tests.name AS name, COUNT(*) AS times, MAX(flaky_tests.run_id) AS last_run,
                       MAX(flaky_tests.seen_at) AS last_seen
                FROM flaky_tests JOIN repos ON repos.id = flaky_tests.repo_id
                WHERE ? IS NULL OR flaky_tests.repo_id = ?
                GROUP BY flaky_tests.repo_id, flaky_tests.name
                ORDER BY times DESC, last_seen DESC, repo, name
                """, arguments: [repoID, repoID]).map { row in
                FlakyTest(repo: row["repo"], name: row["name"], times: row["times"], lastRunID: row["last_run"],
                          lastSeen: Date(timeIntervalSince1970: row["last_seen"]))
            }
        }
    }

    /// Records the run's autofix outcome: its columns, and the note's line (`AutofixOutcome.line`).
    package func setAutofix(runID: Int64, _ outcome: AutofixOutcome) throws {
        try pool.write { db in
            try db.execute(sql: """
                UPDATE runs SET autofix = ?, autofix_status = ?, autofix_branch = ?, autofix_commit = ?, autofix_attempts = ?, autofix_cost_usd = ?,
                       autofix_failed_in = ?, autofix_repeated = ?, autofix_reason = ?, autofix_kept_newer_of = ?
                WHERE id = ?
                """, arguments: [outcome.line, outcome.status.rawValue, outcome.branch, outcome.commit, outcome.attempts, outcome.costUSD,
                                 outcome.failedIn?.description, outcome.repeatedFailure, outcome.reason, outcome.keptNewerFixOf, runID])
        }
    }

    /// Replaces the run's step list (at the start of the pipeline).
    package func setSteps(runID: Int64, _ steps: [StepResult]) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM steps WHERE run_id = ?", arguments: [runID])
            for step in steps { try Self.insert(db, runID: runID, step) }
        }
    }

    package func updateStep(runID: Int64, _ step: StepResult) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM steps WHERE run_id = ? AND position = ?", arguments: [runID, step.position])
            try Self.insert(db, runID: runID, step)
        }
    }

    private static func insert(_ db: Database, runID: Int64, _ step: StepResult) throws {
        try db.execute(sql: """
            INSERT INTO steps (run_id, position, name, command, \(JobColumns.names)) VALUES (?, ?, ?, ?, \(JobColumns.placeholders))
            """, arguments: [runID, step.position, step.name, step.command] + JobColumns.arguments(step))
    }

    /// Replaces the VM results of one tree of a run (`position`s must be unique across trees).
    package func setVMs(runID: Int64, tree: VMResult.Tree, _ vms: [VMResult]) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM vm_results WHERE run_id = ? AND tree = ?", arguments: [runID, tree.rawValue])
            for vm in vms { try Self.insert(db, runID: runID, vm) }
        }
    }

    package func updateVM(runID: Int64, _ vm: VMResult) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM vm_results WHERE run_id = ? AND position = ?", arguments: [runID, vm.position])
            try Self.insert(db, runID: runID, vm)
        }
    }

    private static func insert(_ db: Database, runID: Int64, _ vm: VMResult) throws {
        try db.execute(sql: """
            INSERT INTO vm_results (run_id, position, profile, tree, command, message, accel, boot_seconds, \(JobColumns.names))
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, \(JobColumns.placeholders))
            """, arguments: [runID, vm.position, vm.profile, vm.tree.rawValue, vm.command, vm.message, vm.accel, vm.bootSeconds]
                + JobColumns.arguments(vm))
    }

    /// Replaces the autofix attempts recorded for a run.
    package func setFixAttempts(runID: Int64, _ attempts: [FixAttemptSummary]) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM fix_attempts WHERE run_id = ?", arguments: [runID])
            for a in attempts {
                try db.execute(sql: """
                    INSERT INTO fix_attempts (run_id, attempt, backend, model, stop, passed, rejection, verification, diff, cost_usd,
                                              input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, turns, tool_calls,
                                              duration_seconds)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [runID, a.attempt, a.backend, a.model, a.stop, a.passed, a.rejection, a.verification, a.diff,
                                     a.costUSD, a.inputTokens, a.outputTokens, a.cacheReadTokens, a.cacheWriteTokens, a.turns,
                                     a.toolCalls, a.durationSeconds])
            }
        }
    }

    /// The autofix attempts of a run, in order.
    package func fixAttempts(runID: Int64) throws -> [FixAttemptSummary] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM fix_attempts WHERE run_id = ? ORDER BY attempt", arguments: [runID]).map { r in
                FixAttemptSummary(attempt: r["attempt"], backend: r["backend"], model: r["model"], stop: r["stop"], passed: r["passed"],
                                  rejection: r["rejection"], verification: r["verification"], diff: r["diff"], costUSD: r["cost_usd"],
                                  inputTokens: r["input_tokens"], outputTokens: r["output_tokens"],
                                  cacheReadTokens: r["cache_read_tokens"], cacheWriteTokens: r["cache_write_tokens"],
                                  turns: r["turns"], toolCalls: r["tool_calls"], durationSeconds: r["duration_seconds"])
            }
        }
    }

    /// Ends a run. A run already finished keeps its first outcome (returns false). `supersededBy` is the
    /// run whose push superseded this one (the state is then `canceled`): recorded with the end, in the same
    /// update, so a run that ended on its own first is never marked superseded.
    @discardableResult
    package func finish(runID: Int64, state: RunState, cause: RunErrorCause?, message: String?, supersededBy: Int64?) throws -> Bool {
        precondition(state.isFinished, "finish needs a final state")
        precondition(supersededBy == nil || state == .canceled, "only a canceled run is superseded")
        return try pool.write { db in
            try db.execute(sql: """
                UPDATE runs SET state = ?, error_cause = ?, message = COALESCE(?, message), superseded_by = COALESCE(?, superseded_by),
                       finished_at = ? WHERE id = ? AND state IN ('queued', 'running')
                """, arguments: [state.rawValue, state == .error ? (cause ?? .other).rawValue : nil, message, supersededBy,
                                 Date().timeIntervalSince1970, runID])
            let changed = db.changesCount == 1
            if changed {
                try SQLiteDatabase.markUnfinished(db, runID: runID, as: state == .canceled ? .canceled : .skipped)
            }
            return changed
        }
    }

    package func run(id: Int64) throws -> Run? {
        try pool.read { db in try SQLiteDatabase.fetchRun(db, id: id) }
    }

    /// Newest first.
    package func runs(limit: Int, repoID: Int64?, states: [RunState]?) throws -> [Run] {
        try pool.read { db in
            var sql = "SELECT id FROM runs"
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let repoID { clauses.append("repo_id = ?"); arguments += [repoID] }
            if let states {
                clauses.append("state IN (\(states.map { _ in "?" }.joined(separator: ",")))")
                arguments += StatementArguments(states.map(\.rawValue))
            }
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            sql += " ORDER BY id DESC LIMIT ?"
            arguments += [limit]
            return try Int64.fetchAll(db, sql: sql, arguments: arguments).compactMap { try SQLiteDatabase.fetchRun(db, id: $0) }
        }
    }

    /// The newest finished run of `ref` whose autofix passed (`autofix_status` passed).
    package func latestAutofixed(repoID: Int64, ref: String) throws -> Run? {
        try pool.read { db in
            guard let id = try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE repo_id = ? AND ref = ? AND autofix_status = 'passed' ORDER BY id DESC LIMIT 1
                """, arguments: [repoID, ref]) else { return nil }
            return try SQLiteDatabase.fetchRun(db, id: id)
        }
    }

    /// Records that the reporters (note, webhooks, statuses) were told a run finished.
    package func markReported(runID: Int64, at date: Date) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET reported_at = ? WHERE id = ?", arguments: [date.timeIntervalSince1970, runID])
        }
    }

    /// Finished runs whose reporters were never told (the daemon died in between), finished before
    /// `before`; oldest first.
    package func unreportedFinishedRuns(before: Date, limit: Int) throws -> [Int64] {
        try pool.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT id FROM runs WHERE state IN ('passed', 'failed', 'error', 'canceled') AND reported_at IS NULL
                  AND COALESCE(finished_at, created_at) < ? ORDER BY id LIMIT ?
                """, arguments: [before.timeIntervalSince1970, limit])
        }
    }

    package func counts() throws -> [RunState: Int] {
        try pool.read { db in
            var result: [RunState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM runs GROUP BY state") {
                if let state = RunState(rawValue: row["state"]) { result[state] = row["n"] }
            }
            return result
        }
    }

    /// `PRAGMA integrity_check` — "ok" when the file is sound.
    package func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }
}
