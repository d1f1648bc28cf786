import Core
import Executors
import Foundation
import Logging
import Synchronization
import Testing

/// One behaviour suite for every `JobExecutor` (DESIGN §5, after gitlab-runner's `common/buildtest/`): the
/// same steps, through the `JobExecutor` and `Sandbox` protocols only, against
/// - `container`: `ContainerExecutor` on a private Podman service (started by this suite, on first use),
///   image `pushbox/debian:bookworm` (`make image`);
/// - `qemu`: `QEMUExecutor` with the linux-x86_64 profile, a real guest (TCG here), image from
///   `$PUSHBOX_VM_IMAGES` (default /var/cache/pushbox/vm-images, `make vm-images`); each step is one boot;
/// - `virtualbox`: `VirtualBoxExecutor` with the windows-11 profile against the stand-in `VBoxManage` and
///   `ssh` of `VMVirtualBoxTests` (VirtualBox cannot be installed here): the stand-in runs the step's text
///   with /bin/sh on this host, so its "guest" processes are host processes. It runs them in the ssh
///   client's process group: the virtualbox cancel case checks what the executor does (kill the SSH
///   session's process group), not what a real guest's sshd does with the remote processes.
///
/// Nothing is skipped: a missing engine, image or tool fails the cases of that executor with the fix.
@Suite("JobExecutor behaviour: every executor", .behaviourEngine, .serialized, .timeLimit(.minutes(10)))
struct JobExecutorBehaviourTests {
    @Test("a passing step: exit 0, and its output arrives in the LogSink", arguments: BehaviourTarget.allCases)
    func passingStep(_ target: BehaviourTarget) async throws {
        try await BehaviourHarness.with(target, test: "passing step") { harness in
            try await harness.withSandbox { sandbox in
                let sink = RecordingSink()
                let status = try await harness.run(sandbox, "echo behaviour-ok", sink: sink)
                #expect(status == .success)
                #expect(await sink.stdout == "behaviour-ok\n")
                #expect(await sink.stderr == "")
            }
        }
    }

    @Test("a failing step: `exit 3` is ExitStatus code 3", arguments: BehaviourTarget.allCases)
    func failingStep(_ target: BehaviourTarget) async throws {
        try await BehaviourHarness.with(target, test: "failing step") { harness in
            try await harness.withSandbox { sandbox in
                let sink = RecordingSink()
                let status = try await harness.run(sandbox, "echo before-exit; exit 3", sink: sink)
                #expect(status == ExitStatus(code: 3))
                #expect(await sink.stdout == "before-exit\n")
            }
        }
    }

    /// Lines 1…50, odd ones on stdout, even ones on stderr, written back to back. Every executor keeps each
    /// stream's order and loses or invents nothing. Beyond that only what each one documents: the container
    /// keeps the two streams apart (`LogStream`); a QEMU guest has one stream, the serial console (docs/vms.md,
    /// "stdout and stderr share the serial console"). No executor documents how the two streams interleave,
    /// so that is not asserted.
    @Test("output order: each stream keeps its order", arguments: BehaviourTarget.allCases)
    func outputOrder(_ target: BehaviourTarget) async throws {
        try await BehaviourHarness.with(target, test: "output order") { harness in
            try await harness.withSandbox { sandbox in
                let sink = RecordingSink()
                let status = try await harness.run(sandbox, """
                    i=1
                    while [ $i -le 50 ]; do
                      if [ $((i % 2)) -eq 1 ]; then echo "out $i"; else echo "err $i" >&2; fi
                      i=$((i + 1))
                    done
                    """, sink: sink)
                #expect(status == .success)
                let expected = (1...50).map { $0 % 2 == 1 ? "out \($0)" : "err \($0)" }
                let received: [LogStream: [String]] = [
                    .stdout: Self.lines(await sink.stdout), .stderr: Self.lines(await sink.stderr),
                ]
                let all = received.values.flatMap { $0 }
                #expect(all.sorted() == expected.sorted(), "every line exactly once and nothing else; got \(received)")
                var streamOf: [String: LogStream] = [:]
                for origin in ["out", "err"] {
                    let written = expected.filter { $0.hasPrefix(origin + " ") }
                    let carriers = [LogStream.stdout, .stderr].filter { received[$0]!.contains { $0.hasPrefix(origin + " ") } }
                    #expect(carriers.count == 1, "the \(origin) lines arrived split over \(carriers)")
                    guard let carrier = carriers.first else { continue }
                    streamOf[origin] = carrier
                    #expect(received[carrier]!.filter { $0.hasPrefix(origin + " ") } == written, "the \(origin) lines out of order")
                }
                switch target {
                case .container:
                    #expect(streamOf == ["out": .stdout, "err": .stderr], "stdout and stderr keep their LogStream")
                case .qemu:
                    #expect(streamOf == ["out": .stdout, "err": .stdout], "one stream: the serial console")
                case .virtualbox:
                    break   // nothing documented beyond the order of each stream
                }
                let arrival = await Self.arrivalOrder(sink)
                let chunks = await sink.entries.count
                print("[behaviour] \(target) output order: streams \(streamOf.sorted { $0.key > $1.key }.map { "\($0.key)→\($0.value)" }), "
                    + "\(chunks) chunks, interleaving as written: \(arrival == expected)")
            }
        }
    }

    /// The step's background child and its foreground sleep carry the run's BEHAVIOUR_TOKEN in their
    /// environment, which is how the host (container, stand-in) and a later step (QEMU, stand-in) find them.
    @Test("cancel returns promptly and kills the step's process tree", arguments: BehaviourTarget.allCases)
    func cancelKillsTree(_ target: BehaviourTarget) async throws {
        try await BehaviourHarness.with(target, test: "cancel") { harness in
            try await harness.withSandbox { sandbox in
                let sink = RecordingSink()
                let step = Step(name: "tree", run: #"sleep 300 & echo $! > "$BEHAVIOUR_PIDFILE"; echo "child $!"; sleep 300"#)
                let task = Task { try await sandbox.run(step, log: sink) }
                let started = await Behaviour.poll(within: harness.startLimit) {
                    let text = await sink.stdout
                    return text.hasPrefix("child ") && text.hasSuffix("\n")
                }
                let reported = await sink.stdout
                guard started, let child = Int32(reported.dropFirst("child ".count).dropLast()) else {
                    task.cancel()
                    let output = await sink.all
                    Issue.record("the step did not report its child within \(harness.startLimit): \(output)")
                    return
                }
                // Before cancelling, the probes see what they are looking for (else "gone" proves nothing).
                switch harness.processView {
                case .host:
                    let seen = await Behaviour.poll(within: .seconds(5)) { HostSleepers.find(token: harness.token).map(\.namespacePID).contains(child) }
                    #expect(seen, "the host does not see the step's child \(child): \(HostSleepers.find(token: harness.token))")
                case .guestBehindQEMU:
                    #expect(VMFixture.qemuProcesses(named: sandbox.id).count == 1, "no QEMU process named \(sandbox.id) while the step runs")
                }

                let clock = ContinuousClock()
                let canceledAt = clock.now
                task.cancel()
                let outcome = try await Behaviour.bounded(.seconds(60), "the cancelled step") { await task.result }
                let elapsed = clock.now - canceledAt
                #expect(elapsed < .seconds(30), "cancel took \(elapsed); the step sleeps 300 s")
                switch outcome {
                case .failure(let error):
                    #expect(error is CancellationError, "cancel ended the step with \(type(of: error)): \(error)")
                case .success(let status):
                    // The protocol allows "whatever the process reported"; a killed step did not succeed.
                    #expect(!status.succeeded, "the cancelled step reported \(status)")
                }

                switch harness.processView {
                case .host:
                    let gone = await Behaviour.poll(within: .seconds(10)) { HostSleepers.find(token: harness.token).isEmpty }
                    #expect(gone, "left running after cancel: \(HostSleepers.find(token: harness.token))")
                case .guestBehindQEMU:
                    #expect(VMFixture.qemuProcesses(named: sandbox.id).isEmpty, "QEMU \(sandbox.id) still runs after cancel")
                }
                if harness.stepsAfterCancel {
                    // A control child of our own proves the scan works in there; the cancelled one must be gone.
                    let probe = RecordingSink()
                    let status = try await harness.run(sandbox, Behaviour.sleeperScan, sink: probe)
                    let output = await probe.all
                    let words = output.split(whereSeparator: \.isWhitespace)
                    #expect(status == .success)
                    #expect(words.count == 4 && words[0] == "control" && words[2] == "found" && words[1] == words[3],
                            "expected only the control sleeper, got: \(output)")
                }
                print("[behaviour] \(target) cancel: returned \(elapsed) after cancel with \(outcome)")
            }
        }
    }

    @Test("destroy twice is harmless; a step after destroy fails cleanly", arguments: BehaviourTarget.allCases)
    func destroyTwice(_ target: BehaviourTarget) async throws {
        try await BehaviourHarness.with(target, test: "destroy") { harness in
            let sandbox = try await harness.executor.makeSandbox(for: harness.runSpec, logger: Behaviour.logger)
            do {
                let alive = RecordingSink()
                #expect(try await harness.run(sandbox, "echo alive", sink: alive) == .success)
                #expect(await alive.stdout == "alive\n")
                #expect(!(await harness.leftovers(sandbox)).isEmpty, "the leftover probe does not see the live sandbox")
            } catch {
                await sandbox.destroy()
                throw error
            }

            try await Behaviour.bounded(.seconds(60), "the first destroy") { await sandbox.destroy() }
            #expect(await harness.leftovers(sandbox) == [])
            try await Behaviour.bounded(.seconds(60), "the second destroy") { await sandbox.destroy() }
            #expect(await harness.leftovers(sandbox) == [])

            let late = RecordingSink()
            let outcome = try await Behaviour.bounded(.seconds(60), "a step after destroy") {
                await Result { try await sandbox.run(Step(name: "late", run: "echo ran-after-destroy"), log: late) }
            }
            switch outcome {
            case .success(let status):
                #expect(!status.succeeded, "a step after destroy succeeded")
            case .failure(let error):
                #expect(!(error is CancellationError), "a step after destroy was 'cancelled': \(error)")
            }
            #expect(await !late.all.contains("ran-after-destroy"))
            #expect(await harness.leftovers(sandbox) == [], "the step after destroy left something behind")
            print("[behaviour] \(target) step after destroy: \(outcome)")
        }
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }

    /// The lines in the order their chunks arrived (a line split over chunks is joined per stream).
    static func arrivalOrder(_ sink: RecordingSink) async -> [String] {
        var pending: [LogStream: String] = [:]
        var order: [String] = []
        for entry in await sink.entries {
            var text = pending[entry.stream, default: ""] + String(decoding: entry.bytes, as: UTF8.self)
            while let newline = text.firstIndex(of: "\n") {
                order.append(String(text[..<newline]))
                text = String(text[text.index(after: newline)...])
            }
            pending[entry.stream] = text
        }
        return order
    }
}

/// The executors the suite runs against.
enum BehaviourTarget: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case container, qemu, virtualbox
    var testDescription: String { rawValue }
}

/// One executor, set up for one test case: its `JobExecutor`, the `RunSpec` of the case, and the probes
/// that look at what it left behind. `with` removes everything it made.
struct BehaviourHarness: Sendable {
    enum ProcessView: Sendable {
        /// The step's processes are visible in this host's /proc (container, stand-in).
        case host
        /// Only QEMU is: the step's processes live in the guest's kernel.
        case guestBehindQEMU
    }

    let target: BehaviourTarget
    let executor: any JobExecutor
    let runSpec: RunSpec
    /// In the environment of every step (BEHAVIOUR_TOKEN): marks this case's processes.
    let token: String
    let processView: ProcessView
    /// Whether the sandbox still runs steps after a cancelled one (a container is killed by design).
    let stepsAfterCancel: Bool
    /// Longest wait for a step's first output (a QEMU boot under TCG).
    let startLimit: Duration
    /// Longest time a short step may take.
    let stepLimit: Duration
    /// What of `sandbox` still exists (container, QEMU process, scratch directory, registered clone).
    let leftovers: @Sendable (any Sandbox) async -> [String]
    let cleanUp: @Sendable () async -> Void

    static func with(_ target: BehaviourTarget, test: String, _ body: (BehaviourHarness) async throws -> Void) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let harness = try await make(target)
        do {
            try await body(harness)
        } catch {
            await harness.cleanUp()
            Behaviour.record(target, test, clock.now - started)
            throw error
        }
        await harness.cleanUp()
        Behaviour.record(target, test, clock.now - started)
    }

    /// A sandbox for the case, destroyed afterwards whatever happened.
    func withSandbox(_ body: (any Sandbox) async throws -> Void) async throws {
        let sandbox = try await executor.makeSandbox(for: runSpec, logger: Behaviour.logger)
        do {
            try await body(sandbox)
        } catch {
            await sandbox.destroy()
            throw error
        }
        await sandbox.destroy()
    }

    func run(_ sandbox: any Sandbox, _ command: String, sink: RecordingSink) async throws -> ExitStatus {
        try await Behaviour.bounded(stepLimit, "step `\(command.prefix(40))`") {
            try await sandbox.run(Step(name: "behaviour", run: command), log: sink)
        }
    }

    static func make(_ target: BehaviourTarget) async throws -> BehaviourHarness {
        let token = "bt" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        switch target {
        case .container: return try await container(token: token)
        case .qemu: return try qemu(token: token)
        case .virtualbox: return try virtualBox(token: token)
        }
    }

    private static func container(token: String) async throws -> BehaviourHarness {
        let engine = try #require(BehaviourEngine.current, "the suite needs the .behaviourEngine trait")
        let fixture = try await engine.fixture()
        let workspace = try fixture.makeWorkspace()
        let spec = fixture.runSpec(workspace, environment: ["BEHAVIOUR_TOKEN": token, "BEHAVIOUR_PIDFILE": "/tmp/child.pid"])
        let client = fixture.client
        return BehaviourHarness(
            target: .container, executor: fixture.executor(), runSpec: spec, token: token, processView: .host,
            stepsAfterCancel: false, startLimit: .seconds(30), stepLimit: .seconds(60),
            leftovers: { sandbox in
                do {
                    return try await client.containerStatus(sandbox.id).map { ["container \(sandbox.id.prefix(12)) (\($0))"] } ?? []
                } catch {
                    return ["the engine did not answer about container \(sandbox.id.prefix(12)): \(error)"]
                }
            },
            cleanUp: { try? FileManager.default.removeItem(at: workspace) })
    }

    private static func qemu(token: String) throws -> BehaviourHarness {
        let profile = try VMProfile.load(named: "linux-x86_64", from: VMProfileTests.profilesDirectory)
        let root = try Behaviour.temporaryDirectory("qemu")
        let workspace = root.appendingPathComponent("workspace")
        let paths = VMRunPaths(workDirectory: root.appendingPathComponent("work"), consoleLog: root.appendingPathComponent("console.log"))
        do {
            try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
            // A tag of our own: guest names never collide with another test process's on this machine.
            let executor = QEMUExecutor(profile: profile, images: VMFixture.images, paths: { _ in paths },
                                        nameTag: "behaviour-\(token.suffix(6))")
            let problems = executor.problems()
            guard problems.isEmpty else {
                throw BehaviourSetupError("the qemu executor cannot run linux-x86_64 here (images: \(VMFixture.images.path)): "
                    + problems.joined(separator: "; ") + " — `make vm-images` builds the images; set PUSHBOX_VM_IMAGES to use others")
            }
            return BehaviourHarness(
                target: .qemu, executor: executor,
                runSpec: RunSpec(runID: 1, image: "unused", workspace: workspace,
                                 environment: ["BEHAVIOUR_TOKEN": token, "BEHAVIOUR_PIDFILE": "/tmp/child.pid"]),
                token: token, processView: .guestBehindQEMU, stepsAfterCancel: true,
                startLimit: .seconds(150), stepLimit: .seconds(180),
                leftovers: { sandbox in
                    VMFixture.qemuProcesses(named: sandbox.id).map { "QEMU \(sandbox.id) pid \($0)" }
                        + (FileManager.default.fileExists(atPath: paths.workDirectory.path) ? ["scratch directory \(paths.workDirectory.path)"] : [])
                },
                cleanUp: {
                    // Only guests with this case's tag: ours. destroy() should have stopped them already.
                    for process in RunningQEMU.all() where process.name.hasPrefix("pushbox-behaviour-\(token.suffix(6))-") {
                        kill(process.pid, SIGKILL)
                    }
                    try? FileManager.default.removeItem(at: root)
                })
        } catch {
            try? FileManager.default.removeItem(at: root)
            throw error
        }
    }

    private static func virtualBox(token: String) throws -> BehaviourHarness {
        let standIn = try VMVirtualBoxTests.StandIn(sshReadyAfter: "0")
        do {
            let executor = VirtualBoxExecutor(profile: try VMVirtualBoxTests.profile(), images: standIn.images,
                                              tools: standIn.tools, pollInterval: .milliseconds(50))
            let spec = RunSpec(runID: 21, image: "unused", workspace: standIn.workspace,
                               environment: ["BEHAVIOUR_TOKEN": token,
                                             "BEHAVIOUR_PIDFILE": standIn.root.appendingPathComponent("child.pid").path])
            return BehaviourHarness(
                target: .virtualbox, executor: executor, runSpec: spec, token: token, processView: .host,
                stepsAfterCancel: true, startLimit: .seconds(20), stepLimit: .seconds(30),
                leftovers: { sandbox in
                    let registered = standIn.read("vms").split(separator: "\n").filter { $0 == sandbox.id }.map { "registered clone \($0)" }
                    let running = standIn.read("running").split(separator: "\n").filter { $0 == sandbox.id }.map { "running clone \($0)" }
                    return registered + running
                },
                cleanUp: {
                    // The stand-in's "guest" processes are ours (they carry the token); none should be left.
                    for sleeper in HostSleepers.find(token: token) { kill(sleeper.pid, SIGKILL) }
                    standIn.cleanUp()
                })
        } catch {
            standIn.cleanUp()
            throw error
        }
    }
}

/// A component the suite needs is missing; the message says how to get it.
struct BehaviourSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Processes of this host that run `sleep 300` with `BEHAVIOUR_TOKEN=<token>` in their environment.
enum HostSleepers {
    struct Sleeper: Sendable, Equatable, CustomStringConvertible {
        var pid: Int32
        /// The pid in its own pid namespace (a container's), the same as `pid` for a host process.
        var namespacePID: Int32
        var description: String { pid == namespacePID ? "pid \(pid)" : "pid \(pid) (\(namespacePID) in its container)" }
    }

    static func find(token: String) -> [Sleeper] {
        let marker = Data("BEHAVIOUR_TOKEN=\(token)".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Sleeper? in
            guard let pid = Int32(entry),
                  FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") == Data("sleep\u{0}300\u{0}".utf8),
                  let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ"),
                  environ.split(separator: 0).contains(where: { Data($0) == marker }),
                  let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8) else { return nil }
            let namespacePID = status.split(separator: "\n").first { $0.hasPrefix("NSpid:") }
                .flatMap { $0.split(whereSeparator: \.isWhitespace).last.flatMap { Int32($0) } } ?? pid
            return Sleeper(pid: pid, namespacePID: namespacePID)
        }.sorted { $0.pid < $1.pid }
    }
}

enum Behaviour {
    static var logger: Logger { EngineFixture.logger }

    /// Run in the sandbox after a cancelled step: starts a control `sleep 300` of its own, then lists every
    /// `sleep 300` that carries this run's token: prints `control <pid> found <pids…>`. Only /proc and
    /// POSIX sh, so the same text works in the guest and on the stand-in's host. By name, not by the pid
    /// the cancelled step wrote: a guest boots the same way every time, and the control of the next boot
    /// gets the very pid the cancelled child had (seen: 121 both times).
    static let sleeperScan = #"""
        sleep 300 &
        control=$!
        # Until the control has exec'd sleep (slow under TCG), it is a copy of this shell.
        i=0
        while [ "$(tr '\0' ' ' 2>/dev/null < /proc/$control/cmdline)" != "sleep 300 " ] && [ $i -lt 100 ]; do
          sleep 0.1
          i=$((i + 1))
        done
        found=""
        for d in /proc/[0-9]*; do
          read -r stat 2>/dev/null < "$d/stat" || continue
          case $stat in *" (sleep) "*) ;; *) continue ;; esac
          [ "$(tr '\0' ' ' 2>/dev/null < "$d/cmdline")" = "sleep 300 " ] || continue
          grep -qz "^BEHAVIOUR_TOKEN=$BEHAVIOUR_TOKEN\$" "$d/environ" 2>/dev/null || continue
          found="$found ${d#/proc/}"
        done
        kill $control
        echo "control $control found$found"
        """#

    static func temporaryDirectory(_ what: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-behaviour-\(what)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Polls `condition` every 20 ms until it holds or `limit` passes.
    static func poll(within limit: Duration, _ condition: () async -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while true {
            if await condition() { return true }
            guard clock.now < deadline else { return false }
            try? await clock.sleep(for: .milliseconds(20))
        }
    }

    /// `body`, or a `BehaviourTimeout` after `limit` without waiting for it (a hang fails the test instead
    /// of stalling the suite; the abandoned task is cancelled).
    static func bounded<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>()
        return try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let work = Task {
                do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
            }
            race.setTimer(Task {
                guard (try? await Task.sleep(for: limit)) != nil else { return }
                if race.finish(.failure(BehaviourTimeout(what: what, limit: limit))) { work.cancel() }
            })
        }
    }

    /// Wall time per executor, printed when the suite ends.
    private static let times = Mutex<[(BehaviourTarget, String, Duration)]>([])

    static func record(_ target: BehaviourTarget, _ test: String, _ elapsed: Duration) {
        times.withLock { $0.append((target, test, elapsed)) }
        print("[behaviour timing] \(target) \(test): \(seconds(elapsed))")
    }

    static func seconds(_ duration: Duration) -> String {
        let (whole, atto) = duration.components
        return String(format: "%.1fs", Double(whole) + Double(atto) / 1e18)
    }

    static func printTotals() {
        let all = times.withLock { $0 }
        for target in BehaviourTarget.allCases {
            let mine = all.filter { $0.0 == target }
            guard !mine.isEmpty else { continue }
            let total = mine.reduce(Duration.zero) { $0 + $1.2 }
            print("[behaviour timing] \(target) total: \(seconds(total)) over \(mine.count) cases")
        }
    }
}

struct BehaviourTimeout: Error, CustomStringConvertible {
    var what: String
    var limit: Duration
    var description: String { "\(what) did not finish within \(limit)" }
}

/// The first of a body and a timer to finish resumes the continuation; the other is ignored.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var timer: Task<Void, Never>?
        var done = false
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func setTimer(_ timer: Task<Void, Never>) {
        let cancelNow = state.withLock { state -> Bool in
            if state.done { return true }
            state.timer = timer
            return false
        }
        if cancelNow { timer.cancel() }
    }

    /// True for the first caller, which resumed the continuation.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let taken = state.withLock { state -> (CheckedContinuation<T, any Error>, Task<Void, Never>?)? in
            guard !state.done, let continuation = state.continuation else { return nil }
            let timer = state.timer
            state.done = true
            state.continuation = nil
            state.timer = nil
            return (continuation, timer)
        }
        guard let (continuation, timer) = taken else { return false }
        timer?.cancel()
        continuation.resume(with: result)
        return true
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// The suite's private Podman service: started the first time a container case needs it (so that the other
/// executors' cases do not depend on it), stopped by pid, with every container and file it made removed,
/// when the suite ends. A failed start is kept, so each container case fails with the same message.
actor BehaviourEngine {
    @TaskLocal static var current: BehaviourEngine?

    private var started: Result<EngineFixture, any Error>?

    func fixture() async throws -> EngineFixture {
        if let started { return try started.get() }
        let result = await Result { try await Self.start() }
        started = result
        return try result.get()
    }

    private static func start() async throws -> EngineFixture {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        guard let podman = path.split(separator: ":").map({ "\($0)/podman" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BehaviourSetupError("podman is not on PATH (\(path)): the container executor needs it (`make image` installs it and builds \(EngineFixture.image))")
        }
        let directory = try Behaviour.temporaryDirectory("engine")
        let service = PrivatePodmanService(directory: directory, podmanPath: podman)
        do {
            _ = try await service.start(logger: Behaviour.logger)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw BehaviourSetupError("the private podman service did not start: \(error)")
        }
        let fixture = EngineFixture(service: service, client: DockerEngineClient(socketPath: service.socketPath), directory: directory,
                                    testLabel: ["pushbox.test": directory.lastPathComponent])
        do {
            guard try await fixture.client.inspectImage(EngineFixture.image) != nil else {
                throw BehaviourSetupError("image \(EngineFixture.image) is missing from podman's storage: `make image` builds it")
            }
        } catch {
            await stop(fixture)
            throw error
        }
        return fixture
    }

    func shutDown() async {
        guard case .success(let fixture)? = started else { return }
        started = nil
        await Self.stop(fixture)
    }

    private static func stop(_ fixture: EngineFixture) async {
        _ = try? await fixture.executor().removeOrphans(logger: Behaviour.logger)   // what a failed case left
        await fixture.service.stop()
        try? FileManager.default.removeItem(at: fixture.directory)
    }
}

struct BehaviourEngineTrait: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let engine = BehaviourEngine()
        do {
            try await BehaviourEngine.$current.withValue(engine) { try await function() }
        } catch {
            await engine.shutDown()
            Behaviour.printTotals()
            throw error
        }
        await engine.shutDown()
        Behaviour.printTotals()
    }
}

extension Trait where Self == BehaviourEngineTrait {
    /// A Podman service for the container cases, started on first use and stopped after the suite.
    static var behaviourEngine: BehaviourEngineTrait { BehaviourEngineTrait() }
}
