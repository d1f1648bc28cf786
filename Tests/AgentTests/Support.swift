@testable import Agent
import Core
import Foundation
import Logging
import Synchronization
import TestSupport

/// A quiet logger for tests.
func testLogger() -> Logger {
    var logger = Logger(label: "agent-tests")
    logger.logLevel = .critical
    return logger
}

/// Starts a fake API server for `body` and always stops it.
func withFakeServer<T: Sendable>(apiKey: String = "sk-ant-test-0123456789", _ body: (FakeAnthropicServer) async throws -> T) async throws -> T {
    let server = try await FakeAnthropicServer.start(apiKey: apiKey)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// A temporary directory for `body`, always removed.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = try TemporaryDirectory(prefix: "pushbox-agent")
    defer { directory.remove() }
    return try await body(directory.url)
}

/// Retry time that does not pass: sleeps return at once and are recorded, and `uptime` advances by what
/// was slept, so the total-time cap behaves as if the waits were real. `random` is fixed.
final class FakeTime: Sendable {
    private let state = Mutex<(slept: [Duration], uptime: Duration)>(([], .zero))
    let randomValue: Double
    let now: Date

    init(random: Double = 0, now: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        randomValue = random
        self.now = now
    }

    var slept: [Duration] { state.withLock { $0.slept } }

    var timing: RetryTiming {
        RetryTiming(
            sleep: { duration in self.state.withLock { $0.slept.append(duration); $0.uptime += duration } },
            uptime: { self.state.withLock { $0.uptime } },
            now: { self.now },
            random: { self.randomValue })
    }
}

func client(_ server: FakeAnthropicServer, apiKey: String? = nil, retry: RetryPolicy = RetryPolicy(), time: FakeTime,
            requestTimeout: Duration = .seconds(30)) -> AnthropicClient {
    AnthropicClient(baseURL: server.baseURL, apiKey: apiKey ?? server.apiKey, retry: retry, requestTimeout: requestTimeout,
                    connectTimeout: .seconds(5), timing: time.timing, logger: testLogger())
}

func simpleRequest(_ text: String = "Hello") -> MessageRequest {
    MessageRequest(model: "claude-sonnet-5-5", maxTokens: 1024, messages: [.user(text)])
}

/// Milliseconds of a Duration, rounded, for readable assertions.
func milliseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return seconds * 1000 + (attoseconds + 500_000_000_000_000) / 1_000_000_000_000_000
}

/// Runs `body` on a thread of its own, so that blocking calls (reading a pipe, waiting for a process) do
/// not hold one of the few threads of the cooperative pool, which the fake server also needs.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// Runs steps with `/bin/sh -c` on this host in `directory`: a stand-in for the container sandbox, for
/// tests of `SandboxCommandRunner` and `run_command`. Foundation starts the shell as the leader of a new
/// process group; cancelling `run` kills the whole group, like the container sandbox stops everything a step started.
struct LocalShellSandbox: Sandbox {
    let id = "local-shell"
    let directory: URL

    /// Holds the non-Sendable Foundation objects of one process; the cancellation handler only reads the pid.
    final class Handle: @unchecked Sendable {
        let process = Foundation.Process()
        let pipe = Pipe()
    }

    func run(_ step: Step, log: any LogSink) async throws -> ExitStatus {
        let handle = Handle()
        handle.process.executableURL = URL(fileURLWithPath: "/bin/sh")
        handle.process.arguments = ["-c", step.run]
        handle.process.currentDirectoryURL = directory
        handle.process.standardOutput = handle.pipe
        handle.process.standardError = handle.pipe
        try handle.process.run()
        let pid = handle.process.processIdentifier
        return try await withTaskCancellationHandler {
            let (output, status) = await onOwnThread { () -> (Data, Int32) in
                let output = handle.pipe.fileHandleForReading.readDataToEndOfFile()
                handle.process.waitUntilExit()
                return (output, handle.process.terminationStatus)
            }
            if !output.isEmpty { await log.write(output, from: .stdout) }
            try Task.checkCancellation()
            return ExitStatus(code: status)
        } onCancel: {
            kill(-pid, SIGKILL)
        }
    }

    func destroy() async {}
}

/// A `CommandRunner` that answers from a closure and records the commands.
final class ScriptedRunner: CommandRunner {
    private let commands = Mutex<[String]>([])
    let answer: @Sendable (String) -> CommandResult

    init(answer: @escaping @Sendable (String) -> CommandResult = { _ in CommandResult(exitCode: 0, output: Data("ok\n".utf8)) }) {
        self.answer = answer
    }

    var received: [String] { commands.withLock { $0 } }

    func run(command: String, timeout: Duration, outputLimit: Int, logger: Logger) async throws -> CommandResult {
        commands.withLock { $0.append(command) }
        return answer(command)
    }
}

/// The request bodies the fake recorded, parsed.
func recordedBodies(_ server: FakeAnthropicServer) -> [FakeJSON] {
    server.requests.compactMap(\.json)
}
