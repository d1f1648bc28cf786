import Core
import Foundation
import Logging

/// The `claude-code` backend: the Claude Code CLI, headless, inside a container of the `claude` image
/// (`pushbox image build claude`) with the attempt workspace at `/workspace`. The CLI does the whole tool
/// loop itself (Read, Edit, Write, Glob, Grep, Bash, all inside that container); Pushbox reads its result
/// JSON. Only this container gets `ANTHROPIC_API_KEY` and a network: the engine's default network for a
/// remote API, or — when the API is on the host's loopback, as the tests' fake is — podman's slirp4netns
/// with the host's 127.0.0.1 reachable at 10.0.2.2. The key is masked in everything Pushbox records.
/// (The CLI runs the model's Bash commands in the same container, so a model could read the key there;
/// see docs/autofix.md.)
package struct ClaudeCodeBackend: AttemptBackend {
    package let executor: any JobExecutor
    package let model: String
    /// The image with `claude` on PATH.
    package let image: String
    package let apiKey: String
    /// The API's base URL as the runner sees it.
    package let baseURL: String
    package var name: String { "claude-code" }

    package init(executor: any JobExecutor, model: String, image: String, apiKey: String, baseURL: String) {
        self.executor = executor
        self.model = model
        self.image = image
        self.apiKey = apiKey
        self.baseURL = baseURL
    }

    package func work(task: String, workspace: URL, runSpec: RunSpec, request: FixRequest, costBudgetUSD: Double,
                      masker: SecretMasker, attemptDirectory: URL, logger: Logger) async -> AttemptWork {
        let masker = SecretMasker(secrets: request.secrets + [apiKey])
        let endpoint = ClaudeCodeInvocation.endpoint(baseURL: baseURL)
        var runSpec = runSpec
        // The CLI hands tool output to the model unmasked: the pipeline's secrets stay out of its container.
        for name in request.pipeline.secrets { runSpec.environment.removeValue(forKey: name) }
        runSpec.image = image
        runSpec.network = endpoint.network
        runSpec.labels["pushbox.autofix"] = "claude-code"
        runSpec.environment.merge(ClaudeCodeInvocation.environment(apiKey: apiKey, baseURL: endpoint.url, prompt: task)) { _, new in new }
        let line = ClaudeCodeInvocation.commandLine(model: model, maxTurns: request.budgets.maxTurns, maxBudgetUSD: costBudgetUSD)
        let ran = await AttemptCommand.run(line, executor: executor, runSpec: runSpec, stepName: "autofix-claude-code",
                                           timeout: request.budgets.wallTimePerAttempt, outputLimit: 256 << 10, masker: masker,
                                           log: attemptDirectory.appendingPathComponent("claude-code.log"), logger: logger)
        let result: CommandResult, output: String
        switch ran {
        case .success(let success): (result, output) = success
        case .failure(.sandbox(let error)):
            return AttemptWork(explanation: "", costUSD: 0, stop: "sandbox",
                               failure: "cannot start the claude-code container (image \(image); build it with `pushbox image build claude`): \(error)")
        case .failure(.run(let error)):
            return AttemptWork(explanation: "", costUSD: 0, stop: "error", failure: "the Claude Code CLI could not run: \(error)")
        }
        if result.timedOut {
            return AttemptWork(explanation: "", costUSD: 0, stop: "wall_time", failure: "the Claude Code CLI ran out of its wall time")
        }
        return ClaudeCodeInvocation.work(output: output, exitCode: result.exitCode)
    }
}

/// Pure translation for the `claude-code` backend: where the container reaches the API, its environment,
/// the command line, and the result JSON read back (shared/notes/claude-api.md §11).
package enum ClaudeCodeInvocation {
    /// The tools the CLI may use without asking (it runs headless: a tool not listed is denied).
    package static let allowedTools = "Read,Edit,Write,Glob,Grep,Bash"

    /// A base URL on the host's loopback is reached from the container through slirp4netns at 10.0.2.2.
    package static func endpoint(baseURL: String) -> (url: String, network: NetworkMode) {
        guard var components = URLComponents(string: baseURL), let host = components.host else { return (baseURL, .egress) }
        guard ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased()) else { return (baseURL, .egress) }
        components.host = "10.0.2.2"
        return (components.string ?? baseURL, .hostLoopback)
    }

    /// The CLI's environment: the key and endpoint, no telemetry, no auto-update, few retries (the CLI's
    /// own default waits minutes on a 401), the prompt (read from stdin by the command line).
    package static func environment(apiKey: String, baseURL: String, prompt: String) -> [String: String] {
        [
            "ANTHROPIC_API_KEY": apiKey,
            "ANTHROPIC_BASE_URL": baseURL,
            "HOME": "/home/ci",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": "3",
            "API_TIMEOUT_MS": "300000",
            "PUSHBOX_PROMPT": prompt,
        ]
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
