import Core
import Foundation
import Git
import Logging
import Store

/// Stage 3 of a run: after a `failed` run, the injected `RunFixer` works on copies of the workspace, the
/// whole pipeline re-verifies each attempt (same code as the run, fresh sandbox, logs under
/// `attempts/<n>/logs/`), and a passing fix becomes one commit on `refs/heads/autofix/<branch>/<sha8>`.
/// The run stays `failed` and the pushed branch never moves; the outcome is the note's `autofix:` line.
extension RunDriver {
    /// Bytes of the failing step's log given to the fixer (its tail).
    static let fixLogTailBytes = 16 << 10
    static let fixDiffBytes = 64 << 10

    func autofix(_ run: Run, repo: Repository, spec: PipelineSpec, setup: SandboxSetup, results: [StepResult],
                 failedIndex: Int, files: RunFiles, logger: Logger) async {
        guard let fixer = environment.fixer, environment.config.autofix.backend != "off" else { return }
        guard spec.autofix.enabled else { return }
        guard let branch = RefUpdate(oldSHA: "", newSHA: run.sha, ref: run.ref).branch, !branch.hasPrefix("autofix/") else { return }
        var logger = logger
        logger[metadataKey: "stage"] = "autofix"
        // The agent's containers and the verification runs work on copies: they get no cache mounts, so
        // nothing an attempt does reaches the branch's cache.
        var setup = setup
        setup.runSpec.mounts = []
        let line: String
        do {
            line = try await runFixer(fixer, run: run, repo: repo, branch: branch, spec: spec, setup: setup, results: results,
                                      failedIndex: failedIndex, files: files, logger: logger)
        } catch {
            line = Task.isCancelled ? "canceled" : "error: \(Self.oneLine(setup.masker.mask("\(error)")))"
        }
        logger.info("autofix finished", metadata: ["outcome": "\(line)"])
        // Every attempt in the store too (the full records stay in fix_attempts.json).
        if let data = try? Data(contentsOf: files.root.appendingPathComponent("fix_attempts.json")) {
            do {
                try environment.store.setFixAttempts(runID: run.id, FixAttemptSummary.read(fixAttemptsJSON: data))
            } catch {
                logger.error("cannot record the autofix attempts: \(error)")
            }
        }
        do {
            try environment.store.update(runID: run.id, autofix: line)
        } catch {
            logger.error("cannot record the autofix outcome: \(error)")
        }
    }

    /// Removes the trees of the attempts (their workspaces, the pristine and the committed tree) and keeps
    /// the rest (logs, transcripts) at the same paths, out of the volume, which is released.
    private static func keepLogsOnly(_ attempts: URL, volume: WorkspaceVolume?, logger: Logger) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: attempts.path)) ?? [] {
            let entry = attempts.appendingPathComponent(name)
            if Int(name) != nil {
                try? fm.removeItem(at: entry.appendingPathComponent("workspace"))
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

    private func runFixer(_ fixer: any RunFixer, run: Run, repo: Repository, branch: String, spec: PipelineSpec,
                          setup: SandboxSetup, results: [StepResult], failedIndex: Int, files: RunFiles,
                          logger: Logger) async throws -> String {
        let fm = FileManager.default
        let attempts = files.attempts
        // The attempts' copies of the workspace, and the verification runs on them, get the run's quota too:
        // one volume for all attempts, whose logs are kept when the trees go.
        let image = files.attemptsImage
        let volume: WorkspaceVolume?
        if let quota = environment.workspaceQuota {
            volume = try WorkspaceVolume.create(at: attempts, image: image, bytes: quota)
        } else {
            volume = nil
            try? fm.removeItem(at: attempts)
            try fm.createDirectory(at: attempts, withIntermediateDirectories: true)
        }
        defer { Self.keepLogsOnly(attempts, volume: volume, logger: logger) }
        // A pristine export of the pushed tree: the fixer's reference for the anti-cheat checks.
        let sha = ObjectID(hex: run.sha)!  // checked by loadPipeline
        let original = attempts.appendingPathComponent("original")
        _ = try repo.export(sha, to: original)
        let old = run.oldSHA.flatMap { $0.allSatisfy { $0 == "0" } ? nil : ObjectID(hex: $0) }
        let diff = (try? repo.diff(from: old, to: sha, maxBytes: Self.fixDiffBytes))
            ?? (try? repo.diff(from: nil, to: sha, maxBytes: Self.fixDiffBytes)) ?? ""
        let failingTests = results.testTotals
        let step = spec.steps[failedIndex]
        let config = environment.config.autofix
        let budgets = FixBudgets(maxAttempts: spec.autofix.maxAttempts ?? config.maxAttempts, maxTurns: config.maxTurns,
                                 maxCostUSD: config.maxCostUSD, wallTimePerAttempt: config.wallTimePerAttempt)
        let request = FixRequest(
            runID: run.id, repoName: run.repoName, ref: run.ref, branch: branch, sha: run.sha, failingStep: step,
            logTail: Self.tail(of: files.log(step: step.name), bytes: Self.fixLogTailBytes),
            pipeline: spec, runSpec: setup.runSpec, failedWorkspace: files.workspace, originalTree: original,
            attemptsDirectory: attempts, attemptsFile: files.root.appendingPathComponent("fix_attempts.json"),
            pushDiff: setup.masker.mask(diff), files: Self.listFiles(original), failingTests: failingTests,
            secrets: setup.secrets, protectedPaths: FixRequest.defaultProtectedPaths + spec.autofix.protect, budgets: budgets)
        let driver = self
        let result = await fixer.fix(request, verify: { workspace in
            try await driver.verify(spec: spec, setup: setup, workspace: workspace, logger: logger)
        }, logger: logger)
        let cost = String(format: "$%.2f", result.costUSD)
        let attemptsText = "\(result.attempts) attempt\(result.attempts == 1 ? "" : "s")"
        switch result.outcome {
        case .gaveUp(let reason):
            let reason = Self.oneLine(setup.masker.mask(reason))
            return result.attempts == 0 ? "skipped: \(reason)" : "gave up after \(attemptsText): \(reason)"
        case .fixed(let workspace, let changes, let explanation, let model):
            // A run cancelled meanwhile (by a user, a superseding push, a shutdown) publishes nothing.
            try Task.checkCancellation()
            let name = "autofix/\(branch)/\(run.sha.prefix(8))"
            let message = Self.commitMessage(run: run, failure: "step \(step.name) failed (\(results[failedIndex].exitCode.map { "exit \($0)" } ?? "error"))",
                                             explanation: setup.masker.mask(explanation), model: model, attempts: result.attempts)
            let applied = attempts.appendingPathComponent("commit")
            _ = try repo.export(sha, to: applied)
            try Self.apply(changes, from: workspace, to: applied)
            var signature = Signature(name: config.authorName, email: config.authorEmail)
            signature.date = Date()
            let commit = try repo.createCommit(parent: sha, treeFrom: applied, message: message, author: signature, committer: signature)
            let refName = "refs/heads/\(name)"
            if let existing = try? repo.resolve(refName), let info = try? repo.commit(existing),
               let earlierRun = Self.trailer("Pushbox-Run", in: info.message).flatMap(Int64.init), earlierRun > run.id {
                return "passed \(name) (\(attemptsText), \(cost)); kept the newer fix of run \(earlierRun)"
            }
            try repo.setReference(refName, to: commit, force: true, logMessage: "pushbox autofix of run \(run.id)")
            var noteAuthor = GitNoteAuthor.signature
            noteAuthor.date = Date()
            let note = "run: \(run.id) \(environment.config.url)/runs/\(run.id)\nref: \(refName)\nfixes: \(run.sha)\n"
            try repo.writeNote("pushbox: passed\n" + note, on: commit, notesRef: "refs/notes/pushbox", author: noteAuthor)
            let line = "passed \(name) (\(attemptsText), \(cost))"
            guard !spec.vms.isEmpty else { return line }
            // The fix passed the container steps; the VMs validate its tree too, and its note says how.
            let first = spec.vms.count
            try environment.store.setVMs(runID: run.id, tree: .autofix, Self.plannedVMs(spec, tree: .autofix, first: first))
            let vms = try await validateInVMs(run, repo: repo, commit: commit, spec: spec, setup: setup, tree: .autofix,
                                              first: first, files: files, logger: logger)
            let vmLines = ((try? environment.store.run(id: run.id))?.vms ?? []).filter { $0.tree == .autofix }
                .map { $0.noteLine.replacingOccurrences(of: " (autofix):", with: ":") + "\n" }.joined()
            noteAuthor.date = Date()
            try repo.writeNote("pushbox: \(vms.state.rawValue)\n" + note + vmLines, on: commit, notesRef: "refs/notes/pushbox",
                               author: noteAuthor)
            return vms.state == .passed ? line : "\(line); \(vms.message ?? "VM validation \(vms.state.rawValue)")"
        }
    }

    /// The whole pipeline on `workspace` in a fresh sandbox; logs in the sibling `logs/` directory.
    func verify(spec: PipelineSpec, setup: SandboxSetup, workspace: URL, logger: Logger) async throws -> Verification {
        var setup = setup
        setup.runSpec.workspace = workspace
        setup.runSpec.labels["pushbox.autofix"] = "verify"
        let logs = workspace.deletingLastPathComponent().appendingPathComponent("logs")
        let outcome: StepsOutcome
        do {
            outcome = try await executeSteps(spec: spec, setup: setup, logs: logs, hub: nil, logger: logger,
                                             sandboxReady: { _ in }, record: { _, _ in })
        } catch let abort as RunAbort {
            return Verification(passed: false, summary: "the verification run could not start: \(abort.message)")
        }
        let tests = outcome.results.testTotals
        guard let failed = outcome.failedIndex else { return Verification(passed: true, summary: "passed", tests: tests) }
        let name = spec.steps[failed].name
        return Verification(passed: false, failedStep: name, summary: outcome.message ?? "step \(name) failed",
                            logTail: Self.tail(of: logs.appendingPathComponent("\(name).log"), bytes: Self.fixLogTailBytes), tests: tests)
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

    /// Applies `changes` (paths relative to the roots) from `source` onto `target`.
    static func apply(_ changes: [FileChange], from source: URL, to target: URL) throws {
        let fm = FileManager.default
        for change in changes {
            guard !change.path.split(separator: "/").contains("..") else { continue }
            let destination = target.appendingPathComponent(change.path)
            try? fm.removeItem(at: destination)
            if change.kind != .deleted {
                try fm.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
                try fm.copyItem(at: source.appendingPathComponent(change.path), to: destination)
            }
        }
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

enum GitNoteAuthor {
    static let signature = Signature(name: "Pushbox", email: "pushbox@pushbox.invalid")
}
