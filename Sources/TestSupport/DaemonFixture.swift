import Core
import Foundation
import Workspace

/// The laminar-style fixture: a temporary `$PUSHBOX_HOME`, the real `pushbox` binary (`$PUSHBOX_BIN`,
/// else `.build/debug/pushbox`), the real daemon on its unix socket, and bare repositories with the
/// installed hook. Stops only what it started (by pid) and removes its directory.
package final class DaemonFixture: @unchecked Sendable {
    package let directory: TemporaryDirectory
    package let home: URL
    package let binary: URL
    package let port: Int
    private var daemon: SpawnedProcess?
    private var daemonLog: URL { directory.url("daemon.log") }

    /// `config` is appended to a runner configuration that listens on a free loopback port (and reconciles
    /// every 60 s unless `config` says otherwise).
    /// `prepareHome` runs on the empty home directory before anything is written into it (e.g. to mount a
    /// small file system there).
    package init(config: String = "", prefix: String = "pushbox-e2e", prepareHome: ((URL) throws -> Void)? = nil) throws {
        directory = try TemporaryDirectory(prefix: prefix)
        home = directory.url("home")
        binary = Self.locateBinary()
        port = Self.freePort()
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try prepareHome?(home)
        let text = "listen: 127.0.0.1:\(port)\n" + (config.contains("reconcile_every:") ? "" : "reconcile_every: 60s\n") + config
        try Data(text.utf8).write(to: home.appendingPathComponent("pushbox.yml"))
        let result = try pushbox(["init"])
        guard result.status == 0 else { throw FixtureError("pushbox init failed: \(result.stderr)") }
    }

    deinit {
        stopDaemon(signal: SIGTERM)
        stopOrphanedEngine()
        directory.remove()
    }

    package static func locateBinary() -> URL {
        if let path = ProcessInfo.processInfo.environment["PUSHBOX_BIN"], !path.isEmpty { return URL(fileURLWithPath: path) }
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent(".build/debug/pushbox")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "/usr/local/bin/pushbox")
    }

    /// A TCP port nobody listens on right now (bind to port 0, read it, close).
    package static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    // MARK: the CLI

    package struct Result: Sendable {
        package var status: Int32
        package var stdout: String
        package var stderr: String
    }

    /// Runs `pushbox ARGS` with this home and waits for it.
    @discardableResult
    package func pushbox(_ arguments: [String], stdin: Data? = nil, environment extra: [String: String] = [:],
                         in workingDirectory: URL? = nil) throws -> Result {
        let process = Foundation.Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = environment(extra)
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let out = directory.url("out-\(UUID().uuidString)")
        let err = directory.url("err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    package func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        // Hermetic: a key or endpoint of the developer's own must never reach a test daemon.
        env["ANTHROPIC_API_KEY"] = nil
        env["ANTHROPIC_BASE_URL"] = nil
        env["PUSHBOX_HOME"] = home.path
        for (key, value) in extra { env[key] = value }
        return env
    }

    // MARK: the daemon

    package var isDaemonRunning: Bool { daemon?.isRunning ?? false }
    package var daemonPID: Int32? { daemon?.pid }

    /// Starts `pushbox serve` and waits until its socket answers.
    package func startDaemon(environment extra: [String: String] = [:], timeout: Duration = .seconds(60)) throws {
        let process = try SpawnedProcess(binary, ["serve", "--log-level", "debug"], environment: environment(extra), output: daemonLog)
        daemon = process
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning { throw FixtureError("pushbox serve exited \(process.status ?? -1):\n\(daemonOutput())") }
            if (try? pushbox(["status"]))?.status == 0 { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw FixtureError("pushbox serve did not answer within \(timeout):\n\(daemonOutput())")
    }

    /// Stops the daemon this fixture started: SIGTERM waits for a clean exit; SIGKILL simulates a crash.
    package func stopDaemon(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) {
        guard let process = daemon else { return }
        process.stop(signal: signal, timeout: timeout)
        daemon = nil
    }

    /// After a SIGKILL the daemon's private podman service is left behind; the next daemon adopts it, but
    /// a test that ends there must stop it, by the pid the daemon recorded in `engine.pid`.
    package func stopOrphanedEngine() {
        guard daemon == nil else { return }
        let pidFile = home.appendingPathComponent("engine.pid")
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else { return }
        // Only if that pid is still a podman process (pids are reused).
        let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
        guard cmdline.contains("podman") else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 where kill(pid, 0) == 0 { Thread.sleep(forTimeInterval: 0.05) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(at: pidFile)
    }

    package func daemonOutput() -> String {
        (try? String(contentsOf: daemonLog, encoding: .utf8)) ?? ""
    }

    // MARK: repositories and runs

    /// A bare repository with a clone, registered with `pushbox repo add` (hook installed).
    package func makeRepo(_ name: String = "app") throws -> GitFixture {
        let fixture = try GitFixture(bareAt: directory.url("\(name).git"), cloneAt: directory.url("\(name)-clone"),
                                     home: directory.url("git-home"))
        let result = try pushbox(["repo", "add", fixture.bare.path])
        guard result.status == 0 else { throw FixtureError("repo add failed: \(result.stderr)") }
        return fixture
    }

    package static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = Timestamps.decoding
        return decoder
    }

    /// `pushbox status RUN --json`.
    package func run(_ id: Int64) throws -> Run {
        let result = try pushbox(["status", String(id), "--json"])
        guard result.status == 0 else { throw FixtureError("status \(id) failed: \(result.stderr)") }
        return try Self.decoder().decode(Run.self, from: Data(result.stdout.utf8))
    }

    package struct RunList: Decodable { package var runs: [Run] }

    package func runs() throws -> [Run] {
        let result = try pushbox(["runs", "--json", "--limit", "1000"])
        guard result.status == 0 else { throw FixtureError("runs failed: \(result.stderr)") }
        return try Self.decoder().decode(RunList.self, from: Data(result.stdout.utf8)).runs
    }

    /// Waits until run `id` has finished (or `timeout` passes) and returns it.
    package func waitForRun(_ id: Int64, timeout: Duration = .seconds(120)) throws -> Run {
        let deadline = ContinuousClock.now + timeout
        while true {
            let current = try run(id)
            if current.state.isFinished { return current }
            guard ContinuousClock.now < deadline else {
                throw FixtureError("run \(id) still \(current.state.rawValue) after \(timeout)\n\(daemonOutput().suffix(4000))")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Waits until `predicate` holds for the run.
    package func waitForRun(_ id: Int64, timeout: Duration = .seconds(60), until predicate: (Run) -> Bool) throws -> Run {
        let deadline = ContinuousClock.now + timeout
        while true {
            let current = try run(id)
            if predicate(current) { return current }
            guard ContinuousClock.now < deadline else { throw FixtureError("run \(id) never reached the expected state: \(current.state)") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// The run ids in `remote: pushbox: run N queued …` lines of a push's output.
    package static func queuedRunIDs(in pushOutput: String) -> [Int64] {
        pushOutput.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "pushbox: run ") else { return nil }
            let rest = line[range.upperBound...]
            guard rest.contains(" queued for ") else { return nil }
            return Int64(rest.prefix { $0.isNumber })
        }
    }

    /// The note on `sha` in `repo`, read with the git CLI as a user would.
    package func note(_ fixture: GitFixture, _ sha: String) throws -> String? {
        let result = try fixture.runGit(["notes", "--ref=pushbox", "show", sha], in: fixture.bare)
        return result.status == 0 ? result.output : nil
    }

    package func log(run: Int64, step: String) -> String {
        (try? String(contentsOf: home.appendingPathComponent("runs/\(run)/logs/\(step).log"), encoding: .utf8)) ?? ""
    }
}

/// A child process started with posix_spawn and reaped with waitpid by its owner. (Foundation's Process
/// on Linux was seen never to reap a child killed with SIGKILL, leaving `waitUntilExit` hanging.)
package final class SpawnedProcess: @unchecked Sendable {
    package let pid: pid_t
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments`; stdout and stderr are appended to `output`.
    package init(_ executable: URL, _ arguments: [String], environment: [String: String], output: URL) throws {
        do {
            pid = try ProcessSpawn.spawn(executable.path, arguments, environment: environment,
                                         output: .appendingTo(output.path), grouping: .inherited)
        } catch {
            throw FixtureError("posix_spawn \(executable.path): \(error)")
        }
    }

    /// Reaps the child if it has exited.
    package var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { exitStatus = status; return false }
        return result == 0
    }

    package var status: Int32? { _ = isRunning; return exitStatus }

    /// Sends `signal`, waits up to `timeout`, then SIGKILL; always reaps.
    package func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) {
        guard isRunning else { return }
        kill(pid, signal)
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitStatus = status
        }
    }
}

package struct FixtureError: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}
