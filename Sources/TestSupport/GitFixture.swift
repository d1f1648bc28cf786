import Foundation
import Git

/// A bare repository and a working clone of it, driven by the real `git` CLI, for tests that need genuine
/// repositories (and genuine `git push`es that run the bare repository's hooks).
///
/// Every git process runs hermetically: no system config (`GIT_CONFIG_NOSYSTEM`), `HOME` in a private
/// directory holding the only global config (fixed identity, `init.defaultBranch=main`), no inherited
/// `GIT_*` variables, `LC_ALL=C`.
package final class GitFixture {
    package static let git = URL(fileURLWithPath: "/usr/bin/git")
    package static let authorName = "Pushbox Test"
    package static let authorEmail = "test@pushbox.invalid"

    /// The bare repository pushes go to (the one Pushbox watches).
    package let bare: URL
    /// The working clone tests write files in, commit in and push from.
    package let clone: URL
    /// `HOME` of the git processes; holds `.gitconfig`.
    package let home: URL
    /// The environment of every git process this fixture runs.
    package let environment: [String: String]

    /// Creates an empty bare repository at `bare` and clones it to `clone`. `home` defaults to a `git-home`
    /// directory beside `bare`.
    package init(bareAt bare: URL, cloneAt clone: URL, home: URL? = nil) throws {
        self.bare = bare
        self.clone = clone
        let home = home ?? bare.deletingLastPathComponent().appendingPathComponent("git-home", isDirectory: true)
        self.home = home
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GIT_") }
        environment["HOME"] = home.path
        environment["XDG_CONFIG_HOME"] = home.appendingPathComponent(".config").path
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["GIT_TERMINAL_PROMPT"] = "0"
        environment["GIT_AUTHOR_NAME"] = Self.authorName
        environment["GIT_AUTHOR_EMAIL"] = Self.authorEmail
        environment["GIT_COMMITTER_NAME"] = Self.authorName
        environment["GIT_COMMITTER_EMAIL"] = Self.authorEmail
        environment["LC_ALL"] = "C"
        environment.removeValue(forKey: "LANGUAGE")
        self.environment = environment

        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let config = """
            [user]
            \tname = \(Self.authorName)
            \temail = \(Self.authorEmail)
            [init]
            \tdefaultBranch = main
            [commit]
            \tgpgsign = false
            [tag]
            \tgpgsign = false
            [advice]
            \tdetachedHead = false
            [protocol "file"]
            \tallow = always

            """
        try Data(config.utf8).write(to: home.appendingPathComponent(".gitconfig"), options: .atomic)
        try checked(["init", "-q", "--bare", bare.path], in: home)
        try checked(["clone", "-q", bare.path, clone.path], in: home)
    }

    /// A fixture with `bare.git`, `clone` and `git-home` inside `directory`.
    package static func make(in directory: TemporaryDirectory) throws -> GitFixture {
        try GitFixture(
            bareAt: directory.url("bare.git"), cloneAt: directory.url("clone"), home: directory.url("git-home"))
    }

    // MARK: Files in the clone

    /// Writes `contents` to `path` (relative to the clone), creating directories; mode 0755 or 0644.
    package func write(_ path: String, _ contents: String, executable: Bool = false) throws {
        try write(path, data: Data(contents.utf8), executable: executable)
    }

    package func write(_ path: String, data: Data, executable: Bool = false) throws {
        let url = clone.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: url.path)
    }

    /// Creates a symlink at `path` (relative to the clone) whose literal target is `target`.
    package func symlink(_ path: String, to target: String) throws {
        let url = clone.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    /// Removes `path` (relative to the clone).
    package func remove(_ path: String) throws {
        try FileManager.default.removeItem(at: clone.appendingPathComponent(path))
    }

    // MARK: Git

    /// `git add -A` and `git commit` (empty commits allowed) in the clone; returns the new commit's sha.
    @discardableResult
    package func commit(_ message: String) throws -> String {
        try checked(["add", "-A"])
        try checked(["commit", "-q", "--allow-empty", "-m", message])
        return try checked(["rev-parse", "HEAD"])
    }

    /// `git push origin <refspec>` from the clone. The output holds stdout and stderr; the lines the bare
    /// repository's hooks print arrive on stderr, prefixed `remote: `.
    @discardableResult
    package func push(_ refspec: String = "HEAD:refs/heads/main", extraArgs: [String] = []) throws
        -> (status: Int32, output: String)
    {
        try runGit(["push"] + extraArgs + ["origin", refspec])
    }

    /// Runs git with `args` in `directory` (the clone by default); output is stdout and stderr together.
    @discardableResult
    package func runGit(_ args: [String], in directory: URL? = nil, input: Data? = nil) throws
        -> (status: Int32, output: String)
    {
        let result = try run(args, in: directory ?? clone, input: input, mergeErrors: true)
        return (result.status, result.output)
    }

    /// Runs git with `args`; throws ``GitFixtureError`` unless it exits 0. Returns stdout without the final
    /// newline (stderr is only kept for the error).
    @discardableResult
    package func checked(_ args: [String], in directory: URL? = nil, input: Data? = nil) throws -> String {
        let result = try run(args, in: directory ?? clone, input: input, mergeErrors: false)
        guard result.status == 0 else {
            throw GitFixtureError(arguments: args, status: result.status, output: result.output + result.errors)
        }
        var output = result.output
        if output.hasSuffix("\n") {
            output.removeLast()
        }
        return output
    }

    /// Installs `script` as the executable hook `name` ("post-receive") of the bare repository.
    package func installHook(_ name: String, script: String) throws {
        let hooks = bare.appendingPathComponent("hooks", isDirectory: true)
        try FileManager.default.createDirectory(at: hooks, withIntermediateDirectories: true)
        let url = hooks.appendingPathComponent(name)
        try Data(script.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
    }

    /// The bare repository opened with libgit2.
    package func openBare() throws -> Repository {
        try Repository.open(at: bare)
    }

    private func run(_ args: [String], in directory: URL, input: Data?, mergeErrors: Bool) throws
        -> (status: Int32, output: String, errors: String)
    {
        let process = Process()
        process.executableURL = Self.git
        process.arguments = args
        process.environment = environment
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        // stderr goes to a file when kept apart, so a chatty stderr can never block the child on a full pipe.
        let errorsURL = home.appendingPathComponent("stderr-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: errorsURL) }
        var errorsHandle: FileHandle?
        if mergeErrors {
            process.standardError = output
        } else {
            guard FileManager.default.createFile(atPath: errorsURL.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: errorsURL.path])
            }
            let handle = try FileHandle(forWritingTo: errorsURL)
            errorsHandle = handle
            process.standardError = handle
        }
        defer { try? errorsHandle?.close() }
        let inputPipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
        try process.run()
        if let input {
            inputPipe.fileHandleForWriting.write(input)
            try inputPipe.fileHandleForWriting.close()
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errors = mergeErrors ? Data() : ((try? Data(contentsOf: errorsURL)) ?? Data())
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: errors, as: UTF8.self))
    }
}

/// A git command of a fixture exited non-zero.
package struct GitFixtureError: Error, CustomStringConvertible {
    package let arguments: [String]
    package let status: Int32
    package let output: String

    package var description: String { "git \(arguments.joined(separator: " ")) exited \(status): \(output)" }
}
