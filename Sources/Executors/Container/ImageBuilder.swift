import Foundation
import Logging
import Synchronization

/// A container image definition (`sandbox/<dir>/definition.yml`, parsed by the caller so that YAML stays
/// out of this module).
package struct ImageDefinition: Sendable, Equatable {
    /// The label that records which definition an image was built from.
    package static let hashLabel = "pushbox.definition"

    /// Image reference, e.g. `pushbox/debian:bookworm`.
    package var name: String
    /// Debian suite for debootstrap, e.g. `bookworm`.
    package var suite: String
    /// debootstrap variant, e.g. `minbase`.
    package var variant: String
    package var packages: [String]
    /// Script run inside the new root filesystem, if any.
    package var customizeScript: URL?
    /// pip requirements with pinned hashes (`wheels.txt`), downloaded on the host before the customize script
    /// runs, if any.
    package var wheelsFile: URL?
    /// Fingerprint of the definition files and the build script (`ImageDefinition.hash(files:)`).
    package var definitionHash: String

    package init(name: String, suite: String, variant: String = "minbase", packages: [String] = [],
                 customizeScript: URL? = nil, wheelsFile: URL? = nil, definitionHash: String) {
        self.name = name
        self.suite = suite
        self.variant = variant
        self.packages = packages
        self.customizeScript = customizeScript
        self.wheelsFile = wheelsFile
        self.definitionHash = definitionHash
    }

    /// SHA-256 over the files that decide an image's content, by name and content, independent of the
    /// order given (pure).
    package static func hash(files: [(name: String, contents: Data)]) -> String {
        var hasher = SHA256()
        for file in files.sorted(by: { $0.name < $1.name }) {
            hasher.update("\(file.name)\u{0}\(file.contents.count)\u{0}")
            hasher.update(file.contents)
        }
        return hasher.finalizeHex()
    }

    /// `hash(files:)` over files on disk, keyed by `<parent directory>/<file name>`.
    package static func hash(fileURLs: [URL]) throws -> String {
        try hash(files: fileURLs.map { (name: $0.deletingLastPathComponent().lastPathComponent + "/" + $0.lastPathComponent, contents: try Data(contentsOf: $0)) })
    }

    /// `<cache>/<name with / and : as _>-<first 16 hex of the hash>.tar` (pure).
    package func cacheFileName() -> String {
        let safe = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
        return "\(safe)-\(definitionHash.prefix(16)).tar"
    }
}

/// Builds a container image offline (`pushbox image build`): debootstrap through `sandbox/build-rootfs`
/// into a cached tar, imported into the engine with the definition's hash as a label. Does nothing when
/// the engine already has that build.
package struct ImageBuilder: Sendable {
    package enum Outcome: Sendable, Equatable {
        case upToDate(imageID: String)
        case importedFromCache(imageID: String)
        case built(imageID: String)
    }

    package let engine: DockerEngineClient
    package let flavor: EngineFlavor
    /// `sandbox/build-rootfs`: `build-rootfs OUTPUT_TAR`, configured by SUITE, VARIANT, PACKAGES, CUSTOMIZE,
    /// WHEELS, MIRROR (and WORKDIR or PUSHBOX_CACHE from the environment); progress on stderr; writes OUTPUT_TAR atomically; non-zero exit on failure.
    package let buildScript: URL
    /// Where built root filesystem tars are kept (e.g. `$PUSHBOX_HOME/images`).
    package let cacheDirectory: URL
    package let mirror: String?

    package init(engine: DockerEngineClient, flavor: EngineFlavor, buildScript: URL, cacheDirectory: URL, mirror: String? = nil) {
        self.engine = engine
        self.flavor = flavor
        self.buildScript = buildScript
        self.cacheDirectory = cacheDirectory
        self.mirror = mirror
    }

    /// Builds `definition` unless the engine has an image of that name built from the same hash.
    /// `progress` receives human-readable lines (the build script's own among them).
    package func build(_ definition: ImageDefinition, force: Bool = false, logger: Logger,
                       progress: @escaping @Sendable (String) -> Void) async throws -> Outcome {
        let existing = try await engine.inspectImage(definition.name)
        if !force, let existing, existing.labels[ImageDefinition.hashLabel] == definition.definitionHash {
            progress("\(definition.name) is up to date (\(existing.id.shortImageID))")
            return .upToDate(imageID: existing.id)
        }

        try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        let tar = cacheDirectory.appendingPathComponent(definition.cacheFileName())
        let fromCache = !force && FileManager.default.fileExists(atPath: tar.path)
        if fromCache {
            progress("using the cached root filesystem \(tar.path)")
        } else {
            progress("building the root filesystem of \(definition.name) (\(definition.suite), \(definition.variant)) with \(buildScript.lastPathComponent)")
            try await runBuildScript(definition, output: tar, progress: progress)
            guard FileManager.default.fileExists(atPath: tar.path) else {
                throw ImageBuildError("\(buildScript.path) succeeded but wrote no \(tar.path)")
            }
        }

        progress("importing \(tar.lastPathComponent) as \(definition.name)")
        let repository = ContainerSpec.importRepository(for: definition.name, engine: flavor)
        try await engine.importImage(tarFile: tar, repository: repository,
                                     changes: ContainerSpec.importChanges(definitionHash: definition.definitionHash))
        guard let image = try await engine.inspectImage(definition.name),
              image.labels[ImageDefinition.hashLabel] == definition.definitionHash else {
            throw ImageBuildError("the engine imported \(definition.name) but does not show it with label \(ImageDefinition.hashLabel)=\(definition.definitionHash)")
        }
        logger.info("image imported", metadata: ["image": "\(definition.name)", "id": "\(image.id.shortImageID)"])

        if let existing, existing.id != image.id {
            do {
                try await engine.removeImage(existing.id)
                progress("removed the previous build \(existing.id.shortImageID)")
            } catch let error as EngineAPIError where error.status == 409 {
                progress("kept the previous build \(existing.id.shortImageID): a container still uses it")
            }
        }
        removeOtherCachedBuilds(of: definition, keeping: tar)
        progress("\(definition.name) is ready (\(image.id.shortImageID))")
        return fromCache ? .importedFromCache(imageID: image.id) : .built(imageID: image.id)
    }

    /// The build script's environment (pure).
    package func scriptEnvironment(for definition: ImageDefinition, base: [String: String]) -> [String: String] {
        var environment = base
        environment["SUITE"] = definition.suite
        environment["VARIANT"] = definition.variant
        environment["PACKAGES"] = definition.packages.joined(separator: ",")
        environment["CUSTOMIZE"] = definition.customizeScript?.path ?? ""
        environment["WHEELS"] = definition.wheelsFile?.path ?? ""
        if let mirror { environment["MIRROR"] = mirror }
        return environment
    }

    private func runBuildScript(_ definition: ImageDefinition, output: URL, progress: @escaping @Sendable (String) -> Void) async throws {
        let child = Foundation.Process()
        child.executableURL = buildScript
        child.arguments = [output.path]
        child.environment = scriptEnvironment(for: definition, base: ProcessInfo.processInfo.environment)
        child.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = pipe
        let lines = LineForwarder(progress)
        do {
            try child.run()
        } catch {
            throw ImageBuildError("cannot run \(buildScript.path): \(error)")
        }
        // Our copy of the write end must go, or the pipe never reports end of file.
        try? pipe.fileHandleForWriting.close()
        let childPID = child.processIdentifier
        let status: Int32 = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Reading and waiting block: a thread of their own, like an HTTP transfer.
                let reader = Thread {
                    let handle = pipe.fileHandleForReading
                    while true {
                        let data = handle.availableData
                        if data.isEmpty { break }
                        lines.feed(data)
                    }
                    lines.finish()
                    child.waitUntilExit()
                    continuation.resume(returning: child.terminationStatus)
                }
                reader.name = "pushbox-build-rootfs"
                reader.start()
            }
        } onCancel: {
            kill(childPID, SIGTERM)
        }
        try Task.checkCancellation()
        guard status == 0 else {
            throw ImageBuildError("\(buildScript.path) failed with exit \(status)\(lines.last.map { ": \($0)" } ?? "")")
        }
    }

    private func removeOtherCachedBuilds(of definition: ImageDefinition, keeping tar: URL) {
        let prefix = String(definition.cacheFileName().dropLast("\(definition.definitionHash.prefix(16)).tar".count))
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory.path)) ?? []
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".tar") && name != tar.lastPathComponent
            && name.dropFirst(prefix.count).count == 20 {
            try? FileManager.default.removeItem(at: cacheDirectory.appendingPathComponent(name))
        }
    }
}

package struct ImageBuildError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// Splits a child's output into lines for a progress callback (called from the pipe's reader thread).
private final class LineForwarder: Sendable {
    private let progress: @Sendable (String) -> Void
    private let state = Mutex<(pending: Data, last: String?)>((Data(), nil))

    init(_ progress: @escaping @Sendable (String) -> Void) { self.progress = progress }

    var last: String? { state.withLock { $0.last } }

    func feed(_ data: Data) {
        let lines: [String] = state.withLock { state in
            state.pending.append(data)
            var lines: [String] = []
            while let newline = state.pending.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: state.pending[state.pending.startIndex..<newline], as: UTF8.self))
                state.pending.removeSubrange(state.pending.startIndex...newline)
            }
            if let lastLine = lines.last(where: { !$0.isEmpty }) { state.last = lastLine }
            return lines
        }
        lines.forEach(progress)
    }

    func finish() {
        let rest: String? = state.withLock { state in
            guard !state.pending.isEmpty else { return nil }
            let line = String(decoding: state.pending, as: UTF8.self)
            state.pending = Data()
            state.last = line
            return line
        }
        if let rest { progress(rest) }
    }
}

private extension String {
    /// `sha256:0123456789ab…` → `0123456789ab`.
    var shortImageID: String {
        String((hasPrefix("sha256:") ? dropFirst(7) : Substring(self)).prefix(12))
    }
}
