import Core
import Foundation
import GRDB

/// `DeliveryQueue` in the SQLite file: the report outbox (`deliveries`, `delivery_attempts`).
package final class SQLiteDeliveryQueue: DeliveryQueue, Sendable {
    private let database: SQLiteDatabase
    private var pool: DatabasePool { database.pool }

    init(_ database: SQLiteDatabase) { self.database = database }

    /// Adds a delivery to the outbox, due now.
    @discardableResult
    package func addDelivery(runID: Int64, event: RunEvent, kind: String = "webhook", url: String, secretEnv: String?,
                             tokenEnv: String? = nil, payload: Data, uuid: String, retryFor: Duration, backoff: Duration,
                             now: Date = Date()) throws -> Delivery {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO deliveries (uuid, run_id, event, kind, url, secret_env, token_env, payload, state, attempts,
                                        next_attempt_at, give_up_at, backoff_ms, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)
                """, arguments: [uuid, runID, event.rawValue, kind, url, secretEnv, tokenEnv, payload, now.timeIntervalSince1970,
                                 now.timeIntervalSince1970 + Units.seconds(retryFor), Int64(Units.seconds(backoff) * 1000),
                                 now.timeIntervalSince1970])
            return try Self.fetchDelivery(db, id: db.lastInsertedRowID)!   // just inserted
        }
    }

    /// Pending deliveries due at `now`, oldest first, with their payloads.
    package func dueDeliveries(now: Date = Date(), limit: Int = 16) throws -> [(delivery: Delivery, payload: Data)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit]).map { (Self.delivery($0), $0["payload"]) }
        }
    }

    /// When the next pending delivery is due (nil: none pending).
    package func nextDeliveryDue() throws -> Date? {
        try pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM deliveries WHERE state = 'pending'")
                .map(Date.init(timeIntervalSince1970:))
        }
    }

    /// Records one try and what follows: delivered, another try at `retryAt`, or given up (`retryAt` nil).
    package func recordDeliveryAttempt(_ attempt: DeliveryAttempt, deliveryID: Int64, delivered: Bool, retryAt: Date?) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO delivery_attempts (delivery_id, attempt, at, status, latency_ms, excerpt) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [deliveryID, attempt.attempt, attempt.at.timeIntervalSince1970, attempt.status, attempt.latencyMs,
                                 attempt.excerpt])
            let state = delivered ? "delivered" : retryAt == nil ? "gave_up" : "pending"
            try db.execute(sql: """
                UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = COALESCE(?, next_attempt_at),
                       delivered_at = ?, last_status = ?, last_error = ? WHERE id = ?
                """, arguments: [state, attempt.attempt, retryAt?.timeIntervalSince1970,
                                 delivered ? attempt.at.timeIntervalSince1970 : nil, attempt.status,
                                 delivered ? nil : attempt.excerpt, deliveryID])
        }
    }

    /// A run's deliveries with their attempts, oldest first.
    package func deliveries(runID: Int64) throws -> [(delivery: Delivery, attempts: [DeliveryAttempt])] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM deliveries WHERE run_id = ? ORDER BY id", arguments: [runID]).map { row in
                let delivery = Self.delivery(row)
                let attempts = try Row.fetchAll(db, sql: "SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt",
                                                arguments: [delivery.id]).map { a in
                    DeliveryAttempt(attempt: a["attempt"], at: Date(timeIntervalSince1970: a["at"]), status: a["status"],
                                    latencyMs: a["latency_ms"], excerpt: a["excerpt"])
                }
                return (delivery, attempts)
            }
        }
    }

    private static func fetchDelivery(_ db: Database, id: Int64) throws -> Delivery? {
        try Row.fetchOne(db, sql: "SELECT * FROM deliveries WHERE id = ?", arguments: [id]).map(delivery)
    }

    private static func delivery(_ row: Row) -> Delivery {
        Delivery(id: row["id"], uuid: row["uuid"], runID: row["run_id"], event: RunEvent(rawValue: row["event"]) ?? .finished,
                 kind: row["kind"], url: row["url"], secretEnv: row["secret_env"], tokenEnv: row["token_env"], state: Delivery.State(rawValue: row["state"]) ?? .pending,
                 attempts: row["attempts"], nextAttemptAt: Date(timeIntervalSince1970: row["next_attempt_at"]),
                 giveUpAt: Date(timeIntervalSince1970: row["give_up_at"]), backoffMs: row["backoff_ms"],
                 createdAt: Date(timeIntervalSince1970: row["created_at"]), deliveredAt: SQLiteDatabase.date(row["delivered_at"]),
                 lastStatus: row["last_status"], lastError: row["last_error"])
    }
}
