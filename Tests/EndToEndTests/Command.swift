import Foundation

/// Runs a program found on `PATH` (through /usr/bin/env) to its end, for the end-to-end tests' side work:
/// scripts, python3 one-liners, the podman CLI.
enum Command {
    struct Result {
        var status: Int32
        /// stdout, with stderr after it unless `mergeErrors` was false (then stderr is dropped).
        var output: String
    }

    static func run(_ arguments: [String], environment: [String: String]? = nil, mergeErrors: Bool = true) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = mergeErrors ? pipe : FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }
}
