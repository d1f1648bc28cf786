import Core
import Foundation
import Git
import Logging
import Workspace

/// Stage 2 of a run: every step in one fresh sandbox, in order, each with its own log.
extension RunDriver {
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
    func runSteps(_ run: Run, spec: PipelineSpec, files: RunFiles, mounts: [RunMount], times: inout StageTimes,
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
                results[index].start()
                try await record(results[index], true)
                let log = try StepLogFile(url: logURL, cap: environment.config.logCap,
                                          masker: masker, hub: hub, runID: runID)
                let status: ExitStatus
                do {
                    status = try await Self.run(step, in: sandbox, log: log, deadline: deadline)
                } catch {
                    let closed = await log.close()
                    results[index].end(nil, otherwise: Task.isCancelled ? .canceled : .error, logBytes: closed.bytes, truncated: closed.truncated)
                    try? await record(results[index], false)
                    throw error
                }
                if status.timedOut {
                    await log.note("\n[pushbox] timed out after \(Units.format(spec.timeout)) (timeout: in .pushbox.yml)\n")
                } else if status.wasKilled {
                    await log.note("\n[pushbox] killed (out of memory or limit): exit \(status.code)\n")
                }
                let closed = await log.close()
                results[index].end(status, logBytes: closed.bytes, truncated: closed.truncated)
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
                results[index].record(tests: tests.counts)
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
}
