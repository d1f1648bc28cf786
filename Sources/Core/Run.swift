import Foundation

/// A bare repository registered with the runner.
package struct Repo: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case id
        case name
        case path
        case createdAt = "created_at"
    }

    package var id: Int64
    package var name: String
    package var path: String
    package var createdAt: Date

    package init(id: Int64, name: String, path: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.path = path
        self.createdAt = createdAt
    }
}

/// One ref update received from a `post-receive` hook, the spool, or the reconciliation scan.
package struct RefUpdate: Codable, Sendable, Equatable, Hashable {
    enum CodingKeys: String, CodingKey {
        case oldSHA = "old_sha"
        case newSHA = "new_sha"
        case ref
    }

    package var oldSHA: String
    package var newSHA: String
    package var ref: String

    package init(oldSHA: String, newSHA: String, ref: String) {
        self.oldSHA = oldSHA
        self.newSHA = newSHA
        self.ref = ref
    }

    package static let zeroSHA = String(repeating: "0", count: 40)
    package var isDeletion: Bool { newSHA.allSatisfy { $0 == "0" } }
    package var isCreation: Bool { oldSHA.allSatisfy { $0 == "0" } }
    package var branch: String? { ref.hasPrefix("refs/heads/") ? String(ref.dropFirst("refs/heads/".count)) : nil }
    package var tag: String? { ref.hasPrefix("refs/tags/") ? String(ref.dropFirst("refs/tags/".count)) : nil }
    /// "main", "v1.0", or the full ref for anything else.
    package var shortName: String { branch ?? tag ?? ref }
}

/// The recorded outcome of one step.
package struct StepResult: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case position
        case name
        case command
        case state
        case exitCode = "exit_code"
        case timedOut = "timed_out"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case testsPassed = "tests_passed"
        case testsFailed = "tests_failed"
        case testsSkipped = "tests_skipped"
        case logBytes = "log_bytes"
        case truncated
    }

    package var position: Int
    package var name: String
    package var command: String
    package var state: StepState
    package var exitCode: Int32?
    package var timedOut: Bool
    package var startedAt: Date?
    package var finishedAt: Date?
    package var testsPassed: Int?
    package var testsFailed: Int?
    package var testsSkipped: Int?
    package var logBytes: Int64
    package var truncated: Bool

    package init(position: Int, name: String, command: String, state: StepState = .pending, exitCode: Int32? = nil,
                 timedOut: Bool = false, startedAt: Date? = nil, finishedAt: Date? = nil, testsPassed: Int? = nil,
                 testsFailed: Int? = nil, testsSkipped: Int? = nil, logBytes: Int64 = 0, truncated: Bool = false) {
        self.position = position
        self.name = name
        self.command = command
        self.state = state
        self.exitCode = exitCode
        self.timedOut = timedOut
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.testsPassed = testsPassed
        self.testsFailed = testsFailed
        self.testsSkipped = testsSkipped
        self.logBytes = logBytes
        self.truncated = truncated
    }

}

/// What a container step and a `vms:` entry both record as they run (`StepResult`, `VMResult`): the same
/// fields, the same columns in the store, the same life cycle (pending → running → passed | failed | error
/// | skipped | canceled).
package protocol RecordedJob: Sendable {
    var state: StepState { get set }
    var exitCode: Int32? { get set }
    var timedOut: Bool { get set }
    var startedAt: Date? { get set }
    var finishedAt: Date? { get set }
    var testsPassed: Int? { get set }
    var testsFailed: Int? { get set }
    var testsSkipped: Int? { get set }
    var logBytes: Int64 { get set }
    var truncated: Bool { get set }
}

extension RecordedJob {
    package var duration: Duration? {
        guard let startedAt, let finishedAt else { return nil }
        return .milliseconds(Int64((finishedAt.timeIntervalSince(startedAt) * 1000).rounded()))
    }

    /// The test counts, when it reported some.
    package var tests: TestCounts? {
        testsPassed.map { TestCounts(passed: $0, failed: testsFailed ?? 0, skipped: testsSkipped ?? 0) }
    }

    // The life cycle both kinds go through, in this order: started, then ended once (with the command's
    // status when it ran to an end), then its tests when it reported some.

    /// Now `running`.
    package mutating func start(at date: Date = Date()) {
        state = .running
        startedAt = date
    }

    /// Ended: `passed` or `failed` by `status` when the command ran to an end, else `state` (error,
    /// canceled, skipped), with what its log kept.
    package mutating func end(_ status: ExitStatus?, otherwise state: StepState = .error, logBytes: Int64, truncated: Bool,
                              at date: Date = Date()) {
        finishedAt = date
        self.logBytes = logBytes
        self.truncated = truncated
        if let status {
            exitCode = status.code
            timedOut = status.timedOut
            self.state = status.succeeded ? .passed : .failed
        } else {
            self.state = state
        }
    }

    /// The counts it reported (JUnit files, or its log's summary), if any.
    package mutating func record(tests counts: TestCounts?) {
        guard let counts else { return }
        testsPassed = counts.passed
        testsFailed = counts.failed
        testsSkipped = counts.skipped
    }
}

extension StepResult: RecordedJob {}
extension VMResult: RecordedJob {}

extension Sequence where Element == StepResult {
    /// The test counts summed over the steps that reported some; nil when none did.
    package var testTotals: TestCounts? {
        reduce(nil as TestCounts?) { sum, step in step.tests.map { (sum ?? TestCounts()) + $0 } ?? sum }
    }
}

/// One numbered execution of the pipeline for a pushed commit.
package struct Run: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case id
        case repoID = "repo_id"
        case repoName = "repo_name"
        case ref
        case sha
        case oldSHA = "old_sha"
        case state
        case message
        case detected
        case image
        case sandboxID = "sandbox_id"
        case supersededBy = "superseded_by"
        case requeues
        case retryOf = "retry_of"
        case source
        case errorCause = "error_cause"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case steps
        case autofix
        case autofixOutcome = "autofix_outcome"
        case flaky
        case vms
        case subject
        case artifacts
        case artifactsRemovedAt = "artifacts_removed_at"
    }

    package var id: Int64
    package var repoID: Int64
    package var repoName: String
    package var ref: String
    package var sha: String
    /// The ref's previous value in the push (all zeros for a new branch), when known.
    package var oldSHA: String?
    package var state: RunState
    /// Why it ended `error` or `canceled`, or what was detected; one line.
    package var message: String?
    /// `make (Makefile)` when the pipeline was detected rather than read from `.pushbox.yml`.
    package var detected: String?
    package var image: String?
    package var sandboxID: String?
    package var supersededBy: Int64?
    /// How often a daemon restart put this run back in the queue.
    package var requeues: Int
    package var retryOf: Int64?
    /// Where the run came from.
    package var source: RunSource
    /// Why an `error` run failed (nil for every other state).
    package var errorCause: RunErrorCause?
    package var createdAt: Date
    package var startedAt: Date?
    package var finishedAt: Date?
    package var steps: [StepResult]
    /// The autofix outcome after a failure, as the note's `autofix:` line shows it (without the prefix):
    /// `passed autofix/main/1a2b3c4d (2 attempts, $0.07)`, `gave up after 3 attempts: …`, `skipped: …`.
    package var autofix: String?
    /// The same outcome, typed (nil for runs recorded before it was, and for runs autofix did not touch).
    package var autofixOutcome: AutofixOutcome?
    /// Set when the failing step passed on its re-run, as the note's `flaky:` line shows it (without the
    /// prefix): `step test failed then passed on re-run`.
    package var flaky: String?
    /// The `vms:` entries, in order (pushed tree first, then the autofix tree's).
    package var vms: [VMResult]
    /// The pushed commit's subject line, once the run has read the commit.
    package var subject: String?
    /// Files kept from the workspace (`artifacts:`), in `runs/<id>/artifacts/<path>`.
    package var artifacts: [ArtifactFile]
    /// When retention (`artifacts_keep`) deleted the artifact files; the list stays.
    package var artifactsRemovedAt: Date?

    package init(id: Int64, repoID: Int64, repoName: String, ref: String, sha: String, oldSHA: String? = nil,
                 state: RunState = .queued, message: String? = nil, detected: String? = nil, image: String? = nil,
                 sandboxID: String? = nil, supersededBy: Int64? = nil, requeues: Int = 0, retryOf: Int64? = nil,
                 source: RunSource = .hook, errorCause: RunErrorCause? = nil, createdAt: Date = Date(), startedAt: Date? = nil, finishedAt: Date? = nil,
                 steps: [StepResult] = [], autofix: String? = nil, autofixOutcome: AutofixOutcome? = nil, flaky: String? = nil, vms: [VMResult] = [], subject: String? = nil,
                 artifacts: [ArtifactFile] = [], artifactsRemovedAt: Date? = nil) {
        self.id = id
        self.repoID = repoID
        self.repoName = repoName
        self.ref = ref
        self.sha = sha
        self.oldSHA = oldSHA
        self.state = state
        self.message = message
        self.detected = detected
        self.image = image
        self.sandboxID = sandboxID
        self.supersededBy = supersededBy
        self.requeues = requeues
        self.retryOf = retryOf
        self.source = source
        self.errorCause = errorCause
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.steps = steps
        self.autofix = autofix
        self.autofixOutcome = autofixOutcome
        self.flaky = flaky
        self.vms = vms
        self.subject = subject
        self.artifacts = artifacts
        self.artifactsRemovedAt = artifactsRemovedAt
    }

    package var shortRef: String { RefUpdate(oldSHA: "", newSHA: sha, ref: ref).shortName }
    package var duration: Duration? {
        guard let startedAt, let finishedAt else { return nil }
        return .milliseconds(Int64((finishedAt.timeIntervalSince(startedAt) * 1000).rounded()))
    }
}

/// A test (or a step, where no JUnit named the tests) that failed and then passed on a re-run of the same
/// commit, as `pushbox flaky` and the dashboard list them.
package struct FlakyTest: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case repo, name, times
        case lastRunID = "last_run_id"
        case lastSeen = "last_seen"
    }

    package var repo: String
    /// The JUnit name (`calc.test_add`) or `step <name>`.
    package var name: String
    package var times: Int
    package var lastRunID: Int64
    package var lastSeen: Date

    package init(repo: String, name: String, times: Int, lastRunID: Int64, lastSeen: Date) {
        self.repo = repo
        self.name = name
        self.times = times
        self.lastRunID = lastRunID
        self.lastSeen = lastSeen
    }
}

/// One file kept from a run's workspace (`.pushbox.yml` `artifacts:`).
package struct ArtifactFile: Sendable, Equatable, Codable {
    /// Relative to the workspace, `/`-separated (`dist/app.tar.gz`); also its path under `runs/<id>/artifacts/`.
    package var path: String
    package var size: Int64

    package init(path: String, size: Int64) {
        self.path = path
        self.size = size
    }

    /// The note's `artifacts:` line (without the prefix): `2 files, 1.2 MiB: dist/app, logs/build.log`, the
    /// first five paths named (pure).
    package static func noteSummary(_ files: [ArtifactFile]) -> String {
        let total = files.reduce(Int64(0)) { $0 + $1.size }
        var text = "\(files.count) file\(files.count == 1 ? "" : "s"), \(Units.formatBytes(total)): "
        text += files.prefix(5).map(\.path).joined(separator: ", ")
        if files.count > 5 { text += " and \(files.count - 5) more" }
        return text
    }
}
