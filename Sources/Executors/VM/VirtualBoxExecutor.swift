import Core
import Foundation
import Logging
import Synchronization

/// The commands a guest reached over SSH runs around the job (pure). Windows' OpenSSH hands a command
/// line to cmd.exe; Linux's to the user's shell.
package enum GuestShellCommands {
    /// Where the workspace goes in the guest.
    package static func workspaceDirectory(os: VMProfile.OS) -> String {
        os == .windows ? "C:\\pushbox\\workspace" : "/workspace"
    }

    /// Answers with exit 0 once sshd accepts the key: the readiness check.
    package static let ready = "exit 0"

    /// Unpacks a tar stream from stdin into the workspace (Windows 10+ ships bsdtar as tar.exe).
    package static func unpackWorkspace(os: VMProfile.OS) -> String {
        let directory = workspaceDirectory(os: os)
        return os == .windows
            ? "if not exist \(directory) mkdir \(directory) && tar -xf - -C \(directory)"
            : "mkdir -p \(directory) && tar -xf - -C \(directory)"
    }

    /// Writes stdin to `path` (a PowerShell script too long for `-EncodedCommand` on cmd.exe's command line).
    package static func writeFile(_ path: String) -> String {
        let script = "[IO.File]::WriteAllText(\(PowerShellInvocation.quote(path)), [Console]::In.ReadToEnd())"
        return PowerShellInvocation.arguments(script: script).joined(separator: " ")
    }

    /// The remote command line of one step, or nil when it has to go through a script file (Windows only).
    package static func step(_ command: String, profile: VMProfile, environment: [String: String]) -> String? {
        let directory = workspaceDirectory(os: profile.os)
        switch profile.shell {
        case .powershell:
            let script = PowerShellInvocation.script(command: command, environment: environment, workingDirectory: directory)
            return PowerShellInvocation.remoteCommandLine(script: script)
        case .sh:
            let script = GuestJob.script(command: command, environment: environment)
            return "cd \(directory) && exec /bin/sh -c \(GuestJob.shellQuote(script))"
        }
    }
}

/// Runs steps in a linked clone of a VirtualBox base VM, reached over SSH on a forwarded loopback port.
///
/// `makeSandbox`: `clonevm --snapshot --options link` (a clone in seconds that shares the base's disks),
/// `modifyvm` (resources, the NAT port forward 127.0.0.1:<free port> → 22), `startvm --type headless`,
/// SSH answering within `boot_timeout`, the workspace in as a tar stream. Each `run` is one SSH command
/// (PowerShell for Windows guests). `destroy` powers the clone off and unregisters it with its files.
/// Every VBoxManage argv comes from `VBoxManageCommand` (pure, table-tested); the tests drive this
/// executor against a scripted stand-in `VBoxManage` and `ssh` (docs/vms.md).
package struct VirtualBoxExecutor: GuestExecutor {
    package let name = "virtualbox"
    package let profile: VMProfile
    package let images: URL
    package let tools: VMHostTools
    /// Between readiness checks.
    package let pollInterval: Duration
    /// Part of every clone's name (`pushbox-<tag>-<run>-<profile>`): `removeOrphans` of one runner home
    /// never touches another's clones. Nil: `pushbox-<run>-<profile>`.
    package let nameTag: String?

    package init(profile: VMProfile, images: URL, tools: VMHostTools = VMHostTools(), pollInterval: Duration = .seconds(2),
                 nameTag: String? = nil) {
        self.profile = profile
        self.images = images
        self.tools = tools
        self.pollInterval = pollInterval
        self.nameTag = nameTag
    }

    /// Powers off and deletes the clones named `pushbox-<tag>-…` that a crashed runner left registered.
    /// Call at startup, before any run. Returns their names; without VirtualBox on this host, nothing.
    @discardableResult
    package static func removeOrphans(tag: String, tools: VMHostTools = VMHostTools(), logger: Logger) async -> [String] {
        guard let vboxManage = tools.find(VBoxManageCommand.executable) else { return [] }
        let listed: String
        do {
            listed = try await VirtualBoxSandbox.vbox(vboxManage, VBoxManageCommand.listVMs())
        } catch {
            logger.warning("cannot list VirtualBox machines: \(error)")
            return []
        }
        var removed: [String] = []
        for name in VBoxManageCommand.parseVMList(listed) where name.hasPrefix("pushbox-\(tag)-") {
            logger.info("deleting a leftover VirtualBox clone", metadata: ["vm": "\(name)"])
            _ = try? await VirtualBoxSandbox.vbox(vboxManage, VBoxManageCommand.powerOff(vm: name))   // fails when it is off
            do {
                _ = try await VirtualBoxSandbox.vbox(vboxManage, VBoxManageCommand.delete(vm: name))
                removed.append(name)
            } catch {
                logger.error("cannot delete the leftover clone", metadata: ["vm": "\(name)", "error": "\(error)"])
            }
        }
        return removed
    }

    package func isAvailable() async -> Bool {
        tools.find(VBoxManageCommand.executable) != nil && tools.find("ssh") != nil
    }

    /// What is missing, as sentences with the fix; empty when the profile can run.
    package func problems() -> [String] {
        var problems = toolProblems()
        let missing = profile.missingImageFiles(in: images)
        if !missing.isEmpty {
            problems.append("profile \(profile.name) needs \(missing.map(\.path).joined(separator: ", ")) (the SSH key of the base VM; see docs/vms.md)")
        }
        return problems
    }

    /// What this host lacks to run the profile's guests at all (VirtualBox, ssh, tar), apart from the image.
    package func toolProblems() -> [String] {
        var problems: [String] = []
        if profile.driver != .virtualbox { problems.append("profile \(profile.name) uses driver \(profile.driver.rawValue), not virtualbox") }
        if tools.find(VBoxManageCommand.executable) == nil {
            problems.append("VBoxManage not found: install VirtualBox 7 from virtualbox.org (it is not in Debian)")
        }
        if tools.find("ssh") == nil { problems.append("ssh not found; install: apt-get install openssh-client") }
        if tools.find("tar") == nil { problems.append("tar not found; install: apt-get install tar") }
        return problems
    }

    package func makeGuestSandbox(for run: RunSpec, logger: Logger) async throws -> any GuestSandbox {
        try await makeVirtualBoxSandbox(for: run, logger: logger)
    }

    package func makeVirtualBoxSandbox(for run: RunSpec, logger: Logger) async throws -> VirtualBoxSandbox {
        var logger = logger
        logger[metadataKey: "run"] = "\(run.runID)"
        logger[metadataKey: "vm"] = "\(profile.name)"
        if let problem = problems().first { throw SandboxError(problem) }
        guard let vbox = tools.find(VBoxManageCommand.executable), let ssh = tools.find("ssh"), let tar = tools.find("tar"),
              let base = profile.image.vm, let snapshot = profile.image.snapshot, let key = profile.image.sshKey else {
            throw SandboxError("profile \(profile.name) is incomplete")   // problems() and the parser said so already
        }
        let vm = VBoxManageCommand.vmName(runID: run.runID, profile: profile.name, tag: nameTag)
        let port = try Self.freeLoopbackPort()
        let sandbox = VirtualBoxSandbox(id: vm, profile: profile, vboxManage: vbox, ssh: ssh, port: port,
                                        key: VMProfile.resolve(key, in: images).path, environment: run.environment, logger: logger)
        let clock = ContinuousClock()
        let started = clock.now
        do {
            _ = try await sandbox.vbox(VBoxManageCommand.cloneLinked(base: base, snapshot: snapshot, name: vm))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw error   // nothing was created
        }
        sandbox.markCreated()
        do {
            _ = try await sandbox.vbox(VBoxManageCommand.resources(vm: vm, cpus: profile.cpus, memoryMiB: profile.memoryMiB))
            _ = try await sandbox.vbox(VBoxManageCommand.forwardSSH(vm: vm, port: port))
            _ = try await sandbox.vbox(VBoxManageCommand.start(vm: vm))
            try await sandbox.waitForSSH(timeout: profile.bootTimeout, pollInterval: pollInterval)
            let bootTime = clock.now - started
            logger.info("guest ready", metadata: ["vm": "\(vm)", "port": "\(port)", "boot": "\(Units.formatSeconds(bootTime))"])
            try await sandbox.copyIn(run.workspace, tar: tar)
        } catch {
            await sandbox.destroy()
            if Task.isCancelled { throw CancellationError() }
            if error is SandboxError { throw error }
            throw SandboxError("cannot prepare the \(profile.name) guest: \(error)")
        }
        return sandbox
    }

    /// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, close).
    static func freeLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SandboxError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw SandboxError("cannot find a free loopback port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// One run's linked clone.
package final class VirtualBoxSandbox: Sandbox {
    /// The clone's name, `pushbox-<run>-<profile>`.
    package let id: String
    package let profile: VMProfile
    /// 127.0.0.1:`port` is forwarded to the guest's SSH port.
    package let port: Int
    private let vboxManage: String
    private let ssh: String
    private let key: String
    private let environment: [String: String]
    private let logger: Logger

    private struct State {
        var created = false
        var destroyed = false
    }
    private let state = Mutex(State())

    init(id: String, profile: VMProfile, vboxManage: String, ssh: String, port: Int, key: String,
         environment: [String: String], logger: Logger) {
        self.id = id
        self.profile = profile
        self.vboxManage = vboxManage
        self.ssh = ssh
        self.port = port
        self.key = key
        self.environment = environment
        self.logger = logger
    }

    func markCreated() { state.withLock { $0.created = true } }

    /// One VBoxManage call; a non-zero exit is a `SandboxError` with VirtualBox's own message.
    func vbox(_ arguments: [String]) async throws -> String {
        try await Self.vbox(vboxManage, arguments)
    }

    static func vbox(_ vboxManage: String, _ arguments: [String]) async throws -> String {
        let (status, output) = try await SpawnedChild.run(vboxManage, arguments)
        guard status == 0 else {
            let message = output.split(separator: "\n").first { $0.contains("error:") }.map(String.init)
                ?? output.trimmingCharacters(in: .whitespacesAndNewlines)
            throw SandboxError("VBoxManage \(arguments.first ?? "") failed (exit \(status)): \(message)")
        }
        return output
    }

    private func sshArguments(_ remoteCommand: String) -> [String] {
        SSHCommand.arguments(port: port, user: profile.user, key: key, remoteCommand: remoteCommand)
    }

    /// Polls until sshd accepts the key, or throws `boot timeout`.
    func waitForSSH(timeout: Duration, pollInterval: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var last = ""
        while true {
            let (status, output) = try await SpawnedChild.run(ssh, sshArguments(GuestShellCommands.ready))
            try Task.checkCancellation()
            if status == 0 { return }
            last = output.trimmingCharacters(in: .whitespacesAndNewlines)
            guard clock.now + pollInterval < deadline else { break }
            try await clock.sleep(for: pollInterval)
        }
        throw SandboxError("boot timeout: the \(profile.name) guest \(id) did not answer SSH on 127.0.0.1:\(port) within \(Units.format(timeout))\(last.isEmpty ? "" : "; last ssh error: \(last.suffix(300))")")
    }

    /// Sends the workspace as a tar stream over SSH.
    func copyIn(_ workspace: URL, tar: String) async throws {
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-\(id)-\(UUID().uuidString.prefix(8)).tar")
        defer { try? FileManager.default.removeItem(at: archive) }
        let (tarStatus, tarOutput) = try await SpawnedChild.run(tar, ["-cf", archive.path, "-C", workspace.path, "."])
        guard tarStatus == 0 else { throw SandboxError("tar of the workspace failed: \(tarOutput.suffix(300))") }
        let (status, output) = try await SpawnedChild.run(ssh, sshArguments(GuestShellCommands.unpackWorkspace(os: profile.os)),
                                                          standardInput: archive.path)
        guard status == 0 else { throw SandboxError("copying the workspace into \(id) failed (exit \(status)): \(output.suffix(300))") }
    }

    package func run(_ step: Step, log: any LogSink) async throws -> ExitStatus {
        guard !state.withLock({ $0.destroyed }) else { throw SandboxError("the \(profile.name) guest \(id) was already destroyed") }
        var remote = GuestShellCommands.step(step.run, profile: profile, environment: environment)
        if remote == nil {
            // Too long for cmd.exe: copy the script, run it as a file.
            let path = "C:\\pushbox\\step.ps1"
            let script = PowerShellInvocation.script(command: step.run, environment: environment,
                                                     workingDirectory: GuestShellCommands.workspaceDirectory(os: profile.os))
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-\(id)-step.ps1")
            try Data(script.utf8).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let (status, output) = try await SpawnedChild.run(ssh, sshArguments(GuestShellCommands.writeFile(path)), standardInput: file.path)
            guard status == 0 else { throw SandboxError("copying the step's script into \(id) failed: \(output.suffix(300))") }
            remote = PowerShellInvocation.fileArguments(path: path).joined(separator: " ")
        }
        let child = try SpawnedChild.spawn(ssh, sshArguments(remote ?? ""))
        let timedOut = Flag()
        let jobTimeout = profile.jobTimeout
        await withTaskCancellationHandler {
            let watchdog = Task {
                try? await Task.sleep(for: jobTimeout)
                guard !Task.isCancelled else { return }
                timedOut.set()
                child.signalGroup(SIGKILL)
            }
            for await chunk in child.output { await log.write(chunk, from: .stdout) }
            watchdog.cancel()
        } onCancel: {
            child.signalGroup(SIGKILL)
        }
        let status = await child.waitForExit()
        if Task.isCancelled { throw CancellationError() }
        if timedOut.isSet { return ExitStatus(code: 124, timedOut: true) }
        return ExitStatus(code: status)
    }

    /// Powers the clone off and unregisters it with its files. Idempotent; errors are logged.
    package func destroy() async {
        let created: Bool = state.withLock { state in
            defer { state.destroyed = true; state.created = false }
            return state.created && !state.destroyed
        }
        guard created else { return }
        let id = id, logger = logger, vboxManage = vboxManage
        // Detached: destroy typically runs in a task that is being cancelled.
        await Task.detached {
            _ = try? await Self.vbox(vboxManage, VBoxManageCommand.powerOff(vm: id))   // fails harmlessly when it is off
            // VirtualBox releases the session lock a moment after the power-off.
            for attempt in 1...10 {
                do {
                    _ = try await Self.vbox(vboxManage, VBoxManageCommand.delete(vm: id))
                    return
                } catch {
                    if attempt == 10 { logger.error("could not delete the clone", metadata: ["vm": "\(id)", "error": "\(error)"]) }
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        }.value
    }
}

/// A boolean shared by a task and its watchdog.
private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

extension VirtualBoxSandbox: GuestSandbox {
    /// VirtualBox chooses no accelerator and the guest is up when the sandbox is made: the status alone.
    package func runGuest(_ step: Step, log: any LogSink) async throws -> GuestRunReport {
        GuestRunReport(status: try await run(step, log: log))
    }

    /// Not there yet for VirtualBox guests: their JUnit files stay in the guest (the counts come from the log).
    package func copyOut(_ path: String, to directory: URL) async throws {
        throw SandboxError("copying \(path) out of a VirtualBox guest is not supported yet")
    }
}
