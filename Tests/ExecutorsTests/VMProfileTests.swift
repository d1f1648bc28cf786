import Core
import Executors
import Foundation
import Testing

@Suite("VMProfile: parsing vm-profiles/*.yml")
struct VMProfileTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let profilesDirectory = repoRoot.appendingPathComponent("vm-profiles")

    @Test("the shipped profiles parse with the documented values")
    func shippedProfiles() throws {
        let profiles = try VMProfile.loadAll(from: Self.profilesDirectory)
        #expect(profiles.map(\.name) == ["linux-aarch64", "linux-x86_64", "windows-11"])

        let x86 = try VMProfile.load(named: "linux-x86_64", from: Self.profilesDirectory)
        #expect(x86.driver == .qemu && x86.arch == .x86_64 && x86.os == .linux)
        #expect(x86.image == VMProfile.Image(kernel: "linux-x86_64/vmlinux", initrd: "linux-x86_64/initrd.img", disk: "linux-x86_64/base.qcow2"))
        #expect(x86.build == VMProfile.Build(script: "build-linux-image", output: "linux-x86_64",
                                             environment: ["ARCH": "x86_64", "PACKAGES": "make,git,ca-certificates,build-essential"]))
        #expect(x86.memoryMiB == 1024 && x86.cpus == 2 && x86.accel == .auto)
        #expect(x86.bootTimeout == .seconds(60) && x86.jobTimeout == .seconds(1200))
        #expect(x86.transport == .serial && x86.workspace == .disk && x86.user == "root" && x86.shell == .sh)
        #expect(x86.run == "make test")

        let arm = try VMProfile.load(named: "linux-aarch64", from: Self.profilesDirectory)
        #expect(arm.arch == .aarch64 && arm.accel == .tcg && arm.machine == "virt" && arm.cpu == "cortex-a57")

        let windows = try VMProfile.load(named: "windows-11", from: Self.profilesDirectory)
        #expect(windows.driver == .virtualbox && windows.os == .windows)
        #expect(windows.transport == .ssh && windows.shell == .powershell && windows.user == "pushbox")
        #expect(windows.image.vm == "pushbox-windows-11" && windows.image.snapshot == "clean")
        #expect(windows.image.sshKey == "windows-11/id_ed25519")
        #expect(windows.memoryMiB == 4096 && windows.bootTimeout == .seconds(300))
    }

    @Test("an unknown profile name lists the known ones")
    func unknownProfile() {
        #expect {
            try VMProfile.load(named: "linux-riscv64", from: Self.profilesDirectory)
        } throws: { error in
            "\(error)".contains("no VM profile \"linux-riscv64\" (known: linux-aarch64, linux-x86_64, windows-11)")
        }
    }

    @Test("defaults for a Windows guest: ssh, powershell, user pushbox")
    func windowsDefaults() throws {
        let profile = try VMProfileParser.parse("""
            driver: virtualbox
            arch: x86_64
            os: windows
            image: {vm: base, snapshot: s1, ssh_key: k}
            """, name: "w", file: "w.yml")
        #expect(profile.transport == .ssh && profile.shell == .powershell && profile.user == "pushbox")
    }

    @Test("cmdline takes a string or a list of kernel arguments")
    func cmdline() throws {
        let base = "driver: qemu\narch: x86_64\nos: linux\nimage: {kernel: k, initrd: i, disk: d}\n"
        #expect(try VMProfileParser.parse(base + "cmdline: \"a=1 b\"\n", name: "p", file: "p.yml").kernelArguments == ["a=1", "b"])
        #expect(try VMProfileParser.parse(base + "cmdline: [a=1, b]\n", name: "p", file: "p.yml").kernelArguments == ["a=1", "b"])
        #expect(try VMProfileParser.parse(base + "memory: 512m\n", name: "p", file: "p.yml").memoryMiB == 512)
        #expect(try VMProfileParser.parse(base + "workspace: 9p\n", name: "p", file: "p.yml").workspace == .share)
        // build.output defaults to the profile's name.
        #expect(try VMProfileParser.parse(base + "build: {script: s}\n", name: "p", file: "p.yml").build?.output == "p")
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var yaml: String
        var message: String
        var testDescription: String { message }
    }

    static let qemuBase = "driver: qemu\narch: x86_64\nos: linux\nimage: {kernel: k, initrd: i, disk: d}\n"

    static let bad: [Bad] = [
        Bad(yaml: "driver: qemu\narch: arm64\n", message: "p.yml:2:7: arch must be one of x86_64, aarch64, found \"arm64\"; did you mean \"aarch64\"?"),
        Bad(yaml: "driver: kvm\n", message: "p.yml:1:9: driver must be one of qemu, virtualbox, found \"kvm\""),
        Bad(yaml: qemuBase + "acel: tcg\n", message: "p.yml:5:1: unknown key \"acel\" in the VM profile (expected one of: driver, arch, os, image, build, memory, cpus, accel, boot_timeout, job_timeout, transport, user, shell, run, machine, cpu, cmdline, workspace); did you mean \"accel\"?"),
        Bad(yaml: qemuBase + "accel: fast\n", message: "p.yml:5:8: accel must be one of auto, kvm, tcg, found \"fast\""),
        Bad(yaml: qemuBase + "boot_timeout: soon\n", message: "p.yml:5:15: boot_timeout must be a duration like 90s, 20m, 1h30m, found \"soon\""),
        Bad(yaml: qemuBase + "memory: 64m\n", message: "p.yml:5:9: memory must be between 128m and 64g, found 64.0 MiB"),
        Bad(yaml: qemuBase + "cpus: 0\n", message: "p.yml:5:7: cpus must be between 1 and 64, found 0"),
        Bad(yaml: qemuBase + "shell: bash\n", message: "p.yml:5:8: shell must be one of sh, powershell, found \"bash\""),
        Bad(yaml: qemuBase + "shell: powershell\n", message: "p.yml:5:1: shell powershell needs os windows"),
        Bad(yaml: qemuBase + "transport: ssh\n", message: "p.yml:5:1: transport ssh needs image.ssh_key (the private key the guest authorises)"),
        Bad(yaml: qemuBase + "user: \"root; rm -rf /\"\n", message: "p.yml:5:7: user must be a plain account name, found \"root; rm -rf /\""),
        Bad(yaml: qemuBase + "image2: x\n", message: "p.yml:5:1: unknown key \"image2\" in the VM profile (expected one of: driver, arch, os, image, build, memory, cpus, accel, boot_timeout, job_timeout, transport, user, shell, run, machine, cpu, cmdline, workspace); did you mean \"image\"?"),
        Bad(yaml: "driver: qemu\narch: x86_64\nos: linux\nimage: {kernel: k, disk: d}\n", message: "p.yml:4:1: a qemu profile needs image.initrd (relative to the images directory)"),
        Bad(yaml: "driver: qemu\narch: x86_64\nos: linux\nimage: {kernel: k, initrd: i, disk: d, cdrom: x}\n", message: "p.yml:4:40: unknown key \"cdrom\" in image (expected one of: kernel, initrd, disk, vm, snapshot, ssh_key)"),
        Bad(yaml: "driver: qemu\narch: x86_64\nos: windows\nimage: {kernel: k, initrd: i, disk: d}\n", message: "p.yml:3:1: os windows is supported with driver virtualbox only"),
        Bad(yaml: "driver: virtualbox\narch: x86_64\nos: windows\nimage: {vm: base, ssh_key: k}\n", message: "p.yml:4:1: a virtualbox profile needs image.snapshot (the base VM's snapshot to link clones to)"),
        Bad(yaml: "driver: virtualbox\narch: x86_64\nos: linux\ntransport: serial\nimage: {vm: b, snapshot: s, ssh_key: k}\n", message: "p.yml:4:1: driver virtualbox supports transport ssh only"),
        Bad(yaml: "driver: qemu\narch: x86_64\n", message: "p.yml: the profile needs os (required keys: driver, arch, os, image)"),
        Bad(yaml: "", message: "p.yml: the profile is empty (it needs at least driver, arch, os and image)"),
        Bad(yaml: "driver: [qemu\n", message: "p.yml:2:1: invalid YAML: while parsing a flow sequence did not find expected ',' or ']'"),
        Bad(yaml: qemuBase + "build: {script: ../evil.sh}\n", message: "p.yml:5:17: build.script is a file name in the profiles directory, found \"../evil.sh\""),
        Bad(yaml: qemuBase + "run: \"\"\n", message: "p.yml:5:6: run must not be empty"),
    ]

    @Test("mistakes are reported with file:line:column", arguments: bad)
    func errors(_ bad: Bad) {
        #expect {
            try VMProfileParser.parse(bad.yaml, name: "p", file: "p.yml")
        } throws: { error in
            let text = "\(error)"
            if text != bad.message { Issue.record("got: \(text)") }
            return text == bad.message
        }
    }

    @Test("accel kvm for a foreign architecture is refused")
    func kvmForeignArch() {
        let foreign = VMProfile.hostArch == .x86_64 ? "aarch64" : "x86_64"
        #expect {
            try VMProfileParser.parse("driver: qemu\narch: \(foreign)\nos: linux\nimage: {kernel: k, initrd: i, disk: d}\naccel: kvm\n", name: "p", file: "p.yml")
        } throws: { error in
            "\(error)".hasPrefix("p.yml:5:1: accel kvm cannot run an \(foreign) guest")
        }
    }

    @Test("image paths resolve against the images directory; missing files are listed")
    func imagePaths() throws {
        let images = URL(fileURLWithPath: "/nonexistent-images")
        let profile = try VMProfileParser.parse(Self.qemuBase, name: "p", file: "p.yml")
        #expect(profile.imageFiles(in: images).map(\.path) == ["/nonexistent-images/k", "/nonexistent-images/i", "/nonexistent-images/d"])
        #expect(profile.missingImageFiles(in: images).count == 3)
        #expect(VMProfile.resolve("/abs/k", in: images).path == "/abs/k")
    }
}

@Suite("VMCatalog: profiles to guests")
struct VMCatalogTests {
    static func catalog(images: URL) -> VMCatalog {
        VMCatalog(profilesDirectory: VMProfileTests.profilesDirectory, imagesDirectory: images, nameTag: "t")
    }

    static func emptyImages() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-catalog-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("the name tag is 8 hex digits, stable for a home and different between homes")
    func tag() {
        let a = VMCatalog.tag(forHome: URL(fileURLWithPath: "/var/lib/pushbox"))
        #expect(a.count == 8 && a.allSatisfy(\.isHexDigit))
        #expect(a == VMCatalog.tag(forHome: URL(fileURLWithPath: "/var/lib/pushbox/")))
        #expect(a != VMCatalog.tag(forHome: URL(fileURLWithPath: "/var/lib/pushbox2")))
    }

    @Test("unknown profile, a path instead of a name, an image not built: SandboxError with the fix")
    func guestErrors() throws {
        let images = try Self.emptyImages()
        defer { try? FileManager.default.removeItem(at: images) }
        let catalog = Self.catalog(images: images)
        let directory = images.appendingPathComponent("guest")
        #expect { try catalog.guest(profile: "freebsd-14", timeout: nil, directory: directory) } throws: { error in
            let message = (error as? SandboxError)?.message ?? ""
            return message.contains("no VM profile \"freebsd-14\"") && message.contains("known: linux-aarch64, linux-x86_64, windows-11")
        }
        #expect { try catalog.guest(profile: "../secrets", timeout: nil, directory: directory) } throws: { error in
            ((error as? SandboxError)?.message ?? "").contains("\"../secrets\" is not a profile name")
        }
        #expect { try catalog.guest(profile: "linux-x86_64", timeout: nil, directory: directory) } throws: { error in
            let message = (error as? SandboxError)?.message ?? ""
            return message.contains("the image of profile linux-x86_64 is not built") && message.contains("pushbox vm build linux-x86_64")
        }
        #expect(catalog.problems(of: try catalog.profile(named: "windows-11")).contains { $0.contains("VBoxManage not found") })
        #expect(catalog.driverProblems(of: try catalog.profile(named: "linux-x86_64")).isEmpty, "QEMU is installed by scripts/setup")
    }

    @Test("a built image gives a guest with the entry's timeout and the profile's default command")
    func guestReady() throws {
        let images = try Self.emptyImages()
        defer { try? FileManager.default.removeItem(at: images) }
        let catalog = Self.catalog(images: images)
        let profile = try catalog.profile(named: "linux-x86_64")
        for file in profile.imageFiles(in: images) {
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data().write(to: file)
        }
        let guest = try catalog.guest(profile: "linux-x86_64", timeout: .seconds(90), directory: images.appendingPathComponent("g"))
        #expect(guest.jobTimeout == .seconds(90))
        #expect(guest.defaultCommand == "make test")
        #expect(guest.executor.name == "qemu")
        #expect(try catalog.guest(profile: "linux-x86_64", timeout: nil, directory: images).jobTimeout == profile.jobTimeout)
    }
}
