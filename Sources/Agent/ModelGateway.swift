import Core
import Foundation
import Logging

/// An autofix container's only way to the model API: a key-injecting proxy on the host, reached through
/// a forwarder inside the container's own network namespace (network `none`). The container holds a
/// per-attempt token, never the API key.
///
/// Contract: `openSession` registers a token with the attempt's budgets; `containerEnvironment` is what
/// the container needs (`ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY` = the token); `connect` is called once
/// the container has started and makes that base URL answer inside it, or throws (the attempt then fails:
/// there is no fallback to a network that reaches the host); `close` revokes the token, stops what
/// `connect` started and returns what the proxy saw. `close` is called exactly once per session, also when
/// `connect` failed.
package protocol ModelGateway: Sendable {
    func openSession(budget: ModelSessionBudget, logger: Logger) async throws -> any ModelGatewaySession
}

/// One attempt's session of a `ModelGateway` (see there).
package protocol ModelGatewaySession: Sendable {
    /// Variables for the attempt's container: `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY` (the token).
    var containerEnvironment: [String: String] { get }
    /// Makes `ANTHROPIC_BASE_URL` reachable inside `sandbox` (started, network `none`). Throws a
    /// message for the attempt's failure.
    func connect(_ sandbox: any Sandbox, logger: Logger) async throws
    /// Revokes the token, stops the forwarder; the usage the proxy recorded.
    func close() async -> ModelSessionUsage
}

/// One of the budgets of `ModelSessionBudget`, by the name the configuration, refusals and logs use.
package enum ModelBudgetLimit: String, Sendable, Equatable, CaseIterable {
    /// `maxRequests` (the attempt's `max_turns`).
    case turns = "max_turns"
    /// `maxCostUSD`.
    case cost = "cost"
    /// `wallTime`.
    case wallTime = "wall_time"
}

/// What one attempt may spend through the proxy. Past any of them the proxy answers an Anthropic-format
/// error (`permission_error`, `x-should-retry: false`) instead of forwarding.
package struct ModelSessionBudget: Sendable, Equatable {
    /// `POST /v1/messages` requests (the attempt's `max_turns`); token counting is not a turn.
    package var maxRequests: Int
    /// US dollars, from the usage of the answers and the runner's price table.
    package var maxCostUSD: Double
    /// From `openSession` on.
    package var wallTime: Duration

    package init(maxRequests: Int, maxCostUSD: Double, wallTime: Duration) {
        self.maxRequests = maxRequests
        self.maxCostUSD = maxCostUSD
        self.wallTime = wallTime
    }
}

/// What the proxy saw in one session.
package struct ModelSessionUsage: Sendable, Equatable {
    /// One per forwarded `POST /v1/messages` that was answered 200, in order.
    package var turns: [TurnRecord]
    /// Forwarded requests of any status, token counting included.
    package var requests: Int
    /// The budgets whose exhaustion made the proxy refuse requests, each once, in the order first refused.
    package var refusals: [ModelBudgetLimit]
    package var usage: Usage
    package var costUSD: Double

    package init(turns: [TurnRecord] = [], requests: Int = 0, refusals: [ModelBudgetLimit] = [], usage: Usage = Usage(),
                 costUSD: Double = 0) {
        self.turns = turns
        self.requests = requests
        self.refusals = refusals
        self.usage = usage
        self.costUSD = costUSD
    }

    /// The budgets given by name (`max_turns`, `cost`, `wall_time`); a name that is none of them is dropped.
    package init(turns: [TurnRecord] = [], requests: Int = 0, refusals names: [String], usage: Usage = Usage(), costUSD: Double = 0) {
        self.init(turns: turns, requests: requests, refusals: names.compactMap(ModelBudgetLimit.init(rawValue:)), usage: usage,
                  costUSD: costUSD)
    }

    /// `work` with what the proxy measured: its cost (the runner's price table, not a client's own
    /// estimate) and a transcript with the turns and tokens (what `FixAttemptRecord.summary` reads). A
    /// budget the proxy enforced is named in the failure and is the transcript's stop; another failure
    /// stops with `failure`.
    package func apply(to work: AttemptWork, model: String, duration: Duration, failure: AttemptStop.Reason) -> AttemptWork {
        var work = work
        work.costUSD = costUSD
        if refusals.contains(.cost) { work.costBudgetReached = true }
        if let refusal = refusals.first, work.failure != nil {
            work.failure = (work.failure ?? "") + " (the model proxy refused further requests: \(refusal.rawValue) budget used up)"
        }
        let reason: AttemptStop.Reason = switch refusals.first {
        case .cost: .costBudget
        case .turns: .maxTurns
        case .wallTime: .wallTime
        case nil: work.failure == nil ? .completed : failure
        }
        work.transcript = AttemptTranscript(model: model, stop: AttemptStop(reason, work.stop), turns: turns, toolCalls: [], usage: usage,
                                            costUSD: costUSD, explanation: work.explanation, durationSeconds: Units.seconds(duration))
        return work
    }
}
