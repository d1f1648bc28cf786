import Core
import Foundation
import Testing

struct GlobCase: Sendable, CustomTestStringConvertible {
    var pattern: String
    var name: String
    var pathAware: Bool
    var matches: Bool

    init(_ pattern: String, _ name: String, pathAware: Bool = false, _ matches: Bool) {
        self.pattern = pattern
        self.name = name
        self.pathAware = pathAware
        self.matches = matches
    }

    var testDescription: String { "\(pattern) \(matches ? "~" : "!~") \(name)\(pathAware ? " (paths)" : "")" }
}

@Suite("Glob")
struct GlobTests {
    static let branchCases: [GlobCase] = [
        .init("*", "main", true),
        .init("*", "feature/login", true),
        .init("*", "", true),
        .init("main", "main", true),
        .init("main", "main2", false),
        .init("main", "mai", false),
        .init("main", "Main", false),
        .init("release/*", "release/1.0", true),
        .init("release/*", "release/", true),
        .init("release/*", "release", false),
        .init("release/*", "releases/1.0", false),
        .init("release/*", "xrelease/1.0", false),
        .init("feat?", "feat1", true),
        .init("feat?", "featX", true),
        .init("feat?", "feat", false),
        .init("feat?", "feat12", false),
        .init("*-hotfix", "v2-hotfix", true),
        .init("*-hotfix", "v2-hotfix-2", false),
        .init("v*.*", "v1.2", true),
        .init("v*.*", "v12", false),
        .init("日本*", "日本語", true),
        .init("??", "日本", true),
    ]

    static let pathCases: [GlobCase] = [
        .init("**/*.xml", "a.xml", pathAware: true, true),
        .init("**/*.xml", "build/test-results/TEST-a.xml", pathAware: true, true),
        .init("**/*.xml", "a.txt", pathAware: true, false),
        .init("**/*.xml", "a/b.xml.bak", pathAware: true, false),
        .init("build/test-results/*.xml", "build/test-results/TEST-x.xml", pathAware: true, true),
        .init("build/test-results/*.xml", "build/test-results/sub/x.xml", pathAware: true, false),
        .init("build/test-results/*.xml", "build/test-results/x.json", pathAware: true, false),
        .init("build/test-results/*.xml", "other/test-results/x.xml", pathAware: true, false),
        .init("*.xml", "a/b.xml", pathAware: true, false),
        .init("*.xml", "a/b.xml", pathAware: false, true),
        .init("a?c", "a/c", pathAware: true, false),
        .init("a?c", "abc", pathAware: true, true),
        .init("tests/**", "tests/a/b.py", pathAware: true, true),
        .init("tests/**", "tests/a.py", pathAware: true, true),
        .init("tests/**", "tests", pathAware: true, false),
        .init("tests/**", "test/a.py", pathAware: true, false),
        .init("src/**/test_*.py", "src/test_a.py", pathAware: true, true),
        .init("src/**/test_*.py", "src/pkg/sub/test_a.py", pathAware: true, true),
        .init("src/**/test_*.py", "src/pkg/sub/a_test.py", pathAware: true, false),
        .init(".pushbox.yml", ".pushbox.yml", pathAware: true, true),
        .init(".pushbox.yml", "sub/.pushbox.yml", pathAware: true, false),
    ]

    @Test("branch globs", arguments: branchCases)
    func branch(_ c: GlobCase) {
        #expect(Glob.matches(c.pattern, c.name, pathAware: c.pathAware) == c.matches)
    }

    @Test("path-aware globs", arguments: pathCases)
    func path(_ c: GlobCase) {
        #expect(Glob.matches(c.pattern, c.name, pathAware: c.pathAware) == c.matches)
    }

    @Test("PipelineSpec.triggers uses the branch globs", arguments: [
        ("main", true), ("release/2.0", true), ("dev", false), ("release", false), ("feat7", true), ("feat77", false),
    ])
    func triggers(_ branch: String, _ expected: Bool) {
        var spec = PipelineSpec(steps: [Step(name: "a", run: "b")])
        spec.branches = ["main", "release/*", "feat?"]
        #expect(spec.triggers(branch: branch) == expected)
    }

    /// `branches:` comes from the pushed tree and the branch name from the pusher; the scheduler actor
    /// evaluates the match. A backtracking matcher takes time exponential in the number of stars.
    @Test("a pathological pattern is matched in bounded time")
    func pathologicalPattern() async {
        await #expect(processExitsWith: .success) {
            alarm(5)
            let pattern = String(repeating: "*a", count: 14) + "b"
            let matched = Glob.matches(pattern, String(repeating: "a", count: 40))
            exit(matched ? 1 : 0)
        }
    }

    @Test("no branches means nothing triggers")
    func noBranches() {
        var spec = PipelineSpec()
        spec.branches = []
        #expect(!spec.triggers(branch: "main"))
    }
}
