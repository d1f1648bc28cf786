import API
import Core
import Foundation
import Git
import Logging
import Workspace

/// The queue's one owner: accepts pushes, starts runs up to the concurrency limit (FIFO; one run at a
/// time per repository and ref, so notes land in push order), supersedes the queued runs of a ref that was
/// pushed again and stops its running ones (branches; `RunQueue.enqueue` says which), cancels and retries,
/// and reconciles with the repositories and the spool.
package actor Scheduler {
    let environment: RunEnvironment
    private let driver: RunDriver
    let logger: Logger
    /// A run this scheduler is executing: its repository-and-ref key, its task, and why the task was
    /// cancelled (recorded before the cancel; the run's driver asks for it when it has stopped).
    private struct ActiveRun {
        var key: String
        var task: Task<Void, Never>
        var cancelReason: CancelReason?
    }
    private var active: [Int64: ActiveRun] = [:]
    private var reconcileTask: Task<Void, Never>?
    private var stopping = false

    package init(environment: RunEnvironment, logger: Logger) {
        self.environment = environment
        self.driver = RunDriver(environment: environment)
        self.logger = logger
    }

    var store: RunStore { environment.store }
    private var concurrency: Int { environment.config.concurrency }

    // MARK: start and stop

    /// Recovers what a crash left, drains the spool, scans the repositories, starts queued runs, and
    /// keeps reconciling every `reconcile_every`.
    package func start() async {
        do {
            let recovered = try store.queue.recoverInterrupted()
            if !recovered.requeued.isEmpty { logger.notice("re-queued runs interrupted by a restart: \(recovered.requeued)") }
            if !recovered.failed.isEmpty { logger.warning("runs interrupted twice, now error: \(recovered.failed)") }
            if !recovered.superseded.isEmpty {
                logger.notice("runs a later push superseded before a restart, now canceled: \(recovered.superseded)")
                reportFinished(recovered.superseded)
            }
        } catch {
            logger.error("cannot recover interrupted runs: \(error)")
        }
        // Workspaces a killed daemon left mounted; a foreground `pushbox run` still running keeps its own.
        let store = self.store
        let leftovers = WorkspaceVolume.releaseLeftovers(home: environment.home) { id in
            (try? store.records.run(id: id))?.state == .running
        }
        if !leftovers.released.isEmpty { logger.notice("removed the workspaces interrupted runs left: \(leftovers.released)") }
        for problem in leftovers.problems { logger.error("a workspace an interrupted run left: \(problem)") }
        await reconcile()
        let every = environment.config.reconcileEvery
        reconcileTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: every)
                guard !Task.isCancelled else { return }
                await self?.reconcile()
            }
        }
    }

    /// Stops reconciling and starting runs, stops the running ones and puts them back in the queue for the
    /// next start (their containers are removed now). A daemon killed outright leaves them `running`; the
    /// next start re-queues those too.
    package func stop() async {
        stopping = true
        reconcileTask?.cancel()
        let tasks = active.values.map(\.task)
        for id in Array(active.keys) { stopTask(of: id, reason: .shutdown) }
        for task in tasks { await task.value }
    }

    /// Records why run `id`'s task is cancelled (see `CancelReason.recorded(over:)`), then cancels it.
    /// False when this scheduler is not executing that run.
    @discardableResult
    private func stopTask(of id: Int64, reason: CancelReason) -> Bool {
        guard var entry = active[id] else { return false }
        entry.cancelReason = reason.recorded(over: entry.cancelReason)
        active[id] = entry
        entry.task.cancel()
        return true
    }

    /// Why run `id`'s task was cancelled (nil: it was not, or the run is not executing here).
    private func cancelReason(of id: Int64) -> CancelReason? { active[id]?.cancelReason }

    /// The ids of the runs executing now.
    package func runningRunIDs() -> Set<Int64> { Set(active.keys) }

    // MARK: intake

    /// Queues runs for the ref updates of one push to the repository at `repoPath`.
    /// `pushedAt` is when a spooled push happened: such a push is deduplicated against what the daemon
    /// already has (see `submit(repo:update:source:pushedAt:)`).
    package func submit(repoPath: String, updates: [RefUpdate], source: RunSource, pushedAt: Date? = nil) throws -> [SubmitResult] {
        let path = URL(fileURLWithPath: repoPath).standardizedFileURL.path
        guard let repo = try store.repositories.repo(path: path) ?? store.repositories.repo(path: repoPath) else {
            throw StoreError("\(repoPath) is not registered with pushbox (run `pushbox repo add \(repoPath)`)")
        }
        var results: [SubmitResult] = []
        for update in updates {
            results.append(try submit(repo: repo, update: update, source: source, pushedAt: pushedAt))
        }
        pump()
        return results
    }

    func submit(repo: Repo, update: RefUpdate, source: RunSource, pushedAt: Date?) throws -> SubmitResult {
        var result = SubmitResult(ref: update.ref, sha: update.newSHA, status: .queued, superseded: [])
        if update.isDeletion {
            try store.queue.recordPush(repo: repo, update: update, source: source)
            result.status = .deleted
            return result
        }
        if let reason = skipReason(repo: repo, update: update) {
            try store.queue.recordPush(repo: repo, update: update, source: source)
            result.status = .skipped
            result.message = reason
            return result
        }
        // An annotated tag points at a tag object; the run (and its note) belong to the commit it tags.
        var update = update
        if update.tag != nil, let git = try? Repository.open(at: URL(fileURLWithPath: repo.path)),
           let commit = try? git.resolve(update.newSHA) {
            update.newSHA = commit.hex
            result.sha = commit.hex
        }
        // The scan can see a moved ref before its hook reaches the daemon (and queues only commits the
        // repository never had a run of): a hook or spooled push of the commit the scan just queued for this
        // ref is that same push.
        if source == .hook || pushedAt != nil, let latest = try store.queue.latestRun(repoID: repo.id, ref: update.ref),
           latest.sha == update.newSHA, latest.source == .scan {
            try store.queue.recordPush(repo: repo, update: update, source: source)
            result.runID = latest.id
            result.message = "already has run \(latest.id) (found by the scan)"
            if source == .hook {
                // The pusher sees the run their push has, whichever of the two saw it first.
                result.status = .queued
                result.url = "\(environment.config.url)/runs/\(latest.id)"
                result.autofix = autofixHint(repo: repo, ref: update.ref)
            } else {
                result.status = .skipped
            }
            return result
        }
        if let pushedAt {
            // A spooled push may already be known: the scan can queue its head before the spool is drained,
            // and a hook whose request got no answer spools a push the daemon may have recorded. A run of
            // this commit pushed after the ref's previous push of another commit is the one.
            if let existing = try store.queue.runOfPush(repoID: repo.id, ref: update.ref, sha: update.newSHA, pushedAt: pushedAt) {
                try store.queue.recordPush(repo: repo, update: update, source: source)
                result.status = .skipped
                result.runID = existing
                result.message = "already has run \(existing)"
                return result
            }
            // A later push of the ref reached the daemon first: this one is superseded by it, as a queued
            // run would have been, and says so in its note.
            if let later = try store.queue.firstRunPushed(repoID: repo.id, ref: update.ref, otherThan: update.newSHA, after: pushedAt) {
                let run = try store.queue.recordSuperseded(repo: repo, update: update, source: source, pushedAt: pushedAt, supersededBy: later)
                result.status = .superseded
                result.runID = run.id
                result.message = RunState.supersededMessage(by: later)
                reportFinished([run.id], repo: repo)
                return result
            }
        }
        let enqueued = try store.queue.enqueue(repo: repo, update: update, source: source, pushedAt: pushedAt)
        result.runID = enqueued.run.id
        result.url = "\(environment.config.url)/runs/\(enqueued.run.id)"
        result.superseded = (enqueued.superseded + enqueued.supersededRunning).sorted()
        result.autofix = autofixHint(repo: repo, ref: update.ref)
        let queued = enqueued.run, reporters = environment.reporters
        Task { for reporter in reporters { await reporter.runChanged(queued, event: .queued) } }
        reportFinished(enqueued.superseded, repo: repo)
        // The running ones end through their own driver, which records and reports "superseded by run N".
        for id in enqueued.supersededRunning where !stopTask(of: id, reason: .superseded(by: enqueued.run.id)) {
            logger.warning("run \(id) is running but not in this daemon; it is not stopped", metadata: ["superseded_by": "\(enqueued.run.id)"])
        }
        logger.info("run queued", metadata: ["run": "\(enqueued.run.id)", "repo": "\(repo.name)", "ref": "\(update.ref)"])
        return result
    }

    /// The newest passing autofix of an earlier run of `ref` whose branch still exists (a user who merged
    /// or deleted it is not told again).
    private func autofixHint(repo: Repo, ref: String) -> SubmitResult.AutofixHint? {
        guard let run = try? store.records.latestAutofixed(repoID: repo.id, ref: ref),
              let branch = run.autofixOutcome?.branch, branch.hasPrefix("autofix/"),
              let git = try? Repository.open(at: URL(fileURLWithPath: repo.path)),
              (try? git.resolve("refs/heads/\(branch)")) != nil else { return nil }
        return SubmitResult.AutofixHint(branch: branch, runID: run.id, sha: run.sha)
    }

    /// Why a pushed ref starts no run, or nil. A `.pushbox.yml` that cannot be parsed still runs (and
    /// ends `error` with the parse error in its note) so the mistake is reported, not hidden.
    private func skipReason(repo: Repo, update: RefUpdate) -> String? {
        if update.branch == nil && update.tag == nil { return "only branches and tags are run" }
        guard let branch = update.branch else { return nil }
        guard let git = try? Repository.open(at: URL(fileURLWithPath: repo.path)),
              let commit = ObjectID(hex: update.newSHA),
              let pipeline = try? environment.pipelines.load(git, commit: commit) else { return nil }
        guard pipeline.spec.triggers(branch: branch) else {
            return "not in branches: \(pipeline.spec.branches.joined(separator: ", "))"
        }
        return nil
    }

    /// Runs that ended without being started (superseded, canceled while queued) get their note too.
    func reportFinished(_ runIDs: [Int64], repo: Repo) {
        let runs = runIDs.compactMap { try? store.records.run(id: $0) }
        guard !runs.isEmpty else { return }
        let environment = self.environment
        Task {
            for run in runs { await environment.reportFinished(run, repoPath: repo.path) }
        }
    }

    /// `reportFinished(_:repo:)` for runs of any repositories.
    func reportFinished(_ runIDs: [Int64]) {
        var byRepo: [Int64: [Int64]] = [:]
        for id in runIDs {
            if let run = try? store.records.run(id: id) { byRepo[run.repoID, default: []].append(id) }
        }
        for (repoID, ids) in byRepo {
            guard let repo = try? store.repositories.repo(id: repoID) else {
                ids.forEach { try? store.records.markReported(runID: $0) }
                continue
            }
            reportFinished(ids, repo: repo)
        }
    }

    /// Finished runs whose note and reports were never written (the daemon was killed between recording the
    /// end and reporting it) are reported now. Runs that ended in the last 5 s are left to their own path (the
    /// task that reports a superseded run, the run's own driver).
    func reportUnreported() {
        guard let ids = try? store.records.unreportedFinishedRuns(before: Date().addingTimeInterval(-5)), !ids.isEmpty else { return }
        let unreported = ids.filter { active[$0] == nil }
        guard !unreported.isEmpty else { return }
        logger.notice("reporting runs whose end was not reported before a crash", metadata: ["runs": "\(unreported)"])
        reportFinished(unreported)
    }

    // MARK: the queue

    private func key(_ run: Run) -> String { "\(run.repoID)\u{0}\(run.ref)" }

    /// Starts queued runs while slots are free, oldest first, skipping refs that already have a run going.
    func pump() {
        guard !stopping, active.count < concurrency else { return }
        let queued: [Run]
        do {
            queued = try store.queue.queuedRuns()
        } catch {
            logger.error("cannot read the queue: \(error)")
            return
        }
        var busy = Set(active.values.map(\.key))
        for run in queued where active.count < concurrency && !busy.contains(key(run)) {
            do {
                guard try store.queue.claim(runID: run.id) else { continue }
            } catch {
                logger.error("cannot start run \(run.id): \(error)")
                continue
            }
            busy.insert(key(run))
            var claimed = run
            claimed.state = .running
            let driver = self.driver
            let logger = self.logger
            let id = run.id
            let task = Task { [weak self] in
                await driver.execute(claimed, logger: logger) { [weak self] in await self?.cancelReason(of: id) ?? .shutdown }
                await self?.finished(id)
            }
            active[run.id] = ActiveRun(key: key(run), task: task)
        }
    }

    private func finished(_ runID: Int64) {
        active[runID] = nil
        pump()
    }

    package var runningCount: Int { active.count }

    // MARK: control

    package enum CancelOutcome: Sendable, Equatable {
        case canceled, stopping, alreadyFinished, notFound
    }

    package func cancel(runID: Int64) throws -> CancelOutcome {
        if stopTask(of: runID, reason: .user) { return .stopping }
        guard let run = try store.records.run(id: runID) else { return .notFound }
        guard !run.state.isFinished else { return .alreadyFinished }
        try store.records.finish(runID: runID, state: .canceled, message: "canceled before it started")
        if let repo = try store.repositories.repo(id: run.repoID) { reportFinished([runID], repo: repo) }
        return .canceled
    }

    /// Queues a new run of the same commit and ref.
    package func retry(runID: Int64, source: RunSource = .retry) throws -> Run {
        guard let run = try store.records.run(id: runID) else { throw StoreError("no run \(runID)") }
        guard let repo = try store.repositories.repo(id: run.repoID) else { throw StoreError("repository of run \(runID) is no longer registered") }
        let update = RefUpdate(oldSHA: run.oldSHA ?? RefUpdate.zeroSHA, newSHA: run.sha, ref: run.ref)
        let enqueued = try store.queue.enqueue(repo: repo, update: update, source: source, retryOf: runID)
        pump()
        return enqueued.run
    }
}
