import Core
import Foundation
import Git
import Logging
import Workspace

/// Stage 3 of a run: after a `failed` run, the injected `RunFixer` works on copies of the workspace, the
/// whole pipeline re-verifies each attempt (same code as the run, fresh sandbox, logs under
/// `attempts/<n>/logs/`), and a passing fix becomes one commit on `refs/heads/autofix/<branch>/<sha8>`.
/// The run stays `failed` and the pushed branch never moves; the outcome is the note's `autofix:` line.
extension RunDriver {
    /// Bytes of the failing step's log given to the fixer (its tail).
    static let fixLogTailBytes = 16 << 10
    static let fixDiffBytes = 64 << 10

    /// What failed in a run, as autofix is told it.
    struct RunFailure: Sendable {
        /// Where it failed: the container step or the guest.
        var place: FailurePlace
        /// The failing step; for a guest, a step named `vm <profile>` with the guest's command.
        var step: Step
        /// `exit 2`, `timed out`, for the fix commit's message.
        var how: String
        /// The masked tail of the failing step's (or guest's) log.
        var logTail: String
        /// The counts and the JUnit cases of the run's container steps: what every verification must keep.
        var tests: TestCounts?
        var cases: [TestCase]
        /// The failing container step's index (a container failure gets the flake re-run); nil for a guest.
        var stepIndex: Int?
    }

    /// How the autofix stage ended for the run.
    struct AutofixStageResult: Sendable, Equatable {
        enum Outcome: Sendable, Equatable {
            /// Autofix is off for this run (backend off, `autofix: false`, an `autofix/` branch).
            case notRun
            /// The failing step passed on its re-run: recorded as flaky, no model was called.
            case flaky
            /// The fixer ran; its outcome is the run's `autofix` line.
            case attempted
        }
        var outcome: Outcome
        /// How long the flake re-run took, when there was one.
        var rerun: Duration?
    }

    /// The failure of container step `index` of `outcome`, with the masked tail of its log.
    func stepFailure(_ outcome: StepsOutcome, index: Int, spec: PipelineSpec, files: RunFiles) -> RunFailure {
        let step = spec.steps[index], result = outcome.results[index]
        return RunFailure(place: .step(step.name), step: step,
                          how: result.timedOut ? "timed out" : result.exitCode.map { "exit \($0)" } ?? "error",
                          logTail: Self.tail(of: files.log(step: step.name), bytes: Self.fixLogTailBytes),
                          tests: outcome.results.testTotals, cases: outcome.cases, stepIndex: index)
    }

    /// The failure of the first `vms:` entry of the pushed tree that failed, if one did. The tests a fix
    /// must keep are the container steps' (`outcome`), which every verification runs again; the guest's own
    /// are checked by the guest passing.
    func guestFailure(_ run: Run, steps outcome: StepsOutcome, files: RunFiles) -> RunFailure? {
        guard let vm = ((try? environment.store.records.run(id: run.id))?.vms ?? []).first(where: { $0.tree == .pushed && $0.state == .failed })
        else { return nil }
        return RunFailure(place: .vm(vm.profile), step: Step(name: "vm \(vm.profile)", run: vm.command),
                          how: vm.timedOut ? "timed out" : vm.exitCode.map { "exit \($0)" } ?? "error",
                          logTail: Self.tail(of: files.log(step: vm.logName), bytes: Self.fixLogTailBytes),
                          tests: outcome.results.testTotals, cases: outcome.cases, stepIndex: nil)
    }

    /// Stage 3: for a failed run, first the flake re-run (a container step's failure: the whole pipeline once
    /// more, in a fresh container on a fresh export), then the fixer on copies, each attempt verified in a
    /// fresh container and in every `vms:` guest before anything is published.
    @discardableResult
    func autofix(_ run: Run, repo: Repository, spec: PipelineSpec, setup: SandboxSetup, failure: RunFailure,
                 files: RunFiles, logger: Logger) async -> AutofixStageResult {
        let notRun = AutofixStageResult(outcome: .notRun)
        guard let fixer = environment.fixer, environment.config.autofix.backend != .off else { return notRun }
        guard spec.autofix.enabled else { return notRun }
        guard let branch = RefUpdate(oldSHA: "", newSHA: run.sha, ref: run.ref).branch, !branch.hasPrefix("autofix/") else { return notRun }
        var logger = logger
        logger[metadataKey: "stage"] = "autofix"
        // The flake re-run repeats the run as it was, caches included; the agent's containers and the
        // verification runs work on copies: they get no cache mounts, so nothing an attempt does reaches the
        // branch's cache.
        let runSetup = setup
        var setup = setup
        setup.runSpec.mounts = []
        let outcome: AutofixOutcome
        var rerun: Duration?
        do {
            let attempts = try prepareAttempts(files)
            defer { Self.keepLogsOnly(files.attempts, volume: attempts, logger: logger) }
            var flaky: (line: String, tests: [String])?
            if failure.stepIndex != nil {
                let started = ContinuousClock.now
                flaky = try await rerunForFlake(run, repo: repo, spec: spec, setup: runSetup, failure: failure, files: files, logger: logger)
                rerun = ContinuousClock.now - started
            }
            if let flaky {
                do {
                    try environment.store.records.recordFlaky(runID: run.id, repoID: run.repoID, flaky: flaky.line, tests: flaky.tests)
                } catch {
                    logger.error("cannot record the flaky step: \(error)")
                }
                logger.notice("the failing step passed on its re-run: flaky, no model call", metadata: ["tests": "\(flaky.tests)"])
                return AutofixStageResult(outcome: .flaky, rerun: rerun)
            }
            if !spec.vms.isEmpty, environment.vms == nil {
                // A fix is published only after every `vms:` guest passed on it; with the guests off there is
                // nothing a fix could be verified by, so no model is asked for one.
                outcome = AutofixOutcome(status: .skipped, reason: "VM validation is off for this run (--no-vms), and a fix is published only after every vms: guest passed")
            } else {
                outcome = try await runFixer(fixer, run: run, repo: repo, branch: branch, spec: spec, setup: setup, failure: failure,
                                          files: files, logger: logger)
            }
        } catch {
            outcome = Task.isCancelled ? AutofixOutcome(status: .canceled)
                : AutofixOutcome(status: .error, reason: Self.oneLine(setup.masker.mask("\(error)")))
        }
        logger.info("autofix finished", metadata: ["outcome": "\(outcome.line)"])
        do {
            try environment.store.records.setAutofix(runID: run.id, outcome)
        } catch {
            logger.error("cannot record the autofix outcome: \(error)")
        }
        return AutofixStageResult(outcome: .attempted, rerun: rerun)
    }

    /// `runs/<id>/attempts/`: the attempts' copies of the workspace, the flake re-run and the verification
    /// runs on them get the run's quota too: one volume for all, whose logs are kept when the trees go.
    func prepareAttempts(_ files: RunFiles) throws -> WorkspaceVolume? {
        if let quota = environment.workspaceQuota {
            return try WorkspaceVolume.create(at: files.attempts, image: files.attemptsImage, bytes: quota)
        }
        try? FileManager.default.removeItem(at: files.attempts)
        try FileManager.default.createDirectory(at: files.attempts, withIntermediateDirectories: true)
        return nil
    }

    /// The whole pipeline once more, in a fresh sandbox of the same image and environment, on a fresh export
    /// of the pushed commit (`attempts/rerun/workspace`, logs in `runs/<id>/rerun/logs/`, kept with the run).
    /// Returns the flaky line and the names to record when every step passes there; nil when any step fails
    /// (the failing one again, or a later one: then the fixer gets the run's failure and its verification
    /// shows the rest), or when the re-run cannot start.
    func rerunForFlake(_ run: Run, repo: Repository, spec: PipelineSpec, setup: SandboxSetup, failure: RunFailure,
                               files: RunFiles, logger: Logger) async throws -> (line: String, tests: [String])? {
        let workspace = files.attempts.appendingPathComponent("rerun/workspace")
        _ = try repo.export(ObjectID(hex: run.sha)!, to: workspace)  // checked by loadPipeline
        var rerunSetup = setup
        rerunSetup.runSpec.workspace = workspace
        rerunSetup.runSpec.labels["pushbox.autofix"] = "rerun"
        let logs = files.root.appendingPathComponent("rerun/logs")
        try? FileManager.default.removeItem(at: logs)
        let outcome: StepsOutcome
        do {
            outcome = try await executeSteps(spec: spec, setup: rerunSetup, logs: logs, hub: nil,
                                             logger: logger, sandboxReady: { _ in }, record: { _, _ in })
        } catch let abort as RunAbort {
            logger.warning("the flake re-run could not start: \(abort.message)")
            return nil
        }
        guard outcome.failedIndex == nil else { return nil }
        let passedNow = Set(outcome.cases.filter { $0.outcome == .passed }.map(\.name))
        let tests = failure.cases.filter { $0.outcome == .failed && passedNow.contains($0.name) }.map(\.name)
        return ("\(failure.place) failed then passed on re-run", tests.isEmpty ? [failure.place.description] : tests)
    }

    /// Removes the trees of the attempts (their workspaces, the pristine and the committed tree) and keeps
    /// the rest (logs, transcripts) at the same paths, out of the volume, which is released.
    private static func keepLogsOnly(_ attempts: URL, volume: WorkspaceVolume?, logger: Logger) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: attempts.path)) ?? [] {
            let entry = attempts.appendingPathComponent(name)
            if Int(name) != nil {
                try? fm.removeItem(at: entry.appendingPathComponent("workspace"))
                try? fm.removeItem(at: entry.appendingPathComponent("verify"))
            } else {
                try? fm.removeItem(at: entry)
            }
        }
        guard let volume else { return }
        let kept = attempts.deletingLastPathComponent().appendingPathComponent("attempts.kept")
        try? fm.removeItem(at: kept)
        do {
            try fm.copyItem(at: attempts, to: kept)
        } catch {
            logger.warning("cannot keep the autofix attempts' logs: \(error)")
        }
        if let problem = volume.release() {
            logger.error("the autofix attempts' volume is left behind: \(problem)")
            try? fm.removeItem(at: kept)
            return
        }
        do {
            try fm.moveItem(at: kept, to: attempts)
        } catch {
            logger.warning("the autofix attempts' logs stay in \(kept.path): \(error)")
        }
    }

    func runFixer(_ fixer: any RunFixer, run: Run, repo: Repository, branch: String, spec: PipelineSpec,
                          setup: SandboxSetup, failure: RunFailure, files: RunFiles, logger: Logger) async throws -> AutofixOutcome {
        let attempts = files.attempts
        // A pristine export of the pushed tree: the fixer's reference for the anti-cheat checks.
        let sha = ObjectID(hex: run.sha)!  // checked by loadPipeline
        let original = attempts.appendingPathComponent("original")
        _ = try repo.export(sha, to: original)
        let old = run.oldSHA.flatMap { $0.allSatisfy { $0 == "0" } ? nil : ObjectID(hex: $0) }
        let diff = (try? repo.diff(from: old, to: sha, maxBytes: Self.fixDiffBytes))
            ?? (try? repo.diff(from: nil, to: sha, maxBytes: Self.fixDiffBytes)) ?? ""
        let config = environment.config.autofix
        let budgets = FixBudgets(maxAttempts: spec.autofix.maxAttempts ?? config.maxAttempts, maxTurns: config.maxTurns,
                                 maxCostUSD: config.maxCostUSD, wallTimePerAttempt: config.wallTimePerAttempt)
        let request = FixRequest(
            runID: run.id, repoName: run.repoName, ref: run.ref, branch: branch, sha: run.sha, failingStep: failure.step,
            logTail: failure.logTail, pipeline: spec, runSpec: setup.runSpec, failedWorkspace: files.workspace, originalTree: original,
            attemptsDirectory: attempts, attemptsFile: files.root.appendingPathComponent("fix_attempts.json"),
            pushDiff: setup.masker.mask(diff), files: Self.listFiles(original), failingTests: failure.tests,
            failingCases: failure.cases, failingPlace: failure.place, secrets: setup.secrets,
            protectedPaths: FixRequest.protectedPaths(for: spec.autofix), budgets: budgets)
        let driver = self
        let result = await fixer.fix(request, verify: { candidate in
            try await driver.verify(run: run, spec: spec, setup: setup, candidate: candidate, files: files, logger: logger)
        }, logger: logger)
        // Every attempt in the store, before anything is published (the full records stay in fix_attempts.json).
        do {
            try environment.store.records.setFixAttempts(runID: run.id, result.summaries)
        } catch {
            logger.error("cannot record the autofix attempts: \(error)")
        }
        var outcome = AutofixOutcome(status: .passed, attempts: result.attempts, costUSD: result.costUSD,
                                     failedIn: result.lastFailedIn, repeatedFailure: result.repeatedFailure)
        switch result.outcome {
        case .gaveUp(let reason):
            outcome.reason = Self.oneLine(setup.masker.mask(reason))
            if result.repeatedFailure, result.lastFailedIn != nil {
                outcome.status = .gaveUp
            } else if result.lastFailedIn != nil {
                outcome.status = .failed
            } else {
                outcome.status = result.attempts == 0 ? .skipped : .gaveUp
            }
            return outcome
        case .fixed(_, _, let explanation, let model, let verification):
            // Every check passed: the whole pipeline in a fresh container and every `vms:` guest on this very
            // tree (`verify`). Only now does anything reach the repository, unless the run was cancelled
            // meanwhile (by a user, a superseding push, a shutdown): then nothing is published.
            try Task.checkCancellation()
            let name = "autofix/\(branch)/\(run.sha.prefix(8))"
            let message = Self.commitMessage(run: run, failure: "\(failure.place) failed (\(failure.how))",
                                             explanation: setup.masker.mask(explanation), model: model, attempts: result.attempts)
            // The commit gets exactly the tree that was verified (`verify` wrote it), not a rebuilt one.
            guard let tree = verification.verifiedTree.flatMap({ ObjectID(hex: $0) }) else {
                throw RunAbort(cause: .other, message: "the passing verification named no tree; nothing was published")
            }
            var signature = Signature(name: config.authorName, email: config.authorEmail)
            signature.date = Date()
            let commit = try repo.createCommit(parent: sha, tree: tree, message: message, author: signature, committer: signature)
            let refName = "refs/heads/\(name)"
            if let existing = try? repo.resolve(refName), let info = try? repo.commit(existing),
               let earlierRun = Self.trailer("Pushbox-Run", in: info.message).flatMap(Int64.init), earlierRun > run.id {
                outcome.branch = name
                outcome.keptNewerFixOf = earlierRun
                return outcome
            }
            try repo.setReference(refName, to: commit, force: true, logMessage: "pushbox autofix of run \(run.id)")
            // The fix commit's note is written with the run's own, by the note reporter, when the run ends.
            outcome.branch = name
            outcome.commit = commit.hex
            return outcome
        }
    }

    /// Verifies a candidate on exactly the tree that would be committed: the pushed commit plus the change
    /// set (`attempts/<n>/verify`, an unreferenced commit of it in the repository), never the attempt's own
    /// workspace with the failed run's leftovers (build outputs, old JUnit files). The whole pipeline runs on
    /// it in a fresh sandbox (logs in `attempts/<n>/logs/`); when that passes and the pipeline has `vms:`,
    /// every entry runs on the same commit in fresh guests, recorded as the run's `autofix` VM results. A
    /// guest's failure is the verification's failure, with the guest's log tail. A passing verification
    /// carries the tree's id, which the published commit must have.
    func verify(run: Run, spec: PipelineSpec, setup: SandboxSetup, candidate: AttemptCandidate, files: RunFiles,
                logger: Logger) async throws -> Verification {
        let repo = try repository(of: run)
        let sha = ObjectID(hex: run.sha)!  // checked by loadPipeline
        let directory = candidate.workspace.deletingLastPathComponent()
        let tree = directory.appendingPathComponent("verify")
        try? FileManager.default.removeItem(at: tree)
        _ = try repo.export(sha, to: tree)
        try FileChange.apply(candidate.changes, from: candidate.workspace, to: tree)
        let signature = Signature.pushbox
        let commit = try repo.createCommit(parent: sha, treeFrom: tree,
                                           message: "Pushbox autofix candidate of run \(run.id), attempt \(candidate.attempt)\n",
                                           author: signature, committer: signature)
        let treeID = try repo.commit(commit).tree.hex

        var setup = setup
        setup.runSpec.workspace = tree
        setup.runSpec.labels["pushbox.autofix"] = "verify"
        let logs = directory.appendingPathComponent("logs")
        let outcome: StepsOutcome
        do {
            outcome = try await executeSteps(spec: spec, setup: setup, logs: logs, hub: nil, logger: logger,
                                             sandboxReady: { _ in }, record: { _, _ in })
        } catch let abort as RunAbort {
            return Verification(passed: false, summary: "the verification run could not start: \(abort.message)")
        }
        let tests = outcome.results.testTotals
        if let failed = outcome.failedIndex {
            let name = spec.steps[failed].name
            return Verification(passed: false, failedStep: name, summary: outcome.message ?? "step \(name) failed",
                                logTail: Self.tail(of: logs.appendingPathComponent("\(name).log"), bytes: Self.fixLogTailBytes),
                                tests: tests, cases: outcome.cases)
        }
        var passed = Verification(passed: true, summary: "passed", tests: tests, cases: outcome.cases)
        passed.verifiedTree = treeID
        guard !spec.vms.isEmpty else { return passed }

        let first = spec.vms.count
        try environment.store.records.setVMs(runID: run.id, tree: .autofix, Self.plannedVMs(spec, tree: .autofix, first: first))
        let vms = try await validateInVMs(run, repo: repo, commit: commit, spec: spec, setup: setup, tree: .autofix,
                                          first: first, files: files, logger: logger)
        if vms.state == .passed {
            passed.summary = "passed in the container and in \(spec.vms.count) guest\(spec.vms.count == 1 ? "" : "s")"
            return passed
        }
        let guest = ((try? environment.store.records.run(id: run.id))?.vms ?? [])
            .first { $0.tree == .autofix && ($0.state == .failed || $0.state == .error) }
        let profile = guest?.profile ?? spec.vms[0].profile
        return Verification(passed: false, place: .vm(profile), summary: vms.message ?? "vm \(profile) \(vms.state.rawValue)",
                            logTail: guest.map { Self.tail(of: files.log(step: $0.logName), bytes: Self.fixLogTailBytes) } ?? "",
                            tests: tests, cases: outcome.cases)
    }

    // MARK: helpers (pure or file-level)

    static func commitMessage(run: Run, failure: String, explanation: String, model: String, attempts: Int) -> String {
        let explanation = explanation.trimmingCharacters(in: .whitespacesAndNewlines)
        var summary = "Autofix: \(failure) on \(run.shortRef)"
        if summary.count > 72 { summary = String(summary.prefix(69)) + "..." }
        var parts = [summary]
        if !explanation.isEmpty { parts.append(explanation) }
        parts.append("Fixes the failure of run \(run.id) on \(run.sha.prefix(8)): \(failure).")
        parts.append("""
            Pushbox-Run: \(run.id)
            Pushbox-Fixes: \(run.sha)
            Pushbox-Model: \(model)
            Pushbox-Attempts: \(attempts)
            """)
        return parts.joined(separator: "\n\n") + "\n"
    }

    static func trailer(_ key: String, in message: String) -> String? {
        for line in message.split(separator: "\n").reversed() where line.hasPrefix(key + ": ") {
            return String(line.dropFirst(key.count + 2)).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    static func oneLine(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        return line.count > 300 ? String(line.prefix(297)) + "..." : line
    }

    static func tail(of url: URL, bytes: Int) -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(bytes) ? size - UInt64(bytes) : 0)
        return TerminalText.collapseLines(String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self))
    }

    /// Regular files and symlinks under `root`, relative and sorted; `.git` skipped.
    static func listFiles(_ root: URL) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var files: [String] = []
        while let path = enumerator.nextObject() as? String {
            if path == ".git" || path.hasPrefix(".git/") { enumerator.skipDescendants(); continue }
            if let type = enumerator.fileAttributes?[.type] as? FileAttributeType, type != .typeDirectory { files.append(path) }
        }
        return files.sorted()
    }
}

