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

    @Test("budgets: turns, cost (spent + reserved in flight) and wall time refuse a Messages request; token counting only the wall time",
          arguments: [
        (ProxyRoute.messages, 0, 0.0, 0.0, 1, nil as ModelBudgetLimit?),
        (.messages, 2, 0.49, 0.0, 59, nil),
        (.messages, 3, 0.0, 0.0, 1, .turns),
        (.messages, 1, 0.5, 0.0, 1, .cost),
        (.messages, 1, 0.7, 0.0, 1, .cost),
        // Requests in flight: their reservations count as spent until their answers settle them.
        (.messages, 1, 0.0, 0.5, 1, .cost),
        (.messages, 1, 0.2, 0.3, 1, .cost),
        (.messages, 1, 0.2, 0.29, 1, nil),
        (.messages, 0, 0.0, 0.0, 60, .wallTime),
        (.countTokens, 3, 9.0, 9.0, 1, nil),
        (.countTokens, 0, 0.0, 0.0, 61, .wallTime),
    ])
    func admission(_ route: ProxyRoute, _ turns: Int, _ spent: Double, _ reserved: Double, _ seconds: Int, _ budget: ModelBudgetLimit?) {
        let refusal = ProxyRules.admit(route, turnsAdmitted: turns, spentUSD: spent, reservedUSD: reserved, elapsed: .seconds(seconds),
                                       budget: Self.budget)
        #expect(refusal?.budget == budget)
        if let refusal {
            #expect(refusal.status == 403 && refusal.type == "permission_error" && refusal.message.hasPrefix("pushbox model proxy: "))
        }
        if budget == .cost, reserved > 0 { #expect(refusal?.message.contains("reserved by requests in flight") == true, "\(refusal?.message ?? "")") }
    }

    @Test("a reservation is max_tokens at the output price; nothing for the input, nothing without max_tokens", arguments: [
        (32_000 as Int?, 0.48),
        (1_000, 0.015),
        (0, 0.0),
        (-5, 0.0),
        (nil, 0.0),
    ])
    func reservation(_ maxTokens: Int?, _ dollars: Double) {
        let price = ModelPrice(input: 3, output: 15)
        #expect(abs(ProxyRules.reservation(maxTokens: maxTokens, price: price) - dollars) < 1e-12)
    }

    static let tail = #""max_tokens":100,"messages":[{"role":"user","content":"hi"}]"#

    @Test("bodies that make the API reach an address of its choosing are refused with a 400 that names the field", arguments: [
        ("[1,2]", "not a JSON object"),
        ("not json", "not a JSON object"),
        ("", "not a JSON object"),
        (#""model""#, "not a JSON object"),
        (#"{"model":"m",\#(tail),"mcp_servers":[{"type":"url","url":"https://evil.example/sse","name":"x"}]}"#, "mcp_servers is refused: MCP servers"),
        (#"{"model":"m",\#(tail),"mcp_servers":[]}"#, "mcp_servers is refused"),
        (#"{"model":"m",\#(tail),"container":"container_011"}"#, "container is refused: code-execution"),
        (#"{"model":"m",\#(tail),"container":{"id":"c","skills":[]}}"#, "container is refused"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://evil.example/?k=v"}}]}]}"#,
         "messages[0].content[0].source is refused: a source of type url"),
        (#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"document","source":{"type":"url","url":"https://e.example/a.pdf"}}]}]}]}"#,
         "messages[0].content[0].content[0].source is refused"),
        (#"{"model":"m","max_tokens":1,"system":[{"type":"text","text":"x"},{"type":"document","source":{"type":"url","url":"https://e.example"}}],"messages":[]}"#,
         "system[1].source is refused"),
    ])
    func refusedBodies(_ body: String, _ message: String) throws {
        guard case .failure(let refusal) = ProxyRules.checkRequestBody(Data(body.utf8)) else {
            Issue.record("\(body) was not refused")
            return
        }
        #expect(refusal.status == 400 && refusal.type == "invalid_request_error" && refusal.budget == nil)
        #expect(refusal.message.hasPrefix("pushbox model proxy: ") && refusal.message.contains(message), "\(refusal.message)")
        let error = try #require((try JSONSerialization.jsonObject(with: refusal.body) as? [String: Any])?["error"] as? [String: Any])
        #expect(error["type"] as? String == "invalid_request_error")
    }

    @Test("server tools are removed from tools (and a tool_choice only they satisfy); the rest passes as it is", arguments: [
        // (tools, tool_choice, tool names kept, types removed, tool_choice kept)
        (#"[{"name":"Bash","input_schema":{"type":"object"}},{"type":"web_fetch_20250910","name":"web_fetch","max_uses":5}]"#,
         nil as String?, ["Bash"], ["web_fetch_20250910"], false),
        (#"[{"type":"web_search_20250305","name":"web_search"},{"type":"code_execution_20250825","name":"code_execution"},{"type":"mcp_toolset","mcp_server_name":"x"},{"type":"custom","name":"Edit","input_schema":{"type":"object"}}]"#,
         nil, ["Edit"], ["web_search_20250305", "code_execution_20250825", "mcp_toolset"], false),
        (#"[{"type":"WEB_FETCH_20250910","name":"f"},{"type":"bash_20250124","name":"bash"},{"type":"text_editor_20250728","name":"str_replace_based_edit_tool"}]"#,
         nil, ["bash", "str_replace_based_edit_tool"], ["WEB_FETCH_20250910"], false),
        (#"[{"name":"Bash","input_schema":{"type":"object"}},{"type":"web_fetch_20250910","name":"web_fetch"}]"#,
         #"{"type":"tool","name":"web_fetch"}"#, ["Bash"], ["web_fetch_20250910"], false),
        (#"[{"name":"Bash","input_schema":{"type":"object"}},{"type":"web_fetch_20250910","name":"web_fetch"}]"#,
         #"{"type":"tool","name":"Bash"}"#, ["Bash"], ["web_fetch_20250910"], true),
        (#"[{"type":"web_search_20250305","name":"web_search"}]"#, #"{"type":"any"}"#, [], ["web_search_20250305"], false),
        (#"[{"type":"web_search_20250305","name":"web_search"}]"#, #"{"type":"auto"}"#, [], ["web_search_20250305"], true),
    ])
    func serverTools(_ tools: String, _ choice: String?, _ kept: [String], _ removed: [String], _ choiceKept: Bool) throws {
        let body = #"{"model":"claude-sonnet-5-5","max_tokens":100,"temperature":0.5,"tools":\#(tools)"# + (choice.map { #","tool_choice":\#($0)"# } ?? "")
            + #","messages":[{"role":"user","content":"hi"}]}"#
        let checked = try ProxyRules.checkRequestBody(Data(body.utf8)).get()
        #expect(checked.removedTools == removed)
        #expect(checked.model == "claude-sonnet-5-5" && checked.maxTokens == 100)
        let object = try #require(try JSONSerialization.jsonObject(with: checked.body) as? [String: Any])
        let names = (object["tools"] as? [[String: Any]] ?? []).map { $0["name"] as? String ?? "" }
        #expect(names == kept)
        #expect((object["tool_choice"] != nil) == choiceKept)
        #expect(object["temperature"] as? Double == 0.5 && (object["messages"] as? [Any])?.count == 1)
        #expect(!String(decoding: checked.body, as: UTF8.self).contains(removed[0]))
    }

    @Test("a body with nothing to remove goes upstream byte for byte", arguments: [
        #"{"model":"claude-sonnet-5-5","max_tokens":32000,"stream":true,"temperature":1.0,"metadata":{"user_id":"u"},"tools":[{"name":"Bash","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}]}]}"#,
        #"{ "model" : "m", "messages" : [] }"#,
    ])
    func unchanged(_ body: String) throws {
        let checked = try ProxyRules.checkRequestBody(Data(body.utf8)).get()
        #expect(checked.body == Data(body.utf8) && checked.removedTools.isEmpty)
    }

    @Test("anthropic-beta flags that only enable server tools or MCP are dropped; the others pass", arguments: [
        ("claude-code-20250219,interleaved-thinking-2025-05-14", "claude-code-20250219,interleaved-thinking-2025-05-14" as String?),
        ("claude-code-20250219, mcp-client-2025-04-04,web-fetch-2025-09-10", "claude-code-20250219"),
        ("code-execution-2025-08-25", nil),
        ("MCP-Client-2025-11-20 , fine-grained-tool-streaming-2025-05-14", "fine-grained-tool-streaming-2025-05-14"),
    ])
    func betas(_ value: String, _ kept: String?) {
        let out = ProxyRules.upstreamHeaders([("anthropic-beta", value), ("anthropic-version", "2023-06-01")], apiKey: "k")
        #expect(out.first { $0.name == "anthropic-beta" }?.value == kept)
        #expect(out.contains { $0.name == "anthropic-version" })
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
