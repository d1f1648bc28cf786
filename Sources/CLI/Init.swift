import ArgumentParser
import Core
import Foundation

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the runner home ($PUSHBOX_HOME, default ~/.pushbox) with its configuration and API token.")

    @OptionGroup var options: HomeOptions

    func run() async throws {
        try await guarded {
            let home = options.runnerHome
            let created = try Self.ensure(home)
            printOut(created ? "created \(home.root.path)" : "\(home.root.path) already exists; kept as it is")
            printOut("  configuration: \(home.config.path)")
            printOut("  API token:     \(home.token.path) (pushbox token)")
            printOut("next: pushbox repo add /path/to/repo.git && pushbox serve")
        }
    }

    /// Creates what is missing; never overwrites the user's configuration. Returns whether the home was new.
    @discardableResult
    static func ensure(_ home: RunnerHome) throws -> Bool {
        let fm = FileManager.default
        let isNew = !fm.fileExists(atPath: home.config.path)
        try fm.createDirectory(at: home.root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try fm.createDirectory(at: home.spool, withIntermediateDirectories: true)
        try fm.createDirectory(at: home.runs, withIntermediateDirectories: true)
        if isNew {
            let template = try Install.directory().appendingPathComponent("runner-config/pushbox.yml")
            try fm.copyItem(at: template, to: home.config)
        }
        if !fm.fileExists(atPath: home.token.path) {
            var bytes = [UInt8](repeating: 0, count: 32)
            for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
            let token = bytes.map { String(format: "%02x", $0) }.joined()
            guard fm.createFile(atPath: home.token.path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw UserError("cannot write \(home.token.path)")
            }
        }
        return isNew
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the API token that POST endpoints over TCP require.")

    @OptionGroup var options: HomeOptions

    func run() async throws {
        try await guarded {
            let home = options.runnerHome
            guard let data = FileManager.default.contents(atPath: home.token.path) else {
                throw UserError("no token at \(home.token.path); run `pushbox init`")
            }
            printOut(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
