import Foundation

/// Why an attempt's tool loop ended, with a human detail line.
package struct AttemptStop: Codable, Sendable, Equatable {
    package enum Reason: String, Codable, Sendable, Equatable {
        /// The model ended its turn (`end_turn` or `stop_sequence`): it considers the work done.
        case completed
        /// `max_turns` model requests were made and the model still wanted tools.
        case maxTurns = "max_turns"
        /// The attempt's wall time ran out.
        case wallTime = "wall_time"
        /// The cost reached the budget.
        case costBudget = "cost_budget"
        /// The reply was cut off at `max_tokens` again after the allowed continuations.
        case maxTokens = "max_tokens"
        case refusal
        case contextWindowExceeded = "model_context_window_exceeded"
        /// The model API failed in a way that was not retried, or retries ran out.
        case apiError = "api_error"
        /// A `stop_reason` this loop does not know.
        case unexpectedStopReason = "unexpected_stop_reason"
        /// The calling task was cancelled.
        case canceled
        /// Something in the setup prevents running (e.g. no price for the model).
        case configuration
    }

    package var reason: Reason
    package var detail: String

    package init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }
}

/// One model request of an attempt.
package struct TurnRecord: Codable, Sendable, Equatable {
    /// 1-based.
    package var turn: Int
    package var messageID: String
    package var stopReason: String
    package var usage: Usage
    package var costUSD: Double
    package var durationSeconds: Double

    package init(turn: Int, messageID: String, stopReason: String, usage: Usage, costUSD: Double, durationSeconds: Double) {
        self.turn = turn
        self.messageID = messageID
        self.stopReason = stopReason
        self.usage = usage
        self.costUSD = costUSD
        self.durationSeconds = durationSeconds
    }

    enum CodingKeys: String, CodingKey {
        case turn, usage
        case messageID = "message_id"
        case stopReason = "stop_reason"
        case costUSD = "cost_usd"
        case durationSeconds = "duration_seconds"
    }
}

/// One tool call of an attempt.
package struct ToolCallRecord: Codable, Sendable, Equatable {
    /// The turn whose reply asked for it.
    package var turn: Int
    package var id: String
    package var name: String
    /// The input as compact JSON, secrets masked, at most 200 characters.
    package var inputSummary: String
    /// Bytes of the (masked) result text sent back.
    package var outputBytes: Int
    package var isError: Bool
    package var durationSeconds: Double

    enum CodingKeys: String, CodingKey {
        case turn, id, name
        case inputSummary = "input_summary"
        case outputBytes = "output_bytes"
        case isError = "is_error"
        case durationSeconds = "duration_seconds"
    }
}

/// The record of one attempt's tool loop, for `fix_attempts.json` and the store.
package struct AttemptTranscript: Codable, Sendable, Equatable {
    package var model: String
    package var stop: AttemptStop
    package var turns: [TurnRecord]
    package var toolCalls: [ToolCallRecord]
    /// Sum over the turns.
    package var usage: Usage
    package var costUSD: Double
    /// The model's final text (its explanation of the fix), empty when it gave none.
    package var explanation: String
    package var durationSeconds: Double

    package init(model: String, stop: AttemptStop, turns: [TurnRecord] = [], toolCalls: [ToolCallRecord] = [],
                 usage: Usage = Usage(), costUSD: Double = 0, explanation: String = "", durationSeconds: Double = 0) {
        self.model = model
        self.stop = stop
        self.turns = turns
        self.toolCalls = toolCalls
        self.usage = usage
        self.costUSD = costUSD
        self.explanation = explanation
        self.durationSeconds = durationSeconds
    }

    enum CodingKeys: String, CodingKey {
        case model, stop, turns, usage, explanation
        case toolCalls = "tool_calls"
        case costUSD = "cost_usd"
        case durationSeconds = "duration_seconds"
    }
}
