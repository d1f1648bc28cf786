import Foundation
import HTTP
import Logging
import Synchronization

/// Where a Docker-compatible engine listens: a unix socket.
package struct EngineEndpoint: Sendable, Equatable, CustomStringConvertible {
    package var socketPath: String

    package init(socketPath: String) { self.socketPath = socketPath }

    /// Parses `unix:///path/to.sock` (the form of `$DOCKER_HOST` and of the runner config's `engine:`).
    package init(url: String) throws {
        guard url.hasPrefix("unix://"), url.count > "unix://".count else {
            throw EngineDiscoveryError("container engine address \(url) is not supported: use unix:///path/to/engine.sock")
        }
        socketPath = String(url.dropFirst("unix://".count))
    }

    package var description: String { "unix://\(socketPath)" }

    /// Docker's and rootful Podman's usual sockets, in the order they are tried.
    package static let standardSockets = [
        EngineEndpoint(socketPath: "/var/run/docker.sock"),
        EngineEndpoint(socketPath: "/run/podman/podman.sock"),
    ]
}

/// Why no engine could be found or started; the message says what to do.
package struct EngineDiscoveryError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// The engine Pushbox talks to, and the Podman service it started (or adopted) for it, if any.
package struct ResolvedEngine: Sendable {
    package var endpoint: EngineEndpoint
    package var client: DockerEngineClient
    package var flavor: EngineFlavor
    /// Set when Pushbox runs its own `podman system service`; call `stop()` at shutdown.
    package var service: PrivatePodmanService?
}

/// Finds the container engine:
/// 1. `setting` (the runner config's `engine:`) when it is a `unix://` address, else `$DOCKER_HOST`: that
///    engine only, and an error when it does not answer (an explicit choice is not silently replaced);
/// 2. otherwise the first standard socket whose `GET /_ping` answers;
/// 3. otherwise, when `podman` is on `PATH`, a private `podman system service` on
///    `<serviceDirectory>/engine.sock` (reusing one a previous daemon left running).
package enum EngineDiscovery {
    package static let noEngineHint = "no container engine: install podman (scripts/setup) or set DOCKER_HOST"

    package static func resolve(
        setting: String = "auto", environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceDirectory: URL, logger: Logger
    ) async throws -> ResolvedEngine {
        if let explicit = try explicitEndpoint(setting: setting, environment: environment) {
            let client = DockerEngineClient(socketPath: explicit.endpoint.socketPath)
            do {
                let ping = try await client.ping()
                return ResolvedEngine(endpoint: explicit.endpoint, client: client, flavor: ping.flavor, service: nil)
            } catch {
                throw EngineDiscoveryError("the container engine at \(explicit.endpoint) (\(explicit.source)) does not answer: \(error)")
            }
        }
        for endpoint in EngineEndpoint.standardSockets where FileManager.default.fileExists(atPath: endpoint.socketPath) {
            let client = DockerEngineClient(socketPath: endpoint.socketPath)
            if let ping = try? await client.ping() {
                logger.debug("container engine found", metadata: ["endpoint": "\(endpoint)", "flavor": "\(ping.flavor)"])
                return ResolvedEngine(endpoint: endpoint, client: client, flavor: ping.flavor, service: nil)
            }
            logger.debug("container engine socket does not answer", metadata: ["endpoint": "\(endpoint)"])
        }
        guard let podman = LocalProcess.which("podman", environment: environment) else {
            throw EngineDiscoveryError(noEngineHint)
        }
        let service = PrivatePodmanService(directory: serviceDirectory, podmanPath: podman)
        let endpoint = try await service.start(logger: logger)
        let client = DockerEngineClient(socketPath: endpoint.socketPath)
        return ResolvedEngine(endpoint: endpoint, client: client, flavor: .podman, service: service)
    }

    /// The endpoint named by configuration or `$DOCKER_HOST`, if any (pure).
    package static func explicitEndpoint(setting: String, environment: [String: String]) throws
        -> (endpoint: EngineEndpoint, source: String)?
    {
        let trimmed = setting.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty && trimmed != "auto" {
            return (try EngineEndpoint(url: trimmed), "engine: in pushbox.yml")
        }
        if let host = environment["DOCKER_HOST"], !host.isEmpty {
            do {
                return (try EngineEndpoint(url: host), "DOCKER_HOST")
            } catch {
                throw EngineDiscoveryError("DOCKER_HOST=\(host) is not supported: Pushbox talks to engines on unix sockets only (unix:///path)")
            }
        }
        return nil
    }
}

/// A `podman system service` that Pushbox runs for itself when no engine socket answers. It listens on
/// `<directory>/engine.sock`, its pid is in `<directory>/engine.pid` and its output in
/// `<directory>/engine.log`. It runs in its own session and outlives a crashed daemon: the next `start()`
/// adopts it when it still answers, and cleans up its files when it is dead.
package final class PrivatePodmanService: Sendable {
    package let directory: URL
    package let podmanPath: String
    private let ownedPID = Mutex<pid_t?>(nil)

    package var socketPath: String { directory.appendingPathComponent("engine.sock").path }
    package var pidFile: URL { directory.appendingPathComponent("engine.pid") }
    package var logFile: URL { directory.appendingPathComponent("engine.log") }
    package var endpoint: EngineEndpoint { EngineEndpoint(socketPath: socketPath) }
    /// The service's pid while this object owns it.
    package var pid: pid_t? { ownedPID.withLock { $0 } }

    package init(directory: URL, podmanPath: String) {
        self.directory = directory
        self.podmanPath = podmanPath
    }

    /// Adopts a live service left by a previous daemon, or starts one; returns when `/_ping` answers.
    package func start(logger: Logger, readyTimeout: Duration = .seconds(30)) async throws -> EngineEndpoint {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let client = DockerEngineClient(socketPath: socketPath)

        if let previous = readPIDFile() {
            if isOurService(previous), (try? await client.ping()) != nil {
                ownedPID.withLock { $0 = previous }
                logger.info("reusing the podman service a previous daemon started", metadata: ["pid": "\(previous)"])
                return endpoint
            }
            if isOurService(previous) {
                // Alive but not answering: it is ours and useless, replace it.
                logger.warning("podman service does not answer; restarting it", metadata: ["pid": "\(previous)"])
                await LocalProcess.terminate(previous, grace: .seconds(5))
            } else {
                logger.debug("removing stale podman service files", metadata: ["pid": "\(previous)"])
            }
        }
        try? FileManager.default.removeItem(at: pidFile)
        try? FileManager.default.removeItem(atPath: socketPath)

        // Run it in `directory`: conmon writes files such as `oom` into its working directory when a job
        // is OOM-killed, which must not be wherever the daemon happened to be started. `exec` keeps the pid.
        let pid = try LocalProcess.spawnDetached(
            "/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", directory.path,
                        podmanPath, "system", "service", "--time=0", "unix://\(socketPath)"], logFile: logFile.path)
        ownedPID.withLock { $0 = pid }
        try Data("\(pid)\n".utf8).write(to: pidFile, options: .atomic)
        logger.info("started podman service", metadata: ["pid": "\(pid)", "socket": "\(socketPath)"])

        let clock = ContinuousClock()
        let deadline = clock.now + readyTimeout
        while clock.now < deadline {
            if (try? await client.ping(timeout: .seconds(2))) != nil { return endpoint }
            guard LocalProcess.isAlive(pid) else {
                ownedPID.withLock { $0 = nil }
                try? FileManager.default.removeItem(at: pidFile)
                throw EngineDiscoveryError("podman system service exited at start: \(logTail()) (see \(logFile.path))")
            }
            try await clock.sleep(for: .milliseconds(50))
        }
        await stop()
        throw EngineDiscoveryError("podman system service did not answer within \(readyTimeout): \(logTail()) (see \(logFile.path))")
    }

    /// SIGTERM, then SIGKILL after `grace`, by pid; removes the pid file and the socket. Idempotent.
    package func stop(grace: Duration = .seconds(5)) async {
        let owned = ownedPID.withLock { value in
            let current = value
            value = nil
            return current
        }
        guard let pid = owned else { return }
        await LocalProcess.terminate(pid, grace: grace)
        if readPIDFile() == pid { try? FileManager.default.removeItem(at: pidFile) }
        try? FileManager.default.removeItem(atPath: socketPath)
    }

    private func readPIDFile() -> pid_t? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Guards against pid reuse: the process must be a podman serving our socket.
    private func isOurService(_ pid: pid_t) -> Bool {
        guard LocalProcess.isAlive(pid), let argv = LocalProcess.commandLine(pid) else { return false }
        return argv.first.map { $0.hasSuffix("podman") } == true && argv.contains("unix://\(socketPath)")
    }

    private func logTail() -> String {
        guard let data = FileManager.default.contents(atPath: logFile.path) else { return "no output" }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(3)
        return lines.isEmpty ? "no output" : lines.joined(separator: " | ")
    }
}
