import Core
import Foundation
import Reports
import Testing

@Suite("webhooks: signature, payload, backoff")
struct WebhookUnitTests {
    @Test("HMAC-SHA256 through libcrypto matches RFC 4231 test case 2; no secret, no signature")
    func signature() {
        #expect(WebhookSignature.sign(Data("what do ya want for nothing?".utf8), secret: "Jefe")
            == "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(WebhookSignature.sign(Data("x".utf8), secret: "") == nil)
        // The raw bytes are signed: one byte more, another signature.
        #expect(WebhookSignature.sign(Data("{}".utf8), secret: "k") != WebhookSignature.sign(Data("{} ".utf8), secret: "k"))
    }

    @Test("the payload is the run as the API shows it, with the event, the delivery id and the run's URL")
    func payload() throws {
        var run = Run(id: 7, repoID: 1, repoName: "app", ref: "refs/heads/main", sha: String(repeating: "c", count: 40), state: .failed)
        run.steps = [StepResult(position: 0, name: "test", command: "make test", state: .failed, exitCode: 2, testsPassed: 3, testsFailed: 1)]
        run.autofix = "gave up after 3 attempts: no idea"
        run.vms = [VMResult(position: 0, profile: "linux-x86_64", command: "make test", state: .skipped)]
        let data = WebhookPayload.encode(run, event: .finished, delivery: "d-1", url: "http://127.0.0.1:7070/runs/7")
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["event"] as? String == "finished" && json["delivery"] as? String == "d-1")
        #expect(json["url"] as? String == "http://127.0.0.1:7070/runs/7")
        let body = try #require(json["run"] as? [String: Any])
        #expect(body["state"] as? String == "failed" && body["repo_name"] as? String == "app")
        #expect((body["steps"] as? [[String: Any]])?.first?["tests_failed"] as? Int == 1)
        #expect(body["autofix"] as? String == "gave up after 3 attempts: no idea")
        #expect((body["vms"] as? [[String: Any]])?.first?["profile"] as? String == "linux-x86_64")
    }

    @Test("backoff doubles from the base, capped at an hour, with the jitter applied", arguments: [
        (1, 10.0, 0.0, 10_000), (2, 10.0, 0.0, 20_000), (4, 10.0, 0.0, 80_000), (12, 10.0, 0.0, 3_600_000),
        (1, 1.0, 0.1, 1_100), (3, 1.0, -0.1, 3_600), (0, 5.0, 0.0, 5_000),
    ])
    func backoff(_ attempt: Int, _ base: Double, _ jitter: Double, _ milliseconds: Int64) {
        #expect(DeliveryBackoff.wait(afterAttempt: attempt, base: .milliseconds(Int64(base * 1000)), jitter: jitter) == .milliseconds(milliseconds))
    }
}

@Suite("forge commit statuses: pure translation")
struct ForgeStatusTests {
    @Test("run states map to each forge's states", arguments: [
        (RunState.queued, "pending", "pending"), (.running, "pending", "running"), (.passed, "success", "success"),
        (.failed, "failure", "failed"), (.error, "error", "failed"), (.canceled, "error", "canceled"),
    ])
    func states(_ state: RunState, _ giteaAndGitHub: String, _ gitlab: String) {
        #expect(ForgeStatus.state(state, forge: "gitea") == giteaAndGitHub)
        #expect(ForgeStatus.state(state, forge: "github") == giteaAndGitHub)
        #expect(ForgeStatus.state(state, forge: "gitlab") == gitlab)
    }

    @Test("endpoints, bodies and token headers", arguments: [
        ("gitea", "https://git.example/api/v1/", "org/app", "https://git.example/api/v1/repos/org/app/statuses/abc",
         #"{"context":"pushbox/ci","description":"run 1: passed","state":"success","target_url":"http://x/runs/1"}"#,
         "Authorization: token T"),
        ("github", "https://api.github.com", "org/app", "https://api.github.com/repos/org/app/statuses/abc",
         #"{"context":"pushbox/ci","description":"run 1: passed","state":"success","target_url":"http://x/runs/1"}"#,
         "Authorization: Bearer T|Accept: application/vnd.github+json|X-GitHub-Api-Version: 2022-11-28"),
        ("gitlab", "https://gitlab.example/api/v4", "group/sub/app", "https://gitlab.example/api/v4/projects/group%2Fsub%2Fapp/statuses/abc",
         #"{"description":"run 1: passed","name":"pushbox/ci","state":"success","target_url":"http://x/runs/1"}"#,
         "PRIVATE-TOKEN: T"),
    ])
    func requests(_ forge: String, _ api: String, _ project: String, _ url: String, _ body: String, _ headers: String) {
        #expect(ForgeStatus.endpoint(forge: forge, api: api, project: project, sha: "abc") == url)
        #expect(String(decoding: ForgeStatus.body(forge: forge, state: "success", targetURL: "http://x/runs/1", description: "run 1: passed",
                                                  context: "pushbox/ci"), as: UTF8.self) == body)
        #expect(ForgeStatus.headers(forge: forge, token: "T").map { "\($0.name): \($0.value)" }.joined(separator: "|") == headers)
    }

    @Test("the description says the outcome, the tests and why; at most 140 characters")
    func description() throws {
        var run = Run(id: 12, repoID: 1, repoName: "app", ref: "refs/heads/main", sha: "a", state: .failed, message: "step test failed (exit 2)")
        run.steps = [StepResult(position: 0, name: "test", command: "t", state: .failed, testsPassed: 41, testsFailed: 1)]
        #expect(ForgeStatus.description(run) == "run 12: failed (41 passed, 1 failed): step test failed (exit 2)")
        let long = ForgeStatus.body(forge: "github", state: "failure", targetURL: "u", description: String(repeating: "x", count: 300), context: "c")
        let json = try #require(try JSONSerialization.jsonObject(with: long) as? [String: String])
        #expect(json["description"]?.count == 140 && json["description"]?.hasSuffix("...") == true)
    }
}
