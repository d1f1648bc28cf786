import Agent
import Core
import Foundation
import Testing
import TestSupport

@Suite("autofix change sets and anti-cheat")
struct AutofixLoopTests {
    /// Writes `files` (path → content) under a fresh directory.
    static func tree(_ directory: TemporaryDirectory, _ name: String, _ files: [String: String]) throws -> URL {
        let root = directory.url(name)
        for (path, content) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
        }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    @Test("the change set: source edits and new text files; never build artifacts")
    func changeSet() throws {
        let directory = try TemporaryDirectory(prefix: "changeset")
        defer { directory.remove() }
        let failed = try Self.tree(directory, "failed", [
            "main.c": "int main(void) { return 1; }\n", "old.c": "x\n", "build/out.txt": "made by the failing run\n",
            "hello": "\u{7f}ELF\u{0}\u{0}binary",
        ])
        let attempt = try Self.tree(directory, "attempt", [
            "main.c": "int main(void) { return 0; }\n", "build/out.txt": "made again, differently\n",
            "hello": "\u{7f}ELF\u{0}\u{0}rebuilt", "helper.h": "#define X 1\n", "new.o": "\u{0}\u{1}object",
        ])
        let changes = ChangeSet.compute(attempt: attempt, failed: failed, pushed: ["main.c", "old.c"])
        #expect(changes == [
            FileChange(path: "helper.h", kind: .added),
            FileChange(path: "main.c", kind: .modified),
            FileChange(path: "old.c", kind: .deleted),
        ])
        let diff = ChangeSet.diff(changes, original: failed, attempt: attempt)
        #expect(diff.contains("-int main(void) { return 1; }") && diff.contains("+int main(void) { return 0; }"))
    }

    @Test("anti-cheat rejections", arguments: [
        ("tests/test_add.py", "def test_add():\n    assert add(2, 2) == 4\n", "def test_add():\n    assert add(2, 2) == 0\n", "protected"),
        ("src/add_spec.py", "def test_add():\n    pass\n", "import pytest\n@pytest.mark.skip\ndef test_add():\n    pass\n", "skip"),
        ("src/checks.py", "def test_a():\n    pass\ndef test_b():\n    pass\n", "def test_a():\n    pass\n", "removes test functions"),
        ("checks/test-add.sh", "[ 1 = 2 ]\n", "[ 2 = 2 ]\n", "only expected values"),
        ("test.sh", "[ 1 = 2 ]\n", "[ 2 = 2 ]\n", "rule protected-path: edits test.sh"),
        (".pushbox.yml", "steps: []\n", "steps: [x]\n", "protected"),
    ])
    func rejections(_ path: String, _ before: String, _ after: String, _ reason: String) throws {
        let directory = try TemporaryDirectory(prefix: "anticheat")
        defer { directory.remove() }
        let original = try Self.tree(directory, "original", [path: before])
        let attempt = try Self.tree(directory, "attempt", [path: after])
        let rejection = AntiCheat.check([FileChange(path: path, kind: .modified)], original: original, attempt: attempt,
                                        protected: FixRequest.defaultProtectedPaths)
        #expect(rejection?.description.contains(reason) == true, "\(String(describing: rejection))")
    }

    @Test("a real fix passes; deleting a test file does not")
    func acceptAndDelete() throws {
        let directory = try TemporaryDirectory(prefix: "anticheat")
        defer { directory.remove() }
        let original = try Self.tree(directory, "original", ["add.c": "return a-b;\n", "checks/test-add.sh": "check\n"])
        let attempt = try Self.tree(directory, "attempt", ["add.c": "return a+b;\n"])
        #expect(AntiCheat.check([FileChange(path: "add.c", kind: .modified)], original: original, attempt: attempt,
                                protected: FixRequest.defaultProtectedPaths) == nil)
        let deleted = AntiCheat.check([FileChange(path: "checks/test-add.sh", kind: .deleted)], original: original, attempt: attempt,
                                      protected: FixRequest.defaultProtectedPaths)
        #expect(deleted == Rejection(.testFileDeleted, "deletes or renames the test file checks/test-add.sh"))
    }

    @Test("the log in the task keeps the first error lines and the tail")
    func boundedLog() {
        let log = "error: first thing\n" + String(repeating: "noise line\n", count: 5000) + "the end\n"
        let bounded = AutofixPrompt.boundedLog(log, limit: 2000)
        #expect(bounded.count <= 2100)
        #expect(bounded.contains("error: first thing") && bounded.hasSuffix("the end\n"))
    }
}
