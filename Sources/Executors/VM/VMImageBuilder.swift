import Foundation
import Logging
import Synchronization

/// Builds a profile's guest image offline (`pushbox vm build PROFILE`): runs the profile's build script
/// (`vm-profiles/<build.script> <images>/<build.output>` with `build.env`), which prints progress lines,
/// caches what it downloads and is a no-op when the image is up to date (docs/vms.md).
package struct VMImageBuilder: Sendable {
    /// The `vm-profiles/` directory holding the build scripts.
    package let profilesDirectory: URL
    /// The runner's `vm.images` directory.
    package let imagesDirectory: URL
    /// Scratch and download cache for the script (`WORKDIR`); nil: the script's default.
    package let workDirectory: URL?

    package init(profilesDirectory: URL, imagesDirectory: URL, workDirectory: URL? = nil) {
        self.profilesDirectory = profilesDirectory
        self.imagesDirectory = imagesDirectory
        self.workDirectory = workDirectory
    }

    /// The script's argv and environment for `profile` (pure).
    package func invocation(for profile: VMProfile, force: Bool = false,
                            base: [String: String] = ProcessInfo.processInfo.environment) throws -> (executable: String, arguments: [String], environment: [String: String]) {
        guard let build = profile.build else {
            throw ImageBuildError("profile \(profile.name) has no build: section; its image is prepared by hand (see docs/vms.md)")
        }
        var environment = base
        environment.merge(build.environment) { _, profileValue in profileValue }
        if force { environment["FORCE"] = "1" }
        if let workDirectory { environment["WORKDIR"] = workDirectory.path }
        let output = VMProfile.resolve(build.output, in: imagesDirectory).path
        return (profilesDirectory.appendingPathComponent(build.script).path, [output], environment)
    }

    /// Runs the build script; `progress` receives its lines as they come. Cancelling kills the script
    /// (it cleans up its scratch directory on SIGTERM; SIGKILL goes to its process group).
    package func build(_ profile: VMProfile, force: Bool = false, logger: Logger,
                       progress: @escaping @Sendable (String) -> Void) async throws {
        let (executable, arguments, environment) = try invocation(for: profile, force: force)
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ImageBuildError("the build script \(executable) of profile \(profile.name) is missing or not executable")
        }
        try FileManager.default.createDirectory(at: imagesDirectory, withIntermediateDirectories: true)
        logger.info("building VM image", metadata: ["profile": "\(profile.name)", "script": "\(executable)", "output": "\(arguments[0])"])
        let child = try SpawnedChild.spawn(executable, arguments, environment: environment)
        let last = LastLine()
        await withTaskCancellationHandler {
            var pending = Data()
            for await chunk in child.output {
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    last.set(line)
                    progress(line)
                }
            }
            if !pending.isEmpty {
                let line = String(decoding: pending, as: UTF8.self)
                last.set(line)
                progress(line)
            }
        } onCancel: {
            // TERM first: the script's trap removes its scratch directory and unmounts.
            child.signalGroup(SIGTERM)
        }
        if Task.isCancelled, await child.waitForExit(within: .seconds(30)) == nil { child.signalGroup(SIGKILL) }
        let status = await child.waitForExit()
        try Task.checkCancellation()
        guard status == 0 else {
            throw ImageBuildError("\(URL(fileURLWithPath: executable).lastPathComponent) failed with exit \(status)\(last.value.map { ": \($0)" } ?? "")")
        }
        let missing = profile.missingImageFiles(in: imagesDirectory)
        guard missing.isEmpty else {
            throw ImageBuildError("the build of \(profile.name) finished but did not produce \(missing.map(\.path).joined(separator: ", "))")
        }
    }
}

private final class LastLine: Sendable {
    private let state = Mutex<String?>(nil)
    func set(_ line: String) { if !line.trimmingCharacters(in: .whitespaces).isEmpty { state.withLock { $0 = line } } }
    var value: String? { state.withLock { $0 } }
}
