import Agent
import Foundation
import ModelProxy
import Testing

@Suite("model proxy: pure rules")
struct ProxyRulesTests {
    @Test("only POST to the Messages endpoints is a route; the query does not change it", arguments: [
        ("POST", "/v1/messages", ProxyRoute.messages as ProxyRoute?),
        ("POST", "/v1/messages?beta=true", .messages),
        ("POST", "/v1/messages/count_tokens", .countTokens),
        ("POST", "/v1/messages/count_tokens?beta=true", .countTokens),
        ("GET", "/v1/messages", nil),
        ("POST", "/v1/messages/batches", nil),
        ("POST", "/v1/complete", nil),
        ("GET", "/v1/models", nil),
        ("POST", "/v1/messages/", nil),
        ("POST", "/v1/messages/../files", nil),
        ("POST", "/", nil),
    ])
    func routes(_ method: String, _ path: String, _ route: ProxyRoute?) {
        #expect(ProxyRules.route(method: method, path: path) == route)
    }

    @Test("the token comes from x-api-key, else a bearer authorization", arguments: [
        ([("x-api-key", "tok")], "tok" as String?),
        ([("X-Api-Key", "tok"), ("authorization", "Bearer other")], "tok"),
        ([("authorization", "Bearer tok")], "tok"),
        ([("Authorization", "bearer  tok ")], "tok"),
        ([("authorization", "Basic dG9r")], nil),
        ([("x-api-key", "")], nil),
        ([], nil),
    ])
    func tokens(_ headers: [(String, String)], _ token: String?) {
        #expect(ProxyRules.token(in: headers.map { (name: $0.0, value: $0.1) }) == token)
    }

    @Test("upstream: the real key replaces every credential; hop-by-hop fields go; identity encoding")
    func upstreamHeaders() {
        let incoming: [(name: String, value: String)] = [
            ("Host", "127.0.0.1:4180"), ("X-Api-Key", "pbx-attempt-abc"), ("Authorization", "Bearer pbx-attempt-abc"),
            ("anthropic-version", "2023-06-01"), ("anthropic-beta", "claude-code-20250219"), ("Content-Type", "application/json"),
            ("Content-Length", "42"), ("Connection", "keep-alive"), ("Accept-Encoding", "gzip, br"), ("user-agent", "claude-cli/2.1.330"),
            ("Transfer-Encoding", "chunked"),
        ]
        let out = ProxyRules.upstreamHeaders(incoming, apiKey: "sk-ant-real")
        let names = out.map { $0.name.lowercased() }
        #expect(names == ["anthropic-version", "anthropic-beta", "content-type", "user-agent", "x-api-key", "accept-encoding"])
        #expect(out.first { $0.name == "x-api-key" }?.value == "sk-ant-real")
        #expect(out.first { $0.name == "accept-encoding" }?.value == "identity")
        #expect(!out.contains { $0.value.contains("pbx-attempt-abc") })
    }

    @Test("downstream: status headers, retry and rate-limit fields pass unchanged; length and hop-by-hop fields do not")
    func downstreamHeaders() {
        let upstream: [(name: String, value: String)] = [
            ("retry-after", "7"), ("retry-after-ms", "7000"), ("x-should-retry", "true"), ("request-id", "req_1"),
            ("anthropic-ratelimit-requests-remaining", "0"), ("content-type", "text/event-stream"),
            ("content-length", "99"), ("transfer-encoding", "chunked"), ("connection", "close"),
        ]
        let out = ProxyRules.downstreamHeaders(upstream)
        #expect(out.map(\.name) == ["retry-after", "retry-after-ms", "x-should-retry", "request-id",
                                    "anthropic-ratelimit-requests-remaining", "content-type"])
        #expect(out.map(\.value) == ["7", "7000", "true", "req_1", "0", "text/event-stream"])
    }

    @Test("the upstream URL keeps the base's path and the client's query", arguments: [
        ("https://api.anthropic.com", "/v1/messages?beta=true", "https://api.anthropic.com/v1/messages?beta=true"),
        ("https://api.anthropic.com/", "/v1/messages", "https://api.anthropic.com/v1/messages"),
        ("https://gw.example.org/anthropic", "/v1/messages/count_tokens", "https://gw.example.org/anthropic/v1/messages/count_tokens"),
        ("http://127.0.0.1:8080", "v1/messages", "http://127.0.0.1:8080/v1/messages"),
    ])
    func upstreamURL(_ base: String, _ path: String, _ url: String) {
        #expect(ProxyRules.upstreamURL(base: base, pathAndQuery: path) == url)
    }

    static let budget = ModelSessionBudget(maxRequests: 3, maxCostUSD: 0.5, wallTime: .seconds(60))

    @Test("budgets: turns, cost and wall time refuse a Messages request; token counting only the wall time", arguments: [
        (ProxyRoute.messages, 0, 0.0, 1, nil as String?),
        (.messages, 2, 0.49, 59, nil),
        (.messages, 3, 0.0, 1, "max_turns"),
        (.messages, 1, 0.5, 1, "cost"),
        (.messages, 1, 0.7, 1, "cost"),
        (.messages, 0, 0.0, 60, "wall_time"),
        (.countTokens, 3, 9.0, 1, nil),
        (.countTokens, 0, 0.0, 61, "wall_time"),
    ])
    func admission(_ route: ProxyRoute, _ turns: Int, _ cost: Double, _ seconds: Int, _ budget: String?) {
        let refusal = ProxyRules.admit(route, turnsAdmitted: turns, costUSD: cost, elapsed: .seconds(seconds), budget: Self.budget)
        #expect(refusal?.budget == budget)
        if let refusal {
            #expect(refusal.status == 403 && refusal.type == "permission_error" && refusal.message.hasPrefix("pushbox model proxy: "))
        }
    }

    @Test("a refusal is an Anthropic error body, never retried")
    func refusalBody() throws {
        let body = try #require(try JSONSerialization.jsonObject(with: ProxyRules.badToken.body) as? [String: Any])
        #expect(body["type"] as? String == "error")
        let error = try #require(body["error"] as? [String: Any])
        #expect(error["type"] as? String == "authentication_error" && (error["message"] as? String)?.contains("invalid x-api-key") == true)
        #expect(ProxyRules.badToken.headers.contains { $0.name == "x-should-retry" && $0.value == "false" })
        #expect(ProxyRules.notFound.status == 404 && ProxyRules.notFound.type == "not_found_error")
    }

    @Test("the model of a request body", arguments: [
        (#"{"model":"claude-sonnet-5-5","max_tokens":1}"#, "claude-sonnet-5-5" as String?),
        (#"{"max_tokens":1}"#, nil),
        ("not json", nil),
        (#"["model"]"#, nil),
    ])
    func model(_ body: String, _ model: String?) {
        #expect(ProxyRules.model(ofRequestBody: Data(body.utf8)) == model)
    }

    @Test("constant-time comparison is still a comparison")
    func comparison() {
        #expect(ProxyRules.constantTimeEquals("pbx-attempt-ab", "pbx-attempt-ab"))
        #expect(!ProxyRules.constantTimeEquals("pbx-attempt-ab", "pbx-attempt-ac"))
        #expect(!ProxyRules.constantTimeEquals("pbx-attempt-ab", "pbx-attempt-a"))
        #expect(!ProxyRules.constantTimeEquals("", "x"))
    }
}

@Suite("model proxy: usage scanner")
struct UsageScannerTests {
    static let events = """
        event: message_start\r
        data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-5-5","content":[],"stop_reason":null,"usage":{"input_tokens":812,"cache_creation_input_tokens":30,"cache_read_input_tokens":400,"output_tokens":1}}}\r
        \r
        event: ping
        data: {"type":"ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"data: {\\"type\\":\\"message_delta\\"}"}}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":41}}

        event: message_stop
        data: {"type":"message_stop"}

        """

    @Test("server-sent events: input and cache tokens from message_start, output and stop from message_delta, at any chunking",
          arguments: [1, 7, 64, 100_000])
    func events(_ chunkSize: Int) throws {
        var scanner = UsageScanner(contentType: "text/event-stream; charset=utf-8")
        let bytes = Data(Self.events.utf8)
        var offset = 0
        while offset < bytes.count {
            scanner.feed(bytes.subdata(in: offset..<min(bytes.count, offset + chunkSize)))
            offset += chunkSize
        }
        let finished = scanner.finish()
        let message = try #require(finished)
        #expect(message == ScannedMessage(id: "msg_1", model: "claude-sonnet-5-5", stopReason: "tool_use",
                                          usage: Usage(inputTokens: 812, outputTokens: 41, cacheCreationInputTokens: 30, cacheReadInputTokens: 400)))
    }

    @Test("a JSON message; an error body and a cut stream give nothing")
    func json() throws {
        var scanner = UsageScanner(contentType: "application/json")
        scanner.feed(Data(#"{"id":"msg_2","type":"message","model":"m","stop_reason":"end_turn","usage":{"input_tokens":5,"#.utf8))
        scanner.feed(Data(#""output_tokens":6,"cache_read_input_tokens":null}}"#.utf8))
        let finished = scanner.finish()
        #expect(finished == ScannedMessage(id: "msg_2", model: "m", stopReason: "end_turn", usage: Usage(inputTokens: 5, outputTokens: 6)))
        var error = UsageScanner(contentType: "application/json")
        error.feed(Data(#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#.utf8))
        let none = error.finish()
        #expect(none == nil)
        var cut = UsageScanner(contentType: "text/event-stream")
        cut.feed(Data("event: ping\ndata: {\"type\":\"ping\"}\n\nevent: message_start\ndata: {\"type\":\"mess".utf8))
        let cutShort = cut.finish()
        #expect(cutShort == nil)
    }
}
