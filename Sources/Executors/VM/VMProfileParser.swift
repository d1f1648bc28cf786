import Core
import Foundation

/// Parses `vm-profiles/<name>.yml` through Core's `YAMLReader`, so that every complaint names
/// file:line:column (`linux-x86_64.yml:3:7: arch must be one of x86_64, aarch64, found "arm"`).
package enum VMProfileParser {
    static let keys = ["driver", "arch", "os", "image", "build", "memory", "cpus", "accel", "boot_timeout", "job_timeout",
                       "transport", "user", "shell", "run", "machine", "cpu", "cmdline", "workspace"]
    static let imageKeys = ["kernel", "initrd", "disk", "vm", "snapshot", "ssh_key"]
    static let buildKeys = ["script", "output", "env"]

    package static func parse(_ text: String, name: String, file: String) throws -> VMProfile {
        let reader = YAMLReader(file: file)
        guard let root = try reader.compose(text) else {
            throw SpecError(file: file, line: 0, column: 0, message: "the profile is empty (it needs at least driver, arch, os and image)")
        }
        var profile = VMProfile(name: name)
        var seen = Set<String>()
        var transportGiven = false, shellGiven = false, userGiven = false
        // Where each key was written, for the consistency checks below.
        var located: [String: SpecError] = [:]
        func enumValue<T: RawRepresentable>(_ text: String, _ key: String, _ type: T.Type) -> T? where T.RawValue == String {
            T(rawValue: text)
        }
        func choices<T: RawRepresentable & CaseIterable>(_ type: T.Type) -> String where T.RawValue == String {
            T.allCases.map(\.rawValue).joined(separator: ", ")
        }

        for (key, value, keyNode) in try reader.mapping(root, "the VM profile", allowed: keys) {
            seen.insert(key)
            located[key] = reader.fail(keyNode, "")
            switch key {
            case "driver":
                let text = try reader.nonEmptyString(value, "driver")
                guard let driver = enumValue(text, key, VMProfile.Driver.self) else {
                    throw reader.fail(value, "driver must be one of \(choices(VMProfile.Driver.self)), found \"\(text)\"")
                }
                profile.driver = driver
            case "arch":
                let text = try reader.nonEmptyString(value, "arch")
                guard let arch = enumValue(text, key, VMProfile.Arch.self) else {
                    let hint = ["amd64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64", "arm": "aarch64"][text].map { "; did you mean \"\($0)\"?" } ?? ""
                    throw reader.fail(value, "arch must be one of \(choices(VMProfile.Arch.self)), found \"\(text)\"\(hint)")
                }
                profile.arch = arch
            case "os":
                let text = try reader.nonEmptyString(value, "os")
                guard let os = enumValue(text, key, VMProfile.OS.self) else {
                    throw reader.fail(value, "os must be one of \(choices(VMProfile.OS.self)), found \"\(text)\"")
                }
                profile.os = os
            case "image":
                for (k, v, _) in try reader.mapping(value, "image", allowed: imageKeys) {
                    let path = try reader.nonEmptyString(v, "image.\(k)")
                    switch k {
                    case "kernel": profile.image.kernel = path
                    case "initrd": profile.image.initrd = path
                    case "disk": profile.image.disk = path
                    case "vm": profile.image.vm = path
                    case "snapshot": profile.image.snapshot = path
                    default: profile.image.sshKey = path
                    }
                }
            case "build":
                var script: String?, output: String?, environment: [String: String] = [:]
                for (k, v, _) in try reader.mapping(value, "build", allowed: buildKeys) {
                    switch k {
                    case "script":
                        script = try reader.nonEmptyString(v, "build.script")
                        if script?.contains("/") == true { throw reader.fail(v, "build.script is a file name in the profiles directory, found \"\(script!)\"") }
                    case "output": output = try reader.nonEmptyString(v, "build.output")
                    default: environment = try reader.stringMap(v, "build.env")
                    }
                }
                guard let script else { throw reader.fail(value, "build needs script (a file in the profiles directory)") }
                profile.build = VMProfile.Build(script: script, output: output ?? name, environment: environment)
            case "memory":
                let bytes = try reader.bytes(value, "memory")
                let mib = bytes / (1 << 20)
                guard mib >= 128, mib <= 65536 else { throw reader.fail(value, "memory must be between 128m and 64g, found \(Units.formatBytes(bytes))") }
                profile.memoryMiB = Int(mib)
            case "cpus": profile.cpus = try reader.int(value, "cpus", range: 1...64)
            case "accel":
                let text = try reader.nonEmptyString(value, "accel")
                guard let accel = enumValue(text, key, VMProfile.Accel.self) else {
                    throw reader.fail(value, "accel must be one of \(choices(VMProfile.Accel.self)), found \"\(text)\"")
                }
                profile.accel = accel
            case "boot_timeout": profile.bootTimeout = try reader.duration(value, "boot_timeout")
            case "job_timeout": profile.jobTimeout = try reader.duration(value, "job_timeout")
            case "transport":
                let text = try reader.nonEmptyString(value, "transport")
                guard let transport = enumValue(text, key, VMProfile.Transport.self) else {
                    throw reader.fail(value, "transport must be one of \(choices(VMProfile.Transport.self)), found \"\(text)\"")
                }
                profile.transport = transport
                transportGiven = true
            case "user":
                profile.user = try reader.nonEmptyString(value, "user")
                guard profile.user.allSatisfy({ $0.isLetter || $0.isNumber || "._-$".contains($0) }) else {
                    throw reader.fail(value, "user must be a plain account name, found \"\(profile.user)\"")
                }
                userGiven = true
            case "shell":
                let text = try reader.nonEmptyString(value, "shell")
                guard let shell = enumValue(text, key, VMProfile.Shell.self) else {
                    throw reader.fail(value, "shell must be one of \(choices(VMProfile.Shell.self)), found \"\(text)\"")
                }
                profile.shell = shell
                shellGiven = true
            case "run": profile.run = try reader.nonEmptyString(value, "run")
            case "machine": profile.machine = try reader.nonEmptyString(value, "machine")
            case "cpu": profile.cpu = try reader.nonEmptyString(value, "cpu")
            case "cmdline":
                let words = try reader.strings(value, "cmdline", max: 64)
                profile.kernelArguments = words.flatMap { $0.split(separator: " ").map(String.init) }
            default:
                let text = try reader.nonEmptyString(value, "workspace")
                guard let mode = enumValue(text, key, VMProfile.WorkspaceMode.self) else {
                    throw reader.fail(value, "workspace must be one of \(choices(VMProfile.WorkspaceMode.self)), found \"\(text)\"")
                }
                profile.workspace = mode
            }
        }

        for required in ["driver", "arch", "os", "image"] where !seen.contains(required) {
            throw SpecError(file: file, line: 0, column: 0, message: "the profile needs \(required) (required keys: driver, arch, os, image)")
        }
        // Defaults that depend on the guest: Windows guests are reached over SSH with PowerShell.
        if profile.os == .windows {
            if !transportGiven { profile.transport = .ssh }
            if !shellGiven { profile.shell = .powershell }
            if !userGiven { profile.user = "pushbox" }
        } else if profile.driver == .virtualbox, !transportGiven {
            profile.transport = .ssh
        }

        func at(_ key: String, _ message: String) -> SpecError {
            var error = located[key] ?? SpecError(file: file, line: 0, column: 0, message: "")
            error.message = message
            return error
        }
        switch profile.driver {
        case .qemu:
            for (field, path) in [("kernel", profile.image.kernel), ("initrd", profile.image.initrd), ("disk", profile.image.disk)] where path == nil {
                throw at("image", "a qemu profile needs image.\(field) (relative to the images directory)")
            }
            if profile.os == .windows { throw at("os", "os windows is supported with driver virtualbox only") }
        case .virtualbox:
            guard profile.image.vm != nil else { throw at("image", "a virtualbox profile needs image.vm (the base VM to clone)") }
            guard profile.image.snapshot != nil else { throw at("image", "a virtualbox profile needs image.snapshot (the base VM's snapshot to link clones to)") }
            if profile.transport == .serial { throw at("transport", "driver virtualbox supports transport ssh only") }
        }
        if profile.transport == .ssh, profile.image.sshKey == nil {
            throw at(seen.contains("transport") ? "transport" : "image", "transport ssh needs image.ssh_key (the private key the guest authorises)")
        }
        if profile.shell == .powershell, profile.os != .windows { throw at("shell", "shell powershell needs os windows") }
        if profile.os == .windows, profile.shell != .powershell { throw at("shell", "a windows guest needs shell powershell") }
        if profile.accel == .kvm, profile.arch != VMProfile.hostArch {
            throw at("accel", "accel kvm cannot run an \(profile.arch.rawValue) guest on this \(VMProfile.hostArch.rawValue) host; use tcg or auto")
        }
        return profile
    }
}

extension VMProfile {
    /// The architecture this program runs on.
    package static var hostArch: Arch {
        #if arch(arm64)
        return .aarch64
        #else
        return .x86_64
        #endif
    }
}
