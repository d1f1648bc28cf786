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

/// Executes one claimed run, top to bottom: checkout, pipeline, report. Every stage is a call in
/// `execute`; nothing hides in a callback.
package struct RunDriver: Sendable {
    package let environment: RunEnvironment

    package init(environment: RunEnvironment) { self.environment = environment }

    private var store: RunStore { environment.store }

    /// Runs `run` (already `running` in the store) to a final state, records it, writes the run's files
    /// and calls the reporters. Cancelling the calling task cancels the run, in whichever stage it is
    /// (steps, autofix, VMs). A cancelled run asks `cancelReason` why, once it has stopped: a daemon
    /// shutdown puts it back in the queue (its sandbox removed); a superseding push ends it `canceled`,
    /// "superseded by run N"; anything else (nil included) ends it `canceled`. Its end is written once, here.
    @discardableResult
    package func execute(_ run: Run, logger: Logger,
                         cancelReason: @escaping @Sendable () async -> CancelReason? = { nil }) async -> Run {
        var logger = logger
        logger[metadataKey: "run"] = "\(run.id)"
        let files = environment.home.run(run.id)
        var times = StageTimes(claimedAt: Date())
        let started = (try? store.records.run(id: run.id)) ?? run
        for reporter in environment.reporters { await reporter.runChanged(started, event: .started) }
        var outcome: RunEnd
        var caches: PreparedCaches?
        var volume: WorkspaceVolume?
        do {
            let repo = try repository(of: run)
            // 1. checkout: the pipeline definition and the tree of the pushed commit, then its caches
            let pipeline = try loadPipeline(run, repo: repo)
            try store.records.update(runID: run.id, detected: pipeline.detected, image: pipeline.spec.image)
            volume = try checkout(run, repo: repo, into: files)
            caches = prepareCaches(run, spec: pipeline.spec, repo: repo, files: files, logger: logger)
            times.checkedOutAt = Date()
            // 2. pipeline: every step in one fresh sandbox; then the artifacts out of its workspace
            let result = try await runSteps(run, spec: pipeline.spec, files: files, mounts: caches?.mounts ?? [],
                                            times: &times, logger: logger)
            outcome = RunEnd(state: result.state, message: result.message)
            if result.state != .passed, let full = fullDisk(volume) {
                outcome.message = [outcome.message, full].compactMap { $0 }.joined(separator: "; ")
            }
            collectArtifacts(run, spec: pipeline.spec, passed: result.state == .passed, files: files, mounts: caches?.mounts ?? [],
                             logger: logger)
            // 3. autofix: a failed step is first re-run once (a flake costs no model call); otherwise the fixer
            //    works on copies, and a fix is published only once it passed in a fresh container and in every
            //    guest. The run itself stays failed (unless the step was flaky and `flaky: pass`).
            var passed = result.state == .passed
            if result.state == .failed, let failed = result.failedIndex {
                let stage = await autofix(run, repo: repo, spec: pipeline.spec, setup: result.setup,
                                          failure: stepFailure(result, index: failed, spec: pipeline.spec, files: files),
                                          files: files, logger: logger)
                times.flakeRerunSeconds = stage.rerun.map(Units.seconds)
                if stage.outcome == .flaky, pipeline.spec.flaky == .pass {
                    passed = true
                    outcome = RunEnd(state: .passed)
                }
            }
            // 4. vms: the passing tree again in each `vms:` guest; a guest's failure starts autofix too.
            if passed, !pipeline.spec.vms.isEmpty {
                times.vmsStartedAt = Date()
                let vms = try await validateInVMs(run, repo: repo, commit: ObjectID(hex: run.sha)!,  // checked by loadPipeline
                                                  spec: pipeline.spec,
                                                  setup: result.setup, tree: .pushed, first: 0, files: files, logger: logger)
                outcome = RunEnd(state: vms.state, message: vms.message)
                if vms.state == .failed, let failure = guestFailure(run, steps: result, files: files) {
                    await autofix(run, repo: repo, spec: pipeline.spec, setup: result.setup, failure: failure, files: files, logger: logger)
                }
            }
        } catch let abort as RunAbort {
            outcome = RunEnd(state: abort.state, cause: abort.cause, message: abort.message)
        } catch is CancellationError {
            outcome = RunEnd(state: .canceled, message: "canceled")
        } catch {
            outcome = Task.isCancelled ? RunEnd(state: .canceled, message: "canceled") : RunEnd(state: .error, cause: .other, message: "\(error)")
        }
        if let caches { releaseCaches(caches, run: run, files: files, logger: logger) }
        // Infrastructure, not the push: an error while the engine does not answer says so, and the scheduler
        // runs the commit again once the engine is back.
        if outcome.state == .error, !Task.isCancelled, !(await environment.executor.isAvailable()) {
            outcome.cause = .engineUnavailable
            outcome.message = RunState.engineUnavailablePrefix + ": " + (outcome.message ?? "no answer")
            logger.error("the container engine stopped answering during the run")
        }
        if Task.isCancelled && outcome.state != .canceled { outcome = RunEnd(state: .canceled, message: "canceled") }
        var supersededBy: Int64?
        if outcome.state == .canceled {
            switch await cancelReason() {
            case .shutdown:
                releaseWorkspace(files, logger: logger)
                try? store.queue.requeue(runID: run.id, message: "interrupted by a daemon shutdown; queued again")
                logger.notice("run put back in the queue for the next start")
                return (try? store.records.run(id: run.id)) ?? run
            case .superseded(let newer):
                outcome.message = RunState.supersededMessage(by: newer)
                supersededBy = newer
                logger.notice("run superseded by a later push", metadata: ["superseded_by": "\(newer)"])
            case .user, nil:
                break
            }
        }
        // 5. report: store, metadata.json, note and other reporters
        await recordFinish(run, outcome: outcome, supersededBy: supersededBy, logger: logger)
        let finished = (try? store.records.run(id: run.id)) ?? run
        writeMetadata(finished, times: times, files: files, logger: logger)
        await environment.hub.runFinished(runID: run.id)
        if let repo = try? store.repositories.repo(id: run.repoID) {
            for reporter in environment.reporters { await reporter.runFinished(finished, repoPath: repo.path) }
            try? store.records.markReported(runID: run.id)
        }
        logger.info("run finished", metadata: ["state": "\(finished.state.rawValue)"])
        releaseWorkspace(files, logger: logger)
        return finished
    }

    /// Which disk a run that did not pass found full, if any: its own workspace (the quota), or the runner's
    /// (the volume's image could not grow, so the job saw I/O errors rather than its quota).
    private func fullDisk(_ volume: WorkspaceVolume?) -> String? {
        if let volume, volume.isFull { return "the workspace is full (workspace_quota \(Units.formatBytes(volume.bytes)))" }
        if WorkspaceVolume.freeBytes(environment.home.root) < Scheduler.retrySpace { return "the runner's disk (\(environment.home.root.path)) is full" }
        return nil
    }

    /// The workspace goes with the run (files worth keeping are `artifacts:`); after the run is reported, so
    /// its outcome is not held up. A daemon that dies first leaves it to `WorkspaceVolume.releaseLeftovers`.
    private func releaseWorkspace(_ files: RunFiles, logger: Logger) {
        if let problem = WorkspaceVolume.workspace(of: files).release() {
            logger.error("the run's workspace is left behind: \(problem)")
        }
    }

    /// Records the run's end in the store. When that fails (a full disk: "database or disk is full"), it
    /// is tried again with a growing pause for up to `finishRetryFor`, so a run whose end could not be written
    /// yet is not left `running` once space is back; a daemon stopped meanwhile re-queues it at its next start.
    private func recordFinish(_ run: Run, outcome: RunEnd, supersededBy: Int64?,
                              logger: Logger) async {
        var pause = Duration.milliseconds(500)
        let deadline = ContinuousClock.now + Self.finishRetryFor
        while true {
            do {
                try store.records.finish(runID: run.id, state: outcome.state, cause: outcome.cause, message: outcome.message, supersededBy: supersededBy)
                return
            } catch {
                guard ContinuousClock.now < deadline, !Task.isCancelled else {
                    logger.error("cannot record the end of the run; the next start queues it again: \(error)")
                    return
                }
                logger.error("cannot record the end of the run, trying again in \(Units.format(pause)): \(error)")
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(15))
            }
        }
    }

    static let finishRetryFor: Duration = .seconds(600)

    func repository(of run: Run) throws -> Repository {
        guard let repo = try store.repositories.repo(id: run.repoID) else {
            throw RunAbort(cause: .repository, message: "repository \(run.repoName) is no longer registered")
        }
        do {
            return try Repository.open(at: URL(fileURLWithPath: repo.path))
        } catch {
            throw RunAbort(cause: .repository, message: "cannot open \(repo.path): \(error)")
        }
    }

    /// `.pushbox.yml` at the pushed commit, or a detected pipeline.
    package struct LoadedPipeline: Sendable {
        package var spec: PipelineSpec
        package var detected: String?
    }

    package static func loadPipeline(repo: Repository, commit: ObjectID) throws -> LoadedPipeline {
        let data: Data?
        do {
            data = try repo.readFile(PipelineParser.fileName, at: commit, maxBytes: 1 << 20)
        } catch {
            throw RunAbort(cause: .configuration, message: "cannot read \(PipelineParser.fileName): \(error)")
        }
        if let data {
            guard let text = String(data: data, encoding: .utf8) else {
                throw RunAbort(cause: .configuration, message: "\(PipelineParser.fileName) is not UTF-8 text")
            }
            do {
                return LoadedPipeline(spec: try PipelineParser.parse(text), detected: nil)
            } catch let error as SpecError {
                throw RunAbort(cause: .configuration, message: error.description)
            }
        }
        let tree = DetectionTree(
            topLevel: Set(try repo.fileNames(at: commit) ?? []),
            read: { name in
                (try? repo.readFile(name, at: commit, maxBytes: 256 << 10)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }
            },
            list: { directory in (try? repo.fileNames(at: commit, in: directory)) ?? nil })
        let detected = PipelineDetector.detect(tree)
        guard let detected else { throw RunAbort(cause: .configuration, message: PipelineDetector.nothingDetectedMessage) }
        return LoadedPipeline(spec: detected.spec, detected: detected.summary)
    }

    private func loadPipeline(_ run: Run, repo: Repository) throws -> LoadedPipeline {
        guard let commit = ObjectID(hex: run.sha) else { throw RunAbort(cause: .repository, message: "\(run.sha) is not an object id") }
        do {
            let info = try repo.commit(commit)
            try? store.records.update(runID: run.id, subject: String(info.subject.prefix(200)))
        } catch {
            throw RunAbort(cause: .repository, message: "commit \(run.sha) is not in the repository (\(error))")
        }
        return try Self.loadPipeline(repo: repo, commit: commit)
    }

    /// Exports the commit's tree into a fresh `workspace/` (the executor hands it to its sandbox user): a
    /// `WorkspaceVolume` of `workspaceQuota` bytes when set, else a plain directory.
    private func checkout(_ run: Run, repo: Repository, into files: RunFiles) throws -> WorkspaceVolume? {
        let fm = FileManager.default
        var volume: WorkspaceVolume?
        if let quota = environment.workspaceQuota {
            do {
                volume = try WorkspaceVolume.create(at: files.workspace, image: files.workspaceImage, bytes: quota)
            } catch {
                throw RunAbort(cause: Self.isDiskFull(error) ? .runnerDiskFull : .sandbox,
                               message: Self.diskFullPrefix(error) + "cannot create the workspace (workspace_quota \(Units.formatBytes(quota))): \(error)")
            }
        } else {
            WorkspaceVolume.workspace(of: files).release()
        }
        try? fm.removeItem(at: files.logs)
        try fm.createDirectory(at: files.logs, withIntermediateDirectories: true)
        let started = ContinuousClock.now
        let report: ExportReport
        do {
            // Object id validity was checked by loadPipeline.
            report = try repo.export(ObjectID(hex: run.sha)!, to: files.workspace)
        } catch {
            if let volume, Self.isDiskFull(error) {
                throw RunAbort(cause: .workspaceFull, message: "checkout failed: the tree does not fit in the workspace (workspace_quota \(Units.formatBytes(volume.bytes))): \(error)")
            }
            throw RunAbort(cause: Self.isDiskFull(error) ? .runnerDiskFull : .repository, message: Self.diskFullPrefix(error) + "checkout failed: \(error)")
        }
        var lines = ["checkout \(run.sha) (\(run.ref)): \(report.files) files, \(report.symlinks) symlinks in \(Units.format(ContinuousClock.now - started))"]
        if !report.unsafeSymlinks.isEmpty {
            lines.append("symlinks pointing outside the workspace (kept as links, never followed by the runner): \(report.unsafeSymlinks.joined(separator: ", "))")
        }
        if !report.submodules.isEmpty {
            lines.append("submodules are not supported; left empty: \(report.submodules.joined(separator: ", "))")
        }
        if !report.refused.isEmpty {
            lines.append("entries refused: \(report.refused.map(\.description).joined(separator: "; "))")
        }
        if let volume { lines.append("workspace: its own file system of \(Units.formatBytes(volume.bytes)) (workspace_quota)") }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: files.root.appendingPathComponent("checkout.log"))
        return volume
    }

    /// `runner disk full: ` when `error` is the runner's own disk being full (the run is then retried once
    /// there is space again, see `Scheduler.retryAfterDiskFull`), else nothing. A checkout that fills its
    /// own workspace volume (a tree bigger than the quota) is the push's doing and says so instead.
    static func diskFullPrefix(_ error: any Error) -> String {
        isDiskFull(error) ? RunState.runnerDiskFullPrefix + ": " : ""
    }

    /// Whether `error` is a file system out of space (`ENOSPC`, as the POSIX, Foundation and libgit2 errors
    /// along the checkout carry it).
    static func isDiskFull(_ error: any Error) -> Bool {
        switch error {
        case let error as POSIXError: return error.code == .ENOSPC
        case let error as CocoaError:
            return (error.userInfo[NSUnderlyingErrorKey] as? POSIXError)?.code == .ENOSPC || error.code == .fileWriteOutOfSpace
        case let error as VolumeError: return error.outOfSpace
        case let error as GitError: return error.isOutOfSpace
        default: return false
        }
    }

    /// Mounts for the pipeline's `cache:` paths (or its image's default), keyed by repository and branch.
    /// A cache that cannot be prepared is logged and left out: the run goes on without it.
    private func prepareCaches(_ run: Run, spec: PipelineSpec, repo: Repository, files: RunFiles, logger: Logger) -> PreparedCaches? {
        let paths = spec.effectiveCache
        guard !paths.isEmpty else { return nil }
        let branch = RefUpdate(oldSHA: "", newSHA: run.sha, ref: run.ref).branch ?? run.ref
        do {
            let prepared = try environment.caches.prepare(
                repoID: run.repoID, repoName: run.repoName, branch: branch, defaultBranch: repo.headBranch(),
                paths: paths, workspace: files.workspace)
            appendLines(prepared.lines, to: files.root.appendingPathComponent("checkout.log"))
            return prepared
        } catch {
            logger.warning("cache not prepared", metadata: ["error": "\(error)"])
            appendLines(["cache: not used this run: \(error)"], to: files.root.appendingPathComponent("checkout.log"))
            return nil
        }
    }

    private func releaseCaches(_ prepared: PreparedCaches, run: Run, files: RunFiles, logger: Logger) {
        let lines = environment.caches.release(prepared, repoID: run.repoID)
        for line in lines { logger.notice("\(line)") }
        appendLines(lines, to: files.root.appendingPathComponent("checkout.log"))
    }

    /// Copies `artifacts:` out of the workspace (when `when:` says so), records them, and applies the
    /// repository's retention (`artifacts_keep`). Lines go to `runs/<id>/artifacts.log`.
    private func collectArtifacts(_ run: Run, spec: PipelineSpec, passed: Bool, files: RunFiles, mounts: [RunMount], logger: Logger) {
        let settings = spec.artifacts
        guard !settings.paths.isEmpty else { return }
        let log = files.root.appendingPathComponent("artifacts.log")
        guard settings.collects(afterPassing: passed) else {
            appendLines(["artifacts: not collected: the steps \(passed ? "passed" : "failed") and artifacts.when is \(settings.when.rawValue)"], to: log)
            return
        }
        try? FileManager.default.removeItem(at: files.artifacts)
        let outcome = ArtifactCollector.collect(patterns: settings.paths, workspace: files.workspace, destination: files.artifacts,
                                                maxBytes: environment.config.artifactsMax, mounts: mounts)
        appendLines(outcome.lines, to: log)
        do {
            try store.records.setArtifacts(runID: run.id, outcome.files)
            for expired in try store.records.runsWithExpiredArtifacts(repoID: run.repoID, keep: environment.config.artifactsKeep) {
                try? FileManager.default.removeItem(at: environment.home.run(expired).artifacts)
                try store.records.markArtifactsRemoved(runID: expired)
                logger.info("artifacts removed by retention", metadata: ["expired_run": "\(expired)", "keep": "\(environment.config.artifactsKeep)"])
            }
        } catch {
            logger.error("cannot record the artifacts: \(error)")
        }
    }

    private func appendLines(_ lines: [String], to file: URL) {
        guard !lines.isEmpty else { return }
        let data = Data((lines.joined(separator: "\n") + "\n").utf8)
        if let handle = try? FileHandle(forWritingTo: file) {
            _ = try? handle.seekToEnd()
            try? handle.write(contentsOf: data)
            try? handle.close()
        } else {
            try? data.write(to: file)
        }
    }

    /// The sandbox environment of a run: its `RunSpec` (on `workspace`) and the masker of its secrets.
    struct SandboxSetup: Sendable {
        var runSpec: RunSpec
        var secrets: [String]
        var masker: SecretMasker { SecretMasker(secrets: secrets) }
    }

    func sandboxSetup(_ run: Run, spec: PipelineSpec, workspace: URL, mounts: [RunMount] = []) throws -> SandboxSetup {
        var secrets: [String] = []
        var env = spec.env
        let credentials = environment.config.credentialVariables
        for name in spec.secrets {
            guard !credentials.contains(name) else {
                throw RunAbort(cause: .configuration, message: "secret \(name) is one of the runner's own credentials (autofix.api_key_env, a report's secret_env or token_env) and is never given to a job")
            }
            guard let value = environment.processEnvironment[name] else {
                throw RunAbort(cause: .configuration, message: "secret \(name) is listed in .pushbox.yml but not set in the runner's environment")
            }
            env[name] = value
            secrets.append(value)
        }
        env["CI"] = env["CI"] ?? "true"
        env["PUSHBOX"] = "true"
        env["PUSHBOX_RUN_ID"] = String(run.id)
        env["PUSHBOX_REF"] = run.ref
        env["PUSHBOX_SHA"] = run.sha
        env["HOME"] = "/home/ci"
        var labels = environment.sandboxLabels
        labels["pushbox.run"] = String(run.id)
        labels["pushbox.repo"] = run.repoName
        var runSpec = RunSpec(runID: run.id, image: spec.image, workspace: workspace, environment: env,
                              resources: spec.resources, network: spec.network, labels: labels)
        runSpec.mounts = mounts
        return SandboxSetup(runSpec: runSpec, secrets: secrets)
    }

    /// How the steps of a pipeline went.
    struct StepsOutcome: Sendable {
        var state: RunState
        var message: String?
        var results: [StepResult]
        /// Index of the step that failed (exit code or timeout), when the state is `failed`.
        var failedIndex: Int?
        var setup: SandboxSetup
        /// The test cases of the steps' JUnit files, in step order (empty without JUnit).
        var cases: [TestCase] = []
    }

    /// Runs the run's steps in one sandbox, recording them in the store; returns the run's final state.
    private func runSteps(_ run: Run, spec: PipelineSpec, files: RunFiles, mounts: [RunMount], times: inout StageTimes,
                          logger: Logger) async throws -> StepsOutcome {
        let initial = spec.steps.enumerated().map { StepResult(position: $0.offset, name: $0.element.name, command: $0.element.run) }
        try store.records.setSteps(runID: run.id, initial)
        try store.records.setVMs(runID: run.id, tree: .pushed, Self.plannedVMs(spec, tree: .pushed, first: 0))
        let setup = try sandboxSetup(run, spec: spec, workspace: files.workspace, mounts: mounts)
        times.sandboxRequestedAt = Date()
        var readyAt: Date?
        let store = store, hub = environment.hub
        let outcome = try await executeSteps(
            spec: spec, setup: setup, logs: files.logs, hub: hub, logger: logger,
            sandboxReady: { sandbox in
                readyAt = Date()
                try? store.records.update(runID: run.id, sandboxID: sandbox.id)
            },
            record: { result, notify in
                try store.records.updateStep(runID: run.id, result)
                if notify { await hub.changed(runID: run.id) }
            })
        times.sandboxReadyAt = readyAt
        return outcome
    }

    /// Runs every step of `spec` in one fresh sandbox made from `setup`, logs in `logs/<step>.log`. The
    /// same code serves the run and autofix's verification runs (which pass `hub: nil` and record nothing).
    /// `record` is called with each step's result as it changes (`notify`: the change is worth telling
    /// followers about).
    func executeSteps(
        spec: PipelineSpec, setup: SandboxSetup, logs: URL, hub: LogHub?, logger: Logger,
        sandboxReady: (any Sandbox) -> Void,
        record: (StepResult, Bool) async throws -> Void
    ) async throws -> StepsOutcome {
        var results = spec.steps.enumerated().map { StepResult(position: $0.offset, name: $0.element.name, command: $0.element.run) }
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let masker = setup.masker
        let runID = setup.runSpec.runID
        let workspace = setup.runSpec.workspace
        let deadline = ContinuousClock.now + spec.timeout
        let sandbox: any Sandbox
        do {
            sandbox = try await environment.executor.makeSandbox(for: setup.runSpec, logger: logger)
        } catch let error as SandboxError {
            throw RunAbort(cause: .sandbox, message: error.message)
        }
        sandboxReady(sandbox)
        var outcome = StepsOutcome(state: .passed, message: nil, results: results, failedIndex: nil, setup: setup)
        do {
            for index in results.indices {
                let step = spec.steps[index]
                let logURL = logs.appendingPathComponent("\(step.name).log")
                results[index].state = .running
                results[index].startedAt = Date()
                try await record(results[index], true)
                let log = try StepLogFile(url: logURL, cap: environment.config.logCap,
                                          masker: masker, hub: hub, runID: runID)
                let status: ExitStatus
                do {
                    status = try await Self.run(step, in: sandbox, log: log, deadline: deadline)
                } catch {
                    let closed = await log.close()
                    results[index].finishedAt = Date()
                    results[index].logBytes = closed.bytes
                    results[index].state = Task.isCancelled ? .canceled : .error
                    try? await record(results[index], false)
                    throw error
                }
                if status.timedOut {
                    await log.note("\n[pushbox] timed out after \(Units.format(spec.timeout)) (timeout: in .pushbox.yml)\n")
                } else if status.code == 137 {
                    await log.note("\n[pushbox] killed (out of memory or limit): exit 137\n")
                }
                let closed = await log.close()
                results[index].finishedAt = Date()
                results[index].exitCode = status.code
                results[index].timedOut = status.timedOut
                results[index].logBytes = closed.bytes
                results[index].truncated = closed.truncated
                results[index].state = status.succeeded ? .passed : .failed
                if let writeError = closed.writeError {
                    // Not the push's fault: the runner could not keep its output.
                    results[index].state = .error
                    try? await record(results[index], true)
                    for later in results.indices where later > index {
                        results[later].state = .skipped
                        try? await record(results[later], false)
                    }
                    // Not retried when space is back: the same output would fill the disk again.
                    throw RunAbort(cause: .other, message: "cannot write the log of step \(step.name): \(writeError) (is the disk of the runner home full? the log was cut to free space)")
                }
                let junit = step.junit.map { JUnitFiles.find($0, in: workspace, mounts: setup.runSpec.mounts) } ?? []
                let tests = environment.testReader.testResults(log: logURL, junitFiles: junit)
                if let counts = tests.counts {
                    results[index].testsPassed = counts.passed
                    results[index].testsFailed = counts.failed
                    results[index].testsSkipped = counts.skipped
                }
                outcome.cases += tests.cases
                try await record(results[index], true)
                if !status.succeeded {
                    for later in results.indices where later > index {
                        results[later].state = .skipped
                        try await record(results[later], false)
                    }
                    outcome.state = .failed
                    outcome.failedIndex = index
                    outcome.message = "step \(step.name) \(status.timedOut ? "timed out after \(Units.format(spec.timeout))" : "failed (\(status.summary))")"
                    break
                }
            }
        } catch {
            await sandbox.destroy()
            throw error
        }
        await sandbox.destroy()
        outcome.results = results
        return outcome
    }

    /// One step, bounded by the run's deadline: past it the step is stopped and reported as timed out.
    static func run(_ step: Step, in sandbox: any Sandbox, log: any LogSink, deadline: ContinuousClock.Instant) async throws -> ExitStatus {
        try await withThrowingTaskGroup(of: ExitStatus?.self) { group in
            group.addTask { try await sandbox.run(step, log: log) }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { return ExitStatus(code: 124, timedOut: true) }
            if let status = first { return status }
            // The deadline won: stop the step (cancellation kills the sandbox's processes).
            group.cancelAll()
            _ = try? await group.next()
            return ExitStatus(code: 124, timedOut: true)
        }
    }

    private func writeMetadata(_ run: Run, times: StageTimes, files: RunFiles, logger: Logger) {
        var metadata = RunMetadata(run: run, url: "\(environment.config.url)/runs/\(run.id)")
        metadata.timings = times
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = Timestamps.encoding
        do {
            try FileManager.default.createDirectory(at: files.root, withIntermediateDirectories: true)
            try encoder.encode(metadata).write(to: files.metadata, options: .atomic)
        } catch {
            logger.error("cannot write \(files.metadata.path): \(error)")
        }
    }
}

/// When the stages of a run began, for `metadata.json` (and the benchmarks).
package struct StageTimes: Codable, Sendable {
    package var claimedAt: Date
    package var checkedOutAt: Date?
    package var sandboxRequestedAt: Date?
    package var sandboxReadyAt: Date?
    package var vmsStartedAt: Date?
    /// The flake re-run of autofix (the whole pipeline once more, in a fresh container), when it ran.
    package var flakeRerunSeconds: Double?
}

/// `runs/<id>/metadata.json`: the seed's fields, stable names.
package struct RunMetadata: Codable, Sendable {

    package struct StepEntry: Codable, Sendable {
        var name: String
        var command: String
        var state: String
        var exitCode: Int32?
        var timedOut: Bool
        var startedAt: Date?
        var finishedAt: Date?
        var durationSeconds: Double?
        var tests: TestCounts?
        var logBytes: Int64
        var logTruncated: Bool
    }

    var runId: Int64
    var repo: String
    var ref: String
    var sha: String
    var state: String
    var message: String?
    var detected: String?
    var image: String?
    var containerId: String?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var durationSeconds: Double?
    var url: String
    var steps: [StepEntry]
    var timings: StageTimes?
    /// The note's `autofix:` line without the prefix, when autofix ran.
    var autofix: String?
    var vms: [VMResult]

    package init(run: Run, url: String) {
        runId = run.id
        repo = run.repoName
        ref = run.ref
        sha = run.sha
        state = run.state.rawValue
        message = run.message
        detected = run.detected
        image = run.image
        containerId = run.sandboxID
        createdAt = run.createdAt
        startedAt = run.startedAt
        finishedAt = run.finishedAt
        durationSeconds = run.duration.map(Units.seconds)
        self.url = url
        autofix = run.autofix
        vms = run.vms
        steps = run.steps.map { step in
            StepEntry(name: step.name, command: step.command, state: step.state.rawValue, exitCode: step.exitCode,
                      timedOut: step.timedOut, startedAt: step.startedAt, finishedAt: step.finishedAt,
                      durationSeconds: step.duration.map(Units.seconds),
                      tests: step.tests,
                      logBytes: step.logBytes, logTruncated: step.truncated)
        }
    }
}
