import Agent
import ArgumentParser
import Core
import Foundation
import Logging
import ModelProxy

/// `pushbox model-proxy`: the daemon's model proxy alone, for benchmarks and debugging (bench/model-proxy).
/// Hidden from `--help`: the daemon and `pushbox run` start their own. It prints one line, the token of the
/// one session it opens, and serves until its stdin closes.
struct ModelProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-proxy",
        abstract: "Run the model proxy alone on a unix socket (benchmarks, debugging); serves until stdin closes.",
        shouldDisplay: false)

    @Option(help: "The unix socket to listen on.") var socket: String
    @Option(help: "The Messages API's base URL.") var upstream: String
    @Option(help: "The environment variable that holds the API key.") var apiKeyEnv = "ANTHROPIC_API_KEY"
    @Option(help: "Model requests the session may make.") var maxRequests = 1_000_000

    func run() async throws {
        try await guarded {
            guard let key = ProcessInfo.processInfo.environment[apiKeyEnv], !key.isEmpty else {
                throw UserError("\(apiKeyEnv) is not set")
            }
            var logger = Logger(label: "pushbox-model-proxy")
            logger.logLevel = .warning
            let proxy: ModelProxy
            do {
                proxy = try await ModelProxy.start(socketPath: socket, upstream: upstream, apiKey: key, prices: Runtime.prices(RunnerConfig().autofix),
                                                   logger: logger)
            } catch {
                throw UserError("\(error)", exitCode: 2)
            }
            let session = proxy.openSession(budget: ModelSessionBudget(maxRequests: maxRequests, maxCostUSD: 1e9, wallTime: .seconds(86_400)))
            printOut(session.token)
            await Task.detached { _ = FileHandle.standardInput.readDataToEndOfFile() }.value
            await proxy.stop()
        }
    }
}
