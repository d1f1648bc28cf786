import Agent
import Core
import Executors
import Foundation
import Logging
import ModelProxy
import Synchronization

/// The `ModelGateway` of container attempts: a session of this process's `ModelProxy` (its token in the
/// container's environment) plus a `LoopbackForwarder` on `127.0.0.1:containerPort` inside the attempt's
/// container that leads to the proxy's unix socket.
struct ContainerModelGateway: ModelGateway {
    /// Where the forwarder listens inside every attempt container (each has its own `lo`).
    static let containerPort = 4180
    let proxy: ModelProxy

    func openSession(budget: ModelSessionBudget, logger: Logger) async throws -> any ModelGatewaySession {
        let (id, token) = proxy.openSession(budget: budget)
        return ContainerModelSession(proxy: proxy, id: id, token: token)
    }

    /// The socket of this process's proxy in `home`: `model-proxy-<pid>/api.sock`, one per process because
    /// a foreground `pushbox run` may run beside the daemon, in a directory of its own that `ModelProxy`
    /// creates with mode 0700 (the socket is never reachable by others, not even between bind and chmod)
    /// and that also holds the forwarders' logs. With a home so long that the path passes
    /// `ModelProxy.maxSocketPathBytes` (107) the proxy does not start, and the backends that need it skip
    /// autofix saying so.
    static func socketPath(home: RunnerHome, pid: pid_t = getpid()) -> String {
        directory(home: home, pid: pid).appendingPathComponent(socketName).path
    }

    static let directoryPrefix = "model-proxy-"
    static let socketName = "api.sock"

    static func directory(home: RunnerHome, pid: pid_t) -> URL {
        home.root.appendingPathComponent("\(directoryPrefix)\(pid)")
    }

    /// The pid of the process a leftover of `home` belongs to: the `model-proxy-<pid>` directory, or
    /// the `model-proxy-<pid>.sock` socket of earlier versions; nil for any other name.
    static func owner(ofEntry name: String) -> pid_t? {
        guard name.hasPrefix(directoryPrefix) else { return nil }
        var rest = name.dropFirst(directoryPrefix.count)
        if rest.hasSuffix(".sock") { rest = rest.dropLast(".sock".count) }
        guard let pid = pid_t(rest), pid > 0 else { return nil }
        return pid
    }

    /// What processes that died without stopping their proxy left in `home` (a proxy directory, or an
    /// earlier version's socket, of a pid that is gone): the forwarders into it are ended, then the
    /// directory (socket and forwarder logs) is removed. Returns the entries removed.
    @discardableResult
    static func removeLeftovers(home: RunnerHome, isGone: (pid_t) -> Bool = { kill($0, 0) != 0 && errno == ESRCH }) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: home.root.path)) ?? []
        let stale = names.filter { name in owner(ofEntry: name).map { $0 != getpid() && isGone($0) } ?? false }
        guard !stale.isEmpty else { return [] }
        let paths = stale.map { home.root.appendingPathComponent($0).standardizedFileURL.path }
        LoopbackForwarder.removeOrphans { socket in
            let socket = URL(fileURLWithPath: socket).standardizedFileURL.path
            return paths.contains { socket == $0 || socket.hasPrefix($0 + "/") }
        }
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
        return stale
    }
}

final class ContainerModelSession: ModelGatewaySession {
    private let proxy: ModelProxy
    private let id: String
    let containerEnvironment: [String: String]
    private let forwarder = Mutex<LoopbackForwarder?>(nil)

    init(proxy: ModelProxy, id: String, token: String) {
        self.proxy = proxy
        self.id = id
        containerEnvironment = [
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:\(ContainerModelGateway.containerPort)",
            "ANTHROPIC_API_KEY": token,
        ]
    }

    func connect(_ sandbox: any Sandbox, logger: Logger) async throws {
        guard let container = sandbox as? ContainerSandbox else {
            throw SandboxError("the model proxy can only be reached from a container sandbox")
        }
        let started = try await container.startLoopbackForwarder(port: ContainerModelGateway.containerPort,
                                                                 socketPath: proxy.socketPath, logger: logger)
        forwarder.withLock { $0 = started }
    }

    func close() async -> ModelSessionUsage {
        let usage = proxy.closeSession(id)
        if let running = forwarder.withLock({ let running = $0; $0 = nil; return running }) { await running.stop() }
        return usage
    }
}
