import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A fake of the Anthropic Messages API for tests, speaking the wire format of shared/notes/claude-api.md:
/// `POST /v1/messages` (non-streaming) and `POST /v1/messages/count_tokens`, on 127.0.0.1 only.
///
/// Every request is checked like the real API does, in this order, and answered with the real error
/// shapes (`{"type":"error","error":{"type","message"},"request_id"}`) and statuses:
/// 1. headers: `x-api-key` (or `authorization: Bearer`) present and equal to `apiKey`, else 401
///    `authentication_error`; `anthropic-version` present and known, else 400 `invalid_request_error`;
/// 2. body: JSON; required fields; no unknown fields (top level, messages, content blocks, tools,
///    cache_control: "<loc>: Extra inputs are not permitted"); no `temperature`/`top_p`/`top_k` under
///    2026-10-21; non-empty text blocks; at most 4 `cache_control` blocks; tool names valid and unique;
///    tool_use/tool_result pairing: every `tool_use` id of an assistant message must be answered by a
///    `tool_result` at the start of the next (user) message, and no `tool_result` may name another id.
/// 3. then the next scripted behaviour is consumed: an assistant turn, an error status with headers
///    (429 + `retry-after`, 529, 500, `x-should-retry`), a dropped connection, raw bytes, a delay.
///    With nothing scripted it answers 500 with `x-should-retry: false`.
///
/// Requests are recorded (headers and raw body, with the status answered) for assertions.
/// With `"stream": true` a scripted reply is sent as server-sent events, as the API streams (notes §8):
/// `message_start`, `ping`, per block `content_block_start` / `text_delta` or `input_json_delta` (tool
/// input in two pieces) / `content_block_stop`, then `message_delta` (stop reason, output tokens) and
/// `message_stop`. Errors are JSON with their status, as the API answers before a stream begins. The
/// Claude Code CLI always streams (and calls `/v1/messages?beta=true`).
package final class FakeAnthropicServer: Sendable {
    package static let apiVersions: Set<String> = ["2023-06-01", "2026-10-21"]

    package let apiKey: String
    package let port: Int
    package var baseURL: String { "http://127.0.0.1:\(port)" }
    private let state: Mutex<State>
    private let service: Mutex<Task<Void, any Error>?>

    private struct State {
        var queue: [FakeBehaviour] = []
        var requests: [RecordedRequest] = []
        var nextID = 1
    }

    private init(apiKey: String, port: Int) {
        self.apiKey = apiKey
        self.port = port
        self.state = Mutex(State())
        self.service = Mutex(nil)
    }

    /// Starts the server on a free loopback port; returns once it accepts connections.
    package static func start(apiKey: String = "sk-ant-fake-key") async throws -> FakeAnthropicServer {
        let box = ServerBox()
        let router = Router(context: FakeRequestContext.self)
        router.post("/v1/messages") { request, context in
            try await box.server.handle(request, context: context, countTokens: false)
        }
        router.post("/v1/messages/count_tokens") { request, context in
            try await box.server.handle(request, context: context, countTokens: true)
        }
        var logger = Logger(label: "fake-anthropic")
        logger.logLevel = .critical
        let (ports, portContinuation) = AsyncStream<Int?>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-anthropic"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port)
                portContinuation.finish()
            },
            logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var port: Int?
        for await value in ports {
            port = value
            break
        }
        guard let port else {
            task.cancel()
            _ = await task.result
            throw FakeServerError("the fake Anthropic server did not start: \(String(describing: await task.result))")
        }
        let server = FakeAnthropicServer(apiKey: apiKey, port: port)
        server.service.withLock { $0 = task }
        box.set(server)
        return server
    }

    /// Stops the server and waits until it has closed its socket. Idempotent.
    package func stop() async {
        guard let task = service.withLock({ let task = $0; $0 = nil; return task }) else { return }
        task.cancel()
        _ = await task.result
    }

    /// Appends behaviours, consumed one per valid request.
    package func enqueue(_ behaviours: FakeBehaviour...) {
        enqueue(behaviours)
    }

    package func enqueue(_ behaviours: [FakeBehaviour]) {
        state.withLock { $0.queue += behaviours }
    }

    /// Every request received so far, in order.
    package var requests: [RecordedRequest] { state.withLock { $0.requests } }
    /// Scripted behaviours not consumed yet.
    package var pendingBehaviours: Int { state.withLock { $0.queue.count } }

    // MARK: Handling

    private func handle(_ request: Request, context: FakeRequestContext, countTokens: Bool) async throws -> Response {
        let body = try await request.body.collect(upTo: 32 << 20)
        var headers: [(name: String, value: String)] = []
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        let (index, requestID) = state.withLock { state -> (Int, String) in
            let id = "req_fake_\(state.nextID)"
            state.nextID += 1
            state.requests.append(RecordedRequest(method: request.method.rawValue, path: request.uri.description, headers: headers,
                                                  body: Data(body.readableBytesView), responseStatus: 0))
            return (state.requests.count - 1, id)
        }
        let recorded = state.withLock { $0.requests[index] }
        func record(_ status: Int) { state.withLock { $0.requests[index].responseStatus = status } }

        if let failure = FakeAPIValidation.check(headers: recorded, apiKey: apiKey) ?? FakeAPIValidation.check(body: recorded, countTokens: countTokens) {
            record(failure.status)
            state.withLock { $0.requests[index].validationFailure = failure.message }
            return Self.errorResponse(failure.status, failure.type, failure.message, requestID: requestID)
        }
        if countTokens {
            record(200)
            let estimate = max(1, recorded.body.count / 4)
            return Self.jsonResponse(200, .object(["input_tokens": .int(estimate)]), headers: ["request-id": requestID])
        }
        var behaviour = state.withLock { $0.queue.isEmpty ? nil : $0.queue.removeFirst() }
            ?? .error(status: 500, type: "api_error", message: "fake: no scripted behaviour left for this request",
                      headers: ["x-should-retry": "false"])
        while true {
            switch behaviour {
            case .delayed(let delay, let next):
                try await Task.sleep(for: delay)
                behaviour = next
                continue
            case .dynamic(let decide):
                behaviour = decide(recorded)
                continue
            case .reply(let reply):
                record(200)
                let model = (try? FakeJSON.parse(recorded.body))?["model"]?.string ?? "claude-fake"
                let id = state.withLock { state -> Int in
                    state.nextID += 1
                    return state.nextID
                }
                let message = reply.json(id: "msg_fake_\(id)", model: model)
                if (try? FakeJSON.parse(recorded.body))?["stream"]?.bool == true {
                    var fields = HTTPFields()
                    fields[.contentType] = "text/event-stream"
                    fields[.cacheControl] = "no-cache"
                    if let name = HTTPField.Name("request-id") { fields[name] = requestID }
                    return Response(status: .ok, headers: fields,
                                    body: .init(byteBuffer: ByteBuffer(string: FakeStream.events(message))))
                }
                return Self.jsonResponse(200, message, headers: ["request-id": requestID])
            case .error(let status, let type, let message, let extra):
                record(status)
                return Self.errorResponse(status, type, message, requestID: requestID, headers: extra)
            case .raw(let status, let extra, let text):
                record(status)
                var fields = HTTPFields()
                for (name, value) in extra { if let name = HTTPField.Name(name) { fields[name] = value } }
                return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .chunked(let status, let extra, let chunks, let gap):
                record(status)
                var fields = HTTPFields()
                for (name, value) in extra { if let name = HTTPField.Name(name) { fields[name] = value } }
                return Response(status: .init(code: status), headers: fields, body: ResponseBody { writer in
                    for (index, chunk) in chunks.enumerated() {
                        if index > 0 { try await Task.sleep(for: gap) }
                        try await writer.write(ByteBuffer(string: chunk))
                    }
                    try await writer.finish(nil)
                })
            case .dropConnection:
                record(-1)
                // Close the TCP connection without writing anything; the client sees an empty reply.
                try? await context.channel.close().get()
                throw FakeServerError("connection dropped on purpose")
            }
        }
    }

    static func errorResponse(_ status: Int, _ type: String, _ message: String, requestID: String,
                              headers: [String: String] = [:]) -> Response {
        let body = FakeJSON.object([
            "type": "error",
            "error": .object(["type": .string(type), "message": .string(message)]),
            "request_id": .string(requestID),
        ])
        var extra = headers
        extra["request-id"] = requestID
        return jsonResponse(status, body, headers: extra)
    }

    static func jsonResponse(_ status: Int, _ body: FakeJSON, headers: [String: String]) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            if let name = HTTPField.Name(name) { fields[name] = value }
        }
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body.encoded())))
    }
}

/// A complete message as the API streams it (server-sent events, notes §8).
enum FakeStream {
    static func events(_ message: FakeJSON) -> String {
        var out = ""
        func event(_ name: String, _ data: FakeJSON) {
            out += "event: \(name)\ndata: \(String(decoding: data.encoded(), as: UTF8.self))\n\n"
        }
        var start = message.object ?? [:]
        let blocks = start["content"]?.array ?? []
        let usage = start["usage"] ?? .object([:])
        start["content"] = .array([])
        start["stop_reason"] = .null
        start["stop_sequence"] = .null
        var startUsage = usage.object ?? [:]
        startUsage["output_tokens"] = 1
        start["usage"] = .object(startUsage)
        event("message_start", .object(["type": "message_start", "message": .object(start)]))
        event("ping", .object(["type": "ping"]))
        for (index, block) in blocks.enumerated() {
            let type = block["type"]?.string ?? "text"
            switch type {
            case "tool_use":
                var opening = block.object ?? [:]
                opening["input"] = .object([:])
                event("content_block_start", .object(["type": "content_block_start", "index": .int(index), "content_block": .object(opening)]))
                let input = String(decoding: (block["input"] ?? .object([:])).encoded(), as: UTF8.self)
                let middle = input.index(input.startIndex, offsetBy: input.count / 2)
                for piece in [String(input[..<middle]), String(input[middle...])] {
                    event("content_block_delta", .object(["type": "content_block_delta", "index": .int(index),
                                                          "delta": .object(["type": "input_json_delta", "partial_json": .string(piece)])]))
                }
            case "text":
                event("content_block_start", .object(["type": "content_block_start", "index": .int(index),
                                                      "content_block": .object(["type": "text", "text": "", "citations": .null])]))
                event("content_block_delta", .object(["type": "content_block_delta", "index": .int(index),
                                                      "delta": .object(["type": "text_delta", "text": block["text"] ?? ""])]))
            default:
                event("content_block_start", .object(["type": "content_block_start", "index": .int(index), "content_block": block]))
            }
            event("content_block_stop", .object(["type": "content_block_stop", "index": .int(index)]))
        }
        event("message_delta", .object([
            "type": "message_delta",
            "delta": .object(["stop_reason": message["stop_reason"] ?? .null, "stop_sequence": message["stop_sequence"] ?? .null]),
            "usage": .object(["output_tokens": usage["output_tokens"] ?? 0]),
        ]))
        event("message_stop", .object(["type": "message_stop"]))
        return out
    }
}

/// Lets the router's closures reach the server object that is made after the router.
private final class ServerBox: Sendable {
    private let value = Mutex<FakeAnthropicServer?>(nil)
    func set(_ server: FakeAnthropicServer) { value.withLock { $0 = server } }
    var server: FakeAnthropicServer {
        get throws {
            guard let server = value.withLock({ $0 }) else { throw FakeServerError("the fake server is still starting") }
            return server
        }
    }
}

/// The request context, with the connection's channel so that a behaviour can drop it.
struct FakeRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// A failure of the fake server itself.
package struct FakeServerError: Error, CustomStringConvertible, Sendable {
    package var description: String
    package init(_ description: String) { self.description = description }
}

/// One request as received.
package struct RecordedRequest: Sendable {
    package var method: String
    /// Path and query, e.g. `/v1/messages`.
    package var path: String
    package var headers: [(name: String, value: String)]
    package var body: Data
    /// What the fake answered; -1 for a dropped connection.
    package var responseStatus: Int
    /// The message of the 4xx the validation answered, when it refused the request.
    package var validationFailure: String? = nil

    /// The first value of header `name` (case-insensitive).
    package func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    package var bodyText: String { String(decoding: body, as: UTF8.self) }
    /// The body parsed, nil when it is not JSON.
    package var json: FakeJSON? { try? FakeJSON.parse(body) }
}

/// What the fake does with the next valid request.
package indirect enum FakeBehaviour: Sendable {
    /// 200 with an assistant message.
    case reply(FakeReply)
    /// An API error: status, `error.type`, `error.message`, extra headers (`retry-after`, `x-should-retry`).
    case error(status: Int, type: String, message: String, headers: [String: String])
    /// Any status, headers and body text.
    case raw(status: Int, headers: [String: String], body: String)
    /// Any status and headers; the body in pieces with `gap` between them (a stream that takes its time).
    case chunked(status: Int, headers: [String: String], chunks: [String], gap: Duration)
    /// Closes the connection without answering.
    case dropConnection
    /// Waits, then behaves as `then`.
    case delayed(Duration, then: FakeBehaviour)
    /// Decides from the request.
    case dynamic(@Sendable (RecordedRequest) -> FakeBehaviour)

    /// 429 `rate_limit_error` with the given headers.
    package static func rateLimited(retryAfter: String? = nil, retryAfterMs: String? = nil, headers: [String: String] = [:]) -> FakeBehaviour {
        var all = headers
        if let retryAfter { all["retry-after"] = retryAfter }
        if let retryAfterMs { all["retry-after-ms"] = retryAfterMs }
        return .error(status: 429, type: "rate_limit_error",
                      message: "This request would exceed the rate limit for your organization of 50 requests per minute.", headers: all)
    }

    /// 529 `overloaded_error`.
    package static func overloaded(headers: [String: String] = [:]) -> FakeBehaviour {
        .error(status: 529, type: "overloaded_error", message: "Overloaded", headers: headers)
    }

    /// 500 `api_error`.
    package static func internalError(headers: [String: String] = [:]) -> FakeBehaviour {
        .error(status: 500, type: "api_error", message: "Internal server error", headers: headers)
    }

    /// A text-only reply that ends the turn.
    package static func text(_ text: String, stopReason: String = "end_turn", usage: FakeUsage = FakeUsage()) -> FakeBehaviour {
        .reply(FakeReply(content: [.text(text)], stopReason: stopReason, usage: usage))
    }

    /// A reply that asks for tools (optionally after some text).
    package static func toolUse(_ calls: [(id: String, name: String, input: String)], text: String? = nil,
                                usage: FakeUsage = FakeUsage()) -> FakeBehaviour {
        var content: [FakeBlock] = text.map { [.text($0)] } ?? []
        content += calls.map { .toolUse(id: $0.id, name: $0.name, input: $0.input) }
        return .reply(FakeReply(content: content, stopReason: "tool_use", usage: usage))
    }
}

/// One content block of a scripted reply.
package enum FakeBlock: Sendable {
    case text(String)
    /// `input` is JSON object text.
    case toolUse(id: String, name: String, input: String)
    /// Any block, as JSON object text (thinking, server tool blocks, …).
    case raw(String)
}

package struct FakeUsage: Sendable {
    package var inputTokens: Int
    package var outputTokens: Int
    package var cacheCreationInputTokens: Int
    package var cacheReadInputTokens: Int

    package init(inputTokens: Int = 100, outputTokens: Int = 20, cacheCreationInputTokens: Int = 0, cacheReadInputTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheCreationInputTokens = cacheCreationInputTokens
        self.cacheReadInputTokens = cacheReadInputTokens
    }
}

/// A scripted assistant turn.
package struct FakeReply: Sendable {
    package var content: [FakeBlock]
    package var stopReason: String
    package var stopSequence: String?
    package var usage: FakeUsage

    package init(content: [FakeBlock], stopReason: String, stopSequence: String? = nil, usage: FakeUsage = FakeUsage()) {
        self.content = content
        self.stopReason = stopReason
        self.stopSequence = stopSequence
        self.usage = usage
    }

    /// The message exactly as the API serialises it (notes §4), optional keys included.
    func json(id: String, model: String) -> FakeJSON {
        let blocks: [FakeJSON] = content.map { block in
            switch block {
            case .text(let text): return .object(["type": "text", "text": .string(text), "citations": .null])
            case .toolUse(let id, let name, let input):
                return .object(["type": "tool_use", "id": .string(id), "name": .string(name),
                                "input": (try? FakeJSON.parse(Data(input.utf8))) ?? .object([:])])
            case .raw(let text): return (try? FakeJSON.parse(Data(text.utf8))) ?? .object(["type": "text", "text": .string(text)])
            }
        }
        return .object([
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model),
            "content": .array(blocks),
            "stop_reason": .string(stopReason), "stop_sequence": stopSequence.map { .string($0) } ?? .null,
            "container": .null,
            "usage": .object([
                "input_tokens": .int(usage.inputTokens), "output_tokens": .int(usage.outputTokens),
                "cache_creation_input_tokens": .int(usage.cacheCreationInputTokens),
                "cache_read_input_tokens": .int(usage.cacheReadInputTokens),
                "cache_creation": .object(["ephemeral_5m_input_tokens": .int(usage.cacheCreationInputTokens), "ephemeral_1h_input_tokens": 0]),
                "server_tool_use": .null, "service_tier": "standard",
            ]),
        ])
    }
}
