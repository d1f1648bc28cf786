import Core
import Executors
import Foundation
import HTTP
import Logging
import Testing

/// Tests that need a real engine: one private Podman service for all of them (see `EngineFixture`).
/// Serialized so that the timing assertions do not compete with each other on two cores.
@Suite("Against a real Podman engine", .podmanEngine, .serialized)
struct RealEngineTests {
    @Suite("ContainerExecutor behaviour")
    struct ContainerExecutorBehaviour {
        let fixture: EngineFixture
        let executor: ContainerExecutor
        let logger = EngineFixture.logger

        init() async throws {
            fixture = try EngineFixture.require()
            executor = fixture.executor()
            let image = try await fixture.client.inspectImage(EngineFixture.image)
            try #require(image != nil, "image \(EngineFixture.image) is missing: run scripts/setup (or `pushbox image build`)")
        }

        /// Runs `steps` in one sandbox and destroys it.
        func run(_ steps: [String], spec: RunSpec? = nil) async throws -> [(ExitStatus, RecordingSink)] {
            let spec = try spec ?? fixture.runSpec(fixture.makeWorkspace())
            return try await executor.withSandbox(for: spec, logger: logger) { sandbox in
                var results: [(ExitStatus, RecordingSink)] = []
                for (index, command) in steps.enumerated() {
                    let sink = RecordingSink()
                    results.append((try await sandbox.run(Step(name: "s\(index)", run: command), log: sink), sink))
                }
                return results
            }
        }

        @Test("success: exit 0 and the output")
        func success() async throws {
            let results = try await run(["echo hello"])
            #expect(results[0].0 == .success)
            #expect(await results[0].1.stdout == "hello\n")
        }

        @Test("a failing step reports its exit code, and the next step still runs")
        func failingExitCode() async throws {
            let results = try await run(["echo before; exit 3", "echo after"])
            #expect(results[0].0 == ExitStatus(code: 3))
            #expect(await results[0].1.stdout == "before\n")
            #expect(results[1].0 == .success)
        }

        @Test("stdout and stderr keep their order and arrive while the step runs")
        func orderAndStreaming() async throws {
            let spec = try fixture.runSpec(fixture.makeWorkspace())
            try await executor.withSandbox(for: spec, logger: logger) { sandbox in
                let sink = RecordingSink()
                let status = try await sandbox.run(
                    Step(name: "ticks", run: "echo one; sleep 0.5; echo two >&2; sleep 0.5; echo three; sleep 0.5"), log: sink)
                let finished = ContinuousClock.now
                #expect(status == .success)
                let entries = await sink.entries
                #expect(entries.map(\.stream) == [.stdout, .stderr, .stdout])
                #expect(entries.map { String(decoding: $0.bytes, as: UTF8.self) } == ["one\n", "two\n", "three\n"])
                let first = try #require(entries.first).at
                #expect(finished - first > .milliseconds(1200), "the first line waited for the end of the step")
            }
        }

        @Test("the run's environment is visible; HOME is /home/ci and writable")
        func environment() async throws {
            let spec = try fixture.runSpec(fixture.makeWorkspace(), environment: ["GREETING": "hello world", "CI": "true"])
            let results = try await run([#"echo "$GREETING|$CI|$HOME"; touch "$HOME/x" && echo home-ok"#], spec: spec)
            #expect(results[0].0 == .success)
            #expect(await results[0].1.stdout == "hello world|true|/home/ci\nhome-ok\n")
        }

        @Test("steps run as uid and gid 1000 in /workspace")
        func user() async throws {
            let results = try await run(["id -u; id -g; pwd"])
            #expect(await results[0].1.stdout == "1000\n1000\n/workspace\n")
        }

        @Test("PID 1 is the engine's init (catatonit for Podman) running the keep-alive command")
        func initProcess() async throws {
            let results = try await run([#"tr '\0' ' ' < /proc/1/cmdline"#])
            #expect(await results[0].1.stdout == "/run/podman-init -- sleep infinity ")
        }

        @Test("the root filesystem is read-only; /tmp is writable")
        func readOnlyRoot() async throws {
            let results = try await run(["touch /x", "touch /tmp/x && echo tmp-ok"])
            #expect(results[0].0.code != 0)
            #expect(await results[0].1.stderr.contains("Read-only file system"))
            #expect(await results[1].1.stdout == "tmp-ok\n")
        }

        @Test("network none: only the loopback interface")
        func onlyLoopback() async throws {
            let results = try await run(["ls /sys/class/net"])
            #expect(await results[0].1.stdout == "lo\n")
        }

        @Test("the workspace is writable and what a step writes appears on the host")
        func workspace() async throws {
            let workspace = try fixture.makeWorkspace()
            try Data("from the host\n".utf8).write(to: workspace.appendingPathComponent("input.txt"))
            let results = try await run(["cat input.txt; echo appended >> input.txt; mkdir -p out && echo built > out/result.txt"],
                                        spec: fixture.runSpec(workspace))
            #expect(results[0].0 == .success)
            #expect(await results[0].1.stdout == "from the host\n")
            #expect(try String(contentsOf: workspace.appendingPathComponent("out/result.txt"), encoding: .utf8) == "built\n")
            #expect(try String(contentsOf: workspace.appendingPathComponent("input.txt"), encoding: .utf8) == "from the host\nappended\n")
            let owner = try FileManager.default.attributesOfItem(atPath: workspace.appendingPathComponent("out/result.txt").path)[.ownerAccountID] as? NSNumber
            #expect(owner?.intValue == 1000)
        }

        @Test("a memory hog past the limit is killed: exit 137 without a timeout")
        func memoryHog() async throws {
            let spec = try fixture.runSpec(fixture.makeWorkspace(), resources: Resources(cpus: 1, memoryBytes: 64 << 20, pids: 64))
            let results = try await run(["head -c 300m /dev/zero | tail"], spec: spec)
            #expect(results[0].0 == ExitStatus(code: 137))
            #expect(results[0].0.summary == "exit 137: killed (out of memory or limit)")
        }

        @Test("a fork bomb hits the pids limit; the sandbox still goes away and the host is unharmed")
        func forkBomb() async throws {
            let spec = try fixture.runSpec(fixture.makeWorkspace(), resources: Resources(cpus: 1, memoryBytes: 256 << 20, pids: 64))
            let sandbox = try await executor.makeContainerSandbox(for: spec, logger: logger)
            let sink = RecordingSink()
            let clock = ContinuousClock()
            let start = clock.now
            // The bomb's processes outlive the step's shell; the step itself ends.
            let status = try await sandbox.run(Step(name: "bomb", run: "bomb() { bomb | bomb & }; bomb; sleep 3; echo survived"), log: sink)
            #expect(clock.now - start < .seconds(60))
            let probe = RecordingSink()
            _ = try? await sandbox.run(Step(name: "count", run: "cat /sys/fs/cgroup/pids/pids.current 2>/dev/null || ls /proc | grep -c '^[0-9]'"), log: probe)
            let destroyStart = clock.now
            await sandbox.destroy()
            #expect(clock.now - destroyStart < .seconds(30))
            #expect(try await fixture.client.containerStatus(sandbox.id) == nil)
            // The host can still start processes.
            let child = Foundation.Process()
            child.executableURL = URL(fileURLWithPath: "/bin/true")
            try child.run()
            child.waitUntilExit()
            #expect(child.terminationStatus == 0)
            let stderr = await sink.stderr, count = await probe.stdout
            print("fork bomb: step exit \(status.code) after \(clock.now - start), pids in container: \(count.trimmingCharacters(in: .whitespacesAndNewlines)), stderr: \(stderr.prefix(120))")
            #expect(stderr.contains("fork"), "the pids limit was not hit")
            if let pids = Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) { #expect(pids <= 64) }
        }

        @Test("cancelling a step kills the container promptly; destroy removes it")
        func cancel() async throws {
            let sandbox = try await executor.makeContainerSandbox(for: fixture.runSpec(fixture.makeWorkspace()), logger: logger)
            let sink = RecordingSink()
            let task = Task { try await sandbox.run(Step(name: "sleepy", run: "echo started; sleep 60"), log: sink) }
            let clock = ContinuousClock()
            let waitStart = clock.now
            while await sink.stdout.isEmpty && clock.now - waitStart < .seconds(20) {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(await sink.stdout == "started\n")
            let start = clock.now
            task.cancel()
            let result = await task.result
            let elapsed = clock.now - start
            #expect(throws: CancellationError.self) { try result.get() }
            #expect(elapsed < .seconds(30), "cancel took \(elapsed): it must not wait for the 60 s sleep")
            let state = try await fixture.client.containerStatus(sandbox.id)
            #expect(state != "running", "the container still runs after cancel: \(state ?? "gone")")
            await sandbox.destroy()
            #expect(try await fixture.client.containerStatus(sandbox.id) == nil)
            print("cancel: run returned \(elapsed) after cancel")
        }

        @Test("cancelling a task inside withSandbox still removes the container (destroy runs while cancelled)")
        func cancelInsideWithSandbox() async throws {
            let spec = try fixture.runSpec(fixture.makeWorkspace(), runID: 77)
            let sink = RecordingSink()
            let executor = executor, logger = logger
            let task = Task {
                try await executor.withSandbox(for: spec, logger: logger) { sandbox in
                    try await sandbox.run(Step(name: "long", run: "echo started; sleep 60"), log: sink)
                }
            }
            let clock = ContinuousClock()
            let waitStart = clock.now
            while await sink.stdout.isEmpty && clock.now - waitStart < .seconds(20) {
                try await Task.sleep(for: .milliseconds(20))
            }
            task.cancel()
            let result = await task.result
            #expect(throws: CancellationError.self) { try result.get() }
            let left = try await fixture.client.listContainers(labels: ["pushbox.run=77"] + fixture.testLabel.map { "\($0.key)=\($0.value)" })
            #expect(left.isEmpty, "left behind: \(left.map(\.names))")
        }

        @Test("destroy twice is harmless")
        func destroyTwice() async throws {
            let sandbox = try await executor.makeContainerSandbox(for: fixture.runSpec(fixture.makeWorkspace()), logger: logger)
            await sandbox.destroy()
            await sandbox.destroy()
            #expect(try await fixture.client.containerStatus(sandbox.id) == nil)
        }

        @Test("a step after the container died is a SandboxError, not a hang")
        func deadContainer() async throws {
            let sandbox = try await executor.makeContainerSandbox(for: fixture.runSpec(fixture.makeWorkspace()), logger: logger)
            try await fixture.client.killContainer(sandbox.id)
            await #expect(throws: SandboxError.self) {
                _ = try await sandbox.run(Step(name: "late", run: "true"), log: RecordingSink())
            }
            await sandbox.destroy()
        }

        @Test("a missing image is a SandboxError telling how to build it")
        func missingImage() async throws {
            let spec = try fixture.runSpec(fixture.makeWorkspace(), image: "pushbox/nonexistent:none")
            let error = await #expect(throws: SandboxError.self) {
                _ = try await executor.makeSandbox(for: spec, logger: logger)
            }
            #expect(error?.message.hasPrefix("image pushbox/nonexistent:none is not present; build it with `pushbox image build pushbox/nonexistent:none`") == true)
        }

        @Test("removeOrphans removes containers a crashed daemon left, and only those")
        func orphans() async throws {
            let left = try await executor.makeContainerSandbox(for: fixture.runSpec(fixture.makeWorkspace(), runID: 41), logger: logger)
            let otherDaemon = ContainerExecutor(engine: fixture.client, flavor: .podman, labels: ["pushbox.test": "someone-else"])
            let foreign = try await otherDaemon.makeContainerSandbox(for: fixture.runSpec(fixture.makeWorkspace(), runID: 42), logger: logger)
            let removed = try await executor.removeOrphans(logger: logger)
            #expect(removed >= 1)
            #expect(try await fixture.client.containerStatus(left.id) == nil)
            #expect(try await fixture.client.containerStatus(foreign.id) == "running")
            let labels = try await fixture.client.listContainers(labels: ["pushbox.run=42"]).first?.labels
            #expect(labels?["pushbox.managed"] == "1")
            await foreign.destroy()
        }

        @Test("isAvailable answers for a live engine and not for a missing socket")
        func availability() async {
            #expect(await executor.isAvailable())
            let nowhere = ContainerExecutor(engine: DockerEngineClient(socketPath: "/nonexistent/engine.sock"), flavor: .podman)
            #expect(await !nowhere.isAvailable())
        }

        @Test("timings: create to first output, and per-step exec overhead")
        func timings() async throws {
            let clock = ContinuousClock()
            let spec = try fixture.runSpec(fixture.makeWorkspace())
            let start = clock.now
            let sandbox = try await executor.makeContainerSandbox(for: spec, logger: logger)
            let created = clock.now
            let sink = RecordingSink()
            _ = try await sandbox.run(Step(name: "hi", run: "echo hi"), log: sink)
            let firstOutput = try #require(await sink.entries.first).at
            var perStep: [Duration] = []
            for _ in 0..<10 {
                let stepStart = clock.now
                _ = try await sandbox.run(Step(name: "true", run: "true"), log: RecordingSink())
                perStep.append(clock.now - stepStart)
            }
            let destroyStart = clock.now
            await sandbox.destroy()
            let destroyed = clock.now - destroyStart
            perStep.sort()
            print("timings: create+start \(created - start), create to first output \(firstOutput - start), "
                + "exec of `true` median \(perStep[perStep.count / 2]) (min \(perStep[0]), max \(perStep[perStep.count - 1])), destroy \(destroyed)")
            #expect(firstOutput - start < .seconds(60))  // a guard against a hang; the figures are printed, not asserted
        }
    }
}
