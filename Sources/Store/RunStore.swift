import Core
import Foundation
import GRDB

/// What a store operation refused, in words for the user.
package struct StoreError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// The durable state of the runner: repos, pushes, runs and their steps, in one SQLite file (WAL mode, so
/// the daemon, the hook and `pushbox run` can use it at once). Every state change is one transaction.
package final class RunStore: DeliveryQueue, Sendable {
    private let pool: DatabasePool

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    package init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    private static var migrator: DatabaseMigrator {
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
        return migrator
    }

    // MARK: repos

    package func addRepo(name: String, path: String) throws -> Repo {
        try pool.write { db in
            if let existing = try Row.fetchOne(db, sql: "SELECT name FROM repos WHERE path = ?", arguments: [path]) {
                throw StoreError("\(path) is already registered as \"\(existing["name"] as String)\"")
            }
            if try Row.fetchOne(db, sql: "SELECT 1 FROM repos WHERE name = ?", arguments: [name]) != nil {
                throw StoreError("a repository named \"\(name)\" is already registered; choose another with --name")
            }
            let now = Date()
            try db.execute(sql: "INSERT INTO repos (name, path, created_at, hook_token) VALUES (?, ?, ?, ?)",
                           arguments: [name, path, now.timeIntervalSince1970, Self.makeToken()])
            return Repo(id: db.lastInsertedRowID, name: name, path: path, createdAt: now)
        }
    }

    /// The repository's own token for `POST /api/v1/hooks/post-receive` (a hook on another host); made on
    /// first use for repositories registered before tokens existed. Never part of `Repo` (the API lists repos).
    package func hookToken(repoID: Int64) throws -> String {
        try pool.write { db in
            if let token = try String.fetchOne(db, sql: "SELECT hook_token FROM repos WHERE id = ?", arguments: [repoID]) { return token }
            let token = Self.makeToken()
            try db.execute(sql: "UPDATE repos SET hook_token = ? WHERE id = ?", arguments: [token, repoID])
            return token
        }
    }

    /// The repository a hook token belongs to, if any.
    package func repo(hookToken token: String) throws -> Repo? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM repos WHERE hook_token = ?", arguments: [token]).map(Self.repo)
        }
    }

    /// 32 random bytes as hex.
    static func makeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    package func repos() throws -> [Repo] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM repos ORDER BY name").map(Self.repo) }
    }

    package func repo(named name: String) throws -> Repo? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM repos WHERE name = ?", arguments: [name]).map(Self.repo) }
    }

    package func repo(path: String) throws -> Repo? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM repos WHERE path = ?", arguments: [path]).map(Self.repo) }
    }

    package func repo(id: Int64) throws -> Repo? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM repos WHERE id = ?", arguments: [id]).map(Self.repo) }
    }

    /// Unregisters a repository. Its runs stay in the store only as long as the repo row: they go with it.
    package func removeRepo(named name: String) throws {
        try pool.write { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "DELETE FROM repos WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { throw StoreError("no repository named \"\(name)\" is registered") }
        }
    }

    private static func repo(_ row: Row) -> Repo {
        Repo(id: row["id"], name: row["name"], path: row["path"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    // MARK: pushes and the queue

    /// The outcome of `enqueue`.
    package struct Enqueued: Sendable, Equatable {
        package var run: Run
        /// Older queued runs of the same repo and ref that this run replaced (now `canceled`).
        package var superseded: [Int64]
        /// Older running runs of the same branch that this push supersedes. The store leaves them `running`:
        /// the caller stops them, and each one's own driver records its end, `canceled` with "superseded by
        /// run N" (`finish(runID:state:message:supersededBy:)`), unless it finished on its own first.
        package var supersededRunning: [Int64] = []
    }

    /// Records a push and queues a run for it in one transaction. A push supersedes the older runs of the
    /// same repo and ref pushed before it (for a spooled push: before `pushedAt`; so a late spooled push
    /// never supersedes a newer run):
    /// - those still `queued` are marked `canceled` with "superseded by run N" here (never dropped);
    /// - those `running` in the daemon are listed in `supersededRunning`, for branches other than
    ///   `autofix/…` only (a tag's or an autofix branch's running run is left to finish); a foreground
    ///   `pushbox run` (it has an owner pid) is never superseded.
    /// A retry (`retryOf`) is not a push and supersedes nothing. With `startNow` (a foreground `pushbox run`)
    /// the run is created `running`, so no daemon claims it, and it supersedes nothing either. `pushedAt` is
    /// when the push happened, if earlier than now (a spooled push).
    package func enqueue(repo: Repo, update: RefUpdate, source: String, retryOf: Int64? = nil,
                         startNow: Bool = false, pushedAt: Date? = nil) throws -> Enqueued {
        try pool.write { db in
            let now = Date().timeIntervalSince1970
            let pushed = pushedAt?.timeIntervalSince1970 ?? now
            try db.execute(sql: """
                INSERT INTO pushes (repo_id, ref, old_sha, new_sha, source, received_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [repo.id, update.ref, update.oldSHA, update.newSHA, source, pushed])
            let pushID = db.lastInsertedRowID
            try db.execute(sql: """
                INSERT INTO runs (repo_id, push_id, ref, sha, old_sha, state, source, retry_of, created_at, started_at, owner_pid)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [repo.id, pushID, update.ref, update.newSHA, update.oldSHA, startNow ? "running" : "queued",
                                 source, retryOf, now, startNow ? now : nil, startNow ? Int64(getpid()) : nil])
            let runID = db.lastInsertedRowID
            var older: [Int64] = [], running: [Int64] = []
            if !startNow && retryOf == nil {
                let rows = try Row.fetchAll(db, sql: """
                    SELECT runs.id, runs.state FROM runs LEFT JOIN pushes ON pushes.id = runs.push_id
                    WHERE runs.repo_id = ? AND runs.ref = ? AND runs.id < ? AND runs.owner_pid IS NULL
                      AND runs.state IN ('queued', 'running') AND COALESCE(pushes.received_at, runs.created_at) <= ?
                    ORDER BY runs.id
                    """, arguments: [repo.id, update.ref, runID, pushed])
                for row in rows {
                    switch RunState(rawValue: row["state"]) {
                    case .queued: older.append(row["id"])
                    case .running where Self.supersedesRunningRuns(update): running.append(row["id"])
                    default: break
                    }
                }
            }
            for id in older {
                try db.execute(sql: """
                    UPDATE runs SET state = 'canceled', message = ?, superseded_by = ?, finished_at = ? WHERE id = ?
                    """, arguments: [RunState.supersededMessage(by: runID), runID, now, id])
            }
            try db.execute(sql: """
                INSERT INTO ref_heads (repo_id, ref, sha) VALUES (?, ?, ?)
                ON CONFLICT(repo_id, ref) DO UPDATE SET sha = excluded.sha
                """, arguments: [repo.id, update.ref, update.newSHA])
            guard let run = try Self.fetchRun(db, id: runID) else {
                // Inserted in this very transaction.
                fatalError("run \(runID) vanished inside its own transaction")
            }
            return Enqueued(run: run, superseded: older, supersededRunning: running)
        }
    }

    /// Whether a push of `update.ref` stops the ref's running runs: a branch's does, except an `autofix/…`
    /// branch's; a tag's does not (its queued runs are still superseded).
    static func supersedesRunningRuns(_ update: RefUpdate) -> Bool {
        guard let branch = update.branch else { return false }
        return !branch.hasPrefix("autofix/")
    }

    /// Records a push that was overtaken before the daemon saw it (a spooled push whose ref a later push,
    /// run `supersededBy`, already moved): a run created `canceled`, "superseded by run N", never started.
    /// The ref's known head is left to the later push.
    package func recordSuperseded(repo: Repo, update: RefUpdate, source: String, pushedAt: Date,
                                  supersededBy: Int64) throws -> Run {
        try pool.write { db in
            let now = Date().timeIntervalSince1970
            try db.execute(sql: """
                INSERT INTO pushes (repo_id, ref, old_sha, new_sha, source, received_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [repo.id, update.ref, update.oldSHA, update.newSHA, source, pushedAt.timeIntervalSince1970])
            let pushID = db.lastInsertedRowID
            try db.execute(sql: """
                INSERT INTO runs (repo_id, push_id, ref, sha, old_sha, state, source, message, superseded_by, created_at, finished_at)
                VALUES (?, ?, ?, ?, ?, 'canceled', ?, ?, ?, ?, ?)
                """, arguments: [repo.id, pushID, update.ref, update.newSHA, update.oldSHA, source,
                                 RunState.supersededMessage(by: supersededBy), supersededBy, now, now])
            let runID = db.lastInsertedRowID
            guard let run = try Self.fetchRun(db, id: runID) else {
                fatalError("run \(runID) vanished inside its own transaction")
            }
            return run
        }
    }

    /// A run of `sha` on `ref` for a push received after the ref's last push of another commit before
    /// `pushedAt` (the push itself, recorded before the daemon could answer, or the scan finding its head,
    /// even a moment before the hook took its time), or nil.
    package func runOfPush(repoID: Int64, ref: String, sha: String, pushedAt: Date) throws -> Int64? {
        try pool.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT runs.id FROM runs JOIN pushes ON pushes.id = runs.push_id
                WHERE runs.repo_id = ? AND runs.ref = ? AND runs.sha = ?
                  AND pushes.received_at > COALESCE((SELECT MAX(received_at) FROM pushes
                      WHERE repo_id = ? AND ref = ? AND new_sha != ? AND received_at < ?), 0)
                ORDER BY runs.id LIMIT 1
                """, arguments: [repoID, ref, sha, repoID, ref, sha, pushedAt.timeIntervalSince1970])
        }
    }

    /// The first run of `ref` for a push of another commit received after `after` (retries, which are no
    /// pushes, do not count), or nil.
    package func firstRunPushed(repoID: Int64, ref: String, otherThan sha: String, after: Date) throws -> Int64? {
        try pool.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT runs.id FROM runs JOIN pushes ON pushes.id = runs.push_id
                WHERE runs.repo_id = ? AND runs.ref = ? AND runs.sha != ? AND pushes.received_at > ? AND runs.retry_of IS NULL
                ORDER BY pushes.received_at, runs.id LIMIT 1
                """, arguments: [repoID, ref, sha, after.timeIntervalSince1970])
        }
    }

    /// Records a push that starts no run (a deletion, a filtered branch) so the scan does not pick it up again.
    package func recordPush(repo: Repo, update: RefUpdate, source: String) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO pushes (repo_id, ref, old_sha, new_sha, source, received_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [repo.id, update.ref, update.oldSHA, update.newSHA, source, Date().timeIntervalSince1970])
            if update.isDeletion {
                try db.execute(sql: "DELETE FROM ref_heads WHERE repo_id = ? AND ref = ?", arguments: [repo.id, update.ref])
            } else {
                try db.execute(sql: """
                    INSERT INTO ref_heads (repo_id, ref, sha) VALUES (?, ?, ?)
                    ON CONFLICT(repo_id, ref) DO UPDATE SET sha = excluded.sha
                    """, arguments: [repo.id, update.ref, update.newSHA])
            }
        }
    }

    /// The last head the runner saw for each ref of `repo` (from pushes or scans).
    package func knownHeads(repoID: Int64) throws -> [String: String] {
        try pool.read { db in
            var heads: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT ref, sha FROM ref_heads WHERE repo_id = ?", arguments: [repoID]) {
                heads[row["ref"]] = row["sha"]
            }
            return heads
        }
    }

    /// Records heads as seen without running them (used when a repo is registered).
    package func rememberHeads(repoID: Int64, _ heads: [String: String]) throws {
        try pool.write { db in
            for (ref, sha) in heads {
                try db.execute(sql: """
                    INSERT INTO ref_heads (repo_id, ref, sha) VALUES (?, ?, ?)
                    ON CONFLICT(repo_id, ref) DO UPDATE SET sha = excluded.sha
                    """, arguments: [repoID, ref, sha])
            }
        }
    }

    /// Queued runs in FIFO order.
    package func queuedRuns() throws -> [Run] {
        try pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM runs WHERE state = 'queued' ORDER BY id").compactMap { try Self.fetchRun(db, id: $0) }
        }
    }

    /// Moves a run from `queued` to `running`; false when it is no longer queued (canceled, superseded).
    package func claim(runID: Int64) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET state = 'running', started_at = ?, message = NULL WHERE id = ? AND state = 'queued'",
                           arguments: [Date().timeIntervalSince1970, runID])
            return db.changesCount == 1
        }
    }

    /// On daemon start: runs left `running` by a crash go back to the queue once; a second interruption
    /// ends them `error`. A run that a later push superseded while it was running (the daemon died before
    /// its driver recorded the end) is never re-queued: it ends `canceled`, "superseded by run N" (see
    /// `laterPush`). Returns the ids re-queued, given up and superseded.
    package func recoverInterrupted() throws -> (requeued: [Int64], failed: [Int64], superseded: [Int64]) {
        try pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, ref, requeues, owner_pid FROM runs WHERE state = 'running'")
            var requeued: [Int64] = [], failed: [Int64] = [], superseded: [Int64] = []
            let now = Date().timeIntervalSince1970
            for row in rows {
                let id: Int64 = row["id"]
                if let owner: Int64 = row["owner_pid"] {
                    // A foreground `pushbox run` owns this run: leave it alone while that process lives.
                    guard kill(pid_t(owner), 0) != 0 && errno == ESRCH else { continue }
                    try db.execute(sql: "UPDATE runs SET state = 'error', message = ?, finished_at = ? WHERE id = ?",
                                   arguments: ["the `pushbox run` process (pid \(owner)) ended before the run finished", now, id])
                    try Self.markUnfinished(db, runID: id, as: .error)
                    failed.append(id)
                    continue
                }
                if Self.supersedesRunningRuns(RefUpdate(oldSHA: RefUpdate.zeroSHA, newSHA: RefUpdate.zeroSHA, ref: row["ref"])),
                   let later = try Self.laterPush(db, of: id) {
                    try db.execute(sql: """
                        UPDATE runs SET state = 'canceled', message = ?, superseded_by = ?, finished_at = ? WHERE id = ?
                        """, arguments: [RunState.supersededMessage(by: later), later, now, id])
                    try Self.markUnfinished(db, runID: id, as: .canceled)
                    superseded.append(id)
                    continue
                }
                if (row["requeues"] as Int) < 1 {
                    try db.execute(sql: """
                        UPDATE runs SET state = 'queued', requeues = requeues + 1, started_at = NULL, sandbox_id = NULL,
                        message = 'interrupted by a daemon restart; queued again' WHERE id = ?
                        """, arguments: [id])
                    try Self.forgetProgress(db, runID: id)
                    requeued.append(id)
                } else {
                    try db.execute(sql: "UPDATE runs SET state = 'error', message = ?, finished_at = ? WHERE id = ?",
                                   arguments: ["interrupted twice by daemon restarts; not retried again (use pushbox retry)", now, id])
                    try Self.markUnfinished(db, runID: id, as: .error)
                    failed.append(id)
                }
            }
            return (requeued, failed, superseded)
        }
    }

    /// The run of the first push of run `id`'s ref after it (the push whose `enqueue` listed it in
    /// `supersededRunning`): a later run that is no retry and no foreground run, pushed no earlier, or nil.
    private static func laterPush(_ db: Database, of id: Int64) throws -> Int64? {
        try Int64.fetchOne(db, sql: """
            SELECT later.id FROM runs later LEFT JOIN pushes lp ON lp.id = later.push_id,
                   runs this LEFT JOIN pushes tp ON tp.id = this.push_id
            WHERE this.id = ? AND later.repo_id = this.repo_id AND later.ref = this.ref AND later.id > this.id
              AND later.retry_of IS NULL AND later.owner_pid IS NULL
              AND COALESCE(lp.received_at, later.created_at) >= COALESCE(tp.received_at, this.created_at)
            ORDER BY later.id LIMIT 1
            """, arguments: [id])
    }

    /// Puts a `running` run back in the queue (a graceful daemon shutdown interrupted it). Not counted
    /// as a crash re-queue.
    package func requeue(runID: Int64, message: String) throws {
        try pool.write { db in
            try db.execute(sql: """
                UPDATE runs SET state = 'queued', started_at = NULL, sandbox_id = NULL, message = ? WHERE id = ? AND state = 'running'
                """, arguments: [message, runID])
            if db.changesCount == 1 { try Self.forgetProgress(db, runID: runID) }
        }
    }

    // MARK: run progress

    /// Steps and VM entries still pending or running get `state` (the run ended without them).
    private static func markUnfinished(_ db: Database, runID: Int64, as state: StepState) throws {
        for table in ["steps", "vm_results"] {
            try db.execute(sql: "UPDATE \(table) SET state = ? WHERE run_id = ? AND state IN ('pending', 'running')",
                           arguments: [state.rawValue, runID])
        }
    }

    /// A run that goes back to the queue starts over: its steps and VM entries are forgotten.
    private static func forgetProgress(_ db: Database, runID: Int64) throws {
        try db.execute(sql: "DELETE FROM steps WHERE run_id = ?", arguments: [runID])
        try db.execute(sql: "DELETE FROM vm_results WHERE run_id = ?", arguments: [runID])
        try db.execute(sql: "DELETE FROM fix_attempts WHERE run_id = ?", arguments: [runID])
        try db.execute(sql: "DELETE FROM artifacts WHERE run_id = ?", arguments: [runID])
    }

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

    package func markArtifactsRemoved(runID: Int64, at date: Date = Date()) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET artifacts_removed_at = ? WHERE id = ?", arguments: [date.timeIntervalSince1970, runID])
        }
    }

    package func update(runID: Int64, detected: String? = nil, image: String? = nil, sandboxID: String? = nil,
                        subject: String? = nil) throws {
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
    package func flakyTests(repoID: Int64? = nil) throws -> [FlakyTest] {
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

    /// Records the run's autofix outcome: the text after `autofix: ` in the note (one line).
    package func update(runID: Int64, autofix: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET autofix = ? WHERE id = ?", arguments: [autofix, runID])
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
            INSERT INTO steps (run_id, position, name, command, state, exit_code, timed_out, started_at, finished_at,
                               tests_passed, tests_failed, tests_skipped, log_bytes, truncated)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [runID, step.position, step.name, step.command, step.state.rawValue, step.exitCode.map { code in Int64(code) },
                             step.timedOut, step.startedAt?.timeIntervalSince1970, step.finishedAt?.timeIntervalSince1970,
                             step.testsPassed, step.testsFailed, step.testsSkipped, step.logBytes, step.truncated])
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
            INSERT INTO vm_results (run_id, position, profile, tree, command, state, message, exit_code, timed_out, accel,
                                    boot_seconds, started_at, finished_at, tests_passed, tests_failed, tests_skipped,
                                    log_bytes, truncated)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [runID, vm.position, vm.profile, vm.tree.rawValue, vm.command, vm.state.rawValue, vm.message,
                             vm.exitCode.map { code in Int64(code) }, vm.timedOut, vm.accel, vm.bootSeconds,
                             vm.startedAt?.timeIntervalSince1970, vm.finishedAt?.timeIntervalSince1970,
                             vm.testsPassed, vm.testsFailed, vm.testsSkipped, vm.logBytes, vm.truncated])
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
    package func finish(runID: Int64, state: RunState, message: String?, supersededBy: Int64? = nil) throws -> Bool {
        precondition(state.isFinished, "finish needs a final state")
        precondition(supersededBy == nil || state == .canceled, "only a canceled run is superseded")
        return try pool.write { db in
            try db.execute(sql: """
                UPDATE runs SET state = ?, message = COALESCE(?, message), superseded_by = COALESCE(?, superseded_by), finished_at = ?
                WHERE id = ? AND state IN ('queued', 'running')
                """, arguments: [state.rawValue, message, supersededBy, Date().timeIntervalSince1970, runID])
            let changed = db.changesCount == 1
            if changed {
                try Self.markUnfinished(db, runID: runID, as: state == .canceled ? .canceled : .skipped)
            }
            return changed
        }
    }

    // MARK: report outbox

    /// Adds a delivery to the outbox, due now.
    @discardableResult
    package func addDelivery(runID: Int64, event: RunEvent, kind: String = "webhook", url: String, secretEnv: String?,
                             tokenEnv: String? = nil, payload: Data, uuid: String, retryFor: Duration, backoff: Duration,
                             now: Date = Date()) throws -> Delivery {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO deliveries (uuid, run_id, event, kind, url, secret_env, token_env, payload, state, attempts,
                                        next_attempt_at, give_up_at, backoff_ms, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)
                """, arguments: [uuid, runID, event.rawValue, kind, url, secretEnv, tokenEnv, payload, now.timeIntervalSince1970,
                                 now.timeIntervalSince1970 + Units.seconds(retryFor), Int64(Units.seconds(backoff) * 1000),
                                 now.timeIntervalSince1970])
            return try Self.fetchDelivery(db, id: db.lastInsertedRowID)!   // just inserted
        }
    }

    /// Pending deliveries due at `now`, oldest first, with their payloads.
    package func dueDeliveries(now: Date = Date(), limit: Int = 16) throws -> [(delivery: Delivery, payload: Data)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit]).map { (Self.delivery($0), $0["payload"]) }
        }
    }

    /// When the next pending delivery is due (nil: none pending).
    package func nextDeliveryDue() throws -> Date? {
        try pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'")
                .map(Date.init(timeIntervalSince1970:))
        }
    }

    /// Records one try and what follows: delivered, another try at `retryAt`, or given up (`retryAt` nil).
    package func recordDeliveryAttempt(_ attempt: DeliveryAttempt, deliveryID: Int64, delivered: Bool, retryAt: Date?) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO delivery_attempts (delivery_id, attempt, at, status, latency_ms, excerpt) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [deliveryID, attempt.attempt, attempt.at.timeIntervalSince1970, attempt.status, attempt.latencyMs,
                                 attempt.excerpt])
            let state = delivered ? "delivered" : retryAt == nil ? "gave_up" : "pending"
            try db.execute(sql: """
                UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = COALESCE(?, next_attempt_at),
                       delivered_at = ?, last_status = ?, last_error = ? WHERE id = ?
                """, arguments: [state, attempt.attempt, retryAt?.timeIntervalSince1970,
                                 delivered ? attempt.at.timeIntervalSince1970 : nil, attempt.status,
                                 delivered ? nil : attempt.excerpt, deliveryID])
        }
    }

    /// A run's deliveries with their attempts, oldest first.
    package func deliveries(runID: Int64) throws -> [(delivery: Delivery, attempts: [DeliveryAttempt])] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM deliveries WHERE run_id = ? ORDER BY id", arguments: [runID]).map { row in
                let delivery = Self.delivery(row)
                let attempts = try Row.fetchAll(db, sql: "SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt",
                                                arguments: [delivery.id]).map { a in
                    DeliveryAttempt(attempt: a["attempt"], at: Date(timeIntervalSince1970: a["at"]), status: a["status"],
                                    latencyMs: a["latency_ms"], excerpt: a["excerpt"])
                }
                return (delivery, attempts)
            }
        }
    }

    private static func fetchDelivery(_ db: Database, id: Int64) throws -> Delivery? {
        try Row.fetchOne(db, sql: "SELECT * FROM deliveries WHERE id = ?", arguments: [id]).map(delivery)
    }

    private static func delivery(_ row: Row) -> Delivery {
        Delivery(id: row["id"], uuid: row["uuid"], runID: row["run_id"], event: RunEvent(rawValue: row["event"]) ?? .finished,
                 kind: row["kind"], url: row["url"], secretEnv: row["secret_env"], tokenEnv: row["token_env"], state: Delivery.State(rawValue: row["state"]) ?? .pending,
                 attempts: row["attempts"], nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]),
                 giveUpAt: Date(timeIntervalSince1970: row["give_up_at"]), backoffMs: row["backoff_ms"],
                 createdAt: Date(timeIntervalSince1970: row["created_at"]), deliveredAt: date(row["delivered_at"]),
                 lastStatus: row["last_status"], lastError: row["last_error"])
    }

    // MARK: reading

    package func run(id: Int64) throws -> Run? {
        try pool.read { db in try Self.fetchRun(db, id: id) }
    }

    /// Newest first.
    package func runs(limit: Int = 50, repoID: Int64? = nil, states: [RunState]? = nil) throws -> [Run] {
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
            return try Int64.fetchAll(db, sql: sql, arguments: arguments).compactMap { try Self.fetchRun(db, id: $0) }
        }
    }

    /// The newest finished run of `ref` whose autofix passed (its `autofix` line starts with `passed `).
    package func latestAutofixed(repoID: Int64, ref: String) throws -> Run? {
        try pool.read { db in
            guard let id = try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE repo_id = ? AND ref = ? AND autofix LIKE 'passed %' ORDER BY id DESC LIMIT 1
                """, arguments: [repoID, ref]) else { return nil }
            return try Self.fetchRun(db, id: id)
        }
    }

    /// Whether any run exists for this commit of this repo (any ref, any state).
    package func hasRun(repoID: Int64, sha: String) throws -> Bool {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT 1 FROM runs WHERE repo_id = ? AND sha = ? LIMIT 1", arguments: [repoID, sha]) != nil
        }
    }

    /// Runs that ended `error` because the engine stopped answering, that were not an engine retry
    /// themselves and have not been retried yet, finished within `within`; oldest first.
    package func runsAwaitingEngineRetry(within: TimeInterval = 24 * 3600, now: Date = Date()) throws -> [Int64] {
        try runsAwaitingRetry(messagePrefix: RunState.engineUnavailablePrefix, within: within, now: now)
    }

    /// The same for runs that ended `error: runner disk full…` (retried with source `disk-retry`).
    package func runsAwaitingDiskRetry(within: TimeInterval = 24 * 3600, now: Date = Date()) throws -> [Int64] {
        try runsAwaitingRetry(messagePrefix: RunState.runnerDiskFullPrefix, within: within, now: now)
    }

    /// `error` runs whose message starts with `messagePrefix`, finished within `within`, that are not
    /// themselves retries of such an error and have no retry yet.
    private func runsAwaitingRetry(messagePrefix: String, within: TimeInterval, now: Date) throws -> [Int64] {
        try pool.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT id FROM runs r WHERE state = 'error' AND message LIKE ? AND source NOT IN ('engine-retry', 'disk-retry')
                  AND finished_at >= ? AND NOT EXISTS (SELECT 1 FROM runs n WHERE n.retry_of = r.id) ORDER BY id
                """, arguments: [messagePrefix + "%", now.timeIntervalSince1970 - within])
        }
    }

    /// Records that the reporters (note, webhooks, statuses) were told a run finished.
    package func markReported(runID: Int64, at date: Date = Date()) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE runs SET reported_at = ? WHERE id = ?", arguments: [date.timeIntervalSince1970, runID])
        }
    }

    /// Finished runs whose reporters were never told (the daemon died in between), finished before
    /// `before`; oldest first.
    package func unreportedFinishedRuns(before: Date, limit: Int = 100) throws -> [Int64] {
        try pool.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT id FROM runs WHERE state IN ('passed', 'failed', 'error', 'canceled') AND reported_at IS NULL
                  AND COALESCE(finished_at, created_at) < ? ORDER BY id LIMIT ?
                """, arguments: [before.timeIntervalSince1970, limit])
        }
    }

    /// The newest run of a ref of a repo (any state): its id, commit and source.
    package func latestRun(repoID: Int64, ref: String) throws -> (id: Int64, sha: String, source: String)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, sha, source FROM runs WHERE repo_id = ? AND ref = ? ORDER BY id DESC LIMIT 1",
                             arguments: [repoID, ref]).map { (id: $0["id"], sha: $0["sha"], source: $0["source"]) }
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

    private static func fetchRun(_ db: Database, id: Int64) throws -> Run? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT runs.*, repos.name AS repo_name FROM runs JOIN repos ON repos.id = runs.repo_id WHERE runs.id = ?
            """, arguments: [id]) else { return nil }
        let steps = try Row.fetchAll(db, sql: "SELECT * FROM steps WHERE run_id = ? ORDER BY position", arguments: [id]).map { s in
            StepResult(position: s["position"], name: s["name"], command: s["command"],
                       state: StepState(rawValue: s["state"]) ?? .error, exitCode: (s["exit_code"] as Int64?).map { code in Int32(truncatingIfNeeded: code) },
                       timedOut: s["timed_out"], startedAt: date(s["started_at"]), finishedAt: date(s["finished_at"]),
                       testsPassed: s["tests_passed"], testsFailed: s["tests_failed"], testsSkipped: s["tests_skipped"],
                       logBytes: s["log_bytes"], truncated: s["truncated"])
        }
        let vms = try Row.fetchAll(db, sql: "SELECT * FROM vm_results WHERE run_id = ? ORDER BY position", arguments: [id]).map { v in
            VMResult(position: v["position"], profile: v["profile"], tree: VMResult.Tree(rawValue: v["tree"]) ?? .pushed,
                     command: v["command"], state: StepState(rawValue: v["state"]) ?? .error, message: v["message"],
                     exitCode: (v["exit_code"] as Int64?).map { code in Int32(truncatingIfNeeded: code) }, timedOut: v["timed_out"],
                     accel: v["accel"], bootSeconds: v["boot_seconds"], startedAt: date(v["started_at"]),
                     finishedAt: date(v["finished_at"]), testsPassed: v["tests_passed"], testsFailed: v["tests_failed"],
                     testsSkipped: v["tests_skipped"], logBytes: v["log_bytes"], truncated: v["truncated"])
        }
        let artifacts = try Row.fetchAll(db, sql: "SELECT path, size FROM artifacts WHERE run_id = ? ORDER BY path", arguments: [id]).map { a in
            ArtifactFile(path: a["path"], size: a["size"])
        }
        return Run(id: row["id"], repoID: row["repo_id"], repoName: row["repo_name"], ref: row["ref"], sha: row["sha"],
                   oldSHA: row["old_sha"], state: RunState(rawValue: row["state"]) ?? .error, message: row["message"],
                   detected: row["detected"], image: row["image"], sandboxID: row["sandbox_id"],
                   supersededBy: row["superseded_by"], requeues: row["requeues"], retryOf: row["retry_of"],
                   source: row["source"], createdAt: Date(timeIntervalSince1970: row["created_at"]),
                   startedAt: date(row["started_at"]), finishedAt: date(row["finished_at"]), steps: steps,
                   autofix: row["autofix"], flaky: row["flaky"], vms: vms, subject: row["subject"],
                   artifacts: artifacts, artifactsRemovedAt: date(row["artifacts_removed_at"]))
    }

    private static func date(_ value: Double?) -> Date? { value.map(Date.init(timeIntervalSince1970:)) }
}
