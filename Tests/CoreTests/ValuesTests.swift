import Core
import Foundation
import Testing

@Suite("ExitStatus")
struct ExitStatusTests {
    @Test("summary and succeeded", arguments: [
        (Int32(0), false, "exit 0", true),
        (1, false, "exit 1", false),
        (2, false, "exit 2", false),
        (137, false, "exit 137: killed (out of memory or limit)", false),
        (143, false, "exit 143", false),
        (-1, false, "exit -1", false),
        (0, true, "timed out", false),
        (137, true, "timed out", false),
        (124, true, "timed out", false),
    ])
    func summary(_ code: Int32, _ timedOut: Bool, _ summary: String, _ succeeded: Bool) {
        let status = ExitStatus(code: code, timedOut: timedOut)
        #expect(status.summary == summary)
        #expect(status.succeeded == succeeded)
    }

    @Test("success is exit 0 without a timeout")
    func success() {
        #expect(ExitStatus.success == ExitStatus(code: 0))
        #expect(ExitStatus.success.succeeded)
        #expect(!ExitStatus.success.timedOut)
    }

    @Test("Codable round trip")
    func codable() throws {
        let status = ExitStatus(code: 137, timedOut: true)
        #expect(try JSONDecoder().decode(ExitStatus.self, from: JSONEncoder().encode(status)) == status)
    }
}

private let a = String(repeating: "a", count: 40)
private let b = String(repeating: "b", count: 40)
private let zero = RefUpdate.zeroSHA

struct RefCase: Sendable, CustomTestStringConvertible {
    var update: RefUpdate
    var branch: String?
    var tag: String?
    var shortName: String
    var creation: Bool
    var deletion: Bool
    var testDescription: String { "\(update.oldSHA.prefix(4))→\(update.newSHA.prefix(4)) \(update.ref)" }
}

@Suite("RefUpdate")
struct RefUpdateTests {
    static let cases: [RefCase] = [
        .init(update: .init(oldSHA: a, newSHA: b, ref: "refs/heads/main"), branch: "main", tag: nil, shortName: "main",
              creation: false, deletion: false),
        .init(update: .init(oldSHA: zero, newSHA: b, ref: "refs/heads/feature/login"), branch: "feature/login", tag: nil,
              shortName: "feature/login", creation: true, deletion: false),
        .init(update: .init(oldSHA: a, newSHA: zero, ref: "refs/heads/old"), branch: "old", tag: nil, shortName: "old",
              creation: false, deletion: true),
        .init(update: .init(oldSHA: zero, newSHA: a, ref: "refs/tags/v1.0"), branch: nil, tag: "v1.0", shortName: "v1.0",
              creation: true, deletion: false),
        .init(update: .init(oldSHA: a, newSHA: zero, ref: "refs/tags/v1.0"), branch: nil, tag: "v1.0", shortName: "v1.0",
              creation: false, deletion: true),
        .init(update: .init(oldSHA: a, newSHA: b, ref: "refs/notes/pushbox"), branch: nil, tag: nil,
              shortName: "refs/notes/pushbox", creation: false, deletion: false),
        .init(update: .init(oldSHA: a, newSHA: b, ref: "refs/heads-not/x"), branch: nil, tag: nil,
              shortName: "refs/heads-not/x", creation: false, deletion: false),
        .init(update: .init(oldSHA: String(repeating: "0", count: 64), newSHA: String(repeating: "c", count: 64),
                            ref: "refs/heads/sha256"), branch: "sha256", tag: nil, shortName: "sha256", creation: true,
              deletion: false),
        .init(update: .init(oldSHA: String(repeating: "c", count: 64), newSHA: String(repeating: "0", count: 64),
                            ref: "refs/heads/sha256"), branch: "sha256", tag: nil, shortName: "sha256", creation: false,
              deletion: true),
    ]

    @Test(arguments: cases)
    func classification(_ c: RefCase) {
        #expect(c.update.branch == c.branch)
        #expect(c.update.tag == c.tag)
        #expect(c.update.shortName == c.shortName)
        #expect(c.update.isCreation == c.creation)
        #expect(c.update.isDeletion == c.deletion)
    }

    @Test("zeroSHA is forty zeros")
    func zeroSHA() {
        #expect(RefUpdate.zeroSHA.count == 40)
        #expect(RefUpdate.zeroSHA.allSatisfy { $0 == "0" })
    }

    @Test("Run.shortRef uses the short name", arguments: [
        ("refs/heads/main", "main"), ("refs/tags/v2", "v2"), ("refs/pull/1/head", "refs/pull/1/head"),
    ])
    func runShortRef(_ ref: String, _ short: String) {
        let run = Run(id: 1, repoID: 1, repoName: "app", ref: ref, sha: a)
        #expect(run.shortRef == short)
    }

    @Test("durations of runs and steps", arguments: [(0.0, 3.25, 3250), (10.0, 10.0, 0), (1.0, 61.25, 60250), (0.0, 0.0004, 0)])
    func durations(_ start: Double, _ end: Double, _ ms: Int64) {
        let started = Date(timeIntervalSince1970: 1_700_000_000 + start)
        let finished = Date(timeIntervalSince1970: 1_700_000_000 + end)
        let run = Run(id: 1, repoID: 1, repoName: "app", ref: "refs/heads/main", sha: a, startedAt: started, finishedAt: finished)
        #expect(run.duration == .milliseconds(ms))
        let step = StepResult(position: 0, name: "s", command: "c", startedAt: started, finishedAt: finished)
        #expect(step.duration == .milliseconds(ms))
        #expect(StepResult(position: 0, name: "s", command: "c", startedAt: started).duration == nil)
    }

    @Test("RunState.isFinished", arguments: RunState.allCases)
    func finished(_ state: RunState) {
        #expect(state.isFinished == ![.queued, .running].contains(state))
    }
}
