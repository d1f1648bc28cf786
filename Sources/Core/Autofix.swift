import Foundation
import Logging

/// Budgets of one run's autofix: whichever ends first stops the loop with a recorded reason.
package struct FixBudgets: Sendable, Equatable {
    package var maxAttempts: Int
    /// Model requests per attempt (anthropic backend).
    package var maxTurns: Int
    /// For the whole run, over all attempts.
    package var maxCostUSD: Double
    /// Per attempt: the agent's work (the verification run has the pipeline's own timeout).
    package var wallTimePerAttempt: Duration

    package init(maxAttempts: Int = 3, maxTurns: Int = 30, maxCostUSD: Double = 2.0, wallTimePerAttempt: Duration = .seconds(600)) {
        self.maxAttempts = maxAttempts
        self.maxTurns = maxTurns
        self.maxCostUSD = maxCostUSD
        self.wallTimePerAttempt = wallTimePerAttempt
    }
}

/// Where a pipeline failed: a container step, or a `vms:` guest.
package enum FailurePlace: Sendable, Hashable, Codable, CustomStringConvertible {
    case step(String)
    case vm(String)

    /// `step test`, `vm linux-aarch64`: as notes and messages say it.
    package var description: String {
        switch self {
        case .step(let name): "step \(name)"
        case .vm(let profile): "vm \(profile)"
        }
    }

    package init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if text.hasPrefix("vm ") { self = .vm(String(text.dropFirst(3))) } else { self = .step(String(text.dropFirst(text.hasPrefix("step ") ? 5 : 0))) }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Everything a fixer gets about one failed run. Built by the Pipeline (libgit2 diff, masked log tail).
package struct FixRequest: Sendable {
    package var runID: Int64
    package var repoName: String
    /// Full ref (`refs/heads/main`) and its branch name (`main`).
    package var ref: String
    package var branch: String
    package var sha: String
    /// The step that failed and the tail of its log (already masked). For a guest's failure: a step named
    /// `vm <profile>` with the guest's command, and the guest's log.
    package var failingStep: Step
    package var failingPlace: FailurePlace
    package var logTail: String
    package var pipeline: PipelineSpec
    /// The environment the run's steps had (image, env with secrets, limits); the fixer's own sandboxes use
    /// it with their attempt workspace in place of `workspace`.
    package var runSpec: RunSpec
    /// The failed run's workspace (left as the failing steps left it).
    package var failedWorkspace: URL
    /// A pristine export of the pushed tree: the reference for the anti-cheat checks and for telling
    /// source files from build artifacts. Read only.
    package var originalTree: URL
    /// `runs/<id>/attempts/`: attempt `n` works in `attempts/<n>/workspace`.
    package var attemptsDirectory: URL
    /// `runs/<id>/fix_attempts.json`, written by the fixer after every attempt.
    package var attemptsFile: URL
    /// `git diff old..new` of the push (first push of a branch: the commit's own diff), bounded.
    package var pushDiff: String
    /// Paths of the pushed tree.
    package var files: [String]
    /// Test counts of the failing run, when it reached its tests.
    package var failingTests: TestCounts?
    /// The failing run's test cases by name, where it wrote JUnit (empty otherwise): every verification must
    /// run each of them again, none newly skipped, and the failing ones must pass (`TestIdentity`).
    package var failingCases: [TestCase] = []
    /// Secret values, for masking only: never sent anywhere.
    package var secrets: [String]
    /// Globs (relative to the workspace root) the fix must not touch.
    package var protectedPaths: [String]
    package var budgets: FixBudgets

    package init(runID: Int64, repoName: String, ref: String, branch: String, sha: String, failingStep: Step, logTail: String,
                 pipeline: PipelineSpec, runSpec: RunSpec, failedWorkspace: URL, originalTree: URL, attemptsDirectory: URL,
                 attemptsFile: URL, pushDiff: String, files: [String], failingTests: TestCounts?, failingCases: [TestCase] = [],
                 failingPlace: FailurePlace? = nil, secrets: [String], protectedPaths: [String], budgets: FixBudgets) {
        self.runID = runID
        self.repoName = repoName
        self.ref = ref
        self.branch = branch
        self.sha = sha
        self.failingStep = failingStep
        self.failingPlace = failingPlace ?? .step(failingStep.name)
        self.logTail = logTail
        self.pipeline = pipeline
        self.runSpec = runSpec
        self.failedWorkspace = failedWorkspace
        self.originalTree = originalTree
        self.attemptsDirectory = attemptsDirectory
        self.attemptsFile = attemptsFile
        self.pushDiff = pushDiff
        self.files = files
        self.failingTests = failingTests
        self.failingCases = failingCases
        self.secrets = secrets
        self.protectedPaths = protectedPaths
        self.budgets = budgets
    }

    /// Files that decide what runs and how tests are found: no fix may touch them, whatever the repository
    /// says. Files where only a part decides (package.json `scripts`, pyproject `[tool.pytest…]`, setup.cfg
    /// `[tool:pytest]`, Cargo.toml `[[test]]`, pom.xml's surefire set-up) are guarded part by part
    /// (`ProtectedFragments`), so a dependency fix there stays possible.
    package static let pipelineConfigPaths = [
        ".pushbox.yml", ".git/",
        // CI definitions
        ".github/**", ".gitlab-ci.yml", ".gitlab/**", ".woodpecker.yml", ".woodpecker.yaml", ".woodpecker/**", ".drone.yml",
        ".circleci/**", ".travis.yml", "Jenkinsfile", "azure-pipelines.yml", ".buildkite/**", ".builds/**", ".forgejo/**", ".gitea/**",
        // build and test configuration of the detected languages
        "**/Makefile", "**/GNUmakefile", "**/makefile", "**/*.mk",
        "**/conftest.py", "**/pytest.ini", "**/tox.ini", "**/noxfile.py",
        "**/CMakeLists.txt", "**/CTestTestfile.cmake",
        "**/jest.config.*", "**/.mocharc*", "**/vitest.config.*", "**/karma.conf.*",
    ]
    /// Files that hold tests: protected unless `.pushbox.yml` says `autofix: {allow_test_edits: true}`.
    package static let testFilePaths = [
        "**/test/**", "**/tests/**", "**/Tests/**", "**/spec/**", "**/testdata/**", "**/__snapshots__/**",
        "**/test.*", "**/tests.*", "**/test_*", "**/*_test.*", "**/*_tests.*", "**/*.test.*", "**/*.spec.*", "**/*Tests.swift",
        "**/*Test.java", "**/*Tests.java", "**/__tests__/**",
    ]
    /// What a fix may not touch by default: the files that decide what runs, and the test files.
    package static let defaultProtectedPaths = pipelineConfigPaths + testFilePaths

    /// The protected globs of a pipeline: `defaultProtectedPaths` (without the test files when it allows test
    /// edits) plus its own `autofix.protect`.
    package static func protectedPaths(for settings: AutofixSettings) -> [String] {
        pipelineConfigPaths + (settings.allowTestEdits ? [] : testFilePaths) + settings.protect
    }
}

/// What a fixer hands to `verify`: an attempt's workspace and the files its fix consists of.
package struct AttemptCandidate: Sendable {
    package var attempt: Int
    package var workspace: URL
    package var changes: [FileChange]

    package init(attempt: Int, workspace: URL, changes: [FileChange]) {
        self.attempt = attempt
        self.workspace = workspace
        self.changes = changes
    }
}

/// The outcome of re-running the whole pipeline on an attempt's workspace in a fresh sandbox, and then
/// every `vms:` entry on the fix's tree in fresh guests.
package struct Verification: Sendable, Equatable, Codable {
    package var passed: Bool
    /// The container step that failed (nil when passed, or when a guest failed).
    package var failedStep: String?
    /// Where it failed: a step or a guest (nil when passed, or when it could not start).
    package var place: FailurePlace?
    /// One line: "passed" or "step test failed (exit 2)".
    package var summary: String
    /// The masked tail of the failing step's log (empty when passed).
    package var logTail: String
    /// Test counts over all steps that reported some.
    package var tests: TestCounts?
    /// The test cases of the steps' JUnit files (empty without JUnit).
    package var cases: [TestCase]
    /// The id of the tree the `vms:` guests passed (the fix must be committed with exactly this tree); nil
    /// when the pipeline has no guests.
    package var verifiedTree: String?

    package init(passed: Bool, failedStep: String? = nil, place: FailurePlace? = nil, summary: String, logTail: String = "",
                 tests: TestCounts? = nil, cases: [TestCase] = []) {
        self.passed = passed
        self.failedStep = failedStep
        self.place = place ?? failedStep.map(FailurePlace.step)
        self.summary = summary
        self.logTail = logTail
        self.tests = tests
        self.cases = cases
    }

    enum CodingKeys: String, CodingKey {
        case passed, summary, tests, cases
        case failedStep = "failed_step"
        case verifiedTree = "verified_tree"
        case place = "failed_in"
        case logTail = "log_tail"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        passed = try container.decode(Bool.self, forKey: .passed)
        failedStep = try container.decodeIfPresent(String.self, forKey: .failedStep)
        place = try container.decodeIfPresent(FailurePlace.self, forKey: .place)
        summary = try container.decode(String.self, forKey: .summary)
        logTail = try container.decodeIfPresent(String.self, forKey: .logTail) ?? ""
        tests = try container.decodeIfPresent(TestCounts.self, forKey: .tests)
        cases = try container.decodeIfPresent([TestCase].self, forKey: .cases) ?? []
        verifiedTree = try container.decodeIfPresent(String.self, forKey: .verifiedTree)
    }
}

/// One file of a fix, relative to the workspace root.
package struct FileChange: Sendable, Equatable, Codable {
    package enum Kind: String, Sendable, Codable { case added, modified, deleted }
    package var path: String
    package var kind: Kind
    package init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    /// Applies `changes` from `source` onto `target` (same relative paths); a path that climbs (`..`) is
    /// left out.
    package static func apply(_ changes: [FileChange], from source: URL, to target: URL) throws {
        let fm = FileManager.default
        for change in changes where !change.path.split(separator: "/").contains("..") {
            let destination = target.appendingPathComponent(change.path)
            try? fm.removeItem(at: destination)
            if change.kind != .deleted {
                try fm.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
                try fm.copyItem(at: source.appendingPathComponent(change.path), to: destination)
            }
        }
    }
}

/// What a fixer ends with.
package struct FixResult: Sendable {
    package enum Outcome: Sendable {
        /// `workspace` is the passing attempt's; `changes` the files to apply to the pushed tree;
        /// `verification` the run that passed.
        case fixed(workspace: URL, changes: [FileChange], explanation: String, model: String, verification: Verification)
        /// `reason` is one line.
        case gaveUp(reason: String)
    }
    package var outcome: Outcome
    package var attempts: Int
    package var costUSD: Double
    /// Where the last attempt's verification failed, when the loop ended on such a failure (its attempts
    /// used up, or the same failure twice); nil when a budget or anything else ended it.
    package var lastFailedIn: FailurePlace?
    /// The loop stopped early because an attempt failed the way an earlier one had (`FailureFingerprint`).
    package var repeatedFailure: Bool
    /// Every attempt made, in order, as the store keeps them.
    package var summaries: [FixAttemptSummary] = []

    package init(outcome: Outcome, attempts: Int, costUSD: Double, lastFailedIn: FailurePlace? = nil, repeatedFailure: Bool = false) {
        self.outcome = outcome
        self.attempts = attempts
        self.costUSD = costUSD
        self.lastFailedIn = lastFailedIn
        self.repeatedFailure = repeatedFailure
    }
}

/// Tries to fix a failed run (an autofix backend: `anthropic`, `command`).
///
/// Contract: works only on copies (`attemptsDirectory/<n>/workspace`), never on `failedWorkspace` or
/// `originalTree`; calls `verify` with an attempt's workspace and change set to re-run the whole pipeline on
/// it (the Pipeline does that in a fresh sandbox, logs under `attempts/<n>/logs/`, then every `vms:` entry on
/// the fix's tree); stops at the first attempt that passes verification and its anti-cheat checks, when an
/// attempt fails the way an earlier one did, or when a budget of `request.budgets` ends. Writes every
/// attempt to `request.attemptsFile`. Never throws: every ending, cancellation included, is a `FixResult`
/// (a cancelled fix is `gaveUp("canceled")`). Secrets (`request.secrets`) never leave the process unmasked:
/// not in model requests, tool outputs, logs or the attempts file.
package protocol RunFixer: Sendable {
    /// Backend name for records: `anthropic`, `command`.
    var backend: String { get }
    func fix(_ request: FixRequest, verify: @escaping @Sendable (AttemptCandidate) async throws -> Verification, logger: Logger) async -> FixResult
}

/// One autofix attempt as the store keeps it (the full record, tool calls and all, stays in
/// `runs/<id>/fix_attempts.json`): what `pushbox status`, the API and the run page show. The fixer
/// returns them with its result (`FixResult.summaries`); the file is never read back.
package struct FixAttemptSummary: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case attempt, backend, model, stop, passed, rejection, verification, diff
        case costUSD = "cost_usd"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case cacheReadTokens = "cache_read_tokens"
        case cacheWriteTokens = "cache_write_tokens"
        case turns
        case toolCalls = "tool_calls"
        case durationSeconds = "duration_seconds"
    }

    package var attempt: Int
    package var backend: String
    package var model: String
    /// Why the agent stopped: `end_turn`, `max_turns`, `cost budget`, …
    package var stop: String
    package var passed: Bool
    /// Why the anti-cheat check refused the attempt's change, when it did.
    package var rejection: String?
    /// The verification run's one-line summary (`passed`, `step test failed (exit 2)`), when it ran.
    package var verification: String?
    package var diff: String
    package var costUSD: Double
    package var inputTokens: Int
    package var outputTokens: Int
    package var cacheReadTokens: Int
    package var cacheWriteTokens: Int
    package var turns: Int
    package var toolCalls: Int
    package var durationSeconds: Double?

    package init(attempt: Int, backend: String, model: String, stop: String, passed: Bool, rejection: String? = nil,
                 verification: String? = nil, diff: String = "", costUSD: Double = 0, inputTokens: Int = 0, outputTokens: Int = 0,
                 cacheReadTokens: Int = 0, cacheWriteTokens: Int = 0, turns: Int = 0, toolCalls: Int = 0, durationSeconds: Double? = nil) {
        self.attempt = attempt
        self.backend = backend
        self.model = model
        self.stop = stop
        self.passed = passed
        self.rejection = rejection
        self.verification = verification
        self.diff = diff
        self.costUSD = costUSD
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.turns = turns
        self.toolCalls = toolCalls
        self.durationSeconds = durationSeconds
    }
}
