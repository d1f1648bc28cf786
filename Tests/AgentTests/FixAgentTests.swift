@testable import Agent
import Core
import Foundation
import Logging
import Testing
import TestSupport

private let model = "claude-sonnet-5-5"
private let prices = PriceTable(models: [model: ModelPrice(input: 3, output: 15, cacheWrite: 3.75, cacheRead: 0.3)])

private func configuration(maxTurns: Int = 10, maxCost: Double = 2, wallTime: Duration = .seconds(60),
                           prices: PriceTable = prices) -> FixAgentConfiguration {
    FixAgentConfiguration(model: model, maxTokens: 2048, systemPrompt: "You fix CI failures.", maxTurns: maxTurns,
                          wallTime: wallTime, maxCostUSD: maxCost, prices: prices)
}

/// A project whose `add` subtracts.
private func makeProject(_ root: URL, extra: [String: String] = [:]) throws {
    try FileManager.default.createDirectory(at: root.appendingPathComponent("src"), withIntermediateDirectories: true)
    try "int add(int a, int b) {\n    return a - b;\n}\n".write(to: root.appendingPathComponent("src/calc.c"), atomically: true, encoding: .utf8)
    for (path, text) in extra { try text.write(to: root.appendingPathComponent(path), atomically: true, encoding: .utf8) }
}

private func agent(_ server: FakeAnthropicServer, root: URL, runner: any CommandRunner = ScriptedRunner(),
                   masker: SecretMasker = SecretMasker(secrets: []), configuration: FixAgentConfiguration = configuration(),
                   protected: [String] = [".pushbox.yml"]) throws -> FixAgent {
    let workspace = try Workspace(root: root, protectedPaths: protected)
    return FixAgent(client: client(server, time: FakeTime()), tools: AgentTools.standard(workspace: workspace, runner: runner),
                    masker: masker, configuration: configuration)
}

/// The content blocks of message `index` of a recorded request body.
private func blocks(_ body: FakeJSON, message index: Int) -> [FakeJSON] {
    body["messages"]?[index]?["content"]?.array ?? []
}

@Suite("FixAgent tool loop against the fake API")
struct FixAgentTests {
    @Test func pairsEveryToolUseWithAResultAcrossTurns() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                server.enqueue(
                    .toolUse([(id: "toolu_a", name: "list_files", input: "{}"),
                              (id: "toolu_b", name: "read_file", input: #"{"path":"src/calc.c"}"#)],
                             text: "Let me look.", usage: FakeUsage(inputTokens: 1000, outputTokens: 50, cacheCreationInputTokens: 2000)),
                    .toolUse([(id: "toolu_c", name: "edit_file", input: #"{"path":"src/calc.c","old_text":"a - b","new_text":"a + b"}"#),
                              (id: "toolu_d", name: "run_command", input: #"{"command":"make test"}"#)],
                             usage: FakeUsage(inputTokens: 200, outputTokens: 80, cacheReadInputTokens: 2000)),
                    .text("add() subtracted; it now adds.", usage: FakeUsage(inputTokens: 100, outputTokens: 20, cacheReadInputTokens: 2400)))
                let runner = ScriptedRunner()
                let transcript = try await agent(server, root: root, runner: runner).run(task: "The test step failed.", logger: testLogger())

                #expect(transcript.stop.reason == .completed)
                #expect(transcript.explanation == "add() subtracted; it now adds.")
                #expect(transcript.turns.map(\.stopReason) == ["tool_use", "tool_use", "end_turn"])
                #expect(transcript.toolCalls.map(\.id) == ["toolu_a", "toolu_b", "toolu_c", "toolu_d"])
                #expect(transcript.toolCalls.map(\.name) == ["list_files", "read_file", "edit_file", "run_command"])
                #expect(transcript.toolCalls.map(\.turn) == [1, 1, 2, 2])
                #expect(transcript.toolCalls.allSatisfy { !$0.isError && $0.outputBytes > 0 })
                #expect(transcript.toolCalls[1].inputSummary == #"{"path":"src/calc.c"}"#)
                #expect(transcript.usage == Usage(inputTokens: 1300, outputTokens: 150, cacheCreationInputTokens: 2000, cacheReadInputTokens: 4400))
                let input: Double = 1300 * 3, output: Double = 150 * 15
                let cacheWrite: Double = 2000 * 3.75, cacheRead: Double = 4400 * 0.3
                let expectedCost = (input + output + cacheWrite + cacheRead) / 1_000_000
                #expect(abs(transcript.costUSD - expectedCost) < 1e-12)
                #expect(runner.received == ["make test"])
                #expect(try String(contentsOf: root.appendingPathComponent("src/calc.c"), encoding: .utf8).contains("return a + b;"))

                // The fake accepted every request (it validates pairing), and the results answer the ids in order.
                #expect(server.requests.map(\.responseStatus) == [200, 200, 200])
                let bodies = recordedBodies(server)
                let second = blocks(bodies[1], message: 2)
                #expect(second.map { $0["type"]?.string } == ["tool_result", "tool_result"])
                #expect(second.map { $0["tool_use_id"]?.string } == ["toolu_a", "toolu_b"])
                #expect(second[1]["content"]?.string?.contains("return a - b;") == true)
                let third = blocks(bodies[2], message: 4)
                #expect(third.map { $0["tool_use_id"]?.string } == ["toolu_c", "toolu_d"])
                // The assistant turns were sent back unchanged.
                #expect(blocks(bodies[1], message: 1).first?["text"]?.string == "Let me look.")
                #expect(blocks(bodies[1], message: 1)[1]["id"]?.string == "toolu_a")
            }
        }
    }

    @Test func cacheControlMarksSystemLastToolAndLastUserBlock() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                server.enqueue(.toolUse([(id: "toolu_1", name: "list_files", input: "{}")]), .text("done"))
                _ = try await agent(server, root: root).run(task: "fix", logger: testLogger())
                for body in recordedBodies(server) {
                    #expect(body["system"]?[0]?["cache_control"]?["type"] == "ephemeral")
                    let tools = body["tools"]?.array ?? []
                    #expect(tools.count == 6)
                    #expect(tools.last?["cache_control"]?["type"] == "ephemeral")
                    #expect(tools.dropLast().allSatisfy { $0["cache_control"] == nil })
                    let messages = body["messages"]?.array ?? []
                    let marked = messages.flatMap { $0["content"]?.array ?? [] }.filter { $0["cache_control"] != nil }
                    #expect(marked.count == 1)
                    #expect(messages.last?["content"]?.array?.last?["cache_control"] != nil)
                    #expect(body["temperature"] == nil && body["top_p"] == nil && body["top_k"] == nil)
                }
            }
        }
    }

    @Test func aFailingToolGivesIsErrorAndTheLoopGoesOn() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                server.enqueue(
                    .toolUse([(id: "toolu_1", name: "read_file", input: #"{"path":"missing.c"}"#),
                              (id: "toolu_2", name: "launch_rockets", input: "{}"),
                              (id: "toolu_3", name: "run_command", input: #"{"command":"make"}"#)]),
                    .text("Gave up."))
                let runner = ScriptedRunner { _ in CommandResult(exitCode: 2, output: Data("make: *** error\n".utf8)) }
                let transcript = try await agent(server, root: root, runner: runner).run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .completed)
                #expect(transcript.toolCalls.map(\.isError) == [true, true, true])
                let results = blocks(recordedBodies(server)[1], message: 2)
                #expect(results.map { $0["is_error"]?.bool } == [true, true, true])
                #expect(results[0]["content"]?.string?.contains("no such file") == true)
                #expect(results[1]["content"]?.string?.contains("no tool named \"launch_rockets\"") == true)
                #expect(results[2]["content"]?.string?.contains("exit code: 2") == true)
            }
        }
    }

    @Test func maxTurnsStopsTheLoopWithoutRunningTheLastTools() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                for index in 1...5 { server.enqueue(.toolUse([(id: "toolu_\(index)", name: "list_files", input: "{}")])) }
                let transcript = try await agent(server, root: root, configuration: configuration(maxTurns: 2)).run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .maxTurns)
                #expect(transcript.stop.detail.contains("2 turns"))
                #expect(transcript.turns.count == 2)
                #expect(transcript.toolCalls.map(\.id) == ["toolu_1"])
                #expect(server.requests.count == 2)
            }
        }
    }

    @Test func theCostBudgetStopsTheLoop() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                // 10 000 input tokens at $3/MTok = $0.03 per turn; the budget is $0.05.
                for index in 1...5 {
                    server.enqueue(.toolUse([(id: "toolu_\(index)", name: "list_files", input: "{}")], usage: FakeUsage(inputTokens: 10_000, outputTokens: 0)))
                }
                let transcript = try await agent(server, root: root, configuration: configuration(maxCost: 0.05)).run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .costBudget)
                #expect(transcript.turns.count == 2)
                #expect(abs(transcript.costUSD - 0.06) < 1e-9)
                #expect(transcript.stop.detail.contains("$0.05"))
                #expect(server.requests.count == 2)
            }
        }
    }

    @Test func aSecretInAFileNeverReachesTheModel() async throws {
        let secret = "hunter2-DEPLOY-TOKEN-77"
        try await withTemporaryDirectory { root in
            try makeProject(root, extra: ["config.env": "TOKEN=\(secret)\nENCODED=\(Data(secret.utf8).base64EncodedString())\n"])
            try await withFakeServer { server in
                server.enqueue(
                    .toolUse([(id: "toolu_1", name: "read_file", input: #"{"path":"config.env"}"#),
                              (id: "toolu_2", name: "search", input: #"{"pattern":"TOKEN"}"#),
                              (id: "toolu_3", name: "run_command", input: #"{"command":"env"}"#)]),
                    .text("done"))
                let runner = ScriptedRunner { _ in CommandResult(exitCode: 0, output: Data("DEPLOY_TOKEN=\(secret)\n".utf8)) }
                let transcript = try await agent(server, root: root, runner: runner, masker: SecretMasker(secrets: [secret]))
                    .run(task: "The log says: auth failed for \(secret)", logger: testLogger())
                #expect(transcript.stop.reason == .completed)
                #expect(server.requests.count == 2)
                for request in server.requests {
                    #expect(!request.bodyText.contains(secret))
                    #expect(!request.bodyText.contains(Data(secret.utf8).base64EncodedString()))
                }
                let results = blocks(recordedBodies(server)[1], message: 2)
                #expect(results[0]["content"]?.string?.contains("TOKEN=***") == true)
                #expect(results[2]["content"]?.string?.contains("DEPLOY_TOKEN=***") == true)
                let encoded = try JSONEncoder().encode(transcript)
                #expect(!String(decoding: encoded, as: UTF8.self).contains(secret))
            }
        }
    }

    @Test func maxTokensIsContinuedOnceThenStops() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                server.enqueue(
                    .reply(FakeReply(content: [.text("The bug is"), .toolUse(id: "toolu_cut", name: "write_file", input: #"{"path":"src/x.c"}"#)],
                                     stopReason: "max_tokens")),
                    .text(" in add().", stopReason: "end_turn"))
                let once = try await agent(server, root: root).run(task: "fix", logger: testLogger())
                #expect(once.stop.reason == .completed)
                #expect(once.toolCalls.isEmpty)   // the cut-off call was not run
                #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("src/x.c").path))
                let second = blocks(recordedBodies(server)[1], message: 2)
                #expect(second.map { $0["type"]?.string } == ["tool_result", "text"])
                #expect(second[0]["tool_use_id"]?.string == "toolu_cut")
                #expect(second[0]["is_error"]?.bool == true)
                #expect(second[1]["text"]?.string == FixAgent.continueNote)

                server.enqueue(.text("a", stopReason: "max_tokens"), .text("b", stopReason: "max_tokens"), .text("never"))
                let twice = try await agent(server, root: root).run(task: "fix", logger: testLogger())
                #expect(twice.stop.reason == .maxTokens)
                #expect(twice.turns.count == 2)
                #expect(server.pendingBehaviours == 1)
            }
        }
    }

    @Test func pauseTurnIsSentBackAsIs() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                server.enqueue(.text("Still working", stopReason: "pause_turn"), .text("Finished."))
                let transcript = try await agent(server, root: root).run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .completed)
                #expect(transcript.explanation == "Finished.")
                let body = recordedBodies(server)[1]
                let messages = body["messages"]?.array ?? []
                #expect(messages.count == 2)
                #expect(messages.last?["role"] == "assistant")
                #expect(messages.last?["content"]?[0]?["text"] == "Still working")
            }
        }
    }

    @Test(arguments: [("refusal", AttemptStop.Reason.refusal), ("model_context_window_exceeded", .contextWindowExceeded),
                      ("something_new", .unexpectedStopReason)])
    func terminalStopReasonsAreRecorded(raw: String, reason: AttemptStop.Reason) async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                server.enqueue(.text("No.", stopReason: raw))
                let transcript = try await agent(server, root: root).run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == reason)
                #expect(transcript.turns.count == 1)
            }
        }
    }

    @Test func anAPIErrorEndsTheAttemptWithTheAPIMessage() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                let workspace = try Workspace(root: root)
                let wrongKey = "sk-ant-WRONG-key-123"
                let agent = FixAgent(client: client(server, apiKey: wrongKey, time: FakeTime()),
                                     tools: AgentTools.standard(workspace: workspace, runner: ScriptedRunner()),
                                     masker: SecretMasker(secrets: [wrongKey]), configuration: configuration())
                let transcript = await agent.run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .apiError)
                #expect(transcript.stop.detail.contains("401 authentication_error: invalid x-api-key"))
                #expect(!transcript.stop.detail.contains(wrongKey))
            }
        }
    }

    @Test func overloadedThenSuccessInsideTheLoop() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try await withFakeServer { server in
                server.enqueue(.overloaded(), .rateLimited(retryAfter: "1"), .text("fixed"))
                let transcript = try await agent(server, root: root).run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .completed)
                #expect(transcript.turns.count == 1)
                #expect(server.requests.map(\.responseStatus) == [529, 429, 200])
            }
        }
    }

    @Test func aMissingPriceStopsBeforeAnyRequest() async throws {
        try await withTemporaryDirectory { root in
            try await withFakeServer { server in
                let transcript = try await agent(server, root: root, configuration: configuration(prices: PriceTable(models: [:])))
                    .run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .configuration)
                #expect(server.requests.isEmpty)
            }
        }
    }

    @Test func wallTimeCancelsASlowModelRequest() async throws {
        try await withTemporaryDirectory { root in
            try await withFakeServer { server in
                server.enqueue(.delayed(.seconds(20), then: .text("too late")))
                let transcript = try await agent(server, root: root, configuration: configuration(wallTime: .milliseconds(500)))
                    .run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .wallTime)
            }
        }
    }

    @Test func wallTimeStopsASlowCommand() async throws {
        try await withTemporaryDirectory { root in
            try await withFakeServer { server in
                server.enqueue(.toolUse([(id: "toolu_1", name: "run_command", input: #"{"command":"sleep 30"}"#)]), .text("never"))
                let runner = SandboxCommandRunner(sandbox: LocalShellSandbox(directory: root), useTimeoutUtility: false)
                let transcript = try await agent(server, root: root, runner: runner, configuration: configuration(wallTime: .seconds(3)))
                    .run(task: "fix", logger: testLogger())
                #expect(transcript.stop.reason == .wallTime)
                #expect(transcript.stop.detail.contains("run_command"))
                #expect(transcript.toolCalls.first?.isError == true)
            }
        }
    }

    @Test func cancellationIsRecorded() async throws {
        try await withTemporaryDirectory { root in
            try await withFakeServer { server in
                server.enqueue(.delayed(.seconds(20), then: .text("never")))
                let agent = try agent(server, root: root)
                let task = Task { await agent.run(task: "fix", logger: testLogger()) }
                try await Task.sleep(for: .milliseconds(300))
                task.cancel()
                let transcript = await task.value
                #expect(transcript.stop.reason == .canceled)
            }
        }
    }

    @Test func transcriptEncodesWithSnakeCaseKeys() throws {
        let transcript = AttemptTranscript(
            model: model, stop: AttemptStop(.costBudget, "over"),
            turns: [TurnRecord(turn: 1, messageID: "msg_1", stopReason: "tool_use", usage: Usage(inputTokens: 1), costUSD: 0.5, durationSeconds: 1.5)],
            toolCalls: [ToolCallRecord(turn: 1, id: "t", name: "read_file", inputSummary: "{}", outputBytes: 3, isError: false, durationSeconds: 0.1)],
            usage: Usage(inputTokens: 1), costUSD: 0.5, explanation: "x", durationSeconds: 2)
        let data = try JSONEncoder().encode(transcript)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(json.keys) == ["model", "stop", "turns", "tool_calls", "usage", "cost_usd", "explanation", "duration_seconds"])
        #expect((json["stop"] as? [String: Any])?["reason"] as? String == "cost_budget")
        let call = try #require((json["tool_calls"] as? [[String: Any]])?.first)
        #expect(Set(call.keys) == ["turn", "id", "name", "input_summary", "output_bytes", "is_error", "duration_seconds"])
        #expect(try JSONDecoder().decode(AttemptTranscript.self, from: data) == transcript)
    }

    @Test func inputSummariesAreCappedAt200Characters() {
        #expect(FixAgent.summarize(String(repeating: "x", count: 200)).count == 200)
        let long = FixAgent.summarize(String(repeating: "y", count: 500))
        #expect(long.count == 200)
        #expect(long.hasSuffix("…"))
    }

    @Test func emptyTextBlocksAreDroppedFromReplayedTurns() {
        let message = Message(role: .assistant, content: [.text(""), .toolUse(ToolUseBlock(id: "t", name: "n", input: [:]))])
        #expect(FixAgent.replayable(message).content.map(\.type) == ["tool_use"])
    }
}
