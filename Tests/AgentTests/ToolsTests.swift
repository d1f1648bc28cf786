@testable import Agent
import Foundation
import Testing

/// A workspace with a small project in it.
private func makeProject(_ root: URL) throws {
    let fm = FileManager.default
    for dir in ["src", "tests", ".git", "docs/deep"] {
        try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
    }
    try "int add(int a, int b) {\n    return a - b;\n}\n".write(to: root.appendingPathComponent("src/calc.c"), atomically: true, encoding: .utf8)
    try "x = 1\nx = 1\n".write(to: root.appendingPathComponent("src/dup.txt"), atomically: true, encoding: .utf8)
    try "assert add(1, 2) == 3\n".write(to: root.appendingPathComponent("tests/test_calc.py"), atomically: true, encoding: .utf8)
    try "steps: []\n".write(to: root.appendingPathComponent(".pushbox.yml"), atomically: true, encoding: .utf8)
    try "[core]\n".write(to: root.appendingPathComponent(".git/config"), atomically: true, encoding: .utf8)
    try "deep add here\n".write(to: root.appendingPathComponent("docs/deep/notes.md"), atomically: true, encoding: .utf8)
    try Data([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2]).write(to: root.appendingPathComponent("src/blob.bin"))
}

private func run(_ tool: any AgentTool, _ input: JSONValue) async throws -> ToolOutput {
    try await tool.run(input, logger: testLogger())
}

/// The message of the failure `body` throws (ToolFailure), or nil when it does not throw one.
private func failure(_ body: () async throws -> ToolOutput) async -> String? {
    do {
        let output = try await body()
        return output.isError ? output.text : nil
    } catch let error as ToolFailure {
        return error.message
    } catch {
        return "unexpected error \(error)"
    }
}

@Suite("Agent tools")
struct ToolsTests {
    static let protected = [".pushbox.yml", "tests/**"]

    // MARK: list_files

    @Test func listFilesListsRecursivelyAndDoesNotExpandGit() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let workspace = try Workspace(root: root)
            let output = try await run(ListFilesTool(workspace: workspace), [:])
            let lines = output.text.split(separator: "\n").map(String.init)
            #expect(lines.contains("src/"))
            #expect(lines.contains("src/calc.c"))
            #expect(lines.contains("docs/deep/notes.md"))
            #expect(lines.contains(".git/ (not expanded)"))
            #expect(!lines.contains(".git/config"))
            let sub = try await run(ListFilesTool(workspace: workspace), ["path": "src"])
            #expect(sub.text.split(separator: "\n").sorted() == ["src/blob.bin", "src/calc.c", "src/dup.txt"])
            let missing = await failure { try await run(ListFilesTool(workspace: workspace), ["path": "nope"]) }
            #expect(missing?.contains("no such file") == true)
        }
    }

    @Test func listFilesIsBounded() async throws {
        try await withTemporaryDirectory { root in
            for index in 0..<30 { try "".write(to: root.appendingPathComponent("f\(index)"), atomically: true, encoding: .utf8) }
            var limits = ToolLimits()
            limits.maxListEntries = 10
            let output = try await run(ListFilesTool(workspace: try Workspace(root: root), limits: limits), [:])
            let lines = output.text.split(separator: "\n")
            #expect(lines.count == 11)
            #expect(lines.last?.contains("stopped at 10 entries") == true)
        }
    }

    // MARK: read_file

    @Test func readFileNumbersLinesAndHonoursTheRange() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let tool = ReadFileTool(workspace: try Workspace(root: root))
            let all = try await run(tool, ["path": "src/calc.c"])
            #expect(all.text == "     1\tint add(int a, int b) {\n     2\t    return a - b;\n     3\t}\n")
            #expect(!all.isError)
            let part = try await run(tool, ["path": "./src/calc.c", "start_line": 2, "end_line": 2])
            #expect(part.text == "     2\t    return a - b;\n")
            let past = await failure { try await run(tool, ["path": "src/calc.c", "start_line": 9]) }
            #expect(past?.contains("past the end") == true)
            let backwards = await failure { try await run(tool, ["path": "src/calc.c", "start_line": 3, "end_line": 1]) }
            #expect(backwards?.contains("before start_line") == true)
            let binary = await failure { try await run(tool, ["path": "src/blob.bin"]) }
            #expect(binary?.contains("binary") == true)
            let directory = await failure { try await run(tool, ["path": "src"]) }
            #expect(directory?.contains("directory") == true)
            let noPath = await failure { try await run(tool, [:]) }
            #expect(noPath?.contains("missing required input \"path\"") == true)
            let badType = await failure { try await run(tool, ["path": "src/calc.c", "start_line": "two"]) }
            #expect(badType?.contains("must be an integer") == true)
        }
    }

    @Test func readFileCapsLinesAndBytes() async throws {
        try await withTemporaryDirectory { root in
            let text = (1...50).map { "line \($0)" }.joined(separator: "\n") + "\n"
            try text.write(to: root.appendingPathComponent("long.txt"), atomically: true, encoding: .utf8)
            var limits = ToolLimits()
            limits.maxReadLines = 10
            limits.maxReadBytes = 1 << 20
            let output = try await run(ReadFileTool(workspace: try Workspace(root: root), limits: limits), ["path": "long.txt"])
            #expect(output.text.contains("    10\tline 10\n"))
            #expect(!output.text.contains("line 11"))
            #expect(output.text.contains("[lines 1-10 of 50 shown"))
            limits.maxReadBytes = 20
            let capped = try await run(ReadFileTool(workspace: try Workspace(root: root), limits: limits), ["path": "long.txt"])
            #expect(capped.text.contains("only the first 20 are readable"))
        }
    }

    // MARK: path safety

    @Test(arguments: ["../x", "src/../../x", "/etc/passwd", "~/x", "a/../b"])
    func escapesAreRefused(path: String) async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let message = await failure { try await run(ReadFileTool(workspace: try Workspace(root: root)), ["path": .string(path)]) }
            let text = try #require(message)
            #expect(text.contains("absolute") || text.contains("\"..\""))
        }
    }

    @Test func aSymlinkToEtcIsNotFollowed() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("etc").path, withDestinationPath: "/etc")
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("passwd").path, withDestinationPath: "/etc/passwd")
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("up").path, withDestinationPath: "../..")
            let workspace = try Workspace(root: root)
            for path in ["etc/passwd", "passwd", "up/etc/passwd"] {
                let read = await failure { try await run(ReadFileTool(workspace: workspace), ["path": .string(path)]) }
                let message = try #require(read, "reading \(path) must fail")
                #expect(message.contains("outside the workspace"))
                #expect(!message.contains("root:x:0:0"))
            }
            let search = await failure { try await run(SearchTool(workspace: workspace), ["pattern": "root", "path": "etc"]) }
            #expect(search?.contains("outside the workspace") == true)
            let write = await failure { try await run(WriteFileTool(workspace: workspace), ["path": "etc/evil", "content": "x"]) }
            #expect(write?.contains("outside the workspace") == true)
            #expect(!FileManager.default.fileExists(atPath: "/etc/evil"))
            // Walks do not follow it either.
            let all = try await run(SearchTool(workspace: workspace), ["pattern": "root:x:0"])
            #expect(all.text.hasPrefix("no matches"))
            let listing = try await run(ListFilesTool(workspace: workspace), [:])
            #expect(listing.text.contains("etc (symlink)"))
            #expect(!listing.text.contains("etc/"))
        }
    }

    @Test func aSymlinkInsideTheWorkspaceIsFollowedAndProtectionSeesThroughIt() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("src/link.c").path, withDestinationPath: "calc.c")
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("t").path, withDestinationPath: "src/../tests")
            let workspace = try Workspace(root: root, protectedPaths: Self.protected)
            let read = try await run(ReadFileTool(workspace: workspace), ["path": "src/link.c"])
            #expect(read.text.contains("return a - b;"))
            #expect(try workspace.resolve("src/link.c").relative == "src/calc.c")
            let write = await failure { try await run(WriteFileTool(workspace: workspace), ["path": "t/test_calc.py", "content": "pass"]) }
            #expect(write?.contains("protected") == true)
            #expect(try String(contentsOf: root.appendingPathComponent("tests/test_calc.py"), encoding: .utf8).contains("assert"))
        }
    }

    // MARK: search

    @Test func searchFindsMatchesSkipsBinaryAndGit() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let tool = SearchTool(workspace: try Workspace(root: root))
            let output = try await run(tool, ["pattern": "add"])
            let lines = output.text.split(separator: "\n").map(String.init)
            #expect(lines.contains("src/calc.c:1: int add(int a, int b) {"))
            #expect(lines.contains("tests/test_calc.py:1: assert add(1, 2) == 3"))
            #expect(lines.contains("docs/deep/notes.md:1: deep add here"))
            #expect(!output.text.contains(".git/"))
            let regex = try await run(tool, ["pattern": #"return\s+a\s*-\s*b"#, "path": "src"])
            #expect(regex.text == "src/calc.c:2:     return a - b;")
            let none = try await run(tool, ["pattern": "zzz_nothing"])
            #expect(none.text.hasPrefix("no matches"))
            #expect(!none.isError)
            let bad = await failure { try await run(tool, ["pattern": "(unclosed"]) }
            #expect(bad?.contains("invalid regular expression") == true)
            let git = try await run(tool, ["pattern": "core"])
            #expect(git.text.hasPrefix("no matches"))
        }
    }

    @Test func searchIsBounded() async throws {
        try await withTemporaryDirectory { root in
            try String(repeating: "hit\n", count: 100).write(to: root.appendingPathComponent("many.txt"), atomically: true, encoding: .utf8)
            var limits = ToolLimits()
            limits.maxSearchResults = 5
            let output = try await run(SearchTool(workspace: try Workspace(root: root), limits: limits), ["pattern": "hit"])
            let lines = output.text.split(separator: "\n")
            #expect(lines.count == 6)
            #expect(lines.last?.contains("stopped at 5 matches") == true)
        }
    }

    // MARK: edit_file

    @Test func editFileReplacesTheUniqueMatch() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let tool = EditFileTool(workspace: try Workspace(root: root, protectedPaths: Self.protected))
            let output = try await run(tool, ["path": "src/calc.c", "old_text": "return a - b;", "new_text": "return a + b;"])
            #expect(!output.isError)
            #expect(output.text.contains("line 2"))
            #expect(try String(contentsOf: root.appendingPathComponent("src/calc.c"), encoding: .utf8) == "int add(int a, int b) {\n    return a + b;\n}\n")
        }
    }

    @Test func editFileRefusesMissingAndAmbiguousMatches() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let tool = EditFileTool(workspace: try Workspace(root: root, protectedPaths: Self.protected))
            let twice = await failure { try await run(tool, ["path": "src/dup.txt", "old_text": "x = 1", "new_text": "x = 2"]) }
            #expect(twice?.contains("occurs 2 times") == true)
            #expect(twice?.contains("lines 1, 2") == true)
            #expect(try String(contentsOf: root.appendingPathComponent("src/dup.txt"), encoding: .utf8) == "x = 1\nx = 1\n")
            let none = await failure { try await run(tool, ["path": "src/calc.c", "old_text": "return a * b;", "new_text": "x"]) }
            #expect(none?.contains("not found") == true)
            let whitespace = await failure { try await run(tool, ["path": "src/calc.c", "old_text": "  return a - b;  \n\n", "new_text": "x"]) }
            #expect(whitespace?.contains("leading/trailing whitespace") == true)
            let empty = await failure { try await run(tool, ["path": "src/calc.c", "old_text": "", "new_text": "x"]) }
            #expect(empty?.contains("must not be empty") == true)
            let same = await failure { try await run(tool, ["path": "src/calc.c", "old_text": "a", "new_text": "a"]) }
            #expect(same?.contains("identical") == true)
            let missing = await failure { try await run(tool, ["path": "src/none.c", "old_text": "a", "new_text": "b"]) }
            #expect(missing?.contains("no such file") == true)
        }
    }

    @Test func protectedPathsAreRefusedWithAnExplanation() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let workspace = try Workspace(root: root, protectedPaths: Self.protected)
            let pipeline = await failure { try await run(EditFileTool(workspace: workspace), ["path": ".pushbox.yml", "old_text": "steps: []", "new_text": "steps: [x]"]) }
            #expect(pipeline?.contains("protected (matches \".pushbox.yml\")") == true)
            #expect(pipeline?.contains("fix the code") == true)
            let test = await failure { try await run(WriteFileTool(workspace: workspace), ["path": "tests/test_calc.py", "content": "pass\n"]) }
            #expect(test?.contains("tests/**") == true)
            let newTest = await failure { try await run(WriteFileTool(workspace: workspace), ["path": "./tests/new/test_x.py", "content": "pass\n"]) }
            #expect(newTest?.contains("protected") == true)
            let git = await failure { try await run(WriteFileTool(workspace: workspace), ["path": ".git/config", "content": "x"]) }
            #expect(git?.contains("protected (matches \".git\")") == true)
            #expect(try String(contentsOf: root.appendingPathComponent(".pushbox.yml"), encoding: .utf8) == "steps: []\n")
            #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("tests/new").path))
            // Reading them is fine.
            let read = try await run(ReadFileTool(workspace: workspace), ["path": ".pushbox.yml"])
            #expect(read.text.contains("steps"))
        }
    }

    // MARK: write_file

    @Test func writeFileCreatesAndReplaces() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let tool = WriteFileTool(workspace: try Workspace(root: root, protectedPaths: Self.protected))
            let created = try await run(tool, ["path": "src/new/dir/util.c", "content": "int one(void) { return 1; }\n"])
            #expect(created.text.hasPrefix("created src/new/dir/util.c"))
            #expect(try String(contentsOf: root.appendingPathComponent("src/new/dir/util.c"), encoding: .utf8) == "int one(void) { return 1; }\n")
            let replaced = try await run(tool, ["path": "src/calc.c", "content": "// gone\n"])
            #expect(replaced.text.hasPrefix("replaced src/calc.c"))
            #expect(try String(contentsOf: root.appendingPathComponent("src/calc.c"), encoding: .utf8) == "// gone\n")
            let directory = await failure { try await run(tool, ["path": "src", "content": "x"]) }
            #expect(directory?.contains("is a directory") == true)
            let escape = await failure { try await run(tool, ["path": "../outside.txt", "content": "x"]) }
            #expect(escape != nil)
            #expect(!FileManager.default.fileExists(atPath: root.deletingLastPathComponent().appendingPathComponent("outside.txt").path))
        }
    }

    @Test func writeFileDoesNotWriteThroughASymlinkedFile() async throws {
        try await withTemporaryDirectory { root in
            let outside = try TemporaryDirectoryBox()
            defer { outside.remove() }
            let target = outside.url.appendingPathComponent("victim.txt")
            try "original".write(to: target, atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("victim.txt").path, withDestinationPath: target.path)
            let tool = WriteFileTool(workspace: try Workspace(root: root))
            let refused = await failure { try await run(tool, ["path": "victim.txt", "content": "pwned"]) }
            #expect(refused?.contains("outside the workspace") == true)
            #expect(try String(contentsOf: target, encoding: .utf8) == "original")
        }
    }

    // MARK: run_command

    @Test func runCommandRunsInTheWorkspaceThroughASandbox() async throws {
        try await withTemporaryDirectory { root in
            try makeProject(root)
            let runner = SandboxCommandRunner(sandbox: LocalShellSandbox(directory: root))
            let tool = RunCommandTool(runner: runner)
            let ok = try await run(tool, ["command": "cat src/calc.c | wc -l; echo to-stderr >&2"])
            #expect(!ok.isError)
            #expect(ok.text.hasPrefix("exit code: 0\n"))
            #expect(ok.text.contains("3"))
            #expect(ok.text.contains("to-stderr"))
            let failing = try await run(tool, ["command": "echo broken; exit 3"])
            #expect(failing.isError)
            #expect(failing.text.hasPrefix("exit code: 3\n"))
            #expect(failing.text.contains("broken"))
            let quoted = try await run(tool, ["command": "printf '%s\\n' \"it's\""])
            #expect(quoted.text.contains("it's"))
        }
    }

    @Test func runCommandTimesOutAndReturnsTheTail() async throws {
        try await withTemporaryDirectory { root in
            var limits = ToolLimits()
            limits.commandOutputTail = 64
            let tool = RunCommandTool(runner: SandboxCommandRunner(sandbox: LocalShellSandbox(directory: root)), limits: limits)
            let slow = try await run(tool, ["command": "echo started; sleep 30", "timeout_seconds": 1])
            #expect(slow.isError)
            #expect(slow.text.hasPrefix("timed out after 1 s"))
            #expect(slow.text.contains("started"))
            let loud = try await run(tool, ["command": "seq 1 1000"])
            #expect(loud.text.contains("[output: last 64 of 3893 bytes]"))
            #expect(loud.text.hasSuffix("1000\n"))
            #expect(!loud.text.contains("\n500\n"))
            let invalid = await failure { try await run(tool, ["command": "true", "timeout_seconds": 0]) }
            #expect(invalid?.contains("positive") == true)
        }
    }

    @Test func wrappedCommandQuotesForTheShell() {
        #expect(SandboxCommandRunner.wrappedCommand("echo 'a b'", timeout: .milliseconds(1500))
                == #"timeout --kill-after=5 2 /bin/sh -c 'echo '\''a b'\'''"#)
    }

    @Test func theStandardSetHasTheIssuesNamesAndValidSchemas() throws {
        let tools = AgentTools.standard(workspace: try Workspace(root: URL(fileURLWithPath: NSTemporaryDirectory())), runner: ScriptedRunner())
        #expect(tools.map(\.name) == ["list_files", "read_file", "search", "edit_file", "write_file", "run_command"])
        let required = Dictionary(uniqueKeysWithValues: tools.map { ($0.name, $0.definition.inputSchema["required"]) })
        #expect(required["read_file"] == ["path"])
        #expect(required["edit_file"] == ["path", "old_text", "new_text"])
        #expect(required["run_command"] == ["command"])
        #expect(required["list_files"] == [])
        let properties = tools.first { $0.name == "read_file" }?.definition.inputSchema["properties"]
        #expect(properties?["start_line"]?["type"] == "integer")
        #expect(tools.first { $0.name == "run_command" }?.definition.inputSchema["properties"]?["timeout_seconds"] != nil)
    }
}

/// A second temporary directory (outside the workspace).
private struct TemporaryDirectoryBox {
    let url: URL
    init() throws {
        url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pushbox-outside-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func remove() { try? FileManager.default.removeItem(at: url) }
}
