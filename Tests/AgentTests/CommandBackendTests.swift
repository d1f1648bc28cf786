@testable import Agent
import Foundation
import Testing

/// The `command` backend's shell line, run by a real /bin/sh.
@Suite("command backend line")
struct CommandBackendTests {
    static func run(_ command: String, prompt: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", CommandBackend.commandLine(command)]
        process.environment = ["PATH": "/usr/bin:/bin", "PUSHBOX_PROMPT": prompt]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("one line, and a script of several lines ending in a comment, both get the task on stdin and no PUSHBOX_PROMPT")
    func lines() throws {
        let one = try Self.run(#"read -r first; echo "got $first ${PUSHBOX_PROMPT:-unset}""#, prompt: "fix it\nplease")
        #expect(one.status == 0 && one.output == "got fix it unset\n", "\(one)")
        let script = """
            # a fixer given as a YAML block
            task=$(cat)
            echo "lines: $(printf '%s\\n' "$task" | wc -l)"
            exit 3
            # trailing comment
            """
        let many = try Self.run(script + "\n", prompt: "a\nb")
        #expect(many.status == 3 && many.output.trimmingCharacters(in: .whitespacesAndNewlines) == "lines: 2", "\(many)")
        #expect(CommandBackend(command: script, executor: NoExecutor()).model == "command: # a fixer given as a YAML block")
    }
}

import Core
import Logging

/// An executor that is never asked for a sandbox here.
struct NoExecutor: JobExecutor {
    var name: String { "none" }
    func isAvailable() async -> Bool { false }
    func makeSandbox(for run: RunSpec, logger: Logger) async throws -> any Sandbox { throw SandboxError("no sandbox in this test") }
}
