import Core
import Foundation
import Logging
import Synchronization

/// Where one run's guest keeps its files.
package struct VMRunPaths: Sendable, Equatable {
    /// Scratch: the root overlay, the workspace disk, per-step initrds. Created by `makeSandbox`, removed
    /// whole by `destroy`.
    package var workDirectory: URL
    /// The serial console of every boot, kept after the run for diagnosing boot failures.
    package var consoleLog: URL

    package init(workDirectory: URL, consoleLog: URL) {
        self.workDirectory = workDirectory
        self.consoleLog = consoleLog
    }

    /// `runs/<id>/vms/<profile>/{work/,console.log}` when the workspace is `runs/<id>/workspace`.
    package static func beside(workspace: URL, profile: String) -> VMRunPaths {
        let directory = workspace.deletingLastPathComponent().appendingPathComponent("vms").appendingPathComponent(profile)
        return VMRunPaths(workDirectory: directory.appendingPathComponent("work"),
                          consoleLog: directory.appendingPathComponent("console.log"))
    }
}

/// Programs the QEMU driver runs, found on PATH (plus /usr/sbin and /sbin, where mkfs.ext4 lives).
package struct VMHostTools: Sendable {
    package var searchPath: String

    package init(searchPath: String? = nil) {
        let path = searchPath ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        self.searchPath = path + ":/usr/sbin:/sbin"
    }

    package func find(_ name: String) -> String? {
        LocalProcess.which(name, environment: ["PATH": searchPath])
    }

    /// The Debian packages that provide what a QEMU profile of `arch` needs.
    package static func packages(for arch: VMProfile.Arch) -> [String] {
        [arch == .x86_64 ? "qemu-system-x86" : "qemu-system-arm", "qemu-utils", "e2fsprogs"]
    }
}

/// Runs steps in a QEMU guest booted fresh for each step, the one-shot serial transport of docs/vms.md.
///
/// `makeSandbox` resolves the accelerator (KVM only when a probe guest boots with it), creates a qcow2
/// overlay on the profile's read-only base disk and an ext4 copy of the workspace as a second disk.
/// Each `run` boots the kernel directly with the step appended to the initrd, streams what the job
/// prints on the serial console to the log, and takes the exit code from the console's exit sentinel;
/// the guest powers off after the job. Root overlay and workspace disk persist between the steps of one
/// sandbox (like a container's file system) and are deleted by `destroy`: nothing survives the run.
package struct QEMUExecutor: GuestExecutor {
    package let name = "qemu"
    package let profile: VMProfile
    /// The runner's `vm.images` directory; the profile's image paths are relative to it.
    package let images: URL
    package let paths: @Sendable (RunSpec) -> VMRunPaths
    package let tools: VMHostTools
    package let kvmProbe: KVMProbe
    /// How long the KVM probe guest may take to print its sentinel.
    package let probeTimeout: Duration
    /// Part of every guest's name (`pushbox-<tag>-<run>-<profile>`), so that `removeOrphans` of one runner
    /// home never touches another's guests; e.g. a short hash of `$PUSHBOX_HOME`. Nil: `pushbox-<run>-<profile>`.
    package let nameTag: String?

    package init(profile: VMProfile, images: URL, paths: (@Sendable (RunSpec) -> VMRunPaths)? = nil,
                 tools: VMHostTools = VMHostTools(), kvmProbe: KVMProbe = .shared, probeTimeout: Duration = .seconds(20),
                 nameTag: String? = nil) {
        self.profile = profile
        self.images = images
        let profileName = profile.name
        self.paths = paths ?? { VMRunPaths.beside(workspace: $0.workspace, profile: profileName) }
        self.tools = tools
        self.kvmProbe = kvmProbe
        self.probeTimeout = probeTimeout
        self.nameTag = nameTag
    }

    /// `pushbox-[<tag>-]<run>-<profile>`: QEMU's `-name`, shown by `ps`, and the sandbox's id (pure).
    package static func guestName(runID: Int64, profile: String, tag: String?) -> String {
        "pushbox-" + (tag.map { "\($0)-" } ?? "") + "\(runID)-\(profile)"
    }

    /// Kills QEMU guests named `pushbox-<tag>-…` that this process did not start: the leftovers of a
    /// runner that crashed (its guests outlive it). Call at startup, before any run. Returns their pids.
    @discardableResult
    package static func removeOrphans(tag: String, logger: Logger) async -> [Int32] {
        let prefix = "pushbox-\(tag)-"
        let me = getpid()
        var killed: [Int32] = []
        for process in RunningQEMU.all() where process.name.hasPrefix(prefix) && process.parent != me {
            logger.info("killing a leftover guest", metadata: ["pid": "\(process.pid)", "name": "\(process.name)"])
            if kill(process.pid, SIGKILL) == 0 { killed.append(process.pid) }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while clock.now < deadline, RunningQEMU.all().contains(where: { killed.contains($0.pid) }) {
            try? await clock.sleep(for: .milliseconds(25))
        }
        return killed
    }

    package var qemuBinary: String? { tools.find(QEMUCommandLine.executable(for: profile.arch)) }

    package func isAvailable() async -> Bool {
        qemuBinary != nil && tools.find("qemu-img") != nil && tools.find("mkfs.ext4") != nil
    }

    /// What is missing on this host or in the images directory, as sentences with the fix; empty when
    /// the profile can run.
    package func problems() -> [String] {
        var problems = toolProblems()
        let missing = profile.missingImageFiles(in: images)
        if !missing.isEmpty {
            problems.append("the image of profile \(profile.name) is not built (missing \(missing.map(\.path).joined(separator: ", "))); build it with `pushbox vm build \(profile.name)`")
        }
        return problems
    }

    /// What this host lacks to run the profile's guests at all (the driver's tools), apart from the image.
    package func toolProblems() -> [String] {
        var problems: [String] = []
        if profile.driver != .qemu { problems.append("profile \(profile.name) uses driver \(profile.driver.rawValue), not qemu") }
        if profile.transport != .serial { problems.append("profile \(profile.name): transport \(profile.transport.rawValue) is not supported by the QEMU driver yet (use serial)") }
        var missingTools: [String] = []
        if qemuBinary == nil { missingTools.append(QEMUCommandLine.executable(for: profile.arch)) }
        if tools.find("qemu-img") == nil { missingTools.append("qemu-img") }
        if tools.find("mkfs.ext4") == nil { missingTools.append("mkfs.ext4") }
        if !missingTools.isEmpty {
            problems.append("\(missingTools.joined(separator: ", ")) not found; install: apt-get install \(VMHostTools.packages(for: profile.arch).joined(separator: " "))")
        }
        return problems
    }

    /// The accelerator this profile gets on this host (probing KVM by booting, cached).
    package func chooseAccel(logger: Logger) async -> AccelChoice {
        let kernel = VMProfile.resolve(profile.image.kernel ?? "", in: images)
        let initrd = VMProfile.resolve(profile.image.initrd ?? "", in: images)
        let qemu = qemuBinary ?? QEMUCommandLine.executable(for: profile.arch)
        let cacheFile = images.appendingPathComponent(".kvm-probe-\(profile.arch.rawValue).json")
        let profile = profile, probeTimeout = probeTimeout, kvmProbe = kvmProbe
        return await KVMProbe.choose(profile: profile, kvmDeviceOpens: KVMProbe.kvmDeviceOpens()) {
            await kvmProbe.kvmWorks(qemu: qemu, profile: profile, kernel: kernel, initrd: initrd, timeout: probeTimeout,
                                    cacheFile: cacheFile, logger: logger)
        }
    }

    package func makeGuestSandbox(for run: RunSpec, logger: Logger) async throws -> any GuestSandbox {
        try await makeQEMUSandbox(for: run, paths: paths(run), logger: logger)
    }

    /// `makeSandbox` with the concrete type and explicit paths.
    package func makeQEMUSandbox(for run: RunSpec, paths: VMRunPaths, logger: Logger) async throws -> QEMUSandbox {
        var logger = logger
        logger[metadataKey: "run"] = "\(run.runID)"
        logger[metadataKey: "vm"] = "\(profile.name)"
        if let problem = problems().first { throw SandboxError(problem) }
        guard let qemu = qemuBinary, let qemuImg = tools.find("qemu-img"), let mkfs = tools.find("mkfs.ext4") else {
            throw SandboxError("QEMU tools are missing")   // problems() said so already; kept for the unwrap
        }
        let accel = await chooseAccel(logger: logger)
        logger.info("guest accelerator", metadata: ["accel": "\(accel.accel.rawValue)", "reason": "\(accel.reason)"])
        try Task.checkCancellation()

        let work = paths.workDirectory
        let fileManager = FileManager.default
        try? fileManager.removeItem(at: work)   // a leftover of a crashed runner
        do {
            try fileManager.createDirectory(at: work, withIntermediateDirectories: true)
            try fileManager.createDirectory(at: paths.consoleLog.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw SandboxError("cannot create \(work.path): \(error.localizedDescription)")
        }
        let clock = ContinuousClock()
        do {
            let base = VMProfile.resolve(profile.image.disk ?? "", in: images).path
            let overlay = work.appendingPathComponent("root.qcow2").path
            let overlayStart = clock.now
            try await Self.tool(qemuImg, ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", overlay])
            let overlayTime = clock.now - overlayStart

            var workspaceDisk: String?
            if profile.workspace == .disk {
                let disk = work.appendingPathComponent("workspace.img").path
                let size = Self.workspaceDiskMiB(usedBytes: Self.usedBytes(under: run.workspace))
                let diskStart = clock.now
                // No journal and lazy inode tables: a scratch disk that lives for one run.
                try await Self.tool(mkfs, ["-q", "-F", "-L", "workspace", "-m", "0", "-O", "^has_journal",
                                           "-E", "lazy_itable_init=1", "-d", run.workspace.path, disk, "\(size)M"])
                workspaceDisk = disk
                logger.debug("workspace disk", metadata: ["size": "\(size)MiB", "elapsed": "\(clock.now - diskStart)"])
            }
            try Task.checkCancellation()
            logger.debug("overlay created", metadata: ["elapsed": "\(overlayTime)"])
            return QEMUSandbox(
                id: Self.guestName(runID: run.runID, profile: profile.name, tag: nameTag), profile: profile, accel: accel, qemu: qemu,
                kernel: VMProfile.resolve(profile.image.kernel ?? "", in: images),
                initrd: VMProfile.resolve(profile.image.initrd ?? "", in: images),
                overlay: overlay, workspaceDisk: workspaceDisk, workspace: run.workspace,
                environment: run.environment, network: run.network == .egress, paths: paths,
                debugfs: tools.find("debugfs"), overlayTime: overlayTime, logger: logger)
        } catch {
            try? fileManager.removeItem(at: work)
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            if error is SandboxError { throw error }
            throw SandboxError("cannot prepare the \(profile.name) guest: \(error)")
        }
    }

    /// Size of the workspace disk: room for the job to write twice what is there, and at least 1 GiB
    /// (the file is sparse: unused space costs nothing).
    package static func workspaceDiskMiB(usedBytes: Int64) -> Int64 {
        let used = (usedBytes + (1 << 20) - 1) >> 20
        return max(1024, used * 3 + 512)
    }

    static func usedBytes(under directory: URL) -> Int64 {
        var total: Int64 = 0
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.fileAllocatedSizeKey, .fileSizeKey]) else { return 0 }
        for case let url as URL in walker {
            let values = try? url.resourceValues(forKeys: [.fileAllocatedSizeKey, .fileSizeKey])
            total += Int64(values?.fileAllocatedSize ?? values?.fileSize ?? 0) + 4096
        }
        return total
    }

    /// Runs a preparation tool; a failure is a `SandboxError` with its output.
    static func tool(_ executable: String, _ arguments: [String]) async throws {
        let (status, output) = try await SpawnedChild.run(executable, arguments)
        try Task.checkCancellation()
        guard status == 0 else {
            let name = URL(fileURLWithPath: executable).lastPathComponent
            throw SandboxError("\(name) failed (exit \(status)): \(output.trimmingCharacters(in: .whitespacesAndNewlines).suffix(600))")
        }
    }
}

/// A live `qemu-system-*` process and its `-name`, read from /proc.
package struct RunningQEMU: Sendable, Equatable {
    package var pid: Int32
    package var parent: Int32
    package var name: String

    package static func all() -> [RunningQEMU] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry), let argv = LocalProcess.commandLine(pid),
                  argv.first.map({ URL(fileURLWithPath: $0).lastPathComponent.hasPrefix("qemu-system-") }) == true,
                  let index = argv.firstIndex(of: "-name"), index + 1 < argv.count,
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // "pid (comm) S ppid …": the state and the parent follow the last ')'.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, fields[0] != "Z", let parent = Int32(fields[1]) else { return nil }
            return RunningQEMU(pid: pid, parent: parent, name: argv[index + 1])
        }
    }
}

/// How one step went in a guest, with the timings `pushbox vm check` prints.
package struct VMStepReport: Sendable, Equatable {
    package var status: ExitStatus
    package var accel: AccelChoice
    /// From starting QEMU to the start sentinel: the guest is up and the job begins.
    package var bootTime: Duration
    /// From the start sentinel to the exit sentinel.
    package var jobTime: Duration
    /// From starting QEMU until it has exited.
    package var totalTime: Duration
}

/// One run's QEMU guest: a root overlay and a workspace disk; each step is one boot.
package final class QEMUSandbox: Sandbox {
    /// `pushbox-<run>-<profile>`, also QEMU's `-name`.
    package let id: String
    package let profile: VMProfile
    package let accel: AccelChoice
    package let paths: VMRunPaths
    /// Time `qemu-img create` took for the overlay.
    package let overlayTime: Duration
    private let qemu: String
    private let kernel: URL
    private let initrd: URL
    private let overlay: String
    private let workspaceDisk: String?
    private let workspace: URL
    private let environment: [String: String]
    private let network: Bool
    private let debugfs: String?
    private let logger: Logger

    private struct State {
        var destroyed = false
        var boots = 0
        var current: SpawnedChild?
    }
    private let state = Mutex(State())

    init(id: String, profile: VMProfile, accel: AccelChoice, qemu: String, kernel: URL, initrd: URL, overlay: String,
         workspaceDisk: String?, workspace: URL, environment: [String: String], network: Bool, paths: VMRunPaths,
         debugfs: String?, overlayTime: Duration, logger: Logger) {
        self.id = id
        self.profile = profile
        self.accel = accel
        self.qemu = qemu
        self.kernel = kernel
        self.initrd = initrd
        self.overlay = overlay
        self.workspaceDisk = workspaceDisk
        self.workspace = workspace
        self.environment = environment
        self.network = network
        self.paths = paths
        self.debugfs = debugfs
        self.overlayTime = overlayTime
        self.logger = logger
    }

    package func run(_ step: Step, log: any LogSink) async throws -> ExitStatus {
        try await runReporting(step, log: log).status
    }

    /// The QEMU argv of a boot (pure apart from the paths this sandbox owns).
    func launch(initrd stepInitrd: String) -> QEMULaunch {
        let ws: QEMULaunch.Workspace
        switch profile.workspace {
        case .disk: ws = workspaceDisk.map { .disk(path: $0) } ?? .none
        case .share: ws = .share(directory: workspace.path)
        case .none: ws = .none
        }
        return QEMULaunch(accel: accel.accel, kernel: kernel.path, initrd: stepInitrd, root: .overlay(path: overlay),
                          workspace: ws, console: .stdio, network: network, name: id)
    }

    /// `run` with timings: boots the guest with `step` in its initrd and follows its console.
    package func runReporting(_ step: Step, log: any LogSink) async throws -> VMStepReport {
        let boot: Int = try state.withLock { state in
            guard !state.destroyed else { throw SandboxError("the \(profile.name) guest \(id) was already destroyed") }
            state.boots += 1
            return state.boots
        }
        let nonce = GuestJob.makeNonce()
        let script = GuestJob.script(command: step.run, environment: environment)
        let stepInitrd = paths.workDirectory.appendingPathComponent("initrd-\(boot).img")
        do {
            var data = GuestJob.initrdPrefix(script: script, nonce: nonce, user: profile.user)
            data.append(try Data(contentsOf: initrd))
            try data.write(to: stepInitrd)
        } catch {
            throw SandboxError("cannot write the guest's initrd \(stepInitrd.path): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: stepInitrd) }

        let arguments = QEMUCommandLine.arguments(profile: profile, launch: launch(initrd: stepInitrd.path))
        let console = ConsoleLogFile(url: paths.consoleLog)
        console.write("[pushbox] \(Timestamps.string(Date())) step \(step.name), boot \(boot), accel \(accel): \(([qemu] + arguments).joined(separator: " "))\n")

        let clock = ContinuousClock()
        let spawnedAt = clock.now
        let child: SpawnedChild
        do {
            child = try SpawnedChild.spawn(qemu, arguments)
        } catch {
            throw SandboxError("cannot start \(qemu): \(error)")
        }
        let registered = state.withLock { state -> Bool in
            guard !state.destroyed else { return false }
            state.current = child
            return true
        }
        if !registered {
            await child.killGroupAndWait()
            throw SandboxError("the \(profile.name) guest \(id) was destroyed while starting")
        }

        let progress = BootProgress()
        var scanner = ConsoleScanner(nonce: nonce)
        var tail = ConsoleTail()
        let bootTimeout = profile.bootTimeout, jobTimeout = profile.jobTimeout
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await Self.watch(child, progress: progress, spawnedAt: spawnedAt, bootTimeout: bootTimeout, jobTimeout: jobTimeout)
                }
                func handle(_ text: Data, _ events: [ConsoleEvent]) async {
                    console.write(text)
                    tail.append(text)
                    for event in events {
                        switch event {
                        case .started: progress.update { $0.startedAt = clock.now }
                        case let .output(bytes): await log.write(bytes, from: .stdout)
                        case let .exited(code): progress.update { $0.exit = (code, clock.now) }
                        case .failed: progress.update { $0.failed = true }
                        }
                    }
                }
                for await chunk in child.output {
                    let (text, events) = scanner.feed(chunk)
                    await handle(text, events)
                }
                let (text, events) = scanner.finish()
                await handle(text, events)
                group.cancelAll()
            }
        } onCancel: {
            child.signalGroup(SIGKILL)
        }
        let qemuStatus = await child.waitForExit()
        let exitedAt = clock.now
        state.withLock { state in
            if state.current === child { state.current = nil }
        }
        let outcome = progress.snapshot
        console.write("[pushbox] QEMU exited with status \(qemuStatus) after \(Units.formatSeconds(exitedAt - spawnedAt))\n")

        if Task.isCancelled {
            console.write("[pushbox] canceled: QEMU killed\n")
            throw CancellationError()
        }
        let bootTime = outcome.startedAt.map { $0 - spawnedAt } ?? (exitedAt - spawnedAt)
        let lines = tail.lastLines.map { "  | \($0)" }.joined(separator: "\n")
        let consoleHint = "\nlast console lines:\n\(lines)\n(console log: \(paths.consoleLog.path))"
        if let (code, at) = outcome.exit {
            let jobTime = outcome.startedAt.map { at - $0 } ?? .zero
            logger.info("guest step finished", metadata: ["step": "\(step.name)", "exit": "\(code)",
                                                          "boot": "\(Units.formatSeconds(bootTime))", "job": "\(Units.formatSeconds(jobTime))"])
            return VMStepReport(status: ExitStatus(code: code), accel: accel, bootTime: bootTime, jobTime: jobTime,
                                totalTime: exitedAt - spawnedAt)
        }
        switch outcome.killed {
        case .jobTimeout?:
            console.write("[pushbox] job timeout after \(Units.format(jobTimeout)): QEMU killed\n")
            return VMStepReport(status: ExitStatus(code: 124, timedOut: true), accel: accel, bootTime: bootTime,
                                jobTime: outcome.startedAt.map { exitedAt - $0 } ?? .zero, totalTime: exitedAt - spawnedAt)
        case .bootTimeout?:
            console.write("[pushbox] boot timeout after \(Units.format(bootTimeout)): QEMU killed\n")
            throw SandboxError("boot timeout: the \(profile.name) guest was not ready after \(Units.format(bootTimeout)) (accel \(accel.accel.rawValue))\(consoleHint)")
        case nil:
            break
        }
        if outcome.failed {
            throw SandboxError("the \(profile.name) guest could not start the job\(consoleHint)")
        }
        if outcome.startedAt != nil {
            throw SandboxError("the \(profile.name) guest stopped during the job without reporting its exit code (QEMU exit \(qemuStatus))\(consoleHint)")
        }
        throw SandboxError("the \(profile.name) guest stopped before it was ready (QEMU exit \(qemuStatus))\(consoleHint)")
    }

    /// Kills QEMU when the boot or the job takes too long, or when a guest that reported its exit code does
    /// not power off. Ends when QEMU has exited or the task is cancelled.
    private static func watch(_ child: SpawnedChild, progress: BootProgress, spawnedAt: ContinuousClock.Instant,
                              bootTimeout: Duration, jobTimeout: Duration) async {
        let clock = ContinuousClock()
        while child.exitStatus == nil {
            do { try await clock.sleep(for: .milliseconds(50)) } catch { return }
            let now = clock.now
            let snapshot = progress.snapshot
            if let (_, at) = snapshot.exit {
                if now - at > .seconds(15) { child.signalGroup(SIGKILL) }
            } else if let startedAt = snapshot.startedAt {
                if now - startedAt > jobTimeout {
                    progress.update { $0.killed = .jobTimeout }
                    child.signalGroup(SIGKILL)
                }
            } else if now - spawnedAt > bootTimeout {
                progress.update { $0.killed = .bootTimeout }
                child.signalGroup(SIGKILL)
            }
        }
    }

    /// Copies `guestPath` (relative to the workspace, a file or a directory) out of the workspace disk into
    /// `directory`, e.g. JUnit reports. With a 9p workspace the files are in place already.
    package func copyOut(_ guestPath: String, to directory: URL) async throws {
        guard let disk = workspaceDisk else {
            throw SandboxError("the \(profile.name) guest has no workspace disk to copy from (workspace: \(profile.workspace.rawValue))")
        }
        guard let debugfs else { throw SandboxError("debugfs not found; install: apt-get install e2fsprogs") }
        guard state.withLock({ $0.current == nil && !$0.destroyed }) else {
            throw SandboxError("copyOut needs the guest powered off and the sandbox not destroyed")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = "/" + guestPath.drop { $0 == "/" }
        guard !path.contains("\"") && !path.contains("\n") else { throw SandboxError("unsupported path \(guestPath)") }
        let (status, output) = try await SpawnedChild.run(debugfs, ["-R", "rdump \"\(path)\" \"\(directory.path)\"", disk])
        // debugfs reports most failures on its output with exit status 0.
        let complaint = output.split(separator: "\n").first { $0.contains("not found") || $0.contains("rdump:") }
        guard status == 0, complaint == nil else {
            throw SandboxError("cannot copy \(guestPath) out of the guest's workspace: \(complaint.map(String.init) ?? output)")
        }
    }

    /// Kills a running QEMU and deletes the overlay, the workspace disk and every scratch file. Idempotent.
    package func destroy() async {
        let child: SpawnedChild? = state.withLock { state in
            state.destroyed = true
            let child = state.current
            state.current = nil
            return child
        }
        if let child {
            _ = await Task.detached { await child.killGroupAndWait() }.value
        }
        if FileManager.default.fileExists(atPath: paths.workDirectory.path) {
            do {
                try FileManager.default.removeItem(at: paths.workDirectory)
            } catch {
                logger.error("could not remove the guest's scratch directory", metadata: ["path": "\(paths.workDirectory.path)", "error": "\(error)"])
            }
        }
    }
}

/// What the console has shown so far, shared by the reading task and the watchdog.
private final class BootProgress: Sendable {
    enum Killed { case bootTimeout, jobTimeout }
    struct Snapshot {
        var startedAt: ContinuousClock.Instant?
        var exit: (code: Int32, at: ContinuousClock.Instant)?
        var failed = false
        var killed: Killed?
    }
    private let state = Mutex(Snapshot())
    var snapshot: Snapshot { state.withLock { $0 } }
    func update(_ body: (inout Snapshot) -> Void) { state.withLock { body(&$0) } }
}

/// Appends to the console log; a log that cannot be written is not worth failing the run for.
private final class ConsoleLogFile: Sendable {
    private let handle: FileHandle?

    init(url: URL) {
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        handle = try? FileHandle(forWritingTo: url)
        _ = try? handle?.seekToEnd()
    }

    deinit { try? handle?.close() }

    func write(_ text: String) { write(Data(text.utf8)) }
    func write(_ data: Data) {
        guard !data.isEmpty else { return }
        try? handle?.write(contentsOf: data)
    }
}
