import ArgumentParser
import Core
import Executors
import Foundation
import Logging
import Yams

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Build job images offline from Debian packages.", subcommands: [Build.self, List.self])

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build an image from its definition (default: pushbox/debian:bookworm); cached, rebuilt only when its definition changes.")

        @OptionGroup var options: HomeOptions
        @Argument(help: "Image name (pushbox/go:bookworm) or definition directory (go-bookworm, claude).") var name: String?
        @Flag(help: "Build every definition (bases first).") var all = false
        @Flag(help: "Rebuild even when the image is up to date.") var force = false
        @Option(help: "Where built root filesystems are cached (default: $PUSHBOX_CACHE/images, PUSHBOX_CACHE defaulting to /var/cache/pushbox).") var cache: String?

        func validate() throws {
            if all && name != nil { throw ValidationError("give an image name or --all, not both") }
        }

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let config = try Runtime.loadConfig(home)
                let definitions = try ImageDefinitions.load(home: home, config: config)
                let wanted: [ImageDefinitions.Entry]
                if all {
                    wanted = definitions.sorted { $0.depth < $1.depth }
                } else {
                    let key = name ?? PipelineSpec.defaultImage
                    guard let definition = definitions.first(where: { $0.definition.name == key || $0.directory == key }) else {
                        throw UserError("no image definition named \(key); known: \(definitions.map(\.definition.name).joined(separator: ", ")) (`pushbox image list`)")
                    }
                    wanted = [definition]
                }
                var logger = Logger(label: "pushbox")
                logger.logLevel = .warning
                let engine: ResolvedEngine
                do {
                    engine = try await EngineDiscovery.resolve(setting: config.engine, serviceDirectory: home.root, logger: logger)
                } catch let error as EngineDiscoveryError {
                    throw UserError(error.message)
                }
                let builder = ImageBuilder(engine: engine.client, flavor: engine.flavor,
                                           buildScript: try Install.directory().appendingPathComponent("sandbox/build-rootfs"),
                                           cacheDirectory: cache.map { URL(fileURLWithPath: $0) } ?? Install.cacheRoot().appendingPathComponent("images"))
                let started = ContinuousClock.now
                for (index, entry) in wanted.enumerated() {
                    let prefix = wanted.count > 1 ? "[image \(index + 1)/\(wanted.count)]" : "[image]"
                    let began = ContinuousClock.now
                    do {
                        _ = try await builder.build(entry.definition, force: force, logger: logger) { line in
                            printOut("\(prefix) \(line)")
                        }
                    } catch {
                        await engine.service?.stop()
                        throw UserError("image build of \(entry.definition.name) (\(entry.location)) failed: \(error)")
                    }
                    if wanted.count > 1 { printOut("\(prefix) \(entry.definition.name) took \(Units.format(ContinuousClock.now - began))") }
                }
                await engine.service?.stop()
                printOut("[image] done in \(Units.format(ContinuousClock.now - started))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List image definitions: whether each is built and current, its size and definition hash.")
        @OptionGroup var options: HomeOptions

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let config = try Runtime.loadConfig(home)
                let definitions = try ImageDefinitions.load(home: home, config: config)
                var logger = Logger(label: "pushbox")
                logger.logLevel = .warning
                let engine = try? await EngineDiscovery.resolve(setting: config.engine, serviceDirectory: home.root, logger: logger)
                var rows = [["IMAGE", "DEFINITION", "HASH", "SIZE", "STATE"]]
                for entry in definitions {
                    var state = "engine unavailable", size = "-"
                    if let engine {
                        let image = try? await engine.client.inspectImage(entry.definition.name)
                        state = image == nil ? "not built" : image?.labels[ImageDefinition.hashLabel] == entry.definition.definitionHash ? "built" : "outdated (definition changed)"
                        if let image, image.size > 0 { size = Units.formatBytes(image.size) }
                    }
                    rows.append([entry.definition.name, entry.location, String(entry.definition.definitionHash.prefix(12)), size, state])
                }
                await engine?.service?.stop()
                printOut(Output.table(rows))
            }
        }
    }
}

/// Finds and reads image definitions: `<dir>/<name>/definition.yml` in the install's `sandbox/`, then in each
/// directory of the runner config's `image_path`, then in `$PUSHBOX_HOME/images`. `extends: <name>` takes
/// the package list of another definition (by directory or image name) and adds its own; the other
/// definition's file is part of the hash, so changing the base rebuilds what extends it.
enum ImageDefinitions {
    struct Entry {
        /// The definition's directory name (`debian-bookworm`), what `pushbox image build` accepts besides the image name.
        var directory: String
        /// Where it was found, for messages (`sandbox/debian-bookworm`).
        var location: String
        /// How many definitions it extends, directly or not (bases build first with `--all`).
        var depth: Int
        var definition: ImageDefinition
    }

    private struct Parsed {
        var directory: String
        var location: String
        var folder: URL
        var name = "", packages: [String] = [], extends: String?
        /// nil: the base's (with `extends`), else bookworm / minbase.
        var suite: String?, variant: String?
    }

    static func searchPath(home: RunnerHome, config: RunnerConfig) throws -> [URL] {
        [try Install.directory().appendingPathComponent("sandbox")]
            + config.imagePath.map { URL(fileURLWithPath: $0, relativeTo: home.root).standardizedFileURL }
            + [home.root.appendingPathComponent("images")]
    }

    static func load(home: RunnerHome, config: RunnerConfig) throws -> [Entry] {
        try load(searchPath: try searchPath(home: home, config: config))
    }

    static func load(searchPath: [URL]) throws -> [Entry] {
        let script = try Install.directory().appendingPathComponent("sandbox/build-rootfs")
        var parsed: [Parsed] = []
        for directory in searchPath {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() {
                let folder = directory.appendingPathComponent(name)
                let file = folder.appendingPathComponent("definition.yml")
                guard let data = FileManager.default.contents(atPath: file.path) else { continue }
                let location = directory.lastPathComponent == "sandbox" ? "sandbox/\(name)" : folder.path
                var entry = Parsed(directory: name, location: location, folder: folder)
                let reader = YAMLReader(file: "\(location)/definition.yml")
                guard let root = try reader.compose(String(decoding: data, as: UTF8.self)) else {
                    throw UserError("\(location)/definition.yml is empty")
                }
                for (key, value, _) in try reader.mapping(root, "the image definition", allowed: ["name", "suite", "variant", "packages", "extends"]) {
                    switch key {
                    case "name": entry.name = try reader.nonEmptyString(value, "name")
                    case "suite": entry.suite = try reader.nonEmptyString(value, "suite")
                    case "variant": entry.variant = try reader.nonEmptyString(value, "variant")
                    case "extends": entry.extends = try reader.nonEmptyString(value, "extends")
                    default: entry.packages = try reader.strings(value, "packages")
                    }
                }
                guard !entry.name.isEmpty else { throw UserError("\(location)/definition.yml needs `name:` (the image's name, e.g. pushbox/mine:bookworm)") }
                if let other = parsed.first(where: { $0.name == entry.name || $0.directory == entry.directory }) {
                    throw UserError("\(location) and \(other.location) both define \(other.name == entry.name ? "image \(entry.name)" : "a definition named \(entry.directory)"); rename one")
                }
                parsed.append(entry)
            }
        }
        func find(_ key: String) -> Parsed? { parsed.first { $0.directory == key || $0.name == key } }
        return try parsed.map { entry in
            var packages = entry.packages
            var suite = entry.suite, variant = entry.variant
            var files = [entry.folder.appendingPathComponent("definition.yml"), script]
            var chain = [entry.directory]
            var base = entry.extends
            while let key = base {
                guard let parent = find(key) else {
                    throw UserError("\(entry.location)/definition.yml: extends \(key), but no definition has that name")
                }
                guard !chain.contains(parent.directory), chain.count < 8 else {
                    throw UserError("\(entry.location)/definition.yml: extends forms a cycle (\((chain + [parent.directory]).joined(separator: " → ")))")
                }
                chain.append(parent.directory)
                packages = parent.packages + packages.filter { !parent.packages.contains($0) }
                suite = suite ?? parent.suite
                variant = variant ?? parent.variant
                files.append(parent.folder.appendingPathComponent("definition.yml"))
                base = parent.extends
            }
            func optionalFile(_ name: String) -> URL? {
                let file = entry.folder.appendingPathComponent(name)
                return FileManager.default.fileExists(atPath: file.path) ? file : nil
            }
            let customize = optionalFile("customize.sh"), wheels = optionalFile("wheels.txt")
            if wheels != nil, customize == nil {
                throw UserError("\(entry.location)/wheels.txt needs a customize.sh beside it that installs the wheels")
            }
            files += [customize, wheels].compactMap { $0 }
            return Entry(directory: entry.directory, location: entry.location, depth: chain.count - 1, definition: ImageDefinition(
                name: entry.name, suite: suite ?? "bookworm", variant: variant ?? "minbase", packages: packages,
                customizeScript: customize, wheelsFile: wheels, definitionHash: try ImageDefinition.hash(fileURLs: files)))
        }
    }
}
