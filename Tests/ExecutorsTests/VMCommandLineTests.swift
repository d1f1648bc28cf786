import Core
import Executors
import Foundation
import Testing

@Suite("VM argv builders: QEMU, VBoxManage, PowerShell, SSH")
struct VMCommandLineTests {
    static let x86 = VMProfile(name: "linux-x86_64", arch: .x86_64, memoryMiB: 1024, cpus: 2)
    static let arm = VMProfile(name: "linux-aarch64", arch: .aarch64, memoryMiB: 2048, cpus: 4)

    struct QEMUCase: Sendable, CustomTestStringConvertible {
        var name: String
        var profile: VMProfile
        var launch: QEMULaunch
        var expected: [String]
        var testDescription: String { name }
    }

    static let qemuCases: [QEMUCase] = [
        QEMUCase(
            name: "x86_64, TCG, overlay, workspace disk, console on stdio",
            profile: x86,
            launch: QEMULaunch(accel: .tcg, kernel: "/img/vmlinux", initrd: "/w/initrd-1.img", root: .overlay(path: "/w/root.qcow2"),
                               workspace: .disk(path: "/w/workspace.img"), console: .stdio, name: "pushbox-12-linux-x86_64"),
            expected: ["-name", "pushbox-12-linux-x86_64", "-machine", "pc", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1024",
                       "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
                       "-kernel", "/img/vmlinux", "-initrd", "/w/initrd-1.img",
                       "-append", "console=ttyS0 root=/dev/vda rw quiet panic=-1 pushbox.ws=disk",
                       "-drive", "file=/w/root.qcow2,if=none,id=root,format=qcow2,cache=unsafe", "-device", "virtio-blk-pci,drive=root",
                       "-drive", "file=/w/workspace.img,if=none,id=ws,format=raw", "-device", "virtio-blk-pci,drive=ws"]),
        QEMUCase(
            name: "aarch64, TCG, snapshot=on, 9p share, console to a file, extra kernel args",
            profile: { var p = arm; p.kernelArguments = ["mitigations=off"]; return p }(),
            launch: QEMULaunch(accel: .tcg, kernel: "/img/Image", initrd: "/img/initrd.img", root: .snapshot(base: "/img/base.qcow2"),
                               workspace: .share(directory: "/runs/3/workspace"), console: .file(path: "/runs/3/console.log"),
                               extraKernelArguments: ["pushbox.debug=1"]),
            expected: ["-machine", "virt", "-accel", "tcg", "-cpu", "cortex-a57", "-smp", "4", "-m", "2048",
                       "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "file:/runs/3/console.log",
                       "-kernel", "/img/Image", "-initrd", "/img/initrd.img",
                       "-append", "console=ttyAMA0 root=/dev/vda rw quiet panic=-1 pushbox.ws=9p mitigations=off pushbox.debug=1",
                       "-drive", "file=/img/base.qcow2,if=none,id=root,format=qcow2,snapshot=on", "-device", "virtio-blk-pci,drive=root",
                       "-fsdev", "local,id=ws,path=/runs/3/workspace,security_model=none", "-device", "virtio-9p-pci,fsdev=ws,mount_tag=workspace"]),
        QEMUCase(
            name: "KVM uses the host CPU; SSH forwards a loopback port only",
            profile: x86,
            launch: QEMULaunch(accel: .kvm, kernel: "/k", initrd: "/i", root: .overlay(path: "/o.qcow2"), workspace: .none, sshPort: 40022),
            expected: ["-machine", "pc", "-accel", "kvm", "-cpu", "host", "-smp", "2", "-m", "1024",
                       "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
                       "-kernel", "/k", "-initrd", "/i", "-append", "console=ttyS0 root=/dev/vda rw quiet panic=-1 pushbox.ws=none pushbox.net=1",
                       "-drive", "file=/o.qcow2,if=none,id=root,format=qcow2,cache=unsafe", "-device", "virtio-blk-pci,drive=root",
                       "-nic", "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:40022-:22"]),
        QEMUCase(
            name: "outbound network without forwarding; profile cpu and machine win; commas in paths doubled",
            profile: { var p = x86; p.cpu = "qemu64"; p.machine = "q35"; return p }(),
            launch: QEMULaunch(accel: .kvm, kernel: "/k", initrd: "/i", root: .overlay(path: "/a,b/o.qcow2"), workspace: .disk(path: "/a,b/ws.img"), network: true),
            expected: ["-machine", "q35", "-accel", "kvm", "-cpu", "qemu64", "-smp", "2", "-m", "1024",
                       "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
                       "-kernel", "/k", "-initrd", "/i", "-append", "console=ttyS0 root=/dev/vda rw quiet panic=-1 pushbox.ws=disk pushbox.net=1",
                       "-drive", "file=/a,,b/o.qcow2,if=none,id=root,format=qcow2,cache=unsafe", "-device", "virtio-blk-pci,drive=root",
                       "-drive", "file=/a,,b/ws.img,if=none,id=ws,format=raw", "-device", "virtio-blk-pci,drive=ws",
                       "-nic", "user,model=virtio-net-pci"]),
        QEMUCase(
            name: "the KVM probe: no disks, probe flag",
            profile: x86,
            launch: QEMULaunch(accel: .kvm, kernel: "/k", initrd: "/i", root: nil, extraKernelArguments: ["pushbox.probe=1"]),
            expected: ["-machine", "pc", "-accel", "kvm", "-cpu", "host", "-smp", "2", "-m", "1024",
                       "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
                       "-kernel", "/k", "-initrd", "/i", "-append", "console=ttyS0 quiet panic=-1 pushbox.ws=none pushbox.probe=1"]),
    ]

    @Test("QEMU argv", arguments: qemuCases)
    func qemuArguments(_ testCase: QEMUCase) {
        let args = QEMUCommandLine.arguments(profile: testCase.profile, launch: testCase.launch)
        #expect(args == testCase.expected)
        // No network device unless asked: -nodefaults leaves none, and nothing adds one.
        if testCase.launch.sshPort == nil && !testCase.launch.network { #expect(!args.contains("-nic")) }
    }

    @Test("QEMU executables per architecture")
    func executables() {
        #expect(QEMUCommandLine.executable(for: .x86_64) == "qemu-system-x86_64")
        #expect(QEMUCommandLine.executable(for: .aarch64) == "qemu-system-aarch64")
    }

    struct VBoxCase: Sendable, CustomTestStringConvertible {
        var name: String
        var argv: [String]
        var expected: [String]
        var testDescription: String { name }
    }

    static let vm = VBoxManageCommand.vmName(runID: 12, profile: "windows-11")
    static let vboxCases: [VBoxCase] = [
        VBoxCase(name: "clone", argv: VBoxManageCommand.cloneLinked(base: "pushbox-windows-11", snapshot: "clean", name: vm),
                 expected: ["clonevm", "pushbox-windows-11", "--snapshot", "clean", "--options", "link", "--name", "pushbox-12-windows-11", "--register"]),
        VBoxCase(name: "port forward", argv: VBoxManageCommand.forwardSSH(vm: vm, port: 40022),
                 expected: ["modifyvm", "pushbox-12-windows-11", "--natpf1", "ssh,tcp,127.0.0.1,40022,,22"]),
        VBoxCase(name: "resources", argv: VBoxManageCommand.resources(vm: vm, cpus: 2, memoryMiB: 4096),
                 expected: ["modifyvm", "pushbox-12-windows-11", "--cpus", "2", "--memory", "4096"]),
        VBoxCase(name: "start", argv: VBoxManageCommand.start(vm: vm), expected: ["startvm", "pushbox-12-windows-11", "--type", "headless"]),
        VBoxCase(name: "power off", argv: VBoxManageCommand.powerOff(vm: vm), expected: ["controlvm", "pushbox-12-windows-11", "poweroff"]),
        VBoxCase(name: "delete", argv: VBoxManageCommand.delete(vm: vm), expected: ["unregistervm", "pushbox-12-windows-11", "--delete"]),
        VBoxCase(name: "info", argv: VBoxManageCommand.info(vm: vm), expected: ["showvminfo", "pushbox-12-windows-11", "--machinereadable"]),
    ]

    @Test("VBoxManage argv", arguments: vboxCases)
    func vboxArguments(_ testCase: VBoxCase) {
        #expect(testCase.argv == testCase.expected)
    }

    @Test("VBoxManage output parsing (formats of VirtualBox 7's manual)")
    func vboxParsing() {
        let list = "\"pushbox-windows-11\" {0a1b2c3d-0000-4000-8000-000000000001}\n\"pushbox-12-windows-11\" {0a1b2c3d-0000-4000-8000-000000000002}\n"
        #expect(VBoxManageCommand.parseVMList(list) == ["pushbox-windows-11", "pushbox-12-windows-11"])
        let info = "name=\"pushbox-12-windows-11\"\nostype=\"Windows 11 (64-bit)\"\nVMState=\"running\"\nVMStateChangeTime=\"2026-11-22T10:00:00.000000000\"\n"
        #expect(VBoxManageCommand.parseState(info) == "running")
        #expect(VBoxManageCommand.parseState("name=\"x\"\n") == nil)
    }

    @Test("SSH argv: loopback, key only, no host key prompts")
    func sshArguments() {
        #expect(SSHCommand.arguments(port: 40022, user: "pushbox", key: "/img/windows-11/id_ed25519", remoteCommand: "whoami") == [
            "-i", "/img/windows-11/id_ed25519", "-p", "40022",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5",
            "pushbox@127.0.0.1", "whoami",
        ])
    }

    @Test("PowerShell: UTF-8 output, environment, exit code from $LASTEXITCODE")
    func powerShellScript() {
        let script = PowerShellInvocation.script(command: "dotnet test", environment: ["CI": "true", "NOTE": "it's", "bad-key": "x"],
                                                 workingDirectory: "C:\\pushbox\\workspace")
        #expect(script == """
            $ErrorActionPreference = 'Stop'\r
            $ProgressPreference = 'SilentlyContinue'\r
            [Console]::OutputEncoding = [System.Text.UTF8Encoding]::new($false)\r
            $OutputEncoding = [System.Text.UTF8Encoding]::new($false)\r
            $env:CI = 'true'\r
            $env:NOTE = 'it''s'\r
            Set-Location -LiteralPath 'C:\\pushbox\\workspace'\r
            $global:LASTEXITCODE = 0\r
            dotnet test\r
            if ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }\r
            exit 0\r

            """)
    }

    @Test("PowerShell: -EncodedCommand is Base64 of UTF-16LE; too long for cmd.exe gives nil")
    func powerShellEncoding() throws {
        #expect(PowerShellInvocation.encode("exit 3") == "ZQB4AGkAdAAgADMA")
        // Non-ASCII survives: "é" is U+00E9 → E9 00.
        #expect(PowerShellInvocation.encode("é") == "6QA=")
        let args = PowerShellInvocation.arguments(script: "exit 3")
        #expect(args == ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
                         "-EncodedCommand", "ZQB4AGkAdAAgADMA"])
        #expect(PowerShellInvocation.remoteCommandLine(script: "exit 3") == args.joined(separator: " "))
        #expect(PowerShellInvocation.remoteCommandLine(script: String(repeating: "x", count: 4000)) == nil)
        #expect(PowerShellInvocation.fileArguments(path: "C:\\t\\job.ps1").suffix(2) == ["-File", "C:\\t\\job.ps1"])
    }
}

@Suite("VM guest job: script, cpio, console sentinels")
struct VMGuestJobTests {
    @Test("the job script exports the environment, quoted, then runs the command")
    func script() {
        let script = GuestJob.script(command: "make test\necho done", environment: ["CI": "true", "Q": "it's \"x\" $HOME", "1BAD": "y", "A-B": "z"])
        #expect(script == """
            # Written by pushbox for one step; run by /bin/sh in the guest.
            export CI='true'
            export Q='it'\\''s "x" $HOME'
            make test
            echo done

            """)
    }

    @Test("newc cpio: headers, names, padding, trailer")
    func cpio() {
        let archive = CPIOArchive.newc([.directory("d"), .file("d/f", Data("hi".utf8), mode: 0o755)])
        let text = String(decoding: archive, as: UTF8.self)
        // Header of "d": ino 1, mode 040755, nlink 2, size 0, namesize 2.
        let fields: [String] = ["00000001", "000041ED", "00000000", "00000000", "00000002", "00000000", "00000000",
                                "00000000", "00000000", "00000000", "00000000", "00000002", "00000000"]
        let header: String = "070701" + fields.joined() + "d\0"
        #expect(text.hasPrefix(header))
        #expect(text.contains("000081ED"))                       // regular file, 0755
        #expect(text.contains("d/f\0\0\0hi\0\0"))                 // name padded to 4, data padded to 4
        #expect(text.contains("TRAILER!!!\0"))
        #expect(archive.count % 4 == 0)
        #expect(GuestJob.initrdPrefix(script: "true\n", nonce: "n", user: "root").count % 512 == 0)
    }

    @Test("the cpio round-trips through the real cpio tool (a host package the image build needs too)")
    func cpioRoundTrip() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vm-cpio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let archive = GuestJob.initrdPrefix(script: "echo hi\n", nonce: "abc", user: "ci")
        try archive.write(to: directory.appendingPathComponent("a.cpio"))
        let shell = Foundation.Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "cd '\(directory.path)' && cpio -i --quiet -d < a.cpio"]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        #expect(try String(contentsOf: directory.appendingPathComponent("pushbox/job.sh"), encoding: .utf8) == "echo hi\n")
        #expect(try String(contentsOf: directory.appendingPathComponent("pushbox/nonce"), encoding: .utf8) == "abc\n")
        #expect(try String(contentsOf: directory.appendingPathComponent("pushbox/user"), encoding: .utf8) == "ci\n")
    }

    static func scan(_ chunks: [String], nonce: String = "n1") -> (text: String, events: [ConsoleEvent]) {
        var scanner = ConsoleScanner(nonce: nonce)
        var text = Data()
        var events: [ConsoleEvent] = []
        for chunk in chunks {
            let (t, e) = scanner.feed(Data(chunk.utf8))
            text += t
            events += e
        }
        let (t, e) = scanner.finish()
        text += t
        events += e
        // Adjacent output chunks merged, so that how the input was split does not matter.
        var merged: [ConsoleEvent] = []
        for event in events {
            if case let .output(b) = event, case let .output(a)? = merged.last {
                merged[merged.count - 1] = .output(a + b)
            } else {
                merged.append(event)
            }
        }
        return (String(decoding: text, as: UTF8.self), merged)
    }

    @Test("sentinels split the console into boot noise, job output and exit code")
    func sentinels() {
        let console = "SeaBIOS\r\nboot\r\n@@PUSHBOX-START n1@@\r\nline 1\r\nline 2\r\n@@PUSHBOX-EXIT n1 3@@\r\nsysrq: Power Off\r\n"
        let expected: [ConsoleEvent] = [.started, .output(Data("line 1\nline 2\n".utf8)), .exited(3)]
        #expect(Self.scan([console]).events == expected)
        #expect(Self.scan([console]).text == console.replacingOccurrences(of: "\r\n", with: "\n"))
        // Split at every byte: the same events.
        #expect(Self.scan(console.map { String($0) }).events == expected)
        // Split in the middle of the sentinels and of a CRLF.
        #expect(Self.scan(["boot\r\n@@PUSHBOX-ST", "ART n1@@\r", "\nline 1\r\nline 2\r\n@@PUSHBOX-EXIT n", "1 3", "@", "@\r\n"]).events == expected)
    }

    @Test("output without a final newline, sentinel-like text, other nonces, lone CR")
    func edgeCases() {
        #expect(Self.scan(["@@PUSHBOX-START n1@@\r\nno newline@@PUSHBOX-EXIT n1 0@@\r\n"]).events
            == [.started, .output(Data("no newline".utf8)), .exited(0)])
        // Another boot's sentinel (or a job printing one) is output.
        #expect(Self.scan(["@@PUSHBOX-START n1@@\n@@PUSHBOX-EXIT other 0@@\nprogress\r50%\n@@PUSHBOX-EXIT n1 127@@\n"]).events
            == [.started, .output(Data("@@PUSHBOX-EXIT other 0@@\nprogress\r50%\n".utf8)), .exited(127)])
        #expect(Self.scan(["@@PUSHBOX-START n1@@\n@@PUSHBOX-EXIT n1 x@@\n"]).events
            == [.started, .output(Data("@@PUSHBOX-EXIT n1 x@@\n".utf8))])
        // A guest that never starts, or whose init fails.
        #expect(Self.scan(["Kernel panic - not syncing\r\n"]).events.isEmpty)
        #expect(Self.scan(["pushbox-init: error: cannot mount\r\n@@PUSHBOX-FAILED@@\r\n"]).events == [.failed])
        // Output up to the end of the stream is kept when the guest dies mid-job.
        #expect(Self.scan(["@@PUSHBOX-START n1@@\nhalf @@PUSHBOX-EX"]).events == [.started, .output(Data("half @@PUSHBOX-EX".utf8))])
    }

    @Test("console tail: last lines, no escape sequences")
    func tail() {
        var tail = ConsoleTail(limit: 2)
        tail.append(Data("\u{1b}[2J\u{1b}[0mSeaBIOS\nKernel panic - not syncing\n\nend without newline".utf8))
        #expect(tail.lastLines == ["Kernel panic - not syncing", "end without newline"])
    }
}

@Suite("VM accelerator choice (KVM is probed by booting, never assumed)")
struct VMAccelChoiceTests {
    static let x86 = VMProfile(name: "p", arch: .x86_64, accel: .auto)

    @Test("tcg and kvm in the profile are taken as they are, without a probe")
    func explicit() async {
        var profile = Self.x86
        profile.accel = .tcg
        #expect(await KVMProbe.choose(profile: profile, hostArch: .x86_64, kvmDeviceOpens: true) { Issue.record("probed"); return .init(works: true, detail: "") }.accel == .tcg)
        profile.accel = .kvm
        #expect(await KVMProbe.choose(profile: profile, hostArch: .x86_64, kvmDeviceOpens: false) { Issue.record("probed"); return .init(works: true, detail: "") }.accel == .kvm)
    }

    @Test("auto: no device, foreign architecture, failing probe → tcg, with the reason")
    func auto() async {
        let noDevice = await KVMProbe.choose(profile: Self.x86, hostArch: .x86_64, kvmDeviceOpens: false) { Issue.record("probed"); return .init(works: true, detail: "") }
        #expect(noDevice == AccelChoice(accel: .tcg, reason: "no usable /dev/kvm"))
        let foreign = await KVMProbe.choose(profile: Self.x86, hostArch: .aarch64, kvmDeviceOpens: true) { Issue.record("probed"); return .init(works: true, detail: "") }
        #expect(foreign == AccelChoice(accel: .tcg, reason: "KVM cannot run an x86_64 guest on an aarch64 host"))
        let failing = await KVMProbe.choose(profile: Self.x86, hostArch: .x86_64, kvmDeviceOpens: true) { .init(works: false, detail: "no guest output within 20.0s") }
        #expect(failing == AccelChoice(accel: .tcg, reason: "KVM probe failed: no guest output within 20.0s"))
        let working = await KVMProbe.choose(profile: Self.x86, hostArch: .x86_64, kvmDeviceOpens: true) { .init(works: true, detail: "a guest booted in 0.9s") }
        #expect(working == AccelChoice(accel: .kvm, reason: "KVM probe: a guest booted in 0.9s"))
    }

    @Test("workspace disk size: at least 1 GiB, room to write")
    func workspaceDiskSize() {
        #expect(QEMUExecutor.workspaceDiskMiB(usedBytes: 0) == 1024)
        #expect(QEMUExecutor.workspaceDiskMiB(usedBytes: 1 << 30) == 3 * 1024 + 512)
    }

    @Test("image build invocation: script in the profiles directory, output under the images directory")
    func buildInvocation() throws {
        let builder = VMImageBuilder(profilesDirectory: URL(fileURLWithPath: "/repo/vm-profiles"),
                                     imagesDirectory: URL(fileURLWithPath: "/var/cache/pushbox/vm-images"),
                                     workDirectory: URL(fileURLWithPath: "/var/cache/pushbox/build"))
        var profile = VMProfile(name: "linux-x86_64")
        profile.build = VMProfile.Build(script: "build-linux-image", output: "linux-x86_64", environment: ["ARCH": "x86_64"])
        let (executable, arguments, environment) = try builder.invocation(for: profile, force: true, base: ["PATH": "/usr/bin", "ARCH": "host"])
        #expect(executable == "/repo/vm-profiles/build-linux-image")
        #expect(arguments == ["/var/cache/pushbox/vm-images/linux-x86_64"])
        #expect(environment == ["PATH": "/usr/bin", "ARCH": "x86_64", "FORCE": "1", "WORKDIR": "/var/cache/pushbox/build"])
        #expect(throws: ImageBuildError.self) { try builder.invocation(for: VMProfile(name: "windows-11")) }
    }
}
