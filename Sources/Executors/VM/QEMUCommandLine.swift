import Foundation

/// The accelerator a QEMU guest actually runs with (`VMProfile.Accel.auto` is resolved before launch).
package enum QEMUAccel: String, Sendable, Equatable {
    case kvm, tcg
}

/// Everything about one QEMU launch that is not in the profile: files of this run and how to reach it.
package struct QEMULaunch: Sendable, Equatable {
    /// The root disk: a per-run qcow2 overlay on the read-only base, or the base itself with `snapshot=on`
    /// (writes go to a temporary file QEMU deletes). Either way nothing the guest writes survives.
    package enum RootDisk: Sendable, Equatable {
        case overlay(path: String)
        case snapshot(base: String)
    }

    /// How the workspace reaches the guest (`pushbox.ws=` on the kernel command line tells the init).
    package enum Workspace: Sendable, Equatable {
        /// A raw ext4 image, the guest's `/dev/vdb`.
        case disk(path: String)
        /// A host directory shared with 9p (mount tag `workspace`); results land in it directly.
        case share(directory: String)
        case none
    }

    /// Where the guest's serial console goes.
    package enum Console: Sendable, Equatable {
        case stdio
        case file(path: String)
    }

    package var accel: QEMUAccel
    /// Kernel and initrd, already resolved to host paths.
    package var kernel: String
    package var initrd: String
    /// `nil`: no disk at all (the KVM probe boots the initrd alone).
    package var root: RootDisk?
    package var workspace: Workspace
    package var console: Console
    /// Host port forwarded to the guest's port 22 on 127.0.0.1, only with the SSH transport.
    package var sshPort: Int?
    /// User-mode networking without forwarding (outbound only), for jobs that need the network.
    package var network: Bool
    /// Shown by `ps` and used to find leftovers of a crashed runner (`pushbox-<run>-<profile>`).
    package var name: String?
    /// Added after the profile's own kernel arguments.
    package var extraKernelArguments: [String]

    package init(accel: QEMUAccel, kernel: String, initrd: String, root: RootDisk?, workspace: Workspace = .none,
                 console: Console = .stdio, sshPort: Int? = nil, network: Bool = false, name: String? = nil,
                 extraKernelArguments: [String] = []) {
        self.accel = accel
        self.kernel = kernel
        self.initrd = initrd
        self.root = root
        self.workspace = workspace
        self.console = console
        self.sshPort = sshPort
        self.network = network
        self.name = name
        self.extraKernelArguments = extraKernelArguments
    }
}

/// Pure translation of a profile and a launch into `qemu-system-*` argv (table-tested).
///
/// What it encodes (measured in docs/vms.md): direct kernel boot (PVH `vmlinux` on x86_64), no firmware
/// devices (`-nodefaults`), virtio disks with explicit `-device virtio-blk-pci` (same on `pc` and `virt`),
/// `-no-reboot` so a guest panic or reboot ends QEMU instead of looping, no network unless asked.
package enum QEMUCommandLine {
    /// `qemu-system-x86_64` or `qemu-system-aarch64`.
    package static func executable(for arch: VMProfile.Arch) -> String {
        "qemu-system-\(arch.rawValue)"
    }

    package static func machine(for profile: VMProfile) -> String {
        profile.machine ?? (profile.arch == .x86_64 ? "pc" : "virt")
    }

    /// The profile's CPU model; with KVM on a same-architecture host, the host's own CPU.
    package static func cpu(for profile: VMProfile, accel: QEMUAccel) -> String {
        if let cpu = profile.cpu { return cpu }
        if accel == .kvm { return "host" }
        return profile.arch == .x86_64 ? "max" : "cortex-a57"
    }

    package static func serialConsole(for arch: VMProfile.Arch) -> String {
        arch == .x86_64 ? "ttyS0" : "ttyAMA0"
    }

    /// The guest kernel's command line. `quiet` keeps the serial console (slow under TCG) for what matters;
    /// `panic=-1` with `-no-reboot` makes a panicking guest end QEMU at once.
    package static func kernelArguments(profile: VMProfile, launch: QEMULaunch) -> [String] {
        var words = ["console=\(serialConsole(for: profile.arch))"]
        if launch.root != nil { words += ["root=/dev/vda", "rw"] }
        words += ["quiet", "panic=-1"]
        switch launch.workspace {
        case .disk: words.append("pushbox.ws=disk")
        case .share: words.append("pushbox.ws=9p")
        case .none: words.append("pushbox.ws=none")
        }
        if launch.network || launch.sshPort != nil { words.append("pushbox.net=1") }
        return words + profile.kernelArguments + launch.extraKernelArguments
    }

    package static func arguments(profile: VMProfile, launch: QEMULaunch) -> [String] {
        var args: [String] = []
        if let name = launch.name { args += ["-name", name] }
        args += ["-machine", machine(for: profile), "-accel", launch.accel.rawValue,
                 "-cpu", cpu(for: profile, accel: launch.accel),
                 "-smp", String(profile.cpus), "-m", String(profile.memoryMiB),
                 "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]
        switch launch.console {
        case .stdio: args += ["-serial", "stdio"]
        case let .file(path): args += ["-serial", "file:\(path)"]
        }
        args += ["-kernel", launch.kernel, "-initrd", launch.initrd,
                 "-append", kernelArguments(profile: profile, launch: launch).joined(separator: " ")]
        switch launch.root {
        case let .overlay(path)?:
            // cache=unsafe: the overlay is thrown away after the run, so flushes are wasted time.
            args += ["-drive", "file=\(escape(path)),if=none,id=root,format=qcow2,cache=unsafe",
                     "-device", "virtio-blk-pci,drive=root"]
        case let .snapshot(base)?:
            args += ["-drive", "file=\(escape(base)),if=none,id=root,format=qcow2,snapshot=on",
                     "-device", "virtio-blk-pci,drive=root"]
        case nil:
            break
        }
        switch launch.workspace {
        case let .disk(path):
            args += ["-drive", "file=\(escape(path)),if=none,id=ws,format=raw",
                     "-device", "virtio-blk-pci,drive=ws"]
        case let .share(directory):
            args += ["-fsdev", "local,id=ws,path=\(escape(directory)),security_model=none",
                     "-device", "virtio-9p-pci,fsdev=ws,mount_tag=workspace"]
        case .none:
            break
        }
        if let port = launch.sshPort {
            args += ["-nic", "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:\(port)-:22"]
        } else if launch.network {
            args += ["-nic", "user,model=virtio-net-pci"]
        }
        return args
    }

    /// QEMU option values are comma-separated: a literal comma in a path is written twice.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: ",", with: ",,")
    }
}
