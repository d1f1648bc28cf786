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
            abstract: "Build an image from sandbox/<dir>/definition.yml (default: pushbox/debian:bookworm); cached, rebuilt only when its definition changes.")

        @OptionGroup var options: HomeOptions
        @Argument(help: "Image name (pushbox/debian:bookworm) or definition directory (debian-bookworm).") var name: String?
        @Flag(help: "Rebuild even when the image is up to date.") var force = false
        @Option(help: "Where built root filesystems are cached.") var cache = "/var/cache/pushbox/images"

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let config = try Runtime.loadConfig(home)
                let definitions = try ImageDefinitions.load()
                let wanted = name ?? PipelineSpec.defaultImage
                guard let definition = definitions.first(where: { $0.definition.name == wanted || $0.directory == wanted }) else {
                    throw UserError("no image definition named \(wanted); known: \(definitions.map(\.definition.name).joined(separator: ", "))")
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
                                           cacheDirectory: URL(fileURLWithPath: cache))
                let started = ContinuousClock.now
                do {
                    _ = try await builder.build(definition.definition, force: force, logger: logger) { line in
                        printOut("[image] \(line)")
                    }
                } catch {
                    await engine.service?.stop()
                    throw UserError("image build failed: \(error)")
                }
                await engine.service?.stop()
                printOut("[image] done in \(Units.format(ContinuousClock.now - started))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List image definitions and whether each is built and current.")
        @OptionGroup var options: HomeOptions

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let config = try Runtime.loadConfig(home)
                var logger = Logger(label: "pushbox")
                logger.logLevel = .warning
                let engine = try? await EngineDiscovery.resolve(setting: config.engine, serviceDirectory: home.root, logger: logger)
                var rows = [["IMAGE", "DEFINITION", "HASH", "STATE"]]
                for entry in try ImageDefinitions.load() {
                    var state = "engine unavailable"
                    if let engine {
                        let image = try? await engine.client.inspectImage(entry.definition.name)
                        state = image == nil ? "not built" : image?.labels[ImageDefinition.hashLabel] == entry.definition.definitionHash ? "built" : "outdated"
                    }
                    rows.append([entry.definition.name, "sandbox/\(entry.directory)", String(entry.definition.definitionHash.prefix(12)), state])
                }
                await engine?.service?.stop()
                printOut(Output.table(rows))
            }
        }
    }
}

/// Reads `sandbox/*/definition.yml`.
enum ImageDefinitions {
    struct Entry {
        var directory: String
        var definition: ImageDefinition
    }

    static func load() throws -> [Entry] {
        let sandbox = try Install.directory().appendingPathComponent("sandbox")
        let script = sandbox.appendingPathComponent("build-rootfs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: sandbox.path)) ?? []
        return try names.sorted().compactMap { name in
            let dir = sandbox.appendingPathComponent(name)
            let file = dir.appendingPathComponent("definition.yml")
            guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
            let reader = YAMLReader(file: "sandbox/\(name)/definition.yml")
            guard let root = try reader.compose(String(decoding: data, as: UTF8.self)) else {
                throw UserError("sandbox/\(name)/definition.yml is empty")
            }
            var imageName = "", suite = "bookworm", variant = "minbase", packages: [String] = []
            for (key, value, _) in try reader.mapping(root, "the image definition", allowed: ["name", "suite", "variant", "packages"]) {
                switch key {
                case "name": imageName = try reader.nonEmptyString(value, "name")
                case "suite": suite = try reader.nonEmptyString(value, "suite")
                case "variant": variant = try reader.nonEmptyString(value, "variant")
                default: packages = try reader.strings(value, "packages")
                }
            }
            guard !imageName.isEmpty else { throw UserError("sandbox/\(name)/definition.yml needs `name:`") }
            let customize = dir.appendingPathComponent("customize.sh")
            let hasCustomize = FileManager.default.fileExists(atPath: customize.path)
            let hashed = [file, script] + (hasCustomize ? [customize] : [])
            return Entry(directory: name, definition: ImageDefinition(
                name: imageName, suite: suite, variant: variant, packages: packages,
                customizeScript: hasCustomize ? customize : nil, definitionHash: try ImageDefinition.hash(fileURLs: hashed)))
        }
    }
}
