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

    /// The socket of this process's proxy in `home`: one per process, because a foreground `pushbox run`
    /// may run beside the daemon.
    static func socketPath(home: RunnerHome) -> String {
        home.root.appendingPathComponent("model-proxy-\(getpid()).sock").path
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
