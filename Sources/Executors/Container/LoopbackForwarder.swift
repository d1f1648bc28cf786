import Core
import Foundation
import Logging
import Synchronization

/// A listener on `127.0.0.1:<port>` inside one container's network namespace that connects each
/// accepted connection to a unix socket of the host: `nsenter --target <container pid> --net socat
/// TCP-LISTEN:<port>,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:<host socket>`. `nsenter` switches only
/// the network namespace, so `socat` still sees the host's file system and reaches the socket, while the
/// container (network `none`: only its own `lo`) sees neither the socket nor any other host address.
/// The forwarder runs as the daemon's user, in a session of its own; `stop` ends it and every connection
/// it forked (its process group). Its output goes to `forwarder-<uuid>.log` beside the socket, in the
/// proxy's own directory, which the cleanup of a crashed process removes whole.
package final class LoopbackForwarder: Sendable {
    /// The forwarder's pid (and process group).
    package let pid: pid_t
    package let port: Int
    private let logFile: URL
    private let stopped = Mutex(false)

    /// How long `start` waits for the listener by default.
    package static let startTimeout: Duration = .seconds(10)
    /// How often `start` looks for the listener in the namespace's `/proc/<pid>/net/tcp`.
    static let listenPollInterval: Duration = .milliseconds(20)
    /// After SIGTERM, how long `stop` gives the group before SIGKILL.
    package static let termGrace: Duration = .seconds(1)
    /// After SIGKILL, how long `stop` waits for the group to be gone before it gives up (a process in
    /// uninterruptible sleep); `stop` never takes longer than `termGrace` + `killWait`.
    package static let killWait: Duration = .seconds(5)
    /// How often `stop` looks whether the group is gone.
    static let exitPollInterval: Duration = .milliseconds(10)

    private init(pid: pid_t, port: Int, logFile: URL) {
        self.pid = pid
        self.port = port
        self.logFile = logFile
    }

    /// Where the forwarder into `socketPath` writes its output: beside the socket.
    package static func logFile(socketPath: String) -> URL {
        URL(fileURLWithPath: socketPath).deletingLastPathComponent().appendingPathComponent("forwarder-\(UUID().uuidString).log")
    }

    /// The argument vector after `nsenter` (pure; `LoopbackForwarderTests`).
    package static func arguments(containerPID: Int32, port: Int, socketPath: String, socat: String) -> [String] {
        ["--target", String(containerPID), "--net", "--", socat,
         "TCP-LISTEN:\(port),bind=127.0.0.1,fork,reuseaddr", "UNIX-CONNECT:\(socketPath)"]
    }

    /// Whether `/proc/<pid>/net/tcp` (the table of that process's network namespace) has a socket in
    /// state LISTEN (`0A`) on 127.0.0.1:`port` (`0100007F:<port hex>`).
    package static func isListening(procNetTCP: String, port: Int) -> Bool {
        let local = "0100007F:" + String(format: "%04X", port)
        return procNetTCP.split(separator: "\n").dropFirst().contains { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count > 3 && fields[1] == local && fields[3] == "0A"
        }
    }

    /// What this host lacks to run forwarders (`nsenter`, `socat`, root for entering another namespace);
    /// empty when nothing.
    package static func missingRequirements() -> [String] {
        let environment = ProcessInfo.processInfo.environment
        var missing = ["nsenter", "socat"].filter { LocalProcess.which($0, environment: environment) == nil }
        if geteuid() != 0 { missing.append("root") }
        return missing
    }

    /// Starts the forwarder into the network namespace of `containerPID` and waits (up to `within`) until
    /// it listens. Throws a `SandboxError` that says why when it cannot (no `nsenter`/`socat`, not
    /// permitted, the port taken); nothing is left running then.
    package static func start(containerPID: Int32, port: Int, socketPath: String, within limit: Duration = startTimeout,
                              logger: Logger) async throws -> LoopbackForwarder {
        let environment = ProcessInfo.processInfo.environment
        guard let nsenter = LocalProcess.which("nsenter", environment: environment) else {
            throw SandboxError("nsenter is not installed (util-linux; scripts/setup installs it): the autofix container cannot reach the model proxy")
        }
        guard let socat = LocalProcess.which("socat", environment: environment) else {
            throw SandboxError("socat is not installed (scripts/setup installs it): the autofix container cannot reach the model proxy")
        }
        guard containerPID > 0 else { throw SandboxError("the container engine reported no pid for the container") }
        let logFile = logFile(socketPath: socketPath)
        let pid: pid_t
        do {
            pid = try LocalProcess.spawnDetached(nsenter, arguments(containerPID: containerPID, port: port, socketPath: socketPath, socat: socat),
                                                 logFile: logFile.path)
        } catch {
            try? FileManager.default.removeItem(at: logFile)
            throw SandboxError("cannot start the model proxy forwarder: \(error)")
        }
        let forwarder = LoopbackForwarder(pid: pid, port: port, logFile: logFile)
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            let table = (try? String(contentsOfFile: "/proc/\(containerPID)/net/tcp", encoding: .utf8)) ?? ""
            if isListening(procNetTCP: table, port: port) {
                logger.debug("model proxy forwarder listening", metadata: ["pid": "\(pid)", "container_pid": "\(containerPID)", "port": "\(port)"])
                return forwarder
            }
            guard LocalProcess.isAlive(pid) else { break }
            try? await clock.sleep(for: listenPollInterval)
            if Task.isCancelled { break }
        }
        let output = ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        await forwarder.stop()
        throw SandboxError("the model proxy forwarder (nsenter + socat into the container's network namespace) did not start listening on 127.0.0.1:\(port)"
            + (output.isEmpty ? "" : ": \(output.suffix(500))"))
    }

    /// Ends the forwarder and its forked connections: SIGTERM to the process group — always, also when
    /// the leader has exited already, since the connections it forked stay in the group — then SIGKILL
    /// after `termGrace`. Waits (at most `termGrace` + `killWait`, also in a cancelled task) until the
    /// group is gone, then removes the log. Only the first call does this.
    package func stop() async {
        guard stopped.withLock({ let first = !$0; $0 = true; return first }) else { return }
        kill(-pid, SIGTERM)
        if !Self.waitForGroupExit(pid, within: Self.termGrace) {
            kill(-pid, SIGKILL)
            _ = Self.waitForGroupExit(pid, within: Self.killWait)
        }
        try? FileManager.default.removeItem(at: logFile)
    }

    /// Whether process group `group` is gone within `limit`: no member left (`kill(-group, 0)` fails with
    /// ESRCH; the leader, our child, is reaped on the way). Sleeps with `usleep`, not `Task.sleep`: that
    /// one returns at once in a cancelled task and the loop would spin, and stopping must finish also
    /// when the attempt was cancelled. The thread is blocked for at most `limit`.
    package static func waitForGroupExit(_ group: pid_t, within limit: Duration) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        let (seconds, attoseconds) = exitPollInterval.components
        let pause = useconds_t(seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
        while true {
            var status: Int32 = 0
            _ = waitpid(group, &status, WNOHANG)
            if kill(-group, 0) != 0 && errno == ESRCH { return true }
            if clock.now >= deadline { return false }
            usleep(pause)
        }
    }
}

extension LoopbackForwarder {
    /// Ends forwarders that a process killed before it could stop them left behind: `socat` processes
    /// whose target is a socket `isOrphaned` says belongs to a process that is gone. Returns their pids.
    @discardableResult
    package static func removeOrphans(isOrphaned: (String) -> Bool) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var ended: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(), let argv = LocalProcess.commandLine(pid),
                  let socket = orphanTarget(argv), isOrphaned(socket) else { continue }
            kill(pid, SIGTERM)
            ended.append(pid)
        }
        return ended
    }

    /// The socket of a forwarder's argument vector (`socat TCP-LISTEN:… UNIX-CONNECT:<path>`), nil for any
    /// other process.
    package static func orphanTarget(_ argv: [String]) -> String? {
        guard argv.count == 3, argv[0].hasSuffix("socat"), argv[1].hasPrefix("TCP-LISTEN:"), argv[2].hasPrefix("UNIX-CONNECT:") else { return nil }
        return String(argv[2].dropFirst("UNIX-CONNECT:".count))
    }
}

extension ContainerSandbox {
    /// A `LoopbackForwarder` into this (started) container's network namespace, its pid from the engine.
    package func startLoopbackForwarder(port: Int, socketPath: String, logger: Logger) async throws -> LoopbackForwarder {
        let pid: Int32
        do {
            pid = try await engine.containerPID(id)
        } catch {
            throw SandboxError("cannot find the container's process for the model proxy forwarder: \(error)")
        }
        return try await LoopbackForwarder.start(containerPID: pid, port: port, socketPath: socketPath, logger: logger)
    }
}
