import ArgumentParser
import Core
import Foundation
import Pipeline
import Store
import Workspace

/// `pushbox cache list|clear`: the per-repository caches under `$PUSHBOX_HOME/cache/` (`.pushbox.yml` `cache:`).
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "List or clear the per-repository caches (.pushbox.yml cache:).",
        subcommands: [List.self, Clear.self])

    /// The registered repository named `name` (nil: all), or a clear error.
    static func repoID(_ name: String?, home: RunnerHome) throws -> Int64? {
        guard let name else { return nil }
        return try Runtime.registeredRepo(named: name, in: try Runtime.openStore(home)).id
    }

    static func caches(_ home: RunnerHome) throws -> RunCaches {
        RunCaches(root: home.cache, maxBytesPerRepo: try Runtime.loadConfig(home).cacheMax)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List caches: repository, branch, cached paths, size, last use.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "Only this repository.") var repo: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let caches = try CacheCommand.caches(home)
                let entries = caches.entries(repoID: try CacheCommand.repoID(repo, home: home))
                if json { return printOut(try Output.json(["caches": entries])) }
                if entries.isEmpty { return printOut("no caches\(repo.map { " for \($0)" } ?? "") (a run keeps the directories its .pushbox.yml lists under cache:)") }
                var rows = [["REPO", "BRANCH", "SIZE", "LAST USED", "PATHS"]]
                for entry in entries.sorted(by: { ($0.repoName, $0.branch) < ($1.repoName, $1.branch) }) {
                    rows.append([entry.repoName, entry.branch, Units.formatBytes(entry.sizeBytes), Timestamps.string(entry.lastUsedAt),
                                 entry.directories.keys.sorted().joined(separator: " ")])
                }
                printOut(Output.table(rows))
                let total = entries.reduce(Int64(0)) { $0 + $1.sizeBytes }
                printOut("\(entries.count) cache\(entries.count == 1 ? "" : "s"), \(Units.formatBytes(total)); cache_max per repository \(Units.formatBytes(caches.maxBytesPerRepo))")
            }
        }
    }

    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete caches: of one repository (optionally one branch), or with --all every cache. The next run starts empty.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The repository whose caches to delete.") var repo: String?
        @Option(help: "Only this branch's cache.") var branch: String?
        @Flag(help: "Delete the caches of every repository.") var all = false

        func validate() throws {
            if repo == nil && !all { throw ValidationError("name a repository, or give --all to delete every cache") }
            if repo != nil && all { throw ValidationError("give a repository or --all, not both") }
            if branch != nil && repo == nil { throw ValidationError("--branch needs a repository") }
        }

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let caches = try CacheCommand.caches(home)
                let (removed, _) = caches.clear(repoID: try CacheCommand.repoID(repo, home: home), branch: branch)
                if removed.isEmpty { return printOut("nothing to delete") }
                for entry in removed {
                    printOut("deleted the cache of \(entry.repoName) \(entry.branch) (\(Units.formatBytes(entry.sizeBytes)))")
                }
            }
        }
    }
}
