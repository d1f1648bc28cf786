import Core
import Foundation
import GRDB

/// The SQLite file behind every store of the runner (WAL mode, so the daemon, the hook and `pushbox run`
/// use it at once), its schema and the row decoders the concern stores share.
package final class SQLiteDatabase: Sendable {
    let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE repos (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE,
                    path TEXT NOT NULL UNIQUE,
                    created_at DOUBLE NOT NULL
                );
                CREATE TABLE pushes (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
                    ref TEXT NOT NULL,
                    old_sha TEXT NOT NULL,
                    new_sha TEXT NOT NULL,
                    source TEXT NOT NULL,
                    received_at DOUBLE NOT NULL
                );
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
                    push_id INTEGER REFERENCES pushes(id) ON DELETE SET NULL,
                    ref TEXT NOT NULL,
                    sha TEXT NOT NULL,
                    old_sha TEXT,
                    state TEXT NOT NULL,
                    message TEXT,
                    detected TEXT,
                    image TEXT,
                    sandbox_id TEXT,
                    superseded_by INTEGER,
                    requeues INTEGER NOT NULL DEFAULT 0,
                    retry_of INTEGER,
                    source TEXT NOT NULL,
                    created_at DOUBLE NOT NULL,
                    started_at DOUBLE,
                    finished_at DOUBLE
                );
                CREATE INDEX runs_state ON runs(state);
                CREATE INDEX runs_repo_sha ON runs(repo_id, sha);
                CREATE TABLE steps (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    command TEXT NOT NULL,
                    state TEXT NOT NULL,
                    exit_code INTEGER,
                    timed_out BOOLEAN NOT NULL DEFAULT 0,
                    started_at DOUBLE,
                    finished_at DOUBLE,
                    tests_passed INTEGER,
                    tests_failed INTEGER,
                    tests_skipped INTEGER,
                    log_bytes INTEGER NOT NULL DEFAULT 0,
                    truncated BOOLEAN NOT NULL DEFAULT 0,
                    PRIMARY KEY (run_id, position)
                );
                CREATE TABLE ref_heads (
                    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
                    ref TEXT NOT NULL,
                    sha TEXT NOT NULL,
                    PRIMARY KEY (repo_id, ref)
                );
                """)
        }
        migrator.registerMigration("v2: owner pid of foreground runs") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN owner_pid INTEGER")
        }
        migrator.registerMigration("v3: autofix outcome line") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN autofix TEXT")
        }
        migrator.registerMigration("v4: VM results") { db in
            try db.execute(sql: """
                CREATE TABLE vm_results (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    profile TEXT NOT NULL,
                    tree TEXT NOT NULL,
                    command TEXT NOT NULL,
                    state TEXT NOT NULL,
                    message TEXT,
                    exit_code INTEGER,
                    timed_out BOOLEAN NOT NULL DEFAULT 0,
                    accel TEXT,
                    boot_seconds DOUBLE,
                    started_at DOUBLE,
                    finished_at DOUBLE,
                    tests_passed INTEGER,
                    tests_failed INTEGER,
                    tests_skipped INTEGER,
                    log_bytes INTEGER NOT NULL DEFAULT 0,
                    truncated BOOLEAN NOT NULL DEFAULT 0,
                    PRIMARY KEY (run_id, position)
                )
                """)
        }
        migrator.registerMigration("v5: autofix attempts") { db in
            try db.execute(sql: """
                CREATE TABLE fix_attempts (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    attempt INTEGER NOT NULL,
                    backend TEXT NOT NULL,
                    model TEXT NOT NULL,
                    stop TEXT NOT NULL,
                    passed BOOLEAN NOT NULL,
                    rejection TEXT,
                    verification TEXT,
                    diff TEXT NOT NULL,
                    cost_usd DOUBLE NOT NULL,
                    input_tokens INTEGER NOT NULL,
                    output_tokens INTEGER NOT NULL,
                    cache_read_tokens INTEGER NOT NULL,
                    cache_write_tokens INTEGER NOT NULL,
                    turns INTEGER NOT NULL,
                    tool_calls INTEGER NOT NULL,
                    duration_seconds DOUBLE,
                    PRIMARY KEY (run_id, attempt)
                )
                """)
        }
        migrator.registerMigration("v6: report outbox") { db in
            try db.execute(sql: """
                CREATE TABLE deliveries (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uuid TEXT NOT NULL UNIQUE,
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    event TEXT NOT NULL,
                    url TEXT NOT NULL,
                    secret_env TEXT,
                    payload BLOB NOT NULL,
                    state TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at DOUBLE NOT NULL,
                    give_up_at DOUBLE NOT NULL,
                    backoff_ms INTEGER NOT NULL,
                    created_at DOUBLE NOT NULL,
                    delivered_at DOUBLE,
                    last_status INTEGER,
                    last_error TEXT
                );
                CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
                CREATE TABLE delivery_attempts (
                    delivery_id INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
                    attempt INTEGER NOT NULL,
                    at DOUBLE NOT NULL,
                    status INTEGER,
                    latency_ms INTEGER NOT NULL,
                    excerpt TEXT NOT NULL,
                    PRIMARY KEY (delivery_id, attempt)
                );
                """)
        }
        migrator.registerMigration("v7: forge status deliveries") { db in
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook'")
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN token_env TEXT")
        }
        migrator.registerMigration("v8: per-repository hook tokens") { db in
            try db.execute(sql: "ALTER TABLE repos ADD COLUMN hook_token TEXT")
        }
        migrator.registerMigration("v9: commit subject") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN subject TEXT")
        }
        migrator.registerMigration("v10: artifacts") { db in
            try db.execute(sql: """
                CREATE TABLE artifacts (
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    path TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    PRIMARY KEY (run_id, path)
                );
                ALTER TABLE runs ADD COLUMN artifacts_removed_at REAL;
                """)
        }
        migrator.registerMigration("v11: reported finished runs") { db in
            // Runs finished before this version count as reported.
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN reported_at REAL;
                UPDATE runs SET reported_at = COALESCE(finished_at, created_at) WHERE state IN ('passed', 'failed', 'error', 'canceled');
                """)
        }
        migrator.registerMigration("v12: flaky runs and tests") { db in
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN flaky TEXT;
                CREATE TABLE flaky_tests (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
                    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    seen_at REAL NOT NULL
                );
                CREATE INDEX flaky_tests_repo ON flaky_tests (repo_id, name);
                """)
        }
        migrator.registerMigration("v13: typed error causes and autofix outcomes") { db in
            // Older rows are translated once from their text; from now on the columns decide, never the text.
            try db.execute(sql: """
                ALTER TABLE runs ADD COLUMN error_cause TEXT;
                ALTER TABLE runs ADD COLUMN autofix_status TEXT;
                ALTER TABLE runs ADD COLUMN autofix_branch TEXT;
                ALTER TABLE runs ADD COLUMN autofix_commit TEXT;
                ALTER TABLE runs ADD COLUMN autofix_attempts INTEGER;
                ALTER TABLE runs ADD COLUMN autofix_cost_usd REAL;
                ALTER TABLE runs ADD COLUMN autofix_failed_in TEXT;
                ALTER TABLE runs ADD COLUMN autofix_repeated INTEGER;
                ALTER TABLE runs ADD COLUMN autofix_reason TEXT;
                ALTER TABLE runs ADD COLUMN autofix_kept_newer_of INTEGER;
                UPDATE runs SET error_cause = 'engine_unavailable' WHERE state = 'error' AND message LIKE 'container engine unavailable%';
                UPDATE runs SET error_cause = 'runner_disk_full' WHERE state = 'error' AND message LIKE 'runner disk full%';
                UPDATE runs SET error_cause = 'other' WHERE state = 'error' AND error_cause IS NULL;
                UPDATE runs SET autofix_status = 'passed',
                       autofix_branch = substr(autofix, 8, instr(substr(autofix, 8), ' ') - 1) WHERE autofix LIKE 'passed %';
                UPDATE runs SET autofix_status = 'failed' WHERE autofix LIKE 'failed%';
                UPDATE runs SET autofix_status = 'gave_up' WHERE autofix LIKE 'gave up%';
                UPDATE runs SET autofix_status = 'skipped' WHERE autofix LIKE 'skipped%';
                UPDATE runs SET autofix_status = 'canceled' WHERE autofix = 'canceled';
                UPDATE runs SET autofix_status = 'error' WHERE autofix LIKE 'error%';
                """)
        }
        return migrator
    }

    // MARK: run progress

    /// Steps and VM entries still pending or running get `state` (the run ended without them).
    static func markUnfinished(_ db: Database, runID: Int64, as state: StepState) throws {
        for table in ["steps", "vm_results"] {
            try db.execute(sql: "UPDATE \(table) SET state = ? WHERE run_id = ? AND state IN ('pending', 'running')",
                           arguments: [state.rawValue, runID])
        }
    }

    /// A run that goes back to the queue starts over: its steps and VM entries are forgotten.
    static func forgetProgress(_ db: Database, runID: Int64) throws {
        try db.execute(sql: "DELETE FROM steps WHERE run_id = ?", arguments: [runID])
        try db.execute(sql: "DELETE FROM vm_results WHERE run_id = ?", arguments: [runID])
        try db.execute(sql: "DELETE FROM fix_attempts WHERE run_id = ?", arguments: [runID])
        try db.execute(sql: "DELETE FROM artifacts WHERE run_id = ?", arguments: [runID])
    }

    static func fetchRun(_ db: Database, id: Int64) throws -> Run? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT runs.*, repos.name AS repo_name FROM runs JOIN repos ON repos.id = runs.repo_id WHERE runs.id = ?
            """, arguments: [id]) else { return nil }
        let steps = try Row.fetchAll(db, sql: "SELECT * FROM steps WHERE run_id = ? ORDER BY position", arguments: [id]).map { s in
            JobColumns.read(s, into: StepResult(position: s["position"], name: s["name"], command: s["command"]))
        }
        let vms = try Row.fetchAll(db, sql: "SELECT * FROM vm_results WHERE run_id = ? ORDER BY position", arguments: [id]).map { v in
            JobColumns.read(v, into: VMResult(position: v["position"], profile: v["profile"], tree: VMResult.Tree(rawValue: v["tree"]) ?? .pushed,
                                              command: v["command"], message: v["message"], accel: v["accel"], bootSeconds: v["boot_seconds"]))
        }
        let artifacts = try Row.fetchAll(db, sql: "SELECT path, size FROM artifacts WHERE run_id = ? ORDER BY path", arguments: [id]).map { a in
            ArtifactFile(path: a["path"], size: a["size"])
        }
        return Run(id: row["id"], repoID: row["repo_id"], repoName: row["repo_name"], ref: row["ref"], sha: row["sha"],
                   oldSHA: row["old_sha"], state: RunState(rawValue: row["state"]) ?? .error, message: row["message"],
                   detected: row["detected"], image: row["image"], sandboxID: row["sandbox_id"],
                   supersededBy: row["superseded_by"], requeues: row["requeues"], retryOf: row["retry_of"],
                   source: RunSource(rawValue: row["source"]) ?? .hook, errorCause: (row["error_cause"] as String?).flatMap(RunErrorCause.init),
                   createdAt: Date(timeIntervalSince1970: row["created_at"]),
                   startedAt: date(row["started_at"]), finishedAt: date(row["finished_at"]), steps: steps,
                   autofix: row["autofix"], autofixOutcome: autofixOutcome(row), flaky: row["flaky"], vms: vms, subject: row["subject"],
                   artifacts: artifacts, artifactsRemovedAt: date(row["artifacts_removed_at"]))
    }

    /// The typed autofix outcome of a run row (nil: none, or a row from before v13 whose status was unknown).
    static func autofixOutcome(_ row: Row) -> AutofixOutcome? {
        guard let status = (row["autofix_status"] as String?).flatMap(AutofixOutcome.Status.init) else { return nil }
        let failedIn = (row["autofix_failed_in"] as String?).map { text -> FailurePlace in
            text.hasPrefix("vm ") ? .vm(String(text.dropFirst(3))) : .step(String(text.dropFirst(text.hasPrefix("step ") ? 5 : 0)))
        }
        return AutofixOutcome(status: status, branch: row["autofix_branch"], commit: row["autofix_commit"], attempts: row["autofix_attempts"] ?? 0,
                              costUSD: row["autofix_cost_usd"] ?? 0, failedIn: failedIn,
                              repeatedFailure: row["autofix_repeated"] ?? false, reason: row["autofix_reason"],
                              keptNewerFixOf: row["autofix_kept_newer_of"])
    }

    static func date(_ value: Double?) -> Date? { value.map(Date.init(timeIntervalSince1970:)) }
}

/// The columns `steps` and `vm_results` share: a `RecordedJob`'s fields, written and read in one place.
enum JobColumns {
    static let names = "state, exit_code, timed_out, started_at, finished_at, tests_passed, tests_failed, tests_skipped, log_bytes, truncated"
    static let placeholders = Array(repeating: "?", count: 10).joined(separator: ", ")

    static func arguments(_ job: some RecordedJob) -> StatementArguments {
        [job.state.rawValue, job.exitCode.map { code in Int64(code) }, job.timedOut, job.startedAt?.timeIntervalSince1970,
         job.finishedAt?.timeIntervalSince1970, job.testsPassed, job.testsFailed, job.testsSkipped, job.logBytes, job.truncated]
    }

    static func read<Job: RecordedJob>(_ row: Row, into job: Job) -> Job {
        var job = job
        job.state = StepState(rawValue: row["state"]) ?? .error
        job.exitCode = (row["exit_code"] as Int64?).map { code in Int32(truncatingIfNeeded: code) }
        job.timedOut = row["timed_out"]
        job.startedAt = SQLiteDatabase.date(row["started_at"])
        job.finishedAt = SQLiteDatabase.date(row["finished_at"])
        job.testsPassed = row["tests_passed"]
        job.testsFailed = row["tests_failed"]
        job.testsSkipped = row["tests_skipped"]
        job.logBytes = row["log_bytes"]
        job.truncated = row["truncated"]
        return job
    }
}
