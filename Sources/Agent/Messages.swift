import Foundation

// Wire types of the Messages API (`POST /v1/messages`), field names exactly as on the wire. See
// shared/notes/claude-api.md §3–§6. Requests are built in code and encoded; responses are decoded
// tolerantly (unknown keys and explicit nulls are ignored, unknown content blocks and stop reasons are
// kept) but a body that is not a message is rejected with a clear error.
//
// There is deliberately no `temperature`, `top_p` or `top_k`: under `anthropic-version: 2026-10-21`
// they are rejected with 400 even at their default values.

/// `{"type": "ephemeral", "ttl": "5m" | "1h"}`: marks the end of a cacheable prefix.
package struct CacheControl: Codable, Sendable, Hashable {
    package var type: String
    package var ttl: String?

    package init(type: String = "ephemeral", ttl: String? = nil) {
        self.type = type
        self.ttl = ttl
    }

    package static let ephemeral = CacheControl()
}

/// Who wrote a message.
package enum Role: String, Codable, Sendable, Hashable {
    case user
    case assistant
}

/// `{"type": "text", "text": …, "cache_control"?: …}`: a system block or a text content block.
package struct TextBlock: Codable, Sendable, Hashable {
    package var type: String = "text"
    package var text: String
    package var cacheControl: CacheControl?

    package init(_ text: String, cacheControl: CacheControl? = nil) {
        self.text = text
        self.cacheControl = cacheControl
    }

    enum CodingKeys: String, CodingKey {
        case type, text
        case cacheControl = "cache_control"
    }
}

/// `{"type": "tool_use", "id", "name", "input"}`: the model asks for a tool call.
package struct ToolUseBlock: Codable, Sendable, Hashable {
    package var id: String
    package var name: String
    package var input: JSONValue
    package var cacheControl: CacheControl?

    package init(id: String, name: String, input: JSONValue, cacheControl: CacheControl? = nil) {
        self.id = id
        self.name = name
        self.input = input
        self.cacheControl = cacheControl
    }

    enum CodingKeys: String, CodingKey {
        case type, id, name, input
        case cacheControl = "cache_control"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        name = try container.decode(String.self, forKey: .name)
        input = try container.decodeIfPresent(JSONValue.self, forKey: .input) ?? .object([:])
        cacheControl = try container.decodeIfPresent(CacheControl.self, forKey: .cacheControl)
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("tool_use", forKey: .type)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(input, forKey: .input)
        try container.encodeIfPresent(cacheControl, forKey: .cacheControl)
    }
}

/// `{"type": "tool_result", "tool_use_id", "content", "is_error"?}`: the answer to one `tool_use`.
/// `content` is sent as a string; an array of text blocks is accepted when decoding (joined).
package struct ToolResultBlock: Codable, Sendable, Hashable {
    package var toolUseID: String
    package var content: String
    /// Sent only when true.
    package var isError: Bool
    package var cacheControl: CacheControl?

    package init(toolUseID: String, content: String, isError: Bool = false, cacheControl: CacheControl? = nil) {
        self.toolUseID = toolUseID
        self.content = content
        self.isError = isError
        self.cacheControl = cacheControl
    }

    enum CodingKeys: String, CodingKey {
        case type, content
        case toolUseID = "tool_use_id"
        case isError = "is_error"
        case cacheControl = "cache_control"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        toolUseID = try container.decode(String.self, forKey: .toolUseID)
        if let text = try? container.decodeIfPresent(String.self, forKey: .content) {
            content = text
        } else if let blocks = try? container.decodeIfPresent([JSONValue].self, forKey: .content) {
            content = blocks.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        } else {
            content = ""
        }
        isError = try container.decodeIfPresent(Bool.self, forKey: .isError) ?? false
        cacheControl = try container.decodeIfPresent(CacheControl.self, forKey: .cacheControl)
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("tool_result", forKey: .type)
        try container.encode(toolUseID, forKey: .toolUseID)
        try container.encode(content, forKey: .content)
        if isError { try container.encode(true, forKey: .isError) }
        try container.encodeIfPresent(cacheControl, forKey: .cacheControl)
    }
}

/// One block of a message's content. Blocks this module does not model (`thinking`, `redacted_thinking`,
/// `server_tool_use`, …) are kept verbatim in `other` so an assistant turn can be sent back unchanged.
package enum ContentBlock: Codable, Sendable, Hashable {
    case text(TextBlock)
    case toolUse(ToolUseBlock)
    case toolResult(ToolResultBlock)
    /// Any other block, with its `type` and its complete JSON object.
    case other(type: String, json: JSONValue)

    private enum TypeKey: String, CodingKey { case type }

    package init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decode(String.self, forKey: .type)
        switch type {
        case "text":
            // Only `text` (and `cache_control`) are kept; `citations` and the like are dropped.
            self = .text(try TextBlock(from: decoder))
        case "tool_use": self = .toolUse(try ToolUseBlock(from: decoder))
        case "tool_result": self = .toolResult(try ToolResultBlock(from: decoder))
        default: self = .other(type: type, json: try JSONValue(from: decoder))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        switch self {
        case .text(let block): try block.encode(to: encoder)
        case .toolUse(let block): try block.encode(to: encoder)
        case .toolResult(let block): try block.encode(to: encoder)
        case .other(_, let json): try json.encode(to: encoder)
        }
    }

    package static func text(_ text: String) -> ContentBlock { .text(TextBlock(text)) }

    /// The wire tag: "text", "tool_use", "tool_result", or the kept block's own.
    package var type: String {
        switch self {
        case .text: "text"
        case .toolUse: "tool_use"
        case .toolResult: "tool_result"
        case .other(let type, _): type
        }
    }
}

/// `{"role", "content": [blocks]}`. Encoded with `content` always as an array; decoding also accepts the
/// string shorthand.
package struct Message: Codable, Sendable, Hashable {
    package var role: Role
    package var content: [ContentBlock]

    package init(role: Role, content: [ContentBlock]) {
        self.role = role
        self.content = content
    }

    package static func user(_ text: String) -> Message { Message(role: .user, content: [.text(text)]) }

    enum CodingKeys: String, CodingKey { case role, content }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        role = try container.decode(Role.self, forKey: .role)
        if let text = try? container.decode(String.self, forKey: .content) {
            content = [.text(text)]
        } else {
            content = try container.decode([ContentBlock].self, forKey: .content)
        }
    }

    /// The `tool_use` blocks, in order.
    package var toolUses: [ToolUseBlock] {
        content.compactMap { if case .toolUse(let block) = $0 { block } else { nil } }
    }

    /// The text blocks joined by newlines.
    package var text: String {
        content.compactMap { if case .text(let block) = $0 { block.text } else { nil } }.joined(separator: "\n")
    }
}

/// A custom tool: `{"name", "description", "input_schema", "cache_control"?}`.
package struct ToolDefinition: Codable, Sendable, Hashable {
    package var name: String
    package var description: String
    package var inputSchema: JSONValue
    package var cacheControl: CacheControl?

    package init(name: String, description: String, inputSchema: JSONValue, cacheControl: CacheControl? = nil) {
        self.name = name
        self.description = description
        self.inputSchema = inputSchema
        self.cacheControl = cacheControl
    }

    enum CodingKeys: String, CodingKey {
        case name, description
        case inputSchema = "input_schema"
        case cacheControl = "cache_control"
    }
}

/// `tool_choice`: `{"type": "auto" | "any" | "none"}` or `{"type": "tool", "name"}`.
package struct ToolChoice: Codable, Sendable, Hashable {
    package var type: String
    package var name: String?
    package var disableParallelToolUse: Bool?

    package static let auto = ToolChoice(type: "auto")
    package static let any = ToolChoice(type: "any")
    package static let none = ToolChoice(type: "none")
    package static func tool(_ name: String) -> ToolChoice { ToolChoice(type: "tool", name: name) }

    package init(type: String, name: String? = nil, disableParallelToolUse: Bool? = nil) {
        self.type = type
        self.name = name
        self.disableParallelToolUse = disableParallelToolUse
    }

    enum CodingKeys: String, CodingKey {
        case type, name
        case disableParallelToolUse = "disable_parallel_tool_use"
    }
}

/// The body of `POST /v1/messages` (non-streaming).
package struct MessageRequest: Codable, Sendable, Hashable {
    package var model: String
    package var maxTokens: Int
    /// Sent as an array of text blocks so that `cache_control` can mark it.
    package var system: [TextBlock]?
    package var messages: [Message]
    package var tools: [ToolDefinition]?
    package var toolChoice: ToolChoice?
    package var stopSequences: [String]?

    package init(model: String, maxTokens: Int, system: [TextBlock]? = nil, messages: [Message],
                 tools: [ToolDefinition]? = nil, toolChoice: ToolChoice? = nil, stopSequences: [String]? = nil) {
        self.model = model
        self.maxTokens = maxTokens
        self.system = system
        self.messages = messages
        self.tools = tools
        self.toolChoice = toolChoice
        self.stopSequences = stopSequences
    }

    enum CodingKeys: String, CodingKey {
        case model, system, messages, tools
        case maxTokens = "max_tokens"
        case toolChoice = "tool_choice"
        case stopSequences = "stop_sequences"
    }

    /// The JSON body. Keys are sorted so that the same request always gives the same bytes (the cached
    /// prefix must be byte-identical from one turn to the next).
    package func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// Why the model stopped. Unknown values are kept in `other`.
package enum StopReason: Codable, Sendable, Hashable, CustomStringConvertible {
    case endTurn
    case maxTokens
    case stopSequence
    case toolUse
    case pauseTurn
    case refusal
    case modelContextWindowExceeded
    case other(String)

    package init(rawValue: String) {
        switch rawValue {
        case "end_turn": self = .endTurn
        case "max_tokens": self = .maxTokens
        case "stop_sequence": self = .stopSequence
        case "tool_use": self = .toolUse
        case "pause_turn": self = .pauseTurn
        case "refusal": self = .refusal
        case "model_context_window_exceeded": self = .modelContextWindowExceeded
        default: self = .other(rawValue)
        }
    }

    package var rawValue: String {
        switch self {
        case .endTurn: "end_turn"
        case .maxTokens: "max_tokens"
        case .stopSequence: "stop_sequence"
        case .toolUse: "tool_use"
        case .pauseTurn: "pause_turn"
        case .refusal: "refusal"
        case .modelContextWindowExceeded: "model_context_window_exceeded"
        case .other(let value): value
        }
    }

    package var description: String { rawValue }

    package init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Token counts of one response. Total input = `inputTokens + cacheCreationInputTokens + cacheReadInputTokens`.
/// Absent or null cache counts decode as 0.
package struct Usage: Codable, Sendable, Hashable {
    package var inputTokens: Int
    package var outputTokens: Int
    package var cacheCreationInputTokens: Int
    package var cacheReadInputTokens: Int

    package init(inputTokens: Int = 0, outputTokens: Int = 0, cacheCreationInputTokens: Int = 0, cacheReadInputTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheCreationInputTokens = cacheCreationInputTokens
        self.cacheReadInputTokens = cacheReadInputTokens
    }

    enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case cacheCreationInputTokens = "cache_creation_input_tokens"
        case cacheReadInputTokens = "cache_read_input_tokens"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputTokens = try container.decodeIfPresent(Int.self, forKey: .inputTokens) ?? 0
        outputTokens = try container.decodeIfPresent(Int.self, forKey: .outputTokens) ?? 0
        cacheCreationInputTokens = try container.decodeIfPresent(Int.self, forKey: .cacheCreationInputTokens) ?? 0
        cacheReadInputTokens = try container.decodeIfPresent(Int.self, forKey: .cacheReadInputTokens) ?? 0
    }

    package static func + (lhs: Usage, rhs: Usage) -> Usage {
        Usage(inputTokens: lhs.inputTokens + rhs.inputTokens, outputTokens: lhs.outputTokens + rhs.outputTokens,
              cacheCreationInputTokens: lhs.cacheCreationInputTokens + rhs.cacheCreationInputTokens,
              cacheReadInputTokens: lhs.cacheReadInputTokens + rhs.cacheReadInputTokens)
    }

    package static func += (lhs: inout Usage, rhs: Usage) { lhs = lhs + rhs }
}

/// A non-streaming 200 response of `POST /v1/messages`.
package struct MessageResponse: Codable, Sendable, Hashable {
    package var id: String
    /// Always "message".
    package var type: String
    package var role: Role
    package var model: String
    package var content: [ContentBlock]
    /// Never null in a non-streaming response; nil only if a server breaks that rule.
    package var stopReason: StopReason?
    package var stopSequence: String?
    package var usage: Usage

    package init(id: String, model: String, content: [ContentBlock], stopReason: StopReason?,
                 stopSequence: String? = nil, usage: Usage) {
        self.id = id
        self.type = "message"
        self.role = .assistant
        self.model = model
        self.content = content
        self.stopReason = stopReason
        self.stopSequence = stopSequence
        self.usage = usage
    }

    enum CodingKeys: String, CodingKey {
        case id, type, role, model, content, usage
        case stopReason = "stop_reason"
        case stopSequence = "stop_sequence"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        guard type == "message" else {
            throw DecodingError.dataCorruptedError(forKey: .type, in: container,
                                                   debugDescription: "expected \"message\", found \"\(type)\"")
        }
        id = try container.decode(String.self, forKey: .id)
        role = try container.decode(Role.self, forKey: .role)
        model = try container.decode(String.self, forKey: .model)
        content = try container.decode([ContentBlock].self, forKey: .content)
        stopReason = try container.decodeIfPresent(StopReason.self, forKey: .stopReason)
        stopSequence = try container.decodeIfPresent(String.self, forKey: .stopSequence)
        usage = try container.decodeIfPresent(Usage.self, forKey: .usage) ?? Usage()
    }

    /// The assistant message to append to the conversation.
    package var message: Message { Message(role: role, content: content) }

    /// Decodes a response body, with an error that says what the body was when it is not a message.
    package static func decode(_ body: Data) throws -> MessageResponse {
        do {
            return try JSONDecoder().decode(MessageResponse.self, from: body)
        } catch let error as DecodingError {
            throw InvalidResponseError(reason: InvalidResponseError.describe(error), body: body)
        }
    }
}

/// The error body: `{"type": "error", "error": {"type", "message"}, "request_id"?}`.
package struct APIErrorBody: Codable, Sendable, Hashable {
    package struct Detail: Codable, Sendable, Hashable {
        package var type: String
        package var message: String
    }

    package var type: String
    package var error: Detail
    package var requestID: String?

    package init(type: String, message: String, requestID: String? = nil) {
        self.type = "error"
        self.error = Detail(type: type, message: message)
        self.requestID = requestID
    }

    enum CodingKeys: String, CodingKey {
        case type, error
        case requestID = "request_id"
    }

    /// The error body in `data`, or nil when `data` is not one.
    package static func parse(_ data: Data) -> APIErrorBody? {
        guard let body = try? JSONDecoder().decode(APIErrorBody.self, from: data), body.type == "error" else { return nil }
        return body
    }
}

/// A 200 response whose body is not a message (a proxy's HTML page, a truncated body, another API).
package struct InvalidResponseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was wrong, e.g. `missing key "content"`.
    package var reason: String
    /// The first 200 characters of the body.
    package var bodyPrefix: String

    package init(reason: String, body: Data) {
        self.reason = reason
        let text = String(decoding: body.prefix(400), as: UTF8.self)
        bodyPrefix = String(text.prefix(200))
    }

    package var description: String {
        "the model API answered 200 with a body that is not a message (\(reason)): \(bodyPrefix.isEmpty ? "<empty>" : bodyPrefix)"
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "" : " at \(keys.joined(separator: "."))"
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing key \"\(key.stringValue)\"\(path(context))"
        case .typeMismatch(_, let context): return "wrong type\(path(context)): \(context.debugDescription)"
        case .valueNotFound(_, let context): return "null value\(path(context))"
        case .dataCorrupted(let context): return "\(context.debugDescription)\(path(context))"
        @unknown default: return "\(error)"
        }
    }
}
