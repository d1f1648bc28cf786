import Core
import Foundation
import Testing
import TestSupport

/// The core loop end to end: the real daemon in a temporary home, real bare repositories with the
/// installed hook, real `git push`, real containers through the podman service.
@Suite("core loop", .serialized)
struct CoreLoopTests {
    @Test("a passing project: push output, states, note, logs, test counts")
    func passingProject() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        let sha = try repo.commit("passing")
        let push = try repo.push()
        #expect(push.status == 0)
        #expect(push.output.contains("remote: pushbox: run 1 queued for main (\(sha.prefix(7))) http://127.0.0.1:\(pushbox.port)/runs/1"))
        let run = try pushbox.waitForRun(1)
        #expect(run.state == .passed, "\(run)")
        #expect(run.steps.map(\.name) == ["build", "test"])
        #expect(run.subject == "passing", "the commit's subject is recorded with the run")
        #expect(run.steps.allSatisfy { $0.state == .passed && $0.exitCode == 0 })
        #expect(run.steps[1].testsPassed == 2 && run.steps[1].testsFailed == 0)
        #expect(pushbox.log(run: 1, step: "build").contains("gcc -o hello hello.c"))
        #expect(pushbox.log(run: 1, step: "test").contains("ok - add"))
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.hasPrefix("pushbox: passed\nrun: 1 http://127.0.0.1:\(pushbox.port)/runs/1\nref: refs/heads/main\n"))
        #expect(note.contains("step build: passed "))
        #expect(note.contains("step test: passed ") && note.contains("(2 passed, 0 failed)"))
        // The user's view: fetch the notes and read them with git log.
        try repo.checked(["fetch", "-q", "origin", "refs/notes/pushbox:refs/notes/pushbox"])
        let log = try repo.checked(["log", "--notes=pushbox", "-1"])
        #expect(log.contains("pushbox: passed"))
        // metadata.json carries the seed's fields.
        let metadata = try JSONSerialization.jsonObject(with: Data(contentsOf: pushbox.home.appendingPathComponent("runs/1/metadata.json"))) as? [String: Any]
        #expect(metadata?["run_id"] as? Int == 1)
        #expect(metadata?["sha"] as? String == sha)
        #expect((metadata?["container_id"] as? String)?.isEmpty == false)
        #expect((metadata?["steps"] as? [[String: Any]])?.count == 2)
    }

    @Test("a failing test: failed run, counts and the failing step in the note")
    func failingTest() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo, failing: true)
        let sha = try repo.commit("failing")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .failed)
        // make exits 2 when a recipe fails
        #expect(run.steps[1].state == .failed && run.steps[1].exitCode == 2)
        #expect(run.steps[1].testsPassed == 1 && run.steps[1].testsFailed == 1)
        #expect(run.message == "step test failed (exit 2)")
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.hasPrefix("pushbox: failed\n"))
        #expect(note.contains("step test: failed ") && note.contains("(exit 2) (1 passed, 1 failed)"))
        // stderr is in the log too, in order with stdout
        let log = pushbox.log(run: id, step: "test")
        let ok = try #require(log.range(of: "ok - add"))
        let fail = try #require(log.range(of: "FAIL - compare"))
        #expect(ok.lowerBound < fail.lowerBound)
    }

    @Test("test counts from JUnit files named by junit:, never through a symlink out of the workspace")
    func junitCounts() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        // A JUnit file on the host, outside any workspace, with 50 passing tests.
        let hostFile = pushbox.directory.url("host-junit.xml")
        let cases = String(repeating: "<testcase name=\"host\"/>", count: 50)
        try Data("<testsuite name=\"host\">\(cases)</testsuite>".utf8).write(to: hostFile)
        try repo.write("report.sh", """
            #!/bin/sh
            mkdir -p build/test-results
            cat > build/test-results/unit.xml <<'XML'
            <testsuite name="unit" tests="4"><testcase name="a"/><testcase name="b"/>
            <testcase name="c"><failure message="boom"/></testcase><testcase name="d"><skipped/></testcase></testsuite>
            XML
            # A link to a host file with more "tests": the runner must not follow it.
            ln -s \(hostFile.path) build/test-results/host.xml
            echo "99 passed, 0 failed"
            """, executable: true)
        try repo.write(".pushbox.yml", """
            steps:
              - {name: test, run: ./report.sh, junit: "build/test-results/*.xml"}
            """)
        let sha = try repo.commit("junit")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .passed)
        // JUnit wins over the summary line in the log.
        #expect(run.steps[0].testsPassed == 2 && run.steps[0].testsFailed == 1 && run.steps[0].testsSkipped == 1)
        #expect(try pushbox.note(repo, sha)?.contains("(2 passed, 1 failed, 1 skipped)") == true)
    }

    @Test("a build error stops the pipeline: later steps are skipped")
    func buildError() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        try repo.write("hello.c", "int main(void) { return syntax error; }\n")
        let sha = try repo.commit("broken build")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .failed)
        #expect(run.steps.map(\.state) == [.failed, .skipped])
        #expect(pushbox.log(run: id, step: "build").contains("error"))
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.contains("step build: failed") && note.contains("step test: skipped"))
    }

    @Test("the run's timeout stops a step and says so")
    func timeout() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            timeout: 3s
            steps:
              - {name: slow, run: "echo started; sleep 60; echo never"}
              - {name: after, run: "true"}
            """)
        let sha = try repo.commit("slow")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let started = ContinuousClock.now
        let run = try pushbox.waitForRun(id)
        #expect(ContinuousClock.now - started < .seconds(40))
        #expect(run.state == .failed)
        #expect(run.steps[0].timedOut)
        #expect(run.steps[1].state == .skipped)
        #expect(run.message?.contains("timed out") == true)
        #expect(pushbox.log(run: id, step: "slow").contains("started"))
        #expect(!pushbox.log(run: id, step: "slow").contains("never"))
        #expect(try pushbox.note(repo, sha)?.contains("step slow: timed out") == true)
    }

    @Test("a .pushbox.yml with a mistake is an error run whose note says where")
    func badPipelineFile() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: build, run: make}\nstpes: []\n")
        let sha = try repo.commit("typo")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .error)
        #expect(run.message?.contains(".pushbox.yml:3:1: unknown key \"stpes\"") == true, "\(run.message ?? "")")
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.hasPrefix("pushbox: error\n"))
        #expect(note.contains("error: .pushbox.yml:3:1: unknown key \"stpes\""))

        try repo.write(".pushbox.yml", "steps: [ {name: build, run: make}\n")
        let sha2 = try repo.commit("syntax error")
        let id2 = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run2 = try pushbox.waitForRun(id2)
        #expect(run2.state == .error)
        #expect(run2.message?.contains(".pushbox.yml:") == true && run2.message?.contains("invalid YAML") == true)
        #expect(try pushbox.note(repo, sha2)?.contains("error: .pushbox.yml:") == true)
    }

    @Test("without .pushbox.yml the pipeline is detected, and the note says what was detected")
    func detection() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo, pipeline: nil)
        let sha = try repo.commit("no pipeline file")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .passed)
        #expect(run.detected == "make (Makefile)")
        #expect(run.steps.map(\.command) == ["make", "make test"])
        #expect(try pushbox.note(repo, sha)?.contains("detected: make (Makefile)") == true)

        try repo.remove("Makefile")
        try repo.write("README", "nothing to build\n")
        let sha2 = try repo.commit("nothing detectable")
        let id2 = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run2 = try pushbox.waitForRun(id2)
        #expect(run2.state == .error)
        #expect(run2.message?.contains("no .pushbox.yml and nothing to detect") == true)
        #expect(try pushbox.note(repo, sha2)?.contains("steps:") == true)
    }

    @Test("branch filter, deleted branch and tag push")
    func refKinds() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "branches: [main, \"release/*\"]\nsteps:\n  - {name: check, run: \"test -f .pushbox.yml\"}\n")
        try repo.commit("filtered")
        let main = try repo.push()
        let mainRun = try #require(DaemonFixture.queuedRunIDs(in: main.output).first)
        #expect(try pushbox.waitForRun(mainRun).state == .passed)

        let feature = try repo.push("HEAD:refs/heads/feature/x")
        #expect(feature.status == 0)
        #expect(feature.output.contains("remote: pushbox: feature/x skipped: not in branches: main, release/*"))
        #expect(DaemonFixture.queuedRunIDs(in: feature.output).isEmpty)

        let release = try repo.push("HEAD:refs/heads/release/1.0")
        let releaseRun = try #require(DaemonFixture.queuedRunIDs(in: release.output).first)
        #expect(try pushbox.waitForRun(releaseRun).state == .passed)

        let deleted = try repo.push(":refs/heads/feature/x")
        #expect(deleted.status == 0)
        #expect(deleted.output.contains("remote: pushbox: feature/x deleted; nothing to run"))

        try repo.checked(["tag", "-a", "v1.0", "-m", "release"])
        let tag = try repo.push("refs/tags/v1.0")
        let tagRun = try #require(DaemonFixture.queuedRunIDs(in: tag.output).first)
        #expect(tag.output.contains("queued for v1.0"))
        let run = try pushbox.waitForRun(tagRun)
        #expect(run.ref == "refs/tags/v1.0")
        #expect(run.state == .passed)
    }

    @Test("a push of 50 refs at once queues 50 runs, and all of them finish")
    func fiftyRefs() throws {
        let pushbox = try DaemonFixture(config: "concurrency: 2\n")
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: noop, run: \"echo $PUSHBOX_REF\"}\n")
        try repo.commit("base")
        var refspecs: [String] = []
        for i in 0..<50 {
            try repo.write("n", "\(i)\n")
            try repo.commit("commit \(i)")
            try repo.checked(["branch", "-f", "b\(i)", "HEAD"])
            refspecs.append("refs/heads/b\(i):refs/heads/b\(i)")
        }
        let push = try repo.runGit(["push", "origin"] + refspecs)
        #expect(push.status == 0)
        let ids = DaemonFixture.queuedRunIDs(in: push.output)
        #expect(ids.count == 50)
        #expect(Set(ids).count == 50)
        for id in ids {
            let run = try pushbox.waitForRun(id, timeout: .seconds(300))
            #expect(run.state == .passed)
            #expect(pushbox.log(run: id, step: "noop").contains(run.ref))
        }
    }

    @Test("1,000 refs in one push: every one is answered, the filtered ones skipped, the daemon stays up")
    func thousandRefs() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "branches: [main, keep-*]\nsteps:\n  - {name: noop, run: \"echo $PUSHBOX_REF\"}\n")
        try repo.commit("base")
        // One commit, 1,000 branch names (long and unusual but valid ones among them).
        var refs: [String] = []
        for i in 0..<1000 {
            let name = i < 2 ? "keep-\(i)" : i % 100 == 0 ? "deep/\(String(repeating: "x", count: 180))/\(i)" : "b\(i)-ünïcode.\(i)"
            refs.append("refs/heads/\(name)")
        }
        let script = refs.map { "create \($0) HEAD" }.joined(separator: "\n") + "\n"
        _ = try repo.checked(["update-ref", "--stdin"], input: Data(script.utf8))
        let push = try repo.runGit(["push", "origin"] + refs.map { "\($0):\($0)" })
        #expect(push.status == 0, "\(push.output.suffix(2000))")
        let queued = DaemonFixture.queuedRunIDs(in: push.output)
        #expect(queued.count == 2, "keep-0 and keep-1 run")
        #expect(push.output.components(separatedBy: "not in branches").count - 1 == 998, "every other ref is answered as skipped")
        for id in queued { #expect(try pushbox.waitForRun(id).state == .passed) }
        #expect(pushbox.isDaemonRunning)
    }

    @Test("a run whose end was recorded but never reported (a crash in between) gets its note at the next start")
    func unreportedRunGetsItsNote() throws {
        let pushbox = try DaemonFixture(config: "reconcile_every: 1s\n")
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        let sha = try repo.commit("reported")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(id).state == .passed)
        pushbox.stopDaemon()
        // The state a SIGKILL between recording the end and writing the note leaves behind (what
        // scripts/chaos ran into): the run finished in the store, no note, not marked reported.
        _ = try repo.checked(["notes", "--ref=pushbox", "remove", sha], in: repo.bare)
        #expect(try pushbox.note(repo, sha) == nil)
        let store = pushbox.home.appendingPathComponent("pushbox.sqlite").path
        let reset = try Command.run(["python3", "-c",
                                     "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('UPDATE runs SET reported_at = NULL'); db.commit()", store])
        #expect(reset.status == 0, "\(reset.output)")
        try pushbox.startDaemon()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, try pushbox.note(repo, sha) == nil { Thread.sleep(forTimeInterval: 0.3) }
        let note = try #require(try pushbox.note(repo, sha), "\(pushbox.daemonOutput().suffix(2000))")
        #expect(note.hasPrefix("pushbox: passed\nrun: \(id) "))
        #expect(try pushbox.runs().count == 1, "reporting again starts no run")
    }

    @Test("a push while the daemon is down is spooled and runs when it starts")
    func spool() throws {
        let pushbox = try DaemonFixture()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        let sha = try repo.commit("while down")
        let push = try repo.push()
        #expect(push.status == 0)
        #expect(push.output.contains("remote: pushbox: daemon not running; push of main saved in the spool"))
        let spooled = try FileManager.default.contentsOfDirectory(atPath: pushbox.home.appendingPathComponent("spool").path)
        #expect(spooled.filter { $0.hasSuffix(".json") }.count == 1)
        try pushbox.startDaemon()
        let run = try pushbox.waitForRun(1)
        #expect(run.state == .passed)
        #expect(run.sha == sha)
        #expect(run.source == .spool)
        let left = try FileManager.default.contentsOfDirectory(atPath: pushbox.home.appendingPathComponent("spool").path)
        #expect(left.isEmpty)
        #expect(try pushbox.note(repo, sha)?.hasPrefix("pushbox: passed") == true)
    }

    @Test("a spooled push that arrives after the scan already ran its head starts no second run")
    func spoolAfterScan() throws {
        // What scripts/chaos found: the hook writes the spool after the ref moved; a daemon starting in
        // between scans first and queues the head, then drains the spooled copy of the same push.
        let pushbox = try DaemonFixture(config: "reconcile_every: 1s\n")
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        let sha = try repo.commit("while down")
        #expect(try repo.push().output.contains("saved in the spool"))
        let spool = pushbox.home.appendingPathComponent("spool")
        let aside = pushbox.home.appendingPathComponent("spool-aside")
        try FileManager.default.moveItem(at: spool, to: aside)
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        try pushbox.startDaemon()
        let run = try pushbox.waitForRun(1)
        #expect(run.source == .scan && run.sha == sha)
        for name in try FileManager.default.contentsOfDirectory(atPath: aside.path) {
            try FileManager.default.moveItem(at: aside.appendingPathComponent(name), to: spool.appendingPathComponent(name))
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while (try FileManager.default.contentsOfDirectory(atPath: spool.path)).contains(where: { $0.hasSuffix(".json") }),
              ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".json") }.isEmpty, "the spool was drained")
        #expect(try pushbox.runs().count == 1, "the spooled copy of the push started no second run")
    }

    @Test("a hook whose request gets no answer spools the push, and it runs once the daemon is back")
    func noAnswerIsSpooled() throws {
        let pushbox = try DaemonFixture()
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        let sha = try repo.commit("in flight")
        // A daemon that accepts the hook's request and dies before answering: a listener on the daemon's
        // socket that reads the request and closes the connection.
        let socket = pushbox.home.appendingPathComponent("pushbox.sock").path
        let listener = try Foundation.Process.run(URL(fileURLWithPath: "/usr/bin/python3"), arguments: ["-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); print("ready", flush=True)
            c, _ = s.accept(); c.recv(65536); c.close(); s.close()
            """, socket])
        defer { if listener.isRunning { listener.terminate() }; unlink(socket) }
        let ready = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: socket), ContinuousClock.now < ready { Thread.sleep(forTimeInterval: 0.05) }
        let push = try repo.push()
        #expect(push.status == 0, "the push never fails")
        #expect(push.output.contains("remote: pushbox: no answer from the daemon"), "\(push.output)")
        #expect(push.output.contains("push of main saved in the spool"), "\(push.output)")
        listener.waitUntilExit()
        unlink(socket)
        try pushbox.startDaemon()
        let run = try pushbox.waitForRun(1)
        #expect(run.state == .passed && run.sha == sha && run.source == .spool)
        #expect(try pushbox.runs().count == 1)
    }

    @Test("a spooled copy of a push the daemon recorded starts nothing; one a later push overtook is recorded superseded")
    func spooledInFlightPushes() throws {
        // What a SIGKILL while hooks' requests are in flight leaves: each hook got no answer and spooled its
        // push, which the daemon either recorded before dying, or never saw while the branch moved on.
        let pushbox = try DaemonFixture(config: "reconcile_every: 1h\n")
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        try pushbox.startDaemon()
        let beforeFirst = Date()
        let first = try repo.commit("recorded, then no answer")
        let firstID = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(firstID).state == .passed)

        // A push the daemon never saw (no hook ran), then a later push of the same branch that it did.
        let hook = repo.bare.appendingPathComponent("hooks/post-receive")
        let hookAside = repo.bare.appendingPathComponent("hooks/post-receive.aside")
        try FileManager.default.moveItem(at: hook, to: hookAside)
        let beforeOvertaken = Date()
        try repo.write("overtaken.txt", "x\n")
        let overtaken = try repo.commit("never reached the daemon")
        #expect(try repo.push().status == 0)
        try FileManager.default.moveItem(at: hookAside, to: hook)
        try repo.write("later.txt", "y\n")
        let later = try repo.commit("pushed after it")
        let laterID = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(laterID).state == .passed)
        pushbox.stopDaemon()

        // The two hooks' spooled events, as they write them (time taken before the request).
        try writeSpoolEvent(pushbox, repo, RefUpdate(oldSHA: RefUpdate.zeroSHA, newSHA: first, ref: "refs/heads/main"), at: beforeFirst)
        try writeSpoolEvent(pushbox, repo, RefUpdate(oldSHA: first, newSHA: overtaken, ref: "refs/heads/main"), at: beforeOvertaken)
        try pushbox.startDaemon()
        let spool = pushbox.home.appendingPathComponent("spool")
        let deadline = ContinuousClock.now + .seconds(30)
        while try FileManager.default.contentsOfDirectory(atPath: spool.path).contains(where: { $0.hasSuffix(".json") }),
              ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".json") }.isEmpty, "the spool was drained")
        let runs = try pushbox.runs()
        #expect(runs.count == 3, "\(runs.map { ($0.id, $0.sha.prefix(7), $0.state) })")
        #expect(runs.filter { $0.sha == first }.map(\.id) == [firstID], "the recorded push ran once")
        #expect(runs.first { $0.id == laterID }?.sha == later)
        let superseded = try #require(runs.first { $0.sha == overtaken })
        #expect(superseded.state == .canceled && superseded.supersededBy == laterID && superseded.source == .spool)
        #expect(superseded.message == "superseded by run \(laterID)")
        let noteDeadline = ContinuousClock.now + .seconds(30)
        while try pushbox.note(repo, overtaken) == nil, ContinuousClock.now < noteDeadline { Thread.sleep(forTimeInterval: 0.3) }
        #expect(try pushbox.note(repo, overtaken)?.contains("superseded by run \(laterID)") == true)
    }

    private func writeSpoolEvent(_ pushbox: DaemonFixture, _ repo: GitFixture, _ update: RefUpdate, at time: Date) throws {
        let encoder = JSONEncoder()
        let event: [String: String] = ["repo_path": repo.bare.resolvingSymlinksInPath().path, "received_at": Timestamps.string(time)]
        var json = String(decoding: try encoder.encode(event), as: UTF8.self)
        json.removeLast()
        json += ",\"updates\":[\(String(decoding: try encoder.encode(update), as: UTF8.self))]}"
        let name = String(format: "%020.6f-test-%d.json", time.timeIntervalSince1970, Int.random(in: 0...1_000_000))
        try Data(json.utf8).write(to: pushbox.home.appendingPathComponent("spool/\(name)"))
    }

    @Test("a head pushed with no hook is found by the reconciliation scan")
    func scanFindsUnhookedPush() throws {
        let pushbox = try DaemonFixture()
        let repo = try pushbox.makeRepo()
        // Remove the hook: the push leaves no trace but the ref itself.
        try FileManager.default.removeItem(at: repo.bare.appendingPathComponent("hooks/post-receive"))
        try Projects.make(in: repo)
        let sha = try repo.commit("no hook")
        #expect(try repo.push().status == 0)
        try pushbox.startDaemon()
        let run = try pushbox.waitForRun(1)
        #expect(run.sha == sha && run.source == .scan && run.state == .passed)
    }

    @Test("the daemon killed mid-run: after a restart the run completes and nothing is lost")
    func crashMidRun() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: slow, run: \"sleep 4; echo done\"}\n")
        let sha = try repo.commit("slow")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let before = try pushbox.waitForRun(id) { $0.state == .running && $0.steps.first?.state == .running && $0.sandboxID != nil }
        pushbox.stopDaemon(signal: SIGKILL)
        #expect(try pushbox.run(id).state == .running)
        try pushbox.startDaemon()
        // The restarted daemon removed the container the killed one left (found by its labels).
        let orphan = try Foundation.Process.run(URL(fileURLWithPath: "/usr/bin/podman"), arguments: ["container", "exists", try #require(before.sandboxID)])
        orphan.waitUntilExit()
        #expect(orphan.terminationStatus == 1, "the orphaned container must be removed")
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .passed)
        #expect(run.requeues == 1)
        #expect(pushbox.log(run: id, step: "slow").contains("done"))
        #expect(try pushbox.note(repo, sha)?.hasPrefix("pushbox: passed") == true)
        #expect(try pushbox.runs().count == 1)
    }

    @Test("a graceful stop mid-run removes the container and the next start runs the commit again")
    func gracefulStopMidRun() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: slow, run: \"sleep 3; echo done\"}\n")
        let sha = try repo.commit("slow")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let running = try pushbox.waitForRun(id) { $0.steps.first?.state == .running && $0.sandboxID != nil }
        pushbox.stopDaemon(signal: SIGTERM)
        // The private podman service the daemon started is stopped with it.
        #expect(!FileManager.default.fileExists(atPath: pushbox.home.appendingPathComponent("engine.sock").path))
        let stopped = try pushbox.run(id)
        #expect(stopped.state == .queued)
        #expect(stopped.message == "interrupted by a daemon shutdown; queued again")
        #expect(try pushbox.note(repo, sha) == nil)
        let exists = try Foundation.Process.run(URL(fileURLWithPath: "/usr/bin/podman"), arguments: ["container", "exists", try #require(running.sandboxID)])
        exists.waitUntilExit()
        #expect(exists.terminationStatus == 1, "the container of the interrupted run must be gone")
        try pushbox.startDaemon()
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .passed)
        #expect(run.requeues == 0)
        #expect(try pushbox.note(repo, sha)?.hasPrefix("pushbox: passed") == true)
    }

    @Test("two pushes to one branch back to back: the queued older run is superseded, recorded")
    func supersede() throws {
        let pushbox = try DaemonFixture(config: "concurrency: 1\n")
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: work, run: \"sleep 2\"}\n")
        try repo.commit("occupy")
        let blocker = try #require(DaemonFixture.queuedRunIDs(in: try repo.push("HEAD:refs/heads/other").output).first)
        _ = try pushbox.waitForRun(blocker) { $0.state == .running }
        let first = try repo.commit("first")
        let firstID = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let second = try repo.commit("second")
        let push = try repo.push()
        let secondID = try #require(DaemonFixture.queuedRunIDs(in: push.output).first)
        #expect(push.output.contains("(supersedes run \(firstID))"))
        let superseded = try pushbox.waitForRun(firstID)
        #expect(superseded.state == .canceled)
        #expect(superseded.supersededBy == secondID)
        #expect(superseded.message == "superseded by run \(secondID)")
        #expect(try pushbox.waitForRun(secondID).state == .passed)
        #expect(try pushbox.note(repo, first)?.contains("superseded by run \(secondID)") == true)
        #expect(try pushbox.note(repo, second)?.hasPrefix("pushbox: passed") == true)
    }
}
