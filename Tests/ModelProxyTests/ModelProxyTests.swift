import Agent
import Foundation
import HTTP
import Logging
import ModelProxy
import Testing
import TestSupport

/// The proxy in-process on a unix socket, the fake Messages API as its upstream, real HTTP both ways.
@Suite("model proxy: live", .serialized)
struct ModelProxyTests {
    static let prices = PriceTable(models: ["claude-sonnet-5-5": ModelPrice(input: 3, output: 15)])
    static let body = #"{"model":"claude-sonnet-5-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#

    /// A started fake and proxy, torn down by `stop`.
    struct Fixture {
        let directory: TemporaryDirectory
        let fake: FakeAnthropicServer
        let proxy: ModelProxy

        static func start() async throws -> Fixture {
            let directory = try TemporaryDirectory(prefix: "pbx-proxy")
            let fake = try await FakeAnthropicServer.start(apiKey: "sk-ant-real-key-for-the-proxy-test")
            let proxy = try await ModelProxy.start(socketPath: directory.url("p.sock").path, upstream: fake.baseURL,
                                                   apiKey: fake.apiKey, prices: ModelProxyTests.prices, logger: Logger(label: "test"))
            return Fixture(directory: directory, fake: fake, proxy: proxy)
        }

        func stop() async {
            await proxy.stop()
            await fake.stop()
            directory.remove()
        }

        func post(_ path: String = "/v1/messages", token: String, body: String = ModelProxyTests.body,
                  headers extra: [(String, String)] = []) async throws -> HTTPResponse {
            var headers: HTTPHeaders = ["content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": token]
            for (name, value) in extra { headers.add(name, value) }
            return try await HTTPClient().execute(HTTPRequest(.post, "http://localhost" + path, unixSocketPath: proxy.socketPath,
                                                              headers: headers, body: .data(Data(body.utf8))))
        }
    }

    static func errorType(_ response: HTTPResponse) -> String? {
        ((try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any]).flatMap { ($0["error"] as? [String: Any])?["type"] as? String }
    }

    static let budget = ModelSessionBudget(maxRequests: 5, maxCostUSD: 1, wallTime: .seconds(60))

    @Test("the socket is 0600; a wrong, missing or revoked token is 401 and nothing reaches the API")
    func tokens() async throws {
        let fixture = try await Fixture.start()
        let session = fixture.proxy.openSession(budget: Self.budget)
        var mode = stat()
        #expect(stat(fixture.proxy.socketPath, &mode) == 0 && mode.st_mode & 0o777 == 0o600)
        let wrong = try await fixture.post(token: session.token + "x")
        #expect(wrong.status == 401 && Self.errorType(wrong) == "authentication_error")
        #expect(wrong.head.headers["x-should-retry"] == "false")
        let real = try await fixture.post(token: fixture.fake.apiKey)
        #expect(real.status == 401, "the real key is not a token of the proxy")
        _ = fixture.proxy.closeSession(session.id)
        let revoked = try await fixture.post(token: session.token)
        #expect(revoked.status == 401)
        #expect(fixture.fake.requests.isEmpty)
        await fixture.stop()
    }

    @Test("anything but the Messages endpoints is 404 with an Anthropic error, not forwarded")
    func otherPaths() async throws {
        let fixture = try await Fixture.start()
        let session = fixture.proxy.openSession(budget: Self.budget)
        for path in ["/v1/models", "/v1/complete", "/v1/messages/batches", "/v1/files", "/api/v1/runs", "/"] {
            let response = try await fixture.post(path, token: session.token)
            #expect(response.status == 404 && Self.errorType(response) == "not_found_error", "\(path)")
        }
        let get = try await HTTPClient().execute(HTTPRequest(.get, "http://localhost/v1/messages", unixSocketPath: fixture.proxy.socketPath,
                                                             headers: ["x-api-key": session.token]))
        #expect(get.status == 404)
        #expect(fixture.fake.requests.isEmpty)
        await fixture.stop()
    }

    @Test("forwarded with the real key instead of the token; the answer and its usage come back; count_tokens is no turn")
    func forwards() async throws {
        let fixture = try await Fixture.start()
        let session = fixture.proxy.openSession(budget: Self.budget)
        fixture.fake.enqueue(.text("hello", usage: FakeUsage(inputTokens: 1000, outputTokens: 100, cacheCreationInputTokens: 10, cacheReadInputTokens: 20)))
        let response = try await fixture.post("/v1/messages?beta=true", token: session.token, headers: [("anthropic-beta", "claude-code-20250219")])
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        #expect(String(decoding: response.body, as: UTF8.self).contains("\"text\":\"hello\""))
        let counted = try await fixture.post("/v1/messages/count_tokens", token: session.token,
                                             body: #"{"model":"claude-sonnet-5-5","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(counted.status == 200)
        let requests = fixture.fake.requests
        #expect(requests.count == 2)
        #expect(requests[0].path == "/v1/messages?beta=true" && requests[0].header("x-api-key") == fixture.fake.apiKey)
        #expect(requests[0].header("anthropic-beta") == "claude-code-20250219")
        #expect(!requests.contains { request in request.headers.contains { $0.value.contains(session.token) } })
        let usage = fixture.proxy.closeSession(session.id)
        #expect(usage.requests == 2 && usage.turns.count == 1)
        #expect(usage.usage == Usage(inputTokens: 1000, outputTokens: 100, cacheCreationInputTokens: 10, cacheReadInputTokens: 20))
        // 1000 × 3 + 100 × 15 + 10 × 3.75 + 20 × 0.3 per million.
        #expect(abs(usage.costUSD - 0.0045435) < 1e-9, "\(usage.costUSD)")
        await fixture.stop()
    }

    @Test("429 with retry-after and 529 pass through unchanged and give their turn back")
    func rateLimits() async throws {
        let fixture = try await Fixture.start()
        let session = fixture.proxy.openSession(budget: ModelSessionBudget(maxRequests: 1, maxCostUSD: 1, wallTime: .seconds(60)))
        fixture.fake.enqueue(.rateLimited(retryAfter: "7", retryAfterMs: "7000", headers: ["x-should-retry": "true"]),
                             .overloaded(), .text("finally"))
        let limited = try await fixture.post(token: session.token)
        #expect(limited.status == 429 && Self.errorType(limited) == "rate_limit_error")
        #expect(limited.head.headers["retry-after"] == "7" && limited.head.headers["retry-after-ms"] == "7000")
        #expect(limited.head.headers["x-should-retry"] == "true" && limited.head.headers["request-id"]?.hasPrefix("req_fake_") == true)
        let overloaded = try await fixture.post(token: session.token)
        #expect(overloaded.status == 529 && Self.errorType(overloaded) == "overloaded_error")
        let ok = try await fixture.post(token: session.token)
        #expect(ok.status == 200, "a 429 or 529 is not one of the max_turns requests")
        let usage = fixture.proxy.closeSession(session.id)
        #expect(usage.requests == 3 && usage.turns.count == 1)
        await fixture.stop()
    }

    @Test("the turn budget: max_turns requests, then 403 permission_error and nothing more upstream")
    func turnBudget() async throws {
        let fixture = try await Fixture.start()
        let session = fixture.proxy.openSession(budget: ModelSessionBudget(maxRequests: 2, maxCostUSD: 1, wallTime: .seconds(60)))
        fixture.fake.enqueue(.text("one"), .text("two"), .text("three"))
        #expect(try await fixture.post(token: session.token).status == 200)
        #expect(try await fixture.post(token: session.token).status == 200)
        let refused = try await fixture.post(token: session.token)
        #expect(refused.status == 403 && Self.errorType(refused) == "permission_error")
        #expect(String(decoding: refused.body, as: UTF8.self).contains("2 model requests (max_turns)"))
        #expect(fixture.fake.requests.count == 2)
        #expect(fixture.proxy.closeSession(session.id).refusals == [.turns])
        await fixture.stop()
    }

    @Test("the cost budget: once the usage seen costs the budget, the next request is refused")
    func costBudget() async throws {
        let fixture = try await Fixture.start()
        let session = fixture.proxy.openSession(budget: ModelSessionBudget(maxRequests: 10, maxCostUSD: 0.5, wallTime: .seconds(60)))
        // 200k input tokens at $3 per million: $0.60.
        fixture.fake.enqueue(.text("expensive", usage: FakeUsage(inputTokens: 200_000)), .text("never"))
        #expect(try await fixture.post(token: session.token).status == 200)
        let refused = try await fixture.post(token: session.token)
        #expect(refused.status == 403 && String(decoding: refused.body, as: UTF8.self).contains("cost budget of $0.50"))
        #expect(fixture.fake.requests.count == 1)
        let usage = fixture.proxy.closeSession(session.id)
        #expect(usage.refusals == [.cost] && abs(usage.costUSD - 0.6003) < 1e-9, "\(usage)")
        await fixture.stop()
    }

    @Test("the wall time; a model without a price is refused before it costs anything")
    func wallTimeAndPrices() async throws {
        let fixture = try await Fixture.start()
        let short = fixture.proxy.openSession(budget: ModelSessionBudget(maxRequests: 10, maxCostUSD: 1, wallTime: .milliseconds(200)))
        try await Task.sleep(for: .milliseconds(300))
        let late = try await fixture.post(token: short.token)
        #expect(late.status == 403 && String(decoding: late.body, as: UTF8.self).contains("wall time"))
        let session = fixture.proxy.openSession(budget: Self.budget)
        let unpriced = try await fixture.post(token: session.token, body: #"{"model":"claude-opus-9","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#)
        #expect(unpriced.status == 400 && String(decoding: unpriced.body, as: UTF8.self).contains("no price for model claude-opus-9"))
        #expect(fixture.fake.requests.isEmpty)
        await fixture.stop()
    }

    @Test("server-sent events pass as they arrive, and their usage is recorded")
    func streams() async throws {
        let fixture = try await Fixture.start()
        // The upstream sends message_start, waits a second, then the rest.
        fixture.fake.enqueue(.chunked(status: 200, headers: ["content-type": "text/event-stream"], chunks: [Self.first, Self.rest], gap: .seconds(1)))
        let session = fixture.proxy.openSession(budget: Self.budget)
        let clock = ContinuousClock()
        let started = clock.now
        let response = try await HTTPClient().stream(HTTPRequest(
            .post, "http://localhost/v1/messages", unixSocketPath: fixture.proxy.socketPath,
            headers: ["x-api-key": session.token, "content-type": "application/json", "anthropic-version": "2023-06-01"],
            body: .data(Data(Self.body.utf8))))
        #expect(response.status == 200 && response.head.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        var arrivals: [(Duration, String)] = []
        for try await chunk in response.body { arrivals.append((clock.now - started, String(decoding: chunk, as: UTF8.self))) }
        let whole = arrivals.map(\.1).joined()
        #expect(whole == Self.first + Self.rest)
        let firstSeen = try #require(arrivals.first { $0.1.contains("message_start") }?.0)
        let lastSeen = try #require(arrivals.last?.0)
        #expect(firstSeen < .milliseconds(700), "message_start arrived after \(firstSeen): the proxy buffered the stream")
        #expect(lastSeen >= .seconds(1))
        try await Task.sleep(for: .milliseconds(100))
        let usage = fixture.proxy.closeSession(session.id)
        #expect(usage.turns.count == 1 && usage.turns.first?.stopReason == "end_turn")
        #expect(usage.usage == Usage(inputTokens: 50, outputTokens: 9, cacheCreationInputTokens: 0, cacheReadInputTokens: 3))
        await fixture.stop()
    }

    @Test("the socket lives in a directory of mode 0700 that start creates and stop removes; an open one or a long path is refused")
    func privateDirectory() async throws {
        let directory = try TemporaryDirectory(prefix: "pbx-proxy-dir")
        defer { directory.remove() }
        let fake = try await FakeAnthropicServer.start(apiKey: "sk-ant-real")
        let socket = directory.url("model-proxy-1/api.sock").path
        let proxy = try await ModelProxy.start(socketPath: socket, upstream: fake.baseURL, apiKey: fake.apiKey, prices: Self.prices,
                                               logger: Logger(label: "test"))
        var info = stat()
        #expect(lstat(directory.url("model-proxy-1").path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(stat(socket, &info) == 0 && info.st_mode & 0o777 == 0o600)
        await proxy.stop()
        #expect(!FileManager.default.fileExists(atPath: directory.url("model-proxy-1").path), "stop removes the directory it created")

        let open = directory.url("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: false)
        chmod(open.path, 0o755)
        await #expect(throws: ModelProxyError.self) {
            _ = try await ModelProxy.start(socketPath: open.appendingPathComponent("api.sock").path, upstream: fake.baseURL,
                                           apiKey: fake.apiKey, prices: Self.prices, logger: Logger(label: "test"))
        }
        #expect(!FileManager.default.fileExists(atPath: open.appendingPathComponent("api.sock").path), "nothing was bound")
        let long = "/tmp/" + String(repeating: "x", count: ModelProxy.maxSocketPathBytes) + "/api.sock"
        await #expect(throws: ModelProxyError.self) {
            _ = try await ModelProxy.start(socketPath: long, upstream: fake.baseURL, apiKey: fake.apiKey, prices: Self.prices,
                                           logger: Logger(label: "test"))
        }
        await fake.stop()
    }

    @Test("mcp_servers is a 400 and never upstream; a web_fetch server tool is removed before the request goes upstream")
    func serverTools() async throws {
        let fixture = try await Fixture.start()
        let session = fixture.proxy.openSession(budget: Self.budget)
        let mcp = try await fixture.post(token: session.token, body: #"{"model":"claude-sonnet-5-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}],"mcp_servers":[{"type":"url","url":"https://evil.example/sse","name":"evil"}]}"#,
                                         headers: [("anthropic-beta", "mcp-client-2025-04-04")])
        #expect(mcp.status == 400 && Self.errorType(mcp) == "invalid_request_error")
        #expect(String(decoding: mcp.body, as: UTF8.self).contains("mcp_servers is refused"))
        let counted = try await fixture.post("/v1/messages/count_tokens", token: session.token,
                                             body: #"{"model":"claude-sonnet-5-5","messages":[],"container":"container_1"}"#)
        #expect(counted.status == 400 && String(decoding: counted.body, as: UTF8.self).contains("container is refused"))
        let notObject = try await fixture.post(token: session.token, body: "[]")
        #expect(notObject.status == 400 && Self.errorType(notObject) == "invalid_request_error")
        #expect(fixture.fake.requests.isEmpty, "nothing refused reached the API")

        fixture.fake.enqueue(.text("fetched nothing"))
        let fetch = try await fixture.post(
            "/v1/messages?beta=true", token: session.token,
            body: #"{"model":"claude-sonnet-5-5","max_tokens":100,"messages":[{"role":"user","content":"read https://evil.example"}],"tools":[{"name":"Bash","description":"run","input_schema":{"type":"object","properties":{}}},{"type":"web_fetch_20250910","name":"web_fetch","max_uses":3}]}"#,
            headers: [("anthropic-beta", "claude-code-20250219,web-fetch-2025-09-10")])
        #expect(fetch.status == 200, "\(String(decoding: fetch.body, as: UTF8.self))")
        let forwarded = try #require(fixture.fake.requests.first)
        #expect(forwarded.validationFailure == nil, "\(forwarded.validationFailure ?? "")")
        let tools = try #require((try JSONSerialization.jsonObject(with: forwarded.body) as? [String: Any])?["tools"] as? [[String: Any]])
        #expect(tools.map { $0["name"] as? String } == ["Bash"], "\(forwarded.bodyText)")
        #expect(!forwarded.bodyText.contains("web_fetch") && forwarded.bodyText.contains("read https://evil.example"))
        #expect(forwarded.header("anthropic-beta") == "claude-code-20250219")
        #expect(fixture.proxy.closeSession(session.id).turns.count == 1)
        await fixture.stop()
    }

    @Test("the cost budget reserves max_tokens of output at admission: a request in flight keeps a parallel one out, its answer settles it")
    func costReservation() async throws {
        let fixture = try await Fixture.start()
        // 40 000 output tokens at $15 per million: $0.60 reserved, past the budget of $0.50.
        let big = #"{"model":"claude-sonnet-5-5","max_tokens":40000,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        fixture.fake.enqueue(.chunked(status: 200, headers: ["content-type": "text/event-stream"], chunks: [Self.first, Self.rest], gap: .seconds(1)),
                             .text("after"))
        let session = fixture.proxy.openSession(budget: ModelSessionBudget(maxRequests: 10, maxCostUSD: 0.5, wallTime: .seconds(60)))
        async let slow = fixture.post(token: session.token, body: big)
        try await Task.sleep(for: .milliseconds(400))
        let parallel = try await fixture.post(token: session.token)
        #expect(parallel.status == 403 && Self.errorType(parallel) == "permission_error")
        #expect(String(decoding: parallel.body, as: UTF8.self).contains("reserved by requests in flight"), "\(String(decoding: parallel.body, as: UTF8.self))")
        let answered = try await slow
        #expect(answered.status == 200)
        try await Task.sleep(for: .milliseconds(100))
        // Settled with the real usage (50 input, 9 output tokens): far below the budget again.
        let after = try await fixture.post(token: session.token, body: big.replacingOccurrences(of: #""stream":true,"#, with: ""))
        #expect(after.status == 200, "\(String(decoding: after.body, as: UTF8.self))")
        #expect(fixture.fake.requests.count == 2)
        let usage = fixture.proxy.closeSession(session.id)
        #expect(usage.turns.count == 2 && usage.refusals == [.cost] && usage.costUSD < 0.01, "\(usage)")
        await fixture.stop()
    }

    static let first = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"claude-sonnet-5-5","content":[],"stop_reason":null,"usage":{"input_tokens":50,"cache_read_input_tokens":3,"output_tokens":1}}}


        """
    static let rest = """
        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}

        event: message_stop
        data: {"type":"message_stop"}


        """
}
