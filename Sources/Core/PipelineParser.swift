import Foundation
import Yams

/// Turns the text of `.pushbox.yml` into a `PipelineSpec`, or a `SpecError` that names file, line and
/// what was expected. Pure: no I/O.
package enum PipelineParser {
    package static let fileName = ".pushbox.yml"
    package static let maxSteps = 100

    private static let topKeys = ["image", "branches", "env", "secrets", "timeout", "resources", "network",
                                  "steps", "autofix", "flaky", "vms", "cache", "artifacts"]
    package static let maxCachePaths = 16
    package static let maxArtifactPatterns = 64

    package static func parse(_ text: String, file: String = fileName) throws -> PipelineSpec {
        let reader = YAMLReader(file: file)
        guard let root = try reader.compose(text) else {
            throw SpecError(file: file, line: 0, column: 0, message: "the file is empty; it needs at least `steps:`")
        }
        var spec = PipelineSpec()
        var sawSteps = false
        for (key, value, _) in try reader.mapping(root, "the pipeline", allowed: topKeys) {
            switch key {
            case "image": spec.image = try imageReference(reader, value)
            case "branches": spec.branches = try reader.strings(value, "branches")
            case "env":
                spec.env = try reader.stringMap(value, "env")
                for name in spec.env.keys where !isEnvironmentName(name) {
                    throw reader.fail(value, "env: \"\(name)\" is not a valid environment variable name")
                }
            case "secrets":
                spec.secrets = try reader.strings(value, "secrets")
                for name in spec.secrets where !isEnvironmentName(name) {
                    throw reader.fail(value, "secrets: \"\(name)\" is not a valid environment variable name")
                }
            case "timeout": spec.timeout = try reader.duration(value, "timeout")
            case "resources": spec.resources = try resources(reader, value)
            case "network":
                let text = try reader.string(value, "network")
                guard let mode = NetworkMode(rawValue: text) else {
                    throw reader.fail(value, "network must be none or egress, found \"\(text)\"")
                }
                spec.network = mode
            case "steps":
                spec.steps = try steps(reader, value)
                sawSteps = true
            case "autofix": spec.autofix = try autofix(reader, value)
            case "flaky":
                let text = try reader.string(value, "flaky")
                guard let policy = FlakyPolicy(rawValue: text) else {
                    throw reader.fail(value, "flaky must be fail or pass, found \"\(text)\"")
                }
                spec.flaky = policy
            case "vms": spec.vms = try vms(reader, value)
            case "cache": spec.cache = try cache(reader, value)
            case "artifacts": spec.artifacts = try artifacts(reader, value)
            default:
                // `mapping(_:allowed:)` only yields allowed keys.
                fatalError("unhandled pipeline key \(key)")
            }
        }
        guard sawSteps else { throw reader.fail(root, "the pipeline has no `steps:` (a list of {name, run})") }
        return spec
    }

    private static func imageReference(_ reader: YAMLReader, _ node: Node) throws -> String {
        let image = try reader.nonEmptyString(node, "image")
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-/:@"))
        guard image.unicodeScalars.allSatisfy(allowed.contains), image.count <= 255 else {
            throw reader.fail(node, "image \"\(image)\" is not a valid image reference")
        }
        return image
    }

    private static func resources(_ reader: YAMLReader, _ node: Node) throws -> Resources {
        var result = Resources()
        for (key, value, _) in try reader.mapping(node, "resources", allowed: ["cpus", "memory", "pids"]) {
            switch key {
            case "cpus": result.cpus = try reader.double(value, "resources.cpus", range: 0.01...512)
            case "memory":
                result.memoryBytes = try reader.bytes(value, "resources.memory")
                guard result.memoryBytes >= 6 << 20 else { throw reader.fail(value, "resources.memory must be at least 6m") }
            case "pids": result.pids = try reader.int(value, "resources.pids", range: 16...1_000_000)
            default: fatalError("unhandled resources key \(key)")
            }
        }
        return result
    }

    private static func steps(_ reader: YAMLReader, _ node: Node) throws -> [Step] {
        let items = try reader.sequence(node, "steps", max: maxSteps)
        guard !items.isEmpty else { throw reader.fail(node, "steps must list at least one step") }
        var steps: [Step] = []
        var names = Set<String>()
        for (index, item) in items.enumerated() {
            // `- make test` is a step whose name is derived from its position.
            if case .scalar = item {
                let run = try reader.nonEmptyString(item, "step \(index + 1)")
                guard names.insert("step\(index + 1)").inserted else { throw reader.fail(item, "two steps are named \"step\(index + 1)\"") }
                steps.append(Step(name: "step\(index + 1)", run: run))
                continue
            }
            var name: String?
            var run: String?
            var junit: String?
            for (key, value, _) in try reader.mapping(item, "step \(index + 1)", allowed: ["name", "run", "junit"]) {
                switch key {
                case "name": name = try reader.nonEmptyString(value, "step \(index + 1) name")
                case "run": run = try reader.nonEmptyString(value, "step \(index + 1) run")
                case "junit": junit = try reader.nonEmptyString(value, "step \(index + 1) junit")
                default: fatalError("unhandled step key \(key)")
                }
            }
            guard let run else { throw reader.fail(item, "step \(index + 1) needs `run:` (the shell command)") }
            let stepName = name ?? "step\(index + 1)"
            guard isStepName(stepName) else {
                throw reader.fail(item, "step name \"\(stepName)\" may use only letters, digits, '-', '_' and '.' (at most 64), and must not start with '.'")
            }
            guard names.insert(stepName).inserted else { throw reader.fail(item, "two steps are named \"\(stepName)\"") }
            steps.append(Step(name: stepName, run: run, junit: junit))
        }
        return steps
    }

    private static func autofix(_ reader: YAMLReader, _ node: Node) throws -> AutofixSettings {
        var result = AutofixSettings()
        if case .scalar = node {
            result.enabled = try reader.bool(node, "autofix")
            return result
        }
        for (key, value, _) in try reader.mapping(node, "autofix", allowed: ["enabled", "max_attempts", "protect", "allow_test_edits"]) {
            switch key {
            case "enabled": result.enabled = try reader.bool(value, "autofix.enabled")
            case "max_attempts": result.maxAttempts = try reader.int(value, "autofix.max_attempts", range: 1...10)
            case "protect": result.protect = try reader.strings(value, "autofix.protect")
            case "allow_test_edits": result.allowTestEdits = try reader.bool(value, "autofix.allow_test_edits")
            default: fatalError("unhandled autofix key \(key)")
            }
        }
        return result
    }

    private static func vms(_ reader: YAMLReader, _ node: Node) throws -> [VMEntry] {
        var profiles = Set<String>()
        return try reader.sequence(node, "vms", max: 32).enumerated().map { index, item in
            var entry = VMEntry(profile: "")
            if case .scalar = item {
                entry.profile = try reader.nonEmptyString(item, "vms entry \(index + 1)")
            } else {
                for (key, value, _) in try reader.mapping(item, "vms entry \(index + 1)", allowed: ["profile", "run", "timeout"]) {
                    switch key {
                    case "profile": entry.profile = try reader.nonEmptyString(value, "vms entry \(index + 1) profile")
                    case "run": entry.run = try reader.nonEmptyString(value, "vms entry \(index + 1) run")
                    case "timeout": entry.timeout = try reader.duration(value, "vms entry \(index + 1) timeout")
                    default: fatalError("unhandled vms key \(key)")
                    }
                }
            }
            guard !entry.profile.isEmpty else { throw reader.fail(item, "vms entry \(index + 1) needs `profile:`") }
            guard isStepName(entry.profile) else {
                throw reader.fail(item, "vms entry \(index + 1): \"\(entry.profile)\" is not a profile name (a file name of vm-profiles/ without .yml: letters, digits, '-', '_' and '.')")
            }
            guard profiles.insert(entry.profile).inserted else {
                throw reader.fail(item, "two vms entries use profile \(entry.profile); give each profile one entry")
            }
            return entry
        }
    }

    /// Directories below the step user's home (`~/…` or `/home/ci/…`) or below `/workspace`: the rest of
    /// the container's file system is read-only.
    private static func cache(_ reader: YAMLReader, _ node: Node) throws -> [String] {
        let paths = try reader.strings(node, "cache", max: maxCachePaths)
        var seen = Set<String>()
        for path in paths {
            let absolute = path.hasPrefix("~/") ? PipelineSpec.home + path.dropFirst(1) : path
            let parts = absolute.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            let under = [PipelineSpec.home + "/", "/workspace/"].first { absolute.hasPrefix($0) }
            guard under != nil, path.count <= 512, !parts.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }),
                  !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == ":" || $0 == "," || $0 == "\\" }) else {
                throw reader.fail(node, "cache: \"\(path)\" must be a directory below ~/ or /workspace/ (e.g. ~/.npm, ~/.cargo/registry, /workspace/target), without '.', '..', ':' or ','")
            }
            guard seen.insert(absolute).inserted else { throw reader.fail(node, "cache lists \(path) twice") }
        }
        for a in seen {
            if let b = seen.first(where: { $0 != a && $0.hasPrefix(a + "/") }) {
                throw reader.fail(node, "cache: \(b) is inside \(a); list only \(a)")
            }
        }
        return paths
    }

    /// A list of globs, or `{paths: [globs], when: always|success|failure}`.
    private static func artifacts(_ reader: YAMLReader, _ node: Node) throws -> ArtifactSettings {
        var result = ArtifactSettings()
        var pathsNode = node
        if case .mapping = node {
            var sawPaths = false
            for (key, value, _) in try reader.mapping(node, "artifacts", allowed: ["paths", "when"]) {
                if key == "paths" {
                    pathsNode = value
                    sawPaths = true
                } else {
                    let text = try reader.string(value, "artifacts.when")
                    guard let when = ArtifactSettings.When(rawValue: text) else {
                        throw reader.fail(value, "artifacts.when must be always, success or failure, found \"\(text)\"")
                    }
                    result.when = when
                }
            }
            guard sawPaths else { throw reader.fail(node, "artifacts needs paths: (globs relative to the workspace)") }
        }
        result.paths = try reader.strings(pathsNode, "artifacts", max: maxArtifactPatterns)
        for pattern in result.paths {
            let parts = pattern.split(separator: "/", omittingEmptySubsequences: false)
            guard !pattern.isEmpty, !pattern.hasPrefix("/"), !parts.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }),
                  pattern.count <= 512, !pattern.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw reader.fail(pathsNode, "artifacts: \"\(pattern)\" must be a glob relative to the workspace, without '.', '..' or empty parts (e.g. dist/*.tar.gz, build/**/*.log)")
            }
        }
        return result
    }

    package static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && CharacterSet.letters.contains(first)) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
    }

    package static func isStepName(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 64, !name.hasPrefix(".") else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
    }
}
