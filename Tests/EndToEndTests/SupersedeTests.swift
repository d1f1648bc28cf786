import Core
import Foundation
import Testing
import TestSupport

/// A later push of a branch stops the branch's running run (issue 13): the real daemon, real `git push`,
/// real containers. The older run ends `canceled`, "superseded by run N", written by its own driver.
@Suite("supersede running runs", .serialized)
struct SupersedeTests {
    /// How long a superseded run may take to stop: its step or its fixer is killed, its container removed.
    static let stopWithin: Duration = .seconds(30)

    @Test("a push of the branch stops its running run: canceled, superseded, container gone, note says so; another branch's push does not")
    func runningRunSuperseded() throws {
        let pushbox = try DaemonFixture(config: "concurrency: 2\n")
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: wait, run: \"echo begin; sleep 600\"}\n")
        let first = try repo.commit("waits")
        let firstID = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let running = try pushbox.waitForRun(firstID) { $0.steps.first?.state == .running && $0.sandboxID != nil }
        let container = try #require(running.sandboxID)

        // Another branch of the same repository: its own run, nothing superseded.
        let other = try repo.push("HEAD:refs/heads/other")
        #expect(!other.output.contains("supersedes"), "\(other.output)")
        let otherID = try #require(DaemonFixture.queuedRunIDs(in: other.output).first)
        let otherRun = try pushbox.waitForRun(otherID) { $0.steps.first?.state == .running && $0.sandboxID != nil }
        let stillRunning = try pushbox.run(firstID)
        #expect(stillRunning.state == .running && stillRunning.supersededBy == nil)

        // A new commit of main: the run of the old one is stopped.
        try repo.write(".pushbox.yml", "steps:\n  - {name: wait, run: \"echo second\"}\n")
        let second = try repo.commit("quick")
        let push = try repo.push()
        let secondID = try #require(DaemonFixture.queuedRunIDs(in: push.output).first)
        #expect(push.output.contains("(supersedes run \(firstID))"), "\(push.output)")
        let superseded = try pushbox.waitForRun(firstID, timeout: Self.stopWithin)
        #expect(superseded.state == .canceled)
        #expect(superseded.message == "superseded by run \(secondID)")
        #expect(superseded.supersededBy == secondID)
        #expect(superseded.steps.map(\.state) == [.canceled])
        #expect(superseded.requeues == 0)
        #expect(!(try Self.containerExists(container)), "the superseded run's container \(container) must be gone")
        let note = try Self.waitForNote(pushbox, repo, first)
        #expect(note.hasPrefix("pushbox: canceled\nrun: \(firstID) "), "\(note)")
        #expect(note.contains("\nsuperseded by run \(secondID)\n"), "\(note)")
        #expect(!note.contains("canceled: "), "the superseded line replaces the plain cancel line: \(note)")

        let passed = try pushbox.waitForRun(secondID)
        #expect(passed.state == .passed)
        #expect(pushbox.log(run: secondID, step: "wait").contains("second"))
        #expect(try Self.waitForNote(pushbox, repo, second).hasPrefix("pushbox: passed\n"))

        // The other branch's run was never touched: still running until it is canceled by hand.
        let untouched = try pushbox.run(otherID)
        #expect(untouched.state == .running && untouched.supersededBy == nil)
        #expect(try pushbox.pushbox(["cancel", String(otherID)]).status == 0)
        let canceled = try pushbox.waitForRun(otherID, timeout: Self.stopWithin)
        #expect(canceled.state == .canceled && canceled.supersededBy == nil && canceled.message == "canceled")
        #expect(!(try Self.containerExists(try #require(otherRun.sandboxID))))
        #expect(try Self.leftoverContainers(pushbox).isEmpty)
    }

    @Test("a run in its autofix stage is superseded: canceled, the fixer's container gone, no autofix branch")
    func autofixStageSuperseded() throws {
        let pushbox = try DaemonFixture(config: """
            autofix:
              backend: command
              command: "echo fixing; sleep 600"
            """)
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: test, run: \"echo broken; exit 1\"}\n")
        let first = try repo.commit("broken")
        let firstID = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        _ = try pushbox.waitForRun(firstID, timeout: .seconds(120)) { $0.steps.first?.state == .failed }
        // The fixer's container of attempt 1 is up: the run sits in its autofix stage.
        let deadline = ContinuousClock.now + .seconds(120)
        while try Self.leftoverContainers(pushbox, label: "pushbox.autofix=attempt-1").isEmpty, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.2)
        }
        let fixers = try Self.leftoverContainers(pushbox, label: "pushbox.autofix=attempt-1")
        try #require(fixers.count == 1, "the fixer's container never started: \(pushbox.daemonOutput().suffix(3000))")
        #expect(try pushbox.run(firstID).state == .running)

        try repo.write(".pushbox.yml", "steps:\n  - {name: test, run: \"echo fixed by hand\"}\n")
        let second = try repo.commit("fixed by hand")
        let push = try repo.push()
        let secondID = try #require(DaemonFixture.queuedRunIDs(in: push.output).first)
        #expect(push.output.contains("(supersedes run \(firstID))"), "\(push.output)")
        let superseded = try pushbox.waitForRun(firstID, timeout: Self.stopWithin)
        #expect(superseded.state == .canceled, "\(superseded)")
        #expect(superseded.message == "superseded by run \(secondID)")
        #expect(superseded.supersededBy == secondID)
        #expect(superseded.autofix?.hasSuffix("canceled") == true, "\(superseded.autofix ?? "no autofix line")")
        #expect(try Self.leftoverContainers(pushbox, label: "pushbox.run=\(firstID)").isEmpty, "the fixer's container is removed")
        let note = try Self.waitForNote(pushbox, repo, first)
        #expect(note.hasPrefix("pushbox: canceled\n"), "\(note)")
        #expect(note.contains("\nsuperseded by run \(secondID)\n"), "\(note)")
        #expect(!note.contains("autofix: passed"))

        #expect(try pushbox.waitForRun(secondID).state == .passed)
        #expect(try Self.waitForNote(pushbox, repo, second).hasPrefix("pushbox: passed\n"))
        let branches = try repo.checked(["for-each-ref", "--format=%(refname)", "refs/heads/autofix/"], in: repo.bare)
        #expect(branches.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no autofix branch is published: \(branches)")
        #expect(try Self.leftoverContainers(pushbox).isEmpty)
    }

    // MARK: helpers

    static func containerExists(_ id: String) throws -> Bool {
        try Command.run(["podman", "container", "exists", id]).status == 0
    }

    /// Names of the containers (any state) of this fixture's daemon, optionally with one more label.
    static func leftoverContainers(_ pushbox: DaemonFixture, label: String? = nil) throws -> [String] {
        var arguments = ["podman", "ps", "-a", "--filter", "label=pushbox.home=\(pushbox.home.path)"]
        if let label { arguments += ["--filter", "label=\(label)"] }
        let result = try Command.run(arguments + ["--format", "{{.Names}}"], mergeErrors: false)
        guard result.status == 0 else { throw FixtureError("podman ps failed") }
        return result.output.split(separator: "\n").map(String.init)
    }

    /// The note on `sha`, once the run's reporters have written it (they follow the recorded end).
    static func waitForNote(_ pushbox: DaemonFixture, _ repo: GitFixture, _ sha: String,
                            timeout: Duration = .seconds(30)) throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let note = try pushbox.note(repo, sha) { return note }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw FixtureError("no note on \(sha) after \(timeout)")
    }
}
