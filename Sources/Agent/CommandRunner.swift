import Core
import Foundation
import Logging

/// Runs one shell command for the agent's `run_command` tool, inside the attempt's isolated environment
/// (the container of the run's image with the attempt workspace, same hardening and limits).
///
/// Contract: runs `command` with `/bin/sh -c` in the workspace directory; stops it (and what it started)
/// once `timeout` has passed and reports `timedOut`; returns the exit code and the last `outputLimit`
/// bytes of stdout and stderr interleaved as they arrived. A command that fails is a result, not an error:
/// throw only when the environment itself is broken (`SandboxError`) or for `CancellationError`.
package protocol CommandRunner: Sendable {
    func run(command: String, timeout: Duration, outputLimit: Int, logger: Logger) async throws -> CommandResult
}

/// How a command ended and the tail of its output.
package struct CommandResult: Sendable, Equatable {
    package var exitCode: Int32
    package var timedOut: Bool
    /// The last bytes of the output (at most the limit asked for).
    package var output: Data
    /// Bytes of output the command produced in total.
    package var totalOutputBytes: Int

    package init(exitCode: Int32, timedOut: Bool = false, output: Data, totalOutputBytes: Int? = nil) {
        self.exitCode = exitCode
        self.timedOut = timedOut
        self.output = output
        self.totalOutputBytes = totalOutputBytes ?? output.count
    }
}

/// `CommandRunner` over a `Sandbox` (e.g. the attempt's container): each command is one `Step`.
///
/// The command is wrapped in coreutils `timeout` so that the sandbox's process is stopped inside the
/// environment and the sandbox stays usable (cancelling `Sandbox.run` may tear the whole environment down).
/// The calling task is also given the timeout plus `grace`, after which `Sandbox.run` is cancelled, for
/// images without `timeout`.
package struct SandboxCommandRunner: CommandRunner {
    package let sandbox: any Sandbox
    package let stepName: String
    package let useTimeoutUtility: Bool
    package let grace: Duration

    package init(sandbox: any Sandbox, stepName: String = "autofix-command", useTimeoutUtility: Bool = true,
                 grace: Duration = .seconds(15)) {
        self.sandbox = sandbox
        self.stepName = stepName
        self.useTimeoutUtility = useTimeoutUtility
        self.grace = grace
    }

    /// `timeout --kill-after=5 <s> /bin/sh -c '<command>'`, quoted for `/bin/sh -c`. Pure.
    package static func wrappedCommand(_ command: String, timeout: Duration) -> String {
        let secondsText = String(max(1, Int(seconds(timeout).rounded(.up))))
        return "timeout --kill-after=5 \(secondsText) /bin/sh -c \(shellQuoted(command))"
    }

    package static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    package func run(command: String, timeout: Duration, outputLimit: Int, logger: Logger) async throws -> CommandResult {
        let sink = TailSink(limit: outputLimit)
        let step = Step(name: stepName, run: useTimeoutUtility ? Self.wrappedCommand(command, timeout: timeout) : command)
        let sandbox = sandbox
        let clock = ContinuousClock()
        let started = clock.now
        let status: ExitStatus? = try await withThrowingTaskGroup(of: ExitStatus?.self) { group in
            group.addTask { try await sandbox.run(step, log: sink) }
            group.addTask {
                try await clock.sleep(for: timeout + (useTimeoutUtility ? grace : .zero))
                return nil
            }
            defer { group.cancelAll() }
            // The first child to finish decides: the step's status, or nil for the deadline.
            guard let first = try await group.next() else { return nil }
            return first
        }
        let (output, total) = await sink.contents()
        guard let status else {
            logger.notice("agent command timed out", metadata: ["timeout_s": "\(seconds(timeout))"])
            return CommandResult(exitCode: 124, timedOut: true, output: output, totalOutputBytes: total)
        }
        let elapsed = started.duration(to: clock.now)
        // coreutils `timeout` exits 124 (TERM worked) or 137 (KILL was needed) when it stopped the command.
        let timedOut = status.timedOut || (useTimeoutUtility && [124, 137].contains(status.code) && elapsed >= timeout)
        return CommandResult(exitCode: status.code, timedOut: timedOut, output: output, totalOutputBytes: total)
    }
}

/// Keeps the last `limit` bytes written, and counts all of them.
package actor TailSink: LogSink {
    private let limit: Int
    private var buffer = Data()
    private var total = 0

    package init(limit: Int) { self.limit = max(0, limit) }

    package func write(_ bytes: Data, from stream: LogStream) async {
        total += bytes.count
        buffer.append(bytes)
        if buffer.count > 2 * limit + 4096 { buffer = Data(buffer.suffix(limit)) }
    }

    package func contents() -> (Data, Int) { (Data(buffer.suffix(limit)), total) }
}

/// `run_command {command, timeout_seconds?}`: runs a shell command in the attempt's environment.
package struct RunCommandTool: AgentTool {
    let runner: any CommandRunner
    let limits: ToolLimits

    package init(runner: any CommandRunner, limits: ToolLimits = ToolLimits()) {
        self.runner = runner
        self.limits = limits
    }

    package var definition: ToolDefinition {
        ToolDefinition(
            name: "run_command",
            description: "Run a shell command (/bin/sh -c) in the workspace directory, inside the same container image as the pipeline (no network). Returns the exit code and the last \(limits.commandOutputTail >> 10) KiB of output. Use it to build and run the tests.",
            inputSchema: objectSchema([
                ("command", "string", "The shell command line."),
                ("timeout_seconds", "integer", "Time limit in seconds; default \(Int(seconds(limits.defaultCommandTimeout))), at most \(Int(seconds(limits.maxCommandTimeout)))."),
            ], required: ["command"]))
    }

    package func run(_ input: JSONValue, logger: Logger) async throws -> ToolOutput {
        try input.checkObject()
        let command = try input.requiredString("command")
        guard !command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ToolFailure("command must not be empty") }
        var timeout = limits.defaultCommandTimeout
        if let requested = try input.optionalInt("timeout_seconds") {
            guard requested > 0 else { throw ToolFailure("timeout_seconds must be positive") }
            timeout = min(.seconds(requested), limits.maxCommandTimeout)
        }
        let result = try await runner.run(command: command, timeout: timeout, outputLimit: limits.commandOutputTail, logger: logger)
        var text = result.timedOut
            ? "timed out after \(Int(seconds(timeout))) s (exit code \(result.exitCode))\n"
            : "exit code: \(result.exitCode)\n"
        if result.totalOutputBytes > result.output.count {
            text += "[output: last \(result.output.count) of \(result.totalOutputBytes) bytes]\n"
        }
        text += result.output.isEmpty ? "(no output)" : String(decoding: result.output, as: UTF8.self)
        return ToolOutput(text, isError: result.exitCode != 0 || result.timedOut)
    }
}
