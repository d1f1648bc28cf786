import ArgumentParser
@testable import CLI
import Testing

/// Parse-level tests of the command line: no process, no daemon (swift-argument-parser's parseAsRoot).
@Suite("command line parsing")
struct ParseTests {
    /// The parsed command as its own type (`@testable`: the command structs are internal to CLI).
    private func parse<Command: ParsableCommand>(_ arguments: [String], as type: Command.Type) throws -> Command {
        let parsed = try PushboxCommand.parseAsRoot(arguments)
        return try #require(parsed as? Command, "\(arguments) parsed as \(Swift.type(of: parsed)), not \(Command.self)")
    }

    @Test(arguments: [
        (["init"], Init.self),
        (["repo", "add", "/srv/git/app.git"], RepoCommand.Add.self),
        (["repo", "list", "--json"], RepoCommand.List.self),
        (["repo", "remove", "app"], RepoCommand.Remove.self),
        (["serve", "--listen", "127.0.0.1:9000"], Serve.self),
        (["hook", "post-receive"], HookCommand.PostReceive.self),
        (["run", "--repo", "/srv/git/app.git", "--rev", "main", "--no-autofix", "--no-vms"], RunCommand.self),
        (["runs", "--json", "--limit", "5"], Runs.self),
        (["status", "12"], Status.self),
        (["logs", "12", "--step", "test", "-f"], Logs.self),
        (["cancel", "12"], Cancel.self),
        (["retry", "12"], Retry.self),
        (["image", "build", "pushbox/debian:bookworm", "--force"], ImageCommand.Build.self),
        (["vm", "list", "--json"], VMCommand.List.self),
        (["vm", "build", "linux-x86_64", "--force", "--images", "/var/cache/pushbox/vm-images"], VMCommand.Build.self),
        (["vm", "check", "linux-aarch64", "--run", "uname -m", "--profiles", "/etc/pushbox/vm-profiles"], VMCommand.Check.self),
        (["doctor"], Doctor.self),
        (["token"], Token.self),
    ] as [([String], any ParsableCommand.Type)])
    func everyCommandParses(arguments: [String], expected: any ParsableCommand.Type) throws {
        let parsed = try PushboxCommand.parseAsRoot(arguments)
        #expect(Swift.type(of: parsed) == expected, "\(arguments) parsed as \(Swift.type(of: parsed))")
    }

    @Test func logsOptions() throws {
        let logs = try parse(["logs", "12", "--step", "test", "-f"], as: Logs.self)
        #expect(logs.runID == 12 && logs.step == "test" && logs.follow)
        let plain = try parse(["logs", "7"], as: Logs.self)
        #expect(plain.runID == 7 && plain.step == nil && !plain.follow)
    }

    @Test func runDefaults() throws {
        let run = try parse(["run"], as: RunCommand.self)
        #expect(run.repo == "." && run.rev == "HEAD" && !run.noAutofix && !run.noVms && !run.quiet)
        let given = try parse(["run", "--repo", "/srv/git/app.git", "--rev", "main", "--no-autofix", "--no-vms"], as: RunCommand.self)
        #expect(given.repo == "/srv/git/app.git" && given.rev == "main" && given.noAutofix && given.noVms)
    }

    @Test func valuesOfOtherCommands() throws {
        let runs = try parse(["runs", "--json", "--limit", "5"], as: Runs.self)
        #expect(runs.json && runs.limit == 5 && runs.repo == nil)
        #expect(try parse(["status", "12"], as: Status.self).runID == 12)
        let build = try parse(["vm", "build", "linux-x86_64", "--force", "--images", "/x"], as: VMCommand.Build.self)
        #expect(build.profile == "linux-x86_64" && build.force && build.location.images == "/x")
        let check = try parse(["vm", "check", "linux-aarch64", "--run", "uname -m"], as: VMCommand.Check.self)
        #expect(check.profile == "linux-aarch64" && check.run == "uname -m")
        let image = try parse(["image", "build", "--all"], as: ImageCommand.Build.self)
        #expect(image.all && image.name == nil && !image.force)
        let serve = try parse(["serve", "--listen", "127.0.0.1:9000"], as: Serve.self)
        #expect(serve.listen == "127.0.0.1:9000" && serve.logLevel == "info")
    }

    @Test(arguments: [
        ["logs"],                    // run id missing
        ["logs", "twelve"],          // not a number
        ["status", "1", "2"],        // one run only
        ["repo", "add"],             // path missing
        ["frobnicate"],              // no such command
        ["runs", "--limit", "many"],
        ["vm", "build"],             // profile missing
        ["vm", "check"],
    ])
    func mistakesAreRejected(arguments: [String]) {
        #expect(throws: (any Error).self) { try PushboxCommand.parseAsRoot(arguments) }
    }

    @Test func helpListsTheCommandsOfTheContract() {
        let help = PushboxCommand.helpMessage()
        for command in ["init", "repo", "serve", "hook", "run", "runs", "status", "logs", "cancel", "retry", "image", "vm", "doctor", "token"] {
            #expect(help.contains("  \(command)"), "help lacks \(command)")
        }
    }
}
