import ArgumentParser
import Core
import Foundation
import Git
import Store

struct RepoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo", abstract: "Register bare repositories and install their post-receive hook.",
        subcommands: [Add.self, List.self, Remove.self, Token.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a bare repository and install hooks/post-receive (an existing hook keeps running after it).")

        @OptionGroup var options: HomeOptions
        @Argument(help: "Path of the bare repository.") var path: String
        @Option(help: "Name shown in listings (default: the directory name without .git).") var name: String?

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                try Init.ensure(home)
                let repo = try RepoCommand.register(path: path, name: name, home: home, installHook: true)
                printOut("registered \(repo.name) (\(repo.path)); hook installed at \(repo.path)/hooks/post-receive")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered repositories.")
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await guarded {
                let store = try Runtime.openStore(options.runnerHome)
                let repos = try store.repositories.repos()
                if json { return printOut(try Output.json(["repos": repos])) }
                if repos.isEmpty { return printOut("no repositories registered (pushbox repo add PATH)") }
                for repo in repos { printOut("\(repo.name)\t\(repo.path)") }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unregister a repository and remove its pushbox hook.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "Name of the repository.") var name: String

        func run() async throws {
            try await guarded {
                let store = try Runtime.openStore(options.runnerHome)
                let repo = try Runtime.registeredRepo(named: name, in: store)
                try store.repositories.removeRepo(named: name)
                HookInstaller.uninstall(repoPath: repo.path)
                printOut("removed \(name); its runs are gone from the store, its notes stay in the repository")
            }
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a repository's own hook token: it lets a hook on another host report pushes of this repository only.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "Name of the repository.") var name: String

        func run() async throws {
            try await guarded {
                let store = try Runtime.openStore(options.runnerHome)
                printOut(try store.repositories.hookToken(repoID: try Runtime.registeredRepo(named: name, in: store).id))
            }
        }
    }

    /// Registers `path` (idempotent for the same path: reinstalls the hook). The current branch heads are
    /// remembered as seen, so registering does not start a run for every existing branch.
    static func register(path: String, name: String?, home: RunnerHome, installHook: Bool) throws -> Repo {
        let url = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath()
        let git: Repository
        do {
            git = try Repository.open(at: url)
        } catch {
            throw UserError("\(path) is not a git repository: \(error)")
        }
        guard git.isBare else { throw UserError("\(path) is not a bare repository (pushbox watches the repositories people push to)") }
        let store = try Runtime.openStore(home)
        let repo: Repo
        if let existing = try store.repositories.repo(path: url.path) {
            repo = existing
        } else {
            let chosen = name ?? url.deletingPathExtension().lastPathComponent
            guard !chosen.isEmpty, chosen.count <= 100, !chosen.contains("/"), chosen.allSatisfy({ !$0.isNewline }) else {
                throw UserError("\"\(chosen)\" cannot be a repository name; choose one with --name")
            }
            do {
                repo = try store.repositories.addRepo(name: chosen, path: url.path)
            } catch let error as StoreError {
                throw UserError(error.message)
            }
            var heads: [String: String] = [:]
            for ref in try git.references(prefix: "refs/heads/") { heads[ref.name] = ref.target.hex }
            try store.queue.rememberHeads(repoID: repo.id, heads)
        }
        if installHook { try HookInstaller.install(repoPath: url.path, home: home) }
        return repo
    }
}

/// Installs `hooks/post-receive` from the template, keeping a foreign hook as `post-receive.pre-pushbox`.
enum HookInstaller {
    static let marker = "Pushbox post-receive hook"

    static func install(repoPath: String, home: RunnerHome) throws {
        let fm = FileManager.default
        let hooks = URL(fileURLWithPath: repoPath).appendingPathComponent("hooks")
        try fm.createDirectory(at: hooks, withIntermediateDirectories: true)
        let target = hooks.appendingPathComponent("post-receive")
        let template = try String(contentsOf: try Install.directory().appendingPathComponent("hooks/post-receive"), encoding: .utf8)
        let binary = Install.executable().path
        for path in [binary, home.root.path] where path.contains("'") {
            throw UserError("paths with a single quote cannot be written into the hook: \(path)")
        }
        let text = template.replacingOccurrences(of: "@PUSHBOX_BIN@", with: binary)
            .replacingOccurrences(of: "@PUSHBOX_HOME@", with: home.root.path)
        if let existing = fm.contents(atPath: target.path), !String(decoding: existing, as: UTF8.self).contains(marker) {
            let saved = hooks.appendingPathComponent("post-receive.pre-pushbox")
            if fm.fileExists(atPath: saved.path) {
                throw UserError("\(target.path) is not pushbox's and \(saved.lastPathComponent) already exists; merge them by hand")
            }
            try fm.moveItem(at: target, to: saved)
        }
        let temporary = hooks.appendingPathComponent(".post-receive.pushbox.tmp")
        try Data(text.utf8).write(to: temporary)
        chmod(temporary.path, 0o755)
        guard rename(temporary.path, target.path) == 0 else { throw UserError("cannot install \(target.path)") }
    }

    /// Removes pushbox's hook and puts a previous one back.
    static func uninstall(repoPath: String) {
        let hooks = URL(fileURLWithPath: repoPath).appendingPathComponent("hooks")
        let target = hooks.appendingPathComponent("post-receive")
        guard let data = FileManager.default.contents(atPath: target.path), String(decoding: data, as: UTF8.self).contains(marker) else { return }
        unlink(target.path)
        let saved = hooks.appendingPathComponent("post-receive.pre-pushbox")
        if FileManager.default.fileExists(atPath: saved.path) { rename(saved.path, target.path) }
    }
}
