import Core
import Executors
import Foundation
import Logging
import Synchronization
import Testing

/// Real QEMU guests (TCG here: ≈6-8 s per boot). The images are built once per machine into
/// `$PUSHBOX_VM_IMAGES` (default /var/cache/pushbox/vm-images) by the profiles' own build script, which
/// is a no-op when they are up to date; a build that cannot run fails the test with the script's message.
@Suite("VM guests: real QEMU", .serialized, .timeLimit(.minutes(20)))
struct VMGuestTests {
    static let logger = Logger(label: "pushbox.test.vm")

    @Test("x86_64 guest: uname -m is x86_64, its kernel is not the host's, the accelerator is reported")
    func unameX86() async throws {
        let fixture = try await VMFixture.make(profile: "linux-x86_64")
        defer { fixture.cleanUp() }
        let sandbox = try await fixture.executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let sink = VMCollectingSink()
        let report: VMStepReport
        do {
            report = try await sandbox.runReporting(Step(name: "uname", run: "uname -m; uname -r"), log: sink)
        } catch {
            await sandbox.destroy()
            throw error
        }
        await sandbox.destroy()
        let lines = await sink.text.split(separator: "\n").map(String.init)
        #expect(report.status == .success)
        #expect(lines.first == "x86_64")
        #expect(lines.count == 2 && lines[1] != VMFixture.hostKernelRelease())
        #expect(!report.accel.reason.isEmpty)
        #expect(sandbox.overlayTime < .milliseconds(500))
        // The console log is kept, with QEMU's command line and the guest's output.
        let console = try String(contentsOf: fixture.paths.consoleLog, encoding: .utf8)
        #expect(console.contains("qemu-system-x86_64") && console.contains("@@PUSHBOX-START"))
        VMTimings.record("x86_64 uname (accel \(report.accel.accel.rawValue)): boot→first command \(report.bootTime), job \(report.jobTime), total \(report.totalTime), overlay \(sandbox.overlayTime)")
        print("[vm timings] x86_64 boot→cmd \(report.bootTime) total \(report.totalTime) accel \(report.accel)")
    }

    @Test("exit code, output order, environment, workspace in and results out")
    func exitCodeAndWorkspace() async throws {
        let fixture = try await VMFixture.make(profile: "linux-x86_64")
        defer { fixture.cleanUp() }
        try "from the host\n".write(to: fixture.workspace.appendingPathComponent("input.txt"), atomically: true, encoding: .utf8)
        var run = fixture.run
        run.environment = ["GREETING": "it's \"quoted\" $HOME", "CI": "true"]
        let sandbox = try await fixture.executor.makeQEMUSandbox(for: run, paths: fixture.paths, logger: Self.logger)
        let sink = VMCollectingSink()
        let status: ExitStatus
        do {
            status = try await sandbox.run(Step(name: "test", run: """
                cat input.txt
                echo "$GREETING"
                mkdir -p out && echo result > out/r.txt
                echo one; echo two >&2; echo three
                exit 3
                """), log: sink)
            try await sandbox.copyOut("out", to: fixture.root.appendingPathComponent("results"))
        } catch {
            await sandbox.destroy()
            throw error
        }
        await sandbox.destroy()
        #expect(status == ExitStatus(code: 3))
        #expect(await sink.text == "from the host\nit's \"quoted\" $HOME\none\ntwo\nthree\n")
        #expect(try String(contentsOf: fixture.root.appendingPathComponent("results/out/r.txt"), encoding: .utf8) == "result\n")
        // The guest worked on a copy: the host's workspace is unchanged.
        #expect(!FileManager.default.fileExists(atPath: fixture.workspace.appendingPathComponent("out").path))
        #expect(!FileManager.default.fileExists(atPath: fixture.paths.workDirectory.path))
    }

    @Test("user ci runs the job as uid 1000; a 9p workspace gets the results in place")
    func userAndShare() async throws {
        var fixture = try await VMFixture.make(profile: "linux-x86_64")
        defer { fixture.cleanUp() }
        fixture.profile.user = "ci"
        let asCI = try await fixture.executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let sink = VMCollectingSink()
        let status = try await asCI.run(Step(name: "whoami", run: "id -un; id -u; pwd"), log: sink)
        await asCI.destroy()
        #expect(status == .success)
        #expect(await sink.text == "ci\n1000\n/workspace\n")

        fixture.profile.user = "root"
        fixture.profile.workspace = .share
        let shared = try await fixture.executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let written = try await shared.run(Step(name: "write", run: "echo from-guest > in-place.txt"), log: VMCollectingSink())
        await shared.destroy()
        #expect(written == .success)
        #expect(try String(contentsOf: fixture.workspace.appendingPathComponent("in-place.txt"), encoding: .utf8) == "from-guest\n")
    }

    @Test("clean state: what one run writes to the root disk is gone in the next")
    func cleanState() async throws {
        let fixture = try await VMFixture.make(profile: "linux-x86_64")
        defer { fixture.cleanUp() }
        let executor = fixture.executor
        let first = try await executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let written = try await first.run(Step(name: "write", run: "echo dirty > /etc/pushbox-was-here && sync"), log: VMCollectingSink())
        await first.destroy()
        let second = try await executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let check = try await second.run(Step(name: "check", run: "test ! -e /etc/pushbox-was-here"), log: VMCollectingSink())
        await second.destroy()
        #expect(written == .success)
        #expect(check == .success)
    }

    @Test("a guest that never boots: boot timeout with console lines, QEMU gone, nothing left behind")
    func bootTimeout() async throws {
        var fixture = try await VMFixture.make(profile: "linux-x86_64")
        defer { fixture.cleanUp() }
        // rdinit=/nonexistent: the kernel falls back to a shell that never reads anything: a hung boot.
        fixture.profile.kernelArguments = ["rdinit=/nonexistent", "panic=0"]
        fixture.profile.bootTimeout = .seconds(15)
        fixture.profile.accel = .tcg
        let sandbox = try await fixture.executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let clock = ContinuousClock()
        let started = clock.now
        var message = ""
        do {
            _ = try await sandbox.run(Step(name: "never", run: "true"), log: VMCollectingSink())
            Issue.record("the step ran in a guest that should not boot")
        } catch let error as SandboxError {
            message = error.message
        }
        let elapsed = clock.now - started
        #expect(message.hasPrefix("boot timeout: the linux-x86_64 guest was not ready after 15.0s (accel tcg)"))
        #expect(message.contains("last console lines:") && message.contains("Kernel panic"), "\(message)")
        #expect(elapsed < .seconds(90))  // bounded by the boot timeout, not hung
        #expect(VMFixture.qemuProcesses(named: sandbox.id).isEmpty)
        await sandbox.destroy()
        await sandbox.destroy()   // twice is harmless
        #expect(!FileManager.default.fileExists(atPath: fixture.paths.workDirectory.path))
        #expect(try String(contentsOf: fixture.paths.consoleLog, encoding: .utf8).contains("boot timeout"))
    }

    @Test("cancel during a running job kills QEMU promptly and destroy removes the overlay")
    func cancel() async throws {
        let fixture = try await VMFixture.make(profile: "linux-x86_64")
        defer { fixture.cleanUp() }
        let sandbox = try await fixture.executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let overlay = fixture.paths.workDirectory.appendingPathComponent("root.qcow2")
        #expect(FileManager.default.fileExists(atPath: overlay.path))
        let sink = VMCollectingSink()
        let job = Task { try await sandbox.run(Step(name: "long", run: "echo started; sleep 600"), log: sink) }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(120)
        while await !sink.text.contains("started"), clock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(await sink.text.contains("started"))
        #expect(VMFixture.qemuProcesses(named: sandbox.id).count == 1)
        let canceledAt = clock.now
        job.cancel()
        let result = await job.result
        let stopTime = clock.now - canceledAt
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(stopTime < .seconds(60), "stopping took \(stopTime): it must not wait for the 600 s sleep")
        #expect(VMFixture.qemuProcesses(named: sandbox.id).isEmpty)
        await sandbox.destroy()
        #expect(!FileManager.default.fileExists(atPath: overlay.path))
        #expect(!FileManager.default.fileExists(atPath: fixture.paths.workDirectory.path))
    }

    @Test("a job past the profile's job_timeout is stopped and reported as timed out")
    func jobTimeout() async throws {
        var fixture = try await VMFixture.make(profile: "linux-x86_64")
        defer { fixture.cleanUp() }
        fixture.profile.jobTimeout = .seconds(2)
        let sandbox = try await fixture.executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let status = try await sandbox.run(Step(name: "slow", run: "sleep 600"), log: VMCollectingSink())
        #expect(status == ExitStatus(code: 124, timedOut: true))
        #expect(VMFixture.qemuProcesses(named: sandbox.id).isEmpty)
        await sandbox.destroy()
    }

    @Test("KVM is detected by booting: here /dev/kvm opens but guests do not run, so the probe fails")
    func kvmProbe() async throws {
        let fixture = try await VMFixture.make(profile: "linux-x86_64")
        defer { fixture.cleanUp() }
        let images = VMFixture.images
        let profile = fixture.profile
        let kernel = VMProfile.resolve(profile.image.kernel!, in: images), initrd = VMProfile.resolve(profile.image.initrd!, in: images)
        let qemu = try #require(fixture.executor.qemuBinary)
        let result = await KVMProbe.probe(qemu: qemu, profile: profile, kernel: kernel, initrd: initrd, timeout: .seconds(20), logger: Self.logger)
        let hardwareVirtualization = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))
            .map { $0.contains(" vmx") || $0.contains(" svm") } ?? false
        print("[vm timings] KVM probe: works=\(result.works) \(result.detail)")
        if KVMProbe.kvmDeviceOpens() && !hardwareVirtualization {
            // This machine kind (docs/vms.md): the device opens, guests die. The probe must say no.
            #expect(!result.works, "\(result.detail)")
        }
        // Whatever the host, the probe leaves no guest behind.
        #expect(VMFixture.qemuProcesses(named: "pushbox-kvm-probe").isEmpty)
    }

    @Test("removeOrphans kills guests of a crashed runner (same tag), not its own children nor other tags")
    func orphans() async throws {
        let qemu = try #require(VMHostTools().find("qemu-system-x86_64"))
        // An idle QEMU (no kernel, no disk: SeaBIOS waits forever); the shell exits, so QEMU is orphaned.
        let idle = "-machine pc -accel tcg -nodefaults -display none -m 64"
        // Not Foundation.Process: it waits for a socket the backgrounded QEMU would inherit.
        let spawnOrphan = { (name: String) in
            let shell = VMFixture.spawn(["/bin/sh", "-c", "\(qemu) -name \(name) \(idle) </dev/null >/dev/null 2>&1 &"])
            var status: Int32 = 0
            waitpid(shell, &status, 0)
        }
        spawnOrphan("pushbox-orphantest-7-linux-x86_64")
        spawnOrphan("pushbox-othertag-7-linux-x86_64")
        let own = VMFixture.spawn([qemu, "-name", "pushbox-orphantest-8-linux-x86_64"] + idle.split(separator: " ").map(String.init))
        defer {
            kill(own, SIGKILL)
            var status: Int32 = 0
            waitpid(own, &status, 0)
            for process in RunningQEMU.all() where process.name == "pushbox-othertag-7-linux-x86_64" { kill(process.pid, SIGKILL) }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while RunningQEMU.all().filter({ $0.name.hasPrefix("pushbox-orphantest-") || $0.name.hasPrefix("pushbox-othertag-") }).count < 3,
              clock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let killed = await QEMUExecutor.removeOrphans(tag: "orphantest", logger: Self.logger)
        let names = Set(RunningQEMU.all().map(\.name))
        #expect(killed.count == 1)
        #expect(!names.contains("pushbox-orphantest-7-linux-x86_64"))
        #expect(names.contains("pushbox-orphantest-8-linux-x86_64"))   // our own child
        #expect(names.contains("pushbox-othertag-7-linux-x86_64"))     // another runner's
        #expect(QEMUExecutor.guestName(runID: 7, profile: "linux-x86_64", tag: "orphantest") == "pushbox-orphantest-7-linux-x86_64")
        #expect(QEMUExecutor.guestName(runID: 7, profile: "linux-x86_64", tag: nil) == "pushbox-7-linux-x86_64")
    }

    @Test("aarch64 guest: uname -m is aarch64 (TCG, cortex-a57)")
    func unameAarch64() async throws {
        let fixture = try await VMFixture.make(profile: "linux-aarch64")
        defer { fixture.cleanUp() }
        let sandbox = try await fixture.executor.makeQEMUSandbox(for: fixture.run, paths: fixture.paths, logger: Self.logger)
        let sink = VMCollectingSink()
        let report: VMStepReport
        do {
            report = try await sandbox.runReporting(Step(name: "uname", run: "uname -m"), log: sink)
        } catch {
            await sandbox.destroy()
            throw error
        }
        await sandbox.destroy()
        #expect(report.status == .success)
        #expect(await sink.text == "aarch64\n")
        #expect(report.accel.accel == .tcg)
        VMTimings.record("aarch64 uname: boot→first command \(report.bootTime), total \(report.totalTime)")
        print("[vm timings] aarch64 boot→cmd \(report.bootTime) total \(report.totalTime)")
    }
}

/// A temporary run directory, the profile from `vm-profiles/`, and its image built (or found) in the cache.
struct VMFixture {
    static let images = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PUSHBOX_VM_IMAGES"] ?? "/var/cache/pushbox/vm-images")

    var profile: VMProfile
    let root: URL
    var workspace: URL { root.appendingPathComponent("workspace") }
    var run: RunSpec { RunSpec(runID: 1, image: "unused", workspace: workspace) }
    var paths: VMRunPaths { VMRunPaths.beside(workspace: workspace, profile: profile.name) }
    var executor: QEMUExecutor { QEMUExecutor(profile: profile, images: Self.images) }

    static func make(profile name: String) async throws -> VMFixture {
        let profile = try VMProfile.load(named: name, from: VMProfileTests.profilesDirectory)
        try await VMTestImages.shared.ensure(profile)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-vm-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("workspace"), withIntermediateDirectories: true)
        let fixture = VMFixture(profile: profile, root: root)
        let problems = fixture.executor.problems()
        guard problems.isEmpty else {
            throw SandboxError("this host cannot run the \(name) guest: \(problems.joined(separator: "; "))")
        }
        return fixture
    }

    func cleanUp() { try? FileManager.default.removeItem(at: root) }

    /// posix_spawn with stdin, stdout and stderr on /dev/null; the caller reaps the pid.
    static func spawn(_ argv: [String]) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        precondition(rc == 0, "posix_spawn \(argv[0]) failed: \(rc)")   // a test helper: the paths are known to exist
        return pid
    }

    static func hostKernelRelease() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Pids of live QEMU processes started with `-name <name>`.
    static func qemuProcesses(named name: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty,
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  !stat.contains(") Z ") else { return nil }
            let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard argv.first?.contains("qemu-system") == true,
                  let index = argv.firstIndex(of: "-name"), index + 1 < argv.count, argv[index + 1] == name else { return nil }
            return pid
        }
    }
}

/// Builds each profile's image at most once per test process (the script itself is a no-op when the
/// image is up to date).
actor VMTestImages {
    static let shared = VMTestImages()
    private var builds: [String: Task<Void, any Error>] = [:]

    func ensure(_ profile: VMProfile) async throws {
        if let build = builds[profile.name] { return try await build.value }
        let builder = VMImageBuilder(profilesDirectory: VMProfileTests.profilesDirectory, imagesDirectory: VMFixture.images)
        let task = Task {
            let clock = ContinuousClock()
            let started = clock.now
            do {
                try await builder.build(profile, logger: VMGuestTests.logger) { line in print("[vm image \(profile.name)] \(line)") }
            } catch {
                throw SandboxError("the \(profile.name) guest image is missing and could not be built into \(VMFixture.images.path) (needs root and Debian's mirror): \(error)")
            }
            print("[vm image \(profile.name)] ready after \(clock.now - started)")
        }
        builds[profile.name] = task
        try await task.value
    }
}

enum VMTimings {
    static let lines = Mutex<[String]>([])
    static func record(_ line: String) { lines.withLock { $0.append(line) } }
}

actor VMCollectingSink: LogSink {
    private var data = Data()
    func write(_ bytes: Data, from stream: LogStream) async { data.append(bytes) }
    var text: String { String(decoding: data, as: UTF8.self) }
}
