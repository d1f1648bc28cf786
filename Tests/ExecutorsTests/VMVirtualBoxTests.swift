import Core
import Executors
import Foundation
import Logging
import Testing

/// VirtualBox is not in Debian, so the VirtualBox driver is verified here against stand-ins on PATH: a
/// `VBoxManage` that records each call and answers with VirtualBox 7's messages (copied from its manual
/// and its error output: "Machine has been successfully cloned as …", "Waiting for VM … to power on…",
/// progress lines `0%...10%...100%`, "VBoxManage: error: Could not find a registered machine named …"),
/// and an `ssh` that refuses connections until the "guest" has booted, stores the workspace tar, decodes
/// the `-EncodedCommand` PowerShell script and runs the step's command line with /bin/sh, so that output
/// and exit codes travel the whole way. docs/vms.md lists how to verify on a real VirtualBox host.
@Suite("VirtualBox driver against a stand-in VBoxManage and ssh", .serialized)
struct VMVirtualBoxTests {
    static let logger = Logger(label: "pushbox.test.vbox")

    struct StandIn {
        let root: URL
        var bin: URL { root.appendingPathComponent("bin") }
        var state: URL { root.appendingPathComponent("state") }
        var images: URL { root.appendingPathComponent("images") }
        var workspace: URL { root.appendingPathComponent("workspace") }
        var tools: VMHostTools { VMHostTools(searchPath: bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")) }

        init(sshReadyAfter: String = "2") throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-vbox-test-\(UUID().uuidString.prefix(8))")
            let fm = FileManager.default
            for directory in [bin, state, images.appendingPathComponent("windows-11"), workspace] {
                try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            try "key".write(to: images.appendingPathComponent("windows-11/id_ed25519"), atomically: true, encoding: .utf8)
            try "pushbox-windows-11\n".write(to: state.appendingPathComponent("vms"), atomically: true, encoding: .utf8)
            try sshReadyAfter.write(to: state.appendingPathComponent("ssh-ready-after"), atomically: true, encoding: .utf8)
            try install("VBoxManage", Self.vboxManage)
            try install("ssh", Self.ssh)
        }

        private func install(_ name: String, _ text: String) throws {
            let url = bin.appendingPathComponent(name)
            try text.replacingOccurrences(of: "@STATE@", with: state.path).write(to: url, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }

        func read(_ name: String) -> String {
            (try? String(contentsOf: state.appendingPathComponent(name), encoding: .utf8)) ?? ""
        }

        var calls: [String] { read("calls").split(separator: "\n").map(String.init) }

        func cleanUp() { try? FileManager.default.removeItem(at: root) }

        static let vboxManage = #"""
            #!/bin/bash
            # Stand-in for VirtualBox 7's VBoxManage: records each call, answers as VirtualBox does.
            STATE=@STATE@
            printf '%s\n' "$*" >>"$STATE/calls"
            progress() { echo "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%"; }
            has() { grep -qx -- "$1" "$STATE/vms" 2>/dev/null; }
            running() { grep -qx -- "$1" "$STATE/running" 2>/dev/null; }
            unknown() {
              echo "VBoxManage: error: Could not find a registered machine named '$1'" >&2
              echo "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, interface IVirtualBox, callee nsISupports" >&2
              echo "VBoxManage: error: Context: \"FindMachine(Bstr(a->argv[0]).raw(), machine.asOutParam())\" at line 2781 of file VBoxManageMisc.cpp" >&2
              exit 1
            }
            case $1 in
              clonevm)
                base=$2; snap=""; name=""
                shift 2
                while [ $# -gt 0 ]; do case $1 in --snapshot) snap=$2; shift;; --name) name=$2; shift;; esac; shift; done
                has "$base" || unknown "$base"
                if [ "$snap" != clean ]; then
                  echo "VBoxManage: error: Could not find a snapshot named '$snap'" >&2
                  echo "VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component SnapshotWrap, interface ISnapshot" >&2
                  exit 1
                fi
                progress
                echo "Machine has been successfully cloned as \"$name\""
                echo "$name" >>"$STATE/vms" ;;
              modifyvm)
                has "$2" || unknown "$2" ;;
              startvm)
                has "$2" || unknown "$2"
                echo "Waiting for VM \"$2\" to power on..."
                echo "VM \"$2\" has been successfully started."
                echo "$2" >>"$STATE/running" ;;
              controlvm)
                has "$2" || unknown "$2"
                if ! running "$2"; then echo "VBoxManage: error: Machine '$2' is not currently running" >&2; exit 1; fi
                grep -vx -- "$2" "$STATE/running" >"$STATE/running.new"; mv "$STATE/running.new" "$STATE/running"
                progress ;;
              unregistervm)
                has "$2" || unknown "$2"
                if running "$2"; then echo "VBoxManage: error: Cannot unregister the machine '$2' while it is locked" >&2; exit 1; fi
                grep -vx -- "$2" "$STATE/vms" >"$STATE/vms.new"; mv "$STATE/vms.new" "$STATE/vms"
                progress ;;
              list)
                while read -r vm; do echo "\"$vm\" {0a1b2c3d-0000-4000-8000-00000000000$((i=i+1))}"; done <"$STATE/vms" ;;
              *)
                echo "VBoxManage: error: Unknown command '$1'" >&2; exit 1 ;;
            esac
            """#

        static let ssh = #"""
            #!/bin/bash
            # Stand-in for ssh to a Windows guest: refuses until "booted", then plays cmd.exe/PowerShell.
            STATE=@STATE@
            port=""; prev=""
            for a in "$@"; do [ "$prev" = -p ] && port=$a; prev=$a; done
            cmd=${!#}
            printf '%s %s\n' "$port" "$cmd" >>"$STATE/ssh-calls"
            if [ "$cmd" = "exit 0" ]; then
              after=$(cat "$STATE/ssh-ready-after")
              tries=$(( $(cat "$STATE/ssh-tries" 2>/dev/null || echo 0) + 1 )); echo $tries >"$STATE/ssh-tries"
              if [ "$after" = never ] || [ "$tries" -le "$after" ]; then
                echo "ssh: connect to host 127.0.0.1 port $port: Connection refused" >&2; exit 255
              fi
              exit 0
            fi
            case $cmd in
              *"tar -xf - -C"*) cat >"$STATE/workspace.tar"; exit 0 ;;
              powershell.exe*-EncodedCommand*)
                script=$(printf '%s' "${cmd##* }" | base64 -d | iconv -f UTF-16LE -t UTF-8)
                printf '%s' "$script" >"$STATE/last-script.ps1"
                # $env:NAME = 'value' lines become the environment ('' is a quote in PowerShell).
                while IFS= read -r kv; do
                  [ -n "$kv" ] && export "${kv%%=*}=$(printf '%s' "${kv#*=}" | sed "s/''/'/g")"
                done <<<"$(printf '%s\n' "$script" | tr -d '\r' | sed -n "s/^\$env:\([A-Za-z_][A-Za-z0-9_]*\) = '\(.*\)'\$/\1=\2/p")"
                # The step's lines sit between "$global:LASTEXITCODE = 0" and the exit-code line.
                step=$(printf '%s\n' "$script" | tr -d '\r' | awk '/^if \(\(Test-Path/{f=0} f{print} /^\$global:LASTEXITCODE = 0$/{f=1}')
                exec /bin/sh -c "$step" ;;
            esac
            echo "stand-in ssh: unexpected command: $cmd" >&2
            exit 1
            """#
    }

    static func profile(_ change: (inout VMProfile) -> Void = { _ in }) throws -> VMProfile {
        var profile = try VMProfile.load(named: "windows-11", from: VMProfileTests.profilesDirectory)
        change(&profile)
        return profile
    }

    static func run(_ standIn: StandIn) -> RunSpec {
        RunSpec(runID: 12, image: "unused", workspace: standIn.workspace, environment: ["CI": "true", "NOTE": "it's"])
    }

    @Test("lifecycle: linked clone, port forward, headless start, SSH wait, workspace in, PowerShell step, power off, delete")
    func lifecycle() async throws {
        let standIn = try StandIn(sshReadyAfter: "2")
        defer { standIn.cleanUp() }
        try "hello\n".write(to: standIn.workspace.appendingPathComponent("input.txt"), atomically: true, encoding: .utf8)
        let executor = VirtualBoxExecutor(profile: try Self.profile(), images: standIn.images, tools: standIn.tools, pollInterval: .milliseconds(50))
        #expect(await executor.isAvailable())
        let sandbox = try await executor.makeVirtualBoxSandbox(for: Self.run(standIn), logger: Self.logger)
        #expect(sandbox.id == "pushbox-12-windows-11")
        let sink = VMCollectingSink()
        let status = try await sandbox.run(Step(name: "test", run: "echo héllo; echo \"$NOTE\"; exit 3"), log: sink)
        await sandbox.destroy()
        await sandbox.destroy()   // twice is harmless

        #expect(status == ExitStatus(code: 3))
        #expect(await sink.text == "héllo\nit's\n")
        #expect(standIn.calls == [
            "clonevm pushbox-windows-11 --snapshot clean --options link --name pushbox-12-windows-11 --register",
            "modifyvm pushbox-12-windows-11 --cpus 2 --memory 4096",
            "modifyvm pushbox-12-windows-11 --natpf1 ssh,tcp,127.0.0.1,\(sandbox.port),,22",
            "startvm pushbox-12-windows-11 --type headless",
            "controlvm pushbox-12-windows-11 poweroff",
            "unregistervm pushbox-12-windows-11 --delete",
        ])
        #expect(standIn.read("vms") == "pushbox-windows-11\n")   // the clone is gone, the base stays
        // Three readiness checks (two refused), the workspace, the step; all on the forwarded port.
        let sshCalls = standIn.read("ssh-calls").split(separator: "\n")
        #expect(sshCalls.count == 5 && sshCalls.allSatisfy { $0.hasPrefix("\(sandbox.port) ") })
        // The script the guest got: UTF-8 output, the environment, the exit code of the step.
        let script = standIn.read("last-script.ps1")
        #expect(script.contains("[Console]::OutputEncoding = [System.Text.UTF8Encoding]::new($false)"))
        #expect(script.contains("$env:NOTE = 'it''s'") && script.contains("Set-Location -LiteralPath 'C:\\pushbox\\workspace'"))
        #expect(script.contains("exit $LASTEXITCODE"))
        // The workspace went in as a tar stream.
        let listing = try await Self.shell("tar -tf '\(standIn.state.path)/workspace.tar'")
        #expect(listing.contains("./input.txt"))
    }

    @Test("a guest whose SSH never answers: boot timeout, and the clone is powered off and deleted")
    func bootTimeout() async throws {
        let standIn = try StandIn(sshReadyAfter: "never")
        defer { standIn.cleanUp() }
        let executor = VirtualBoxExecutor(profile: try Self.profile { $0.bootTimeout = .seconds(1) }, images: standIn.images,
                                          tools: standIn.tools, pollInterval: .milliseconds(100))
        await #expect {
            _ = try await executor.makeVirtualBoxSandbox(for: Self.run(standIn), logger: Self.logger)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("boot timeout: the windows-11 guest pushbox-12-windows-11 did not answer SSH on 127.0.0.1:")
                && text.contains("Connection refused")
        }
        #expect(standIn.calls.suffix(2) == ["controlvm pushbox-12-windows-11 poweroff", "unregistervm pushbox-12-windows-11 --delete"])
        #expect(standIn.read("vms") == "pushbox-windows-11\n")
    }

    @Test("a missing snapshot is VirtualBox's own error; nothing is started or left behind")
    func missingSnapshot() async throws {
        let standIn = try StandIn()
        defer { standIn.cleanUp() }
        let executor = VirtualBoxExecutor(profile: try Self.profile { $0.image.snapshot = "nope" }, images: standIn.images, tools: standIn.tools)
        await #expect {
            _ = try await executor.makeVirtualBoxSandbox(for: Self.run(standIn), logger: Self.logger)
        } throws: { error in
            "\(error)" == "VBoxManage clonevm failed (exit 1): VBoxManage: error: Could not find a snapshot named 'nope'"
        }
        #expect(standIn.calls.count == 1)
        #expect(standIn.read("vms") == "pushbox-windows-11\n")
    }

    @Test("cancel during a step kills the SSH session promptly; job_timeout reports timed out")
    func cancelAndTimeout() async throws {
        let standIn = try StandIn(sshReadyAfter: "0")
        defer { standIn.cleanUp() }
        let executor = VirtualBoxExecutor(profile: try Self.profile { $0.jobTimeout = .seconds(1) }, images: standIn.images,
                                          tools: standIn.tools, pollInterval: .milliseconds(50))
        let sandbox = try await executor.makeVirtualBoxSandbox(for: Self.run(standIn), logger: Self.logger)
        let timedOut = try await sandbox.run(Step(name: "slow", run: "sleep 30"), log: VMCollectingSink())
        #expect(timedOut == ExitStatus(code: 124, timedOut: true))

        let long = try await executor.makeVirtualBoxSandbox(for: RunSpec(runID: 13, image: "unused", workspace: standIn.workspace),
                                                            logger: Self.logger)
        let sink = VMCollectingSink()
        let job = Task { try await long.run(Step(name: "long", run: "echo started; sleep 29"), log: sink) }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while await !sink.text.contains("started"), clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let canceledAt = clock.now
        job.cancel()
        await #expect(throws: CancellationError.self) { try await job.value }
        #expect(clock.now - canceledAt < .seconds(20))  // not the 29 s sleep
        await sandbox.destroy()
        await long.destroy()
        #expect(try await Self.shell("pgrep -f '^sleep 29$' || true").isEmpty)
        #expect(standIn.read("vms") == "pushbox-windows-11\n")
    }

    @Test("removeOrphans deletes this runner's leftover clones (running or not), never the base or another runner's")
    func orphans() async throws {
        let standIn = try StandIn()
        defer { standIn.cleanUp() }
        try "pushbox-windows-11\npushbox-abcd1234-7-windows-11\npushbox-abcd1234-8-windows-11\npushbox-ffff0000-7-windows-11\n"
            .write(to: standIn.state.appendingPathComponent("vms"), atomically: true, encoding: .utf8)
        try "pushbox-abcd1234-7-windows-11\n".write(to: standIn.state.appendingPathComponent("running"), atomically: true, encoding: .utf8)
        let removed = await VirtualBoxExecutor.removeOrphans(tag: "abcd1234", tools: standIn.tools, logger: Self.logger)
        #expect(removed == ["pushbox-abcd1234-7-windows-11", "pushbox-abcd1234-8-windows-11"])
        #expect(standIn.read("vms") == "pushbox-windows-11\npushbox-ffff0000-7-windows-11\n")
        #expect(standIn.calls.contains("controlvm pushbox-abcd1234-7-windows-11 poweroff"))
        #expect(standIn.calls.contains("unregistervm pushbox-abcd1234-8-windows-11 --delete"))
        #expect(!standIn.calls.contains { $0.contains("ffff0000") && !$0.hasPrefix("list") })
        // The clones of a tagged executor carry the tag.
        #expect(VBoxManageCommand.vmName(runID: 7, profile: "windows-11", tag: "abcd1234") == "pushbox-abcd1234-7-windows-11")
        // Without VirtualBox on the host there is nothing to do.
        #expect(await VirtualBoxExecutor.removeOrphans(tag: "abcd1234", tools: VMHostTools(searchPath: "/nonexistent"), logger: Self.logger).isEmpty)
    }

    @Test("Linux guests over SSH run the step with /bin/sh in /workspace")
    func linuxStepCommand() throws {
        var profile = VMProfile(name: "debian-vbox", driver: .virtualbox, os: .linux, transport: .ssh, shell: .sh)
        profile.image = VMProfile.Image(vm: "base", snapshot: "s", sshKey: "k")
        #expect(GuestShellCommands.step("make test", profile: profile, environment: ["CI": "true"])
            == "cd /workspace && exec /bin/sh -c '# Written by pushbox for one step; run by /bin/sh in the guest.\nexport CI='\\''true'\\''\nmake test\n'")
        #expect(GuestShellCommands.unpackWorkspace(os: .linux) == "mkdir -p /workspace && tar -xf - -C /workspace")
        #expect(GuestShellCommands.unpackWorkspace(os: .windows)
            == "if not exist C:\\pushbox\\workspace mkdir C:\\pushbox\\workspace && tar -xf - -C C:\\pushbox\\workspace")
    }

    static func shell(_ command: String) async throws -> String {
        let shell = Foundation.Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", command]
        let pipe = Pipe()
        shell.standardOutput = pipe
        try shell.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        shell.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
