import ArgumentParser
import Core
import Foundation
import Git
import Logging
import Pipeline
import Reports
import Store

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the pipeline once for a commit, in the foreground, without the daemon.",
        discussion: "Exit status: 0 passed, 1 failed, 2 configuration or infrastructure error (or canceled).")

    @OptionGroup var options: HomeOptions
    @Option(help: "Bare repository (default: the current directory).") var repo = "."
    @Option(help: "Branch, tag or commit (default: HEAD).") var rev = "HEAD"
    @Flag(help: "Do not try to fix a failure.") var noAutofix = false
    @Flag(help: "Skip the VM validation of `vms:` (the entries are recorded as skipped).") var noVms = false
    @Flag(help: "Print only the summary, not the step output.") var quiet = false

    func run() async throws {
        var exitCode: Int32 = 2
        try await guarded {
            let home = options.runnerHome
            try Init.ensure(home)
            let config = try Runtime.loadConfig(home)
            var logger = Logger(label: "pushbox")
            logger.logLevel = .warning
            let registered = try RepoCommand.register(path: repo, name: nil, home: home, installHook: false)
            let git = try Repository.open(at: URL(fileURLWithPath: registered.path))
            let (ref, sha) = try resolve(git)
            let runtime = try await Runtime.start(home: home, config: config, logger: logger)
            let store = runtime.environment.store
            let run = try store.queue.enqueue(repo: registered, update: RefUpdate(oldSHA: RefUpdate.zeroSHA, newSHA: sha.hex, ref: ref),
                                        source: .run, startNow: true).run
            printErr("pushbox: run \(run.id) of \(registered.name) \(run.shortRef) (\(sha.short))")
            let reader = RunLogReader(home: home, store: store, hub: runtime.environment.hub)
            let follower = Task {
                guard !quiet else { return }
                try? await reader.streamRun(runID: run.id, follow: true) { FileHandle.standardOutput.write($0) }
            }
            var environment = runtime.environment
            if noAutofix { environment.fixer = nil }
            if noVms { environment.vms = nil }
            let driver = RunDriver(environment: environment)
            let finished = await withTaskCancellationHandler {
                await driver.execute(run, logger: logger)
            } onCancel: {}
            await follower.value
            // Webhooks of this run: one try now; what fails stays in the outbox for the daemon to retry.
            await runtime.outbox.sendDue()
            await runtime.shutdown()
            printErr(Output.describe(finished, url: config.url))
            switch finished.state {
            case .passed: exitCode = 0
            case .failed: exitCode = 1
            default: exitCode = 2
            }
        }
        throw ExitCode(exitCode)
    }

    /// The ref recorded for the run and the commit: a branch or tag name gives its full ref; anything else
    /// (a sha, `HEAD~1`) is recorded as given.
    private func resolve(_ git: Repository) throws -> (String, ObjectID) {
        for candidate in ["refs/heads/\(rev)", "refs/tags/\(rev)"] {
            if let id = try? git.resolve(candidate) { return (candidate, id) }
        }
        if rev == "HEAD", let id = try? git.resolve("HEAD") {
            let head = (try? git.references(prefix: "refs/heads/"))?.first { $0.target == id }?.name
            return (head ?? "HEAD", id)
        }
        do {
            return (rev, try git.resolve(rev))
        } catch {
            throw UserError("cannot resolve \(rev) in \(repo): \(error)")
        }
    }
}
