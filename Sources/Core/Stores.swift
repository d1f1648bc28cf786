import Foundation

/// What a store operation refused, in words for the user.
package struct StoreError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// The runner's durable state, one protocol per concern. Store's SQLite file implements all four
/// (`RunStore(path:)`); a second backend (PostgreSQL, for several hosts) implements the same four. Every
/// operation is one transaction; what decides behaviour is typed (`RunSource`, `RunErrorCause`,
/// `AutofixOutcome.Status`), never a message's text.
package struct RunStore: Sendable {
    package var repositories: any RepositoryStore
    package var queue: any RunQueue
    package var records: any RunRecords
    package var deliveries: any DeliveryQueue

    package init(repositories: any RepositoryStore, queue: any RunQueue, records: any RunRecords, deliveries: any DeliveryQueue) {
        self.repositories = repositories
        self.queue = queue
        self.records = records
        self.deliveries = deliveries
    }
}

/// The registered bare repositories and their hook tokens.
///
/// Contract: names and paths are unique (`addRepo` throws `StoreError` saying which is taken);
/// `removeRepo` removes the repository's runs with it; a token belongs to one repository and is never
/// part of `Repo` (the API lists repositories).
package protocol RepositoryStore: Sendable {
    func addRepo(name: String, path: String) throws -> Repo
    /// The repository's own token for `POST /api/v1/hooks/post-receive`, made on first use.
    func hookToken(repoID: Int64) throws -> String
    func repo(hookToken token: String) throws -> Repo?
    /// By name.
    func repos() throws -> [Repo]
    func repo(named name: String) throws -> Repo?
    func repo(path: String) throws -> Repo?
    func repo(id: Int64) throws -> Repo?
    func removeRepo(named name: String) throws
}

/// The outcome of `RunQueue.enqueue`.
package struct Enqueued: Sendable, Equatable {
    package var run: Run
    /// Older queued runs of the same repo and ref that this run replaced (now `canceled`).
    package var superseded: [Int64]
    /// Older running runs of the same branch that this push supersedes. The store leaves them `running`:
    /// the caller stops them, and each one's own driver records its end, `canceled` with "superseded by
    /// run N" (`RunRecords.finish`), unless it finished on its own first.
    package var supersededRunning: [Int64] = []

    package init(run: Run, superseded: [Int64], supersededRunning: [Int64] = []) {
        self.run = run
        self.superseded = superseded
        self.supersededRunning = supersededRunning
    }
}

/// What `RunQueue.recoverInterrupted` did with the runs a dead daemon left `running`.
package struct Recovery: Sendable, Equatable {
    package var requeued: [Int64] = []
    package var failed: [Int64] = []
    package var superseded: [Int64] = []
    package init(requeued: [Int64] = [], failed: [Int64] = [], superseded: [Int64] = []) {
        self.requeued = requeued
        self.failed = failed
        self.superseded = superseded
    }
}

/// The newest run of a ref, as the dedupe of a hook after the scan sees it.
package struct LatestRun: Sendable, Equatable {
    package var id: Int64
    package var sha: String
    package var source: RunSource
    package init(id: Int64, sha: String, source: RunSource) {
        self.id = id
        self.sha = sha
        self.source = source
    }
}

/// Pushes and the queue: what was pushed, which runs wait, who claimed one, what a crash left behind, and
/// the look-ups that dedupe and automatic retries need.
///
/// Contract: `enqueue` records the push and its run in one transaction and supersedes the ref's older
/// runs as documented there; `claim` is the one way a queued run becomes `running` (exactly one caller
/// wins); `recoverInterrupted` runs once at a daemon's start, before anything is claimed. A backend shared
/// by several hosts adds leases to `claim` and notifications on `enqueue`; the callers stay as they are.
package protocol RunQueue: Sendable {
    /// Records a push and queues a run for it. A push supersedes the older runs of the same repo and ref
    /// pushed before it (for a spooled push: before `pushedAt`, so a late spooled push never supersedes a
    /// newer run): those still `queued` are marked `canceled`, "superseded by run N"; those `running` of a
    /// branch other than `autofix/…` are listed in `supersededRunning` (a foreground `pushbox run` never
    /// is). A retry (`retryOf`) is not a push and supersedes nothing. With `startNow` (a foreground
    /// `pushbox run`, owned by this process) the run is created `running`, so no daemon claims it.
    func enqueue(repo: Repo, update: RefUpdate, source: RunSource, retryOf: Int64?, startNow: Bool, pushedAt: Date?) throws -> Enqueued
    /// A spooled push overtaken before the daemon saw it: a run created `canceled`, superseded by `supersededBy`.
    func recordSuperseded(repo: Repo, update: RefUpdate, source: RunSource, pushedAt: Date, supersededBy: Int64) throws -> Run
    /// A run of `sha` on `ref` for a push received after the ref's last push of another commit before
    /// `pushedAt`, or nil.
    func runOfPush(repoID: Int64, ref: String, sha: String, pushedAt: Date) throws -> Int64?
    /// The first run of `ref` for a push of another commit received after `after` (no retries), or nil.
    func firstRunPushed(repoID: Int64, ref: String, otherThan sha: String, after: Date) throws -> Int64?
    /// Records a push that starts no run (a deletion, a filtered branch) so the scan does not pick it up.
    func recordPush(repo: Repo, update: RefUpdate, source: RunSource) throws
    /// The last head the runner saw for each ref of a repository (from pushes or scans).
    func knownHeads(repoID: Int64) throws -> [String: String]
    /// Records heads as seen without running them (a repository being registered).
    func rememberHeads(repoID: Int64, _ heads: [String: String]) throws
    /// Queued runs, oldest first.
    func queuedRuns() throws -> [Run]
    /// Moves a run from `queued` to `running`; false when it is no longer queued (canceled, superseded, or
    /// claimed by someone else).
    func claim(runID: Int64) throws -> Bool
    /// On daemon start: runs left `running` go back to the queue once; a second interruption ends them
    /// `error` (`RunErrorCause.interrupted`); one a later push superseded ends `canceled`; a foreground
    /// run whose process died ends `error`.
    func recoverInterrupted() throws -> Recovery
    /// Puts a `running` run back in the queue (a graceful shutdown); not counted as a crash re-queue.
    func requeue(runID: Int64, message: String) throws
    /// `error` runs of `cause` that are no automatic retry themselves and have no retry yet, finished within
    /// `within` of `now`; oldest first.
    func runsAwaitingRetry(after cause: RunErrorCause, within: TimeInterval, now: Date) throws -> [Int64]
    /// The newest run of a ref (any state).
    func latestRun(repoID: Int64, ref: String) throws -> LatestRun?
    /// Whether any run exists for this commit of this repository (any ref, any state).
    func hasRun(repoID: Int64, sha: String) throws -> Bool
}

extension RunQueue {
    package func enqueue(repo: Repo, update: RefUpdate, source: RunSource, retryOf: Int64? = nil, startNow: Bool = false,
                         pushedAt: Date? = nil) throws -> Enqueued {
        try enqueue(repo: repo, update: update, source: source, retryOf: retryOf, startNow: startNow, pushedAt: pushedAt)
    }

    package func runsAwaitingRetry(after cause: RunErrorCause) throws -> [Int64] {
        try runsAwaitingRetry(after: cause, within: 24 * 3600, now: Date())
    }
}

/// What a run recorded as it went and how it ended, and reading runs back.
///
/// Contract: `finish` records a run's end once (a finished run keeps its first outcome); a run's steps,
/// VM entries, attempts and artifacts are replaced whole or updated by position; readers see committed
/// state only.
package protocol RunRecords: Sendable {
    func run(id: Int64) throws -> Run?
    /// Newest first.
    func runs(limit: Int, repoID: Int64?, states: [RunState]?) throws -> [Run]
    func counts() throws -> [RunState: Int]
    /// Sets what is given, leaves the rest.
    func update(runID: Int64, detected: String?, image: String?, sandboxID: String?, subject: String?) throws
    func setSteps(runID: Int64, _ steps: [StepResult]) throws
    func updateStep(runID: Int64, _ step: StepResult) throws
    /// Replaces the VM entries of one tree of a run (positions are unique across trees).
    func setVMs(runID: Int64, tree: VMResult.Tree, _ vms: [VMResult]) throws
    func updateVM(runID: Int64, _ vm: VMResult) throws
    func setFixAttempts(runID: Int64, _ attempts: [FixAttemptSummary]) throws
    func fixAttempts(runID: Int64) throws -> [FixAttemptSummary]
    func setAutofix(runID: Int64, _ outcome: AutofixOutcome) throws
    /// The newest run of `ref` whose autofix passed.
    func latestAutofixed(repoID: Int64, ref: String) throws -> Run?
    /// The failing step passed on its re-run: `flaky` is the note's line, `tests` the names to count.
    func recordFlaky(runID: Int64, repoID: Int64, flaky: String, tests: [String]) throws
    /// Of one repository (nil: of all), most often seen first.
    func flakyTests(repoID: Int64?) throws -> [FlakyTest]
    func setArtifacts(runID: Int64, _ files: [ArtifactFile]) throws
    /// Runs whose artifact files are still on disk beyond the repository's newest `keep` with artifacts.
    func runsWithExpiredArtifacts(repoID: Int64, keep: Int) throws -> [Int64]
    func markArtifactsRemoved(runID: Int64, at date: Date) throws
    /// Ends a run; false when it had already finished. `cause` is why an `error` run failed;
    /// `supersededBy` the run whose push superseded a `canceled` one.
    @discardableResult
    func finish(runID: Int64, state: RunState, cause: RunErrorCause?, message: String?, supersededBy: Int64?) throws -> Bool
    /// The reporters (note, webhooks, statuses) were told the run finished.
    func markReported(runID: Int64, at date: Date) throws
    /// Finished runs the reporters were never told about, finished before `before`; oldest first.
    func unreportedFinishedRuns(before: Date, limit: Int) throws -> [Int64]
    /// "ok" when the store is sound.
    func integrityCheck() throws -> String
}

extension RunRecords {
    package func runs(limit: Int = 50, repoID: Int64? = nil, states: [RunState]? = nil) throws -> [Run] {
        try runs(limit: limit, repoID: repoID, states: states)
    }

    package func update(runID: Int64, detected: String? = nil, image: String? = nil, sandboxID: String? = nil,
                        subject: String? = nil) throws {
        try update(runID: runID, detected: detected, image: image, sandboxID: sandboxID, subject: subject)
    }

    package func flakyTests() throws -> [FlakyTest] { try flakyTests(repoID: nil) }

    package func markArtifactsRemoved(runID: Int64) throws { try markArtifactsRemoved(runID: runID, at: Date()) }

    @discardableResult
    package func finish(runID: Int64, state: RunState, cause: RunErrorCause? = nil, message: String?,
                        supersededBy: Int64? = nil) throws -> Bool {
        try finish(runID: runID, state: state, cause: cause, message: message, supersededBy: supersededBy)
    }

    package func markReported(runID: Int64) throws { try markReported(runID: runID, at: Date()) }

    package func unreportedFinishedRuns(before: Date) throws -> [Int64] { try unreportedFinishedRuns(before: before, limit: 100) }
}
