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
