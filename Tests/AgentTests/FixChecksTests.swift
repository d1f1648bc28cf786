@testable import Agent
import Core
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport

/// The rules that decide, in code, whether a fix may be published: test identity, the guarded parts of
/// configuration files, failure fingerprints, and the loop's use of them (a scripted backend and scripted
/// verifications, no containers).
@Suite("autofix checks")
struct FixChecksTests {
    // MARK: test identity

    static let before = [TestCase(name: "calc.test_add", outcome: .failed), TestCase(name: "calc.test_sub", outcome: .passed),
                         TestCase(name: "calc.test_slow", outcome: .skipped)]

    static func passing(_ cases: [TestCase], counts: TestCounts? = nil) -> Verification {
        Verification(passed: true, summary: "passed", tests: counts, cases: cases)
    }

    @Test("every test that ran still runs, none newly skipped, the failing ones pass")
    func testIdentity() {
        let fixed = Self.passing([TestCase(name: "calc.test_add", outcome: .passed), TestCase(name: "calc.test_sub", outcome: .passed),
                                  TestCase(name: "calc.test_slow", outcome: .skipped)], counts: TestCounts(passed: 2, skipped: 1))
        #expect(TestIdentity.check(before: Self.before, beforeCounts: TestCounts(passed: 1, failed: 1, skipped: 1), after: fixed) == nil)
        let missing = Self.passing([TestCase(name: "calc.test_sub", outcome: .passed), TestCase(name: "calc.test_other", outcome: .passed)])
        #expect(TestIdentity.check(before: Self.before, beforeCounts: nil, after: missing)
                == Rejection(.testMissing, "test calc.test_add ran in the failing run but not in the verification run"))
        let skipped = Self.passing([TestCase(name: "calc.test_add", outcome: .skipped), TestCase(name: "calc.test_sub", outcome: .passed)])
        #expect(TestIdentity.check(before: Self.before, beforeCounts: nil, after: skipped)?.rule == .testSkipped)
        let stillFailing = Self.passing([TestCase(name: "calc.test_add", outcome: .failed), TestCase(name: "calc.test_sub", outcome: .passed)])
        #expect(TestIdentity.check(before: Self.before, beforeCounts: nil, after: stillFailing)?.rule == .stillFailing)
        // Without JUnit: by count, and skipping more is not running them.
        #expect(TestIdentity.check(before: [], beforeCounts: TestCounts(passed: 4, failed: 1), after: Self.passing([], counts: TestCounts(passed: 3)))?.rule == .fewerTests)
        #expect(TestIdentity.check(before: [], beforeCounts: TestCounts(passed: 4, failed: 1),
                                   after: Self.passing([], counts: TestCounts(passed: 3, skipped: 2)))?.rule == .testSkipped)
        #expect(TestIdentity.check(before: [], beforeCounts: TestCounts(passed: 4, failed: 1), after: Self.passing([], counts: TestCounts(passed: 5))) == nil)
        #expect(Rejection(.testMissing, "x").description == "rule test-missing: x")
    }

    // MARK: guarded parts of configuration files

    @Test("the parts of configuration files that decide what runs are guarded; the rest may change", arguments: [
        ("package.json", #"{"scripts": {"test": "jest"}, "dependencies": {"a": "1"}}"#, #"{"scripts": {"test": "jest"}, "dependencies": {"a": "2"}}"#, false),
        ("package.json", #"{"scripts": {"test": "jest"}}"#, #"{"scripts": {"test": "echo ok"}}"#, true),
        ("web/package.json", #"{"jest": {"testMatch": ["**/*.test.js"]}}"#, #"{"jest": {"testMatch": []}}"#, true),
        ("pyproject.toml", "[project]\nname = \"a\"\n[tool.pytest.ini_options]\naddopts = \"-q\"\n", "[project]\nname = \"b\"\n[tool.pytest.ini_options]\naddopts = \"-q\"\n", false),
        ("pyproject.toml", "[tool.pytest.ini_options]\naddopts = \"-q\"\n", "[tool.pytest.ini_options]\naddopts = \"-q --deselect t.py::test_x\"\n", true),
        ("setup.cfg", "[metadata]\nname = a\n[tool:pytest]\ntestpaths = tests\n", "[metadata]\nname = a\n[tool:pytest]\ntestpaths = nothing\n", true),
        ("Cargo.toml", "[package]\nname = \"a\"\n[[test]]\nname = \"it\"\n", "[package]\nname = \"a\"\n[[test]]\nname = \"it\"\nharness = false\n", true),
        ("Cargo.toml", "[dependencies]\nserde = \"1\"\n[[test]]\nname = \"it\"\n", "[dependencies]\nserde = \"1.0.1\"\n[[test]]\nname = \"it\"\n", false),
        ("pom.xml", "<project>\n<dependencies>\n<dependency>junit</dependency>\n</dependencies>\n</project>\n",
         "<project>\n<properties>\n<skipTests>true</skipTests>\n</properties>\n<dependencies>\n<dependency>junit</dependency>\n</dependencies>\n</project>\n", true),
        ("pom.xml", "<plugin>\n<artifactId>maven-surefire-plugin</artifactId>\n</plugin>\n",
         "<plugin>\n<artifactId>maven-surefire-plugin</artifactId>\n<configuration><testFailureIgnore>true</testFailureIgnore></configuration>\n</plugin>\n", true),
    ])
    func fragments(_ path: String, _ old: String, _ new: String, _ rejected: Bool) {
        let rejection = ProtectedFragments.check(path: path, old: old, new: new)
        #expect((rejection != nil) == rejected, "\(path): \(String(describing: rejection))")
        if let rejection { #expect(rejection.rule == .protectedConfig && rejection.detail.contains(path)) }
    }

    @Test("files that decide what runs are protected even with allow_test_edits; test files only without it")
    func protectedPaths() throws {
        var settings = AutofixSettings()
        let strict = FixRequest.protectedPaths(for: settings)
        settings.allowTestEdits = true
        let lenient = FixRequest.protectedPaths(for: settings)
        for path in ["Makefile", "sub/Makefile", "conftest.py", "tests/conftest.py", "pytest.ini", "tox.ini", "CMakeLists.txt",
                     ".github/workflows/ci.yml", ".pushbox.yml"] {
            #expect(strict.contains { AntiCheat.matches($0, path) } && lenient.contains { AntiCheat.matches($0, path) }, "\(path)")
        }
        for path in ["tests/test_calc.py", "test_calc.py", "calc_test.go", "src/calc.test.js"] {
            #expect(strict.contains { AntiCheat.matches($0, path) }, "\(path)")
            #expect(!lenient.contains { AntiCheat.matches($0, path) }, "\(path)")
        }
        #expect(!strict.contains { AntiCheat.matches($0, "calc.py") } && !strict.contains { AntiCheat.matches($0, "package.json") })
        // With test edits allowed an expected value may change; a skip marker may not.
        let directory = try TemporaryDirectory(prefix: "fixchecks")
        defer { directory.remove() }
        let original = try AutofixLoopTests.tree(directory, "original", ["test_calc.py": "def test_add():\n    assert add(2, 2) == 5\n"])
        let edited = try AutofixLoopTests.tree(directory, "edited", ["test_calc.py": "def test_add():\n    assert add(2, 2) == 4\n"])
        let skipped = try AutofixLoopTests.tree(directory, "skipped", ["test_calc.py": "import pytest\n@pytest.mark.skip\ndef test_add():\n    assert add(2, 2) == 5\n"])
        let change = [FileChange(path: "test_calc.py", kind: .modified)]
        #expect(AntiCheat.check(change, original: original, attempt: edited, protected: lenient, allowTestEdits: true) == nil)
        #expect(AntiCheat.check(change, original: original, attempt: edited, protected: strict)?.rule == .protectedPath)
        #expect(AntiCheat.check(change, original: original, attempt: skipped, protected: lenient, allowTestEdits: true)?.rule == .skipMarker)
    }

    // MARK: fingerprints

    @Test("a failure's fingerprint ignores timings and ids, not where it failed or what failed")
    func fingerprints() {
        func failed(_ place: FailurePlace, _ log: String, cases: [TestCase] = []) -> Verification {
            Verification(passed: false, place: place, summary: "x", logTail: log, cases: cases)
        }
        let one = failed(.step("test"), "FAIL add (0.013s)\nmake: *** [Makefile:4: test] Error 1\n")
        let two = failed(.step("test"), "FAIL add (0.021s)\nmake: *** [Makefile:4: test] Error 1\n")
        let elsewhere = failed(.vm("linux-aarch64"), "FAIL add (0.013s)\nmake: *** [Makefile:4: test] Error 1\n")
        let other = failed(.step("test"), "FAIL sub (0.013s)\nmake: *** [Makefile:4: test] Error 1\n")
        #expect(FailureFingerprint.of(one) != nil && FailureFingerprint.of(one) == FailureFingerprint.of(two))
        #expect(FailureFingerprint.of(one) != FailureFingerprint.of(elsewhere))
        #expect(FailureFingerprint.of(one) != FailureFingerprint.of(other))
        // With JUnit, the failing tests' names decide, not the log.
        let named = failed(.step("test"), "seed 1234", cases: [TestCase(name: "t.a", outcome: .failed)])
        let renamedLog = failed(.step("test"), "seed 9876 and more", cases: [TestCase(name: "t.a", outcome: .failed)])
        #expect(FailureFingerprint.of(named) == FailureFingerprint.of(renamedLog))
        #expect(FailureFingerprint.of(Verification(passed: true, summary: "passed")) == nil)
    }

    // MARK: the loop with a scripted backend

    /// Appends a line to `main.c` in each attempt and records the task it was given.
    final class ScriptedBackend: AttemptBackend, @unchecked Sendable {
        let tasks = Mutex<[String]>([])
        var name: String { "scripted" }
        var model: String { "scripted" }

        func work(task: String, workspace: URL, runSpec: RunSpec, request: FixRequest, costBudgetUSD: Double,
                  masker: SecretMasker, attemptDirectory: URL, logger: Logger) async -> AttemptWork {
            let count = tasks.withLock { $0.append(task); return $0.count }
            let file = workspace.appendingPathComponent("main.c")
            let text = ((try? String(contentsOf: file, encoding: .utf8)) ?? "") + "// attempt \(count)\n"
            try? Data(text.utf8).write(to: file)
            return AttemptWork(explanation: "attempt \(count)", costUSD: 0, stop: "completed")
        }
    }

    static func request(_ directory: TemporaryDirectory, maxAttempts: Int, failingCases: [TestCase] = []) throws -> FixRequest {
        let failed = try AutofixLoopTests.tree(directory, "failed", ["main.c": "int main(void) { return 1; }\n"])
        let original = try AutofixLoopTests.tree(directory, "original", ["main.c": "int main(void) { return 1; }\n"])
        let attempts = directory.url("attempts")
        try FileManager.default.createDirectory(at: attempts, withIntermediateDirectories: true)
        let step = Step(name: "test", run: "make test")
        return FixRequest(runID: 1, repoName: "app", ref: "refs/heads/main", branch: "main", sha: String(repeating: "a", count: 40),
                          failingStep: step, logTail: "FAIL\n", pipeline: PipelineSpec(steps: [step]),
                          runSpec: RunSpec(runID: 1, image: "x", workspace: failed), failedWorkspace: failed, originalTree: original,
                          attemptsDirectory: attempts, attemptsFile: directory.url("fix_attempts.json"), pushDiff: "", files: ["main.c"],
                          failingTests: nil, failingCases: failingCases, secrets: [], protectedPaths: FixRequest.defaultProtectedPaths,
                          budgets: FixBudgets(maxAttempts: maxAttempts))
    }

    static func logger() -> Logger {
        var logger = Logger(label: "fix-checks")
        logger.logLevel = .critical
        return logger
    }

    @Test("the same failure twice ends the loop early and says where")
    func repeatedFailure() async throws {
        let directory = try TemporaryDirectory(prefix: "fixloop")
        defer { directory.remove() }
        let backend = ScriptedBackend()
        let verifications = Mutex(0)
        let result = await AutofixLoop(backend: backend).fix(try Self.request(directory, maxAttempts: 5), verify: { candidate in
            verifications.withLock { $0 += 1 }
            #expect(candidate.changes == [FileChange(path: "main.c", kind: .modified)])
            return Verification(passed: false, failedStep: "test", summary: "step test failed (exit 2)",
                                logTail: "FAIL add (0.0\(candidate.attempt)s)\nError 1\n")
        }, logger: Self.logger())
        #expect(result.attempts == 2 && verifications.withLock { $0 } == 2)
        #expect(result.repeatedFailure && result.lastFailedIn == .step("test"))
        guard case .gaveUp(let reason) = result.outcome else { Issue.record("not given up"); return }
        #expect(reason.hasPrefix("the same failure twice"))
    }

    @Test("a guest's failure is the attempt's failure; the next attempt is told the guest's log; a later pass is the fix")
    func guestFailureFeedsTheNextAttempt() async throws {
        let directory = try TemporaryDirectory(prefix: "fixloop")
        defer { directory.remove() }
        let backend = ScriptedBackend()
        let result = await AutofixLoop(backend: backend).fix(try Self.request(directory, maxAttempts: 3), verify: { candidate in
            if candidate.attempt == 1 {
                return Verification(passed: false, place: .vm("linux-aarch64"), summary: "vm linux-aarch64 failed (exit 1)",
                                    logTail: "GUEST: unaligned access in add()\n")
            }
            var passed = Verification(passed: true, summary: "passed in the container and in 1 guest")
            passed.verifiedTree = "0123"
            return passed
        }, logger: Self.logger())
        guard case .fixed(_, _, _, _, let verification) = result.outcome else { Issue.record("not fixed: \(result.outcome)"); return }
        #expect(verification.verifiedTree == "0123" && result.attempts == 2)
        let tasks = backend.tasks.withLock { $0 }
        #expect(tasks.count == 2 && tasks[1].contains("vm linux-aarch64 failed (exit 1)") && tasks[1].contains("GUEST: unaligned access in add()"))
        let records = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: directory.url("fix_attempts.json"))) as? [[String: Any]])
        #expect((records[0]["verification"] as? [String: Any])?["failed_in"] as? String == "vm linux-aarch64", "\(records[0])")
        // The result carries what the store keeps of each attempt, the same as the file says.
        #expect(result.summaries.map(\.attempt) == [1, 2] && result.summaries.map(\.passed) == [false, true])
        #expect(result.summaries.map(\.verification) == ["vm linux-aarch64 failed (exit 1)", "passed in the container and in 1 guest"])
        #expect(result.summaries.map(\.backend) == records.map { $0["backend"] as? String ?? "?" })
    }

    @Test("a passing verification that lost a JUnit test is rejected with the rule and the test named")
    func lostTestIsRejected() async throws {
        let directory = try TemporaryDirectory(prefix: "fixloop")
        defer { directory.remove() }
        let request = try Self.request(directory, maxAttempts: 1, failingCases: Self.before)
        let result = await AutofixLoop(backend: ScriptedBackend()).fix(request, verify: { _ in
            Self.passing([TestCase(name: "calc.test_sub", outcome: .passed)])
        }, logger: Self.logger())
        guard case .gaveUp(let reason) = result.outcome else { Issue.record("published a fix that lost a test"); return }
        #expect(reason == "rejected: rule test-missing: test calc.test_add ran in the failing run but not in the verification run", "\(reason)")
        #expect(result.lastFailedIn == nil)
    }
}
