import Core
import Foundation

/// The rules by which code, never the model, refuses a fix. A rejection names its rule, the file and,
/// where one is involved, the test.
package enum CheatRule: String, Sendable, CaseIterable {
    /// The fix edits or deletes a protected path (`FixRequest.protectedPaths`).
    case protectedPath = "protected-path"
    /// The fix changes the part of a file that decides what runs (`ProtectedFragments`).
    case protectedConfig = "protected-config"
    /// The fix deletes or renames a test file.
    case testFileDeleted = "test-file-deleted"
    /// The fix adds a skip/xfail/ignore marker.
    case skipMarker = "skip-marker"
    /// The fix removes test functions or cases.
    case testRemoved = "test-removed"
    /// The fix changes only literals (expected values) in a test file.
    case expectedValues = "expected-values"
    /// A test that ran in the failing run did not run in the verification.
    case testMissing = "test-missing"
    /// A test that ran in the failing run was skipped in the verification.
    case testSkipped = "test-skipped"
    /// A test that failed in the failing run did not pass in the verification.
    case stillFailing = "still-failing"
    /// The verification ran fewer tests than the failing run.
    case fewerTests = "fewer-tests"
}

/// Why a fix was refused.
package struct Rejection: Sendable, Equatable, CustomStringConvertible {
    package var rule: CheatRule
    package var detail: String

    package init(_ rule: CheatRule, _ detail: String) {
        self.rule = rule
        self.detail = detail
    }

    /// `rule test-missing: test calc.test_add ran in the failing run but not in the verification`.
    package var description: String { "rule \(rule.rawValue): \(detail)" }
}

/// The tests of the failing run must all run again, none newly skipped, the failing ones passing, and no
/// fewer in total. By name where the failing run wrote JUnit, by count otherwise.
package enum TestIdentity {
    /// The first rule a passing verification breaks, or nil. `before` are the failing run's JUnit cases
    /// (empty without JUnit), `beforeCounts` its counts (nil when it did not reach its tests).
    package static func check(before: [TestCase], beforeCounts: TestCounts?, after verification: Verification) -> Rejection? {
        if !before.isEmpty {
            var after: [String: TestCase.Outcome] = [:]
            for test in verification.cases {
                // A name that occurs twice (parametrised cases without ids) counts as run when any run did.
                if after[test.name] == nil || test.outcome == .passed { after[test.name] = test.outcome }
            }
            for test in before where test.outcome != .skipped {
                guard let outcome = after[test.name] else {
                    return Rejection(.testMissing, "test \(test.name) ran in the failing run but not in the verification run")
                }
                if outcome == .skipped {
                    return Rejection(.testSkipped, "test \(test.name) ran in the failing run but was skipped in the verification run")
                }
                if test.outcome == .failed, outcome != .passed {
                    return Rejection(.stillFailing, "test \(test.name) failed in the failing run and did not pass in the verification run")
                }
            }
            let ran = before.filter { $0.outcome != .skipped }.count
            let ranAfter = verification.cases.filter { $0.outcome != .skipped }.count
            if ranAfter < ran {
                return Rejection(.fewerTests, "the verification run ran \(ranAfter) JUnit test cases, fewer than the \(ran) of the failing run")
            }
        }
        if let beforeCounts, beforeCounts.total > 0 {
            let after = verification.tests ?? TestCounts()
            if after.total < beforeCounts.total {
                return Rejection(.fewerTests, "the verifying run executed \(after.total) tests, fewer than the \(beforeCounts.total) of the failing run")
            }
            if after.passed + after.failed < beforeCounts.passed + beforeCounts.failed {
                return Rejection(.testSkipped, "the verifying run skipped \(after.skipped) tests where the failing run skipped \(beforeCounts.skipped)")
            }
        }
        return nil
    }
}

/// The parts of build and test configuration files that decide what runs, compared between the pushed
/// tree and a fix (pure). A fix may change such a file elsewhere (a dependency, a version), not there.
package enum ProtectedFragments {
    /// One guarded part: which files, what it is called in a rejection, how to cut it out of the text.
    struct Guard: Sendable {
        var pattern: String
        var part: String
        var extract: @Sendable (String) -> String
    }

    static let guards: [Guard] = [
        Guard(pattern: "**/package.json", part: "the scripts, jest and mocha settings", extract: { jsonKeys($0, ["scripts", "jest", "mocha", "ava", "vitest"]) }),
        Guard(pattern: "**/pyproject.toml", part: "the [tool.pytest…] section", extract: { iniSections($0) { $0.hasPrefix("tool.pytest") } }),
        Guard(pattern: "**/setup.cfg", part: "the [tool:pytest] section", extract: { iniSections($0) { $0 == "tool:pytest" || $0 == "pytest" } }),
        Guard(pattern: "**/Cargo.toml", part: "the [[test]] sections", extract: { iniSections($0) { $0 == "[test]" || $0 == "[bench]" } }),
        Guard(pattern: "**/pom.xml", part: "the surefire/failsafe set-up and test-skipping properties", extract: pomTestSetup),
    ]

    /// The rejection for a change of `path` from `old` to `new` text, or nil.
    package static func check(path: String, old: String, new: String) -> Rejection? {
        for rule in guards where Glob.matches(rule.pattern, path, pathAware: true) {
            if rule.extract(old) != rule.extract(new) {
                return Rejection(.protectedConfig, "edits \(rule.part) of \(path), which decide what runs")
            }
        }
        return nil
    }

    /// The named top-level keys of a JSON object, canonically; the whole text when it is not JSON.
    static func jsonKeys(_ text: String, _ keys: [String]) -> String {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else { return text }
        let kept = object.filter { keys.contains($0.key) }
        guard let data = try? JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]) else { return text }
        return String(decoding: data, as: UTF8.self)
    }

    /// The lines of the `[header]` sections whose name `wanted` accepts (TOML and INI alike: a section runs
    /// to the next line starting with `[`), white space trimmed, blank and comment lines dropped.
    static func iniSections(_ text: String, _ wanted: (String) -> Bool) -> String {
        var kept: [String] = [], inside = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                // `[tool.pytest.ini_options]` is named `tool.pytest.ini_options`; `[[test]]` is named `[test]`.
                let isArray = line.hasPrefix("[[")
                let inner = line.dropFirst(isArray ? 2 : 1).prefix { $0 != "]" }.trimmingCharacters(in: .whitespaces)
                inside = wanted(isArray ? "[\(inner)]" : inner)
                if inside { kept.append(line) }
                continue
            }
            if inside, !line.isEmpty, !line.hasPrefix("#"), !line.hasPrefix(";") { kept.append(line) }
        }
        return kept.joined(separator: "\n")
    }

    /// The `<plugin>` blocks that configure surefire or failsafe, and every line that skips or ignores tests.
    static func pomTestSetup(_ text: String) -> String {
        var kept: [String] = [], block: [String] = [], inPlugin = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.contains("<plugin>") { inPlugin = true; block = [] }
            if inPlugin { block.append(line) }
            if line.contains("</plugin>") {
                inPlugin = false
                if block.contains(where: { $0.contains("surefire") || $0.contains("failsafe") }) { kept += block }
            }
            if ["skipTests", "maven.test.skip", "testFailureIgnore", "<skip>", "<excludes>", "<exclude>", "<includes>", "<include>", "<test>"]
                .contains(where: { line.contains($0) }), !inPlugin {
                kept.append(line)
            }
        }
        return kept.joined(separator: "\n")
    }
}

/// What a failure looks like once the noise that changes between runs is gone: where it failed, and the
/// failing tests' names when JUnit named some, else its last error lines with numbers, hex ids and
/// durations blanked. An attempt whose fingerprint an earlier attempt of the run already had stops the
/// loop (pure). Line numbers are blanked too, so an error that only moved counts as the same.
package enum FailureFingerprint {
    package static let errorLines = 6

    /// nil for a verification that passed or could not start (nothing to compare).
    package static func of(_ verification: Verification) -> String? {
        guard !verification.passed, let place = verification.place else { return nil }
        let failing = verification.cases.filter { $0.outcome == .failed }.map(\.name).sorted()
        if !failing.isEmpty { return "\(place)\ntests: \(failing.joined(separator: ", "))" }
        return "\(place)\n" + lastErrorLines(verification.logTail).joined(separator: "\n")
    }

    static func lastErrorLines(_ log: String) -> [String] {
        let lines = TerminalText.collapseLines(log).split(separator: "\n")
            .map { normalise(String($0)) }
            .filter { !$0.isEmpty && !$0.hasPrefix("[pushbox]") }
        return Array(lines.suffix(errorLines))
    }

    /// Digits, hex ids and runs of white space blanked, so timings and addresses do not count.
    static func normalise(_ line: String) -> String {
        line.replacingOccurrences(of: #"\b[0-9a-f]{7,}\b|0x[0-9a-fA-F]+|\d+"#, with: "#", options: .regularExpression)
            .replacingOccurrences(of: #"\s+"#, with: " ", options: .regularExpression)
            .trimmingCharacters(in: .whitespaces)
    }
}
