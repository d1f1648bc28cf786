import Core
import Foundation
import Git
import Logging
import Workspace

/// Executes one claimed run, top to bottom: checkout, pipeline, report. Every stage is a call in
/// `execute`; nothing hides in a callback.
package struct RunDriver: Sendable {
    package let environment: RunEnvironment

    package init(environment: RunEnvironment) { self.environment = environment }

    var store: RunStore { environment.store }

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
        if let repo = try? store.repositories.repo(id: run.repoID) {
            await environment.reportFinished(finished, repoPath: repo.path)
        } else {
            await environment.hub.runFinished(runID: run.id)
        }
        logger.info("run finished", metadata: ["state": "\(finished.state.rawValue)"])
        releaseWorkspace(files, logger: logger)
        return finished
    }

    /// Which disk a run that did not pass found full, if any: its own workspace (the quota), or the runner's
    /// (the volume's image could not grow, so the job saw I/O errors rather than its quota).
    func fullDisk(_ volume: WorkspaceVolume?) -> String? {
        if let volume, volume.isFull { return "the workspace is full (workspace_quota \(Units.formatBytes(volume.bytes)))" }
        if WorkspaceVolume.freeBytes(environment.home.root) < Scheduler.retrySpace { return "the runner's disk (\(environment.home.root.path)) is full" }
        return nil
    }

    /// The workspace goes with the run (files worth keeping are `artifacts:`); after the run is reported, so
    /// its outcome is not held up. A daemon that dies first leaves it to `WorkspaceVolume.releaseLeftovers`.
    func releaseWorkspace(_ files: RunFiles, logger: Logger) {
        if let problem = WorkspaceVolume.workspace(of: files).release() {
            logger.error("the run's workspace is left behind: \(problem)")
        }
    }

    /// Records the run's end in the store. When that fails (a full disk: "database or disk is full"), it
    /// is tried again with a growing pause for up to `finishRetryFor`, so a run whose end could not be written
    /// yet is not left `running` once space is back; a daemon stopped meanwhile re-queues it at its next start.
    func recordFinish(_ run: Run, outcome: RunEnd, supersededBy: Int64?,
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
}
