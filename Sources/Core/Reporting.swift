import Foundation

/// Counts of test cases from a step's JUnit files or the summary lines of its log.
package struct TestCounts: Sendable, Equatable, Codable {
    package var passed: Int
    package var failed: Int
    package var skipped: Int

    package init(passed: Int = 0, failed: Int = 0, skipped: Int = 0) {
        self.passed = passed
        self.failed = failed
        self.skipped = skipped
    }

    package var total: Int { passed + failed + skipped }

    package static func + (lhs: TestCounts, rhs: TestCounts) -> TestCounts {
        TestCounts(passed: lhs.passed + rhs.passed, failed: lhs.failed + rhs.failed, skipped: lhs.skipped + rhs.skipped)
    }

    /// "41 passed, 1 failed" (", 2 skipped" only when some were).
    package var summary: String {
        var text = "\(passed) passed, \(failed) failed"
        if skipped > 0 { text += ", \(skipped) skipped" }
        return text
    }
}

/// Reads the test results of one finished step, each JUnit file once. JUnit files win for the counts; the
/// log's summary lines are the fallback.
package protocol TestResultReader: Sendable {
    /// `log` is the step's log file; `junitFiles` the files its `junit:` glob matched inside the workspace.
    /// `cases`: the test cases the JUnit files name, in file order (unreadable files left out), empty
    /// without JUnit.
    func testResults(log: URL, junitFiles: [URL]) -> (counts: TestCounts?, cases: [TestCase])
}

extension TestResultReader {
    /// The counts alone.
    package func testCounts(log: URL, junitFiles: [URL]) -> TestCounts? {
        testResults(log: log, junitFiles: junitFiles).counts
    }
}

/// One test case as a JUnit report names it (`classname.name`, or `name` alone), and how it ended.
package struct TestCase: Sendable, Hashable, Codable {
    package enum Outcome: String, Sendable, Codable { case passed, failed, skipped }
    package var name: String
    package var outcome: Outcome

    package init(name: String, outcome: Outcome) {
        self.name = name
        self.outcome = outcome
    }
}

/// Tells the world how a run went: the git note, webhooks, commit statuses. Must not throw or block the
/// run for long: a reporter that fails logs and records it.
package protocol RunReporter: Sendable {
    /// Called when a run reaches a final state (and with the repository's path on disk).
    func runFinished(_ run: Run, repoPath: String) async
    /// Called when a run was queued (`.queued`) or has started (`.started`). Default: nothing.
    func runChanged(_ run: Run, event: RunEvent) async
}

extension RunReporter {
    package func runChanged(_ run: Run, event: RunEvent) async {}
}
