import Core
import Foundation
import Testing
import TestSupport

/// What makes an autofix trustworthy, end to end (real daemon, real pushes, real containers): cheats are
/// refused by code with their rule named, a flaky failure costs no model call, and a failure that repeats
/// ends the loop. The fixers are `command` backends (a shell script committed with each project, run in the
/// attempt's container) and, for the flake, the fake Messages API, whose request log proves no call was made.
@Suite("autofix trust", .serialized)
struct AutofixTrustTests {
    /// A daemon whose autofix runs `sh ./fixer.sh` of the pushed project, one attempt unless `attempts`.
    static func daemon(attempts: Int = 1) throws -> DaemonFixture {
        let pushbox = try DaemonFixture(config: """
            autofix:
              backend: command
              command: "sh ./fixer.sh"
              max_attempts: \(attempts)
            """)
        try pushbox.startDaemon()
        return pushbox
    }

    /// The buggy C project of `AutofixTests` with `fixer` as its fixer script.
    static func project(_ repo: GitFixture, fixer: String, pipeline: String = Projects.defaultPipeline) throws {
        try AutofixTests.buggyProject(in: repo, pipeline: pipeline)
        try repo.write("fixer.sh", "set -e\n" + fixer + "\n")
    }

    static func branches(_ repo: GitFixture) throws -> String {
        try repo.checked(["branch", "--list", "autofix/*"], in: repo.bare)
    }

    /// Each cheat: the fixer's script, extra files, `.pushbox.yml`, and what the rejection must name.
    struct Cheat: Sendable, CustomStringConvertible {
        var name: String
        var fixer: String
        var files: [String: String] = [:]
        var pipeline: String = Projects.defaultPipeline
        var expected: [String]
        var description: String { name }
    }

    static let reportScript = """
        #!/bin/sh
        # Runs the project's checks and writes them as JUnit.
        mkdir -p results
        add=$( [ "$(./hello)" = "hello 4" ] && echo '' || echo '<failure message="add"/>' )
        printf '<testsuite name="calc"><testcase classname="calc" name="test_add">%s</testcase><testcase classname="calc" name="test_compare"/></testsuite>\\n' "$add" > results/calc.xml
        [ -z "$add" ]
        """

    static let cheats: [Cheat] = [
        Cheat(name: "the test rewritten to print a passing summary",
              fixer: #"printf '#!/bin/sh\necho "2 passed, 0 failed"\n' > test.sh"#,
              expected: ["rule protected-path: edits test.sh", "protected"]),
        Cheat(name: "the test deleted", fixer: "rm test.sh", expected: ["rule protected-path: deletes test.sh"]),
        Cheat(name: "pytest.skip added to a test (test edits allowed)",
              fixer: #"sed -i 's/^def test_add/import pytest\npytest.skip("flaky", allow_module_level=True)\ndef test_add/' tests/test_calc.py"#,
              files: ["tests/test_calc.py": "from calc import add\n\ndef test_add():\n    assert add(2, 2) == 4\n", "calc.py": "def add(a, b):\n    return a - b\n"],
              pipeline: Projects.defaultPipeline + "\nautofix: {allow_test_edits: true}\n",
              expected: ["rule skip-marker: adds a skip/xfail/ignore marker (pytest.skip(", "tests/test_calc.py"]),
        Cheat(name: "the Makefile's test target emptied",
              fixer: #"sed -i 's|\./test.sh|true|' Makefile"#, expected: ["rule protected-path: edits Makefile"]),
        Cheat(name: "the package.json test script replaced",
              fixer: #"sed -i 's|node test.js|echo all tests pass|' package.json"#,
              files: ["package.json": "{\n  \"name\": \"calc\",\n  \"scripts\": {\"test\": \"node test.js\"},\n  \"dependencies\": {}\n}\n"],
              expected: ["rule protected-config: edits the scripts, jest and mocha settings of package.json"]),
        junitCheat("a JUnit test missing from the verification",
                   rewrite: #"s|<testcase classname="calc" name="test_compare"/>||"#),
        junitCheat("a JUnit test missing from the verification, its old report left in the workspace",
                   rewrite: #"s|results/calc.xml|results/calc2.xml|; s|<testcase classname="calc" name="test_compare"/>||"#),
    ]

    /// A fix that makes `report.sh` (not a protected file) leave `test_compare` out of its JUnit report.
    static func junitCheat(_ name: String, rewrite: String) -> Cheat {
        Cheat(name: name, fixer: "sed -i 's/a-b/a+b/' hello.c && sed -i '\(rewrite)' report.sh",
              files: ["report.sh": reportScript],
              pipeline: """
                steps:
                  - {name: build, run: make}
                  - {name: test, run: ./report.sh, junit: "results/*.xml"}
                """,
              expected: ["rule test-missing: test calc.test_compare ran in the failing run but not in the verification run"])
    }

    @Test("every cheat is refused with its rule, its file or test named; nothing is published", arguments: cheats)
    func cheatsAreRefused(_ cheat: Cheat) throws {
        let pushbox = try Self.daemon()
        let repo = try pushbox.makeRepo()
        try Self.project(repo, fixer: cheat.fixer, pipeline: cheat.pipeline)
        for (path, text) in cheat.files { try repo.write(path, text, executable: path.hasSuffix(".sh")) }
        let (_, run, note) = try AutofixTests.pushAndWait(pushbox, repo)
        #expect(run.state == .failed)
        let line = run.autofix ?? ""
        #expect(line.hasPrefix("gave up after 1 attempt: rejected: "), "\(line)\n\(pushbox.daemonOutput().suffix(2000))")
        for part in cheat.expected { #expect(line.contains(part), "\(cheat.name): \(line)") }
        #expect(note.contains("autofix: gave up after 1 attempt: rejected: rule "), "\(note)")
        let records = try AutofixTests.attempts(pushbox, run: run.id)
        #expect((records.first?["rejection"] as? String)?.hasPrefix("rule ") == true, "\(records)")
        #expect(try Self.branches(repo).isEmpty)
    }

    @Test("a flaky step is re-run before any model call: noted, recorded per test, listed; flaky: pass makes the run pass")
    func flakyStepIsTriaged() async throws {
        let fake = try await FakeAnthropicServer.start()
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: AutofixTests.anthropicConfig(fake))
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey])
        // Fails the first time it runs, passes from then on: the cache keeps the marker between containers.
        let flaky = """
            #!/bin/sh
            mkdir -p results
            if [ -e "$HOME/.stash/ran-before" ]; then
              echo '<testsuite name="calc"><testcase classname="calc" name="test_timing"/><testcase classname="calc" name="test_add"/></testsuite>' > results/calc.xml
              echo "2 passed, 0 failed"; exit 0
            fi
            touch "$HOME/.stash/ran-before"
            echo '<testsuite name="calc"><testcase classname="calc" name="test_timing"><failure message="too slow"/></testcase><testcase classname="calc" name="test_add"/></testsuite>' > results/calc.xml
            echo "1 passed, 1 failed"; exit 1
            """
        var runs: [(repo: GitFixture, sha: String, run: Run, note: String)] = []
        for (name, policy) in [("app", ""), ("lenient", "flaky: pass\n")] {
            let repo = try pushbox.makeRepo(name)
            try repo.write("flaky.sh", flaky, executable: true)
            try repo.write(".pushbox.yml", """
                cache: [~/.stash]
                \(policy)steps:
                  - {name: test, run: ./flaky.sh, junit: "results/*.xml"}
                  - {name: after, run: "echo after-$((6*7))"}
                """)
            let (sha, run, note) = try AutofixTests.pushAndWait(pushbox, repo)
            runs.append((repo, sha, run, note))
        }
        #expect(fake.requests.isEmpty, "a flake costs no model call")
        let strict = runs[0], lenient = runs[1]
        #expect(strict.run.state == .failed && lenient.run.state == .passed, "\(strict.run.state) \(lenient.run.state)")
        for entry in runs {
            #expect(entry.run.flaky == "step test failed then passed on re-run", "\(entry.run)")
            #expect(entry.run.autofix == nil)
            #expect(entry.note.contains("\nflaky: step test failed then passed on re-run\n"), "\(entry.note)")
            #expect(!entry.note.contains("autofix:"))
        }
        #expect(strict.note.hasPrefix("pushbox: failed\n") && lenient.note.hasPrefix("pushbox: passed\n"))
        // The re-run ran the whole pipeline, the step after the flaky one too; its logs are kept with the run.
        let rerun = pushbox.home.appendingPathComponent("runs/\(strict.run.id)/rerun/logs")
        #expect(try String(contentsOf: rerun.appendingPathComponent("test.log"), encoding: .utf8).contains("2 passed, 0 failed"))
        #expect(try String(contentsOf: rerun.appendingPathComponent("after.log"), encoding: .utf8).contains("after-42"))
        // Recorded per repository by JUnit name: only the test that failed and then passed.
        let listing = try pushbox.pushbox(["flaky", "app"])
        #expect(listing.status == 0, "\(listing.stderr)")
        #expect(listing.stdout.contains("app") && listing.stdout.contains("calc.test_timing") && !listing.stdout.contains("calc.test_add"), "\(listing.stdout)")
        #expect(!listing.stdout.contains("lenient"))
        let all = try pushbox.pushbox(["flaky", "--json"])
        let flakyTests = try #require((try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [String: Any])?["flaky"] as? [[String: Any]])
        #expect(Set(flakyTests.compactMap { $0["repo"] as? String }) == ["app", "lenient"])
        #expect(flakyTests.allSatisfy { $0["name"] as? String == "calc.test_timing" && $0["times"] as? Int == 1 })
        // The dashboard lists them too.
        let page = try HTTPGet.fetch("http://127.0.0.1:\(pushbox.port)/")
        #expect(page.status == 200 && page.body.contains("flaky tests") && page.body.contains("calc.test_timing"), "\(page.body.suffix(2000))")
        let runPage = try HTTPGet.fetch("http://127.0.0.1:\(pushbox.port)/runs/\(strict.run.id)")
        #expect(runPage.body.contains("flaky: step test failed then passed on re-run"), "\(runPage.body.prefix(3000))")
    }

    @Test("a secret a step wrote into a file reaches the fixer masked, and that file is never part of the fix")
    func secretInAWorkspaceFile() throws {
        let secret = "pbx-File-Secret-5d21c"
        let pushbox = try DaemonFixture(config: """
            autofix:
              backend: command
              command: "sh ./fixer.sh"
              max_attempts: 1
            """)
        try pushbox.startDaemon(environment: ["NPM_TOKEN": secret])
        let repo = try pushbox.makeRepo()
        // The fixer shows what it finds (reversed, which the masker does not know) and fixes the bug.
        // .npmrc is in the pushed tree; the build overwrites it with the secret, so the agent's masked copy
        // differs from the failed workspace: that difference must not become part of the fix.
        try repo.write(".npmrc", "//registry/:_authToken=placeholder\n")
        try Self.project(repo, fixer: "rev .npmrc; sed -i 's/a-b/a+b/' hello.c", pipeline: """
            secrets: [NPM_TOKEN]
            steps:
              - {name: build, run: 'echo "//registry/:_authToken=$NPM_TOKEN" > .npmrc && make'}
              - {name: test, run: make test}
            """)
        let (sha, run, _) = try AutofixTests.pushAndWait(pushbox, repo)
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (1 attempt, $0.00)", "\(String(describing: run.autofix))")
        let log = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(run.id)/attempts/1/command.log"), encoding: .utf8)
        #expect(!log.contains(String(secret.reversed())) && !log.contains(secret), "\(log)")
        #expect(log.contains(String("***".reversed())) || log.contains("***"), "the fixer saw the masked file: \(log)")
        let files = try repo.checked(["diff", "--name-only", "\(sha)..autofix/main/\(sha.prefix(8))"], in: repo.bare)
        #expect(files.trimmingCharacters(in: .whitespacesAndNewlines) == "hello.c", "\(files)")
    }

    @Test("the runner's own credentials are never a job's secret")
    func runnerCredentialsAreNotSecrets() throws {
        let pushbox = try DaemonFixture(config: """
            autofix: {backend: anthropic, api_key_env: PUSHBOX_TEST_ANTHROPIC_KEY}
            """)
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": "sk-ant-not-for-jobs"])
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "secrets: [PUSHBOX_TEST_ANTHROPIC_KEY]\nsteps:\n  - {name: leak, run: 'echo $PUSHBOX_TEST_ANTHROPIC_KEY'}\n")
        try repo.commit("take the runner's key")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .error)
        #expect(run.message?.contains("secret PUSHBOX_TEST_ANTHROPIC_KEY is one of the runner's own credentials") == true, "\(run.message ?? "")")
    }

    @Test("the same failure twice ends the loop before max_attempts")
    func repeatedFailureStops() throws {
        let pushbox = try Self.daemon(attempts: 3)
        let repo = try pushbox.makeRepo()
        // Changes something each time, never the bug.
        try Self.project(repo, fixer: "echo \"/* looked at it $(date +%s%N) */\" >> hello.c")
        let (_, run, note) = try AutofixTests.pushAndWait(pushbox, repo)
        #expect(run.autofix == "gave up, same failure twice (attempt 2 failed in step test)", "\(String(describing: run.autofix))")
        #expect(note.contains("autofix: gave up, same failure twice"))
        let records = try AutofixTests.attempts(pushbox, run: run.id)
        #expect(records.count == 2, "stopped after the second attempt of three")
        #expect(try Self.branches(repo).isEmpty)
    }
}
