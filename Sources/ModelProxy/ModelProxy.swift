import Agent
import Foundation
import HTTP
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The key-injecting proxy for the Messages API that autofix containers talk to instead of the API.
///
/// One per process (the daemon, or a foreground `pushbox run`), listening on a unix socket of the host
/// (mode 0600) that no container can see; a container reaches it only through the forwarder its attempt
/// puts into the container's network namespace (`LoopbackForwarder`). One listener with per-attempt
/// tokens rather than one proxy per attempt: the token, not the socket, is the unit of authority and
/// budget, so an attempt costs a registry entry instead of a server start, and revoking the token at the
/// attempt's end is what makes a leaked token worthless.
///
/// For each request: the token (`x-api-key` or `authorization: Bearer`) must be that of an open session
/// (else 401); only `POST /v1/messages` and `POST /v1/messages/count_tokens` pass (else 404); the body must
/// be a JSON object that makes the API reach no address of its own choosing (`ProxyRules.checkRequestBody`:
/// `mcp_servers`, `container` and url sources are a 400, server tools are removed and logged); a Messages
/// request must name a model of the price table (else 400); the session's budgets (`ProxyRules.admit`)
/// must allow it (else 403 naming the budget), and a Messages request reserves its most expensive output
/// (`ProxyRules.reservation`) until its answer has ended. Then the real key replaces the token and the
/// request goes to `upstream` with the HTTP module's client; status, headers (429/529, `retry-after`, …)
/// and body come back unchanged, the body streamed on chunk by chunk (SSE as it arrives). The usage in each answer is
/// recorded per session (`UsageScanner`): tokens, turns, cost with the runner's price table.
package final class ModelProxy: Sendable {
    /// The host path of the listening socket.
    package let socketPath: String
    /// The API's base URL, e.g. `https://api.anthropic.com`.
    package let upstream: String
    private let apiKey: String
    private let prices: PriceTable
    private let http = HTTPClient()
    private let logger: Logger
    private let sessions = Mutex<[String: Session]>([:])
    private let service = Mutex<Task<Void, any Error>?>(nil)

    private struct Session {
        var token: String
        var budget: ModelSessionBudget
        var opened: ContinuousClock.Instant
        /// Messages requests let through and not answered with an error.
        var turnsAdmitted = 0
        /// The sum of the reservations of the Messages requests in flight (US dollars).
        var reservedUSD = 0.0
        var usage = ModelSessionUsage()
    }

    /// A unix socket path (`sun_path`) holds at most 107 bytes and a terminating NUL.
    package static let maxSocketPathBytes = 107
    /// How long the connection to the upstream may take to open (the request's own limit is the
    /// session's remaining wall time).
    package static let upstreamConnectTimeout: Duration = .seconds(10)

    /// Whether `stop` removes the socket's directory (`start` created it).
    private let removesDirectory: Bool

    private init(socketPath: String, upstream: String, apiKey: String, prices: PriceTable, removesDirectory: Bool, logger: Logger) {
        self.socketPath = socketPath
        self.upstream = upstream
        self.apiKey = apiKey
        self.prices = prices
        self.removesDirectory = removesDirectory
        self.logger = logger
    }

    /// Makes `path` a directory only this user may enter: created with mode 0700 (true), or an existing
    /// one checked (false): not a symbolic link, owned by the effective user, no permission for group or
    /// others. Throws otherwise.
    static func makePrivateDirectory(_ path: String) throws -> Bool {
        if mkdir(path, 0o700) == 0 { return true }
        let failure = errno
        var info = stat()
        guard failure == EEXIST, lstat(path, &info) == 0 else {
            throw ModelProxyError("cannot create the model proxy's directory \(path): \(String(cString: strerror(failure)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw ModelProxyError("the model proxy's directory \(path) must be a directory of this user with mode 0700 (it is mode \(String(info.st_mode & 0o7777, radix: 8)), owner \(info.st_uid))")
        }
        return false
    }

    /// Starts listening on `socketPath` (an existing file there is replaced) and returns once it accepts
    /// connections. The socket's directory is the proxy's own: created with mode 0700 when missing, and
    /// refused when it exists but is not a directory of this user closed to group and others — the socket
    /// is reachable through it alone, so that the moment between bind and chmod 0600 opens nothing. A path
    /// longer than `maxSocketPathBytes` is refused (nothing is bound, the error says so).
    package static func start(socketPath: String, upstream: String, apiKey: String, prices: PriceTable,
                              logger: Logger) async throws -> ModelProxy {
        guard socketPath.utf8.count <= maxSocketPathBytes else {
            throw ModelProxyError("the model proxy's socket path \(socketPath) is longer than \(maxSocketPathBytes) bytes; use a shorter PUSHBOX_HOME")
        }
        let createdDirectory = try makePrivateDirectory(URL(fileURLWithPath: socketPath).deletingLastPathComponent().path)
        unlink(socketPath)
        let proxy = ModelProxy(socketPath: socketPath, upstream: upstream, apiKey: apiKey, prices: prices,
                               removesDirectory: createdDirectory, logger: logger)
        // Hummingbird's own messages (a stopped server "errors" on its cancelled channels) stay out of the
        // daemon's log; the proxy's decisions are logged with `logger`.
        var serverLogger = logger
        serverLogger.logLevel = .critical
        let (running, runningContinuation) = AsyncStream<Bool>.makeStream()
        let app = Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in await proxy.respond(to: request) },
            configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "pushbox-model-proxy"),
            onServerRunning: { _ in
                chmod(socketPath, 0o600)
                runningContinuation.yield(true)
                runningContinuation.finish()
            },
            logger: serverLogger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        let watcher = Task { _ = await task.result; runningContinuation.finish() }
        var started = false
        for await value in running {
            started = value
            break
        }
        watcher.cancel()
        guard started else {
            task.cancel()
            if createdDirectory { rmdir(URL(fileURLWithPath: socketPath).deletingLastPathComponent().path) }
            throw ModelProxyError("the model proxy did not start on \(socketPath): \(String(describing: await task.result))")
        }
        proxy.service.withLock { $0 = task }
        return proxy
    }

    /// Stops listening and removes the socket, and its directory when `start` created it and nothing else
    /// is left in it (forwarders remove their logs there when they stop). Idempotent.
    package func stop() async {
        guard let task = service.withLock({ let task = $0; $0 = nil; return task }) else { return }
        task.cancel()
        _ = await task.result
        unlink(socketPath)
        if removesDirectory { rmdir(URL(fileURLWithPath: socketPath).deletingLastPathComponent().path) }
    }

    // MARK: Sessions

    /// Registers an attempt: its token (random, 256 bits) and budgets; the wall time starts now.
    package func openSession(budget: ModelSessionBudget) -> (id: String, token: String) {
        let id = UUID().uuidString
        var generator = SystemRandomNumberGenerator()
        let token = "pbx-attempt-" + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        sessions.withLock { $0[id] = Session(token: token, budget: budget, opened: .now) }
        return (id, token)
    }

    /// Revokes the session's token (later requests get 401) and returns its usage.
    package func closeSession(_ id: String) -> ModelSessionUsage {
        sessions.withLock { $0.removeValue(forKey: id)?.usage } ?? ModelSessionUsage()
    }

    /// The usage so far of an open session.
    package func usage(of id: String) -> ModelSessionUsage? {
        sessions.withLock { $0[id]?.usage }
    }

    /// The session whose token is `token`, compared in constant time against every open session.
    private func session(for token: String) -> String? {
        sessions.withLock { sessions in
            var found: String?
            for (id, session) in sessions where ProxyRules.constantTimeEquals(session.token, token) { found = id }
            return found
        }
    }

    // MARK: Requests

    private func respond(to request: Request) async -> Response {
        var incoming: [(name: String, value: String)] = []
        for field in request.headers { incoming.append((field.name.canonicalName, field.value)) }
        guard let token = ProxyRules.token(in: incoming), let id = session(for: token) else {
            return Self.answer(ProxyRules.badToken)
        }
        let pathAndQuery = request.uri.description
        guard let route = ProxyRules.route(method: request.method.rawValue, path: pathAndQuery) else {
            return Self.answer(ProxyRules.notFound)
        }
        let body: Data
        do {
            body = Data(try await request.body.collect(upTo: ProxyRules.maxRequestBytes).readableBytesView)
        } catch {
            return Self.answer(ProxyRefusal(status: 413, type: "request_too_large",
                                            message: "pushbox model proxy: the request body is larger than \(ProxyRules.maxRequestBytes) bytes"))
        }
        let checked: ProxyRules.CheckedBody
        switch ProxyRules.checkRequestBody(body) {
        case .failure(let refusal):
            logger.notice("model proxy refused a request body", metadata: ["path": "\(pathAndQuery)", "reason": "\(refusal.message)"])
            return Self.answer(refusal)
        case .success(let body): checked = body
        }
        if !checked.removedTools.isEmpty {
            logger.notice("model proxy removed server tools from a request",
                          metadata: ["path": "\(pathAndQuery)", "tools": "\(checked.removedTools.joined(separator: ","))"])
        }
        let model = route == .messages ? checked.model : nil
        let price = model.flatMap(prices.price(for:))
        if route == .messages, price == nil { return Self.answer(ProxyRules.noPrice(for: model)) }
        let reservation = price.map { ProxyRules.reservation(maxTokens: checked.maxTokens, price: $0) } ?? 0
        // Admission reserves the turn and the request's output cost, so that parallel requests cannot pass
        // the budgets together; `record` settles both.
        let admitted: Result<Duration, ProxyRefusal> = sessions.withLock { sessions in
            guard var session = sessions[id] else { return .failure(ProxyRules.badToken) }
            let elapsed = ContinuousClock.now - session.opened
            if let refusal = ProxyRules.admit(route, turnsAdmitted: session.turnsAdmitted, spentUSD: session.usage.costUSD,
                                              reservedUSD: session.reservedUSD, elapsed: elapsed, budget: session.budget) {
                if let budget = refusal.budget, !session.usage.refusals.contains(budget) { session.usage.refusals.append(budget) }
                sessions[id] = session
                return .failure(refusal)
            }
            if route == .messages {
                session.turnsAdmitted += 1
                session.reservedUSD += reservation
            }
            sessions[id] = session
            return .success(session.budget.wallTime - elapsed)
        }
        let remaining: Duration
        switch admitted {
        case .failure(let refusal):
            logger.notice("model proxy refused a request", metadata: ["budget": "\(refusal.budget?.rawValue ?? "-")", "status": "\(refusal.status)"])
            return Self.answer(refusal)
        case .success(let left): remaining = left
        }
        let started = ContinuousClock.now
        let upstreamRequest = HTTP.HTTPRequest(
            .post, ProxyRules.upstreamURL(base: upstream, pathAndQuery: pathAndQuery),
            headers: HTTPHeaders(ProxyRules.upstreamHeaders(incoming, apiKey: apiKey)), body: .data(checked.body),
            connectTimeout: Self.upstreamConnectTimeout, timeout: remaining)
        let response: HTTPStreamingResponse
        do {
            response = try await http.stream(upstreamRequest)
        } catch {
            record(id, route: route, status: 0, message: nil, price: price, reservation: reservation, started: started)
            logger.warning("model proxy: upstream failed", metadata: ["upstream": "\(upstream)", "error": "\(error)"])
            return Self.answer(ProxyRefusal(status: 502, type: "api_error", message: "pushbox model proxy: the model API did not answer: \(error)"),
                               retryable: true)
        }
        var fields = HTTPFields()
        for field in ProxyRules.downstreamHeaders(response.head.headers.fields) {
            if let name = HTTPField.Name(field.name) { fields.append(HTTPField(name: name, value: field.value)) }
        }
        let status = response.status
        let contentType = response.head.headers["content-type"]
        let upstreamBody = response.body
        let streamed = ResponseBody { [self] writer in
            var scanner = UsageScanner(contentType: contentType)
            do {
                for try await chunk in upstreamBody {
                    scanner.feed(chunk)
                    try await writer.write(ByteBuffer(bytes: chunk))
                }
            } catch {
                // The client went away or the upstream broke off: what passed is still recorded.
                record(id, route: route, status: status, message: scanner.finish(), price: price, reservation: reservation,
                       started: started)
                throw error
            }
            record(id, route: route, status: status, message: scanner.finish(), price: price, reservation: reservation,
                       started: started)
            try await writer.finish(nil)
        }
        return Response(status: .init(code: status), headers: fields, body: streamed)
    }

    /// Books one forwarded request. Its reservation is released; a Messages answer other than 200 gives
    /// its turn back (a 429 the client retries is not a turn); a 200 adds a turn with its usage and cost.
    private func record(_ id: String, route: ProxyRoute, status: Int, message: ScannedMessage?, price: ModelPrice?,
                        reservation: Double, started: ContinuousClock.Instant) {
        let duration = ContinuousClock.now - started
        sessions.withLock { sessions in
            guard var session = sessions[id] else { return }
            session.usage.requests += 1
            if route == .messages {
                session.reservedUSD = max(0, session.reservedUSD - reservation)
                if status == 200, let message {
                    let cost = price?.cost(of: message.usage) ?? 0
                    session.usage.turns.append(TurnRecord(
                        turn: session.usage.turns.count + 1, messageID: message.id, stopReason: message.stopReason,
                        usage: message.usage, costUSD: cost, durationSeconds: Double(duration.components.seconds)
                            + Double(duration.components.attoseconds) / 1e18))
                    session.usage.usage += message.usage
                    session.usage.costUSD += cost
                } else if status != 200 {
                    session.turnsAdmitted -= 1
                }
            }
            sessions[id] = session
        }
    }

    private static func answer(_ refusal: ProxyRefusal, retryable: Bool = false) -> Response {
        var fields = HTTPFields()
        for field in refusal.headers where !(retryable && field.name == "x-should-retry") {
            if let name = HTTPField.Name(field.name) { fields.append(HTTPField(name: name, value: field.value)) }
        }
        return Response(status: .init(code: refusal.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: refusal.body)))
    }
}

/// The model proxy could not start.
package struct ModelProxyError: Error, CustomStringConvertible, Sendable {
    package var description: String
    package init(_ description: String) { self.description = description }
}
