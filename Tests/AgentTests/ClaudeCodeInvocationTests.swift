import Agent
import Core
import Foundation
import Testing

@Suite("claude-code backend: pure translation")
struct ClaudeCodeInvocationTests {
    @Test("the command line reads the prompt from stdin, asks for JSON, bounds turns and budget, allows the tools")
    func commandLine() {
        let line = ClaudeCodeInvocation.commandLine(model: "claude-sonnet-5-5", maxTurns: 30, maxBudgetUSD: 1.234)
        #expect(line.hasPrefix("printf '%s' \"$PUSHBOX_PROMPT\" | { unset PUSHBOX_PROMPT; claude -p --output-format json --max-turns 30 --model claude-sonnet-5-5 --allowedTools Read,Edit,Write,Glob,Grep,Bash --max-budget-usd 1.23 2>/tmp/claude.stderr; }"))
        #expect(line.hasSuffix("exit $rc"))
        #expect(ClaudeCodeInvocation.commandLine(model: "it's", maxTurns: 1, maxBudgetUSD: 0).contains("--model 'it'\\''s'"))
        #expect(ClaudeCodeInvocation.commandLine(model: "m", maxTurns: 1, maxBudgetUSD: 0).contains("--max-budget-usd 0.01"))
    }

    @Test("the environment: the gateway's token and endpoint, no telemetry or auto-update, bounded retries, the prompt")
    func environment() {
        let env = ClaudeCodeInvocation.environment(gateway: ["ANTHROPIC_API_KEY": "pbx-attempt-1", "ANTHROPIC_BASE_URL": "http://127.0.0.1:4180"],
                                                   prompt: "fix it")
        #expect(env["ANTHROPIC_API_KEY"] == "pbx-attempt-1" && env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4180")
        #expect(env.count == 10)
        #expect(env["DISABLE_TELEMETRY"] == "1" && env["DISABLE_AUTOUPDATER"] == "1" && env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1")
        #expect(env["CLAUDE_CODE_MAX_RETRIES"] == "3" && env["HOME"] == "/home/ci" && env["PUSHBOX_PROMPT"] == "fix it")
    }

    @Test("result JSON: success, API error reported as subtype success, max turns, no result at all")
    func results() {
        let ok = ClaudeCodeInvocation.work(output: """
            some noise
            {"type":"result","subtype":"success","is_error":false,"result":"Fixed add.","num_turns":2,"total_cost_usd":0.0123,"terminal_reason":"completed"}
            """, exitCode: 0)
        #expect(ok.failure == nil && ok.explanation == "Fixed add." && ok.costUSD == 0.0123 && ok.stop == "completed (2 turns)")
        let apiError = ClaudeCodeInvocation.work(output: """
            {"type":"result","subtype":"success","is_error":true,"result":"API Error: 529 Overloaded","num_turns":1,"total_cost_usd":0,"terminal_reason":"api_error"}
            """, exitCode: 1)
        #expect(apiError.failure == "claude-code: api_error: API Error: 529 Overloaded" && apiError.stop == "api_error (1 turn)")
        let turns = ClaudeCodeInvocation.work(output: """
            {"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":3,"errors":["Reached maximum number of turns (3)"]}
            """, exitCode: 1)
        #expect(turns.failure == "claude-code: error_max_turns: Reached maximum number of turns (3)")
        let budget = ClaudeCodeInvocation.work(output: #"{"type":"result","is_error":true,"terminal_reason":"max_budget","num_turns":4}"#, exitCode: 1)
        #expect(budget.costBudgetReached)
        let nothing = ClaudeCodeInvocation.work(output: "claude: command not found\n", exitCode: 127)
        #expect(nothing.failure?.hasPrefix("the Claude Code CLI exited 127 without a result: claude: command not found") == true)
    }

    @Test("the proxy's usage becomes the attempt's cost and transcript; a budget it enforced is named", arguments: [
        ([String](), nil as String?, AttemptStop.Reason.completed, false),
        (["cost"], "claude-code: api_error: API Error: 403", .costBudget, true),
        (["max_turns"], "claude-code: api_error: API Error: 403", .maxTurns, false),
        (["wall_time"], "claude-code: api_error: API Error: 403", .wallTime, false),
        ([], "claude-code: api_error: API Error: 529", .apiError, false),
        ([], "the Claude Code CLI ran out of its wall time", .wallTime, false),
    ])
    func mergeUsage(_ refusals: [String], _ failure: String?, _ reason: AttemptStop.Reason, _ budgetReached: Bool) {
        let usage = ModelSessionUsage(
            turns: [TurnRecord(turn: 1, messageID: "msg_1", stopReason: "end_turn",
                               usage: Usage(inputTokens: 100, outputTokens: 20, cacheCreationInputTokens: 5, cacheReadInputTokens: 7),
                               costUSD: 0.25, durationSeconds: 0.1)],
            requests: 2, refusals: refusals,
            usage: Usage(inputTokens: 100, outputTokens: 20, cacheCreationInputTokens: 5, cacheReadInputTokens: 7), costUSD: 0.25)
        let stop = failure?.contains("wall time") == true ? "wall_time" : "completed (1 turn)"
        let work = AttemptWork(explanation: failure == nil ? "Fixed." : "", costUSD: 0.99, stop: stop, failure: failure)
        let merged = ClaudeCodeInvocation.merge(work, usage: usage, model: "claude-sonnet-5-5", duration: .seconds(2))
        #expect(merged.costUSD == 0.25, "the proxy's cost, not the CLI's own figure")
        #expect(merged.costBudgetReached == budgetReached)
        #expect(merged.transcript?.stop.reason == reason)
        #expect(merged.transcript?.usage.inputTokens == 100 && merged.transcript?.usage.cacheReadInputTokens == 7)
        #expect(merged.transcript?.turns.count == 1 && merged.transcript?.durationSeconds == 2)
        if let budget = refusals.first {
            #expect(merged.failure?.hasSuffix("(the model proxy refused further requests: \(budget) budget used up)") == true)
        } else {
            #expect(merged.failure == failure)
        }
    }
}
