import API
import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import Pipeline
@testable import Server
import Testing

/// The OpenAPI document is served, parses, and its schemas list exactly the keys the real encoders write.
@Suite("OpenAPI document")
struct OpenAPITests {
    static func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
    }

    static func properties(_ schema: String) throws -> Set<String> {
        let schemas = try #require((try document()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let object = try #require(schemas[schema] as? [String: Any], "no schema \(schema)")
        return Set(try #require(object["properties"] as? [String: Any]).keys)
    }

    /// The keys of a value as the API encodes it, with every optional filled so that none is left out.
    static func keys<T: Encodable>(_ value: T) throws -> Set<String> {
        let data = try APIJSON.encoder().encode(value)
        return Set(try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]).keys)
    }

    @Test("every path the routes serve is described; OpenAPI 3.1")
    func paths() throws {
        let doc = try Self.document()
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = Set(try #require(doc["paths"] as? [String: Any]).keys)
        #expect(paths == ["/healthz", "/metrics", "/api/v1/status", "/api/v1/repos", "/api/v1/runs", "/api/v1/runs/{id}",
                          "/api/v1/runs/{id}/attempts", "/api/v1/runs/{id}/artifacts", "/api/v1/runs/{id}/artifacts/{path}", "/api/v1/runs/{id}/log", "/api/v1/runs/{id}/logs/{step}",
                          "/api/v1/runs/{id}/cancel", "/api/v1/runs/{id}/retry", "/api/v1/hooks/post-receive", "/api/v1/openapi.json",
                          "/api/v1/flaky"])
    }

    @Test("the schemas match the encoders: Run, Step, VMResult, FixAttempt, SubmitResult, ActionResponse, Status")
    func schemasMatchEncoders() throws {
        let date = Date(timeIntervalSince1970: 0)
        let step = StepResult(position: 0, name: "s", command: "c", exitCode: 0, startedAt: date, finishedAt: date, testsPassed: 1, testsFailed: 0, testsSkipped: 0)
        let vm = VMResult(position: 0, profile: "p", command: "c", message: "m", exitCode: 0, accel: "tcg", bootSeconds: 1, startedAt: date,
                          finishedAt: date, testsPassed: 1, testsFailed: 0, testsSkipped: 0)
        let run = Run(id: 1, repoID: 1, repoName: "a", ref: "r", sha: "s", oldSHA: "o", message: "m", detected: "d", image: "i", sandboxID: "x",
                      supersededBy: 2, retryOf: 3, errorCause: .other, startedAt: date, finishedAt: date, steps: [step], autofix: "a",
                      autofixOutcome: AutofixOutcome(status: .passed, branch: "b", commit: "c", failedIn: .step("s"), reason: "r", keptNewerFixOf: 4),
                      flaky: "f", vms: [vm], subject: "s",
                      artifacts: [ArtifactFile(path: "p", size: 1)], artifactsRemovedAt: date)
        #expect(try Self.keys(run) == Self.properties("Run"))
        let outcomeSchema = try #require((try Self.document()["components"] as? [String: Any]).flatMap { $0["schemas"] as? [String: Any] }
            .flatMap { $0["Run"] as? [String: Any] }.flatMap { $0["properties"] as? [String: Any] }?["autofix_outcome"] as? [String: Any])
        #expect(try Self.keys(try #require(run.autofixOutcome)) == Set(try #require(outcomeSchema["properties"] as? [String: Any]).keys))
        let listed = ArtifactList(run: run)
        #expect(try Self.keys(listed.artifacts[0]) == Self.properties("Artifact"))
        #expect(try Self.keys(ArtifactFile(path: "p", size: 1)).isSubset(of: Self.properties("Artifact")))
        #expect(listed.artifacts[0].url == "/api/v1/runs/1/artifacts/p")
        #expect(ArtifactList.url(run: 2, path: "dist/a b#1.txt") == "/api/v1/runs/2/artifacts/dist/a%20b%231.txt")
        #expect(try Self.keys(step) == Self.properties("Step"))
        #expect(try Self.keys(vm) == Self.properties("VMResult"))
        #expect(try Self.keys(FixAttemptSummary(attempt: 1, backend: "b", model: "m", stop: "s", passed: true, rejection: "r",
                                                verification: "v", durationSeconds: 1)) == Self.properties("FixAttempt"))
        let submit = try APIJSON.decoder().decode(SubmitResult.self, from: Data("""
            {"ref":"r","sha":"s","status":"queued","run_id":1,"url":"u","superseded":[],"message":"m",
             "autofix":{"branch":"b","run_id":1,"sha":"s"}}
            """.utf8))
        #expect(try Self.keys(submit) == Self.properties("SubmitResult"))
        #expect(try Self.keys(ActionResponse(runID: 1, outcome: "queued", newRunID: 2)) == Self.properties("ActionResponse"))
        #expect(try Self.keys(DaemonStatus(version: "v", pid: 1, home: "h", running: 0, queued: 0, url: "u")) == Self.properties("Status"))
    }
}
