import Core
import Foundation
import Git
import Logging
import Workspace

/// Everything a run needs from outside the pipeline, injected by the composition root (CLI).
package struct RunEnvironment: Sendable {
    package var home: RunnerHome
    package var config: RunnerConfig
    package var store: RunStore
    package var executor: any JobExecutor
    package var reporters: [any RunReporter]
    package var testReader: any TestResultReader
    package var hub: LogHub
    /// The runner's own environment: where `secrets:` are looked up.
    package var processEnvironment: [String: String]
    /// Labels every sandbox of this runner carries (lets a restarted daemon find its orphans).
    package var sandboxLabels: [String: String]
    /// The autofix backend (nil: autofix off). Called after a `failed` run.
    package var fixer: (any RunFixer)?
    /// Guests for `.pushbox.yml` `vms:` (nil: VM validation off, e.g. `pushbox run --no-vms`; the
    /// entries are recorded as skipped).
    package var vms: (any VMGuests)?
    /// The per-repository caches (one instance per daemon: it knows which entries running runs use).
    package var caches: RunCaches
    /// Each commit's pipeline, parsed once for the scheduler and the run.
    package var pipelines = PipelineLoader()
    /// The size of each run's workspace file system (`WorkspaceVolume`), or nil for a plain directory. Set
    /// by the composition root from `workspace_quota` once it knows volumes can be made here.
    package var workspaceQuota: Int64?

    package init(home: RunnerHome, config: RunnerConfig, store: RunStore, executor: any JobExecutor,
                 reporters: [any RunReporter], testReader: any TestResultReader, hub: LogHub,
                 processEnvironment: [String: String], sandboxLabels: [String: String] = [:], fixer: (any RunFixer)? = nil,
                 vms: (any VMGuests)? = nil) {
        self.home = home
        self.config = config
        self.store = store
        self.executor = executor
        self.reporters = reporters
        self.testReader = testReader
        self.hub = hub
        self.processEnvironment = processEnvironment
        self.sandboxLabels = sandboxLabels
        self.fixer = fixer
        self.vms = vms
        self.caches = RunCaches(root: home.cache, maxBytesPerRepo: config.cacheMax)
    }
}

extension RunEnvironment {
    /// The one way a finished run is reported, whoever finished it (its driver, or the scheduler for a run
    /// that never started): the live-log followers are released, every reporter is told (the notes, the
    /// webhooks, the statuses), and the store remembers it was, so a restart does not report it again.
    package func reportFinished(_ run: Run, repoPath: String) async {
        await hub.runFinished(runID: run.id)
        for reporter in reporters { await reporter.runFinished(run, repoPath: repoPath) }
        try? store.records.markReported(runID: run.id)
    }
}

/// Why a run ended before or outside its steps: its `error` cause and message.
struct RunAbort: Error {
    var state: RunState = .error
    var cause: RunErrorCause
    var message: String
}

/// How a run ended, as `RunRecords.finish` records it.
struct RunEnd: Sendable {
    var state: RunState
    var cause: RunErrorCause?
    var message: String?
}

/// Why the task of a running run was cancelled; the run's driver asks once it has stopped, and records the
/// end accordingly. The scheduler records it before it cancels the task.
package enum CancelReason: Sendable, Equatable {
    /// `pushbox cancel` or `POST /api/v1/runs/<id>/cancel`: the run ends `canceled`.
    case user
    /// A later push of the run's branch (run `by`): the run ends `canceled`, "superseded by run N", with
    /// `superseded_by` set. Never re-queued.
    case superseded(by: Int64)
    /// The daemon is stopping: the run goes back to the queue (its sandbox removed) for the next start.
    case shutdown

    /// The reason to keep when `self` is recorded for a run that already has `earlier` (nil: none yet). The
    /// first reason stands, except that a shutdown gives way to any other: a run that a user canceled or a
    /// push superseded is never re-queued, whichever came first.
    package func recorded(over earlier: CancelReason?) -> CancelReason {
        guard let earlier, earlier != .shutdown else { return self }
        return earlier
    }
}
