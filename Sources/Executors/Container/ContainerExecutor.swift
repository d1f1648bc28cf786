import Core
import Foundation
import HTTP
import Logging
import Synchronization

/// Runs a run's steps in one container of a Docker-compatible engine (Docker, or Podman's service).
///
/// `makeSandbox` creates and starts one locked-down container per run (see `ContainerSpec.createBody`):
/// PID 1 sleeps, and each step is an exec of `/bin/sh -c <run>` as uid 1000 in `/workspace`.
package struct ContainerExecutor: JobExecutor {
    package let name = "container"
    package let engine: DockerEngineClient
    package let flavor: EngineFlavor
    /// Added to every container (beside `pushbox.managed=1`), e.g. `pushbox.home=<path>`, and used to
    /// find this daemon's leftovers in `removeOrphans`.
    package let labels: [String: String]

    package init(engine: DockerEngineClient, flavor: EngineFlavor, labels: [String: String] = [:]) {
        self.engine = engine
        self.flavor = flavor
        self.labels = labels
    }

    package func isAvailable() async -> Bool {
        (try? await engine.ping()) != nil
    }

    package func makeSandbox(for run: RunSpec, logger: Logger) async throws -> any Sandbox {
        try await makeContainerSandbox(for: run, logger: logger)
    }

    /// `makeSandbox` with the concrete type, for callers and tests that want the container id.
    package func makeContainerSandbox(for run: RunSpec, logger: Logger) async throws -> ContainerSandbox {
        var logger = logger
        logger[metadataKey: "run"] = "\(run.runID)"
        var run = run
        run.labels.merge(labels) { own, _ in own }
        guard !run.workspace.path.contains(":") else {
            // `Binds` is "source:target:options"; a colon in the source would be misread.
            throw SandboxError("the workspace path \(run.workspace.path) contains ':', which a container bind mount cannot express")
        }
        Self.handOverWorkspace(run.workspace, logger: logger)
        if run.network == .egress {
            do {
                try await EgressNetwork.ensure(engine: engine)
            } catch {
                throw SandboxError("network: egress refused: cannot keep the job away from the host and link-local addresses: \(error)")
            }
        }

        let name = "pushbox-run-\(run.runID)-\(UInt32.random(in: 0...UInt32.max).hex)"
        let body = ContainerSpec.createBody(for: run, engine: flavor)
        let id: String
        do {
            id = try await engine.createContainer(body: body, name: name)
        } catch let error as EngineAPIError where error.status == 404 && error.message.lowercased().contains("image") {
            throw SandboxError("image \(run.image) is not present; build it with `pushbox image build \(run.image)` (`pushbox image list` shows the definitions), or name an image the engine has")
        } catch {
            if Task.isCancelled {
                // The engine may have created it before the request was dropped: remove it by name.
                await ContainerSandbox.forceRemove(name, engine: engine, logger: logger)
                throw CancellationError()
            }
            throw SandboxError("could not create the container for run \(run.runID): \(error)")
        }
        let sandbox = ContainerSandbox(id: id, name: name, engine: engine, logger: logger)
        do {
            try await engine.startContainer(id)
        } catch {
            await sandbox.destroy()
            if Task.isCancelled { throw CancellationError() }
            throw SandboxError("could not start the container for run \(run.runID): \(error)")
        }
        logger.debug("container started", metadata: ["container": "\(name)", "id": "\(id.prefix(12))"])
        return sandbox
    }

    /// Removes containers labelled `pushbox.managed=1` (and this executor's `labels`) that a crashed daemon,
    /// or runs the engine's loss ended, left behind; those of `keeping` (runs executing now) stay. Call at
    /// startup, before any run, and when the engine answers again. Returns how many were removed.
    @discardableResult
    package func removeOrphans(logger: Logger, keeping: Set<Int64> = []) async throws -> Int {
        let filter = ["\(ContainerSpec.managedLabel)=1"] + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var removed = 0
        for container in try await engine.listContainers(labels: filter) {
            if let run = container.labels[ContainerSpec.runLabel].flatMap(Int64.init), keeping.contains(run) { continue }
            logger.info("removing leftover container", metadata: [
                "container": "\(container.names.first ?? container.id)", "run": "\(container.labels[ContainerSpec.runLabel] ?? "?")",
            ])
            if try await engine.removeContainer(container.id, force: true) { removed += 1 }
        }
        return removed
    }

    /// Steps run as uid 1000: give it the checkout. Best effort, a workspace it cannot write shows up as the
    /// step's own "Permission denied".
    static func handOverWorkspace(_ workspace: URL, logger: Logger) {
        let root = workspace.path
        var failures = 0
        if lchown(root, 1000, 1000) != 0 { failures += 1 }
        if let walker = FileManager.default.enumerator(atPath: root) {
            while let relative = walker.nextObject() as? String {
                if lchown(root + "/" + relative, 1000, 1000) != 0 { failures += 1 }
            }
        }
        if failures > 0 {
            logger.warning("could not give the workspace to uid 1000", metadata: ["workspace": "\(root)", "failures": "\(failures)"])
        }
    }
}

/// One run's container. `run` execs each step; `destroy` force-removes the container.
package final class ContainerSandbox: Sandbox {
    /// The engine's container id.
    package let id: String
    /// The container's name (`pushbox-run-<run>-<random>`).
    package let name: String
    let engine: DockerEngineClient
    private let logger: Logger
    private let removed = Mutex(false)

    init(id: String, name: String, engine: DockerEngineClient, logger: Logger) {
        self.id = id
        self.name = name
        self.engine = engine
        self.logger = logger
    }

    package func run(_ step: Step, log: any LogSink) async throws -> ExitStatus {
        do {
            let exec = try await engine.createExec(container: id, body: ContainerSpec.execBody(command: step.run))
            let output = try await engine.startExec(exec)
            var decoder = DockerLogDecoder()
            for try await data in output {
                for chunk in decoder.feed(data) { await log.write(chunk.bytes, from: chunk.stream) }
            }
            for chunk in decoder.finish() { await log.write(chunk.bytes, from: chunk.stream) }
            // The output stream ends quietly when this task is cancelled.
            try Task.checkCancellation()
            return ExitStatus(code: try await exitCode(of: exec))
        } catch {
            if Task.isCancelled {
                await killContainer()
                throw CancellationError()
            }
            if error is SandboxError { throw error }
            throw SandboxError("step \(step.name): the container engine failed: \(error)")
        }
    }

    /// The exec's exit code. The output ends a moment before the engine records the exit, so poll briefly.
    private func exitCode(of exec: String) async throws -> Int32 {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while true {
            let state = try await engine.inspectExec(exec)
            if !state.running, let code = state.exitCode { return code }
            guard clock.now < deadline else {
                throw SandboxError("the container engine did not report the exit code of exec \(exec.prefix(12))")
            }
            try await clock.sleep(for: .milliseconds(20))
        }
    }

    /// Kills every process of the container (its PID 1 and all steps), outside the cancelled task so that
    /// the request is not itself cancelled.
    private func killContainer() async {
        let engine = engine, id = id, logger = logger
        await Task.detached {
            do {
                try await engine.killContainer(id)
            } catch {
                logger.warning("could not kill the container", metadata: ["id": "\(id.prefix(12))", "error": "\(error)"])
            }
        }.value
    }

    package func destroy() async {
        guard !removed.withLock({ $0 }) else { return }
        if await Self.forceRemove(id, engine: engine, logger: logger) {
            removed.withLock { $0 = true }
        }
    }

    /// `DELETE /containers/{id}?force=1`, detached from the calling task: removal typically happens in a task
    /// that is being cancelled, and must not be cancelled with it. True when the container is gone.
    @discardableResult
    static func forceRemove(_ idOrName: String, engine: DockerEngineClient, logger: Logger) async -> Bool {
        await Task.detached { () -> Bool in
            do {
                try await engine.removeContainer(idOrName, force: true)
                return true
            } catch {
                logger.error("could not remove the container", metadata: ["container": "\(idOrName.prefix(12))", "error": "\(error)"])
                return false
            }
        }.value
    }
}

private extension UInt32 {
    var hex: String {
        let digits = String(self, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }
}
