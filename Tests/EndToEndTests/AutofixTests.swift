import Core
import Foundation
import Testing
import TestSupport

/// Autofix end to end: the real daemon, real pushes, real containers (verification and the agent's
/// commands); the only fake is the Anthropic API server.
@Suite("autofix", .serialized)
struct AutofixTests {
    static let secret = "pbx-Secret-Value-7f3e9a"

    /// A C project whose `add` subtracts: `make test` fails until `a-b` becomes `a+b`.
    static func buggyProject(in repo: GitFixture, pipeline: String = Projects.defaultPipeline) throws {
        try Projects.make(in: repo, pipeline: pipeline)
        try repo.write("hello.c", """
            #include <stdio.h>
            int add(int a, int b) { return a-b; }
            int main(void) { printf("hello %d\\n", add(2, 2)); return 0; }
            """)
    }

    static func anthropicConfig(_ fake: FakeAnthropicServer, extra: String = "") -> String {
        """
        autofix:
          backend: anthropic
          base_url: \(fake.baseURL)
          api_key_env: PUSHBOX_TEST_ANTHROPIC_KEY
          model: claude-sonnet-5-5
          \(extra)
        """
    }

    static func edit(_ id: String, _ old: String, _ new: String, path: String = "hello.c") -> FakeBehaviour {
        .toolUse([(id: id, name: "edit_file", input: #"{"path":"\#(path)","old_text":"\#(old)","new_text":"\#(new)"}"#)])
    }

    /// Pushes a failing commit and waits for the run, its autofix line and its note.
    static func pushAndWait(_ pushbox: DaemonFixture, _ repo: GitFixture, refspec: String = "HEAD:refs/heads/main")
        throws -> (sha: String, run: Run, note: String) {
        let sha = try repo.commit("buggy add")
        let push = try repo.push(refspec)
        let id = try #require(DaemonFixture.queuedRunIDs(in: push.output).first, "\(push.output)")
        let run = try pushbox.waitForRun(id, timeout: .seconds(300))
        var note = ""
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            note = try pushbox.note(repo, sha) ?? ""
            if NoteRun(note) == id { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return (sha, run, note)
    }

    static func NoteRun(_ note: String) -> Int64? {
        note.split(separator: "\n").first { $0.hasPrefix("run: ") }.flatMap { Int64($0.dropFirst(5).split(separator: " ").first ?? "") }
    }

    static func attempts(_ pushbox: DaemonFixture, run: Int64) throws -> [[String: Any]] {
        let data = try Data(contentsOf: pushbox.home.appendingPathComponent("runs/\(run)/fix_attempts.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    /// Checks the autofix branch: parent, author, trailers, only the fix in the diff, the note.
    static func checkFixBranch(_ repo: GitFixture, sha: String, run: Int64, attempts: Int,
                               author: String = "Pushbox Autofix <autofix@pushbox.invalid>") throws {
        let branch = "autofix/main/\(sha.prefix(8))"
        let parent = try repo.checked(["rev-parse", "\(branch)^"], in: repo.bare).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(parent == sha)
        #expect(try repo.checked(["rev-parse", "main"], in: repo.bare).trimmingCharacters(in: .whitespacesAndNewlines) == sha)
        let files = try repo.checked(["diff", "--name-only", "\(sha)..\(branch)"], in: repo.bare)
        #expect(files.split(separator: "\n") == ["hello.c"])
        let diff = try repo.checked(["diff", "\(sha)..\(branch)"], in: repo.bare)
        #expect(diff.contains("-int add(int a, int b) { return a-b; }") && diff.contains("+int add(int a, int b) { return a+b; }"))
        let message = try repo.checked(["log", "-1", "--format=%an <%ae>|%cn <%ce>%n%B", branch], in: repo.bare)
        #expect(message.hasPrefix("\(author)|\(author)"), "\(message)")
        #expect(message.contains("Pushbox-Run: \(run)") && message.contains("Pushbox-Fixes: \(sha)"))
        #expect(message.contains("Pushbox-Model: ") && message.contains("Pushbox-Attempts: \(attempts)"))
        let fixNote = try repo.checked(["notes", "--ref=pushbox", "show", branch], in: repo.bare)
        #expect(fixNote.hasPrefix("pushbox: passed\n"))
        // The fixed tree's source is the fix.
        #expect(try repo.checked(["show", "\(branch):hello.c"], in: repo.bare).contains("return a+b;"))
    }

    @Test("anthropic: fixed in one attempt; branch, parent, notes, diff; the secret never leaves")
    func fixedInOneAttempt() async throws {
        let fake = try await FakeAnthropicServer.start()
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: Self.anthropicConfig(fake))
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey, "DEPLOY_TOKEN": Self.secret])
        let repo = try pushbox.makeRepo()
        try Self.buggyProject(in: repo, pipeline: """
            secrets: [DEPLOY_TOKEN]
            steps:
              - {name: build, run: make}
              - {name: test, run: 'echo "token is $DEPLOY_TOKEN"; make test'}
            """)
        fake.enqueue(
            .toolUse([(id: "toolu_1", name: "run_command", input: #"{"command":"echo $DEPLOY_TOKEN; make test"}"#)]),
            Self.edit("toolu_2", "a-b", "a+b"),
            .text("add() subtracted; it now adds."))
        let (sha, run, note) = try Self.pushAndWait(pushbox, repo)
        #expect(run.state == .failed)
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (1 attempt, $0.00)", "\(run)\n\(pushbox.daemonOutput().suffix(3000))")
        #expect(note.contains("pushbox: failed\n"))
        #expect(note.contains("autofix: passed autofix/main/\(sha.prefix(8)) (1 attempt, $0.00)"))
        try Self.checkFixBranch(repo, sha: sha, run: run.id, attempts: 1)
        let records = try Self.attempts(pushbox, run: run.id)
        #expect(records.count == 1 && records[0]["passed"] as? Bool == true && records[0]["backend"] as? String == "anthropic")
        // The secret: in no request, no attempt record, no log.
        #expect(fake.requests.count == 3)
        for request in fake.requests { #expect(!request.bodyText.contains(Self.secret)) }
        let runDir = pushbox.home.appendingPathComponent("runs/\(run.id)")
        let enumerator = FileManager.default.enumerator(at: runDir, includingPropertiesForKeys: nil)
        while let url = enumerator?.nextObject() as? URL {
            guard url.pathExtension == "log" || url.pathExtension == "json" else { continue }
            #expect(!((try? String(contentsOf: url, encoding: .utf8)) ?? "").contains(Self.secret), "\(url.path)")
        }
        #expect(!pushbox.daemonOutput().contains(Self.secret))
    }

    @Test("anthropic: fixed on the second attempt after a failing one; 529 retried, 429 retry-after-ms honoured")
    func fixedOnSecondAttempt() async throws {
        let fake = try await FakeAnthropicServer.start()
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: Self.anthropicConfig(fake))
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey])
        let repo = try pushbox.makeRepo()
        try Self.buggyProject(in: repo)
        fake.enqueue(
            .overloaded(), Self.edit("toolu_1", "a-b", "a/b"), .text("Changed the operator."),
            .rateLimited(retryAfterMs: "700"), Self.edit("toolu_2", "a/b", "a+b"), .text("Now it adds."))
        let (sha, run, note) = try Self.pushAndWait(pushbox, repo)
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (2 attempts, $0.00)", "\(run)")
        #expect(note.contains("autofix: passed autofix/main/\(sha.prefix(8)) (2 attempts"))
        try Self.checkFixBranch(repo, sha: sha, run: run.id, attempts: 2)
        let records = try Self.attempts(pushbox, run: run.id)
        #expect(records.count == 2 && records[0]["passed"] as? Bool == false && records[1]["passed"] as? Bool == true)
        // The store has every attempt too: `pushbox status` lists them.
        let status = try pushbox.pushbox(["status", String(run.id)])
        #expect(status.stdout.contains("attempt 1 (anthropic, claude-sonnet-5-5): failed: step test failed (exit 2); 2 turns, 1 tool calls, 200 in / 40 out tokens"), "\(status.stdout)")
        #expect(status.stdout.contains("attempt 2 (anthropic, claude-sonnet-5-5): passed; 2 turns, 1 tool calls"))
        // The second attempt was told about the first one's failure.
        #expect(fake.requests.map(\.responseStatus) == [529, 200, 200, 429, 200, 200])
        #expect(fake.requests[3].bodyText.contains("Attempt 1 failed: verification: step test failed"))
        #expect(fake.requests[3].bodyText == fake.requests[4].bodyText)
        // The verification run's logs are under attempts/<n>/logs/.
        let log = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(run.id)/attempts/1/logs/test.log"), encoding: .utf8)
        #expect(log.contains("FAIL - add"))
    }

    @Test("anthropic: gives up after max_attempts; a deleted test and an edit of .pushbox.yml are refused")
    func givesUpAndRefuses() async throws {
        let fake = try await FakeAnthropicServer.start()
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: Self.anthropicConfig(fake, extra: "max_attempts: 3"))
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey])
        let repo = try pushbox.makeRepo()
        try Self.buggyProject(in: repo)
        fake.enqueue(
            // 1: edits the pipeline file: refused by the tool; nothing changed.
            .toolUse([(id: "toolu_1", name: "edit_file", input: #"{"path":".pushbox.yml","old_text":"make test","new_text":"true"}"#)]),
            .text("I could not."),
            // 2: deletes the test script: rejected by the anti-cheat check.
            .toolUse([(id: "toolu_2", name: "run_command", input: #"{"command":"rm test.sh"}"#)]),
            .text("Removed the failing test."),
            // 3: does nothing.
            .text("No idea."))
        let (_, run, note) = try Self.pushAndWait(pushbox, repo)
        #expect(run.state == .failed)
        #expect(run.autofix?.hasPrefix("gave up after 3 attempts: the attempt changed no file") == true, "\(String(describing: run.autofix))")
        #expect(note.contains("autofix: gave up after 3 attempts: "))
        let refused = fake.requests[1].bodyText
        #expect(refused.contains("protected") && refused.contains("\"is_error\":true"))
        let records = try Self.attempts(pushbox, run: run.id)
        #expect(records.count == 3)
        #expect((records[1]["rejection"] as? String)?.hasPrefix("rule protected-path: deletes test.sh") == true, "\(records[1])")
        #expect(fake.requests[4].bodyText.contains("rejected: "))
        let branches = try repo.checked(["branch", "--list", "autofix/*"], in: repo.bare)
        #expect(branches.isEmpty)
    }

    @Test("anthropic: the cost budget stops the loop")
    func costBudget() async throws {
        let fake = try await FakeAnthropicServer.start()
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: Self.anthropicConfig(fake, extra: "max_cost_usd: 0.50"))
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey])
        let repo = try pushbox.makeRepo()
        try Self.buggyProject(in: repo)
        // 200k input tokens at $3 per million: $0.60, over the $0.50 budget after the first reply.
        fake.enqueue(.toolUse([(id: "toolu_1", name: "list_files", input: "{}")], usage: FakeUsage(inputTokens: 200_000)))
        let (_, run, _) = try Self.pushAndWait(pushbox, repo)
        #expect(run.autofix?.hasPrefix("gave up after 1 attempt: the cost budget of $0.50 is used up") == true, "\(String(describing: run.autofix))")
        #expect(fake.requests.count == 1)
    }

    @Test("without the API key autofix is skipped, and the note says why")
    func missingKey() async throws {
        let fake = try await FakeAnthropicServer.start()
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: Self.anthropicConfig(fake))
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Self.buggyProject(in: repo)
        let (_, run, note) = try Self.pushAndWait(pushbox, repo)
        #expect(run.state == .failed)
        #expect(run.autofix == "skipped: PUSHBOX_TEST_ANTHROPIC_KEY is not set in the runner's environment")
        #expect(note.contains("autofix: skipped: PUSHBOX_TEST_ANTHROPIC_KEY is not set"))
        #expect(fake.requests.isEmpty)
    }

    @Test("a push to autofix/… is never autofixed")
    func autofixBranchesAreNotFixed() async throws {
        let fake = try await FakeAnthropicServer.start()
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: Self.anthropicConfig(fake))
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey])
        let repo = try pushbox.makeRepo()
        try Self.buggyProject(in: repo)
        let (_, run, note) = try Self.pushAndWait(pushbox, repo, refspec: "HEAD:refs/heads/autofix/main/12345678")
        #expect(run.state == .failed)
        #expect(run.autofix == nil)
        #expect(!note.contains("autofix:"))
        #expect(fake.requests.isEmpty)
    }

    @Test("claude-code backend: the real Claude Code CLI in its container fixes the bug against the fake API")
    func claudeCodeBackend() async throws {
        let fake = try await FakeAnthropicServer.start()
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: """
            autofix:
              backend: claude-code
              base_url: \(fake.baseURL)
              api_key_env: PUSHBOX_TEST_ANTHROPIC_KEY
              model: claude-sonnet-5-5
            """)
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey, "DEPLOY_TOKEN": Self.secret])
        let repo = try pushbox.makeRepo()
        try Self.buggyProject(in: repo, pipeline: Projects.defaultPipeline + "\nsecrets: [DEPLOY_TOKEN]\n")
        // The CLI streams; its Edit tool takes an absolute path (the workspace is /workspace in its container).
        // The model looks at the environment first (the CLI runs Bash in the container): the pipeline's secret
        // must not be there.
        fake.enqueue(
            .toolUse([(id: "toolu_cc0", name: "Bash", input: #"{"command":"env","description":"Show the environment"}"#)]),
            .toolUse([(id: "toolu_cc1", name: "Edit", input: #"{"file_path":"/workspace/hello.c","old_string":"a-b","new_string":"a+b"}"#)]),
            .text("Fixed add: it subtracted."))
        let (sha, run, note) = try Self.pushAndWait(pushbox, repo)
        #expect(run.state == .failed)
        #expect(run.autofix?.hasPrefix("passed autofix/main/\(sha.prefix(8)) (1 attempt, $") == true, "\(run)\n\(pushbox.daemonOutput().suffix(3000))")
        #expect(note.contains("autofix: passed autofix/main/"))
        try Self.checkFixBranch(repo, sha: sha, run: run.id, attempts: 1)
        let records = try Self.attempts(pushbox, run: run.id)
        #expect(records.first?["backend"] as? String == "claude-code")
        #expect((records.first?["stop"] as? String)?.hasPrefix("completed (3 turns)") == true, "\(records)")
        // What went over the wire came from the CLI itself, through the container's route to the host.
        let requests = fake.requests
        #expect(requests.count == 3, "\(requests.map { "\($0.path) \($0.responseStatus) \($0.validationFailure ?? "")" })")
        #expect(requests.allSatisfy { $0.path == "/v1/messages?beta=true" && $0.responseStatus == 200 })
        #expect(requests.allSatisfy { $0.header("user-agent")?.hasPrefix("claude-cli/") == true && $0.json?["stream"]?.bool == true })
        #expect(requests[1].bodyText.contains("toolu_cc0") && requests[1].bodyText.contains("PUSHBOX_RUN_ID="),
                "the Bash tool really ran env in the container")
        #expect(requests[2].bodyText.contains("toolu_cc1") && requests[2].bodyText.contains("tool_result"))
        // The secret never reaches the model; the key never reaches Pushbox's records.
        #expect(!requests.contains { $0.bodyText.contains(Self.secret) })
        let log = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(run.id)/attempts/1/claude-code.log"), encoding: .utf8)
        #expect(log.contains("\"type\":\"result\""))
        let attemptsFile = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(run.id)/fix_attempts.json"), encoding: .utf8)
        for text in [log, attemptsFile, pushbox.daemonOutput()] { #expect(!text.contains(fake.apiKey)) }
    }

    @Test("command backend: a shell script fixes the bug")
    func commandBackend() throws {
        let pushbox = try DaemonFixture(config: """
            autofix:
              backend: command
              command: "grep -q 'add(2, 2)' \\"$PUSHBOX_WORKSPACE/hello.c\\" && test \\"$PUSHBOX_FAILED_STEP\\" = test && sed -i 's/a-b/a+b/' hello.c && echo fixed add"
              author: "Review Bot <review-bot@example.org>"
            """)
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Self.buggyProject(in: repo)
        let (sha, run, note) = try Self.pushAndWait(pushbox, repo)
        #expect(run.state == .failed)
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (1 attempt, $0.00)", "\(run)\n\(pushbox.daemonOutput().suffix(3000))")
        #expect(note.contains("autofix: passed autofix/main/"))
        try Self.checkFixBranch(repo, sha: sha, run: run.id, attempts: 1, author: "Review Bot <review-bot@example.org>")
        let records = try Self.attempts(pushbox, run: run.id)
        #expect(records.first?["backend"] as? String == "command")
        // The next push of main shows the review branch in its output.
        try repo.write("NOTES.md", "unrelated change\n")
        try repo.commit("notes")
        let next = try repo.push()
        let hint = "pushbox: autofix/main/\(sha.prefix(8)) has a fix for run \(run.id) (\(sha.prefix(7))); review: git diff \(sha.prefix(7))..autofix/main/\(sha.prefix(8))"
        #expect(next.output.contains("remote: " + hint), "\(next.output)")
        if let nextID = DaemonFixture.queuedRunIDs(in: next.output).first { _ = try pushbox.waitForRun(nextID, timeout: .seconds(300)) }
    }
}
