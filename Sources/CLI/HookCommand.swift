import ArgumentParser
import API
import Core
import Foundation
import HTTP
import Pipeline

struct HookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook", abstract: "Entry points for git hooks.", subcommands: [PostReceive.self])

    struct PostReceive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "post-receive",
            abstract: "Read `old new ref` lines on stdin and queue runs; never fails the push.",
            discussion: "Called by hooks/post-receive in the bare repository (GIT_DIR). If the daemon cannot be reached the push is written to $PUSHBOX_HOME/spool and runs when the daemon starts.")

        @OptionGroup var options: HomeOptions
        @Option(help: "Path of the bare repository (default: $GIT_DIR, else the current directory).") var repo: String?

        func run() async throws {
            // Whatever happens, the push must not fail: every path ends with exit 0.
            let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            let parsed = PostReceiveParser.parse(input)
            for rejected in parsed.rejected { printOut("pushbox: ignored \(rejected)") }
            guard !parsed.updates.isEmpty else { return }
            let home = options.runnerHome
            let repoPath = resolveRepoPath()
            let client = DaemonClient(home: home)
            let body: Data
            do {
                body = try APIJSON.encoder().encode(PostReceiveRequest(repoPath: repoPath, updates: parsed.updates))
            } catch {
                return printOut("pushbox: cannot encode the push: \(error)")
            }
            // Taken before the request: a spooled copy of a push the daemon did record is recognised by
            // a run of the same commit pushed at or after this moment.
            let pushedAt = Date()
            let event = SpoolEvent(repoPath: repoPath, updates: parsed.updates, receivedAt: pushedAt)
            do {
                let data = try await client.request(.post, "/api/v1/hooks/post-receive", body: body,
                                                    connectTimeout: .seconds(2), timeout: .seconds(20))
                let response = try APIJSON.decoder().decode(PostReceiveResponse.self, from: data)
                for result in response.results { printOut(result.line) }
            } catch DaemonClient.Failure.unreachable {
                spool(event, home: home, why: "daemon not running")
            } catch DaemonClient.Failure.api(_, let message) {
                printOut("pushbox: \(message)")
            } catch {
                // The daemon may have died with the request, or recorded it and died before answering.
                // Spooled, the push runs unless the daemon already has it (the drain deduplicates).
                spool(event, home: home, why: "no answer from the daemon (\(error))")
            }
        }

        private func spool(_ event: SpoolEvent, home: RunnerHome, why: String) {
            do {
                try Spool(directory: home.spool).append(event)
                let names = event.updates.map(\.shortName).joined(separator: ", ")
                printOut("pushbox: \(why); push of \(names) saved in the spool and runs when `pushbox serve` starts")
            } catch {
                printOut("pushbox: \(why) and the spool is not writable (\(error)); the next scan picks up this push")
            }
        }

        private func resolveRepoPath() -> String {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let given = repo ?? ProcessInfo.processInfo.environment["GIT_DIR"] ?? "."
            let url = given.hasPrefix("/") ? URL(fileURLWithPath: given) : cwd.appendingPathComponent(given)
            return url.standardizedFileURL.resolvingSymlinksInPath().path
        }
    }
}
