import Core
import Executors
import Foundation
import HTTP
import Logging
import Testing

@Suite("PrivatePodmanService and discovery", .serialized)
struct EngineServiceTests {
    let logger = EngineFixture.logger

    static var podman: String {
        ProcessInfo.processInfo.environment["PATH"].flatMap { path in
            path.split(separator: ":").map { "\($0)/podman" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        } ?? "/usr/bin/podman"
    }

    /// A fresh directory for a service, removed (with whatever service still runs there) afterwards.
    func withServiceDirectory(_ body: (URL) async throws -> Void) async throws {
        let directory = URL(fileURLWithPath: "/tmp/pushbox-svc-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try await body(directory)
        } catch {
            await PrivatePodmanService(directory: directory, podmanPath: Self.podman).adoptAndStop(logger: logger)
            throw error
        }
    }

    @Test("start answers /_ping, writes engine.pid; stop ends the process and removes its files")
    func startStop() async throws {
        try await withServiceDirectory { directory in
            let service = PrivatePodmanService(directory: directory, podmanPath: Self.podman)
            let clock = ContinuousClock()
            let start = clock.now
            let endpoint = try await service.start(logger: logger)
            let ready = clock.now - start
            let pid = try #require(service.pid)
            #expect(endpoint.socketPath == directory.appendingPathComponent("engine.sock").path)
            #expect(try String(contentsOf: service.pidFile, encoding: .utf8) == "\(pid)\n")
            let ping = try await DockerEngineClient(socketPath: endpoint.socketPath).ping()
            #expect(ping.flavor == .podman)
            #expect(ping.apiVersion == "1.41")
            let version = try await DockerEngineClient(socketPath: endpoint.socketPath).version()
            #expect(version.apiVersion == "1.41")

            await service.stop()
            #expect(kill(pid, 0) != 0, "the service still runs")
            #expect(!FileManager.default.fileExists(atPath: service.pidFile.path))
            #expect(!FileManager.default.fileExists(atPath: endpoint.socketPath))
            await service.stop()   // idempotent
            print("podman service ready after \(ready)")
        }
    }

    @Test("a live service left by a previous daemon is adopted, not duplicated")
    func adopt() async throws {
        try await withServiceDirectory { directory in
            let first = PrivatePodmanService(directory: directory, podmanPath: Self.podman)
            _ = try await first.start(logger: logger)
            let pid = try #require(first.pid)
            // The first daemon "crashes": it never calls stop(). A new one starts.
            let second = PrivatePodmanService(directory: directory, podmanPath: Self.podman)
            _ = try await second.start(logger: logger)
            #expect(second.pid == pid)
            await second.stop()
            #expect(kill(pid, 0) != 0)
        }
    }

    @Test("a stale engine.pid (dead process, or a process that is not our podman) is cleaned up")
    func stalePIDFile() async throws {
        try await withServiceDirectory { directory in
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let service = PrivatePodmanService(directory: directory, podmanPath: Self.podman)
            // Our own pid is alive but not a podman service: it must not be adopted, nor killed.
            try Data("\(getpid())\n".utf8).write(to: service.pidFile)
            try Data().write(to: directory.appendingPathComponent("engine.sock"))
            _ = try await service.start(logger: logger)
            let pid = try #require(service.pid)
            #expect(pid != getpid())
            await service.stop()

            try Data("999999999\n".utf8).write(to: service.pidFile)
            _ = try await service.start(logger: logger)
            #expect(service.pid != nil && service.pid != 999_999_999)
            await service.stop()
        }
    }

    @Test("a podman that cannot start is reported with its own output")
    func startFailure() async throws {
        try await withServiceDirectory { directory in
            let fake = directory.appendingPathComponent("podman")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data("#!/bin/sh\necho 'Error: storage is broken' >&2\nexit 125\n".utf8).write(to: fake)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
            let service = PrivatePodmanService(directory: directory, podmanPath: fake.path)
            let error = await #expect(throws: EngineDiscoveryError.self) {
                _ = try await service.start(logger: logger, readyTimeout: .seconds(10))
            }
            #expect(error?.message.contains("storage is broken") == true)
            #expect(service.pid == nil)
        }
    }

    @Test("discovery: DOCKER_HOST that answers is used; one that does not is an error naming it")
    func discoveryWithDockerHost() async throws {
        try await withServiceDirectory { directory in
            let service = PrivatePodmanService(directory: directory, podmanPath: Self.podman)
            let endpoint = try await service.start(logger: logger)
            let resolved = try await EngineDiscovery.resolve(
                environment: ["DOCKER_HOST": "unix://\(endpoint.socketPath)", "PATH": "/nonexistent"],
                serviceDirectory: directory.appendingPathComponent("unused"), logger: logger)
            #expect(resolved.endpoint == endpoint)
            #expect(resolved.flavor == .podman)
            #expect(resolved.service == nil)
            await service.stop()

            let error = await #expect(throws: EngineDiscoveryError.self) {
                _ = try await EngineDiscovery.resolve(
                    environment: ["DOCKER_HOST": "unix://\(endpoint.socketPath)"], serviceDirectory: directory, logger: logger)
            }
            #expect(error?.message.contains("DOCKER_HOST") == true)
            #expect(error?.message.contains(endpoint.socketPath) == true)
        }
    }

    @Test("discovery without any engine and without podman says what to do")
    func noEngine() async throws {
        // Only meaningful where no standard socket answers (as on the CI machines).
        let answering = await EngineEndpoint.standardSockets.asyncContains { endpoint in
            (try? await DockerEngineClient(socketPath: endpoint.socketPath).ping()) != nil
        }
        guard !answering else { return }
        let error = await #expect(throws: EngineDiscoveryError.self) {
            _ = try await EngineDiscovery.resolve(environment: ["PATH": "/nonexistent"],
                                                  serviceDirectory: URL(fileURLWithPath: "/tmp/unused"), logger: logger)
        }
        #expect(error?.message == "no container engine: install podman (scripts/setup) or set DOCKER_HOST")
    }

    @Test("discovery falls back to a private podman service and reuses it on the next resolve")
    func privateFallback() async throws {
        let answering = await EngineEndpoint.standardSockets.asyncContains { endpoint in
            (try? await DockerEngineClient(socketPath: endpoint.socketPath).ping()) != nil
        }
        guard !answering else { return }
        try await withServiceDirectory { directory in
            let environment = ProcessInfo.processInfo.environment.filter { $0.key != "DOCKER_HOST" }
            let first = try await EngineDiscovery.resolve(environment: environment, serviceDirectory: directory, logger: logger)
            let service = try #require(first.service)
            let again = try await EngineDiscovery.resolve(environment: environment, serviceDirectory: directory, logger: logger)
            #expect(again.service?.pid == service.pid)
            await service.stop()
        }
    }
}

extension PrivatePodmanService {
    /// Test cleanup: take over whatever runs in the directory and stop it.
    func adoptAndStop(logger: Logger) async {
        guard FileManager.default.fileExists(atPath: pidFile.path) else { return }
        _ = try? await start(logger: logger, readyTimeout: .seconds(5))
        await stop()
    }
}

extension Sequence where Element: Sendable {
    func asyncContains(_ predicate: (Element) async -> Bool) async -> Bool {
        for element in self where await predicate(element) { return true }
        return false
    }
}
