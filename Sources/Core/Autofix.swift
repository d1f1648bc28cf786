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

/// Everything a fixer gets about one failed run. Built by the Pipeline (libgit2 diff, masked log tail).
package struct FixRequest: Sendable {
    package var runID: Int64
    package var repoName: String
    /// Full ref (`refs/heads/main`) and its branch name (`main`).
    package var ref: String
    package var branch: String
    package var sha: String
    /// The step that failed and the tail of its log (already masked).
    package var failingStep: Step
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
    /// Secret values, for masking only: never sent anywhere.
    package var secrets: [String]
    /// Globs (relative to the workspace root) the fix must not touch.
    package var protectedPaths: [String]
    package var budgets: FixBudgets

    package init(runID: Int64, repoName: String, ref: String, branch: String, sha: String, failingStep: Step, logTail: String,
                 pipeline: PipelineSpec, runSpec: RunSpec, failedWorkspace: URL, originalTree: URL, attemptsDirectory: URL,
                 attemptsFile: URL, pushDiff: String, files: [String], failingTests: TestCounts?, secrets: [String],
                 protectedPaths: [String], budgets: FixBudgets) {
        self.runID = runID
        self.repoName = repoName
        self.ref = ref
        self.branch = branch
        self.sha = sha
        self.failingStep = failingStep
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
        self.secrets = secrets
        self.protectedPaths = protectedPaths
        self.budgets = budgets
    }

    /// `autofix.protect` defaults (issue 3): the pipeline file, `.git/`, and the files that hold tests.
    package static let defaultProtectedPaths = [
        ".pushbox.yml", ".git/", "test/**", "tests/**", "Tests/**", "**/*_test.*", "**/test_*.py", "**/*.test.*", "**/*Tests.swift",
    ]
}

/// The outcome of re-running the whole pipeline on an attempt's workspace in a fresh sandbox.
package struct Verification: Sendable, Equatable, Codable {
    package var passed: Bool
    /// The step that failed (nil when passed).
    package var failedStep: String?
    /// One line: "passed" or "step test failed (exit 2)".
    package var summary: String
    /// The masked tail of the failing step's log (empty when passed).
    package var logTail: String
    /// Test counts over all steps that reported some.
    package var tests: TestCounts?

    package init(passed: Bool, failedStep: String? = nil, summary: String, logTail: String = "", tests: TestCounts? = nil) {
        self.passed = passed
        self.failedStep = failedStep
        self.summary = summary
        self.logTail = logTail
        self.tests = tests
    }

    enum CodingKeys: String, CodingKey {
        case passed, summary, tests
        case failedStep = "failed_step"
        case logTail = "log_tail"
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
}

/// What a fixer ends with.
package struct FixResult: Sendable {
    package enum Outcome: Sendable {
        /// `workspace` is the passing attempt's; `changes` the files to apply to the pushed tree.
        case fixed(workspace: URL, changes: [FileChange], explanation: String, model: String)
        /// `reason` is one line.
        case gaveUp(reason: String)
    }
    package var outcome: Outcome
    package var attempts: Int
    package var costUSD: Double

    package init(outcome: Outcome, attempts: Int, costUSD: Double) {
        self.outcome = outcome
        self.attempts = attempts
        self.costUSD = costUSD
    }
}

/// Tries to fix a failed run (an autofix backend: `anthropic`, `command`).
///
/// Contract: works only on copies (`attemptsDirectory/<n>/workspace`), never on `failedWorkspace` or
/// `originalTree`; calls `verify` with an attempt workspace to re-run the whole pipeline on it (the
/// Pipeline does that in a fresh sandbox, logs under `attempts/<n>/logs/`); stops at the first attempt that
/// passes verification and its anti-cheat checks, or when a budget of `request.budgets` ends. Writes every
/// attempt to `request.attemptsFile`. Never throws: every ending, cancellation included, is a `FixResult`
/// (a cancelled fix is `gaveUp("canceled")`). Secrets (`request.secrets`) never leave the process unmasked:
/// not in model requests, tool outputs, logs or the attempts file.
package protocol RunFixer: Sendable {
    /// Backend name for records: `anthropic`, `command`.
    var backend: String { get }
    func fix(_ request: FixRequest, verify: @escaping @Sendable (URL) async throws -> Verification, logger: Logger) async -> FixResult
}

/// One autofix attempt as the store keeps it (the full record, tool calls and all, stays in
/// `runs/<id>/fix_attempts.json`): what `pushbox status`, the API and the run page show.
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

    /// The summaries of a `fix_attempts.json` (an array of attempt records, as the backends write it).
    /// Fields a backend did not record are zero or nil; a file that is not such an array gives nothing.
    package static func read(fixAttemptsJSON data: Data) -> [FixAttemptSummary] {
        guard let records = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else { return [] }
        return records.compactMap { record in
            guard let attempt = record["attempt"] as? Int else { return nil }
            let transcript = record["transcript"] as? [String: Any]
            let usage = transcript?["usage"] as? [String: Any]
            let verification = record["verification"] as? [String: Any]
            return FixAttemptSummary(
                attempt: attempt, backend: record["backend"] as? String ?? "", model: record["model"] as? String ?? "",
                stop: record["stop"] as? String ?? "", passed: record["passed"] as? Bool ?? false,
                rejection: record["rejection"] as? String, verification: verification?["summary"] as? String,
                diff: record["diff"] as? String ?? "", costUSD: (record["cost_usd"] as? NSNumber)?.doubleValue ?? 0,
                inputTokens: usage?["input_tokens"] as? Int ?? 0, outputTokens: usage?["output_tokens"] as? Int ?? 0,
                cacheReadTokens: usage?["cache_read_input_tokens"] as? Int ?? 0,
                cacheWriteTokens: usage?["cache_creation_input_tokens"] as? Int ?? 0,
                turns: (transcript?["turns"] as? [Any])?.count ?? 0, toolCalls: (transcript?["tool_calls"] as? [Any])?.count ?? 0,
                durationSeconds: ((record["duration_seconds"] ?? transcript?["duration_seconds"]) as? NSNumber)?.doubleValue)
        }
    }
}
