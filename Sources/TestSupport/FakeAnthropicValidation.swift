import Foundation

/// JSON for the fake server (TestSupport does not depend on Agent, whose `JSONValue` is the production twin).
package enum FakeJSON: Sendable, Equatable, Codable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([FakeJSON])
    case object([String: FakeJSON])

    package init(stringLiteral value: String) { self = .string(value) }
    package init(integerLiteral value: Int) { self = .int(value) }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([FakeJSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: FakeJSON].self)) }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    package static func parse(_ data: Data) throws -> FakeJSON {
        try JSONDecoder().decode(FakeJSON.self, from: data)
    }

    package func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Only finite numbers are ever put in a FakeJSON by this module, so encoding cannot fail.
        return (try? encoder.encode(self)) ?? Data("null".utf8)
    }

    package subscript(key: String) -> FakeJSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    package subscript(index: Int) -> FakeJSON? {
        if case .array(let items) = self, items.indices.contains(index) { return items[index] }
        return nil
    }

    package var string: String? { if case .string(let value) = self { value } else { nil } }
    package var int: Int? { if case .int(let value) = self { value } else { nil } }
    package var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    package var array: [FakeJSON]? { if case .array(let value) = self { value } else { nil } }
    package var object: [String: FakeJSON]? { if case .object(let value) = self { value } else { nil } }
    package var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }
}

/// An error answer: status, `error.type`, `error.message`.
struct FakeAPIFailure: Sendable, Equatable {
    var status: Int
    var type: String
    var message: String

    static func invalid(_ message: String) -> FakeAPIFailure {
        FakeAPIFailure(status: 400, type: "invalid_request_error", message: message)
    }
}

/// The checks the real API makes, with its wording where it is known (notes §2, §3, §5; the wording of
/// messages marked "unverified" there is a best guess).
enum FakeAPIValidation {
    static let topLevelKeys: Set<String> = [
        "model", "max_tokens", "messages", "system", "tools", "tool_choice", "stream", "stop_sequences", "metadata",
        "thinking", "output_config", "cache_control", "service_tier", "container", "diagnostics", "inference_geo", "speed",
    ]
    /// Accepted only with an `anthropic-beta` header (the CLI sends them that way).
    static let betaKeys: Set<String> = ["context_management", "mcp_servers"]
    static let samplingKeys = ["temperature", "top_p", "top_k"]
    static let customToolKeys: Set<String> = [
        "name", "description", "input_schema", "cache_control", "strict", "input_examples", "defer_loading",
        "eager_input_streaming", "allowed_callers", "type",
    ]
    static let blockKeys: [String: Set<String>] = [
        "text": ["type", "text", "cache_control", "citations"],
        "image": ["type", "source", "cache_control"],
        "document": ["type", "source", "title", "context", "citations", "cache_control"],
        "tool_use": ["type", "id", "name", "input", "cache_control", "caller"],
        "tool_result": ["type", "tool_use_id", "content", "is_error", "cache_control"],
        "thinking": ["type", "thinking", "signature"],
        "redacted_thinking": ["type", "data"],
    ]
    /// Block types accepted without a field check.
    static let otherBlockTypes: Set<String> = [
        "search_result", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result",
        "bash_code_execution_tool_result", "text_editor_code_execution_tool_result", "tool_search_tool_result",
        "mcp_tool_use", "mcp_tool_result", "container_upload", "tool_reference",
    ]

    static func check(headers request: RecordedRequest, apiKey: String) -> FakeAPIFailure? {
        let key = request.header("x-api-key") ?? request.header("authorization").flatMap { value -> String? in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst(7)) : nil
        }
        guard let key else {
            return FakeAPIFailure(status: 401, type: "authentication_error", message: "x-api-key header is required")
        }
        guard key == apiKey else {
            return FakeAPIFailure(status: 401, type: "authentication_error", message: "invalid x-api-key")
        }
        guard let version = request.header("anthropic-version") else {
            return .invalid("anthropic-version: header is required")
        }
        guard FakeAnthropicServer.apiVersions.contains(version) else {
            return .invalid("anthropic-version: \"\(version)\" is not a valid version")
        }
        return nil
    }

    static func check(body request: RecordedRequest, countTokens: Bool) -> FakeAPIFailure? {
        guard let json = try? FakeJSON.parse(request.body) else {
            return .invalid("There was an issue with your request body: it is not valid JSON")
        }
        guard let body = json.object else { return .invalid("Input should be a valid dictionary") }
        let newVersion = request.header("anthropic-version") == "2026-10-21"
        var allowed = topLevelKeys
        if request.header("anthropic-beta") != nil { allowed.formUnion(betaKeys) }
        if !newVersion { allowed.formUnion(samplingKeys) }
        if countTokens { allowed.remove("max_tokens"); allowed.remove("stream") }
        for key in body.keys.sorted() where !allowed.contains(key) {
            return .invalid("\(key): Extra inputs are not permitted")
        }
        guard let model = body["model"] else { return .invalid("model: Field required") }
        guard model.string?.isEmpty == false else { return .invalid("model: Input should be a valid string") }
        if !countTokens {
            guard let maxTokens = body["max_tokens"] else { return .invalid("max_tokens: Field required") }
            guard let value = maxTokens.int else { return .invalid("max_tokens: Input should be a valid integer") }
            guard value >= 0 else { return .invalid("max_tokens: Input should be greater than or equal to 0") }
        }
        if let stream = body["stream"], stream.bool == nil { return .invalid("stream: Input should be a valid boolean") }
        for key in ["temperature", "top_p"] {
            if let value = body[key] {
                guard let number = value.number else { return .invalid("\(key): Input should be a valid number") }
                if number < 0 || number > 1 { return .invalid("\(key): Input should be less than or equal to 1") }
            }
        }
        if let failure = checkSystem(body["system"]) ?? checkTools(body["tools"]) ?? checkToolChoice(body["tool_choice"]) {
            return failure
        }
        guard let messagesValue = body["messages"] else { return .invalid("messages: Field required") }
        guard let messages = messagesValue.array else { return .invalid("messages: Input should be a valid list") }
        if messages.isEmpty { return .invalid("messages: at least one message is required") }
        if let failure = checkMessages(messages) { return failure }
        var breakpoints = body["cache_control"] == nil ? 0 : 1
        breakpoints += (body["tools"]?.array ?? []).filter { $0["cache_control"] != nil }.count
        breakpoints += (body["system"]?.array ?? []).filter { $0["cache_control"] != nil }.count
        for message in messages {
            for block in message["content"]?.array ?? [] where block["cache_control"] != nil { breakpoints += 1 }
        }
        if breakpoints > 4 { return .invalid("A maximum of 4 blocks with cache_control may be provided. Found \(breakpoints).") }
        return checkPairing(messages)
    }

    static func checkCacheControl(_ value: FakeJSON?, at location: String) -> FakeAPIFailure? {
        guard let value else { return nil }
        guard let object = value.object else { return .invalid("\(location).cache_control: Input should be a valid dictionary") }
        guard object["type"]?.string == "ephemeral" else {
            return .invalid("\(location).cache_control.type: Input should be 'ephemeral'")
        }
        for key in object.keys.sorted() where key != "type" && key != "ttl" {
            return .invalid("\(location).cache_control.ephemeral.\(key): Extra inputs are not permitted")
        }
        if let ttl = object["ttl"], ttl.string != "5m" && ttl.string != "1h" {
            return .invalid("\(location).cache_control.ephemeral.ttl: Input should be '5m' or '1h'")
        }
        return nil
    }

    static func checkSystem(_ value: FakeJSON?) -> FakeAPIFailure? {
        guard let value else { return nil }
        if value.string != nil { return nil }
        guard let blocks = value.array else { return .invalid("system: Input should be a valid string or list") }
        for (index, block) in blocks.enumerated() {
            guard let object = block.object, object["type"]?.string == "text" else {
                return .invalid("system.\(index): Input should be a text block")
            }
            for key in object.keys.sorted() where !(blockKeys["text"]!).contains(key) {
                return .invalid("system.\(index).\(key): Extra inputs are not permitted")
            }
            guard let text = object["text"]?.string else { return .invalid("system.\(index).text: Field required") }
            if text.isEmpty { return .invalid("system: text content blocks must be non-empty") }
            if let failure = checkCacheControl(object["cache_control"], at: "system.\(index)") { return failure }
        }
        return nil
    }

    static func checkTools(_ value: FakeJSON?) -> FakeAPIFailure? {
        guard let value else { return nil }
        guard let tools = value.array else { return .invalid("tools: Input should be a valid list") }
        var names = Set<String>()
        for (index, tool) in tools.enumerated() {
            guard let object = tool.object else { return .invalid("tools.\(index): Input should be a valid dictionary") }
            if let type = object["type"]?.string, type != "custom" { continue }   // a typed server tool
            let location = "tools.\(index).custom"
            for key in object.keys.sorted() where !customToolKeys.contains(key) {
                return .invalid("\(location).\(key): Extra inputs are not permitted")
            }
            guard let name = object["name"]?.string else { return .invalid("\(location).name: Field required") }
            let valid = !name.isEmpty && name.count <= 128 && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
            }
            if !valid { return .invalid("\(location).name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'") }
            guard let schema = object["input_schema"] else { return .invalid("\(location).input_schema: Field required") }
            guard schema["type"]?.string == "object" else { return .invalid("\(location).input_schema.type: Input should be 'object'") }
            if let failure = checkCacheControl(object["cache_control"], at: location) { return failure }
            guard names.insert(name).inserted else { return .invalid("tools: Tool names must be unique.") }
        }
        return nil
    }

    static func checkToolChoice(_ value: FakeJSON?) -> FakeAPIFailure? {
        guard let value else { return nil }
        guard let type = value["type"]?.string, ["auto", "any", "none", "tool"].contains(type) else {
            return .invalid("tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
        }
        if type == "tool" && value["name"]?.string == nil { return .invalid("tool_choice.tool.name: Field required") }
        return nil
    }

    static func checkMessages(_ messages: [FakeJSON]) -> FakeAPIFailure? {
        for (index, message) in messages.enumerated() {
            guard let object = message.object else { return .invalid("messages.\(index): Input should be a valid dictionary") }
            // `system` role messages (SDK 2.12, Claude Code 2.1) may carry their own `output_config` [obs].
            let messageKeys: Set<String> = object["role"]?.string == "system" ? ["role", "content", "output_config"] : ["role", "content"]
            for key in object.keys.sorted() where !messageKeys.contains(key) {
                return .invalid("messages.\(index).\(key): Extra inputs are not permitted")
            }
            guard let role = object["role"]?.string else { return .invalid("messages.\(index).role: Field required") }
            guard ["user", "assistant", "system"].contains(role) else {
                return .invalid("messages.\(index).role: Input should be 'user' or 'assistant'")
            }
            let isFinalAssistant = index == messages.count - 1 && role == "assistant"
            guard let content = object["content"] else { return .invalid("messages.\(index).content: Field required") }
            if let text = content.string {
                if text.isEmpty && !isFinalAssistant {
                    return .invalid("messages.\(index): all messages must have non-empty content except for the optional final assistant message")
                }
                continue
            }
            guard let blocks = content.array else { return .invalid("messages.\(index).content: Input should be a valid string or list") }
            if blocks.isEmpty && !isFinalAssistant {
                return .invalid("messages.\(index): all messages must have non-empty content except for the optional final assistant message")
            }
            for (blockIndex, block) in blocks.enumerated() {
                let location = "messages.\(index).content.\(blockIndex)"
                guard let fields = block.object, let type = fields["type"]?.string else {
                    return .invalid("\(location): Input should be a valid dictionary with a 'type'")
                }
                if otherBlockTypes.contains(type) { continue }
                guard let allowed = blockKeys[type] else {
                    return .invalid("\(location): Input tag '\(type)' found using 'type' does not match any of the expected tags")
                }
                for key in fields.keys.sorted() where !allowed.contains(key) {
                    return .invalid("\(location).\(type).\(key): Extra inputs are not permitted")
                }
                if let failure = checkCacheControl(fields["cache_control"], at: "\(location).\(type)") { return failure }
                switch type {
                case "text":
                    guard let text = fields["text"]?.string else { return .invalid("\(location).text.text: Field required") }
                    if text.isEmpty { return .invalid("messages: text content blocks must be non-empty") }
                case "tool_use":
                    guard role == "assistant" else { return .invalid("\(location): tool_use blocks are only allowed in assistant messages") }
                    guard fields["id"]?.string != nil else { return .invalid("\(location).tool_use.id: Field required") }
                    guard fields["name"]?.string != nil else { return .invalid("\(location).tool_use.name: Field required") }
                    guard fields["input"]?.object != nil else { return .invalid("\(location).tool_use.input: Input should be a valid dictionary") }
                case "tool_result":
                    guard role == "user" else { return .invalid("\(location): tool_result blocks are only allowed in user messages") }
                    guard fields["tool_use_id"]?.string != nil else { return .invalid("\(location).tool_result.tool_use_id: Field required") }
                    if let result = fields["content"], result.string == nil {
                        guard let parts = result.array else { return .invalid("\(location).tool_result.content: Input should be a valid string or list") }
                        for (partIndex, part) in parts.enumerated() where part["type"]?.string == "text" && (part["text"]?.string ?? "").isEmpty {
                            return .invalid("\(location).tool_result.content.\(partIndex): text content blocks must be non-empty")
                        }
                    }
                    if let flag = fields["is_error"], flag.bool == nil { return .invalid("\(location).tool_result.is_error: Input should be a valid boolean") }
                default: break
                }
            }
            if isFinalAssistant, let last = blocks.last, last["type"]?.string == "text",
               let text = last["text"]?.string, text.last?.isWhitespace == true {
                return .invalid("messages: final assistant content cannot end with trailing whitespace")
            }
        }
        return nil
    }

    /// The tool_use / tool_result rules, with the API's wording (notes §5).
    static func checkPairing(_ messages: [FakeJSON]) -> FakeAPIFailure? {
        func blocks(_ message: FakeJSON) -> [FakeJSON] { message["content"]?.array ?? [] }
        for (index, message) in messages.enumerated() {
            let results = blocks(message).enumerated().filter { $0.element["type"]?.string == "tool_result" }
            let previousIDs: [String] = index > 0 && messages[index - 1]["role"]?.string == "assistant"
                ? blocks(messages[index - 1]).filter { $0["type"]?.string == "tool_use" }.compactMap { $0["id"]?.string }
                : []
            for (blockIndex, block) in results {
                let id = block["tool_use_id"]?.string ?? ""
                if !previousIDs.contains(id) {
                    return .invalid("messages.\(index).content.\(blockIndex): unexpected `tool_use_id` found in `tool_result` blocks: \(id). Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")
                }
            }
            guard message["role"]?.string == "assistant" else { continue }
            let ids = blocks(message).filter { $0["type"]?.string == "tool_use" }.compactMap { $0["id"]?.string }
            guard !ids.isEmpty else { continue }
            let next = index + 1 < messages.count && messages[index + 1]["role"]?.string == "user" ? messages[index + 1] : nil
            let answered = Set((next.map(blocks) ?? []).filter { $0["type"]?.string == "tool_result" }.compactMap { $0["tool_use_id"]?.string })
            let missing = ids.filter { !answered.contains($0) }
            if !missing.isEmpty {
                return .invalid("messages.\(index): `tool_use` ids were found without `tool_result` blocks immediately after: \(missing.joined(separator: ", ")). Each `tool_use` block must have a corresponding `tool_result` block in the next message.")
            }
            let leading = (next.map(blocks) ?? []).prefix { $0["type"]?.string == "tool_result" }.count
            if leading < ids.count {
                return .invalid("messages.\(index + 1): Did not find \(ids.count) tool_result block(s) at the beginning of this message. Messages following tool_use blocks must begin with a matching number of tool_result blocks.")
            }
        }
        return nil
    }
}
