import Core
import Executors
import Foundation
import Logging
import Pipeline
import Reports
import Store

/// The composition root: the one place that picks concrete types (container executor, git-note
/// reporter, test-count reader) and wires them into the pipeline.
struct Runtime {
    let environment: RunEnvironment
    let engine: ResolvedEngine
    let executor: ContainerExecutor

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
        let environment = RunEnvironment(
            home: home, config: config, store: try openStore(home), executor: executor,
            reporters: [GitNoteReporter(baseURL: config.url, logger: logger)], testReader: TestCountReader(),
            hub: LogHub(), processEnvironment: ProcessInfo.processInfo.environment)
        return Runtime(environment: environment, engine: engine, executor: executor)
    }

    /// Stops the podman service this process started, if any.
    func shutdown() async {
        await engine.service?.stop()
    }
}
