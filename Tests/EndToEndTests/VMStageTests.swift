import Core
import Foundation
import Testing
import TestSupport

/// The VM stage end to end: real daemon, real `git push`, real containers, then real QEMU guests (TCG
/// here) booted from the images `make vm-images` builds into `$PUSHBOX_VM_IMAGES`.
@Suite("VM stage", .serialized, .timeLimit(.minutes(30)))
struct VMStageTests {
    static let images = ProcessInfo.processInfo.environment["PUSHBOX_VM_IMAGES"] ?? "/var/cache/pushbox/vm-images"

    /// A daemon whose `vm.images` is the shared image cache; `profiles` (default: the shipped ones).
    static func daemon(profiles: URL? = nil, images: String = images, concurrency: Int = 1, extra: String = "") throws -> DaemonFixture {
        var config = "vm: {images: \(images), concurrency: \(concurrency)\(profiles.map { ", profiles: \($0.path)" } ?? "")}\n"
        config += extra
        let pushbox = try DaemonFixture(config: config, prefix: "pushbox-vm-e2e")
        // The images must be there (a no-op when they are up to date; builds them when absent).
        for profile in ["linux-x86_64", "linux-aarch64"] where profiles == nil {
            let build = try pushbox.pushbox(["vm", "build", profile, "--images", images])
            guard build.status == 0 else { throw FixtureError("pushbox vm build \(profile) failed: \(build.stderr)\(build.stdout.suffix(2000))") }
        }
        return pushbox
    }

    @Test("pushbox vm list shows the images built; vm check boots the guest, runs uname -a and prints the timings")
    func listAndCheck() throws {
        let pushbox = try Self.daemon()
        let list = try pushbox.pushbox(["vm", "list", "--images", Self.images, "--json"])
        let profiles = try #require((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["profiles"] as? [[String: Any]])
        let x86 = try #require(profiles.first { $0["name"] as? String == "linux-x86_64" })
        #expect(x86["image_built"] as? Bool == true && x86["driver_usable"] as? Bool == true)
        let windows = try #require(profiles.first { $0["name"] as? String == "windows-11" })
        #expect(windows["driver_usable"] as? Bool == false && (windows["problems"] as? [String])?.isEmpty == false)
        let check = try pushbox.pushbox(["vm", "check", "linux-x86_64", "--images", Self.images])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("Linux ") && check.stdout.contains(" x86_64 GNU/Linux"), "uname -a in the guest: \(check.stdout)")
        #expect(check.stdout.contains("[vm check] linux-x86_64: passed; accel ") && check.stdout.contains("boot → first command "))
        let failing = try pushbox.pushbox(["vm", "check", "linux-x86_64", "--images", Self.images, "--run", "exit 3"])
        #expect(failing.status == 1 && failing.stdout.contains("failed (exit 3)"))
        #expect(QEMUProcesses.named(suffix: "-0-linux-x86_64").isEmpty)
    }

    @Test("a passing tree runs again in the x86_64 guest: note line, log, test counts, console kept, scratch gone")
    func passesInGuest() throws {
        let pushbox = try Self.daemon()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo, pipeline: """
            steps:
              - {name: build, run: make}
              - {name: test, run: "make test && ./junit.sh", junit: "build/test-results/*.xml"}
            vms:
              - {profile: linux-x86_64, run: "uname -m; uname -r; make test && ./junit.sh"}
            """)
        try repo.write("junit.sh", """
            #!/bin/sh
            mkdir -p build/test-results
            echo '<testsuite name="t"><testcase name="a"/><testcase name="b"/><testcase name="c"/></testsuite>' > build/test-results/t.xml
            """, executable: true)
        let sha = try repo.commit("passing, with a VM")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(600))
        #expect(run.state == .passed, "\(run)\n\(pushbox.daemonOutput().suffix(3000))")
        let vm = try #require(run.vms.first)
        #expect(run.vms.count == 1)
        #expect(vm.profile == "linux-x86_64" && vm.tree == .pushed && vm.state == .passed && vm.exitCode == 0)
        #expect(vm.accel?.hasPrefix("tcg") == true || vm.accel?.hasPrefix("kvm") == true, "\(vm)")
        #expect((vm.bootSeconds ?? 0) > 0)
        #expect(vm.testsPassed == 3 && vm.testsFailed == 0, "JUnit copied out of the guest: \(vm)")
        let log = pushbox.log(run: id, step: "vm-linux-x86_64")
        let lines = log.split(separator: "\n").map(String.init)
        #expect(lines.contains("x86_64"), "\(log)")
        #expect(lines.contains("ok - add") && log.contains("2 passed, 0 failed"))
        // The guest compiled the tree itself: its kernel is not the host's.
        let hostRelease = try String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!lines.contains(hostRelease))
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.contains("\nvm linux-x86_64: passed "), "\(note)")
        #expect(note.contains("(3 passed, 0 failed)"))
        let runDir = pushbox.home.appendingPathComponent("runs/\(id)/vms/linux-x86_64")
        let console = try String(contentsOf: runDir.appendingPathComponent("console.log"), encoding: .utf8)
        #expect(console.contains("qemu-system-x86_64") && console.contains("@@PUSHBOX-START"))
        #expect(!FileManager.default.fileExists(atPath: runDir.appendingPathComponent("work").path), "overlay and disks deleted")
        #expect(!FileManager.default.fileExists(atPath: runDir.appendingPathComponent("tree").path))
        #expect(QEMUProcesses.named(suffix: "-\(id)-linux-x86_64").isEmpty)
        // `pushbox logs` shows the VM after the steps; metadata.json and the API carry the result.
        let logs = try pushbox.pushbox(["logs", String(id)])
        #expect(logs.stdout.contains("==> vm linux-x86_64: uname -m; uname -r; make test && ./junit.sh"))
        #expect(logs.stdout.contains("==> vm linux-x86_64: passed (exit 0)"))
        let vmLog = try pushbox.pushbox(["logs", String(id), "--step", "vm-linux-x86_64"])
        #expect(vmLog.status == 0 && vmLog.stdout == log, "the daemon serves a VM entry's log like a step's: \(vmLog.stderr)")
        let metadata = try JSONSerialization.jsonObject(with: Data(contentsOf: pushbox.home.appendingPathComponent("runs/\(id)/metadata.json"))) as? [String: Any]
        let vms = try #require(metadata?["vms"] as? [[String: Any]])
        #expect(vms.first?["profile"] as? String == "linux-x86_64" && vms.first?["state"] as? String == "passed")
    }

    @Test("a test that fails only in a guest fails the run with the profile named; the aarch64 guest is aarch64; vm.concurrency 2 runs both at once")
    func failsOnlyInGuest() throws {
        let pushbox = try Self.daemon(concurrency: 2)
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        // Passes in the container (it shares the host's kernel), fails in the x86_64 guest.
        let hostRelease = try String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try repo.write("kernel-check.sh", """
            #!/bin/sh
            echo "kernel $(uname -r) on $(uname -m)"
            test "$(uname -r)" = "\(hostRelease)"
            """, executable: true)
        try repo.write(".pushbox.yml", """
            steps:
              - {name: check, run: ./kernel-check.sh}
            vms:
              - {profile: linux-x86_64, run: ./kernel-check.sh}
              - {profile: linux-aarch64, run: "uname -m; test \\"$(uname -m)\\" = aarch64"}
            """)
        let sha = try repo.commit("host kernel only")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(600))
        #expect(run.steps.first?.state == .passed)
        #expect(run.state == .failed, "\(run)")
        #expect(run.message == "vm linux-x86_64 failed (exit 1)")
        #expect(run.vms.map(\.state) == [.failed, .passed], "a failing guest does not stop the others: \(run.vms)")
        // vm.concurrency 2: the second guest started before the first one ended.
        let first = try #require(run.vms.first), second = try #require(run.vms.last)
        #expect(try #require(second.startedAt) < (try #require(first.finishedAt)), "\(run.vms)")
        #expect(pushbox.log(run: id, step: "vm-linux-aarch64").split(separator: "\n").contains("aarch64"))
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.hasPrefix("pushbox: failed\n"))
        #expect(note.contains("\nvm linux-x86_64: failed ") && note.contains(" (exit 1)"), "\(note)")
        #expect(note.contains("\nvm linux-aarch64: passed "))
    }

    @Test("a guest that never boots: error: boot timeout with console lines, QEMU and the overlay gone")
    func bootTimeout() throws {
        let profiles = try Self.profilesWithBrokenGuest()
        defer { try? FileManager.default.removeItem(at: profiles) }
        let pushbox = try Self.daemon(profiles: profiles)
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: ok, run: \"true\"}\nvms: [broken-x86_64]\n")
        let sha = try repo.commit("broken guest")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(300))
        #expect(run.state == .error, "\(run)")
        #expect(run.message?.hasPrefix("vm broken-x86_64: boot timeout: the broken-x86_64 guest was not ready after 12.0s") == true, "\(run.message ?? "")")
        let vm = try #require(run.vms.first)
        #expect(vm.state == .error && vm.message?.hasPrefix("boot timeout") == true)
        // The log tells the whole story: the console's last lines.
        let log = pushbox.log(run: id, step: "vm-broken-x86_64")
        #expect(log.contains("last console lines:") && log.contains("Kernel panic"), "\(log)")
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.contains("\nvm broken-x86_64: error: boot timeout: "), "\(note)")
        #expect(QEMUProcesses.named(suffix: "-\(id)-broken-x86_64").isEmpty)
        let vmDir = pushbox.home.appendingPathComponent("runs/\(id)/vms/broken-x86_64")
        #expect(!FileManager.default.fileExists(atPath: vmDir.appendingPathComponent("work").path))
        #expect(try String(contentsOf: vmDir.appendingPathComponent("console.log"), encoding: .utf8).contains("boot timeout"))
    }

    /// A daemon and a pushed run whose guest job has started and sleeps: returned once its output is there.
    static func longGuestJob() throws -> (DaemonFixture, GitFixture, String, Int64) {
        let pushbox = try Self.daemon()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            steps:
              - {name: ok, run: "true"}
            vms:
              - {profile: linux-x86_64, run: "echo guest-$((40+2))-started; sleep 600"}
            """)
        let sha = try repo.commit("long guest job")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let started = ContinuousClock.now
        // The job's output, not the command line the log starts with.
        while !pushbox.log(run: id, step: "vm-linux-x86_64").contains("guest-42-started"), ContinuousClock.now - started < .seconds(240) {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(pushbox.log(run: id, step: "vm-linux-x86_64").contains("guest-42-started"))
        #expect(QEMUProcesses.named(suffix: "-\(id)-linux-x86_64").count == 1)
        return (pushbox, repo, sha, id)
    }

    @Test("cancel during the VM stage kills QEMU and removes the overlay")
    func cancelInGuest() throws {
        let (pushbox, _, _, id) = try Self.longGuestJob()
        let overlay = pushbox.home.appendingPathComponent("runs/\(id)/vms/linux-x86_64/work/root.qcow2")
        #expect(FileManager.default.fileExists(atPath: overlay.path))
        let cancel = try pushbox.pushbox(["cancel", String(id)])
        #expect(cancel.status == 0, "\(cancel.stderr)")
        let run = try pushbox.waitForRun(id, timeout: .seconds(60))
        #expect(run.state == .canceled)
        #expect(run.vms.first?.state == .canceled)
        #expect(QEMUProcesses.named(suffix: "-\(id)-linux-x86_64").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: overlay.deletingLastPathComponent().path))
    }

    @Test("a newer push of the branch supersedes a run in its VM stage: QEMU killed, the note says superseded by run N")
    func supersededInGuest() throws {
        let (pushbox, repo, sha, id) = try Self.longGuestJob()
        try repo.write(".pushbox.yml", "steps:\n  - {name: ok, run: \"true\"}\n")
        try repo.commit("no guest any more")
        let push = try repo.push()
        let newer = try #require(DaemonFixture.queuedRunIDs(in: push.output).first)
        #expect(push.output.contains("supersedes run \(id)"), "\(push.output)")
        let run = try pushbox.waitForRun(id, timeout: .seconds(60))
        #expect(run.state == .canceled && run.supersededBy == newer && run.message == "superseded by run \(newer)", "\(run)")
        #expect(run.vms.first?.state == .canceled)
        #expect(QEMUProcesses.named(suffix: "-\(id)-linux-x86_64").isEmpty)
        #expect(try pushbox.waitForRun(newer, timeout: .seconds(120)).state == .passed)
        let note = try SupersedeTests.waitForNote(pushbox, repo, sha)
        #expect(note.hasPrefix("pushbox: canceled\n") && note.contains("\nsuperseded by run \(newer)\n"), "\(note)")
    }

    @Test("an image that is not built: error naming `pushbox vm build`; --no-vms skips the guests")
    func missingImageAndNoVMs() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-no-images-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let pushbox = try DaemonFixture(config: "vm: {images: \(empty.path)}\n", prefix: "pushbox-vm-e2e")
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: ok, run: \"true\"}\nvms: [linux-x86_64]\n")
        let sha = try repo.commit("no image")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(120))
        #expect(run.state == .error)
        #expect(run.message?.contains("the image of profile linux-x86_64 is not built") == true, "\(run.message ?? "")")
        #expect(run.message?.contains("pushbox vm build linux-x86_64") == true)
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.contains("\nvm linux-x86_64: error: the image of profile linux-x86_64 is not built"))
        pushbox.stopDaemon()
        // The foreground run without VMs passes and records the entry as skipped.
        let foreground = try pushbox.pushbox(["run", "--repo", repo.bare.path, "--no-vms"])
        #expect(foreground.status == 0, "\(foreground.stderr)")
        #expect(foreground.stderr.contains("vm linux-x86_64: skipped (VM validation is off for this run)"), "\(foreground.stderr)")
    }

    @Test("a passing autofix is validated in the guest too; the fix commit's note has the VM line")
    func autofixTreeInGuest() throws {
        let pushbox = try Self.daemon(extra: """
            autofix:
              backend: command
              command: "sed -i 's/a-b/a+b/' hello.c && echo fixed add"
            """)
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo, pipeline: Projects.defaultPipeline + "\nvms:\n  - {profile: linux-x86_64, run: make test}\n")
        try repo.write("hello.c", """
            #include <stdio.h>
            int add(int a, int b) { return a-b; }
            int main(void) { printf("hello %d\\n", add(2, 2)); return 0; }
            """)
        let sha = try repo.commit("buggy add")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(600))
        #expect(run.state == .failed)
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (1 attempt, $0.00)", "\(run)")
        #expect(run.vms.map(\.tree) == [.pushed, .autofix])
        #expect(run.vms.first?.state == .skipped, "the pushed tree failed its steps: no guest for it")
        #expect(run.vms.last?.state == .passed, "\(run.vms)")
        #expect(pushbox.log(run: id, step: "vm-linux-x86_64-autofix").contains("2 passed, 0 failed"))
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.contains("\nvm linux-x86_64 (autofix): passed "), "\(note)")
        let fix = try repo.checked(["rev-parse", "refs/heads/autofix/main/\(sha.prefix(8))"], in: repo.bare).trimmingCharacters(in: .whitespacesAndNewlines)
        let fixNote = try #require(try pushbox.note(repo, fix))
        #expect(fixNote.hasPrefix("pushbox: passed\n") && fixNote.contains("\nvm linux-x86_64: passed "), "\(fixNote)")
    }

    /// A project whose guest entry also runs `guest-check.sh`, which fails until `portable.txt` exists, and
    /// whose fixer (`command` backend) fixes `add` and writes `portable.txt` only once its task shows the
    /// guest's complaint.
    static func guestCheckedProject(_ repo: GitFixture, buggy: Bool, maxAttempts: Int) throws {
        try Projects.make(in: repo, pipeline: Projects.defaultPipeline + """

            autofix: {max_attempts: \(maxAttempts)}
            vms:
              - {profile: linux-x86_64, run: "make test && ./guest-check.sh"}
            """)
        if buggy {
            try repo.write("hello.c", """
                #include <stdio.h>
                int add(int a, int b) { return a-b; }
                int main(void) { printf("hello %d\\n", add(2, 2)); return 0; }
                """)
        }
        try repo.write("guest-check.sh", """
            #!/bin/sh
            # The complaint is put together at run time, so that only the guest's output holds it (the
            # fixer also sees this file's text in the push's diff).
            [ -e portable.txt ] || { echo "GUEST-$(echo CHECK): portable.txt is missing in this guest"; exit 1; }
            echo "guest check ok"
            """, executable: true)
        try repo.write("fixer.sh", """
            prompt=$(cat)
            sed -i 's/a-b/a+b/' hello.c
            marker="GUEST-""CHECK:"    # split, so that this file's own text (in the task's diff) does not match
            case "$prompt" in *"$marker"*) echo yes > portable.txt ;; esac
            echo "fixed what the task showed"
            """)
    }

    static let guestCheckedFixer = """
        autofix:
          backend: command
          command: "sh ./fixer.sh"
        """

    @Test("a fix that fails in the guest is not published; the next attempt is told the guest's log and its fix is")
    func fixFailingInGuestIsNotPublished() throws {
        let pushbox = try Self.daemon(extra: Self.guestCheckedFixer)
        try pushbox.startDaemon()
        // One attempt: it passes in the container, fails in the guest, and nothing is published.
        let single = try pushbox.makeRepo("single")
        try Self.guestCheckedProject(single, buggy: true, maxAttempts: 1)
        let (singleSHA, singleRun, singleNote) = try AutofixTests.pushAndWait(pushbox, single)
        #expect(singleRun.autofix == "failed (attempt 1 failed in vm linux-x86_64)", "\(String(describing: singleRun.autofix))\n\(pushbox.daemonOutput().suffix(3000))")
        #expect(singleNote.contains("\nautofix: failed (attempt 1 failed in vm linux-x86_64)\n"), "\(singleNote)")
        #expect(singleNote.contains("\nvm linux-x86_64 (autofix): failed "), "\(singleNote)")
        #expect(try single.checked(["branch", "--list", "autofix/*"], in: single.bare).isEmpty, "nothing reached review")
        let singleRecords = try AutofixTests.attempts(pushbox, run: singleRun.id)
        let verification = try #require(singleRecords.first?["verification"] as? [String: Any])
        #expect(verification["passed"] as? Bool == false && verification["failed_in"] as? String == "vm linux-x86_64", "\(verification)")
        #expect((verification["log_tail"] as? String)?.contains("GUEST-CHECK: portable.txt is missing") == true)
        _ = singleSHA

        // Two attempts: the second is told what the guest said, and only its fix is published.
        let repo = try pushbox.makeRepo("twice")
        try Self.guestCheckedProject(repo, buggy: true, maxAttempts: 2)
        let (sha, run, note) = try AutofixTests.pushAndWait(pushbox, repo)
        #expect(run.state == .failed)
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (2 attempts, $0.00)", "\(String(describing: run.autofix))")
        #expect(note.contains("\nvm linux-x86_64 (autofix): passed "), "\(note)")
        let records = try AutofixTests.attempts(pushbox, run: run.id)
        #expect(records.count == 2 && records[0]["passed"] as? Bool == false && records[1]["passed"] as? Bool == true)
        let branch = "autofix/main/\(sha.prefix(8))"
        let files = try repo.checked(["diff", "--name-only", "\(sha)..\(branch)"], in: repo.bare)
        #expect(files.split(separator: "\n").sorted() == ["hello.c", "portable.txt"], "the published fix is the second attempt's: \(files)")
        let fixNote = try repo.checked(["notes", "--ref=pushbox", "show", branch], in: repo.bare)
        #expect(fixNote.hasPrefix("pushbox: passed\n") && fixNote.contains("\nvm linux-x86_64: passed "), "\(fixNote)")
    }

    @Test("a run that passes in the container but fails in a guest starts autofix with the guest's log")
    func guestOnlyFailureStartsAutofix() throws {
        let pushbox = try Self.daemon(extra: Self.guestCheckedFixer)
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Self.guestCheckedProject(repo, buggy: false, maxAttempts: 1)
        let (sha, run, note) = try AutofixTests.pushAndWait(pushbox, repo)
        #expect(run.state == .failed)
        #expect(run.steps.allSatisfy { $0.state == .passed })
        #expect(run.vms.first { $0.tree == .pushed }?.state == .failed)
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (1 attempt, $0.00)", "\(String(describing: run.autofix))\n\(pushbox.daemonOutput().suffix(3000))")
        #expect(note.contains("\nvm linux-x86_64: failed ") && note.contains("\nvm linux-x86_64 (autofix): passed "), "\(note)")
        let branch = "autofix/main/\(sha.prefix(8))"
        let changed = try repo.checked(["diff", "--name-only", "\(sha)..\(branch)"], in: repo.bare)
        #expect(changed.trimmingCharacters(in: .whitespacesAndNewlines) == "portable.txt", "\(changed)")
        let message = try repo.checked(["log", "-1", "--format=%B", branch], in: repo.bare)
        #expect(message.contains("vm linux-x86_64 failed (exit 1)"), "\(message)")
    }

    /// The shipped profiles plus `broken-x86_64`: the x86_64 guest with a kernel argument that hangs its
    /// boot (the kernel panics without an init and never reaches the job) and a short boot timeout.
    static func profilesWithBrokenGuest() throws -> URL {
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = checkout.appendingPathComponent("vm-profiles")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-profiles-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: shipped, to: directory)
        var text = try String(contentsOf: directory.appendingPathComponent("linux-x86_64.yml"), encoding: .utf8)
        text = text.replacingOccurrences(of: "boot_timeout: 60s", with: "boot_timeout: 12s")
            .replacingOccurrences(of: "accel: auto", with: "accel: tcg")
        text += "cmdline: \"rdinit=/nonexistent panic=0\"\n"
        try text.write(to: directory.appendingPathComponent("broken-x86_64.yml"), atomically: true, encoding: .utf8)
        return directory
    }
}

/// Live QEMU processes by their `-name`, read from /proc.
enum QEMUProcesses {
    static func named(suffix: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty,
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  !stat.contains(") Z ") else { return nil }
            let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard argv.first?.contains("qemu-system") == true, let index = argv.firstIndex(of: "-name"), index + 1 < argv.count,
                  argv[index + 1].hasPrefix("pushbox-"), argv[index + 1].hasSuffix(suffix) else { return nil }
            return pid
        }
    }
}
