import API
import Core
import Foundation
import Logging
import Pipeline
import Store
import Synchronization
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// One in-process runner for the queue and run-driver tests: a temporary `$PUSHBOX_HOME` with a SQLite
/// `RunStore`, one registered bare repository (a `GitFixture`; pushes go to it without a hook, so each
/// test hands the push to the scheduler itself, as the hook would), a `TestEngine`, and a `Scheduler`
/// built as `RoutesTests.World` builds it.
///
/// Every direct use of the store by these tests is in this file (reads, and the two helpers that leave a
/// run as a killed daemon would), so a change of the store's API is adapted here only.
final class QueueWorld: @unchecked Sendable {
    static let url = "http://127.0.0.1:7070"

    let directory: TemporaryDirectory
    let git: GitFixture
    let home: RunnerHome
    let engine: TestEngine
    private let store: RunStore
    private let repo: Repo
    let environment: RunEnvironment
    /// The daemon's scheduler; `restart()` replaces it (same home, store and engine).
    private(set) var scheduler: Scheduler
    private var schedulers: [Scheduler] = []
    private var mounts: [URL] = []

    init(concurrency: Int = 2, engine: TestEngine = TestEngine()) throws {
        directory = try TemporaryDirectory(prefix: "pushbox-queue")
        git = try GitFixture.make(in: directory)
        home = RunnerHome(root: directory.url("home"))
        try FileManager.default.createDirectory(at: home.root, withIntermediateDirectories: true)
        store = try RunStore(path: home.database.path)
        repo = try store.repositories.addRepo(name: "app", path: git.bare.path)
        var config = RunnerConfig()
        config.url = Self.url
        config.concurrency = concurrency
        self.engine = engine
        environment = RunEnvironment(home: home, config: config, store: store, executor: engine, reporters: [],
                                     testReader: NoTestCounts(), hub: LogHub(), processEnvironment: [:])
        scheduler = Scheduler(environment: environment, logger: Self.logger)
        schedulers = [scheduler]
    }

    /// Quiet unless `PUSHBOX_TEST_LOG=1`.
    static let logger: Logger = {
        guard ProcessInfo.processInfo.environment["PUSHBOX_TEST_LOG"] == "1" else {
            return Logger(label: "pushbox.queue-tests", factory: { _ in SwiftLogNoOpLogHandler() })
        }
        var logger = Logger(label: "pushbox.queue-tests", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .debug
        return logger
    }()

    /// Runs `body` with a fresh world, then stops every scheduler (so no run outlives the test's directory),
    /// unmounts what the test mounted and removes the directory, whether `body` threw or not.
    static func with(concurrency: Int = 2, engine: TestEngine = TestEngine(),
                     _ body: (QueueWorld) async throws -> Void) async throws {
        let world = try QueueWorld(concurrency: concurrency, engine: engine)
        do {
            try await body(world)
        } catch {
            await world.close()
            throw error
        }
        await world.close()
    }

    private func close() async {
        for scheduler in schedulers { await scheduler.stop() }
        for mount in mounts { _ = umount2(mount.path, Int32(MNT_DETACH)) }
        directory.remove()
    }

    /// A new daemon on the same home: what `pushbox serve` is after a restart. The old scheduler is left
    /// as it is (stop it first for a graceful restart; leave it be to model nothing).
    func restart() -> Scheduler {
        scheduler = Scheduler(environment: environment, logger: Self.logger)
        schedulers.append(scheduler)
        return scheduler
    }

    // MARK: pushes

    /// Commits `.pushbox.yml` = `pipeline` (plus `files`) in the clone and pushes it to `branch` of the bare
    /// repository (no hook runs). Returns the new commit.
    @discardableResult
    func push(_ pipeline: String, to branch: String = "main", files: [String: String] = [:]) throws -> String {
        try git.write(".pushbox.yml", pipeline)
        for (path, contents) in files { try git.write(path, contents) }
        let sha = try git.commit("pipeline for \(branch)")
        let pushed = try git.push("HEAD:refs/heads/\(branch)", extraArgs: ["--force"])
        guard pushed.status == 0 else { throw WorldError("git push to \(branch) exited \(pushed.status): \(pushed.output)") }
        return sha
    }

    static func update(_ sha: String, from old: String?, branch: String) -> RefUpdate {
        RefUpdate(oldSHA: old ?? RefUpdate.zeroSHA, newSHA: sha, ref: "refs/heads/\(branch)")
    }

    /// What the post-receive hook hands the daemon for one ref update; the one `pushbox:` line's result.
    func hook(_ sha: String, from old: String? = nil, branch: String = "main") async throws -> SubmitResult {
        let results = try await scheduler.submit(repoPath: git.bare.path, updates: [Self.update(sha, from: old, branch: branch)],
                                                 source: .hook)
        guard results.count == 1, let result = results.first else { throw WorldError("expected one result, got \(results)") }
        return result
    }

    /// A push the hook spooled because the daemon did not answer, pushed at `pushedAt`.
    func spool(_ sha: String, from old: String? = nil, branch: String = "main", pushedAt: Date) throws {
        try Spool(directory: home.spool).append(
            SpoolEvent(repoPath: git.bare.path, updates: [Self.update(sha, from: old, branch: branch)], receivedAt: pushedAt))
    }

    var spooled: Int { Spool(directory: home.spool).pending().count }

    // MARK: reading the store

    func run(_ id: Int64) throws -> Run {
        guard let run = try store.records.run(id: id) else { throw WorldError("no run \(id)") }
        return run
    }

    /// Every run, oldest first.
    func runs() throws -> [Run] { try store.records.runs(limit: 1000).reversed() }

    // MARK: what a killed daemon leaves

    /// Records a push of `sha` and leaves its run `running`, as a daemon killed mid-run leaves it; with
    /// `interruptedBefore`, the run was already re-queued once by an earlier restart. Returns the run's id.
    @discardableResult
    func leaveRunning(_ sha: String, from old: String? = nil, branch: String = "main", interruptedBefore: Bool = false) throws -> Int64 {
        let id = try recordPush(sha, from: old, branch: branch)
        guard try store.queue.claim(runID: id) else { throw WorldError("run \(id) could not be claimed") }
        if interruptedBefore {
            _ = try store.queue.recoverInterrupted()
            guard try store.queue.claim(runID: id) else { throw WorldError("run \(id) could not be claimed again") }
        }
        return id
    }

    /// Records a push of `sha` and its queued run, as the daemon's intake does, without a scheduler (what a
    /// daemon killed right after answering the hook leaves). Returns the run's id.
    @discardableResult
    func recordPush(_ sha: String, from old: String? = nil, branch: String = "main") throws -> Int64 {
        try store.queue.enqueue(repo: repo, update: Self.update(sha, from: old, branch: branch), source: .hook).run.id
    }

    // MARK: a full runner disk

    /// Mounts a 64 KiB tmpfs as `runs/<id>/`, so the checkout of run `id` fails with "No space left on
    /// device" (ENOSPC) while the runner home itself has room. Unmounted when the world closes. Root only.
    func fillDisk(forRun id: Int64) throws {
        let root = home.run(id).root
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        guard mount("tmpfs", root.path, "tmpfs", 0, "size=64k,mode=0755") == 0 else {
            throw WorldError("cannot mount a tmpfs at \(root.path): \(String(cString: strerror(errno)))")
        }
        mounts.append(root)
    }

    // MARK: waiting

    /// How long a wait may take before the test fails: generous, because a loaded machine (two cores shared
    /// with compilers) can stall a run for seconds; a passing wait returns within milliseconds.
    static let patience: Duration = .seconds(30)

    /// Polls `probe` every 10 ms until it returns a value; throws once `timeout` has passed.
    @discardableResult
    func wait<T>(_ what: String, timeout: Duration = patience, _ probe: () async throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let value = try await probe() { return value }
            guard ContinuousClock.now < deadline else { throw WorldError("timed out after \(timeout) waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Run `id` once it has a final state.
    func finished(_ id: Int64, timeout: Duration = patience) async throws -> Run {
        try await wait("run \(id) to finish", timeout: timeout) {
            let run = try self.run(id)
            return run.state.isFinished ? run : nil
        }
    }

    /// Run `id` once its step `index` is running.
    func stepRunning(_ id: Int64, _ index: Int) async throws -> Run {
        try await wait("step \(index) of run \(id) to run") {
            let run = try self.run(id)
            return run.steps.indices.contains(index) && run.steps[index].state == .running ? run : nil
        }
    }

    /// Waits until the scheduler executes nothing (a finished run's driver still writes its files and calls
    /// its reporters after the store says it ended).
    func idle() async throws {
        _ = try await wait("the scheduler to be idle") { await self.scheduler.runningCount == 0 ? true : nil }
    }

    /// The text of step `step`'s log of run `id`, or nil when the step never wrote one.
    func log(_ id: Int64, step: String) -> String? {
        (try? Data(contentsOf: home.run(id).log(step: step))).map { String(decoding: $0, as: UTF8.self) }
    }
}

struct WorldError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct NoTestCounts: TestResultReader {
    func testResults(log: URL, junitFiles: [URL]) -> (counts: TestCounts?, cases: [TestCase]) { (nil, []) }
}

/// A `JobExecutor` around `ScriptedExecutor` that can do what a container engine does to a runner: stop
/// answering (`isAvailable` false, `makeSandbox` throws a `SandboxError`, as `ContainerExecutor` does when
/// its socket refuses), and take its time making a sandbox (`hold`). It records which runs asked for a
/// sandbox and which got one.
final class TestEngine: JobExecutor, @unchecked Sendable {
    /// How `makeSandbox` behaves once asked.
    enum Hold: Sendable {
        /// Makes the sandbox at once.
        case none
        /// Waits until its task is cancelled, then throws `CancellationError` (nothing made).
        case untilCancelled
        /// Waits until its task is cancelled, then makes the sandbox anyway: an engine call that completes
        /// although its caller gave up.
        case untilCancelledThenMake
    }

    private struct State {
        var available = true
        var hold = Hold.none
        var asked: [Int64] = []
        var made: [Int64] = []
    }

    let name = "test-engine"
    let scripted = ScriptedExecutor()
    private let state = Mutex(State())

    init(hold: Hold = .none) { state.withLock { $0.hold = hold } }

    static let unavailable = "cannot connect to the container engine at unix:///run/docker.sock: connection refused"

    /// Whether the engine answers; while it does not, `makeSandbox` fails.
    var available: Bool {
        get { state.withLock { $0.available } }
        set { state.withLock { $0.available = newValue } }
    }

    /// Runs that asked for a sandbox / got one, in order.
    var asked: [Int64] { state.withLock { $0.asked } }
    var made: [Int64] { state.withLock { $0.made } }
    var undestroyed: Int { scripted.undestroyed }
    var violations: [String] { scripted.violations }

    func isAvailable() async -> Bool { available }

    func makeSandbox(for run: RunSpec, logger: Logger) async throws -> any Sandbox {
        let (available, hold) = state.withLock { state in
            state.asked.append(run.runID)
            return (state.available, state.hold)
        }
        guard available else { throw SandboxError(Self.unavailable) }
        switch hold {
        case .none:
            break
        case .untilCancelled:
            try await Task.sleep(for: .seconds(60))
        case .untilCancelledThenMake:
            let deadline = ContinuousClock.now + .seconds(60)
            while !Task.isCancelled && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        let sandbox = try await scripted.makeSandbox(for: run, logger: logger)
        state.withLock { $0.made.append(run.runID) }
        return EngineSandbox(inner: sandbox, engine: self)
    }

    /// The step command that makes the engine stop answering in the middle of the step.
    static let loseEngine = "lose-engine"
    static let lost = "error reading from the container engine: connection reset by peer"
}

/// A scripted sandbox whose step `lose-engine` takes the engine down and fails as a step whose engine went
/// away does (a `SandboxError`).
private struct EngineSandbox: Sandbox {
    let inner: any Sandbox
    let engine: TestEngine

    var id: String { inner.id }

    func run(_ step: Step, log: any LogSink) async throws -> ExitStatus {
        if step.run == TestEngine.loseEngine {
            engine.available = false
            throw SandboxError(TestEngine.lost)
        }
        return try await inner.run(step, log: log)
    }

    func destroy() async { await inner.destroy() }
}
