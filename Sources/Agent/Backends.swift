import Core
import Foundation
import Logging

/// The `anthropic` backend: `FixAgent`'s tool loop over the Messages API, with the standard tools confined
/// to the attempt workspace and `run_command` in a sandbox of the run's image on that workspace (made by
/// `executor` from the run's `RunSpec`).
package struct AnthropicBackend: AttemptBackend {
    package let client: any ModelClient
    package let executor: any JobExecutor
    package let model: String
    package let prices: PriceTable
    package var name: String { "anthropic" }

    package init(client: any ModelClient, executor: any JobExecutor, model: String, prices: PriceTable) {
        self.client = client
        self.executor = executor
        self.model = model
        self.prices = prices
    }

    package func work(task: String, workspace: URL, runSpec: RunSpec, request: FixRequest, costBudgetUSD: Double,
                      masker: SecretMasker, attemptDirectory: URL, logger: Logger) async -> AttemptWork {
        var runSpec = runSpec
        // What `run_command` prints goes to the model unmasked by the container: the pipeline's secrets stay
        // out of it (the verification run, a fresh container of its own, gets them as the run did).
        for name in request.pipeline.secrets { runSpec.environment.removeValue(forKey: name) }
        let sandbox: any Sandbox
        do {
            sandbox = try await executor.makeSandbox(for: runSpec, logger: logger)
        } catch {
            return AttemptWork(explanation: "", costUSD: 0, stop: "sandbox", failure: "cannot start the attempt's container: \(masker.mask("\(error)"))")
        }
        let transcript: AttemptTranscript
        do {
            let tools = AgentTools.standard(workspace: try Workspace(root: workspace, protectedPaths: request.protectedPaths),
                                            runner: SandboxCommandRunner(sandbox: sandbox))
            let configuration = FixAgentConfiguration(model: model, maxTurns: request.budgets.maxTurns,
                                                      wallTime: request.budgets.wallTimePerAttempt, maxCostUSD: costBudgetUSD,
                                                      prices: prices)
            transcript = await FixAgent(client: client, tools: tools, masker: masker, configuration: configuration)
                .run(task: task, logger: logger)
        } catch {
            await sandbox.destroy()
            return AttemptWork(explanation: "", costUSD: 0, stop: "workspace", failure: "\(error)")
        }
        await sandbox.destroy()
        let stop = "\(transcript.stop.reason.rawValue): \(transcript.stop.detail)"
        let failure: String? = switch transcript.stop.reason {
        case .apiError, .configuration, .refusal, .contextWindowExceeded: "\(transcript.stop.reason.rawValue): \(transcript.stop.detail)"
        default: nil
        }
        return AttemptWork(explanation: transcript.explanation, costUSD: transcript.costUSD, stop: stop, failure: failure,
                           transcript: transcript, costBudgetReached: transcript.stop.reason == .costBudget)
    }
}

/// The `command` backend: runs `command` (any executable, a shell command line) inside a container of the
/// run's image with the attempt workspace at `/workspace`. The prompt is on its stdin; its environment has
/// `PUSHBOX_WORKSPACE` (`/workspace`), `PUSHBOX_FAILED_STEP` (the step's name) and `PUSHBOX_LOG` (the
/// masked tail of the failing step's log, as text). Its output (masked) is kept in
/// `attempts/<n>/command.log`; what it prints last is the explanation. With a `gateway` (an API key is
/// configured) the container has network `none` plus the model proxy: `ANTHROPIC_BASE_URL` and a
/// per-attempt token as `ANTHROPIC_API_KEY`, and the cost is what the proxy measured; without one it has
/// the run's network and costs are not known: 0.
package struct CommandBackend: AttemptBackend {
    package let command: String
    package let executor: any JobExecutor
    package let gateway: (any ModelGateway)?
    package var name: String { "command" }
    /// `command: <its first line>` (a script given as a YAML block is named by its first line).
    package var model: String {
        let first = command.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? command
        return "command: " + (first.count > 80 ? String(first.prefix(77)) + "..." : first)
    }

    /// The shell line that feeds the task to `command` on stdin (pure). The closing brace is on a line of
    /// its own, so a command of several lines (a YAML block, comments and all) is a valid group too.
    package static func commandLine(_ command: String) -> String {
        "printf '%s\\n' \"$PUSHBOX_PROMPT\" | { unset PUSHBOX_PROMPT; \(command)\n}"
    }

    package init(command: String, executor: any JobExecutor, gateway: (any ModelGateway)? = nil) {
        self.command = command
        self.executor = executor
        self.gateway = gateway
    }

    package func work(task: String, workspace: URL, runSpec: RunSpec, request: FixRequest, costBudgetUSD: Double,
                      masker: SecretMasker, attemptDirectory: URL, logger: Logger) async -> AttemptWork {
        let started = ContinuousClock.now
        var runSpec = runSpec
        // An agent of the user's choice may hand what it sees to a model: the pipeline's secrets stay out.
        for name in request.pipeline.secrets { runSpec.environment.removeValue(forKey: name) }
        runSpec.environment["PUSHBOX_WORKSPACE"] = "/workspace"
        runSpec.environment["PUSHBOX_FAILED_STEP"] = request.failingStep.name
        runSpec.environment["PUSHBOX_LOG"] = String(request.logTail.suffix(AutofixPrompt.maxLogCharacters))
        runSpec.environment["PUSHBOX_PROMPT"] = task
        var session: (any ModelGatewaySession)?
        if let gateway {
            do {
                session = try await gateway.openSession(budget: ModelSessionBudget(request.budgets, costUSD: costBudgetUSD), logger: logger)
            } catch {
                return AttemptWork(explanation: "", costUSD: 0, stop: "sandbox", failure: "cannot open the model proxy session: \(error)")
            }
            runSpec.network = .none
            runSpec.environment.merge(session?.containerEnvironment ?? [:]) { _, new in new }
        }
        let line = Self.commandLine(command)
        let ran = await AttemptCommand.run(line, executor: executor, runSpec: runSpec, session: session, stepName: "autofix-command",
                                           timeout: request.budgets.wallTimePerAttempt, outputLimit: 64 << 10, masker: masker,
                                           log: attemptDirectory.appendingPathComponent("command.log"), logger: logger)
        let usage = await session?.close()
        let work = Self.work(ran)
        guard let usage else { return work }
        return usage.apply(to: work, model: model, duration: ContinuousClock.now - started,
                           failure: work.stop == "wall_time" ? .wallTime : .unexpectedStopReason)
    }

    static func work(_ ran: Result<(CommandResult, String), AttemptCommand.Failure>) -> AttemptWork {
        let result: CommandResult, output: String
        switch ran {
        case .success(let success): (result, output) = success
        case .failure(.sandbox(let error)):
            return AttemptWork(explanation: "", costUSD: 0, stop: "sandbox", failure: "cannot start the attempt's container: \(error)")
        case .failure(.run(let error)):
            return AttemptWork(explanation: "", costUSD: 0, stop: "error", failure: "the autofix command could not run: \(error)")
        }
        let explanation = String(output.suffix(2000)).trimmingCharacters(in: .whitespacesAndNewlines)
        if result.timedOut {
            return AttemptWork(explanation: explanation, costUSD: 0, stop: "wall_time", failure: "the autofix command timed out")
        }
        guard result.exitCode == 0 else {
            return AttemptWork(explanation: explanation, costUSD: 0, stop: "exit \(result.exitCode)",
                               failure: "the autofix command exited \(result.exitCode)")
        }
        return AttemptWork(explanation: explanation, costUSD: 0, stop: "completed")
    }
}

extension ModelSessionBudget {
    /// The attempt's budgets: `max_turns` requests, what is left of the run's cost budget, `wall_time`.
    package init(_ budgets: FixBudgets, costUSD: Double) {
        self.init(maxRequests: budgets.maxTurns, maxCostUSD: costUSD, wallTime: budgets.wallTimePerAttempt)
    }
}

/// One command of an attempt in a fresh sandbox made from `runSpec`, removed afterwards (the `command` and
/// `claude-code` backends). The output, masked, is returned and kept in `log`.
enum AttemptCommand {
    /// Why the command did not run; the text is masked.
    enum Failure: Error {
        case sandbox(String)
        case run(String)
    }

    /// With a `session`, the sandbox is connected to the model proxy before the command runs; when that
    /// fails the command does not run.
    static func run(_ command: String, executor: any JobExecutor, runSpec: RunSpec, session: (any ModelGatewaySession)?,
                    stepName: String, timeout: Duration, outputLimit: Int, masker: SecretMasker, log: URL,
                    logger: Logger) async -> Result<(CommandResult, String), Failure> {
        let sandbox: any Sandbox
        do {
            sandbox = try await executor.makeSandbox(for: runSpec, logger: logger)
        } catch {
            return .failure(.sandbox(masker.mask("\(error)")))
        }
        if let session {
            do {
                try await session.connect(sandbox, logger: logger)
            } catch {
                await sandbox.destroy()
                return .failure(.sandbox(masker.mask("cannot connect the container to the model proxy (it gets no other network): \(error)")))
            }
        }
        let result: CommandResult
        do {
            result = try await SandboxCommandRunner(sandbox: sandbox, stepName: stepName)
                .run(command: command, timeout: timeout, outputLimit: outputLimit, logger: logger)
        } catch {
            await sandbox.destroy()
            return .failure(.run(masker.mask("\(error)")))
        }
        await sandbox.destroy()
        let output = masker.mask(String(decoding: result.output, as: UTF8.self))
        try? Data(output.utf8).write(to: log)
        return .success((result, output))
    }
}

/// A fixer that cannot run (e.g. the API key variable is not set): every failed run's note says why.
package struct UnavailableFixer: RunFixer {
    package let backend: String
    package let reason: String

    package init(backend: String, reason: String) {
        self.backend = backend
        self.reason = reason
    }

    package func fix(_ request: FixRequest, verify: @escaping @Sendable (AttemptCandidate) async throws -> Verification, logger: Logger) async -> FixResult {
        FixResult(outcome: .gaveUp(reason: reason), attempts: 0, costUSD: 0)
    }
}

extension PriceTable {
    /// Built-in prices in US dollars per million tokens (runner config `autofix.prices` adds or overrides).
    package static let builtIn = PriceTable(models: [
        "claude-sonnet-5-5": ModelPrice(input: 3, output: 15),
        "claude-sonnet-4-5": ModelPrice(input: 3, output: 15),
        "claude-opus-4-1": ModelPrice(input: 15, output: 75),
        "claude-haiku-4-5": ModelPrice(input: 1, output: 5),
    ])
}
