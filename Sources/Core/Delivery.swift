import Foundation

/// What happened to a run that a reporter may be subscribed to (`reports[].events`).
package enum RunEvent: String, Codable, Sendable, CaseIterable {
    case queued, started, finished
}

/// One report to send (a webhook POST), kept in the store's outbox until it is delivered or given up:
/// retried with backoff across daemon restarts. `pushbox reports RUN` shows it with its attempts.
package struct Delivery: Codable, Sendable, Equatable {
    package enum State: String, Codable, Sendable { case pending, delivered, gaveUp = "gave_up" }

    enum CodingKeys: String, CodingKey {
        case id
        case uuid
        case runID = "run_id"
        case event
        case kind
        case url
        case secretEnv = "secret_env"
        case tokenEnv = "token_env"
        case state
        case attempts
        case nextAttemptAt = "next_attempt_at"
        case giveUpAt = "give_up_at"
        case backoffMs = "backoff_ms"
        case createdAt = "created_at"
        case deliveredAt = "delivered_at"
        case lastStatus = "last_status"
        case lastError = "last_error"
    }

    package var id: Int64
    /// `X-Pushbox-Delivery`: stable across retries, so a receiver can drop duplicates.
    package var uuid: String
    package var runID: Int64
    package var event: RunEvent
    /// `webhook`, or the forge whose commit-status API `url` is (`gitea`, `github`, `gitlab`).
    package var kind: String
    package var url: String
    /// The environment variable with the HMAC secret (read when sending; never stored).
    package var secretEnv: String?
    /// Forges: the environment variable with the API token (read when sending; never stored).
    package var tokenEnv: String?
    package var state: State
    package var attempts: Int
    package var nextAttemptAt: Date
    package var giveUpAt: Date
    /// The first retry's wait; doubled per attempt.
    package var backoffMs: Int64
    package var createdAt: Date
    package var deliveredAt: Date?
    package var lastStatus: Int?
    package var lastError: String?

    package init(id: Int64, uuid: String, runID: Int64, event: RunEvent, kind: String = "webhook", url: String, secretEnv: String?,
                 tokenEnv: String? = nil, state: State,
                 attempts: Int, nextAttemptAt: Date, giveUpAt: Date, backoffMs: Int64, createdAt: Date, deliveredAt: Date?,
                 lastStatus: Int?, lastError: String?) {
        self.id = id
        self.uuid = uuid
        self.runID = runID
        self.event = event
        self.kind = kind
        self.url = url
        self.secretEnv = secretEnv
        self.tokenEnv = tokenEnv
        self.state = state
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.giveUpAt = giveUpAt
        self.backoffMs = backoffMs
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
        self.lastStatus = lastStatus
        self.lastError = lastError
    }
}

/// One try at a delivery: the answer's status (nil when there was none), how long it took, and the start
/// of the answer's body or the transport error.
package struct DeliveryAttempt: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case attempt, at, status, excerpt
        case latencyMs = "latency_ms"
    }
    package var attempt: Int
    package var at: Date
    package var status: Int?
    package var latencyMs: Int64
    package var excerpt: String

    package init(attempt: Int, at: Date, status: Int?, latencyMs: Int64, excerpt: String) {
        self.attempt = attempt
        self.at = at
        self.status = status
        self.latencyMs = latencyMs
        self.excerpt = excerpt
    }
}

/// When to try a delivery again (pure): the base wait doubled per failed attempt, at most an hour, with
/// ±10 % jitter so that many deliveries to one receiver do not retry in lockstep.
package enum DeliveryBackoff {
    package static let cap: Duration = .seconds(3600)

    package static func wait(afterAttempt attempt: Int, base: Duration, jitter: Double = Double.random(in: -0.1...0.1)) -> Duration {
        let exponent = min(max(attempt - 1, 0), 20)
        let seconds = min(Units.seconds(base) * Double(1 << exponent), Units.seconds(cap))
        return .milliseconds(Int64((seconds * (1 + jitter) * 1000).rounded()))
    }
}

/// Where report deliveries wait: the store's outbox (`RunStore.deliveries`; Store's SQLite file implements it), injected into the
/// reporters and the outbox worker, which do not import Store).
///
/// Contract: `addDelivery` makes a `pending` delivery due at once; `dueDeliveries` lists pending ones due at
/// `now`, oldest first, with their payloads; `recordDeliveryAttempt` stores one try and what follows —
/// delivered, pending again at `retryAt`, or given up when `retryAt` is nil.
package protocol DeliveryQueue: Sendable {
    @discardableResult
    func addDelivery(runID: Int64, event: RunEvent, kind: String, url: String, secretEnv: String?, tokenEnv: String?,
                     payload: Data, uuid: String, retryFor: Duration, backoff: Duration, now: Date) throws -> Delivery
    func dueDeliveries(now: Date, limit: Int) throws -> [(delivery: Delivery, payload: Data)]
    func nextDeliveryDue() throws -> Date?
    func recordDeliveryAttempt(_ attempt: DeliveryAttempt, deliveryID: Int64, delivered: Bool, retryAt: Date?) throws
    /// A run's deliveries with their attempts, oldest first.
    func deliveries(runID: Int64) throws -> [(delivery: Delivery, attempts: [DeliveryAttempt])]
}

extension DeliveryQueue {
    package func dueDeliveries() throws -> [(delivery: Delivery, payload: Data)] { try dueDeliveries(now: Date(), limit: 16) }
}
