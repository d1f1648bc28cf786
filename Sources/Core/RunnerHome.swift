import Foundation

/// The layout of `$PUSHBOX_HOME` (DESIGN §4): one place that knows every path.
package struct RunnerHome: Sendable, Equatable {
    package let root: URL

    package init(root: URL) { self.root = root.standardizedFileURL }

    /// `$PUSHBOX_HOME`, else `~/.pushbox`.
    package static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> RunnerHome {
        if let home = environment["PUSHBOX_HOME"], !home.isEmpty { return RunnerHome(root: URL(fileURLWithPath: home)) }
        let user = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return RunnerHome(root: user.appendingPathComponent(".pushbox"))
    }

    package var config: URL { root.appendingPathComponent("pushbox.yml") }
    package var database: URL { root.appendingPathComponent("pushbox.sqlite") }
    package var socket: URL { root.appendingPathComponent("pushbox.sock") }
    package var spool: URL { root.appendingPathComponent("spool") }
    package var token: URL { root.appendingPathComponent("token") }
    package var daemonPID: URL { root.appendingPathComponent("pushbox.pid") }
    package var runs: URL { root.appendingPathComponent("runs") }
    /// Per-repository caches (`.pushbox.yml` `cache:`), `cache/repo-<id>/b<n>/`.
    package var cache: URL { root.appendingPathComponent("cache") }

    package func run(_ id: Int64) -> RunFiles { RunFiles(root: runs.appendingPathComponent(String(id))) }

    /// Loads the runner configuration; a missing file means all defaults.
    package func loadConfig() throws -> RunnerConfig {
        guard let data = FileManager.default.contents(atPath: config.path) else { return RunnerConfig() }
        return try RunnerConfig.parse(String(decoding: data, as: UTF8.self), file: config.path)
    }
}

/// `runs/<id>/`: the workspace, the step logs and the metadata of one run.
package struct RunFiles: Sendable, Equatable {
    package let root: URL
    package var workspace: URL { root.appendingPathComponent("workspace") }
    /// The file system image behind `workspace` while the run executes (runner config `workspace_quota`).
    package var workspaceImage: URL { root.appendingPathComponent("workspace.img") }
    /// Autofix attempts (`attempts/<n>/`), a volume like the workspace's while autofix works; the logs stay.
    package var attempts: URL { root.appendingPathComponent("attempts") }
    package var attemptsImage: URL { root.appendingPathComponent("attempts.img") }
    package var logs: URL { root.appendingPathComponent("logs") }
    package var metadata: URL { root.appendingPathComponent("metadata.json") }
    package var junit: URL { root.appendingPathComponent("junit") }
    /// Files kept from the workspace (`.pushbox.yml` `artifacts:`), at their workspace-relative paths.
    package var artifacts: URL { root.appendingPathComponent("artifacts") }

    /// The log of a step (step names are restricted to `[A-Za-z0-9._-]`, never starting with `.`).
    package func log(step: String) -> URL { logs.appendingPathComponent("\(step).log") }
}
