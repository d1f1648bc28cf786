import Foundation

/// Pure builders of the `VBoxManage` argv for every step of a VirtualBox run (table-tested; the
/// syntax is VirtualBox 7's, see docs/vms.md):
///
///     clonevm <base> --snapshot <snap> --options link --name pushbox-<run>-<profile> --register
///     modifyvm <vm> --cpus N --memory MiB --natpf1 "ssh,tcp,127.0.0.1,<port>,,22"
///     startvm <vm> --type headless
///     (wait for SSH; run the command over SSH)
///     controlvm <vm> poweroff
///     unregistervm <vm> --delete
package enum VBoxManageCommand {
    package static let executable = "VBoxManage"

    /// `pushbox-[<tag>-]<run>-<profile>`: unique per run and profile, and recognisable as this runner's
    /// when cleaning up (the tag comes from the runner home, see `VMCatalog.tag(forHome:)`).
    package static func vmName(runID: Int64, profile: String, tag: String? = nil) -> String {
        "pushbox-" + (tag.map { "\($0)-" } ?? "") + "\(runID)-\(profile)"
    }

    /// A linked clone of the base VM's snapshot: created in a second, shares the base's disks read-only.
    package static func cloneLinked(base: String, snapshot: String, name: String) -> [String] {
        ["clonevm", base, "--snapshot", snapshot, "--options", "link", "--name", name, "--register"]
    }

    /// NAT port forward of 127.0.0.1:`port` on the host to the guest's SSH port (rule named `ssh`).
    package static func forwardSSH(vm: String, port: Int) -> [String] {
        ["modifyvm", vm, "--natpf1", "ssh,tcp,127.0.0.1,\(port),,22"]
    }

    package static func resources(vm: String, cpus: Int, memoryMiB: Int) -> [String] {
        ["modifyvm", vm, "--cpus", String(cpus), "--memory", String(memoryMiB)]
    }

    package static func start(vm: String) -> [String] {
        ["startvm", vm, "--type", "headless"]
    }

    /// Pulls the virtual power cord: the clone is deleted next, a clean shutdown would be wasted time.
    package static func powerOff(vm: String) -> [String] {
        ["controlvm", vm, "poweroff"]
    }

    /// Unregisters the clone and deletes its files (its differencing disks; the base is untouched).
    package static func delete(vm: String) -> [String] {
        ["unregistervm", vm, "--delete"]
    }

    /// `VMState="running"` and friends, one `key=value` a line.
    package static func info(vm: String) -> [String] {
        ["showvminfo", vm, "--machinereadable"]
    }

    /// `"pushbox-12-windows-11" {uuid}` lines: used to find clones a crashed runner left behind.
    package static func listVMs() -> [String] {
        ["list", "vms"]
    }

    /// Names from `VBoxManage list vms` output (`"name" {uuid}` per line).
    package static func parseVMList(_ output: String) -> [String] {
        output.split(separator: "\n").compactMap { line in
            guard line.first == "\"", let close = line.dropFirst().firstIndex(of: "\"") else { return nil }
            return String(line[line.index(after: line.startIndex)..<close])
        }
    }

    /// The `VMState` of `showvminfo --machinereadable` output (`running`, `poweroff`, `aborted`, …).
    package static func parseState(_ output: String) -> String? {
        for line in output.split(separator: "\n") where line.hasPrefix("VMState=") {
            return String(line.dropFirst("VMState=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"\r"))
        }
        return nil
    }
}

/// Pure builder of the `ssh` argv that runs one command in a guest over a forwarded loopback port.
package enum SSHCommand {
    package static func arguments(port: Int, user: String, key: String, remoteCommand: String,
                                  connectTimeout: Duration = .seconds(5)) -> [String] {
        ["-i", key, "-p", String(port),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "ConnectTimeout=\(max(1, connectTimeout.components.seconds))",
         "\(user)@127.0.0.1", remoteCommand]
    }
}

/// The command a Windows guest runs for one step: PowerShell with UTF-8 output and the step's exit code.
///
/// The script is passed as `-EncodedCommand` (Base64 of UTF-16LE), so no quoting survives the trip
/// through SSH and cmd.exe (Windows' OpenSSH default shell) to be misread. Windows' cmd.exe caps a
/// command line at 8191 characters; `remoteCommandLine` returns nil beyond that, and the caller copies
/// the script to the guest and runs it with `-File` instead.
package enum PowerShellInvocation {
    package static let commandLineLimit = 8191

    /// The step wrapped so that the guest's output is UTF-8 and the exit code is the step's:
    /// a native command's `$LASTEXITCODE`, or 1 when a cmdlet fails (`$ErrorActionPreference = 'Stop'`
    /// turns it into a terminating error, which makes powershell.exe exit 1).
    package static func script(command: String, environment: [String: String], workingDirectory: String?) -> String {
        var lines = [
            "$ErrorActionPreference = 'Stop'",
            "$ProgressPreference = 'SilentlyContinue'",
            "[Console]::OutputEncoding = [System.Text.UTF8Encoding]::new($false)",
            "$OutputEncoding = [System.Text.UTF8Encoding]::new($false)",
        ]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) where isVariableName(key) {
            lines.append("$env:\(key) = \(quote(value))")
        }
        if let workingDirectory { lines.append("Set-Location -LiteralPath \(quote(workingDirectory))") }
        lines.append("$global:LASTEXITCODE = 0")
        lines.append(command)
        lines.append("if ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }")
        lines.append("exit 0")
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// `powershell.exe … -EncodedCommand <Base64 of UTF-16LE>` as an argv.
    package static func arguments(script: String) -> [String] {
        ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
         "-EncodedCommand", encode(script)]
    }

    /// The same, as the one line SSH hands to the guest's shell; nil when it is too long for cmd.exe.
    package static func remoteCommandLine(script: String) -> String? {
        let line = arguments(script: script).joined(separator: " ")
        return line.count <= commandLineLimit ? line : nil
    }

    /// `powershell.exe … -File <path>` for a script copied to the guest.
    package static func fileArguments(path: String) -> [String] {
        ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", path]
    }

    /// Base64 of the UTF-16LE bytes, what `-EncodedCommand` expects.
    package static func encode(_ script: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(script.utf16.count * 2)
        for unit in script.utf16 {
            bytes.append(UInt8(unit & 0xff))
            bytes.append(UInt8(unit >> 8))
        }
        return Data(bytes).base64EncodedString()
    }

    /// A PowerShell single-quoted string: nothing is expanded, a quote is doubled.
    package static func quote(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }

    static func isVariableName(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first == "_" || (first.isASCII && CharacterSet.letters.contains(first)) else { return false }
        return key.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
    }
}
