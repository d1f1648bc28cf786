import Core
import Foundation
import Logging

/// What one backend does inside one attempt: change files in `workspace` (a copy of the failed workspace)
/// so that the pipeline passes. The loop around it (copies, verification, anti-cheat, budgets, records) is
/// `AutofixLoop`'s.
package protocol AttemptBackend: Sendable {
    /// `anthropic`, `command`.
    var name: String { get }
    var model: String { get }
    /// Never throws: a failure is an `AttemptWork` with `failure` set. `runSpec` is the run's sandbox
    /// environment already pointed at `workspace`; `costBudgetUSD` is what is left of the run's budget.
    func work(task: String, workspace: URL, runSpec: RunSpec, request: FixRequest, costBudgetUSD: Double,
              masker: SecretMasker, attemptDirectory: URL, logger: Logger) async -> AttemptWork
}

/// The result of a backend's work in one attempt.
package struct AttemptWork: Sendable {
    package var explanation: String
    package var costUSD: Double
    /// One line: why the backend stopped (`completed`, `cost_budget: …`).
    package var stop: String
    /// Set when the backend could not do its work (API error, command failed to start): the attempt fails.
    package var failure: String?
    /// The anthropic backend's tool loop record.
    package var transcript: AttemptTranscript?
    /// The backend stopped because the run's cost budget is used up: no further attempt.
    package var costBudgetReached: Bool

    package init(explanation: String, costUSD: Double, stop: String, failure: String? = nil,
                 transcript: AttemptTranscript? = nil, costBudgetReached: Bool = false) {
        self.explanation = explanation
        self.costUSD = costUSD
        self.stop = stop
        self.failure = failure
        self.transcript = transcript
        self.costBudgetReached = costBudgetReached
    }
}

/// One entry of `runs/<id>/fix_attempts.json`.
package struct FixAttemptRecord: Codable, Sendable {
    package var attempt: Int
    package var backend: String
    package var model: String
    package var stop: String
    package var failure: String?
    package var transcript: AttemptTranscript?
    package var costUSD: Double
    package var changes: [FileChange]
    package var diff: String
    package var rejection: String?
    package var verification: Verification?
    package var passed: Bool
    package var explanation: String
    /// The whole attempt: preparing its workspace, the backend's work, the checks and the verification run.
    package var durationSeconds: Double = 0
    /// The verification run alone (0 when it did not run).
    package var verificationSeconds: Double = 0

    enum CodingKeys: String, CodingKey {
        case attempt, backend, model, stop, failure, transcript, changes, diff, rejection, verification, passed, explanation
        case costUSD = "cost_usd"
        case durationSeconds = "duration_seconds"
        case verificationSeconds = "verification_seconds"
    }

    /// What the store keeps of this attempt (the whole record stays in the file).
    package var summary: FixAttemptSummary {
        let usage = transcript?.usage ?? Usage()
        return FixAttemptSummary(
            attempt: attempt, backend: backend, model: model, stop: stop, passed: passed, rejection: rejection,
            verification: verification?.summary, diff: diff, costUSD: costUSD, inputTokens: usage.inputTokens,
            outputTokens: usage.outputTokens, cacheReadTokens: usage.cacheReadInputTokens,
            cacheWriteTokens: usage.cacheCreationInputTokens, turns: transcript?.turns.count ?? 0,
            toolCalls: transcript?.toolCalls.count ?? 0, durationSeconds: durationSeconds)
    }
}

/// The attempt loop shared by the `anthropic` and `command` backends (see `RunFixer` for the contract).
///
/// Attempt `n` works in `attempts/<n>/workspace`: a copy of the failed workspace plus the previous
/// attempt's change set, so the next attempt starts from the original failure plus what the last attempt
/// changed and its new failure (told in the task). After the backend's work:
/// 1. the change set is computed against the failed workspace (`ChangeSet`: build artifacts excluded);
/// 2. the anti-cheat checks (`AntiCheat`) run on it against the pushed tree;
/// 3. the whole pipeline re-runs on the attempt workspace (`verify`), and the verifying run must have
///    executed at least as many tests as the failing run (when that one reached its tests).
/// A rejection or a failing verification is a failed attempt whose reason is fed to the next one.
package struct AutofixLoop: RunFixer {
    package let attemptBackend: any AttemptBackend
    package var backend: String { attemptBackend.name }

    package init(backend: any AttemptBackend) {
        self.attemptBackend = backend
    }

    package func fix(_ request: FixRequest, verify: @escaping @Sendable (AttemptCandidate) async throws -> Verification, logger: Logger) async -> FixResult {
        var records: [FixAttemptRecord] = []
        var result = await attempts(request, verify: verify, records: &records, logger: logger)
        result.summaries = records.map(\.summary)
        return result
    }

    /// The attempts, each appended to `records` (and written to `request.attemptsFile`) as it ends.
    private func attempts(_ request: FixRequest, verify: @escaping @Sendable (AttemptCandidate) async throws -> Verification,
                          records: inout [FixAttemptRecord], logger: Logger) async -> FixResult {
        let masker = SecretMasker(secrets: request.secrets)
        let fm = FileManager.default
        var cost = 0.0
        var previous: (changes: [FileChange], workspace: URL)?
        var feedback: String?
        var lastReason = "no attempt was made"
        var attempt = 0
        var lastFailedIn: FailurePlace?
        var fingerprints: Set<String> = []
        var repeated = false
        var scrubbed: Set<String> = []
        func ended(_ reason: String) -> FixResult {
            FixResult(outcome: .gaveUp(reason: masker.mask(reason)), attempts: attempt, costUSD: cost, lastFailedIn: lastFailedIn,
                      repeatedFailure: repeated)
        }
        while attempt < request.budgets.maxAttempts {
            if Task.isCancelled { return FixResult(outcome: .gaveUp(reason: "canceled"), attempts: attempt, costUSD: cost) }
            let remaining = request.budgets.maxCostUSD - cost
            guard remaining > 0 else {
                lastReason = "the cost budget of $\(String(format: "%.2f", request.budgets.maxCostUSD)) is used up"
                lastFailedIn = nil
                break
            }
            attempt += 1
            lastFailedIn = nil
            let attemptStarted = ContinuousClock.now
            var attemptLogger = logger
            attemptLogger[metadataKey: "attempt"] = "\(attempt)"
            let directory = request.attemptsDirectory.appendingPathComponent(String(attempt))
            let workspace = directory.appendingPathComponent("workspace")
            do {
                try? fm.removeItem(at: directory)
                try fm.createDirectory(at: directory, withIntermediateDirectories: true)
                try fm.copyItem(at: request.failedWorkspace, to: workspace)
                if let previous { try FileChange.apply(previous.changes, from: previous.workspace, to: workspace) }
                // A step may have written a secret into a file (`echo "_authToken=$TOKEN" > .npmrc`): the agent's
                // copy holds it masked, and such a file is never part of the fix.
                scrubbed.formUnion(SecretScrubber.scrub(workspace, secrets: request.secrets))
            } catch {
                lastReason = "cannot prepare the attempt workspace: \(error)"
                break
            }
            let task = AutofixPrompt.task(request, attempt: attempt, feedback: feedback, masker: masker)
            var runSpec = request.runSpec
            runSpec.workspace = workspace
            runSpec.labels["pushbox.autofix"] = "attempt-\(attempt)"
            let work = await attemptBackend.work(task: task, workspace: workspace, runSpec: runSpec, request: request,
                                                 costBudgetUSD: remaining, masker: masker, attemptDirectory: directory,
                                                 logger: attemptLogger)
            cost += work.costUSD
            if Task.isCancelled { return FixResult(outcome: .gaveUp(reason: "canceled"), attempts: attempt, costUSD: cost) }
            let changes = ChangeSet.compute(attempt: workspace, failed: request.failedWorkspace, pushed: Set(request.files))
                .filter { !scrubbed.contains($0.path) }
            var record = FixAttemptRecord(
                attempt: attempt, backend: attemptBackend.name, model: attemptBackend.model, stop: work.stop, failure: work.failure,
                transcript: work.transcript, costUSD: work.costUSD, changes: changes,
                diff: masker.mask(ChangeSet.diff(changes, original: request.originalTree, attempt: workspace)),
                rejection: nil, verification: nil, passed: false, explanation: masker.mask(work.explanation))
            var reason: String
            if let failure = work.failure {
                reason = failure
            } else if changes.isEmpty {
                reason = "the attempt changed no file (\(work.stop))"
            } else if let rejection = AntiCheat.check(changes, original: request.originalTree, attempt: workspace,
                                                      protected: request.protectedPaths,
                                                      allowTestEdits: request.pipeline.autofix.allowTestEdits) {
                record.rejection = rejection.description
                reason = "rejected: \(rejection)"
            } else {
                let verification: Verification
                let verificationStarted = ContinuousClock.now
                do {
                    verification = try await verify(AttemptCandidate(attempt: attempt, workspace: workspace, changes: changes))
                } catch {
                    verification = Verification(passed: false, summary: "the verification run failed to run: \(error)")
                }
                record.verificationSeconds = Units.seconds(ContinuousClock.now - verificationStarted)
                record.verification = verification
                if verification.passed, let rejection = TestIdentity.check(before: request.failingCases, beforeCounts: request.failingTests,
                                                                           after: verification) {
                    record.rejection = rejection.description
                    reason = "rejected: \(rejection)"
                } else if verification.passed {
                    record.passed = true
                    record.durationSeconds = Units.seconds(ContinuousClock.now - attemptStarted)
                    records.append(record)
                    Self.write(records, to: request.attemptsFile, logger: logger)
                    return FixResult(outcome: .fixed(workspace: workspace, changes: changes, explanation: masker.mask(work.explanation),
                                                     model: attemptBackend.model, verification: verification),
                                     attempts: attempt, costUSD: cost)
                } else {
                    reason = "verification: \(verification.summary)"
                    feedback = AutofixPrompt.feedback(attempt: attempt, reason: reason, verification: verification,
                                                      diff: record.diff, masker: masker)
                    lastFailedIn = verification.place
                    if let fingerprint = FailureFingerprint.of(verification), !fingerprints.insert(fingerprint).inserted {
                        repeated = true
                    }
                }
            }
            if record.verification == nil || record.rejection != nil {
                feedback = AutofixPrompt.feedback(attempt: attempt, reason: reason, verification: record.verification,
                                                  diff: record.diff, masker: masker)
            }
            record.durationSeconds = Units.seconds(ContinuousClock.now - attemptStarted)
            records.append(record)
            Self.write(records, to: request.attemptsFile, logger: logger)
            attemptLogger.info("autofix attempt failed", metadata: ["reason": "\(masker.mask(reason))"])
            lastReason = reason
            if repeated {
                lastReason = "the same failure twice (\(reason))"
                break
            }
            // A rejected attempt's changes are not carried over: the next one starts without them.
            if record.rejection == nil { previous = (changes, workspace) }
            if work.costBudgetReached || cost >= request.budgets.maxCostUSD {
                lastReason = "the cost budget of $\(String(format: "%.2f", request.budgets.maxCostUSD)) is used up (\(reason))"
                lastFailedIn = nil
                break
            }
        }
        return ended(lastReason)
    }

    static func write(_ records: [FixAttemptRecord], to file: URL, logger: Logger) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(records).write(to: file, options: .atomic)
        } catch {
            logger.error("cannot write \(file.path): \(error)")
        }
    }
}

/// The task text of an attempt, bounded (about `maxCharacters`, ~4 characters per token).
package enum AutofixPrompt {
    package static let maxLogCharacters = 24_000
    package static let maxDiffCharacters = 24_000
    package static let maxFiles = 400

    package static func task(_ request: FixRequest, attempt: Int, feedback: String?, masker: SecretMasker) -> String {
        var text = """
            The CI pipeline of repository \(request.repoName) failed on commit \(request.sha) (\(request.ref)).
            Failing step: \(request.failingStep.name)
            Command: \(request.failingStep.run)

            Log of the failing step (first error lines, then the tail):
            \(boundedLog(request.logTail, limit: maxLogCharacters))

            Pipeline steps (all of them must pass; they run again on your workspace when you are done):
            \(request.pipeline.steps.map { "- \($0.name): \($0.run)" }.joined(separator: "\n"))

            Protected paths (must not be changed): \(request.protectedPaths.joined(separator: ", "))

            Files in the repository:
            \(request.files.prefix(maxFiles).joined(separator: "\n"))\(request.files.count > maxFiles ? "\n… \(request.files.count - maxFiles) more" : "")

            The push's diff:
            \(bounded(request.pushDiff, limit: maxDiffCharacters))
            """
        if let feedback {
            text += "\n\nThis is attempt \(attempt). The previous attempt did not succeed; your workspace already contains its changes.\n\(feedback)"
        }
        return masker.mask(text)
    }

    package static func feedback(attempt: Int, reason: String, verification: Verification?, diff: String, masker: SecretMasker) -> String {
        var text = "Attempt \(attempt) failed: \(reason)\n"
        if let verification, !verification.passed, !verification.logTail.isEmpty {
            text += "Log of the failing step of the verification run:\n\(boundedLog(verification.logTail, limit: maxLogCharacters / 2))\n"
        }
        text += "What attempt \(attempt) changed:\n\(bounded(diff, limit: maxDiffCharacters / 2))"
        return masker.mask(text)
    }

    /// Keeps the first lines that look like errors, then as much of the tail as fits.
    package static func boundedLog(_ log: String, limit: Int) -> String {
        guard log.count > limit else { return log }
        let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
        let markers = ["error", "Error", "ERROR", "FAIL", "fail", "assert", "panic", "undefined"]
        let errors = lines.filter { line in markers.contains { line.contains($0) } }.prefix(20).map { String($0.prefix(400)) }
        let head = errors.isEmpty ? "" : "[first error lines]\n" + errors.joined(separator: "\n") + "\n[…]\n"
        let room = max(0, limit - head.count)
        return head + String(log.suffix(room))
    }

    static func bounded(_ text: String, limit: Int) -> String {
        text.count > limit ? String(text.prefix(limit)) + "\n[… truncated]" : text
    }
}

/// Masks the secret values a workspace's files hold (pure file work, no I/O beyond the tree). Regular files
/// up to `maxFileBytes` are read; one that contains a secret's bytes is rewritten masked (UTF-8 text) or
/// removed (anything else). Returns the relative paths it changed. Symlinks are never followed.
package enum SecretScrubber {
    package static let maxFileBytes = 64 << 20

    package static func scrub(_ root: URL, secrets: [String]) -> Set<String> {
        let values = secrets.filter { !$0.isEmpty }.map { Data($0.utf8) }
        guard !values.isEmpty, let enumerator = FileManager.default.enumerator(atPath: root.path) else { return [] }
        let masker = SecretMasker(secrets: secrets)
        var changed: Set<String> = []
        while let path = enumerator.nextObject() as? String {
            guard enumerator.fileAttributes?[.type] as? FileAttributeType == .typeRegular,
                  let size = (enumerator.fileAttributes?[.size] as? NSNumber)?.intValue, size <= maxFileBytes else { continue }
            let url = root.appendingPathComponent(path)
            guard let data = try? Data(contentsOf: url), values.contains(where: { data.range(of: $0) != nil }) else { continue }
            if let text = String(data: data, encoding: .utf8) {
                try? Data(masker.mask(text).utf8).write(to: url)
            } else {
                try? FileManager.default.removeItem(at: url)
            }
            changed.insert(path)
        }
        return changed
    }
}

/// The files a fix consists of.
///
/// The rule: compare the attempt workspace with the failed workspace it was copied from (whose content is
/// the state before the agent ran; the fixer never writes to it). A path that differs (added, modified,
/// deleted; regular files and symlinks, `.git` skipped) is part of the fix when
/// - it is in the pushed tree (a source file the agent changed or deleted), or
/// - it is new (absent from the failed workspace) and not binary (no NUL byte in its first 8 KiB).
/// Paths outside the pushed tree that the failing run already produced, and new binary files, are build
/// artifacts and are never committed.
package enum ChangeSet {
    package static func compute(attempt: URL, failed: URL, pushed: Set<String>) -> [FileChange] {
        let before = entries(failed), after = entries(attempt)
        var changes: [FileChange] = []
        for path in Set(before.keys).union(after.keys).sorted() {
            let old = before[path], new = after[path]
            let kind: FileChange.Kind
            switch (old, new) {
            case (nil, _?): kind = .added
            case (_?, nil): kind = .deleted
            case (let a?, let b?):
                guard a != b || !sameContent(failed.appendingPathComponent(path), attempt.appendingPathComponent(path)) else { continue }
                kind = .modified
            default: continue
            }
            if pushed.contains(path) {
                changes.append(FileChange(path: path, kind: kind))
            } else if kind == .added, !isBinary(attempt.appendingPathComponent(path)) {
                changes.append(FileChange(path: path, kind: kind))
            }
        }
        return changes
    }


    /// A readable diff of the change set against the pushed tree (`diff -u` per file, best effort).
    package static func diff(_ changes: [FileChange], original: URL, attempt: URL) -> String {
        var parts: [String] = []
        for change in changes {
            let old = original.appendingPathComponent(change.path), new = attempt.appendingPathComponent(change.path)
            let oldText = (try? String(contentsOf: old, encoding: .utf8)) ?? ""
            let newText = change.kind == .deleted ? "" : ((try? String(contentsOf: new, encoding: .utf8)) ?? "")
            parts.append("--- a/\(change.path)\n+++ b/\(change.path)\n" + LineDiff.unified(oldText, newText))
        }
        return parts.joined(separator: "\n")
    }

    /// Path → (size, is a symlink), regular files and symlinks only.
    static func entries(_ root: URL) -> [String: Entry] {
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else { return [:] }
        var result: [String: Entry] = [:]
        while let path = enumerator.nextObject() as? String {
            if path == ".git" || path.hasPrefix(".git/") || path == ".pushbox-autofix" { enumerator.skipDescendants(); continue }
            guard let type = enumerator.fileAttributes?[.type] as? FileAttributeType else { continue }
            if type == .typeRegular {
                result[path] = Entry(size: (enumerator.fileAttributes?[.size] as? NSNumber)?.int64Value ?? -1, link: false)
            } else if type == .typeSymbolicLink {
                result[path] = Entry(size: 0, link: true)
            }
        }
        return result
    }

    struct Entry: Equatable {
        var size: Int64
        var link: Bool
    }

    static func sameContent(_ a: URL, _ b: URL) -> Bool {
        let fm = FileManager.default
        if let la = try? fm.destinationOfSymbolicLink(atPath: a.path) {
            return (try? fm.destinationOfSymbolicLink(atPath: b.path)) == la
        }
        guard let da = try? Data(contentsOf: a), let db = try? Data(contentsOf: b) else { return false }
        return da == db
    }

    static func isBinary(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return true }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 8192)) ?? Data()
        return head.contains(0)
    }
}

/// Rejects fixes that make the pipeline pass by weakening it. Checked against the pushed tree.
package enum AntiCheat {
    /// Markers that skip a test whatever file they are added to.
    static let skipMarkers = ["pytest.mark.skip", "pytest.skip(", "xfail", "@unittest.skip", "unittest.skipIf", "#[ignore]", "t.Skip(",
                              "t.SkipNow(", "t.Skipf(", "XCTSkip", "@Ignore", "@Disabled", "it.skip", "describe.skip", "test.skip",
                              "xit(", "xdescribe(", "GTEST_SKIP"]
    /// Markers that are ordinary code elsewhere (`iter().skip(1)`, `FEATURE_DISABLED_X`): refused only when
    /// added to a file that looks like a test.
    static let testFileSkipMarkers = ["@skip", ".skip(", ".disabled(", "DISABLED_"]
    static let testDefinitions = ["def test", "func test", "#[test]", "@Test", "TEST(", "TEST_F(", "it(", "test(", "describe("]

    /// The first rule `changes` break, or nil. `allowTestEdits` (`.pushbox.yml` `autofix.allow_test_edits`)
    /// lets expected values in test files change; markers, removed tests and deleted test files stay refused.
    package static func check(_ changes: [FileChange], original: URL, attempt: URL, protected: [String],
                              allowTestEdits: Bool = false) -> Rejection? {
        for change in changes {
            if let pattern = protected.first(where: { matches($0, change.path) }) {
                return Rejection(.protectedPath, "\(change.kind == .deleted ? "deletes" : "edits") \(change.path), which is protected (\(pattern))")
            }
            if change.kind == .deleted, looksLikeTest(change.path) {
                return Rejection(.testFileDeleted, "deletes or renames the test file \(change.path)")
            }
            guard change.kind != .deleted else { continue }
            let oldText = (try? String(contentsOf: original.appendingPathComponent(change.path), encoding: .utf8)) ?? ""
            guard let newText = try? String(contentsOf: attempt.appendingPathComponent(change.path), encoding: .utf8) else { continue }
            if let rejection = ProtectedFragments.check(path: change.path, old: oldText, new: newText) { return rejection }
            let (removed, added) = LineDiff.changedLines(oldText, newText)
            let markers = looksLikeTest(change.path) ? skipMarkers + testFileSkipMarkers : skipMarkers
            if let marker = added.lazy.compactMap({ line in markers.first { line.contains($0) } }).first {
                return Rejection(.skipMarker, "adds a skip/xfail/ignore marker (\(marker)) in \(change.path)")
            }
            let removedTests = removed.filter { line in testDefinitions.contains { line.trimmingCharacters(in: .whitespaces).hasPrefix($0) } }
            let addedTests = added.filter { line in testDefinitions.contains { line.trimmingCharacters(in: .whitespaces).hasPrefix($0) } }
            if removedTests.count > addedTests.count {
                return Rejection(.testRemoved, "removes test functions or cases in \(change.path)")
            }
            if !allowTestEdits, looksLikeTest(change.path), !removed.isEmpty, removed.count == added.count,
               zip(removed, added).allSatisfy({ onlyLiteralsDiffer($0, $1) }) {
                return Rejection(.expectedValues, "changes only expected values in the test file \(change.path)")
            }
        }
        return nil
    }

    static func matches(_ pattern: String, _ path: String) -> Bool {
        if pattern.hasSuffix("/") { return path == String(pattern.dropLast()) || path.hasPrefix(pattern) }
        if Glob.matches(pattern, path, pathAware: true) { return true }
        // A pattern naming a directory protects what is under it.
        return path.hasPrefix(pattern + "/")
    }

    static func looksLikeTest(_ path: String) -> Bool {
        let lower = path.lowercased()
        let name = lower.split(separator: "/").last.map(String.init) ?? lower
        return name.hasPrefix("test") || name.contains("_test.") || name.contains(".test.") || name.contains("tests.")
            || name.contains(".spec.") || name.hasSuffix("test.java") || name.hasSuffix("tests.swift")
            || lower.hasPrefix("test/") || lower.hasPrefix("tests/") || lower.contains("/test/") || lower.contains("/tests/")
            || lower.hasPrefix("spec/") || lower.contains("/spec/") || lower.contains("/__tests__/") || lower.contains("testdata/")
    }

    /// The two lines are the same once numbers and quoted strings are blanked.
    static func onlyLiteralsDiffer(_ a: String, _ b: String) -> Bool {
        func skeleton(_ s: String) -> String {
            s.replacingOccurrences(of: #""[^"]*"|'[^']*'|\b\d+(\.\d+)?\b"#, with: "#", options: .regularExpression)
        }
        return a != b && skeleton(a) == skeleton(b)
    }
}

/// A small line diff (longest common subsequence), enough for reviewing fixes of small files.
package enum LineDiff {
    /// Lines only in `old` and lines only in `new`, in order.
    package static func changedLines(_ old: String, _ new: String) -> (removed: [String], added: [String]) {
        var removed: [String] = [], added: [String] = []
        for op in operations(old, new) {
            switch op {
            case .remove(let line): removed.append(line)
            case .add(let line): added.append(line)
            case .keep: break
            }
        }
        return (removed, added)
    }

    package static func unified(_ old: String, _ new: String) -> String {
        operations(old, new).map { op in
            switch op {
            case .keep(let line): return " " + line
            case .remove(let line): return "-" + line
            case .add(let line): return "+" + line
            }
        }.joined(separator: "\n") + "\n"
    }

    enum Operation { case keep(String), remove(String), add(String) }

    static func operations(_ old: String, _ new: String) -> [Operation] {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Bounded: large files are shown as a whole replacement.
        guard a.count * b.count <= 4_000_000 else { return a.map { .remove($0) } + b.map { .add($0) } }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        var result: [Operation] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                result.append(.keep(a[i])); i += 1; j += 1
            } else if j < b.count, i == a.count || table[i][j + 1] >= table[i + 1][j] {
                result.append(.add(b[j])); j += 1
            } else {
                result.append(.remove(a[i])); i += 1
            }
        }
        return result
    }
}
