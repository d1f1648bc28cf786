import Core
import Foundation
import Logging

/// The `claude-code` backend: the Claude Code CLI, headless, inside a container of the `claude` image
/// (`pushbox image build claude`) with the attempt workspace at `/workspace`. The CLI does the whole tool
/// loop itself (Read, Edit, Write, Glob, Grep, Bash, all inside that container); Pushbox reads its result
/// JSON. The container has network `none` and no key: `gateway` gives it a per-attempt token and a base
/// URL on its own loopback that leads only to the key-injecting model proxy (which enforces the attempt's
/// budgets and records its token usage). Neither the API key nor the pipeline's `secrets:` are in it.
package struct ClaudeCodeBackend: AttemptBackend {
    package let executor: any JobExecutor
    package let model: String
    /// The image with `claude` on PATH.
    package let image: String
    package let gateway: any ModelGateway
    package var name: String { "claude-code" }

    package init(executor: any JobExecutor, model: String, image: String, gateway: any ModelGateway) {
        self.executor = executor
        self.model = model
        self.image = image
        self.gateway = gateway
    }

    package func work(task: String, workspace: URL, runSpec: RunSpec, request: FixRequest, costBudgetUSD: Double,
                      masker: SecretMasker, attemptDirectory: URL, logger: Logger) async -> AttemptWork {
        let started = ContinuousClock.now
        let session: any ModelGatewaySession
        do {
            session = try await gateway.openSession(budget: ModelSessionBudget(request.budgets, costUSD: costBudgetUSD), logger: logger)
        } catch {
            return AttemptWork(explanation: "", costUSD: 0, stop: "sandbox", failure: "cannot open the model proxy session: \(error)")
        }
        // The token is worthless outside this attempt, but it is a credential: it is masked like one.
        let masker = SecretMasker(secrets: request.secrets + [session.containerEnvironment["ANTHROPIC_API_KEY"]].compactMap { $0 })
        var runSpec = runSpec
        // The CLI hands tool output to the model unmasked: the pipeline's secrets stay out of its container.
        for name in request.pipeline.secrets { runSpec.environment.removeValue(forKey: name) }
        runSpec.image = image
        runSpec.network = .none
        runSpec.labels["pushbox.autofix"] = "claude-code"
        runSpec.environment.merge(ClaudeCodeInvocation.environment(gateway: session.containerEnvironment, prompt: task)) { _, new in new }
        let line = ClaudeCodeInvocation.commandLine(model: model, maxTurns: request.budgets.maxTurns, maxBudgetUSD: costBudgetUSD)
        let ran = await AttemptCommand.run(line, executor: executor, runSpec: runSpec, session: session, stepName: "autofix-claude-code",
                                           timeout: request.budgets.wallTimePerAttempt, outputLimit: 256 << 10, masker: masker,
                                           log: attemptDirectory.appendingPathComponent("claude-code.log"), logger: logger)
        let usage = await session.close()
        var work: AttemptWork
        switch ran {
        case .success(let (result, output)):
            work = result.timedOut
                ? AttemptWork(explanation: "", costUSD: 0, stop: "wall_time", failure: "the Claude Code CLI ran out of its wall time")
                : ClaudeCodeInvocation.work(output: output, exitCode: result.exitCode)
        case .failure(.sandbox(let error)):
            work = AttemptWork(explanation: "", costUSD: 0, stop: "sandbox",
                               failure: "cannot start the claude-code container (image \(image); build it with `pushbox image build claude`): \(error)")
        case .failure(.run(let error)):
            work = AttemptWork(explanation: "", costUSD: 0, stop: "error", failure: "the Claude Code CLI could not run: \(error)")
        }
        return ClaudeCodeInvocation.merge(work, usage: usage, model: model, duration: ContinuousClock.now - started)
    }
}

/// Pure translation for the `claude-code` backend: the container's environment, the command line, the
/// result JSON read back (shared/notes/claude-api.md §11) and the proxy's usage merged into the attempt.
package enum ClaudeCodeInvocation {
    /// The tools the CLI may use without asking (it runs headless: a tool not listed is denied).
    package static let allowedTools = "Read,Edit,Write,Glob,Grep,Bash"

    /// The CLI's environment: the proxy's base URL and the attempt's token (`gateway`), no telemetry, no
    /// auto-update, few retries (the CLI's own default waits minutes on a 401), the prompt (read from stdin
    /// by the command line).
    package static func environment(gateway: [String: String], prompt: String) -> [String: String] {
        [
            "HOME": "/home/ci",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": "3",
            "API_TIMEOUT_MS": "300000",
            "PUSHBOX_PROMPT": prompt,
        ].merging(gateway) { _, gateway in gateway }
    }

    /// The attempt's work with what the proxy measured (`ModelSessionUsage.apply`); a failure the proxy
    /// did not cause is the CLI's `max_turns`, the wall time, or an API error.
    package static func merge(_ work: AttemptWork, usage: ModelSessionUsage, model: String, duration: Duration) -> AttemptWork {
        let failure: AttemptStop.Reason = work.stop.hasPrefix("max_turns") ? .maxTurns : work.stop == "wall_time" ? .wallTime : .apiError
        return usage.apply(to: work, model: model, duration: duration, failure: failure)
    }

    /// `claude -p` with the prompt on stdin, JSON result on stdout; the CLI's stderr is shown only when it fails.
    package static func commandLine(model: String, maxTurns: Int, maxBudgetUSD: Double) -> String {
        let flags = ["-p", "--output-format", "json", "--max-turns", String(maxTurns), "--model", model,
                     "--allowedTools", allowedTools, "--max-budget-usd", String(format: "%.2f", max(0.01, maxBudgetUSD))]
        let claude = (["claude"] + flags).map(shellQuote).joined(separator: " ")
        return "printf '%s' \"$PUSHBOX_PROMPT\" | { unset PUSHBOX_PROMPT; \(claude) 2>/tmp/claude.stderr; }; rc=$?; "
            + "if [ $rc -ne 0 ]; then tail -c 4000 /tmp/claude.stderr >&2; fi; exit $rc"
    }

    /// The attempt's outcome from the CLI's output (its last line is the result object) and exit code.
    /// Decided on `is_error` and the exit code, not on `subtype` (which says "success" for API errors).
    package static func work(output: String, exitCode: Int32) -> AttemptWork {
        let line = output.split(separator: "\n").last { $0.hasPrefix("{") && $0.contains("\"type\"") }
        guard let line, let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              object["type"] as? String == "result" else {
            return AttemptWork(explanation: "", costUSD: 0, stop: "exit \(exitCode)",
                               failure: "the Claude Code CLI exited \(exitCode) without a result: \(output.suffix(400))")
        }
        let cost = (object["total_cost_usd"] as? NSNumber)?.doubleValue ?? 0
        let turns = object["num_turns"] as? Int ?? 0
        let result = object["result"] as? String ?? ""
        let reason = object["terminal_reason"] as? String ?? object["subtype"] as? String ?? "completed"
        let stop = "\(reason) (\(turns) turn\(turns == 1 ? "" : "s"))"
        let isError = object["is_error"] as? Bool ?? (exitCode != 0)
        if isError || exitCode != 0 {
            let detail = result.isEmpty ? ((object["errors"] as? [String])?.joined(separator: "; ") ?? "") : result
            return AttemptWork(explanation: "", costUSD: cost, stop: stop,
                               failure: "claude-code: \(reason): \(detail.prefix(300))",
                               costBudgetReached: reason.contains("budget"))
        }
        return AttemptWork(explanation: result, costUSD: cost, stop: stop)
    }

    static func shellQuote(_ value: String) -> String {
        value.allSatisfy({ $0.isLetter || $0.isNumber || "-_.,/:=@".contains($0) }) && !value.isEmpty
            ? value : "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
