import Core
import Foundation
import Git
import Logging
import Workspace

/// Stage 4 of a run: each `.pushbox.yml` `vms:` entry runs a pristine export of the tree (the pushed
/// commit after its container steps passed, or the passing autofix commit) in a fresh guest from the
/// injected `VMGuests`, at most `vm.concurrency` at once. Per entry: `runs/<id>/vms/<profile>[-autofix]/`
/// holds the console log and the guest's scratch files (deleted after), `logs/vm-<profile>[-autofix].log`
/// the job's output (streamed like a step's). A failing entry makes the tree `failed` with the profile
/// named; a guest that cannot be made or does not boot is `error` with the reason and the fix.
extension RunDriver {
    struct VMStageOutcome: Sendable {
        var state: RunState
        var message: String?
    }

    /// The `vms:` entries of `spec` for `tree`, pending, positions from `first`.
    static func plannedVMs(_ spec: PipelineSpec, tree: VMResult.Tree, first: Int) -> [VMResult] {
        spec.vms.enumerated().map { offset, entry in
            VMResult(position: first + offset, profile: entry.profile, tree: tree, command: entry.run ?? "")
        }
    }

    /// Runs every `vms:` entry on `commit`'s tree; records each entry as it changes. Throws only
    /// `CancellationError` (after destroying the guests).
    func validateInVMs(_ run: Run, repo: Repository, commit: ObjectID, spec: PipelineSpec, setup: SandboxSetup,
                       tree: VMResult.Tree, first: Int, files: RunFiles, logger: Logger) async throws -> VMStageOutcome {
        var stageLogger = logger
        stageLogger[metadataKey: "stage"] = "vms"
        let planned = Self.plannedVMs(spec, tree: tree, first: first)
        guard !planned.isEmpty else { return VMStageOutcome(state: .passed) }
        let limit = max(1, environment.config.vm.concurrency)
        // A pristine tree per entry (exported here: a Repository stays on this task); the container steps'
        // build outputs, made for the host, must not reach the guest.
        var trees: [Result<URL, SandboxError>] = []
        for vm in planned where environment.vms != nil {   // VM validation off: the entries are only recorded skipped
            let tree = Self.vmDirectory(files, vm).appendingPathComponent("tree")
            do {
                try? FileManager.default.removeItem(at: tree)
                try FileManager.default.createDirectory(at: tree.deletingLastPathComponent(), withIntermediateDirectories: true)
                _ = try repo.export(commit, to: tree)
                trees.append(.success(tree))
            } catch {
                trees.append(.failure(SandboxError("cannot export the tree for the guest: \(error)")))
            }
        }
        while trees.count < planned.count { trees.append(.failure(SandboxError("VM validation is off for this run"))) }
        let logger = stageLogger
        var finished: [VMResult] = []
        do {
            try await withThrowingTaskGroup(of: VMResult.self) { group in
                var next = 0
                func startNext() {
                    let entry = spec.vms[next], vm = planned[next], tree = trees[next]
                    next += 1
                    group.addTask {
                        try await self.runVM(entry, vm, tree: tree, run: run, spec: spec, setup: setup, files: files, logger: logger)
                    }
                }
                while next < planned.count && next < limit { startNext() }
                while let result = try await group.next() {
                    finished.append(result)
                    if next < planned.count { startNext() }
                }
            }
        } catch {
            // Cancelled: entries that never started still have their exported trees.
            for vm in planned { try? FileManager.default.removeItem(at: Self.vmDirectory(files, vm).appendingPathComponent("tree")) }
            throw error
        }
        finished.sort { $0.position < $1.position }
        if let broken = finished.first(where: { $0.state == .error }) {
            return VMStageOutcome(state: .error, message: "vm \(broken.profile): \(broken.message ?? "error")")
        }
        if let failed = finished.first(where: { $0.state == .failed }) {
            let how = failed.timedOut ? "timed out" : "failed (exit \(failed.exitCode.map(String.init) ?? "?"))"
            return VMStageOutcome(state: .failed, message: "vm \(failed.profile) \(how)\(tree == .autofix ? " on the autofix tree" : "")")
        }
        return VMStageOutcome(state: .passed)
    }

    /// One entry: guest, sandbox, the command with live output, test counts, then the guest destroyed.
    /// `runs/<id>/vms/<profile>[-autofix]/`: console log, scratch (`work/`), the tree, copied-out results.
    static func vmDirectory(_ files: RunFiles, _ vm: VMResult) -> URL {
        files.root.appendingPathComponent("vms").appendingPathComponent(String(vm.logName.dropFirst(3)))
    }

    func runVM(_ entry: VMEntry, _ planned: VMResult, tree: Result<URL, SandboxError>, run: Run,
                       spec: PipelineSpec, setup: SandboxSetup, files: RunFiles, logger: Logger) async throws -> VMResult {
        var result = planned
        var logger = logger
        logger[metadataKey: "vm"] = "\(entry.profile)"
        let store = environment.store, hub = environment.hub
        func record(_ result: VMResult) async {
            if result.state != .running { try? FileManager.default.removeItem(at: Self.vmDirectory(files, planned).appendingPathComponent("tree")) }
            do { try store.records.updateVM(runID: run.id, result) } catch { logger.error("cannot record the VM result: \(error)") }
            await hub.changed(runID: run.id)
        }
        result.start()
        let directory = Self.vmDirectory(files, planned)
        let guest: VMGuest
        do {
            guard let guests = environment.vms else {
                result.end(nil, otherwise: .skipped, logBytes: 0, truncated: false)
                result.message = "VM validation is off for this run"
                await record(result)
                return result
            }
            guest = try guests.guest(profile: entry.profile, timeout: entry.timeout, directory: directory)
        } catch {
            result.end(nil, otherwise: .error, logBytes: 0, truncated: false)
            result.message = "\(error)"
            await record(result)
            return result
        }
        result.command = entry.run ?? guest.defaultCommand
        await record(result)

        let log = try StepLogFile(url: files.log(step: result.logName), cap: environment.config.logCap,
                                  masker: setup.masker, hub: hub, runID: run.id)
        /// Ends the entry: by the guest's `status` when the job ran to an end, else as `state` with `message`.
        func end(_ status: ExitStatus?, otherwise state: StepState = .error, message: String? = nil) async -> VMResult {
            if let message { await log.note("\n[pushbox] \(message)\n") }
            let closed = await log.close()
            result.end(status, otherwise: state, logBytes: closed.bytes, truncated: closed.truncated)
            result.message = message.map { String($0.split(separator: "\n").first ?? "") }
            await record(result)
            return result
        }

        if case .failure(let error) = tree { return await end(nil, message: error.message) }
        var runSpec = setup.runSpec
        runSpec.workspace = try tree.get()
        runSpec.labels["pushbox.vm"] = entry.profile
        let sandbox: any GuestSandbox
        do {
            sandbox = try await guest.executor.makeGuestSandbox(for: runSpec, logger: logger)
        } catch let error as SandboxError {
            return await end(nil, message: error.message)
        } catch {
            _ = await end(nil, otherwise: .canceled, message: "canceled")
            throw CancellationError()
        }
        await log.note("[pushbox] \(entry.profile): \(result.command)\n")
        do {
            let step = Step(name: result.logName, run: result.command)
            let report = try await sandbox.runGuest(step, log: log)
            result.accel = report.accel
            result.bootSeconds = report.bootTime.map(Units.seconds)
            if report.status.timedOut {
                await log.note("\n[pushbox] timed out after \(Units.format(guest.jobTimeout)) (job_timeout of the profile, or the vms entry's timeout)\n")
            }
            let junit = await collectJUnit(spec: spec, from: sandbox, into: directory.appendingPathComponent("results"), log: log)
            result.record(tests: environment.testReader.testCounts(log: files.log(step: result.logName), junitFiles: junit))
            await sandbox.destroy()
            logger.info("guest finished", metadata: ["exit": "\(report.status.code)", "accel": "\(report.accel ?? "-")"])
            return await end(report.status)
        } catch let error as SandboxError {
            await sandbox.destroy()
            return await end(nil, message: error.message)
        } catch {
            await sandbox.destroy()
            _ = await end(nil, otherwise: .canceled, message: "canceled")
            throw CancellationError()
        }
    }

    /// JUnit files the guest wrote where the pipeline's steps say (`junit:` globs), copied out after the
    /// job. A glob without a directory part would mean copying the whole workspace: skipped.
    func collectJUnit(spec: PipelineSpec, from guestSandbox: any GuestSandbox, into results: URL, log: StepLogFile) async -> [URL] {
        var found: [URL] = []
        for glob in spec.steps.compactMap(\.junit) {
            let components = glob.split(separator: "/")
            let fixed = components.prefix { !$0.contains(where: { "*?[".contains($0) }) }
            guard !fixed.isEmpty, fixed.count < components.count else { continue }
            let directory = fixed.joined(separator: "/")
            do {
                try await guestSandbox.copyOut(directory, to: results.appendingPathComponent(fixed.dropLast().joined(separator: "/")))
            } catch {
                continue   // the guest wrote no reports there
            }
            found += JUnitFiles.find(glob, in: results)
        }
        return found
    }
}

/// Scratch files of guests that a crashed runner left behind (`runs/<id>/vms/<profile>/{work,tree}`).
package enum VMScratch {
    /// Removes the scratch directories of runs that are not running (a running run's guest may be alive,
    /// e.g. one of a foreground `pushbox run`; a crashed daemon's runs are re-queued and start afresh).
    package static func removeLeftovers(runs: URL, store: RunStore, logger: Logger) {
        let fm = FileManager.default
        guard let ids = try? fm.contentsOfDirectory(atPath: runs.path) else { return }
        for id in ids {
            let vms = runs.appendingPathComponent(id).appendingPathComponent("vms")
            guard let runID = Int64(id), let profiles = try? fm.contentsOfDirectory(atPath: vms.path) else { continue }
            if let run = try? store.records.run(id: runID), run.state == .running { continue }
            for profile in profiles {
                for scratch in ["work", "tree"] {
                    let directory = vms.appendingPathComponent(profile).appendingPathComponent(scratch)
                    guard fm.fileExists(atPath: directory.path) else { continue }
                    do {
                        try fm.removeItem(at: directory)
                        logger.notice("removed a guest's leftover scratch directory", metadata: ["path": "\(directory.path)"])
                    } catch {
                        logger.warning("cannot remove \(directory.path): \(error)")
                    }
                }
            }
        }
    }
}
