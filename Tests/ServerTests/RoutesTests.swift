import API
import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Pipeline
import Server
import Store
import Testing
import TestSupport

/// The HTTP API in-process (`app.test(.router)`): routes, status codes, auth rules, path safety, and a
/// push through the hook endpoint that the scheduler runs (with the scripted executor).
@Suite("HTTP routes")
struct RoutesTests {
    struct NoCounts: TestResultReader {
        func testResults(log: URL, junitFiles: [URL]) -> (counts: TestCounts?, cases: [TestCase]) { (nil, []) }
    }

    final class World: @unchecked Sendable {
        let directory: TemporaryDirectory
        let repo: GitFixture
        let context: ServerContext
        let executor = ScriptedExecutor()

        init() async throws {
            directory = try TemporaryDirectory(prefix: "pushbox-routes")
            repo = try GitFixture.make(in: directory)
            let home = RunnerHome(root: directory.url("home"))
            try FileManager.default.createDirectory(at: home.root, withIntermediateDirectories: true)
            let store = try RunStore(path: home.database.path)
            _ = try store.repositories.addRepo(name: "app", path: repo.bare.path)
            var config = RunnerConfig()
            config.url = "http://127.0.0.1:7070"
            let hub = LogHub()
            let environment = RunEnvironment(home: home, config: config, store: store, executor: executor, reporters: [],
                                             testReader: NoCounts(), hub: hub, processEnvironment: [:])
            let scheduler = Scheduler(environment: environment, logger: Logger(label: "test"))
            context = ServerContext(home: home, config: config, store: store, scheduler: scheduler, hub: hub,
                                    token: "secret-token", version: "test")
        }

        /// Commits a pipeline and pushes it (no hook is installed: the test posts the push itself).
        func pushPipeline(_ yaml: String) throws -> String {
            try repo.write(".pushbox.yml", yaml)
            let sha = try repo.commit("pipeline")
            try repo.push()
            return sha
        }

        /// Waits until no run is executing: a run's driver writes metadata.json and reports after its log
        /// ends, and must be done before the test's directory goes away.
        func idle() async throws {
            while try await context.scheduler.runningCount > 0 || !context.store.queue.queuedRuns().isEmpty {
                try await Task.sleep(for: .milliseconds(10))
            }
        }

        deinit { directory.remove() }

        func app(trusted: Bool) -> some ApplicationProtocol {
            Application(router: Routes.router(context, trusted: trusted))
        }
    }

    private func body(_ updates: [(String, String, String)], repo: String) -> ByteBuffer {
        let list = updates.map { "{\"old_sha\":\"\($0.0)\",\"new_sha\":\"\($0.1)\",\"ref\":\"\($0.2)\"}" }.joined(separator: ",")
        return ByteBuffer(string: "{\"repo_path\":\"\(repo)\",\"updates\":[\(list)]}")
    }

    @Test func healthAndStatus() async throws {
        let world = try await World()
        defer { world.directory.remove() }
        try await world.app(trusted: false).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok\n")
            }
            try await client.execute(uri: "/api/v1/status", method: .get) { response in
                #expect(response.status == .ok)
                let json = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                #expect(json?["version"] as? String == "test")
                #expect(json?["queued"] as? Int == 0)
            }
            try await client.execute(uri: "/api/v1/openapi.json", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "application/json")
                let doc = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                #expect(doc?["openapi"] as? String == "3.1.0")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .notFound, "no metrics provider in this context")
            }
        }
    }

    @Test func postsOverTCPNeedTheToken() async throws {
        let world = try await World()
        defer { world.directory.remove() }
        let sha = try world.pushPipeline("steps:\n  - {name: a, run: \"echo hi\"}\n")
        let payload = body([(RefUpdate.zeroSHA, sha, "refs/heads/main")], repo: world.repo.bare.path)
        try await world.app(trusted: false).test(.router) { client in
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post, body: payload) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post,
                                     headers: [.authorization: "Bearer wrong-token"], body: payload) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/api/v1/runs/1/cancel", method: .post) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post,
                                     headers: [.authorization: "Bearer secret-token"], body: payload) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"status\":\"queued\""))
            }
            // Let the run finish before the test's directory goes away.
            try await client.execute(uri: "/api/v1/runs/1/log?follow=1", method: .get) { response in
                #expect(String(buffer: response.body).contains("==> run 1: passed"))
            }
        }
        #expect(try world.context.store.records.runs().count == 1)
    }

    @Test func aPushThroughTheSocketRunsAndIsListed() async throws {
        let world = try await World()
        defer { world.directory.remove() }
        let sha = try world.pushPipeline("steps:\n  - {name: hello, run: \"echo hello from the step\"}\n  - {name: fail, run: \"exit 3\"}\n")
        try await world.app(trusted: true).test(.router) { client in
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post,
                                     body: body([(RefUpdate.zeroSHA, sha, "refs/heads/main")], repo: world.repo.bare.path)) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains("\"run_id\":1"))
                #expect(text.contains("\"url\":\"http://127.0.0.1:7070/runs/1\""), "JSON without escaped slashes")
            }
            // The whole run's log, followed until the run ends.
            try await client.execute(uri: "/api/v1/runs/1/log?follow=1", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("==> step hello: echo hello from the step"))
                #expect(text.contains("hello from the step\n"))
                #expect(text.contains("==> step fail: failed (exit 3)"))
                #expect(text.contains("==> run 1: failed: step fail failed (exit 3)"))
            }
            try await client.execute(uri: "/api/v1/runs/1", method: .get) { response in
                let run = try APIJSON.decoder().decode(Run.self, from: Data(String(buffer: response.body).utf8))
                #expect(run.state == .failed)
                #expect(run.steps.map(\.exitCode) == [0, 3])
            }
            try await client.execute(uri: "/api/v1/runs?limit=10", method: .get) { response in
                let list = try APIJSON.decoder().decode(RunList.self, from: Data(String(buffer: response.body).utf8))
                #expect(list.runs.map(\.id) == [1])
            }
            try await client.execute(uri: "/api/v1/runs/1/logs/hello", method: .get) { response in
                #expect(String(buffer: response.body) == "hello from the step\n")
            }
            try await client.execute(uri: "/", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains("<td>app</td>") && page.contains("<span class=\"badge failed\">failed</span></a> main"),
                        "each repository with its latest run")
            }
            try await client.execute(uri: "/runs/1", method: .get) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                let page = String(buffer: response.body)
                #expect(page.contains("run #1 <span class=\"badge failed\" id=\"state\" data-key=\"failed|passed,failed|\">failed</span>"), "\(page.prefix(3000))")
                #expect(page.contains("hello from the step") && page.contains("<button data-action=\"retry\">Retry</button>"))
                #expect(page.contains("data-live=\"0\""), "a finished run's logs are not followed")
            }
            try await client.execute(uri: "/api/v1/runs/1/cancel", method: .post) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(uri: "/api/v1/runs/1/retry", method: .post) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"new_run_id\":2"))
            }
            // Let the retried run finish before the test's directory goes away.
            try await client.execute(uri: "/api/v1/runs/2/log?follow=1", method: .get) { response in
                #expect(String(buffer: response.body).contains("==> run 2: failed"))
            }
        }
        #expect(world.executor.violations.isEmpty)
        #expect(world.executor.undestroyed == 0)
    }

    @Test("the scan saw the push before its hook: the hook is told the run's number, not skipped, and nothing runs twice")
    func theScanFirstThenTheHook() async throws {
        let world = try await World()
        defer { world.directory.remove() }
        let sha = try world.pushPipeline("steps:\n  - {name: hello, run: \"echo hello\"}\n")
        await world.context.scheduler.reconcile()
        #expect(try world.context.store.records.runs(limit: 10).map(\.source) == [RunSource.scan])
        try await world.app(trusted: true).test(.router) { client in
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post,
                                     body: body([(RefUpdate.zeroSHA, sha, "refs/heads/main")], repo: world.repo.bare.path)) { response in
                #expect(response.status == .ok)
                let results = try APIJSON.decoder().decode(PostReceiveResponse.self, from: Data(String(buffer: response.body).utf8)).results
                #expect(results.map(\.line) == ["pushbox: run 1 queued for main (\(sha.prefix(7))) http://127.0.0.1:7070/runs/1"])
            }
            try await client.execute(uri: "/api/v1/runs/1/log?follow=1", method: .get) { response in
                #expect(String(buffer: response.body).contains("==> run 1: passed"))
            }
        }
        #expect(try world.context.store.records.runs(limit: 10).map(\.id) == [1], "one run for one push")
        try await world.idle()
    }

    @Test("attempts and VM entries: the attempts endpoint, the run page, a VM entry's log")
    func attemptsAndVMs() async throws {
        let world = try await World()
        defer { world.directory.remove() }
        let store = world.context.store
        let app = try #require(try store.repositories.repo(named: "app"))
        let run = try store.queue.enqueue(repo: app, update: RefUpdate(oldSHA: RefUpdate.zeroSHA, newSHA: String(repeating: "a", count: 40),
                                                                  ref: "refs/heads/main"), source: .hook).run
        try store.records.setFixAttempts(runID: run.id, [
            FixAttemptSummary(attempt: 1, backend: "anthropic", model: "claude-sonnet-5-5", stop: "end_turn", passed: false,
                              verification: "step test failed (exit 2)", diff: "-a <b>\n+c", costUSD: 0.02, turns: 3, toolCalls: 4),
        ])
        try store.records.setVMs(runID: run.id, tree: .pushed, [VMResult(position: 0, profile: "linux-x86_64", command: "make test", state: .passed)])
        let logs = world.context.home.run(run.id).logs
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        try Data("guest says hi\n".utf8).write(to: logs.appendingPathComponent("vm-linux-x86_64.log"))
        try await world.app(trusted: false).test(.router) { client in
            try await client.execute(uri: "/api/v1/runs/\(run.id)/attempts", method: .get) { response in
                #expect(response.status == .ok)
                let json = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any]
                let attempts = json?["attempts"] as? [[String: Any]]
                #expect(attempts?.first?["verification"] as? String == "step test failed (exit 2)")
                #expect(attempts?.first?["tool_calls"] as? Int == 4)
            }
            try await client.execute(uri: "/runs/\(run.id)", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains("autofix attempts") && page.contains("failed: step test failed (exit 2)"))
                #expect(page.contains("<span class=\"del\">-a &lt;b&gt;</span>") && page.contains("<span class=\"add\">+c</span>"),
                        "the diff is escaped and its lines marked")
                #expect(page.contains("vm linux-x86_64: passed") && page.contains("guest says hi"))
            }
            try await client.execute(uri: "/api/v1/runs/\(run.id)/logs/vm-linux-x86_64", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body) == "guest says hi\n")
            }
            // The dashboard's form: server-sent events, from a byte offset, numbered from a line.
            try await client.execute(uri: "/api/v1/runs/\(run.id)/logs/vm-linux-x86_64?from=6&line=3", method: .get,
                                     headers: [.accept: "text/event-stream"]) { response in
                #expect(response.headers[.contentType] == "text/event-stream")
                #expect(String(buffer: response.body) == "event: line\nid: 3\ndata: says hi\n\nevent: end\ndata: passed\n\n")
            }
            try await client.execute(uri: "/runs/\(run.id)", method: .get) { response in
                let page = String(buffer: response.body)
                #expect(page.contains("id=\"vm-linux-x86_64-L1\"") && page.contains("href=\"#vm-linux-x86_64-L1\""), "line anchors")
                #expect(page.contains("data-live=\"1\"") && page.contains("new EventSource"), "a queued run's logs are followed live")
                #expect(page.contains("<button data-action=\"cancel\">Cancel</button>"))
            }
            try await client.execute(uri: "/api/v1/runs/\(run.id)/logs/vm-windows-11", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/api/v1/runs/999/attempts", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("per-repository hook tokens: accepted for their repository only; the runner token for any")
    func hookTokens() async throws {
        let world = try await World()
        defer { world.directory.remove() }
        let store = world.context.store
        let app = try #require(try store.repositories.repo(named: "app"))
        let other = try store.repositories.addRepo(name: "other", path: world.directory.url("other.git").path)
        let appToken = try store.repositories.hookToken(repoID: app.id), otherToken = try store.repositories.hookToken(repoID: other.id)
        #expect(appToken.count == 64 && appToken != otherToken && appToken != world.context.token)
        #expect(try store.repositories.hookToken(repoID: app.id) == appToken, "stable")
        let sha = try world.pushPipeline("steps: [true]\n")
        let body = body([(RefUpdate.zeroSHA, sha, "refs/heads/main")], repo: app.path)
        try await world.app(trusted: false).test(.router) { client in
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post, headers: [.authorization: "Bearer \(otherToken)"],
                                     body: body) { response in
                #expect(response.status == .forbidden)
                #expect(String(buffer: response.body).contains("belongs to repository other"))
            }
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post, headers: [.authorization: "Bearer nope"],
                                     body: body) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post, headers: [.authorization: "Bearer \(appToken)"],
                                     body: body) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains("\"status\":\"queued\""))
            }
            // A repo's hook token is no key to anything else.
            try await client.execute(uri: "/api/v1/runs/1/cancel", method: .post, headers: [.authorization: "Bearer \(appToken)"]) { response in
                #expect(response.status == .unauthorized)
            }
        }
        // The repository list never shows tokens.
        try await world.app(trusted: false).test(.router) { client in
            try await client.execute(uri: "/api/v1/repos", method: .get) { response in
                #expect(!String(buffer: response.body).contains(appToken))
            }
        }
        try await world.idle()
    }

    @Test("a listener that is not loopback needs the token for reading too, unless public: true")
    func nonLoopbackReads() async throws {
        let world = try await World()
        defer { world.directory.remove() }
        var context = world.context
        context.config.listen = "0.0.0.0:7070"
        try await Application(router: Routes.router(context, trusted: false)).test(.router) { client in
            try await client.execute(uri: "/api/v1/runs", method: .get) { response in #expect(response.status == .unauthorized) }
            try await client.execute(uri: "/", method: .get) { response in #expect(response.status == .unauthorized) }
            try await client.execute(uri: "/healthz", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/api/v1/runs", method: .get, headers: [.authorization: "Bearer secret-token"]) { response in
                #expect(response.status == .ok)
            }
        }
        // The unix socket is trusted whatever the TCP listener.
        try await Application(router: Routes.router(context, trusted: true)).test(.router) { client in
            try await client.execute(uri: "/api/v1/runs", method: .get) { response in #expect(response.status == .ok) }
        }
        context.config.isPublic = true
        try await Application(router: Routes.router(context, trusted: false)).test(.router) { client in
            try await client.execute(uri: "/api/v1/runs", method: .get) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/api/v1/runs/1/cancel", method: .post) { response in #expect(response.status == .unauthorized) }
        }
    }

    @Test func badInputGetsClearErrors() async throws {
        let world = try await World()
        defer { world.directory.remove() }
        try await world.app(trusted: true).test(.router) { client in
            try await client.execute(uri: "/api/v1/runs/42", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no run 42"))
            }
            try await client.execute(uri: "/api/v1/runs/abc", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            for step in ["..%2F..%2Fetc%2Fpasswd", ".hidden", "a%2Fb"] {
                try await client.execute(uri: "/api/v1/runs/1/logs/\(step)", method: .get) { response in
                    #expect(response.status == .badRequest || response.status == .notFound, "\(step): \(response.status)")
                    #expect(!String(buffer: response.body).contains("root:"))
                }
            }
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post, body: ByteBuffer(string: "{not json")) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("repo_path"))
            }
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post,
                                     body: body([(RefUpdate.zeroSHA, String(repeating: "a", count: 40), "refs/heads/main")], repo: "/nowhere.git")) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("not registered"))
            }
            let huge = ByteBuffer(repeating: UInt8(ascii: " "), count: Routes.maxBodyBytes + 1)
            try await client.execute(uri: "/api/v1/hooks/post-receive", method: .post, body: huge) { response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }
}
