import Agent
import Core
import Executors
import Foundation
import Logging
import ModelProxy
import Pipeline
import Reports
import Server
import Store
import Workspace

/// The composition root: the one place that picks concrete types (container executor, git-note
/// reporter, test-count reader) and wires them into the pipeline.
struct Runtime {
    let environment: RunEnvironment
    let engine: ResolvedEngine
    let executor: ContainerExecutor
    let vms: VMCatalog
    /// Sends `reports:` webhooks from the store's outbox; started by `serve`.
    let outbox: DeliveryOutbox
    /// `/metrics`.
    let metrics: PushboxMetrics
    /// The key-injecting proxy of the claude-code and command backends' containers, when one runs.
    let modelProxy: ModelProxy?

    /// The registered repository named `name`, or an error that lists the registered names.
    static func registeredRepo(named name: String, in store: RunStore) throws -> Repo {
        guard let repo = try store.repositories.repo(named: name) else {
            let names = try store.repositories.repos().map(\.name)
            throw UserError("no repository named \(name); registered: \(names.isEmpty ? "none (pushbox repo add PATH)" : names.joined(separator: ", "))")
        }
        return repo
    }

    static func openStore(_ home: RunnerHome) throws -> RunStore {
        try FileManager.default.createDirectory(at: home.root, withIntermediateDirectories: true)
        do {
            return try RunStore(path: home.database.path)
        } catch {
            throw UserError("cannot open the store \(home.database.path): \(error)")
        }
    }

    static func loadConfig(_ home: RunnerHome) throws -> RunnerConfig {
        do {
            return try home.loadConfig()
        } catch let error as SpecError {
            throw UserError("runner configuration: \(error)")
        }
    }

    /// Finds (or starts) the container engine and builds the run environment.
    static func start(home: RunnerHome, config: RunnerConfig, logger: Logger) async throws -> Runtime {
        let engine: ResolvedEngine
        do {
            engine = try await EngineDiscovery.resolve(setting: config.engine, serviceDirectory: home.root, logger: logger)
        } catch let error as EngineDiscoveryError {
            throw UserError(error.message)
        }
        let executor = ContainerExecutor(engine: engine.client, flavor: engine.flavor, labels: ["pushbox.home": home.root.path])
        let vms = try vmCatalog(home: home, config: config)
        let store = try openStore(home)
        let metrics = PushboxMetrics(store: store)
        let outbox = DeliveryOutbox(store: store.deliveries, environment: ProcessInfo.processInfo.environment, logger: logger,
                                    onAttempt: { [metrics] kind, result in metrics.deliveryTried(kind: kind, result: result) })
        let reporters: [any RunReporter] = [
            metrics,
            GitNoteReporter(baseURL: config.url, logger: logger),
            WebhookReporter(reports: config.reports, store: store.deliveries, outbox: outbox, baseURL: config.url, logger: logger),
            ForgeStatusReporter(reports: config.reports, store: store.deliveries, outbox: outbox, baseURL: config.url, logger: logger),
        ]
        let processEnvironment = ProcessInfo.processInfo.environment
        let proxy = await startModelProxy(home: home, config: config.autofix, environment: processEnvironment, logger: logger)
        var environment = RunEnvironment(
            home: home, config: config, store: store, executor: executor,
            reporters: reporters, testReader: TestCountReader(),
            hub: LogHub(), processEnvironment: processEnvironment,
            fixer: makeFixer(config: config.autofix, executor: executor, environment: processEnvironment, proxy: proxy, logger: logger),
            vms: vms)
        environment.workspaceQuota = workspaceQuota(home: home, config: config, logger: logger)
        return Runtime(environment: environment, engine: engine, executor: executor, vms: vms, outbox: outbox, metrics: metrics,
                       modelProxy: try? proxy?.get())
    }

    /// The model proxy, when the backend runs a model client in a container (claude-code; command with
    /// the API key set): listening on `ContainerModelGateway.socketPath`, forwarding to `autofix.base_url`,
    /// else `ANTHROPIC_BASE_URL`, else the API. nil when no backend needs one; a failure when it could not
    /// start (that backend then skips autofix and says why). Sockets that dead processes left are removed.
    static func startModelProxy(home: RunnerHome, config: RunnerConfig.Autofix, environment: [String: String],
                                logger: Logger) async -> Result<ModelProxy, ModelProxyError>? {
        guard config.backend.usesModelProxy, let key = environment[config.apiKeyEnv], !key.isEmpty else { return nil }
        let removed = ContainerModelGateway.removeLeftovers(home: home)
        if !removed.isEmpty { logger.notice("removed what dead processes left of their model proxies", metadata: ["entries": "\(removed)"]) }
        do {
            return .success(try await ModelProxy.start(socketPath: ContainerModelGateway.socketPath(home: home),
                                                       upstream: baseURL(config, environment), apiKey: key, prices: prices(config),
                                                       logger: logger))
        } catch {
            logger.error("the model proxy did not start: \(error)")
            return .failure(error as? ModelProxyError ?? ModelProxyError("\(error)"))
        }
    }

    static func baseURL(_ config: RunnerConfig.Autofix, _ environment: [String: String]) -> String {
        config.baseURL ?? environment["ANTHROPIC_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? AnthropicClient.defaultBaseURL
    }

    static func prices(_ config: RunnerConfig.Autofix) -> PriceTable {
        var prices = PriceTable.builtIn
        for (model, rate) in config.prices { prices.models[model] = ModelPrice(input: rate.input, output: rate.output) }
        return prices
    }

    /// `workspace_quota` when this machine can enforce it (a loop-mounted volume works here), else nil with
    /// a warning that says why and how to silence it.
    static func workspaceQuota(home: RunnerHome, config: RunnerConfig, logger: Logger) -> Int64? {
        guard let quota = config.workspaceQuota else { return nil }
        try? FileManager.default.createDirectory(at: home.runs, withIntermediateDirectories: true)
        if let problem = WorkspaceVolume.probe(in: home.runs) {
            logger.warning("workspace_quota \(Units.formatBytes(quota)) is NOT enforced: \(problem); a job can fill the disk of \(home.root.path) (set workspace_quota: none to run without one knowingly)")
            return nil
        }
        return quota
    }

    /// VM profiles from runner config `vm.profiles` (default `<install dir>/vm-profiles`), images in
    /// `vm.images` (default `$PUSHBOX_HOME/vm-images`); guests named after the home (orphans of this home only).
    static func vmCatalog(home: RunnerHome, config: RunnerConfig) throws -> VMCatalog {
        let profiles = try config.vm.profiles.map { URL(fileURLWithPath: $0) } ?? Install.directory().appendingPathComponent("vm-profiles")
        let images = config.vm.images.map { URL(fileURLWithPath: $0) } ?? home.root.appendingPathComponent("vm-images")
        return VMCatalog(profilesDirectory: profiles, imagesDirectory: images, nameTag: VMCatalog.tag(forHome: home.root))
    }

    /// The autofix backend of runner config `autofix.backend`: anthropic → `AutofixLoop` over
    /// `AnthropicClient` (the key stays in this process); claude-code → `AutofixLoop` over
    /// `ClaudeCodeBackend` (the CLI in the `autofix.image` container, reaching the API only through `proxy`);
    /// command → `AutofixLoop` over `CommandBackend` (with `proxy` when the API key is set); off → nil. A
    /// missing API key is not an error: autofix is skipped with a message.
    static func makeFixer(config: RunnerConfig.Autofix, executor: any JobExecutor, environment: [String: String],
                          proxy: Result<ModelProxy, ModelProxyError>?, logger: Logger) -> (any RunFixer)? {
        switch config.backend {
        case .off:
            return nil
        case .command:
            guard let command = config.command else {
                return UnavailableFixer(backend: "command", reason: "autofix.command is not set in the runner configuration")
            }
            switch proxy {
            case .failure(let error): return UnavailableFixer(backend: "command", reason: "the model proxy did not start: \(error)")
            case .success(let proxy):
                return AutofixLoop(backend: CommandBackend(command: command, executor: executor, gateway: ContainerModelGateway(proxy: proxy)))
            case nil: return AutofixLoop(backend: CommandBackend(command: command, executor: executor))
            }
        case .claudeCode:
            guard let key = environment[config.apiKeyEnv], !key.isEmpty else {
                logger.notice("autofix skipped: \(config.apiKeyEnv) is not set in the daemon's environment")
                return UnavailableFixer(backend: "claude-code", reason: "\(config.apiKeyEnv) is not set in the runner's environment")
            }
            switch proxy {
            case .success(let proxy):
                return AutofixLoop(backend: ClaudeCodeBackend(executor: executor, model: config.model, image: config.image,
                                                              gateway: ContainerModelGateway(proxy: proxy)))
            case .failure(let error): return UnavailableFixer(backend: "claude-code", reason: "the model proxy did not start: \(error)")
            case nil: return UnavailableFixer(backend: "claude-code", reason: "the model proxy did not start")
            }
        case .anthropic:
            guard let key = environment[config.apiKeyEnv], !key.isEmpty else {
                logger.notice("autofix skipped: \(config.apiKeyEnv) is not set in the daemon's environment")
                return UnavailableFixer(backend: "anthropic", reason: "\(config.apiKeyEnv) is not set in the runner's environment")
            }
            let client = AnthropicClient(baseURL: baseURL(config, environment), apiKey: key, logger: logger)
            return AutofixLoop(backend: AnthropicBackend(client: client, executor: executor, model: config.model, prices: prices(config)))
        }
    }

    /// Stops the model proxy, the outbox and the podman service this process started, if any.
    func shutdown() async {
        await modelProxy?.stop()
        await outbox.stop()
        await engine.service?.stop()
    }
}
