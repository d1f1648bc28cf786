import Core
import Foundation
import Testing
import TestSupport

/// The commands that steer runs: logs -f, cancel, retry, and `pushbox run` in the foreground.
@Suite("run control", .serialized)
struct ControlTests {
    @Test("logs -f shows output while the step runs and ends with the run")
    func followLogs() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            steps:
              - {name: first, run: "echo one; sleep 1; echo two"}
              - {name: second, run: "echo three"}
            """)
        try repo.commit("ticker")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let follow = try pushbox.pushbox(["logs", String(id), "-f"])
        #expect(follow.status == 0)
        let out = follow.stdout
        for expected in ["==> step first: echo one; sleep 1; echo two", "one\n", "two\n", "==> step first: passed",
                         "==> step second: echo three", "three\n", "==> run \(id): passed"] {
            #expect(out.contains(expected), "missing \(expected) in \(out)")
        }
        let one = try #require(out.range(of: "one\n")), three = try #require(out.range(of: "three\n"))
        #expect(one.lowerBound < three.lowerBound)
        let step = try pushbox.pushbox(["logs", String(id), "--step", "second"])
        #expect(step.stdout == "three\n")
    }

    @Test("cancel stops a running run and removes its container; retry runs the commit again")
    func cancelAndRetry() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: long, run: \"echo begin; sleep 120\"}\n")
        let sha = try repo.commit("long")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let running = try pushbox.waitForRun(id) { $0.steps.first?.state == .running && $0.sandboxID != nil }
        let cancel = try pushbox.pushbox(["cancel", String(id)])
        #expect(cancel.status == 0)
        #expect(cancel.stdout.contains("run \(id): stopping"))
        let run = try pushbox.waitForRun(id, timeout: .seconds(30))
        #expect(run.state == .canceled)
        #expect(try pushbox.note(repo, sha)?.hasPrefix("pushbox: canceled") == true)
        let container = try #require(running.sandboxID)
        let inspect = Foundation.Process()
        inspect.executableURL = URL(fileURLWithPath: "/usr/bin/podman")
        inspect.arguments = ["container", "exists", container]
        try inspect.run()
        inspect.waitUntilExit()
        #expect(inspect.terminationStatus == 1, "container \(container) should be gone")

        let again = try pushbox.pushbox(["cancel", String(id)])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already finished"))

        let retry = try pushbox.pushbox(["retry", String(id)])
        #expect(retry.status == 0)
        let newID = try #require(Int64(retry.stdout.split(separator: " ")[1]))
        let retried = try pushbox.waitForRun(newID) { $0.state == .running }
        #expect(retried.sha == sha && retried.retryOf == id)
        _ = try pushbox.pushbox(["cancel", String(newID)])
        #expect(try pushbox.waitForRun(newID).state == .canceled)
    }

    @Test("pushbox run in the foreground: exit 0, 1 and 2, note written, recorded in the store")
    func foregroundRun() throws {
        let pushbox = try DaemonFixture()
        let repo = try GitFixture(bareAt: pushbox.directory.url("solo.git"), cloneAt: pushbox.directory.url("solo"),
                                  home: pushbox.directory.url("git-home"))
        try Projects.make(in: repo)
        let good = try repo.commit("good")
        try repo.push()
        let pass = try pushbox.pushbox(["run", "--repo", repo.bare.path, "--rev", "main"])
        #expect(pass.status == 0, "\(pass.stderr)")
        #expect(pass.stdout.contains("ok - add"))
        #expect(pass.stderr.contains("run 1: passed"))
        #expect(try pushbox.note(repo, good)?.hasPrefix("pushbox: passed\nrun: 1") == true)

        try Projects.make(in: repo, failing: true)
        try repo.commit("bad")
        try repo.push()
        let fail = try pushbox.pushbox(["run", "--repo", repo.bare.path, "--rev", "main"])
        #expect(fail.status == 1)

        try repo.write(".pushbox.yml", "image: pushbox/does-not-exist:1\nsteps:\n  - {name: a, run: \"true\"}\n")
        try repo.commit("missing image")
        try repo.push()
        let error = try pushbox.pushbox(["run", "--repo", repo.bare.path])
        #expect(error.status == 2)
        #expect(error.stderr.contains("pushbox image build"))
        #expect(try pushbox.runs().map(\.state) == [.error, .failed, .passed])
    }

    @Test("doctor reports libgit2, the engine and the image, and exits 0 when all is well")
    func doctor() throws {
        let pushbox = try DaemonFixture()
        let result = try pushbox.pushbox(["doctor"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("ok  libgit2"))
        #expect(result.stdout.contains("1.5"))
        #expect(result.stdout.contains("ok  container engine") && result.stdout.contains("podman"))
        #expect(result.stdout.contains("ok  default image") && result.stdout.contains("pushbox/debian:bookworm"))
        #expect(result.stdout.contains("daemon") && result.stdout.contains("not running"))
        // Each VM profile, with what it lacks here (this home's vm.images is empty) and the fix.
        #expect(result.stdout.contains("--  vm linux-x86_64") && result.stdout.contains("build it with `pushbox vm build linux-x86_64`"))
        #expect(result.stdout.contains("--  vm windows-11") && result.stdout.contains("VBoxManage not found"))
        // A broken runner configuration is a problem doctor names, with the line.
        try Data("concurrency: lots\n".utf8).write(to: pushbox.home.appendingPathComponent("pushbox.yml"))
        let broken = try pushbox.pushbox(["doctor"])
        #expect(broken.status == 1)
        #expect(broken.stdout.contains("pushbox.yml:1:14: concurrency must be a whole number"))
    }
}
