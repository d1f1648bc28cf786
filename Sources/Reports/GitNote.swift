import Core
import Foundation
import Git
import Logging

/// The text of the git note for a run (DESIGN §4). Pure.
package enum NoteFormatter {
    package static func format(_ run: Run, baseURL: String) -> String {
        var lines = ["pushbox: \(run.state.rawValue)", "run: \(run.id) \(baseURL)/runs/\(run.id)", "ref: \(run.ref)"]
        if let detected = run.detected { lines.append("detected: \(detected)") }
        for step in run.steps {
            var line = "step \(step.name): "
            switch step.state {
            case .passed, .failed:
                line += step.timedOut ? "timed out" : step.state.rawValue
                if let duration = step.duration { line += " \(Units.format(duration))" }
                if !step.timedOut, step.state == .failed, let code = step.exitCode {
                    line += ExitStatus.isKilled(code: code) ? " (exit \(code): killed, out of memory or limit)" : " (exit \(code))"
                }
                if let tests = step.tests { line += " (\(tests.summary))" }
            default:
                line += step.state.rawValue
            }
            lines.append(line)
        }
        if !run.artifacts.isEmpty { lines.append("artifacts: \(ArtifactFile.noteSummary(run.artifacts))") }
        if let flaky = run.flaky { lines.append("flaky: \(flaky)") }
        if let autofix = run.autofix { lines.append("autofix: \(autofix)") }
        lines += run.vms.map(\.noteLine)
        if let superseded = run.supersededBy {
            lines.append(RunState.supersededMessage(by: superseded))
        } else if run.state == .failed, let message = run.message, let hint = message.range(of: "; ") {
            // A failed run's message starts with what its step lines say already; what the runner found
            // out besides (a full workspace, a full runner disk) follows after "; ".
            lines.append("failed: \(message[hint.upperBound...])")
        } else if run.state == .error || run.state == .canceled, let message = run.message {
            // A message can span lines (a parse error with a hint); keep the note's line structure.
            let body = message.split(separator: "\n", omittingEmptySubsequences: false)
            lines.append("\(run.state.rawValue): \(body.first ?? "")")
            lines += body.dropFirst().map { "  \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The note on the commit a run's autofix published (nil when it published none): passed, the run and
    /// its ref, what it fixes, and the `vms:` entries that passed on it.
    package static func formatFix(_ run: Run, baseURL: String) -> String? {
        guard let outcome = run.autofixOutcome, outcome.status == .passed, outcome.commit != nil, let branch = outcome.branch else { return nil }
        let vmLines = run.vms.filter { $0.tree == .autofix }.map { $0.noteLine.replacingOccurrences(of: " (autofix):", with: ":") }
        return (["pushbox: passed", "run: \(run.id) \(baseURL)/runs/\(run.id)", "ref: refs/heads/\(branch)", "fixes: \(run.sha)"]
            + vmLines).joined(separator: "\n") + "\n"
    }

    /// The run id a note was written for (`run: 12 …`), to keep the latest run's note.
    package static func runID(in note: String) -> Int64? {
        for line in note.split(separator: "\n") where line.hasPrefix("run: ") {
            return Int64(line.dropFirst(5).split(separator: " ").first ?? "")
        }
        return nil
    }
}

/// The one writer of notes: the note on the pushed commit and, when the run's autofix published a fix, the
/// note on the fix commit (written first, so a reader who sees the run's note finds the fix's too), into
/// the bare repository with libgit2. The latest run wins: a note already written by a newer run of the
/// same commit is left alone. Writes are serialised within the process and retried when another process
/// holds the notes ref's lock.
package actor GitNoteReporter: RunReporter {
    private let baseURL: String
    private let logger: Logger
    package static let notesRef = "refs/notes/pushbox"

    package init(baseURL: String, logger: Logger) {
        self.baseURL = baseURL
        self.logger = logger
    }

    package func runFinished(_ run: Run, repoPath: String) async {
        for attempt in 1...20 {
            do {
                try write(run, repoPath: repoPath)
                return
            } catch let error as GitError where error.isConflict {
                logger.debug("notes ref busy, retrying (\(attempt))")
                try? await Task.sleep(for: .milliseconds(50 * attempt))
            } catch {
                logger.error("cannot write the note for run \(run.id): \(error)")
                return
            }
        }
        logger.error("cannot write the note for run \(run.id): the notes ref stayed locked")
    }

    /// Synchronous core, also used by `pushbox run` in the foreground.
    package func write(_ run: Run, repoPath: String) throws {
        guard let commit = ObjectID(hex: run.sha) else { return }
        let repo = try Repository.open(at: URL(fileURLWithPath: repoPath))
        if let existing = try repo.note(on: commit, notesRef: Self.notesRef), let other = NoteFormatter.runID(in: existing),
           other > run.id {
            logger.debug("note of run \(other) is newer than run \(run.id); left as is")
            return
        }
        if let fix = NoteFormatter.formatFix(run, baseURL: baseURL), let fixCommit = run.autofixOutcome?.commit.flatMap(ObjectID.init(hex:)) {
            try repo.writeNote(fix, on: fixCommit, notesRef: Self.notesRef, author: .pushbox)
        }
        try repo.writeNote(NoteFormatter.format(run, baseURL: baseURL), on: commit, notesRef: Self.notesRef, author: .pushbox)
    }
}

/// Test counts of a step: JUnit files first, the log's summary lines otherwise.
package struct TestCountReader: TestResultReader {
    package init() {}

    package func testResults(log: URL, junitFiles: [URL]) -> (counts: TestCounts?, cases: [TestCase]) {
        if !junitFiles.isEmpty {
            let report = JUnitParser.parseFiles(junitFiles)
            if report.errors.count < junitFiles.count { return (report.counts, report.cases) }
        }
        guard let handle = try? FileHandle(forReadingFrom: log) else { return (nil, []) }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let tailSize: UInt64 = 64 << 10
        try? handle.seek(toOffset: size > tailSize ? size - tailSize : 0)
        guard let tail = try? handle.readToEnd() else { return (nil, []) }
        return (TestSummaryParser.parse(tail), [])
    }
}
