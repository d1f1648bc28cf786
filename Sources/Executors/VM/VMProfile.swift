import Core
import Foundation

/// One guest a run can be validated on: `vm-profiles/<name>.yml` (docs/vms.md).
package struct VMProfile: Sendable, Equatable {
    package enum Driver: String, Sendable, CaseIterable { case qemu, virtualbox }
    package enum Arch: String, Sendable, CaseIterable { case x86_64, aarch64 }
    package enum OS: String, Sendable, CaseIterable { case linux, windows }
    /// `auto` uses KVM only when a probe guest really boots with it on this host.
    package enum Accel: String, Sendable, CaseIterable { case auto, kvm, tcg }
    /// `serial`: one-shot guest, the job and its exit code travel over the serial console.
    /// `ssh`: the guest boots to sshd and each command runs over SSH.
    package enum Transport: String, Sendable, CaseIterable { case serial, ssh }
    package enum Shell: String, Sendable, CaseIterable { case sh, powershell }
    /// How a QEMU guest gets the workspace: a second virtio disk (a copy), a 9p share of the host
    /// directory (in place), or nothing.
    package enum WorkspaceMode: String, Sendable, CaseIterable { case disk, share = "9p", none }

    /// Files of the image. QEMU: `kernel`, `initrd`, `disk`; VirtualBox: `vm` (the base VM) and `snapshot`.
    /// Paths are relative to the runner's `vm.images` directory (absolute paths are taken as they are).
    package struct Image: Sendable, Equatable {
        package var kernel: String?
        package var initrd: String?
        package var disk: String?
        package var vm: String?
        package var snapshot: String?
        /// Private key for the SSH transport.
        package var sshKey: String?

        package init(kernel: String? = nil, initrd: String? = nil, disk: String? = nil, vm: String? = nil,
                     snapshot: String? = nil, sshKey: String? = nil) {
            self.kernel = kernel
            self.initrd = initrd
            self.disk = disk
            self.vm = vm
            self.snapshot = snapshot
            self.sshKey = sshKey
        }
    }

    /// How `pushbox vm build` makes the image: `<profiles>/<script> <images>/<output>` with `environment`.
    package struct Build: Sendable, Equatable {
        package var script: String
        package var output: String
        package var environment: [String: String]

        package init(script: String, output: String, environment: [String: String] = [:]) {
            self.script = script
            self.output = output
            self.environment = environment
        }
    }

    /// The file name without `.yml`.
    package var name: String
    package var driver: Driver
    package var arch: Arch
    package var os: OS
    package var image: Image
    package var build: Build?
    package var memoryMiB: Int
    package var cpus: Int
    package var accel: Accel
    /// From starting the guest until the job's first output may begin.
    package var bootTimeout: Duration
    /// For one command in the guest.
    package var jobTimeout: Duration
    package var transport: Transport
    package var user: String
    package var shell: Shell
    /// Default test command, when the `.pushbox.yml` entry gives none.
    package var run: String
    /// QEMU machine type; default `pc` (x86_64) or `virt` (aarch64).
    package var machine: String?
    /// QEMU CPU model; default `max` (x86_64) or `cortex-a57` (aarch64: plain `max` is 4× slower under TCG).
    package var cpu: String?
    /// Extra kernel arguments, appended after Pushbox's own (so they win where the kernel takes the last).
    package var kernelArguments: [String]
    package var workspace: WorkspaceMode

    package init(name: String, driver: Driver = .qemu, arch: Arch = .x86_64, os: OS = .linux, image: Image = Image(),
                 build: Build? = nil, memoryMiB: Int = 1024, cpus: Int = 2, accel: Accel = .auto,
                 bootTimeout: Duration = .seconds(60), jobTimeout: Duration = .seconds(20 * 60),
                 transport: Transport = .serial, user: String = "root", shell: Shell = .sh, run: String = VMProfile.defaultRun,
                 machine: String? = nil, cpu: String? = nil, kernelArguments: [String] = [], workspace: WorkspaceMode = .disk) {
        self.name = name
        self.driver = driver
        self.arch = arch
        self.os = os
        self.image = image
        self.build = build
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.accel = accel
        self.bootTimeout = bootTimeout
        self.jobTimeout = jobTimeout
        self.transport = transport
        self.user = user
        self.shell = shell
        self.run = run
        self.machine = machine
        self.cpu = cpu
        self.kernelArguments = kernelArguments
        self.workspace = workspace
    }

    package static let defaultRun = "make test"

    /// `path` of the image, resolved against the images directory.
    package static func resolve(_ path: String, in images: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : images.appendingPathComponent(path)
    }

    /// The image files this profile needs, resolved (QEMU: kernel, initrd, disk; SSH: the key).
    package func imageFiles(in images: URL) -> [URL] {
        [image.kernel, image.initrd, image.disk, image.sshKey].compactMap { $0 }.map { Self.resolve($0, in: images) }
    }

    /// The image files that are not there yet. Empty means the image is built (for VirtualBox profiles
    /// this only covers the SSH key: the base VM lives in VirtualBox).
    package func missingImageFiles(in images: URL) -> [URL] {
        imageFiles(in: images).filter { !FileManager.default.fileExists(atPath: $0.path) }
    }
}

extension VMProfile {
    package static let fileExtension = "yml"

    /// Reads and parses `vm-profiles/<name>.yml`; the profile's name is the file's name.
    package static func load(from url: URL) throws -> VMProfile {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw SpecError(file: url.path, line: 0, column: 0, message: "cannot read the profile: \(error.localizedDescription)")
        }
        return try VMProfileParser.parse(text, name: url.deletingPathExtension().lastPathComponent, file: url.path)
    }

    /// Every `*.yml` of `directory`, sorted by name. One broken file fails the whole load, naming it.
    package static func loadAll(from directory: URL) throws -> [VMProfile] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        return try names.filter { $0.hasSuffix(".\(fileExtension)") }.sorted()
            .map { try load(from: directory.appendingPathComponent($0)) }
    }

    /// `<directory>/<name>.yml`, with a clear error when there is no such profile.
    package static func load(named name: String, from directory: URL) throws -> VMProfile {
        let url = directory.appendingPathComponent("\(name).\(fileExtension)")
        guard FileManager.default.fileExists(atPath: url.path) else {
            let known = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
                .filter { $0.hasSuffix(".\(fileExtension)") }.map { String($0.dropLast(fileExtension.count + 1)) }.sorted()
            throw SpecError(file: url.path, line: 0, column: 0,
                            message: "no VM profile \"\(name)\" (known: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
        return try load(from: url)
    }
}
