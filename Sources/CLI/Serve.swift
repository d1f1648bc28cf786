import ArgumentParser
import Core
import Executors
import Foundation
import Hummingbird
import Logging
import Pipeline
import Reports
import Server

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: queue and run pushes, serve the API on $PUSHBOX_HOME/pushbox.sock and HTTP.")

    @OptionGroup var options: HomeOptions
    @Option(help: "HTTP listener HOST:PORT (default: `listen` of the runner config, 127.0.0.1:7070).") var listen: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        try await guarded {
            let home = options.runnerHome
            try Init.ensure(home)
            var config = try Runtime.loadConfig(home)
            if let listen {
                guard ListenAddress(listen) != nil else { throw UserError("--listen must be HOST:PORT, found \(listen)") }
                if config.url == "http://\(config.listen)" { config.url = "http://\(listen)" }
                config.listen = listen
            }
            var logger = Logger(label: "pushbox")
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            let address = ListenAddress(config.listen)!  // validated by RunnerConfig.parse or above

            if await DaemonClient(home: home).isRunning() {
                throw UserError("a daemon already serves \(home.socket.path)")
            }
            unlink(home.socket.path)

            let runtime = try await Runtime.start(home: home, config: config, logger: logger)
            do {
                let removed = try await runtime.executor.removeOrphans(logger: logger)
                if removed > 0 { logger.notice("removed \(removed) containers left by an earlier daemon") }
            } catch {
                logger.warning("cannot list leftover containers: \(error)")
            }
            if let tag = runtime.vms.nameTag {
                let killed = await QEMUExecutor.removeOrphans(tag: tag, logger: logger)
                if !killed.isEmpty { logger.notice("stopped \(killed.count) QEMU guests left by an earlier daemon") }
                let clones = await VirtualBoxExecutor.removeOrphans(tag: tag, logger: logger)
                if !clones.isEmpty { logger.notice("deleted \(clones.count) VirtualBox clones left by an earlier daemon") }
            }
            VMScratch.removeLeftovers(runs: home.runs, store: runtime.environment.store, logger: logger)
            let scheduler = Scheduler(environment: runtime.environment, logger: logger)
            let token = (try? String(contentsOf: home.token, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            let context = ServerContext(home: home, config: config, store: runtime.environment.store, scheduler: scheduler,
                                        hub: runtime.environment.hub, token: token, version: PushboxCommand.version,
                                        metrics: { [metrics = runtime.metrics] in metrics.exposition() })
            try? Data("\(getpid())\n".utf8).write(to: home.daemonPID)

            let socketPath = home.socket.path
            let serverLogger = logger
            let publicURL = config.url
            var local = Application(
                router: Routes.router(context, trusted: true),
                configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "pushbox"),
                onServerRunning: { _ in chmod(socketPath, 0o660) },
                logger: logger)
            let network = Application(
                router: Routes.router(context, trusted: false),
                configuration: .init(address: .hostname(address.host, port: address.port), serverName: "pushbox"),
                onServerRunning: { _ in
                    serverLogger.notice("pushbox serving", metadata: ["socket": "\(socketPath)", "http": "\(publicURL)"])
                },
                logger: logger)
            local.addServices(network)
            await scheduler.start()
            await runtime.outbox.start()
            let watchdog = Task { await Self.watchEngine(runtime: runtime, scheduler: scheduler, logger: logger) }
            do {
                try await local.runService()
            } catch {
                logger.error("server stopped: \(error)")
            }
            // The engine watch ends first: it must not start the service that shutdown stops.
            watchdog.cancel()
            await watchdog.value
            // Runs still going go back to the queue (their containers removed) and run at the next start.
            await scheduler.stop()
            await runtime.shutdown()
            unlink(socketPath)
            unlink(home.daemonPID.path)
        }
    }

    /// Every two seconds: when the engine has not answered three checks in a row (a busy engine can miss
    /// one) and it is the daemon's own podman service, start it again; once it answers after an outage,
    /// remove what the interrupted runs left in it and retry those runs (once each). The daemon keeps
    /// serving throughout.
    static func watchEngine(runtime: Runtime, scheduler: Scheduler, logger: Logger) async {
        var misses = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            guard !Task.isCancelled else { return }
            if await runtime.executor.isAvailable() {
                guard misses >= 3 else {
                    misses = 0
                    continue
                }
                misses = 0
                logger.notice("the container engine answers again")
                let removed = (try? await runtime.executor.removeOrphans(logger: logger, keeping: await scheduler.runningRunIDs())) ?? 0
                if removed > 0 { logger.notice("removed \(removed) containers of runs the engine's loss ended") }
                await scheduler.reconcile()
                continue
            }
            misses += 1
            guard misses >= 3 else { continue }
            if misses == 3 { logger.error("the container engine does not answer") }
            if let service = runtime.engine.service, !Task.isCancelled {
                do {
                    _ = try await service.start(logger: logger)
                    logger.notice("started the podman service again")
                } catch {
                    logger.error("cannot start the podman service again: \(error)")
                }
            }
        }
    }
}
