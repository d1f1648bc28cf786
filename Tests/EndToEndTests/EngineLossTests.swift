import Core
import Foundation
import Testing
import TestSupport

/// The container engine stops in the middle of a run: the run says so, the daemon keeps serving, starts its
/// podman service again, removes what the run left, and runs the commit once more.
@Suite("engine loss", .serialized)
struct EngineLossTests {
    @Test("the engine stops mid-run: error: container engine unavailable, retried once when it is back, the daemon survives")
    func engineStopsMidRun() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let enginePIDFile = pushbox.home.appendingPathComponent("engine.pid")
        let enginePID = try #require(Int32((try? String(contentsOf: enginePIDFile, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""), "the daemon runs its own podman service here")
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: slow, run: \"echo started; sleep 6; echo done\"}\n")
        let sha = try repo.commit("slow")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        _ = try pushbox.waitForRun(id, timeout: .seconds(60)) { pushbox.log(run: $0.id, step: "slow").contains("started") }
        // The service this test's daemon started (its pid file is in the test's home).
        #expect(kill(enginePID, SIGTERM) == 0)

        let lost = try pushbox.waitForRun(id, timeout: .seconds(60))
        #expect(lost.state == .error)
        #expect(lost.message?.hasPrefix("container engine unavailable") == true, "\(lost.message ?? "")")
        #expect(try pushbox.note(repo, sha)?.contains("error: container engine unavailable") == true)

        // The retry: a new run of the same commit, once.
        let deadline = ContinuousClock.now + .seconds(90)
        var retry: Run?
        while ContinuousClock.now < deadline {
            retry = try pushbox.runs().first { $0.retryOf == id }
            if let retry, retry.state.isFinished { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        let again = try #require(retry, "\(pushbox.daemonOutput().suffix(3000))")
        #expect(again.source == .engineRetry)
        #expect(again.state == .passed, "\(pushbox.log(run: again.id, step: "slow"))")
        #expect(again.sha == sha)
        #expect(try pushbox.note(repo, sha)?.hasPrefix("pushbox: passed") == true, "the retry's note is the latest")
        #expect(pushbox.isDaemonRunning)
        #expect(pushbox.daemonOutput().contains("started the podman service again"))
        // Nothing of the interrupted run is left in the engine, and no further retry follows.
        Thread.sleep(forTimeInterval: 3)
        #expect(try pushbox.runs().filter { $0.retryOf == id }.count == 1)
        let leftovers = try Command.run(["podman", "ps", "-a", "--filter", "label=pushbox.run=\(id)", "--filter",
                                         "label=pushbox.home=\(pushbox.home.path)", "--format", "{{.Names}}"], mergeErrors: false)
        #expect(leftovers.status == 0)
        let names = leftovers.output
        #expect(names.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "left: \(names)")
    }
}
