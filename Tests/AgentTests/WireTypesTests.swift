@testable import Agent
import Foundation
import Testing

/// Parses JSON text into a plain object for key-level assertions.
private func object(_ data: Data) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

@Suite("Messages API wire types")
struct WireTypesTests {
    /// notes §4, verbatim (ids shortened only by the notes themselves).
    static let goldenResponse = """
        {"id": "msg_01abc", "type": "message", "role": "assistant", "model": "claude-opus-5-5",
         "content": [
           {"type": "text", "text": "The failure is in Calc.swift. Let me read it."},
           {"type": "tool_use", "id": "toolu_01xyz", "name": "read_file", "input": {"path": "Sources/Calc/Calc.swift"}}],
         "stop_reason": "tool_use", "stop_sequence": null,
         "usage": {"input_tokens": 812, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                   "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                   "output_tokens": 41, "service_tier": "standard"}}
        """

    @Test func decodesTheGoldenResponse() throws {
        let response = try MessageResponse.decode(Data(Self.goldenResponse.utf8))
        #expect(response.id == "msg_01abc")
        #expect(response.model == "claude-opus-5-5")
        #expect(response.role == .assistant)
        #expect(response.stopReason == .toolUse)
        #expect(response.stopSequence == nil)
        #expect(response.usage == Usage(inputTokens: 812, outputTokens: 41))
        #expect(response.content.count == 2)
        #expect(response.message.text == "The failure is in Calc.swift. Let me read it.")
        let use = try #require(response.message.toolUses.first)
        #expect(use.id == "toolu_01xyz")
        #expect(use.name == "read_file")
        #expect(use.input["path"]?.stringValue == "Sources/Calc/Calc.swift")
    }

    @Test func responseRoundTripKeepsTheWireFieldNames() throws {
        let response = try MessageResponse.decode(Data(Self.goldenResponse.utf8))
        let encoded = try JSONEncoder().encode(response)
        let json = try object(encoded)
        #expect(json["stop_reason"] as? String == "tool_use")
        let usage = try #require(json["usage"] as? [String: Any])
        #expect(usage["input_tokens"] as? Int == 812)
        #expect(usage["cache_read_input_tokens"] as? Int == 0)
        let content = try #require(json["content"] as? [[String: Any]])
        #expect(content[1]["type"] as? String == "tool_use")
        #expect((content[1]["input"] as? [String: Any])?["path"] as? String == "Sources/Calc/Calc.swift")
        #expect(try MessageResponse.decode(encoded) == response)
    }

    @Test func toleratesUnknownFieldsNullsAndAbsentOptionalKeys() throws {
        let body = """
            {"id": "msg_2", "type": "message", "role": "assistant", "model": "m", "container": null,
             "stop_details": {"category": "x"}, "brand_new_field": [1, 2],
             "content": [{"type": "text", "text": "hi", "citations": null},
                         {"type": "tool_use", "id": "t1", "name": "search", "input": {"pattern": "x"}, "caller": {"type": "direct"}}],
             "stop_reason": "end_turn",
             "usage": {"input_tokens": 5, "output_tokens": 1, "cache_creation_input_tokens": null, "server_tool_use": null,
                       "inference_geo": "us"}}
            """
        let response = try MessageResponse.decode(Data(body.utf8))
        #expect(response.stopReason == .endTurn)
        #expect(response.usage == Usage(inputTokens: 5, outputTokens: 1))
        #expect(response.message.toolUses.map(\.name) == ["search"])
    }

    @Test func unknownStopReasonAndBlocksArePreserved() throws {
        let body = """
            {"id": "msg_3", "type": "message", "role": "assistant", "model": "m",
             "content": [{"type": "thinking", "thinking": "hmm", "signature": "sig=="},
                         {"type": "redacted_thinking", "data": "abc"}],
             "stop_reason": "some_future_reason", "usage": {"input_tokens": 1, "output_tokens": 2}}
            """
        let response = try MessageResponse.decode(Data(body.utf8))
        #expect(response.stopReason == .other("some_future_reason"))
        #expect(response.stopReason?.rawValue == "some_future_reason")
        #expect(response.content.map(\.type) == ["thinking", "redacted_thinking"])
        // Sent back unchanged: every field of the unknown block survives.
        let echoed = try object(try JSONEncoder().encode(Message(role: .assistant, content: response.content)))
        let blocks = try #require(echoed["content"] as? [[String: Any]])
        #expect(blocks[0]["signature"] as? String == "sig==")
        #expect(blocks[0]["thinking"] as? String == "hmm")
        #expect(blocks[1]["data"] as? String == "abc")
    }

    @Test(arguments: [
        ("end_turn", StopReason.endTurn), ("max_tokens", .maxTokens), ("stop_sequence", .stopSequence),
        ("tool_use", .toolUse), ("pause_turn", .pauseTurn), ("refusal", .refusal),
        ("model_context_window_exceeded", .modelContextWindowExceeded),
    ])
    func everyDocumentedStopReason(raw: String, expected: StopReason) throws {
        #expect(StopReason(rawValue: raw) == expected)
        #expect(expected.rawValue == raw)
    }

    @Test func aBodyThatIsNotAMessageIsAClearError() throws {
        let error = try #require(throws: InvalidResponseError.self) {
            try MessageResponse.decode(Data(#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.utf8))
        }
        #expect(error.description.contains("not a message"))
        #expect(error.description.contains("\"error\""))
        let html = try #require(throws: InvalidResponseError.self) {
            try MessageResponse.decode(Data("<html>Bad gateway</html>".utf8))
        }
        #expect(html.bodyPrefix.contains("Bad gateway"))
        let missing = try #require(throws: InvalidResponseError.self) {
            try MessageResponse.decode(Data(#"{"id":"x","type":"message","role":"assistant","model":"m"}"#.utf8))
        }
        #expect(missing.reason.contains("content"))
    }

    @Test func parsesTheErrorShape() throws {
        let body = #"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_011C"}"#
        let error = try #require(APIErrorBody.parse(Data(body.utf8)))
        #expect(error.error.type == "overloaded_error")
        #expect(error.error.message == "Overloaded")
        #expect(error.requestID == "req_011C")
        #expect(APIErrorBody.parse(Data(Self.goldenResponse.utf8)) == nil)
        #expect(APIErrorBody.parse(Data("not json".utf8)) == nil)
    }

    /// notes §5: the tool_result message, both content forms.
    @Test func toolResultsEncodeAndDecodeLikeTheNotes() throws {
        let golden = """
            {"role": "user", "content": [
              {"type": "tool_result", "tool_use_id": "toolu_01", "content": "func add() { return a - b }"},
              {"type": "tool_result", "tool_use_id": "toolu_02", "content": [{"type": "text", "text": "exit 1: boom"}], "is_error": true}]}
            """
        let message = try JSONDecoder().decode(Message.self, from: Data(golden.utf8))
        #expect(message.content == [
            .toolResult(ToolResultBlock(toolUseID: "toolu_01", content: "func add() { return a - b }")),
            .toolResult(ToolResultBlock(toolUseID: "toolu_02", content: "exit 1: boom", isError: true)),
        ])
        let json = try object(try JSONEncoder().encode(message))
        let blocks = try #require(json["content"] as? [[String: Any]])
        #expect(Set(blocks[0].keys) == ["type", "tool_use_id", "content"])   // is_error omitted when false
        #expect(blocks[1]["is_error"] as? Bool == true)
        #expect(blocks[1]["tool_use_id"] as? String == "toolu_02")
        #expect(try JSONDecoder().decode(Message.self, from: JSONEncoder().encode(message)) == message)
    }

    @Test func stringContentShorthandDecodes() throws {
        let message = try JSONDecoder().decode(Message.self, from: Data(#"{"role":"user","content":"hello"}"#.utf8))
        #expect(message == .user("hello"))
    }

    @Test func requestBodyHasExactlyTheWireFieldsAndNoSamplingParameters() throws {
        let request = MessageRequest(
            model: "claude-sonnet-5-5", maxTokens: 4096, system: [TextBlock("be brief", cacheControl: .ephemeral)],
            messages: [.user("fix it"),
                       Message(role: .assistant, content: [.toolUse(ToolUseBlock(id: "t1", name: "read_file", input: ["path": "a.c", "start_line": 3]))]),
                       Message(role: .user, content: [.toolResult(ToolResultBlock(toolUseID: "t1", content: "1\tint x;"))])],
            tools: [ToolDefinition(name: "read_file", description: "Read", inputSchema: ["type": "object", "properties": [:]])],
            toolChoice: .auto)
        let data = try request.encoded()
        let json = try object(data)
        #expect(Set(json.keys) == ["model", "max_tokens", "system", "messages", "tools", "tool_choice"])
        #expect(json["max_tokens"] as? Int == 4096)
        let text = String(decoding: data, as: UTF8.self)
        for forbidden in ["temperature", "top_p", "top_k"] { #expect(!text.contains(forbidden)) }
        let system = try #require(json["system"] as? [[String: Any]])
        #expect(system[0]["type"] as? String == "text")
        #expect((system[0]["cache_control"] as? [String: Any])?["type"] as? String == "ephemeral")
        let tools = try #require(json["tools"] as? [[String: Any]])
        #expect(tools[0]["input_schema"] != nil)
        #expect(tools[0]["cache_control"] == nil)
        let messages = try #require(json["messages"] as? [[String: Any]])
        let use = try #require((messages[1]["content"] as? [[String: Any]])?.first)
        #expect(use["type"] as? String == "tool_use")
        #expect((use["input"] as? [String: Any])?["start_line"] as? Int == 3)
        #expect((json["tool_choice"] as? [String: Any])?["type"] as? String == "auto")
        // Round trip.
        #expect(try JSONDecoder().decode(MessageRequest.self, from: data) == request)
        // Same request, same bytes (the cached prefix must not change between turns).
        #expect(try request.encoded() == data)
    }

    @Test func jsonValueRoundTripsIntegersAndNesting() throws {
        let value = try JSONValue.parse(#"{"a": 1, "b": 2.5, "c": [true, null, "x"], "d": {"e": -3}}"#)
        #expect(value["a"] == .integer(1))
        #expect(value["b"] == .number(2.5))
        #expect(value["c"] == [true, nil, "x"])
        #expect(value["d"]?["e"]?.intValue == -3)
        #expect(value.compactText == #"{"a":1,"b":2.5,"c":[true,null,"x"],"d":{"e":-3}}"#)
        #expect(try JSONValue.parse(value.compactText) == value)
    }

    @Test func pricesComputeCostPerMillionTokens() {
        let price = ModelPrice(input: 3, output: 15, cacheWrite: 3.75, cacheRead: 0.3)
        let usage = Usage(inputTokens: 1_000_000, outputTokens: 100_000, cacheCreationInputTokens: 200_000, cacheReadInputTokens: 1_000_000)
        #expect(abs(price.cost(of: usage) - (3 + 1.5 + 0.75 + 0.3)) < 1e-9)
        let table = PriceTable(models: ["claude-sonnet-5-5": price, "claude-sonnet": ModelPrice(input: 1, output: 1)])
        #expect(table.price(for: "claude-sonnet-5-5") == price)
        #expect(table.price(for: "claude-sonnet-5-5-20261001") == price)
        #expect(table.price(for: "claude-opus-5-5") == nil)
        #expect(PriceTable(models: [:], fallback: price).price(for: "anything") == price)
    }
}
