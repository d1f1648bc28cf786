import ArgumentParser
import Core
import Foundation
import Store

/// `pushbox flaky [REPO]`: the tests (or steps, where no JUnit named the tests) that failed and then passed
/// when autofix re-ran them before calling a model, per repository, most often seen first. Read from the
/// store, so it works with or without the daemon.
struct FlakyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flaky", abstract: "List the flaky tests: failed, then passed on a re-run of the same commit.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Only this repository (its registered name).") var repo: String?
    @Flag(help: "Print JSON.") var json = false

    struct Listing: Codable {
        var flaky: [FlakyTest]
    }

    func run() async throws {
        try await guarded {
            let store = try Runtime.openStore(options.runnerHome)
            let repoID = try repo.map { try Runtime.registeredRepo(named: $0, in: store).id }
            let tests = try store.records.flakyTests(repoID: repoID)
            if json { return printOut(try Output.json(Listing(flaky: tests))) }
            if tests.isEmpty { return printOut(repo.map { "no flaky tests recorded for \($0)" } ?? "no flaky tests recorded") }
            printOut(Output.table([["REPO", "TEST", "TIMES", "LAST RUN", "LAST SEEN"]] + tests.map { test in
                [test.repo, test.name, String(test.times), String(test.lastRunID), Timestamps.string(test.lastSeen)]
            }))
        }
    }
}
