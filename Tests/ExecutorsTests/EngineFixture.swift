import Core
import Executors
import Foundation
import Logging
import Testing

/// Swift Testing has its own `ExitStatus` (exit tests); ours is the step's.
typealias ExitStatus = Core.ExitStatus

/// A real Podman engine for the tests: a private `podman system service` in a temporary directory, started
/// once around the suite that carries the `.podmanEngine` trait and stopped (by pid) after it.
struct EngineFixture: Sendable {
    @TaskLocal static var current: EngineFixture?

    let service: PrivatePodmanService
    let client: DockerEngineClient
    let directory: URL
    /// Distinguishes this test process's containers from anybody else's on the same engine.
    let testLabel: [String: String]

    static let image = "pushbox/debian:bookworm"
    static var logger: Logger {
        var logger = Logger(label: "pushbox.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["PUSHBOX_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }

    static func require() throws -> EngineFixture {
        try #require(current, "the suite needs the .podmanEngine trait")
    }

    func executor() -> ContainerExecutor {
        ContainerExecutor(engine: client, flavor: .podman, labels: testLabel)
    }

    /// A fresh workspace directory under the fixture's directory.
    func makeWorkspace() throws -> URL {
        let url = directory.appendingPathComponent("ws-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func runSpec(_ workspace: URL, image: String = EngineFixture.image, environment: [String: String] = [:],
                 resources: Resources = Resources(cpus: 1, memoryBytes: 512 << 20, pids: 256), runID: Int64 = 1) -> RunSpec {
        RunSpec(runID: runID, image: image, workspace: workspace, environment: environment, resources: resources)
    }
}

struct PodmanEngineTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("pushbox-exec-tests-\(UUID().uuidString.prefix(8))")
        let podman = ProcessInfo.processInfo.environment["PATH"].flatMap { path in
            path.split(separator: ":").map { "\($0)/podman" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        } ?? "/usr/bin/podman"
        let service = PrivatePodmanService(directory: directory, podmanPath: podman)
        _ = try await service.start(logger: EngineFixture.logger)
        let fixture = EngineFixture(
            service: service, client: DockerEngineClient(socketPath: service.socketPath), directory: directory,
            testLabel: ["pushbox.test": String(directory.lastPathComponent)])
        do {
            try await EngineFixture.$current.withValue(fixture) { try await function() }
        } catch {
            await cleanUp(fixture)
            throw error
        }
        await cleanUp(fixture)
    }

    private func cleanUp(_ fixture: EngineFixture) async {
        // Whatever a failed test left behind.
        _ = try? await fixture.executor().removeOrphans(logger: EngineFixture.logger)
        await fixture.service.stop()
        try? FileManager.default.removeItem(at: fixture.directory)
    }
}

extension Trait where Self == PodmanEngineTrait {
    /// Runs the suite against a private Podman service.
    static var podmanEngine: PodmanEngineTrait { PodmanEngineTrait() }
}

/// Records what a step wrote, with arrival times.
actor RecordingSink: LogSink {
    struct Entry: Sendable {
        var stream: LogStream
        var bytes: Data
        var at: ContinuousClock.Instant
    }

    private(set) var entries: [Entry] = []

    func write(_ bytes: Data, from stream: LogStream) async {
        entries.append(Entry(stream: stream, bytes: bytes, at: ContinuousClock.now))
    }

    var stdout: String { text(.stdout) }
    var stderr: String { text(.stderr) }
    var all: String { String(decoding: entries.reduce(Data()) { $0 + $1.bytes }, as: UTF8.self) }

    func text(_ stream: LogStream) -> String {
        String(decoding: entries.filter { $0.stream == stream }.reduce(Data()) { $0 + $1.bytes }, as: UTF8.self)
    }
}
