import Foundation
import HTTP
import Testing
import TestSupport

/// Posts `body` to the fake with the given headers (the key and version by default).
private func post(_ server: FakeAnthropicServer, _ body: String, path: String = "/v1/messages",
                  headers: [String: String?] = [:]) async throws -> (status: Int, json: FakeJSON?, headers: HTTPHeaders) {
    var fields: [String: String?] = ["x-api-key": server.apiKey, "anthropic-version": "2026-10-21", "content-type": "application/json"]
    fields.merge(headers) { _, new in new }
    var httpHeaders = HTTPHeaders()
    for (name, value) in fields.sorted(by: { $0.key < $1.key }) { if let value { httpHeaders.add(name, value) } }
    let response = try await HTTPClient().execute(HTTPRequest(.post, server.baseURL + path, headers: httpHeaders, body: .data(Data(body.utf8))))
    return (response.status, try? FakeJSON.parse(response.body), response.head.headers)
}

private let minimal = #"{"model":"claude-sonnet-5-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"#

/// The error message of an error body, after checking its shape.
private func errorMessage(_ json: FakeJSON?, type: String) -> String? {
    guard json?["type"] == "error", json?["error"]?["type"]?.string == type, json?["request_id"]?.string != nil else { return nil }
    return json?["error"]?["message"]?.string
}

@Suite("Fake Anthropic server fidelity")
struct FakeServerTests {
    @Test func authenticationErrors() async throws {
        try await withFakeServer { server in
            let missing = try await post(server, minimal, headers: ["x-api-key": nil])
            #expect(missing.status == 401)
            #expect(errorMessage(missing.json, type: "authentication_error") == "x-api-key header is required")
            #expect(missing.headers["request-id"]?.hasPrefix("req_") == true)
            let wrong = try await post(server, minimal, headers: ["x-api-key": "nope"])
            #expect(wrong.status == 401)
            #expect(errorMessage(wrong.json, type: "authentication_error") == "invalid x-api-key")
            server.enqueue(.text("hello"))
            let bearer = try await post(server, minimal, headers: ["x-api-key": nil, "authorization": "Bearer \(server.apiKey)"])
            #expect(bearer.status == 200)
        }
    }

    @Test func versionHeaderIsRequiredAndChecked() async throws {
        try await withFakeServer { server in
            let missing = try await post(server, minimal, headers: ["anthropic-version": nil])
            #expect(missing.status == 400)
            #expect(errorMessage(missing.json, type: "invalid_request_error") == "anthropic-version: header is required")
            let unknown = try await post(server, minimal, headers: ["anthropic-version": "2020-01-01"])
            #expect(errorMessage(unknown.json, type: "invalid_request_error") == #"anthropic-version: "2020-01-01" is not a valid version"#)
        }
    }

    @Test func samplingParametersOnlyUnderTheOldVersion() async throws {
        try await withFakeServer { server in
            let body = #"{"model":"m","max_tokens":8,"temperature":1.0,"messages":[{"role":"user","content":"hi"}]}"#
            let new = try await post(server, body)
            #expect(new.status == 400)
            #expect(errorMessage(new.json, type: "invalid_request_error") == "temperature: Extra inputs are not permitted")
            server.enqueue(.text("ok"))
            let old = try await post(server, body, headers: ["anthropic-version": "2023-06-01"])
            #expect(old.status == 200)
            #expect(old.json?["type"] == "message")
            #expect(old.json?["usage"]?["cache_creation"]?["ephemeral_5m_input_tokens"] != nil)
        }
    }

    @Test func unknownFieldsAndShapesAreRejectedWithTheirLocation() async throws {
        try await withFakeServer { server in
            let cases: [(String, String)] = [
                (#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"bogus":1}"#, "bogus: Extra inputs are not permitted"),
                (#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, "max_tokens: Field required"),
                (#"{"model":"m","max_tokens":8,"messages":[]}"#, "messages: at least one message is required"),
                (#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}"#, "messages: text content blocks must be non-empty"),
                (#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{},"text":"x"}]}]}"#,
                 "messages.1.content.0.tool_use.text: Extra inputs are not permitted"),
                (#"{"model":"m","max_tokens":8,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","scope":"g"}}],"messages":[{"role":"user","content":"a"}]}"#,
                 "system.0.cache_control.ephemeral.scope: Extra inputs are not permitted"),
                (#"{"model":"m","max_tokens":8,"tools":[{"name":"a b","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"a"}]}"#,
                 "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"),
                (#"{"model":"m","max_tokens":8,"tools":[{"name":"a","input_schema":{"type":"object"},"input_example":1}],"messages":[{"role":"user","content":"a"}]}"#,
                 "tools.0.custom.input_example: Extra inputs are not permitted"),
                ("not json", "There was an issue with your request body: it is not valid JSON"),
            ]
            for (body, message) in cases {
                let response = try await post(server, body)
                #expect(response.status == 400, "\(body)")
                #expect(errorMessage(response.json, type: "invalid_request_error") == message, "\(body)")
            }
            let tooMany = #"{"model":"m","max_tokens":8,"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}},{"type":"text","text":"c","cache_control":{"type":"ephemeral"}},{"type":"text","text":"d","cache_control":{"type":"ephemeral"}},{"type":"text","text":"e","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"a"}]}"#
            let tooManyAnswer = try await post(server, tooMany)
            #expect(errorMessage(tooManyAnswer.json, type: "invalid_request_error") == "A maximum of 4 blocks with cache_control may be provided. Found 5.")
        }
    }

    @Test func toolPairingRules() async throws {
        try await withFakeServer { server in
            let use = #"{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"n","input":{}}]}"#
            let missing = #"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"a"},\#(use),{"role":"user","content":"b"}]}"#
            let missingAnswer = try await post(server, missing)
            #expect(errorMessage(missingAnswer.json, type: "invalid_request_error")
                    == "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message.")
            let unexpected = #"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"a"},\#(use),{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"x"},{"type":"tool_result","tool_use_id":"toolu_X","content":"y"}]}]}"#
            let unexpectedAnswer = try await post(server, unexpected)
            #expect(errorMessage(unexpectedAnswer.json, type: "invalid_request_error")
                    == "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_X. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")
            let notFirst = #"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"a"},\#(use),{"role":"user","content":[{"type":"text","text":"first"},{"type":"tool_result","tool_use_id":"toolu_1","content":"x"}]}]}"#
            let notFirstAnswer = try await post(server, notFirst)
            #expect(errorMessage(notFirstAnswer.json, type: "invalid_request_error")
                    == "messages.2: Did not find 1 tool_result block(s) at the beginning of this message. Messages following tool_use blocks must begin with a matching number of tool_result blocks.")
            server.enqueue(.text("fine"))
            let good = #"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"a"},\#(use),{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"x","is_error":true},{"type":"text","text":"more"}]}]}"#
            let goodAnswer = try await post(server, good)
            #expect(goodAnswer.status == 200)
            // Rejected requests did not consume the scripted reply.
            #expect(server.pendingBehaviours == 0)
            #expect(server.requests.map(\.responseStatus) == [400, 400, 400, 200])
        }
    }

    @Test func scriptedErrorsCarryTheirHeadersAndAnEmptyQueueSaysSo() async throws {
        try await withFakeServer { server in
            server.enqueue(.rateLimited(retryAfter: "7", retryAfterMs: "7000"), .overloaded(headers: ["x-should-retry": "false"]))
            let limited = try await post(server, minimal)
            #expect(limited.status == 429)
            #expect(errorMessage(limited.json, type: "rate_limit_error") != nil)
            #expect(limited.headers["retry-after"] == "7")
            #expect(limited.headers["retry-after-ms"] == "7000")
            let overloaded = try await post(server, minimal)
            #expect(overloaded.status == 529)
            #expect(errorMessage(overloaded.json, type: "overloaded_error") == "Overloaded")
            #expect(overloaded.headers["x-should-retry"] == "false")
            let empty = try await post(server, minimal)
            #expect(empty.status == 500)
            #expect(errorMessage(empty.json, type: "api_error")?.contains("no scripted behaviour") == true)
            #expect(empty.headers["x-should-retry"] == "false")
        }
    }

    @Test func countTokensAnswersAnEstimate() async throws {
        try await withFakeServer { server in
            let response = try await post(server, #"{"model":"m","messages":[{"role":"user","content":"hello there"}]}"#, path: "/v1/messages/count_tokens")
            #expect(response.status == 200)
            #expect((response.json?["input_tokens"]?.int ?? 0) > 0)
        }
    }

    @Test func aDroppedConnectionGivesNoResponse() async throws {
        try await withFakeServer { server in
            server.enqueue(.dropConnection)
            let error = await #expect(throws: HTTPClientError.self) { try await post(server, minimal) }
            #expect(error?.function == "curl_easy_perform")
        }
    }

    @Test func stopReleasesThePort() async throws {
        let server = try await FakeAnthropicServer.start()
        let url = server.baseURL
        await server.stop()
        await server.stop()   // idempotent
        await #expect(throws: HTTPClientError.self) {
            try await HTTPClient().execute(HTTPRequest(.post, url + "/v1/messages", connectTimeout: .seconds(2), timeout: .seconds(2)))
        }
    }
}

/// The official Python SDK (`pip install anthropic`) against the fake: it must parse the fake's replies
/// and surface its errors as the right exception types. scripts/setup installs the SDK; without it this fails.
@Suite("Fake server against the official Python SDK")
struct PythonSDKFidelityTests {
    @Test func theSDKParsesRepliesAndErrors() async throws {
        try await withFakeServer { server in
            server.enqueue(
                .reply(FakeReply(content: [.text("Reading."), .toolUse(id: "toolu_py1", name: "read_file", input: #"{"path":"a.c"}"#)],
                                 stopReason: "tool_use", usage: FakeUsage(inputTokens: 812, outputTokens: 41, cacheReadInputTokens: 5))),
                .text("All done."),
                .overloaded(), .text("after retry"),
                .rateLimited(retryAfterMs: "10"))
            let script = """
                import anthropic, sys, time
                base, key = sys.argv[1], sys.argv[2]
                c = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
                tools = [{"name": "read_file", "description": "Read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}]
                msgs = [{"role": "user", "content": "fix it"}]
                m = c.messages.create(model="claude-sonnet-5-5", max_tokens=256, messages=msgs, tools=tools)
                print("stop", m.stop_reason, [type(b).__name__ for b in m.content], m.content[1].input["path"], m.usage.input_tokens, m.usage.cache_read_input_tokens)
                msgs += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in m.content]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": m.content[1].id, "content": "int x;"}]}]
                m2 = c.messages.create(model="claude-sonnet-5-5", max_tokens=256, messages=msgs, tools=tools)
                print("second", m2.stop_reason, m2.content[0].text)
                r = anthropic.Anthropic(base_url=base, api_key=key, max_retries=1)
                t = time.monotonic()
                m3 = r.messages.create(model="claude-sonnet-5-5", max_tokens=16, messages=[{"role": "user", "content": "x"}])
                print("retried", m3.content[0].text, round(time.monotonic() - t, 1) >= 0.3)
                for name, client, kwargs in [
                    ("ratelimit", c, {}),
                    ("auth", anthropic.Anthropic(base_url=base, api_key="wrong", max_retries=0), {}),
                    ("extra", c, {"extra_body": {"bogus": 1}}),
                ]:
                    try:
                        client.messages.create(model="claude-sonnet-5-5", max_tokens=16, messages=[{"role": "user", "content": "x"}], **kwargs)
                        print(name, "no error")
                    except anthropic.APIStatusError as e:
                        print(name, type(e).__name__, e.status_code, e.body["error"]["type"], e.body["error"]["message"], e.request_id is not None)
                """
            let arguments = [server.baseURL, server.apiKey]
            let output = try await onOwnThread { Result { try PythonSDK.run(script, arguments: arguments) } }.get()
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.contains("stop tool_use ['TextBlock', 'ToolUseBlock'] a.c 812 5"), "\(output)")
            #expect(lines.contains("second end_turn All done."), "\(output)")
            #expect(lines.contains("retried after retry True"), "\(output)")
            #expect(lines.contains { $0.hasPrefix("ratelimit RateLimitError 429 rate_limit_error") && $0.hasSuffix("True") }, "\(output)")
            #expect(lines.contains("auth AuthenticationError 401 authentication_error invalid x-api-key True"), "\(output)")
            #expect(lines.contains("extra BadRequestError 400 invalid_request_error bogus: Extra inputs are not permitted True"), "\(output)")
            // SDK 2.x sends the key as a bearer token and the new version.
            #expect(server.requests.first?.header("anthropic-version") == "2026-10-21")
        }
    }

    @Test("streaming: the SDK's stream accumulator rebuilds the scripted message from the fake's events")
    func theSDKReadsTheStream() async throws {
        try await withFakeServer { server in
            server.enqueue(.reply(FakeReply(content: [.text("Editing."), .toolUse(id: "toolu_s1", name: "Edit",
                                                                                      input: #"{"file_path":"/workspace/hello.c","old_string":"a-b","new_string":"a+b"}"#)],
                                            stopReason: "tool_use", usage: FakeUsage(inputTokens: 700, outputTokens: 33))))
            let script = """
                import anthropic, sys
                c = anthropic.Anthropic(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0)
                tools = [{"name": "Edit", "description": "Edit", "input_schema": {"type": "object", "properties": {}}}]
                with c.messages.stream(model="claude-sonnet-5-5", max_tokens=256, tools=tools,
                                       messages=[{"role": "user", "content": "fix it"}]) as stream:
                    kinds = [event.type for event in stream]
                    m = stream.get_final_message()
                print("events", ",".join(k for k in kinds if not k.startswith("input_json") and k != "text"))
                print("final", m.stop_reason, m.content[0].text, m.content[1].name, m.content[1].input["new_string"], m.usage.input_tokens, m.usage.output_tokens)
                """
            let arguments = [server.baseURL, server.apiKey]
            let output = try await onOwnThread { Result { try PythonSDK.run(script, arguments: arguments) } }.get()
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.contains("final tool_use Editing. Edit a+b 700 33"), "\(output)")
            #expect(lines.first { $0.hasPrefix("events ") }?.contains("message_start") == true, "\(output)")
            #expect(lines.first { $0.hasPrefix("events ") }?.hasSuffix("message_stop") == true, "\(output)")
            #expect(server.requests.first?.json?["stream"]?.bool == true)
        }
    }
}

enum PythonSDK {
    static let isInstalled: Bool = (try? run("import anthropic", arguments: [])) != nil

    /// Runs `python3 -c script args…`; throws with stderr when it fails.
    static func run(_ script: String, arguments: [String]) throws -> String {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FakeServerError("python3 exited \(process.terminationStatus): \(String(decoding: stderr, as: UTF8.self))")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}
