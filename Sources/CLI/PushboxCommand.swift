import ArgumentParser
import Core
import Foundation

/// `pushbox`: the root command. Every subcommand is a struct; `Runtime` wires the concrete types.
package struct PushboxCommand: AsyncParsableCommand {
    package static let version = "0.1.0"

    package static let configuration = CommandConfiguration(
        commandName: "pushbox",
        abstract: "A git-hook driven CI runner: push, and your build and tests run in a clean container.",
        version: version,
        subcommands: [
            Init.self, RepoCommand.self, Serve.self, HookCommand.self, RunCommand.self, Runs.self, Status.self,
            Logs.self, Cancel.self, Retry.self, ArtifactsCommand.self, CacheCommand.self, ImageCommand.self, VMCommand.self, ReportsCommand.self,
            FlakyCommand.self, Doctor.self, Token.self, ModelProxyCommand.self,
        ]
    )

    package init() {}

    /// What the executable's `@main` calls.
    package static func entry() async {
        await main()
    }
}

/// Options every command shares.
struct HomeOptions: ParsableArguments {
    @Option(name: .customLong("home"), help: "Runner home (default: $PUSHBOX_HOME or ~/.pushbox).")
    var home: String?

    var runnerHome: RunnerHome {
        if let home { return RunnerHome(root: URL(fileURLWithPath: home)) }
        return RunnerHome.fromEnvironment()
    }
}

/// A failure the user can act on: printed as `pushbox: <message>` with the given exit code.
struct UserError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32 = 2
    init(_ message: String, exitCode: Int32 = 2) {
        self.message = message
        self.exitCode = exitCode
    }
    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning `UserError` and other failures into a message and an exit code.
    func guarded(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as UserError {
            FileHandle.standardError.write(Data("pushbox: \(error.message)\n".utf8))
            throw ExitCode(error.exitCode)
        } catch let error as ExitCode {
            throw error
        } catch let error as CleanExit {
            throw error
        } catch {
            FileHandle.standardError.write(Data("pushbox: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

func printOut(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

func printErr(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
