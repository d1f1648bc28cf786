import Core
import Foundation

/// The test runner whose closing lines a ``TestSummary`` was read from.
package enum TestLogFormat: String, Sendable, Equatable, CaseIterable {
    case pytest
    /// `swift test`: XCTest's outermost `Executed N tests` line plus Swift Testing's `Test run with N tests`.
    case swiftTest = "swift test"
    case cargo = "cargo test"
    case nextest = "cargo nextest"
    case goTest = "go test"
    case gotestsum
    case jest
    case vitest
    /// `node --test` (TAP and spec reporters), and tape, whose TAP footer is the same.
    case nodeTest = "node --test"
    case ctest
    case mocha
    /// `N passed, N failed` alone on a line (`, N skipped` may follow; one `word:` may precede it).
    case generic
}

/// What ``TestSummaryParser`` found: the counts and the format they were read from.
package struct TestSummary: Sendable, Equatable {
    package var format: TestLogFormat
    package var counts: TestCounts

    package init(format: TestLogFormat, counts: TestCounts) {
        self.format = format
        self.counts = counts
    }
}

/// Reads test counts from the closing summary lines a test runner prints, for steps without JUnit.
///
/// Only the last 64 KiB of the log are scanned (the caller should pass the tail; a larger input is cut
/// here too). Bytes are decoded as UTF-8, lossily; ANSI escapes are removed; a `\r` ends a line like `\n`.
///
/// Formats and how they are counted:
/// - pytest `=== 1 failed, 3 passed, 2 skipped in 0.12s ===` (and the `-q` form without `=`):
///   `error(s)` count as failed, `xfailed` as skipped, `xpassed` as passed; `deselected`, `warnings`,
///   `rerun` are not tests run. `no tests ran` is zero tests.
/// - swift test: XCTest's last (outermost) `Executed N tests, with [S tests skipped and] F failures` line.
///   F counts failed assertions, not tests, so the failed tests are the distinct `Test Case '…' failed`
///   lines of that run, or F if those lines fell outside the tail (at most N − S). With `--parallel` the
///   total is M of the `[n/M] Testing …` progress lines. Swift Testing's `Test run with N tests … passed|failed
///   after … [with I issues]` adds N tests: failed are its `✘ Test … failed after` lines (one per test,
///   however many issues it recorded), or when those are missing, the issue count (at least 1, at most N);
///   skipped are its `➜ Test … skipped` lines. Both parts of one `swift test` are added up.
/// - cargo test `test result: ok. 3 passed; 0 failed; 1 ignored; …`: summed over every such line, one per
///   test binary (unit tests, each integration test, doc tests); `ignored` is skipped.
/// - cargo nextest `Summary [0.1s] 4 tests run: 3 passed, 1 failed, 1 skipped`.
/// - go test -v: the `--- PASS/FAIL/SKIP:` lines, counting leaf tests (a test with subtests counts through
///   its subtests, per package). Without `-v` go prints only failures, so `ok`/`FAIL` package lines alone
///   give no counts (nil); gotestsum's `DONE 12 tests, 1 skipped, 2 failures in 1.2s` does.
/// - jest `Tests:       1 failed, 3 passed, 4 total` (todo, pending: skipped); vitest `Tests  1 failed | 3 passed (4)`.
/// - node --test `# pass 3`/`# fail 1`/`# cancelled 0`/`# skipped 0`/`# todo 0` (`ℹ` with the spec reporter):
///   cancelled is failed, todo is skipped.
/// - ctest `75% tests passed, 1 tests failed out of 4`; the total counts skipped tests, so the `(Skipped)`
///   entries of the `did not run` list that follows are moved from passed to skipped.
/// - mocha `3 passing (12ms)`, `2 pending`, `1 failing`.
/// - generic `N passed, N failed[, N skipped]`.
///
/// When a log holds several summaries, one from a specific runner beats the generic line, and among
/// those the one printed last wins.
package enum TestSummaryParser {
    package static func parse(_ log: Data) -> TestCounts? {
        summary(of: log)?.counts
    }

    package static func summary(of log: Data) -> TestSummary? {
        var scan = SummaryScan()
        for (index, line) in TestCountsLogText.lines(log).enumerated() where !line.isEmpty {
            scan.read(line, at: index)
        }
        return scan.best()
    }
}

// MARK: - The scan

/// Counts read so far in one format and the line they were read on (later lines win).
private struct Found {
    var counts: TestCounts
    var line: Int
}

/// Numbers in logs are attacker-controlled text: at most 9 digits, so sums never overflow.
private func number(_ text: Substring) -> Int? {
    guard !text.isEmpty, text.count <= 9, text.allSatisfy(\.isASCII) else { return nil }
    return Int(text)
}

/// `3 passed, 1 failed` → [(3, "passed"), (1, "failed")]; a trailing note in parentheses
/// (`3 passed (1 slow)`) is dropped. Nil when an item is not `<count> <words>`.
private func countItems(_ text: Substring, separator: String) -> [(count: Int, word: Substring)]? {
    var items: [(count: Int, word: Substring)] = []
    for part in text.split(separator: separator) {
        var item = TestCountsLogText.trim(part)
        if item.last == ")", let open = item.lastIndex(of: "(") {
            item = TestCountsLogText.trim(item[..<open])
        }
        guard let space = item.firstIndex(of: " "), let count = number(item[..<space]) else { return nil }
        let word = TestCountsLogText.trim(item[space...])
        guard !word.isEmpty, word.allSatisfy({ $0.isLetter || $0 == " " }) else { return nil }
        items.append((count, word))
    }
    return items.isEmpty ? nil : items
}

private struct SummaryScan {
    var pytest: Found?
    var generic: Found?
    var jest: Found?
    var vitest: Found?
    var nextest: Found?
    var gotestsum: Found?
    var cargo: Found?

    // XCTest
    var xcExecuted: (executed: Int, skipped: Int, failures: Int, line: Int)?
    var xcFailedTests: Set<String> = []
    var xcProgress: (total: Int, line: Int)?
    // Swift Testing
    var stRun: (tests: Int, failed: Bool, issues: Int, line: Int)?
    var stFailedTests = 0
    var stSkippedTests = 0
    // node --test / TAP footer
    var nodeBlock: (values: [Substring: Int], line: Int)?
    // ctest
    var ctest: (total: Int, failed: Int, skipped: Int, line: Int)?
    // mocha
    var mocha: (passing: Int, pending: Int, failing: Int, line: Int)?
    // go test -v
    var goResults: [GoTestKey: Substring] = [:]
    var goPackage = 0
    var goVerbose = false
    var goLine = 0

    struct GoTestKey: Hashable {
        var package: Int
        var name: String
    }

    mutating func read(_ line: Substring, at index: Int) {
        if line.hasPrefix("test result: ") { readCargo(line, at: index); return }
        if line.hasPrefix("--- ") || line.hasPrefix("=== RUN") { readGoTest(line, at: index); return }
        if line.hasPrefix("ok ") || line.hasPrefix("ok\t") || line.hasPrefix("FAIL\t") || line.hasPrefix("FAIL ") {
            goPackage += 1  // one package's results end here; its test names may repeat in the next one
            return
        }
        if line.contains("Test run ") || line.contains(" Test ") { if readSwiftTesting(line, at: index) { return } }
        if line.hasPrefix("Executed ") || line.hasPrefix("Test Case '") || line.hasPrefix("Test Suite '") {
            readXCTest(line, at: index); return
        }
        if line.hasPrefix("["), line.contains("] Testing ") { readSwiftPMProgress(line, at: index); return }
        if line.hasPrefix("Tests:") { readJest(line, at: index); return }
        if line.hasPrefix("Tests ") { readVitest(line, at: index); return }
        if line.hasPrefix("#") || line.hasPrefix("ℹ") { readNodeTest(line, at: index); return }
        if line.contains("% tests passed, ") || (ctest != nil && line.hasSuffix("(Skipped)")) { readCTest(line, at: index); return }
        if line.hasSuffix(")") && line.contains(" passing (") || line.hasSuffix(" pending") || line.hasSuffix(" failing") {
            readMocha(line, at: index); return
        }
        if line.hasPrefix("Summary [") { readNextest(line, at: index); return }
        if line.hasPrefix("DONE ") { readGotestsum(line, at: index); return }
        if line.contains(" in ") || line.contains("no tests ran") { if readPytest(line, at: index) { return } }
        if line.contains(" passed, ") || line.contains(" failed, ") { readGeneric(line, at: index) }
    }

    // MARK: pytest

    mutating func readPytest(_ line: Substring, at index: Int) -> Bool {
        var body = line
        if body.first == "=" {
            guard body.last == "=" else { return false }
            body = body.drop(while: { $0 == "=" })
            while body.last == "=" { body = body.dropLast() }
            body = TestCountsLogText.trim(body)
        }
        guard let match = body.wholeMatch(of: /(.+) in [0-9.]+ ?s(?:econds)?(?: \([0-9:.]+\))?/) else { return false }
        var counts = TestCounts()
        var recognised = false
        for part in match.1.split(separator: ", ") {
            if part == "no tests ran" { recognised = true; continue }
            guard let items = countItems(part, separator: ","), let item = items.first else { return false }
            switch item.word.lowercased() {
            case "passed", "xpassed": counts.passed += item.count
            case "failed", "error", "errors": counts.failed += item.count
            case "skipped", "xfailed": counts.skipped += item.count
            case "deselected", "warning", "warnings", "rerun", "reruns": break
            default: continue  // a plugin's own category: neither counted nor enough to recognise the line
            }
            recognised = true
        }
        guard recognised else { return false }
        pytest = Found(counts: counts, line: index)
        return true
    }

    // MARK: swift test

    mutating func readXCTest(_ line: Substring, at index: Int) {
        if line.hasPrefix("Test Suite '") {
            // A new top-level run: failures of an earlier run in the same log are not this run's.
            if line.hasPrefix("Test Suite 'All tests' started") || line.hasPrefix("Test Suite 'Selected tests' started") {
                xcFailedTests = []
            }
        } else if line.hasPrefix("Test Case '") {
            if let match = line.prefixMatch(of: /Test Case '(.+)' failed \(/) {
                xcFailedTests.insert(String(match.1))
            }
        } else if let match = line.prefixMatch(
            of: /Executed (\d+) tests?, with (?:(\d+) tests? skipped and )?(\d+) failures? \((\d+) unexpected\)/
        ), let executed = number(match.1), let failures = number(match.3) {
            let skipped = match.2.flatMap(number) ?? 0
            // The outermost suite prints last, so the last line is the whole run.
            xcExecuted = (executed, skipped, failures, index)
        }
    }

    mutating func readSwiftPMProgress(_ line: Substring, at index: Int) {
        // `swift test --parallel`: `[3/12] Testing Module.Class/testName`, one per XCTest test.
        if let match = line.prefixMatch(of: /\[(\d+)\/(\d+)\] Testing\s/), let total = number(match.2) {
            xcProgress = (total, index)
        }
    }

    /// Swift Testing lines begin with one symbol (`✔`, `✘`, `➜`, `◇`, or an SF Symbol on macOS).
    mutating func readSwiftTesting(_ line: Substring, at index: Int) -> Bool {
        if let match = line.firstMatch(
            of: /^\S Test run with (\d+) tests?(?: in \d+ suites?)? (passed|failed) after [0-9.]+ seconds?(?: with (\d+) issues?)?/
        ), let tests = number(match.1) {
            stRun = (tests, match.2 == "failed", match.3.flatMap(number) ?? 0, index)
            return true
        }
        if line.wholeMatch(of: /^\S Test run started\.?/) != nil {
            stFailedTests = 0
            stSkippedTests = 0
            return true
        }
        if line.prefixMatch(of: /^\S Test .+ failed after [0-9.]+ seconds?/) != nil {
            stFailedTests += 1
            return true
        }
        if line.prefixMatch(of: /^\S Test [^ ].* skipped(?:[:.]|$)/) != nil {
            stSkippedTests += 1
            return true
        }
        return false
    }

    func swiftTestFound() -> Found? {
        var parts: [Found] = []
        if let progress = xcProgress {
            let failures = xcFailedTests.isEmpty ? (xcExecuted?.failures ?? 0) : xcFailedTests.count
            let failed = min(failures, progress.total)
            parts.append(Found(counts: TestCounts(passed: progress.total - failed, failed: failed),
                               line: max(progress.line, xcExecuted?.line ?? 0)))
        } else if let run = xcExecuted {
            let skipped = min(run.skipped, run.executed)
            let runnable = run.executed - skipped
            let failed = min(xcFailedTests.isEmpty ? run.failures : xcFailedTests.count, runnable)
            parts.append(Found(counts: TestCounts(passed: runnable - failed, failed: failed, skipped: skipped), line: run.line))
        }
        if let run = stRun {
            let skipped = min(stSkippedTests, run.tests)
            let runnable = run.tests - skipped
            var failed = 0
            if run.failed {
                failed = stFailedTests > 0 ? stFailedTests : max(run.issues, 1)
                failed = min(failed, runnable)
            }
            parts.append(Found(counts: TestCounts(passed: runnable - failed, failed: failed, skipped: skipped), line: run.line))
        }
        guard let first = parts.first else { return nil }
        return parts.dropFirst().reduce(first) { Found(counts: $0.counts + $1.counts, line: max($0.line, $1.line)) }
    }

    // MARK: cargo

    mutating func readCargo(_ line: Substring, at index: Int) {
        guard let match = line.prefixMatch(
            of: /test result: \S+\. (\d+) passed; (\d+) failed; (\d+) ignored;/
        ), let passed = number(match.1), let failed = number(match.2), let ignored = number(match.3) else { return }
        // One line per test binary: add them all up.
        let counts = TestCounts(passed: passed, failed: failed, skipped: ignored)
        cargo = Found(counts: (cargo?.counts ?? TestCounts()) + counts, line: index)
    }

    mutating func readNextest(_ line: Substring, at index: Int) {
        guard let match = line.wholeMatch(of: /Summary \[\s*[0-9.]+s\]\s+\d+(?:\/\d+)? tests? run: (.+)/),
              let items = countItems(match.1, separator: ", ") else { return }
        var counts = TestCounts()
        for item in items {
            switch item.word {
            case "passed": counts.passed += item.count
            case "failed", "timed out": counts.failed += item.count
            case "skipped": counts.skipped += item.count
            default: continue
            }
        }
        nextest = Found(counts: counts, line: index)
    }

    // MARK: go

    mutating func readGoTest(_ line: Substring, at index: Int) {
        if line.hasPrefix("=== RUN") { goVerbose = true; return }
        guard let match = line.prefixMatch(of: /--- (PASS|FAIL|SKIP): (\S+) \(/) else { return }
        if match.1 == "PASS" { goVerbose = true }
        goResults[GoTestKey(package: goPackage, name: String(match.2))] = match.1
        goLine = index
    }

    func goTestFound() -> Found? {
        // Without -v, go prints only the failures: no honest count of passed tests.
        guard goVerbose, !goResults.isEmpty else { return nil }
        var parents = Set<GoTestKey>()
        var parentsOfFailures = Set<GoTestKey>()
        for (key, status) in goResults {
            var name = key.name[...]
            while let slash = name.lastIndex(of: "/") {
                name = name[..<slash]
                let parent = GoTestKey(package: key.package, name: String(name))
                parents.insert(parent)
                if status == "FAIL" { parentsOfFailures.insert(parent) }
            }
        }
        var counts = TestCounts()
        for (key, status) in goResults {
            if parents.contains(key) {
                // A parent counts through its subtests, unless it failed by itself with all of them passing.
                if status == "FAIL" && !parentsOfFailures.contains(key) { counts.failed += 1 }
                continue
            }
            switch status {
            case "PASS": counts.passed += 1
            case "FAIL": counts.failed += 1
            default: counts.skipped += 1
            }
        }
        return Found(counts: counts, line: goLine)
    }

    mutating func readGotestsum(_ line: Substring, at index: Int) {
        guard let match = line.wholeMatch(of: /DONE (.+) in \S+/),
              let items = countItems(match.1, separator: ", ") else { return }
        var tests: Int?
        var skipped = 0
        var failed = 0
        for item in items {
            switch item.word {
            case "test", "tests": tests = item.count
            case "skipped": skipped += item.count
            case "failure", "failures", "error", "errors": failed += item.count
            default: continue
            }
        }
        guard let tests else { return }
        gotestsum = Found(counts: TestCounts(passed: max(tests - skipped - failed, 0), failed: failed, skipped: skipped), line: index)
    }

    // MARK: JavaScript

    mutating func readJest(_ line: Substring, at index: Int) {
        guard let match = line.wholeMatch(of: /Tests:\s+(.+), \d+ total/),
              let counts = Self.jsCounts(match.1, separator: ", ") else { return }
        jest = Found(counts: counts, line: index)
    }

    mutating func readVitest(_ line: Substring, at index: Int) {
        guard let match = line.wholeMatch(of: /Tests\s+(.+) \(\d+\)/),
              let counts = Self.jsCounts(match.1, separator: " | ") else { return }
        vitest = Found(counts: counts, line: index)
    }

    static func jsCounts(_ text: Substring, separator: String) -> TestCounts? {
        guard let items = countItems(text, separator: separator) else { return nil }
        var counts = TestCounts()
        for item in items {
            switch item.word {
            case "passed": counts.passed += item.count
            case "failed": counts.failed += item.count
            case "skipped", "todo", "pending": counts.skipped += item.count
            default: continue
            }
        }
        return counts
    }

    mutating func readNodeTest(_ line: Substring, at index: Int) {
        guard let match = line.wholeMatch(
            of: /[#ℹ] (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms)\s+([0-9.]+)/
        ) else { return }
        let key = match.1
        if key == "tests" || nodeBlock == nil { nodeBlock = ([:], index) }  // `tests` opens the footer
        nodeBlock?.values[key] = number(match.2) ?? 0
        nodeBlock?.line = index
    }

    func nodeTestFound() -> Found? {
        guard let block = nodeBlock, let pass = block.values["pass"] else { return nil }
        let value = { (key: Substring) in block.values[key] ?? 0 }
        let counts = TestCounts(passed: pass, failed: value("fail") + value("cancelled"), skipped: value("skipped") + value("todo"))
        return Found(counts: counts, line: block.line)
    }

    mutating func readMocha(_ line: Substring, at index: Int) {
        if let match = line.wholeMatch(of: /(\d+) passing \([0-9.]+\s*[a-z]*\)/), let passing = number(match.1) {
            mocha = (passing, 0, 0, index)
        } else if let match = line.wholeMatch(of: /(\d+) (pending|failing)/), let count = number(match.1),
                  let block = mocha, index - block.line <= 3 {
            if match.2 == "pending" { mocha?.pending = count } else { mocha?.failing = count }
            mocha?.line = index
        }
    }

    // MARK: ctest

    mutating func readCTest(_ line: Substring, at index: Int) {
        if let match = line.wholeMatch(of: /\d+% tests passed, (\d+) tests? failed out of (\d+)/),
           let failed = number(match.1), let total = number(match.2) {
            ctest = (total, failed, 0, index)
        } else if line.wholeMatch(of: /\d+ - .+ \(Skipped\)/) != nil, let run = ctest, run.skipped < run.total - run.failed {
            ctest?.skipped += 1
        }
    }

    // MARK: generic

    mutating func readGeneric(_ line: Substring, at index: Int) {
        guard let match = line.wholeMatch(
            of: /(?:[A-Za-z][A-Za-z0-9_-]*:\s*)?(\d+) (passed|failed), (\d+) (passed|failed)(?:, (\d+) skipped)?\.?/
        ), match.2 != match.4, let first = number(match.1), let second = number(match.3) else { return }
        let skipped = match.5.flatMap(number) ?? 0
        let counts = match.2 == "passed"
            ? TestCounts(passed: first, failed: second, skipped: skipped)
            : TestCounts(passed: second, failed: first, skipped: skipped)
        generic = Found(counts: counts, line: index)
    }

    // MARK: choosing

    func best() -> TestSummary? {
        var specific: [(TestLogFormat, Found?)] = [
            (.pytest, pytest), (.swiftTest, swiftTestFound()), (.cargo, cargo), (.nextest, nextest),
            (.goTest, goTestFound()), (.gotestsum, gotestsum), (.jest, jest), (.vitest, vitest),
            (.nodeTest, nodeTestFound()),
        ]
        if let run = ctest {
            let failed = min(run.failed, run.total)
            let skipped = min(run.skipped, run.total - failed)
            specific.append((.ctest, Found(counts: TestCounts(passed: run.total - failed - skipped, failed: failed, skipped: skipped),
                                           line: run.line)))
        }
        if let run = mocha {
            specific.append((.mocha, Found(counts: TestCounts(passed: run.passing, failed: run.failing, skipped: run.pending),
                                           line: run.line)))
        }
        let found = specific.compactMap { format, found in found.map { (format, $0) } }
        if let last = found.max(by: { $0.1.line < $1.1.line }) {
            return TestSummary(format: last.0, counts: last.1.counts)
        }
        return generic.map { TestSummary(format: .generic, counts: $0.counts) }
    }
}
