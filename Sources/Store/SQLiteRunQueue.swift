import Core
import Foundation
import GRDB

/// `RunQueue` in the SQLite file: the `pushes`, `ref_heads` and queued or running `runs` rows.
package final class SQLiteRunQueue: RunQueue, Sendable {
    private let database: SQLiteDatabase
    private var pool: DatabasePool { database.pool }

    init(_ database: SQLiteDatabase) { self.database = database }


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
    package func enqueue(repo: Repo, update: RefUpdate, source: RunSource, retryOf: Int64?, startNow: Bool, pushedAt: Date?) throws -> Enqueued {
        try pool.write { db in
            let now = Date().timeIntervalSince1970
            let pushed = pushedAt?.timeIntervalSince1970 ?? now
            try db.execute(sql: """
                INSERT INTO pushes (repo_id, ref, old_sha, new_sha, source, received_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [repo.id, update.ref, update.oldSHA, update.newSHA, source.rawValue, pushed])
            let pushID = db.lastInsertedRowID
            try db.execute(sql: """
                INSERT INTO runs (repo_id, push_id, ref, sha, old_sha, state, source, retry_of, created_at, started_at, owner_pid)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [repo.id, pushID, update.ref, update.newSHA, update.oldSHA, startNow ? "running" : "queued",
                                 source.rawValue, retryOf, now, startNow ? now : nil, startNow ? Int64(getpid()) : nil])
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
            guard let run = try SQLiteDatabase.fetchRun(db, id: runID) else {
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
    package func recordSuperseded(repo: Repo, update: RefUpdate, source: RunSource, pushedAt: Date,
                                  supersededBy: Int64) throws -> Run {
        try pool.write { db in
            let now = Date().timeIntervalSince1970
            try db.execute(sql: """
                INSERT INTO pushes (repo_id, ref, old_sha, new_sha, source, received_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [repo.id, update.ref, update.oldSHA, update.newSHA, source.rawValue, pushedAt.timeIntervalSince1970])
            let pushID = db.lastInsertedRowID
            try db.execute(sql: """
                INSERT INTO runs (repo_id, push_id, ref, sha, old_sha, state, source, message, superseded_by, created_at, finished_at)
                VALUES (?, ?, ?, ?, ?, 'canceled', ?, ?, ?, ?, ?)
                """, arguments: [repo.id, pushID, update.ref, update.newSHA, update.oldSHA, source.rawValue,
                                 RunState.supersededMessage(by: supersededBy), supersededBy, now, now])
            let runID = db.lastInsertedRowID
            guard let run = try SQLiteDatabase.fetchRun(db, id: runID) else {
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
    package func recordPush(repo: Repo, update: RefUpdate, source: RunSource) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO pushes (repo_id, ref, old_sha, new_sha, source, received_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [repo.id, update.ref, update.oldSHA, update.newSHA, source.rawValue, Date().timeIntervalSince1970])
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
            try Int64.fetchAll(db, sql: "SELECT id FROM runs WHERE state = 'queued' ORDER BY id").compactMap { try SQLiteDatabase.fetchRun(db, id: $0) }
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
    package func recoverInterrupted() throws -> Recovery {
        try pool.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, ref, requeues, owner_pid FROM runs WHERE state = 'running'")
            var requeued: [Int64] = [], failed: [Int64] = [], superseded: [Int64] = []
            let now = Date().timeIntervalSince1970
            for row in rows {
                let id: Int64 = row["id"]
                if let owner: Int64 = row["owner_pid"] {
                    // A foreground `pushbox run` owns this run: leave it alone while that process lives.
                    guard kill(pid_t(owner), 0) != 0 && errno == ESRCH else { continue }
                    try db.execute(sql: "UPDATE runs SET state = 'error', error_cause = 'interrupted', message = ?, finished_at = ? WHERE id = ?",
                                   arguments: ["the `pushbox run` process (pid \(owner)) ended before the run finished", now, id])
                    try SQLiteDatabase.markUnfinished(db, runID: id, as: .error)
                    failed.append(id)
                    continue
                }
                if Self.supersedesRunningRuns(RefUpdate(oldSHA: RefUpdate.zeroSHA, newSHA: RefUpdate.zeroSHA, ref: row["ref"])),
                   let later = try Self.laterPush(db, of: id) {
                    try db.execute(sql: """
                        UPDATE runs SET state = 'canceled', message = ?, superseded_by = ?, finished_at = ? WHERE id = ?
                        """, arguments: [RunState.supersededMessage(by: later), later, now, id])
                    try SQLiteDatabase.markUnfinished(db, runID: id, as: .canceled)
                    superseded.append(id)
                    continue
                }
                if (row["requeues"] as Int) < 1 {
                    try db.execute(sql: """
                        UPDATE runs SET state = 'queued', requeues = requeues + 1, started_at = NULL, sandbox_id = NULL,
                        message = 'interrupted by a daemon restart; queued again' WHERE id = ?
                        """, arguments: [id])
                    try SQLiteDatabase.forgetProgress(db, runID: id)
                    requeued.append(id)
                } else {
                    try db.execute(sql: "UPDATE runs SET state = 'error', error_cause = 'interrupted', message = ?, finished_at = ? WHERE id = ?",
                                   arguments: ["interrupted twice by daemon restarts; not retried again (use pushbox retry)", now, id])
                    try SQLiteDatabase.markUnfinished(db, runID: id, as: .error)
                    failed.append(id)
                }
            }
            return Recovery(requeued: requeued, failed: failed, superseded: superseded)
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
            if db.changesCount == 1 { try SQLiteDatabase.forgetProgress(db, runID: runID) }
        }
    }

    /// Whether any run exists for this commit of this repo (any ref, any state).
    package func hasRun(repoID: Int64, sha: String) throws -> Bool {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT 1 FROM runs WHERE repo_id = ? AND sha = ? LIMIT 1", arguments: [repoID, sha]) != nil
        }
    }

    /// `error` runs of `cause`, finished within `within`, that are no automatic retry themselves and have
    /// no retry yet; oldest first.
    package func runsAwaitingRetry(after cause: RunErrorCause, within: TimeInterval, now: Date) throws -> [Int64] {
        let retries = RunSource.allCases.filter(\.isAutomaticRetry).map(\.rawValue)
        return try pool.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT id FROM runs r WHERE state = 'error' AND error_cause = ? AND source NOT IN (\(retries.map { _ in "?" }.joined(separator: ", ")))
                  AND finished_at >= ? AND NOT EXISTS (SELECT 1 FROM runs n WHERE n.retry_of = r.id) ORDER BY id
                """, arguments: StatementArguments([cause.rawValue] + retries) + [now.timeIntervalSince1970 - within])
        }
    }

    /// The newest run of a ref of a repo (any state): its id, commit and source.
    package func latestRun(repoID: Int64, ref: String) throws -> LatestRun? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, sha, source FROM runs WHERE repo_id = ? AND ref = ? ORDER BY id DESC LIMIT 1",
                             arguments: [repoID, ref]).map { LatestRun(id: $0["id"], sha: $0["sha"], source: RunSource(rawValue: $0["source"]) ?? .hook) }
        }
    }
}
