import Core
import Foundation
import Reports
import Testing

/// One log and what the parser must read from it.
struct LogCase: Sendable, CustomTestStringConvertible {
    var name: String
    var log: String
    var format: TestLogFormat?
    var counts: TestCounts?

    init(_ name: String, _ log: String, _ format: TestLogFormat?, passed: Int = 0, failed: Int = 0, skipped: Int = 0) {
        self.name = name
        self.log = log
        self.format = format
        self.counts = format == nil ? nil : TestCounts(passed: passed, failed: failed, skipped: skipped)
    }

    var testDescription: String { name }
}

private func check(_ testCase: LogCase) {
    let summary = TestSummaryParser.summary(of: Data(testCase.log.utf8))
    #expect(summary?.format == testCase.format, "\(testCase.name)")
    #expect(summary?.counts == testCase.counts, "\(testCase.name)")
    #expect(TestSummaryParser.parse(Data(testCase.log.utf8)) == testCase.counts, "\(testCase.name)")
}

@Suite struct TestSummaryParserRealOutputTests {
    static let cases: [LogCase] = [
        LogCase("pytest", RealOutput.pytestMixed, .pytest, passed: 3, failed: 1, skipped: 2),
        LogCase("pytest --color=yes", RealOutput.pytestColor, .pytest, passed: 3, failed: 1, skipped: 2),
        LogCase("pytest -q", RealOutput.pytestQuiet, .pytest, passed: 3, failed: 1, skipped: 2),
        // 1 failed + 1 error; 2 passed + 1 xpassed; 1 xfailed; deselected and warning are not tests run.
        LogCase("pytest errors, xfail, xpass, deselected", RealOutput.pytestErrorsXfail, .pytest, passed: 3, failed: 2, skipped: 1),
        LogCase("pytest no tests ran", RealOutput.pytestNoTests, .pytest),
        LogCase("pytest all passed", RealOutput.pytestAllPassed, .pytest, passed: 2),
        LogCase("pytest collection error", RealOutput.pytestCollectionError, .pytest, failed: 1),
        // 2+2+1 passed over the unit, integration and doc test binaries.
        LogCase("cargo test, three binaries", RealOutput.cargoMultiBinary, .cargo, passed: 5, failed: 1, skipped: 1),
        LogCase("cargo test on a terminal", RealOutput.cargoTTY, .cargo, passed: 5, failed: 1, skipped: 1),
        // Leaves: pkga TestAdd, TestTable/zero, TestTable/one pass, TestTable/two fails, TestSkipped skips;
        // pkgb TestAdd (same name, other package) and TestOther pass.
        LogCase("go test -v, subtests, two packages", RealOutput.goVerbose, .goTest, passed: 5, failed: 1, skipped: 1),
        LogCase("go test without -v has no counts", RealOutput.goQuiet, nil),
        // todo counts as skipped.
        LogCase("node --test TAP", RealOutput.nodeTap, .nodeTest, passed: 3, failed: 1, skipped: 2),
        LogCase("node --test spec", RealOutput.nodeSpec, .nodeTest, passed: 3, failed: 1, skipped: 2),
        LogCase("node --test on a terminal", RealOutput.nodeTTY, .nodeTest, passed: 3, failed: 1, skipped: 2),
        LogCase("ctest with a skipped test", RealOutput.ctestMixed, .ctest, passed: 3, failed: 1, skipped: 1),
        LogCase("ctest with a disabled test", RealOutput.ctestWithDisabled, .ctest, passed: 3, failed: 1, skipped: 1),
        LogCase("ctest all passed", RealOutput.ctestAllPassed, .ctest, passed: 3),
        LogCase("mocha", RealOutput.mocha, .mocha, passed: 3, failed: 1, skipped: 2),
        LogCase("mocha --color", RealOutput.mochaColor, .mocha, passed: 3, failed: 1, skipped: 2),
        // XCTest 3 passed, 1 failed, 1 skipped + Swift Testing 3 passed, 1 failed (2 issues), 1 disabled.
        LogCase("swift test, XCTest and Swift Testing", RealOutput.swiftTestMixed, .swiftTest, passed: 6, failed: 2, skipped: 2),
        LogCase("swift test passing", RealOutput.swiftTestPassing, .swiftTest, passed: 3),
        LogCase("swift test on a terminal", RealOutput.swiftTestTTY, .swiftTest, passed: 6, failed: 2, skipped: 2),
        // --parallel does not report XCTest skips: 5 XCTest tests, 1 failed, + Swift Testing 3/1/1.
        LogCase("swift test --parallel", RealOutput.swiftTestParallel, .swiftTest, passed: 7, failed: 2, skipped: 1),
        LogCase("swift test --parallel passing", RealOutput.swiftTestParallelPassing, .swiftTest, passed: 3),
    ]

    @Test(arguments: cases)
    func readsRealOutput(_ testCase: LogCase) {
        check(testCase)
    }

    @Test func pytestColourFixtureReallyHasEscapes() {
        // Guards the tests above: the terminal fixtures really carry escapes and carriage returns.
        #expect(RealOutput.pytestColor.contains("\u{1B}[31m"))
        #expect(RealOutput.swiftTestTTY.utf8.contains(UInt8(ascii: "\r")))
    }
}

@Suite struct TestSummaryParserSampleTests {
    static let pytestCases: [LogCase] = [
        LogCase("banner", "============ 3 passed, 1 failed, 2 skipped in 0.12s ============", .pytest, passed: 3, failed: 1, skipped: 2),
        LogCase("failed first", "===== 1 failed, 3 passed in 1.50s =====", .pytest, passed: 3, failed: 1),
        LogCase("errors", "==== 2 passed, 3 errors in 0.30s ====", .pytest, passed: 2, failed: 3),
        LogCase("xfailed xpassed", "== 4 passed, 2 xfailed, 1 xpassed in 0.05s ==", .pytest, passed: 5, skipped: 2),
        LogCase("deselected ignored", "=== 7 passed, 12 deselected in 0.40s ===", .pytest, passed: 7),
        LogCase("only deselected", "=== 12 deselected in 0.01s ===", .pytest),
        LogCase("no tests ran with warning", "======= no tests ran, 1 warning in 0.01s =======", .pytest),
        LogCase("long run with clock", "=== 1200 passed in 75.31s (0:01:15) ===", .pytest, passed: 1200),
        LogCase("old pytest seconds", "=== 2 passed, 1 warnings in 0.01 seconds ===", .pytest, passed: 2),
        LogCase("rerun plugin", "=== 1 failed, 9 passed, 2 rerun in 3.02s ===", .pytest, passed: 9, failed: 1),
        LogCase("unknown category alone is not pytest", "=== 3 packages in 2.0s ===", nil),
    ]

    static let swiftCases: [LogCase] = [
        LogCase("XCTest outermost line wins", """
            Test Suite 'FooTests' failed at 2024-01-01 10:00:00.000
            \t Executed 3 tests, with 2 failures (0 unexpected) in 0.010 (0.010) seconds
            Test Suite 'BarTests' passed at 2024-01-01 10:00:00.000
            \t Executed 9 tests, with 0 failures (0 unexpected) in 0.010 (0.010) seconds
            Test Suite 'All tests' failed at 2024-01-01 10:00:00.000
            \t Executed 12 tests, with 2 failures (0 unexpected) in 0.020 (0.021) seconds
            """, .swiftTest, passed: 10, failed: 2),
        // Two failed assertions in one test: one failed test, from the Test Case line.
        LogCase("XCTest failures are assertions, not tests", """
            Test Suite 'All tests' started at 2024-01-01 10:00:00.000
            Test Case '-[AppTests.FooTests testA]' started.
            /src/FooTests.swift:4: error: -[AppTests.FooTests testA] : XCTAssertEqual failed
            /src/FooTests.swift:5: error: -[AppTests.FooTests testA] : XCTAssertEqual failed
            Test Case '-[AppTests.FooTests testA]' failed (0.002 seconds).
            Test Suite 'All tests' failed at 2024-01-01 10:00:00.000
            \t Executed 4 tests, with 2 failures (1 unexpected) in 0.004 (0.005) seconds
            """, .swiftTest, passed: 3, failed: 1),
        LogCase("XCTest without Test Case lines uses the failure count", """
            \t Executed 1 test, with 1 test skipped and 0 failures (0 unexpected) in 0.001 (0.001) seconds
            \t Executed 12 tests, with 2 tests skipped and 3 failures (1 unexpected) in 0.5 (0.6) seconds
            """, .swiftTest, passed: 7, failed: 3, skipped: 2),
        LogCase("Swift Testing alone, passed", "✔ Test run with 5 tests in 2 suites passed after 0.004 seconds.",
                .swiftTest, passed: 5),
        // Without per-test lines (cut off) the issue count stands in, at most the number of tests.
        LogCase("Swift Testing failed, issues only", "✘ Test run with 5 tests in 2 suites failed after 0.004 seconds with 2 issues.",
                .swiftTest, passed: 3, failed: 2),
        LogCase("Swift Testing more issues than tests", "✘ Test run with 2 tests failed after 0.004 seconds with 9 issues.",
                .swiftTest, failed: 2),
        LogCase("Swift Testing one test with many issues", """
            ◇ Test run started.
            ✘ Test parse() recorded an issue at A.swift:3:5: Expectation failed
            ✘ Test parse() recorded an issue at A.swift:4:5: Expectation failed
            ✘ Test parse() recorded an issue at A.swift:5:5: Expectation failed
            ✘ Test parse() failed after 0.001 seconds with 3 issues.
            ✘ Test run with 4 tests in 1 suite failed after 0.002 seconds with 3 issues.
            """, .swiftTest, passed: 3, failed: 1),
        LogCase("Swift Testing with a known issue", "✔ Test run with 3 tests passed after 0.001 seconds with 1 known issue.",
                .swiftTest, passed: 3),
    ]

    static let cargoCases: [LogCase] = [
        LogCase("sums every binary", """
                 Running unittests src/lib.rs (target/debug/deps/a-1)
            test result: ok. 10 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s
                 Running unittests src/main.rs (target/debug/deps/a-2)
            test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
                 Running tests/api.rs (target/debug/deps/api-3)
            test result: FAILED. 4 passed; 3 failed; 0 ignored; 0 measured; 1 filtered out; finished in 0.20s
               Doc-tests a
            test result: ok. 6 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.50s
            """, .cargo, passed: 20, failed: 3, skipped: 3),
        LogCase("nextest", "     Summary [   0.012s] 5 tests run: 4 passed (1 slow), 1 failed, 2 skipped", .nextest,
                passed: 4, failed: 1, skipped: 2),
        LogCase("nextest timed out", "     Summary [  60.100s] 3 tests run: 1 passed, 1 failed, 1 timed out, 0 skipped", .nextest,
                passed: 1, failed: 2),
    ]

    static let othersCases: [LogCase] = [
        LogCase("gotestsum", "DONE 12 tests, 1 skipped, 2 failures in 1.234s", .gotestsum, passed: 9, failed: 2, skipped: 1),
        LogCase("gotestsum all passed", "DONE 7 tests in 0.412s", .gotestsum, passed: 7),
        LogCase("go parent failing by itself", """
            === RUN   TestA
            === RUN   TestA/x
            --- FAIL: TestA (0.00s)
                --- PASS: TestA/x (0.00s)
            FAIL
            FAIL\texample.com/a\t0.003s
            """, .goTest, passed: 1, failed: 1),
        LogCase("go package lines alone", "ok  \texample.com/a\t0.003s\nok  \texample.com/b\t(cached)", nil),
        LogCase("jest", """
            Test Suites: 1 failed, 2 passed, 3 total
            Tests:       1 failed, 3 passed, 4 total
            Snapshots:   0 total
            Time:        1.234 s
            Ran all test suites.
            """, .jest, passed: 3, failed: 1),
        LogCase("jest skipped and todo", "Tests:       2 skipped, 1 todo, 10 passed, 13 total", .jest, passed: 10, skipped: 3),
        LogCase("vitest", """
             Test Files  1 failed | 2 passed (3)
                  Tests  1 failed | 7 passed | 2 skipped (10)
               Start at  10:00:00
            """, .vitest, passed: 7, failed: 1, skipped: 2),
        LogCase("tape", "1..4\n# tests 4\n# pass  3\n# fail  1", .nodeTest, passed: 3, failed: 1),
        LogCase("ctest everything failed", "0% tests passed, 2 tests failed out of 2", .ctest, failed: 2),
        LogCase("mocha all passing", "\n\n  12 passing (45ms)\n\n", .mocha, passed: 12),
    ]

    static let genericCases: [LogCase] = [
        LogCase("passed, failed", "3 passed, 1 failed", .generic, passed: 3, failed: 1),
        LogCase("failed, passed", "1 failed, 3 passed", .generic, passed: 3, failed: 1),
        LogCase("with skipped", "41 passed, 1 failed, 2 skipped", .generic, passed: 41, failed: 1, skipped: 2),
        LogCase("one word with a colon", "Summary: 10 passed, 0 failed", .generic, passed: 10),
        LogCase("prefix without colon is not it", "We had 10 passed, 0 failed", nil),
        LogCase("the same word twice is not it", "3 passed, 1 passed", nil),
        LogCase("not alone on its line", "3 passed, 1 failed and then some", nil),
        LogCase("nothing recognisable", "make: Nothing to be done for 'all'.\nBuild succeeded.", nil),
        LogCase("empty", "", nil),
    ]

    @Test(arguments: pytestCases) func pytest(_ testCase: LogCase) { check(testCase) }
    @Test(arguments: swiftCases) func swiftTest(_ testCase: LogCase) { check(testCase) }
    @Test(arguments: cargoCases) func cargo(_ testCase: LogCase) { check(testCase) }
    @Test(arguments: othersCases) func otherRunners(_ testCase: LogCase) { check(testCase) }
    @Test(arguments: genericCases) func generic(_ testCase: LogCase) { check(testCase) }
}

@Suite struct TestSummaryParserRobustnessTests {
    @Test func specificFormatBeatsALaterGenericLine() {
        let log = RealOutput.pytestMixed + "\nSummary: 99 passed, 0 failed\n"
        #expect(TestSummaryParser.summary(of: Data(log.utf8)) == TestSummary(
            format: .pytest, counts: TestCounts(passed: 3, failed: 1, skipped: 2)))
    }

    @Test func theLastSpecificSummaryWins() {
        let cargoThenPytest = RealOutput.cargoMultiBinary + "\n" + RealOutput.pytestAllPassed
        #expect(TestSummaryParser.summary(of: Data(cargoThenPytest.utf8))?.format == .pytest)
        let pytestThenCargo = RealOutput.pytestAllPassed + "\n" + RealOutput.cargoMultiBinary
        #expect(TestSummaryParser.summary(of: Data(pytestThenCargo.utf8))?.format == .cargo)
        let twoPytestRuns = "=== 1 failed, 1 passed in 0.1s ===\nretrying\n=== 2 passed in 0.1s ==="
        #expect(TestSummaryParser.parse(Data(twoPytestRuns.utf8)) == TestCounts(passed: 2))
    }

    @Test func ansiEverywhere() {
        let log = "\u{1B}[1m\u{1B}[32m5 passed\u{1B}[0m, \u{1B}[31m2 failed\u{1B}[0m\u{1B}]0;title\u{07}\u{1B}(B\n"
        #expect(TestSummaryParser.parse(Data(log.utf8)) == TestCounts(passed: 5, failed: 2))
    }

    @Test func carriageReturnProgressBars() {
        let log = "[#####     ] 50%\r[##########] 100%\r===== 4 passed in 2.00s =====\r\n"
        #expect(TestSummaryParser.parse(Data(log.utf8)) == TestCounts(passed: 4))
    }

    @Test func invalidUTF8IsTolerated() {
        var log = Data([0xFF, 0xFE, 0xC3, 0x28, 0x0A])  // invalid bytes, a broken two-byte sequence
        log.append(Data("test ok \u{00E9}\u{FFFD}".utf8))
        log.append(contentsOf: [0xE2, 0x82, 0x0A])  // truncated three-byte sequence
        log.append(Data("Tests:       2 failed, 5 passed, 7 total\n".utf8))
        log.append(contentsOf: [0xC0, 0xAF])
        #expect(TestSummaryParser.parse(log) == TestCounts(passed: 5, failed: 2))
    }

    @Test func onlyTheLast64KiBAreRead() {
        let early = "===== 1000 passed in 9.0s =====\n"
        let filler = String(repeating: "some log line that is not a summary at all\n", count: 5_000)  // ~215 KiB
        #expect(TestSummaryParser.parse(Data((early + filler).utf8)) == nil)
        let late = "===== 7 passed, 1 failed in 9.0s =====\n"
        #expect(TestSummaryParser.parse(Data((early + filler + late).utf8)) == TestCounts(passed: 7, failed: 1))
    }

    @Test func aCutFirstLineIsNotMisread() {
        // The last 64 KiB begin with "1 passed, 0 failed\n": the tail of "11 passed, 0 failed".
        let window = "1 passed, 0 failed\n"
        let tail = String(repeating: String(repeating: "x", count: 99) + "\n", count: 655)
            + String(repeating: "y", count: 64 * 1024 - window.utf8.count - 65_500 - 1) + "\n"
        #expect(window.utf8.count + tail.utf8.count == 64 * 1024)
        #expect(TestSummaryParser.parse(Data(("head\n1" + window + tail).utf8)) == nil)
        // Cut exactly at a line start: that first line is whole and is read.
        #expect(TestSummaryParser.parse(Data(("head\n" + window + tail).utf8)) == TestCounts(passed: 1))
    }

    @Test func largeLogIsFast() {
        // A 20 MiB log, with the summary at its end: the scan must not be proportional to the size.
        var log = Data(repeating: UInt8(ascii: "y"), count: 20 * 1024 * 1024)
        log.append(Data("\n=== 3 passed in 1.0s ===\n".utf8))
        let clock = ContinuousClock()
        var counts: TestCounts?
        let elapsed = clock.measure { counts = TestSummaryParser.parse(log) }
        #expect(counts == TestCounts(passed: 3))
        #expect(elapsed < .seconds(60))  // a guard against quadratic scanning, not a speed target
    }

    @Test func pathologicalLinesFinish() {
        // One 64 KiB line full of near-misses for every pattern must come back, and with nothing.
        let unit = "1 passed, 2 failed in x Tests: test result: ok. # pass Executed 3 tests, ✘ Test run with "
        let line = String(repeating: unit, count: 64 * 1024 / unit.utf8.count)
        let clock = ContinuousClock()
        var counts: TestCounts?
        let elapsed = clock.measure { counts = TestSummaryParser.parse(Data(line.utf8)) }
        #expect(counts == nil)
        #expect(elapsed < .seconds(20))
    }

    @Test func hugeNumbersDoNotOverflow() {
        let lines = String(repeating: "test result: ok. 999999999 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n", count: 600)
        #expect(TestSummaryParser.parse(Data(lines.utf8)) == TestCounts(passed: 599_999_999_400))
        #expect(TestSummaryParser.parse(Data("99999999999999999999 passed, 1 failed".utf8)) == nil)
    }

    @Test func summaryLineFormat() {
        #expect(TestCounts(passed: 41, failed: 1).summary == "41 passed, 1 failed")
        #expect(TestCounts(passed: 41, failed: 1, skipped: 2).summary == "41 passed, 1 failed, 2 skipped")
        #expect(TestCounts(passed: 1, failed: 2, skipped: 3) + TestCounts(passed: 10, failed: 20, skipped: 30)
            == TestCounts(passed: 11, failed: 22, skipped: 33))
        // What we print is what we read back.
        let counts = TestCounts(passed: 8, failed: 3, skipped: 1)
        #expect(TestSummaryParser.parse(Data(counts.summary.utf8)) == counts)
    }
}
