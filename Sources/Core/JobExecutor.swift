import Foundation
import Logging

/// Everything an executor needs to set up the isolated environment of one run.
/// A host directory made visible inside a run's sandbox (a cache directory).
package struct RunMount: Sendable, Equatable {
    /// Existing directory on the host, owned by the step user (uid 1000).
    package var hostPath: String
    /// Absolute path in the sandbox, under the step user's home or `/workspace`.
    package var sandboxPath: String
    package var readOnly: Bool

    package init(hostPath: String, sandboxPath: String, readOnly: Bool = false) {
        self.hostPath = hostPath
        self.sandboxPath = sandboxPath
        self.readOnly = readOnly
    }
}

package struct RunSpec: Sendable, Equatable {
    package var runID: Int64
    /// Image reference, e.g. `pushbox/debian:bookworm`.
    package var image: String
    /// Host directory mounted read-write at `/workspace`.
    package var workspace: URL
    /// Environment for every step (already merged: pipeline `env`, secrets, CI variables).
    package var environment: [String: String]
    package var resources: Resources
    package var network: NetworkMode
    /// Labels that let a restarted daemon find what it left behind.
    package var labels: [String: String]
    /// Extra directories (the run's caches), mounted after the workspace.
    package var mounts: [RunMount] = []

    package init(runID: Int64, image: String, workspace: URL, environment: [String: String] = [:],
                 resources: Resources = Resources(), network: NetworkMode = .none, labels: [String: String] = [:]) {
        self.runID = runID
        self.image = image
        self.workspace = workspace
        self.environment = environment
        self.resources = resources
        self.network = network
        self.labels = labels
    }
}

/// Runs steps inside an isolated environment: a container, a QEMU guest, a VirtualBox guest.
///
/// One instance serves many runs at once; each run gets its own `Sandbox`.
/// Lifecycle: `makeSandbox` → `Sandbox.run`… → `Sandbox.destroy`. `destroy` is idempotent and always
/// called (use `withSandbox`).
package protocol JobExecutor: Sendable {
    /// Stable lowercase identifier: "container", "qemu", "virtualbox".
    var name: String { get }
    /// Whether the backing engine or tool answers on this host. Cheap, no side effects.
    func isAvailable() async -> Bool
    /// Creates the sandbox for `run`. Throws `SandboxError` for infrastructure trouble.
    func makeSandbox(for run: RunSpec, logger: Logger) async throws -> any Sandbox
}

/// One isolated environment, owned by exactly one run.
package protocol Sandbox: Sendable {
    /// Identifier of the environment (container id, VM name) for metadata.
    var id: String { get }
    /// Runs `step` with `/bin/sh -c`, streaming its output to `log`, and returns how it exited.
    /// Cancelling the calling task stops the step and everything it started; the result is then
    /// whatever the process reported, or `CancellationError` is thrown.
    func run(_ step: Step, log: any LogSink) async throws -> ExitStatus
    /// Removes everything `makeSandbox` created. Idempotent; safe after any failure.
    func destroy() async
}

extension JobExecutor {
    /// Scoped use that guarantees `destroy()` (Swift rejects `await` inside `defer`).
    package func withSandbox<R: Sendable>(
        for run: RunSpec, logger: Logger, _ body: (any Sandbox) async throws -> R
    ) async throws -> R {
        let sandbox = try await makeSandbox(for: run, logger: logger)
        do {
            let result = try await body(sandbox)
            await sandbox.destroy()
            return result
        } catch {
            await sandbox.destroy()
            throw error
        }
    }
}

/// Infrastructure trouble an executor reports; the run ends `error` with this message.
package struct SandboxError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}
