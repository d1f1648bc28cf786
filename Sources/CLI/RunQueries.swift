import ArgumentParser
import API
import Core
import Foundation
import HTTP
import Store

/// Reads runs from the daemon, or straight from the store when no daemon runs (the file is WAL-mode
/// SQLite: reading beside a live daemon is safe).
struct RunSource {
    let home: RunnerHome

    func runs(limit: Int, repo: String?) async throws -> [Run] {
        var path = "/api/v1/runs?limit=\(limit)"
        if let repo { path += "&repo=\(repo.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? repo)" }
        do {
            return try await DaemonClient(home: home).get(path, as: RunList.self).runs
        } catch DaemonClient.Failure.unreachable {
            let store = try Runtime.openStore(home)
            let repoID = try repo.map { try Runtime.registeredRepo(named: $0, in: store).id }
            return try store.records.runs(limit: limit, repoID: repoID)
        } catch let failure as DaemonClient.Failure {
            throw UserError(failure.description)
        }
    }

    func run(_ id: Int64) async throws -> Run {
        do {
            return try await DaemonClient(home: home).get("/api/v1/runs/\(id)", as: Run.self)
        } catch DaemonClient.Failure.unreachable {
            guard let run = try Runtime.openStore(home).records.run(id: id) else { throw UserError("no run \(id)") }
            return run
        } catch let failure as DaemonClient.Failure {
            throw UserError(failure.description)
        }
    }
}

struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List recent runs, newest first.")
    @OptionGroup var options: HomeOptions
    @Option(help: "Only this repository.") var repo: String?
    @Option(help: "How many runs.") var limit = 20
    @Flag(help: "Print JSON (the API's format).") var json = false

    func run() async throws {
        try await guarded {
            let runs = try await RunSource(home: options.runnerHome).runs(limit: limit, repo: repo)
            if json { return printOut(try Output.json(RunList(runs: runs))) }
            if runs.isEmpty { return printOut("no runs yet") }
            printOut(Output.table([["RUN", "STATUS", "REPO", "REF", "COMMIT", "TIME", "TESTS", "MESSAGE"]] + runs.map(Output.runRow)))
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one run, or the daemon's state when no run is given.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Run id.") var runID: Int64?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await guarded {
            let home = options.runnerHome
            if let runID {
                let run = try await RunSource(home: home).run(runID)
                let config = (try? home.loadConfig()) ?? RunnerConfig()
                if json { return printOut(try Output.json(run)) }
                printOut(Output.describe(run, url: config.url))
                // The autofix attempts, from the store (readable while the daemon runs: WAL).
                for attempt in (try? Runtime.openStore(home).records.fixAttempts(runID: runID)) ?? [] {
                    printOut("  " + Output.describe(attempt))
                }
                return
            }
            do {
                let status = try await DaemonClient(home: home).get("/api/v1/status", as: DaemonStatus.self)
                if json { return printOut(try Output.json(status)) }
                printOut("daemon running (pid \(status.pid), version \(status.version)) at \(status.url)")
                printOut("home: \(status.home)  running: \(status.running)  queued: \(status.queued)")
            } catch DaemonClient.Failure.unreachable {
                throw UserError("the daemon is not running (start it with `pushbox serve`)", exitCode: 1)
            }
        }
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a run's step logs; -f follows them live.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Run id.") var runID: Int64
    @Option(help: "Only this step.") var step: String?
    @Flag(name: [.customShort("f"), .long], help: "Follow: keep printing output as it arrives, until the run ends.") var follow = false

    func run() async throws {
        try await guarded {
            let home = options.runnerHome
            if let step, !PipelineParser.isStepName(step) { throw UserError("\"\(step)\" is not a step name") }
            let path = step.map { "/api/v1/runs/\(runID)/logs/\($0)" } ?? "/api/v1/runs/\(runID)/log"
            do {
                try await DaemonClient(home: home).stream(path + (follow ? "?follow=1" : "")) { chunk in
                    FileHandle.standardOutput.write(chunk)
                }
            } catch DaemonClient.Failure.unreachable {
                if follow { printErr("pushbox: the daemon is not running; printing the logs as they are") }
                try printFromDisk(home)
            } catch let failure as DaemonClient.Failure {
                throw UserError(failure.description)
            }
        }
    }

    private func printFromDisk(_ home: RunnerHome) throws {
        guard let run = try Runtime.openStore(home).records.run(id: runID) else { throw UserError("no run \(runID)") }
        for entry in run.logSections where step == nil || entry.name == step {
            if step == nil { printOut("==> \(entry.title): \(entry.command) (\(entry.state.rawValue))") }
            if let data = FileManager.default.contents(atPath: home.run(runID).log(step: entry.name).path) {
                FileHandle.standardOutput.write(data)
            }
        }
        if step == nil, let message = run.message { printOut("==> run \(run.id): \(run.state.rawValue): \(message)") }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel a queued or running run.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Run id.") var runID: Int64

    func run() async throws {
        try await guarded {
            do {
                let data = try await DaemonClient(home: options.runnerHome).request(.post, "/api/v1/runs/\(runID)/cancel")
                let response = try APIJSON.decoder().decode(ActionResponse.self, from: data)
                printOut(response.outcome == "stopping" ? "run \(runID): stopping" : "run \(runID): canceled")
            } catch let failure as DaemonClient.Failure {
                throw UserError(failure.description)
            }
        }
    }
}

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Queue a new run of the same commit and ref.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Run id.") var runID: Int64

    func run() async throws {
        try await guarded {
            do {
                let data = try await DaemonClient(home: options.runnerHome).request(.post, "/api/v1/runs/\(runID)/retry")
                let response = try APIJSON.decoder().decode(ActionResponse.self, from: data)
                printOut("run \(response.newRunID ?? 0) queued (retry of run \(runID))")
            } catch let failure as DaemonClient.Failure {
                throw UserError(failure.description)
            }
        }
    }
}
