import ArgumentParser
import CLI
import Testing

/// Parse-level tests of the command line: no process, no daemon (swift-argument-parser's parseAsRoot).
@Suite("command line parsing")
struct ParseTests {
    /// The parsed command's type name and its stored properties, read with Mirror (the command structs
    /// are internal to CLI; their shape is what users type).
    private func parse(_ arguments: [String]) throws -> (name: String, fields: [String: String]) {
        let command = try PushboxCommand.parseAsRoot(arguments)
        var fields: [String: String] = [:]
        for child in Mirror(reflecting: command).children {
            guard let label = child.label else { continue }
            fields[label.hasPrefix("_") ? String(label.dropFirst()) : label] = String(describing: child.value)
        }
        return (String(describing: type(of: command)), fields)
    }

    @Test(arguments: [
        (["init"], "Init"),
        (["repo", "add", "/srv/git/app.git"], "Add"),
        (["repo", "list", "--json"], "List"),
        (["repo", "remove", "app"], "Remove"),
        (["serve", "--listen", "127.0.0.1:9000"], "Serve"),
        (["hook", "post-receive"], "PostReceive"),
        (["run", "--repo", "/srv/git/app.git", "--rev", "main", "--no-autofix", "--no-vms"], "RunCommand"),
        (["runs", "--json", "--limit", "5"], "Runs"),
        (["status", "12"], "Status"),
        (["logs", "12", "--step", "test", "-f"], "Logs"),
        (["cancel", "12"], "Cancel"),
        (["retry", "12"], "Retry"),
        (["image", "build", "pushbox/debian:bookworm", "--force"], "Build"),
        (["vm", "list", "--json"], "List"),
        (["vm", "build", "linux-x86_64", "--force", "--images", "/var/cache/pushbox/vm-images"], "Build"),
        (["vm", "check", "linux-aarch64", "--run", "uname -m", "--profiles", "/etc/pushbox/vm-profiles"], "Check"),
        (["doctor"], "Doctor"),
        (["token"], "Token"),
    ])
    func everyCommandParses(arguments: [String], expected: String) throws {
        #expect(try parse(arguments).name == expected)
    }

    @Test func logsOptions() throws {
        let logs = try parse(["logs", "12", "--step", "test", "-f"])
        #expect(logs.fields["runID"]?.contains("12") == true)
        #expect(logs.fields["step"]?.contains("test") == true)
        #expect(logs.fields["follow"]?.contains("true") == true)
    }

    @Test func runDefaults() throws {
        let run = try parse(["run"])
        #expect(run.fields["repo"]?.contains(".") == true)
        #expect(run.fields["rev"]?.contains("HEAD") == true)
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
