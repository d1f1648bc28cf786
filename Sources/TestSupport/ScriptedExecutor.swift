import Core
import Foundation
import Logging
import Synchronization

/// A `JobExecutor` for tests of the orchestration, scripted by the step's command (as woodpecker's dummy
/// backend): `exit N` exits N, `sleep S` waits S seconds (cancellable), `echo TEXT` writes TEXT. It checks
/// the contract as it goes: no step after `destroy`, `destroy` always called (see `undestroyed`).
package final class ScriptedExecutor: JobExecutor, @unchecked Sendable {
    package let name = "scripted"
    private let state = Mutex<(made: Int, destroyed: Int, violations: [String])>((0, 0, []))

    package init() {}

    package func isAvailable() async -> Bool { true }

    package func makeSandbox(for run: RunSpec, logger: Logger) async throws -> any Sandbox {
        if run.image == "missing" { throw SandboxError("image missing is not present; build it with `pushbox image build`") }
        state.withLock { $0.made += 1 }
        return ScriptedSandbox(id: "scripted-\(run.runID)", owner: self)
    }

    /// Sandboxes made but never destroyed.
    package var undestroyed: Int { state.withLock { $0.made - $0.destroyed } }
    package var violations: [String] { state.withLock { $0.violations } }

    fileprivate func destroyed() { state.withLock { $0.destroyed += 1 } }
    fileprivate func violation(_ text: String) { state.withLock { $0.violations.append(text) } }
}

final class ScriptedSandbox: Sandbox, @unchecked Sendable {
    let id: String
    private let owner: ScriptedExecutor
    private let gone = Mutex(false)

    init(id: String, owner: ScriptedExecutor) {
        self.id = id
        self.owner = owner
    }

    func run(_ step: Step, log: any LogSink) async throws -> ExitStatus {
        if gone.withLock({ $0 }) { owner.violation("step \(step.name) ran after destroy") }
        for command in step.run.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if command.hasPrefix("echo ") {
                await log.write(Data((command.dropFirst(5) + "\n").utf8), from: .stdout)
            } else if command.hasPrefix("sleep "), let seconds = Double(command.dropFirst(6)) {
                try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            } else if command.hasPrefix("exit "), let code = Int32(command.dropFirst(5)) {
                return ExitStatus(code: code)
            }
        }
        return .success
    }

    func destroy() async {
        let first = gone.withLock { wasGone in
            defer { wasGone = true }
            return !wasGone
        }
        if first { owner.destroyed() }
    }
}
