import COpenSSL
import Core
import Foundation
import HTTP
import Logging

/// `X-Pushbox-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body under the secret, by OpenSSL's libcrypto.
package enum WebhookSignature {
    package static let header = "X-Pushbox-Signature"

    /// Nil when the secret is empty (nothing to sign with) or libcrypto fails.
    package static func sign(_ body: Data, secret: String) -> String? {
        guard !secret.isEmpty else { return nil }
        var mac = [UInt8](repeating: 0, count: 32)
        let ok = Array(secret.utf8).withUnsafeBytes { key in
            body.withUnsafeBytes { data in
                pushbox_hmac_sha256(key.baseAddress, key.count, data.baseAddress, data.count, &mac)
            }
        }
        guard ok == 1 else { return nil }
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }
}

/// The JSON a webhook receives (pure): `{event, delivery, url, run}` where `run` is the run exactly as
/// `GET /api/v1/runs/<id>` shows it (steps, test counts, autofix line, VM results). docs/reports.md.
package enum WebhookPayload {
    package static func encode(_ run: Run, event: RunEvent, delivery: String, url: String) -> Data {
        struct Body: Encodable {
            var event: RunEvent
            var delivery: String
            var url: String
            var run: Run
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = Timestamps.encoding
        // Every field of Run is plain data with finite numbers: encoding cannot fail.
        return (try? encoder.encode(Body(event: event, delivery: delivery, url: url, run: run))) ?? Data("{}".utf8)
    }
}

/// Puts a delivery in the store's outbox for each `reports:` webhook subscribed to the event and the
/// run's repository, then wakes the outbox. Never blocks a run on the network.
package struct WebhookReporter: RunReporter {
    package let reports: [RunnerConfig.Report]
    package let store: any DeliveryQueue
    package let outbox: DeliveryOutbox?
    package let baseURL: String
    package let logger: Logger

    package init(reports: [RunnerConfig.Report], store: any DeliveryQueue, outbox: DeliveryOutbox?, baseURL: String, logger: Logger) {
        self.reports = reports.filter { $0.type == "webhook" }
        self.store = store
        self.outbox = outbox
        self.baseURL = baseURL
        self.logger = logger
    }

    package func runFinished(_ run: Run, repoPath: String) async {
        await enqueue(run, event: .finished)
    }

    package func runChanged(_ run: Run, event: RunEvent) async {
        await enqueue(run, event: event)
    }

    private func enqueue(_ run: Run, event: RunEvent) async {
        var added = false
        for report in reports where report.events.map(\.rawValue).contains(event.rawValue) {
            guard report.repos.isEmpty || report.repos.contains(run.repoName) else { continue }
            let uuid = UUID().uuidString.lowercased()
            let payload = WebhookPayload.encode(run, event: event, delivery: uuid, url: "\(baseURL)/runs/\(run.id)")
            do {
                try store.addDelivery(runID: run.id, event: event, kind: "webhook", url: report.url, secretEnv: report.secretEnv,
                                      tokenEnv: nil, payload: payload, uuid: uuid, retryFor: report.retryFor,
                                      backoff: report.backoff, now: Date())
                added = true
            } catch {
                logger.error("cannot queue the webhook delivery", metadata: ["run": "\(run.id)", "url": "\(report.url)", "error": "\(error)"])
            }
        }
        if added { await outbox?.poke() }
    }
}

/// Sends the store's pending deliveries: one POST each — a webhook with `X-Pushbox-Event`,
/// `X-Pushbox-Delivery` and `X-Pushbox-Signature` (when a secret is configured), a forge commit status with
/// the forge's token header (`ForgeStatus.headers`) — through the one libcurl client (TLS verified,
/// proxy variables honoured). A 2xx answer delivers; anything else is retried after
/// `DeliveryBackoff.wait` until the delivery's `give_up_at`. Every try is recorded. The outbox lives in
/// the store, so a restarted daemon resumes where the last one stopped. Runs beside the runs, never in
/// their way: a slow receiver only delays its own deliveries (10 s timeout each).
package actor DeliveryOutbox {
    private let store: any DeliveryQueue
    private let client: HTTPClient
    private let environment: [String: String]
    private let logger: Logger
    /// Told of every try: the delivery's kind and `delivered`, `retry` or `gave_up` (the daemon's metrics).
    private let onAttempt: (@Sendable (_ kind: String, _ result: String) -> Void)?
    private var task: Task<Void, Never>?
    private var wake: AsyncStream<Void>.Continuation?
    package static let timeout: Duration = .seconds(10)

    package init(store: any DeliveryQueue, environment: [String: String], logger: Logger,
                 onAttempt: (@Sendable (_ kind: String, _ result: String) -> Void)? = nil, client: HTTPClient = HTTPClient()) {
        self.store = store
        self.environment = environment
        self.logger = logger
        self.onAttempt = onAttempt
        self.client = client
    }

    package func start() {
        guard task == nil else { return }
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wake = continuation
        task = Task { await self.loop(stream) }
    }

    package func stop() async {
        wake?.finish()
        task?.cancel()
        await task?.value
        task = nil
    }

    /// Something was added: look now.
    package func poke() {
        wake?.yield()
    }

    private func loop(_ wakes: AsyncStream<Void>) async {
        var iterator = wakes.makeAsyncIterator()
        while !Task.isCancelled {
            await sendDue()
            let next = (try? store.nextDeliveryDue()) ?? nil
            // At least half a second: a delivery that stays due (its attempt could not be recorded) is not
            // retried in a tight loop. New deliveries poke the outbox and go out at once.
            let wait = next.map { max(0.5, $0.timeIntervalSinceNow) } ?? 3600
            // Wake at the next due time, or when poked.
            let timer = Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 5))
                await self?.poke()
            }
            let poked: Void? = await iterator.next()
            timer.cancel()
            if poked == nil { return }   // stopped
        }
    }

    /// Tries every delivery that is due, one after the other.
    package func sendDue() async {
        // Each delivery at most once per pass: one whose attempt cannot be recorded (a full disk) stays due,
        // and must not be retried in a tight loop; the next pass (the next wake) tries it again.
        var tried = Set<Int64>()
        while !Task.isCancelled {
            guard let due = try? store.dueDeliveries(now: Date(), limit: 16 + tried.count) else { return }
            let fresh = due.filter { !tried.contains($0.delivery.id) }
            guard !fresh.isEmpty else { return }
            for (delivery, payload) in fresh {
                if Task.isCancelled { return }
                tried.insert(delivery.id)
                await attempt(delivery, payload: payload)
            }
        }
    }

    private func attempt(_ delivery: Delivery, payload: Data) async {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "User-Agent": "pushbox"]
        var problem: String?
        if delivery.kind == "webhook" {
            headers.add("X-Pushbox-Event", delivery.event.rawValue)
            headers.add("X-Pushbox-Delivery", delivery.uuid)
        } else if let name = delivery.tokenEnv {
            if let token = environment[name], !token.isEmpty {
                for (field, value) in ForgeStatus.headers(forge: delivery.kind, token: token) { headers.add(field, value) }
            } else {
                problem = "\(name) is not set in the daemon's environment: the status is sent without a token"
            }
        }
        if let name = delivery.secretEnv {
            if let secret = environment[name], let signature = WebhookSignature.sign(payload, secret: secret) {
                headers.add(WebhookSignature.header, signature)
            } else {
                problem = "\(name) is not set in the daemon's environment: the delivery is not signed"
            }
        }
        let number = delivery.attempts + 1
        let started = ContinuousClock.now
        var status: Int?
        var excerpt: String
        do {
            let response = try await client.execute(HTTPRequest(.post, delivery.url, headers: headers, body: .data(payload),
                                                                connectTimeout: Self.timeout, timeout: Self.timeout))
            status = response.status
            excerpt = String(decoding: response.body.prefix(300), as: UTF8.self)
        } catch {
            excerpt = "\(error)"
        }
        if let problem { excerpt = problem + (excerpt.isEmpty ? "" : "; " + excerpt) }
        let latency = Int64(Units.seconds(ContinuousClock.now - started) * 1000)
        let delivered = status.map { (200..<300).contains($0) } ?? false
        var retryAt: Date?
        if !delivered {
            let next = Date().addingTimeInterval(Units.seconds(DeliveryBackoff.wait(afterAttempt: number, base: .milliseconds(delivery.backoffMs))))
            retryAt = next <= delivery.giveUpAt ? next : nil
        }
        let record = DeliveryAttempt(attempt: number, at: Date(), status: status, latencyMs: latency, excerpt: excerpt)
        do {
            try store.recordDeliveryAttempt(record, deliveryID: delivery.id, delivered: delivered, retryAt: retryAt)
        } catch {
            logger.error("cannot record a webhook attempt", metadata: ["delivery": "\(delivery.uuid)", "error": "\(error)"])
        }
        onAttempt?(delivery.kind, delivered ? "delivered" : retryAt == nil ? "gave_up" : "retry")
        let outcome = delivered ? "delivered" : retryAt == nil ? "given up" : "retry at \(Timestamps.string(retryAt!))"
        logger.info("\(delivery.kind) \(outcome)", metadata: ["run": "\(delivery.runID)", "event": "\(delivery.event.rawValue)",
                                                     "status": "\(status.map(String.init) ?? "-")", "attempt": "\(number)"])
    }
}
