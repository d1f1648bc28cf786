@testable import Agent
import Foundation
import HTTP
import Testing
import TestSupport

@Suite("AnthropicClient against the fake API")
struct AnthropicClientTests {
    @Test func successSendsTheDocumentedHeadersAndBody() async throws {
        try await withFakeServer { server in
            server.enqueue(.reply(FakeReply(
                content: [.text("Looking."), .toolUse(id: "toolu_1", name: "read_file", input: #"{"path":"a.c"}"#)],
                stopReason: "tool_use", usage: FakeUsage(inputTokens: 812, outputTokens: 41, cacheCreationInputTokens: 7, cacheReadInputTokens: 9))))
            let time = FakeTime()
            let (response, info) = try await client(server, time: time).send(simpleRequest())
            #expect(response.stopReason == .toolUse)
            #expect(response.model == "claude-sonnet-5-5")
            #expect(response.message.toolUses.first?.input["path"] == "a.c")
            #expect(response.usage == Usage(inputTokens: 812, outputTokens: 41, cacheCreationInputTokens: 7, cacheReadInputTokens: 9))
            #expect(info.attempts == 1)
            #expect(info.requestID?.hasPrefix("req_fake_") == true)
            #expect(time.slept.isEmpty)

            let request = try #require(server.requests.only)
            #expect(request.method == "POST")
            #expect(request.path == "/v1/messages")
            #expect(request.header("x-api-key") == server.apiKey)
            #expect(request.header("anthropic-version") == "2026-10-21")
            #expect(request.header("content-type") == "application/json")
            #expect(request.responseStatus == 200)
            #expect(request.json?["max_tokens"] == 1024)
            #expect(!request.bodyText.contains("temperature"))
        }
    }

    @Test func overloadedThenSuccessIsRetriedAfterTheBackoff() async throws {
        try await withFakeServer { server in
            server.enqueue(.overloaded(), .text("done"))
            let time = FakeTime(random: 0)
            let (response, info) = try await client(server, time: time).send(simpleRequest())
            #expect(response.message.text == "done")
            #expect(info.attempts == 2)
            #expect(time.slept == [.milliseconds(500)])
            #expect(info.delays == [.milliseconds(500)])
            #expect(server.requests.map(\.responseStatus) == [529, 200])
            // The retried request is the same request.
            #expect(server.requests[0].body == server.requests[1].body)
        }
    }

    @Test func backoffGrowsAcrossSeveralRetries() async throws {
        try await withFakeServer { server in
            server.enqueue(.internalError(), .overloaded(), .error(status: 503, type: "api_error", message: "x", headers: [:]), .text("ok"))
            let time = FakeTime(random: 0)
            _ = try await client(server, time: time).createMessage(simpleRequest())
            #expect(time.slept == [.milliseconds(500), .seconds(1), .seconds(2)])
        }
    }

    @Test func rateLimitHonoursRetryAfterSeconds() async throws {
        try await withFakeServer { server in
            server.enqueue(.rateLimited(retryAfter: "3"), .text("ok"))
            let time = FakeTime()
            let (_, info) = try await client(server, time: time).send(simpleRequest())
            #expect(time.slept == [.seconds(3)])
            #expect(info.attempts == 2)
        }
    }

    @Test func retryAfterMsTakesPrecedence() async throws {
        try await withFakeServer { server in
            server.enqueue(.rateLimited(retryAfter: "30", retryAfterMs: "1250"), .text("ok"))
            let time = FakeTime()
            _ = try await client(server, time: time).createMessage(simpleRequest())
            #expect(time.slept == [.milliseconds(1250)])
        }
    }

    @Test func xShouldRetryFalseStopsAtOnce() async throws {
        try await withFakeServer { server in
            server.enqueue(.overloaded(headers: ["x-should-retry": "false"]), .text("never sent"))
            let time = FakeTime()
            let error = await #expect(throws: AnthropicAPIError.self) {
                try await client(server, time: time).createMessage(simpleRequest())
            }
            #expect(error?.status == 529)
            #expect(error?.type == "overloaded_error")
            #expect(server.requests.count == 1)
            #expect(time.slept.isEmpty)
        }
    }

    @Test func xShouldRetryTrueRetriesEvenA400() async throws {
        try await withFakeServer { server in
            server.enqueue(.error(status: 400, type: "invalid_request_error", message: "transient", headers: ["x-should-retry": "true"]), .text("ok"))
            let time = FakeTime()
            let (_, info) = try await client(server, time: time).send(simpleRequest())
            #expect(info.attempts == 2)
        }
    }

    @Test func wrongKeyFailsAtOnceWithTheAPIMessageAndWithoutTheKey() async throws {
        try await withFakeServer { server in
            let wrongKey = "sk-ant-wrong-SECRET-abcdef"
            let time = FakeTime()
            let error = await #expect(throws: AnthropicAPIError.self) {
                try await client(server, apiKey: wrongKey, time: time).createMessage(simpleRequest())
            }
            let failure = try #require(error)
            #expect(failure.status == 401)
            #expect(failure.type == "authentication_error")
            #expect(failure.message == "invalid x-api-key")
            #expect(failure.requestID?.hasPrefix("req_fake_") == true)
            #expect(!failure.description.contains(wrongKey))
            #expect(!"\(failure)".contains("SECRET"))
            #expect(server.requests.count == 1)
            #expect(time.slept.isEmpty)
            #expect(!"\(client(server, apiKey: wrongKey, time: time))".contains(wrongKey))
        }
    }

    @Test(arguments: [(400, "invalid_request_error"), (403, "permission_error"), (404, "not_found_error"), (413, "request_too_large")])
    func clientErrorsFailAtOnceWithTheAPIMessage(status: Int, type: String) async throws {
        try await withFakeServer { server in
            server.enqueue(.error(status: status, type: type, message: "the API says \(status)", headers: [:]))
            let error = await #expect(throws: AnthropicAPIError.self) {
                try await client(server, time: FakeTime()).createMessage(simpleRequest())
            }
            #expect(error?.status == status)
            #expect(error?.type == type)
            #expect(error?.message == "the API says \(status)")
            #expect(server.requests.count == 1)
        }
    }

    @Test func aMessageTheAPIRejectsGivesItsOwnWording() async throws {
        try await withFakeServer { server in
            // An assistant tool_use left unanswered: the fake validates like the API.
            let request = MessageRequest(model: "m", maxTokens: 10, messages: [
                .user("hi"),
                Message(role: .assistant, content: [.toolUse(ToolUseBlock(id: "toolu_9", name: "x", input: [:]))]),
                .user("no result"),
            ])
            let error = await #expect(throws: AnthropicAPIError.self) {
                try await client(server, time: FakeTime()).createMessage(request)
            }
            #expect(error?.status == 400)
            #expect(error?.message.contains("`tool_use` ids were found without `tool_result` blocks immediately after: toolu_9") == true)
        }
    }

    @Test func retryBudgetExhaustionIsAClearError() async throws {
        try await withFakeServer { server in
            server.enqueue(.overloaded(), .overloaded(), .overloaded(), .text("too late"))
            let time = FakeTime()
            let error = await #expect(throws: RetryBudgetExhausted.self) {
                try await client(server, retry: RetryPolicy(maxRetries: 2), time: time).createMessage(simpleRequest())
            }
            let failure = try #require(error)
            #expect(failure.attempts == 3)
            #expect(failure.limit == "2 retries")
            #expect(failure.lastAPIError?.status == 529)
            #expect(failure.description.contains("after 3 requests"))
            #expect(failure.description.contains("overloaded_error"))
            #expect(server.requests.count == 3)
            #expect(time.slept.count == 2)
        }
    }

    @Test func aWaitPastTheTotalTimeCapEndsAtOnce() async throws {
        try await withFakeServer { server in
            server.enqueue(.rateLimited(retryAfter: "600"), .text("too late"))
            let time = FakeTime()
            let error = await #expect(throws: RetryBudgetExhausted.self) {
                try await client(server, retry: RetryPolicy(maxRetries: 4, totalTime: .seconds(60)), time: time).createMessage(simpleRequest())
            }
            #expect(error?.attempts == 1)
            #expect(error?.limit.contains("60 s cap") == true)
            #expect(time.slept.isEmpty)
        }
    }

    @Test func theTotalTimeCapCountsTheWaits() async throws {
        try await withFakeServer { server in
            // 4 s + 4 s fits in 10 s; the third 4 s wait would not.
            server.enqueue(.rateLimited(retryAfter: "4"), .rateLimited(retryAfter: "4"), .rateLimited(retryAfter: "4"), .text("x"))
            let time = FakeTime()
            let error = await #expect(throws: RetryBudgetExhausted.self) {
                try await client(server, retry: RetryPolicy(maxRetries: 10, totalTime: .seconds(10)), time: time).createMessage(simpleRequest())
            }
            #expect(error?.attempts == 3)
            #expect(time.slept == [.seconds(4), .seconds(4)])
        }
    }

    @Test func aDroppedConnectionIsRetried() async throws {
        try await withFakeServer { server in
            server.enqueue(.dropConnection, .text("after the drop"))
            let time = FakeTime(random: 0)
            let (response, info) = try await client(server, time: time).send(simpleRequest())
            #expect(response.message.text == "after the drop")
            #expect(info.attempts == 2)
            #expect(server.requests.map(\.responseStatus) == [-1, 200])
            #expect(time.slept == [.milliseconds(500)])
        }
    }

    @Test func noServerAtAllExhaustsTheRetriesWithTheTransportError() async throws {
        let port = DaemonFixture.freePort()
        let time = FakeTime()
        let client = AnthropicClient(baseURL: "http://127.0.0.1:\(port)", apiKey: "sk-ant-nobody-home",
                                     retry: RetryPolicy(maxRetries: 2), timing: time.timing, logger: testLogger())
        let error = await #expect(throws: RetryBudgetExhausted.self) {
            try await client.createMessage(simpleRequest())
        }
        #expect(error?.attempts == 3)
        #expect(error?.lastAPIError == nil)
        #expect(error?.lastFailure.contains("curl_easy_perform") == true)
        #expect(error?.description.contains("sk-ant-nobody-home") == false)
    }

    @Test func aSlowAnswerTimesOutAndIsRetried() async throws {
        try await withFakeServer { server in
            server.enqueue(.delayed(.seconds(6), then: .text("slow")), .text("fast"))
            let time = FakeTime()
            let (response, info) = try await client(server, time: time, requestTimeout: .seconds(2)).send(simpleRequest())
            #expect(response.message.text == "fast")
            #expect(info.attempts == 2)
        }
    }

    @Test func aNonMessage200IsNotRetriedAndSaysWhatCame() async throws {
        try await withFakeServer { server in
            server.enqueue(.raw(status: 200, headers: ["content-type": "text/html"], body: "<html>captive portal</html>"))
            let error = await #expect(throws: InvalidResponseError.self) {
                try await client(server, time: FakeTime()).createMessage(simpleRequest())
            }
            #expect(error?.bodyPrefix.contains("captive portal") == true)
            #expect(server.requests.count == 1)
        }
    }

    @Test func anHTMLErrorPageIsReportedAsSuch() async throws {
        try await withFakeServer { server in
            server.enqueue(.raw(status: 403, headers: [:], body: "<html>Forbidden by proxy</html>"))
            let error = await #expect(throws: AnthropicAPIError.self) {
                try await client(server, time: FakeTime()).createMessage(simpleRequest())
            }
            #expect(error?.type == "http_error")
            #expect(error?.message.contains("Forbidden by proxy") == true)
        }
    }

    @Test func cancellationStopsTheRetryLoop() async throws {
        try await withFakeServer { server in
            server.enqueue(.delayed(.seconds(20), then: .text("never")))
            let client = client(server, time: FakeTime())
            let task = Task { try await client.createMessage(simpleRequest()) }
            try await Task.sleep(for: .milliseconds(200))
            task.cancel()
            let started = ContinuousClock.now
            await #expect(throws: CancellationError.self) { try await task.value }
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }
}

extension Array {
    /// The single element, nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}
