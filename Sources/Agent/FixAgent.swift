import Core
import Foundation
import Logging

/// Budgets and model settings of one attempt.
package struct FixAgentConfiguration: Sendable {
    package var model: String
    package var maxTokens: Int
    package var systemPrompt: String
    /// Model requests per attempt.
    package var maxTurns: Int
    /// Whole attempt: model requests and tool calls.
    package var wallTime: Duration
    /// Budget for this attempt in US dollars (the caller passes what is left of the run's budget).
    package var maxCostUSD: Double
    package var prices: PriceTable
    /// How many replies in a row cut off at `max_tokens` are continued before the attempt stops.
    package var maxTokensContinuations: Int

    package init(model: String, maxTokens: Int = 8192, systemPrompt: String = FixAgent.defaultSystemPrompt,
                 maxTurns: Int = 30, wallTime: Duration = .seconds(600), maxCostUSD: Double = 2.0,
                 prices: PriceTable, maxTokensContinuations: Int = 1) {
        self.model = model
        self.maxTokens = maxTokens
        self.systemPrompt = systemPrompt
        self.maxTurns = maxTurns
        self.wallTime = wallTime
        self.maxCostUSD = maxCostUSD
        self.prices = prices
        self.maxTokensContinuations = maxTokensContinuations
    }
}

/// The tool loop of one autofix attempt over a `ModelClient`.
///
/// It sends the task as the first user message, then keeps going while the model stops with `tool_use`:
/// every `tool_use` of a reply is answered, in order and with the same ids, by one `tool_result` in a single
/// user message (a failing tool gives `is_error: true` with its message; nothing a tool does ends the loop).
/// The other stop reasons:
/// - `end_turn`, `stop_sequence`: done; the reply's text is kept as the explanation.
/// - `max_tokens`: the reply was cut off. Up to `maxTokensContinuations` times in a row, the cut reply is
///   kept, any `tool_use` in it is answered with an `is_error` result ("not run: cut off", since its input
///   may be incomplete), and a user note asks the model to continue more briefly; after that the attempt
///   stops with reason `max_tokens`.
/// - `pause_turn`: the reply is sent back as is (the last message is then the assistant's) to continue.
/// - `refusal`, `model_context_window_exceeded`, unknown: stop with that reason.
///
/// Budgets, checked after every reply: `maxTurns` (a reply asking for tools at the last turn is not
/// executed), `maxCostUSD` (from `prices`), `wallTime` (a model request or tool call still running when it
/// ends is cancelled). Whichever ends first is the recorded reason. A model API error ends the attempt
/// with reason `api_error` (retries are the client's business).
///
/// Secrets: the task text and every tool output pass through `masker` before they go to the model; tool
/// input summaries in the transcript are masked too. Prompt caching: the system prompt, the last tool
/// definition and the last block of the last user message carry `cache_control` (three breakpoints).
package struct FixAgent: Sendable {
    package let client: any ModelClient
    package let tools: [any AgentTool]
    package let masker: SecretMasker
    package let configuration: FixAgentConfiguration

    package init(client: any ModelClient, tools: [any AgentTool], masker: SecretMasker, configuration: FixAgentConfiguration) {
        self.client = client
        self.tools = tools
        self.masker = masker
        self.configuration = configuration
    }

    package static let defaultSystemPrompt = """
        You are Pushbox Autofix. A CI pipeline failed on a pushed commit, and your job is to make it pass by \
        fixing the code. You work in a copy of the repository (the workspace); every path is relative to its \
        root. Use the tools to look around (list_files, read_file, search), change files (edit_file, \
        write_file) and check your work (run_command runs a shell command in the pipeline's container).

        Rules:
        - Fix the cause in the code under test. Do not edit, delete or rename tests, do not add skip/xfail/ \
        ignore markers, do not change expected values, and do not touch the pipeline file (.pushbox.yml) or \
        other protected paths: such fixes are rejected.
        - Keep the change as small as the fix allows; do not reformat unrelated code.
        - Before you finish, run the failing command with run_command to see that it passes.
        - When you are done, reply without calling a tool: say in a few sentences what was wrong and what you \
        changed. If you cannot fix it, say why.
        """

    /// The note sent after a reply cut off at `max_tokens`.
    package static let continueNote = "Your previous reply was cut off because it reached the output token limit. Continue from where it stopped, more briefly; prefer several small edit_file calls to one large write_file."

    /// Runs the loop for `task` (the failure context: failing step, log tail, diff, file list). Never
    /// throws: every ending, cancellation included, is a recorded `stop`.
    package func run(task: String, logger: Logger) async -> AttemptTranscript {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + configuration.wallTime
        var transcript = AttemptTranscript(model: configuration.model, stop: AttemptStop(.completed, ""))
        func finish(_ reason: AttemptStop.Reason, _ detail: String) -> AttemptTranscript {
            transcript.stop = AttemptStop(reason, detail)
            transcript.durationSeconds = seconds(started.duration(to: clock.now))
            logger.info("autofix attempt ended", metadata: [
                "reason": "\(reason.rawValue)", "turns": "\(transcript.turns.count)",
                "tool_calls": "\(transcript.toolCalls.count)", "cost_usd": "\(String(format: "%.4f", transcript.costUSD))",
            ])
            return transcript
        }
        guard let price = configuration.prices.price(for: configuration.model) else {
            return finish(.configuration, "no price for model \(configuration.model) in the price table; the cost budget cannot be enforced")
        }
        let definitions = tools.map(\.definition)
        let toolsByName = Dictionary(tools.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var messages: [Message] = [.user(mask(task))]
        var continuations = 0

        while true {
            guard transcript.turns.count < configuration.maxTurns else {
                return finish(.maxTurns, "the model still wanted to continue after \(configuration.maxTurns) turns")
            }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else {
                return finish(.wallTime, "the attempt's wall time of \(Int(seconds(configuration.wallTime))) s ran out")
            }
            let request = Self.makeRequest(configuration: configuration, tools: definitions, messages: messages)
            let turnStarted = clock.now
            let response: MessageResponse
            do {
                let client = client
                guard let reply = try await withTimeLimit(remaining, { try await client.createMessage(request) }) else {
                    return finish(.wallTime, "the wall time of \(Int(seconds(configuration.wallTime))) s ran out during a model request")
                }
                response = reply
            } catch is CancellationError {
                return finish(.canceled, "canceled")
            } catch {
                if Task.isCancelled { return finish(.canceled, "canceled") }
                return finish(.apiError, mask("\(error)"))
            }
            let turn = transcript.turns.count + 1
            let cost = price.cost(of: response.usage)
            transcript.turns.append(TurnRecord(
                turn: turn, messageID: response.id, stopReason: response.stopReason?.rawValue ?? "null", usage: response.usage,
                costUSD: cost, durationSeconds: seconds(turnStarted.duration(to: clock.now))))
            transcript.usage += response.usage
            transcript.costUSD += cost
            logger.debug("model turn", metadata: [
                "turn": "\(turn)", "stop_reason": "\(response.stopReason?.rawValue ?? "null")",
                "input_tokens": "\(response.usage.inputTokens)", "output_tokens": "\(response.usage.outputTokens)",
            ])
            let reply = Self.replayable(response.message)
            let overBudget = transcript.costUSD >= configuration.maxCostUSD
            let budgetDetail = "the cost reached $\(String(format: "%.4f", transcript.costUSD)) of the $\(String(format: "%.2f", configuration.maxCostUSD)) budget"

            switch response.stopReason {
            case .endTurn?, .stopSequence?:
                transcript.explanation = response.message.text
                return finish(.completed, response.stopReason?.rawValue ?? "")
            case .refusal?:
                transcript.explanation = response.message.text
                return finish(.refusal, "the model declined to continue")
            case .modelContextWindowExceeded?:
                return finish(.contextWindowExceeded, "the conversation no longer fits the model's context window")
            case .toolUse?:
                if overBudget { return finish(.costBudget, budgetDetail) }
                guard turn < configuration.maxTurns else {
                    return finish(.maxTurns, "the model still wanted tools after \(configuration.maxTurns) turns")
                }
                guard !response.message.toolUses.isEmpty else {
                    // Nothing to answer, and an empty user message would be rejected.
                    transcript.explanation = response.message.text
                    return finish(.unexpectedStopReason, "stop_reason tool_use without any tool_use block")
                }
                messages.append(reply)
                var results: [ContentBlock] = []
                for use in response.message.toolUses {
                    let outcome = await call(use, tool: toolsByName[use.name], turn: turn, deadline: deadline, clock: clock, logger: logger)
                    transcript.toolCalls.append(outcome.record)
                    results.append(.toolResult(outcome.result))
                    if outcome.stopped == .canceled { return finish(.canceled, "canceled during tool \(use.name)") }
                    if outcome.stopped == .wallTime {
                        return finish(.wallTime, "the wall time of \(Int(seconds(configuration.wallTime))) s ran out during tool \(use.name)")
                    }
                }
                messages.append(Message(role: .user, content: results))
                continuations = 0
            case .maxTokens?:
                if overBudget { return finish(.costBudget, budgetDetail) }
                guard continuations < configuration.maxTokensContinuations else {
                    transcript.explanation = response.message.text
                    return finish(.maxTokens, "the reply was cut off at max_tokens (\(configuration.maxTokens)) \(continuations + 1) times in a row")
                }
                continuations += 1
                if !reply.content.isEmpty { messages.append(reply) }
                var content: [ContentBlock] = response.message.toolUses.map {
                    .toolResult(ToolResultBlock(toolUseID: $0.id, content: "not run: your reply was cut off at the output token limit, so this call's input may be incomplete; send it again", isError: true))
                }
                content.append(.text(Self.continueNote))
                messages.append(Message(role: .user, content: content))
            case .pauseTurn?:
                if overBudget { return finish(.costBudget, budgetDetail) }
                // Sent back as is: the API continues the paused turn.
                messages.append(reply)
            case .other(let value)?:
                transcript.explanation = response.message.text
                return finish(.unexpectedStopReason, "unknown stop_reason \(value)")
            case nil:
                transcript.explanation = response.message.text
                return finish(.unexpectedStopReason, "the reply had no stop_reason")
            }
        }
    }

    private struct CallOutcome {
        var result: ToolResultBlock
        var record: ToolCallRecord
        /// Set when the loop must stop (wall time or cancellation).
        var stopped: AttemptStop.Reason?
    }

    /// Runs one tool call; every failure becomes an `is_error` result.
    private func call(_ use: ToolUseBlock, tool: (any AgentTool)?, turn: Int, deadline: ContinuousClock.Instant,
                      clock: ContinuousClock, logger: Logger) async -> CallOutcome {
        let started = clock.now
        var output: ToolOutput
        var stopped: AttemptStop.Reason?
        if let tool {
            let input = use.input
            var toolLogger = logger
            toolLogger[metadataKey: "tool"] = "\(use.name)"
            let loggerCopy = toolLogger
            do {
                let remaining = clock.now.duration(to: deadline)
                if remaining <= .zero {
                    output = ToolOutput("not run: the attempt's wall time ran out", isError: true)
                    stopped = .wallTime
                } else if let result = try await withTimeLimit(remaining, { try await tool.run(input, logger: loggerCopy) }) {
                    output = result
                } else {
                    output = ToolOutput("stopped: the attempt's wall time ran out", isError: true)
                    stopped = .wallTime
                }
            } catch let failure as ToolFailure {
                output = ToolOutput(failure.message, isError: true)
            } catch {
                if Task.isCancelled {
                    output = ToolOutput("canceled", isError: true)
                    stopped = .canceled
                } else {
                    output = ToolOutput("\(use.name) failed: \(error)", isError: true)
                }
            }
        } else {
            let names = tools.map(\.name).joined(separator: ", ")
            output = ToolOutput("there is no tool named \"\(use.name)\"; the tools are: \(names)", isError: true)
        }
        var text = mask(output.text)
        if text.isEmpty { text = "(no output)" }
        let summary = Self.summarize(mask(use.input.compactText))
        logger.debug("tool call", metadata: [
            "tool": "\(use.name)", "input": "\(summary)", "is_error": "\(output.isError)", "bytes": "\(text.utf8.count)",
        ])
        return CallOutcome(
            result: ToolResultBlock(toolUseID: use.id, content: text, isError: output.isError),
            record: ToolCallRecord(turn: turn, id: use.id, name: use.name, inputSummary: summary, outputBytes: text.utf8.count,
                                   isError: output.isError, durationSeconds: seconds(started.duration(to: clock.now))),
            stopped: stopped)
    }

    private func mask(_ text: String) -> String {
        masker.isEmpty ? text : String(decoding: masker.mask(Data(text.utf8)), as: UTF8.self)
    }

    // MARK: Pure pieces

    /// The request for the conversation so far: system prompt and tools marked for caching, and the last
    /// block of the last message when it is the user's.
    package static func makeRequest(configuration: FixAgentConfiguration, tools: [ToolDefinition], messages: [Message]) -> MessageRequest {
        var tools = tools
        if !tools.isEmpty { tools[tools.count - 1].cacheControl = .ephemeral }
        var messages = messages
        if let last = messages.indices.last, messages[last].role == .user, let block = messages[last].content.indices.last {
            switch messages[last].content[block] {
            case .text(var text):
                text.cacheControl = .ephemeral
                messages[last].content[block] = .text(text)
            case .toolResult(var result):
                result.cacheControl = .ephemeral
                messages[last].content[block] = .toolResult(result)
            default: break
            }
        }
        return MessageRequest(
            model: configuration.model, maxTokens: configuration.maxTokens,
            system: [TextBlock(configuration.systemPrompt, cacheControl: .ephemeral)],
            messages: messages, tools: tools.isEmpty ? nil : tools)
    }

    /// The assistant message as it is sent back: unchanged, except that empty text blocks (which the API
    /// rejects in requests) are dropped.
    package static func replayable(_ message: Message) -> Message {
        var message = message
        message.content.removeAll { block in
            if case .text(let text) = block { return text.text.isEmpty }
            return false
        }
        return message
    }

    /// At most 200 characters: the text itself, or its first 199 and "…".
    package static func summarize(_ text: String) -> String {
        text.count <= 200 ? text : String(text.prefix(199)) + "…"
    }
}

/// Runs `body`, cancelling it once `limit` has passed; nil when the limit came first. `body` must stop
/// promptly when cancelled.
func withTimeLimit<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        // The first child to finish decides: the value, or nil for the timer.
        guard let first = try await group.next() else { return nil }
        return first
    }
}
