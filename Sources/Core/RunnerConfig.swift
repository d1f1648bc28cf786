import Foundation
import Yams

/// The runner's own settings, `$PUSHBOX_HOME/pushbox.yml`. Every key is optional; the defaults are those
/// of `runner-config/pushbox.yml`. Secrets never live here, only the names of variables that hold them.
package struct RunnerConfig: Sendable, Equatable {
    package struct Autofix: Sendable, Equatable {
        package var backend: AutofixBackend = .anthropic
        package var model = "claude-sonnet-5-5"
        package var apiKeyEnv = "ANTHROPIC_API_KEY"
        package var maxAttempts = 3
        package var maxTurns = 30
        package var maxCostUSD = 2.0
        /// Wall time of one attempt's agent work (the verification run has the pipeline's timeout).
        package var wallTimePerAttempt: Duration = .seconds(600)
        /// Messages API base URL; nil: `ANTHROPIC_BASE_URL`, else https://api.anthropic.com.
        package var baseURL: String?
        /// The `command` backend's executable (a shell command line run in the run's image).
        package var command: String?
        /// US dollars per million tokens by model id (prefix match, see `PriceTable`); merged over the
        /// built-in table.
        package var prices: [String: ModelRate] = [:]
        /// The image of the claude-code backend's container (has `claude` on PATH).
        package var image = "pushbox/claude:bookworm"
        /// Author and committer of autofix commits (`author: "Name <email>"`).
        package var authorName = "Pushbox Autofix"
        package var authorEmail = "autofix@pushbox.invalid"

        /// `Name <email>` → its parts (pure); nil when it is not of that form or has characters git refuses.
        package static func parseAuthor(_ text: String) -> (name: String, email: String)? {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") else { return nil }
            let name = trimmed[..<open].trimmingCharacters(in: .whitespaces)
            let email = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            let bad: (Character) -> Bool = { "<>\n\r\0".contains($0) }
            guard !name.isEmpty, !email.isEmpty, email.contains("@"), !name.contains(where: bad), !email.contains(where: bad) else { return nil }
            return (name, email)
        }
    }

    /// Input and output price of a model in US dollars per million tokens.
    package struct ModelRate: Sendable, Equatable {
        package var input: Double
        package var output: Double
        package init(input: Double, output: Double) {
            self.input = input
            self.output = output
        }
    }

    /// One entry of `reports:`: a `webhook`, or a forge's commit-status API (`gitea` (also Forgejo),
    /// `github`, `gitlab`).
    package struct Report: Sendable, Equatable {
        package enum Event: String, Sendable, CaseIterable { case queued, started, finished }
        package static let types = ["webhook", "gitea", "github", "gitlab"]
        package var type = "webhook"
        /// The webhook's URL, or the forge's API base (`https://git.example/api/v1`, `https://api.github.com`,
        /// `https://gitlab.example/api/v4`).
        package var url = ""
        /// Name of the environment variable holding the HMAC secret (never the secret itself).
        package var secretEnv: String?
        /// Forges: name of the environment variable holding the API token.
        package var tokenEnv: String?
        /// Forges: the commit status's context (`name` on GitLab).
        package var context = "pushbox/ci"
        package var events: [Event] = [.finished]
        /// Registered repository names this reporter is for; empty: all.
        package var repos: [String] = []
        /// Forges: registered repository name → the forge's project (`owner/name`, GitLab: `group/project`).
        package var projects: [String: String] = [:]
        /// Retries stop when a delivery is older than this.
        package var retryFor: Duration = .seconds(24 * 3600)
        /// Wait before the first retry; doubles per attempt, at most an hour.
        package var backoff: Duration = .seconds(10)
    }

    package struct VM: Sendable, Equatable {
        package var profiles: String?
        package var images: String?
        package var concurrency = 1
    }

    /// Host and port of the HTTP listener.
    package var listen = "127.0.0.1:7070"
    /// Base of the links in notes and push output.
    package var url = "http://127.0.0.1:7070"
    package var concurrency = 2
    /// `auto` or `unix:///path/to/engine.sock`.
    package var engine = "auto"
    /// Per step; beyond it the log ends with a truncation marker.
    package var logCap: Int64 = 100 << 20
    package var reconcileEvery: Duration = .seconds(60)
    /// With a `listen` that is not loopback, GETs need the token too unless this is true.
    package var isPublic = false
    package var autofix = Autofix()

    /// The names of the environment variables that hold the runner's own credentials (the model API key,
    /// webhook secrets, forge tokens): never handed to a job as a pipeline `secrets:` entry.
    package var credentialVariables: Set<String> {
        Set([autofix.apiKeyEnv] + reports.flatMap { [$0.secretEnv, $0.tokenEnv].compactMap { $0 } })
    }
    package var vm = VM()
    /// Extra directories of image definitions (`<dir>/<name>/definition.yml`), searched after the install's
    /// `sandbox/`; `$PUSHBOX_HOME/images` is always searched too.
    package var imagePath: [String] = []
    /// Per repository: the size all its caches may take together; least recently used caches go first.
    package var cacheMax: Int64 = 5 << 30
    /// Per run: the size of its workspace (`/workspace`), enforced by giving each run a file system of this
    /// size; nil (`workspace_quota: none`) for a plain directory.
    package var workspaceQuota: Int64? = 10 << 30
    /// Per run: the size of the artifacts kept.
    package var artifactsMax: Int64 = 1 << 30
    /// Per repository: how many of its latest runs keep their artifacts.
    package var artifactsKeep = 20
    package var reports: [Report] = []

    package init() {}

    private static let keys = ["listen", "url", "public", "concurrency", "engine", "log_cap", "reconcile_every", "autofix", "vm", "reports",
                               "image_path", "cache_max", "artifacts_max", "artifacts_keep", "workspace_quota"]

    package static func parse(_ text: String, file: String) throws -> RunnerConfig {
        let reader = YAMLReader(file: file)
        var config = RunnerConfig()
        guard let root = try reader.compose(text) else { return config }
        var urlGiven = false
        for (key, value, keyNode) in try reader.mapping(root, "the runner configuration", allowed: keys) {
            switch key {
            case "listen":
                config.listen = try reader.nonEmptyString(value, "listen")
                guard ListenAddress(config.listen) != nil else {
                    throw reader.fail(value, "listen must be HOST:PORT such as 127.0.0.1:7070, found \"\(config.listen)\"")
                }
            case "url":
                config.url = try reader.nonEmptyString(value, "url")
                while config.url.hasSuffix("/") { config.url.removeLast() }
                urlGiven = true
            case "public": config.isPublic = try reader.bool(value, "public")
            case "concurrency": config.concurrency = try reader.int(value, "concurrency", range: 1...64)
            case "engine":
                config.engine = try reader.nonEmptyString(value, "engine")
                guard config.engine == "auto" || config.engine.hasPrefix("unix://") else {
                    throw reader.fail(value, "engine must be auto or unix:///path/to/engine.sock, found \"\(config.engine)\"")
                }
            case "log_cap": config.logCap = try reader.bytes(value, "log_cap")
            case "reconcile_every": config.reconcileEvery = try reader.duration(value, "reconcile_every")
            case "autofix": config.autofix = try autofix(reader, value)
            case "vm":
                for (k, v, _) in try reader.mapping(value, "vm", allowed: ["profiles", "images", "concurrency"]) {
                    switch k {
                    case "profiles": config.vm.profiles = try reader.nonEmptyString(v, "vm.profiles")
                    case "images": config.vm.images = try reader.nonEmptyString(v, "vm.images")
                    default: config.vm.concurrency = try reader.int(v, "vm.concurrency", range: 1...16)
                    }
                }
            case "reports":
                _ = keyNode
                config.reports = try reader.sequence(value, "reports", max: 32).map { try report(reader, $0) }
            case "image_path": config.imagePath = try reader.strings(value, "image_path", max: 32)
            case "cache_max": config.cacheMax = try reader.bytes(value, "cache_max")
            case "artifacts_max": config.artifactsMax = try reader.bytes(value, "artifacts_max")
            case "workspace_quota":
                if case let .scalar(scalar) = value, scalar.string == "none" {
                    config.workspaceQuota = nil
                } else {
                    let quota = try reader.bytes(value, "workspace_quota (or none)")
                    guard quota >= 16 << 20 else { throw reader.fail(value, "workspace_quota must be at least 16m, or none") }
                    config.workspaceQuota = quota
                }
            case "artifacts_keep": config.artifactsKeep = try reader.int(value, "artifacts_keep", range: 1...100_000)
            default: fatalError("unhandled runner config key \(key)")
            }
        }
        if !urlGiven { config.url = "http://\(config.listen)" }
        if config.autofix.backend == .command && config.autofix.command == nil {
            throw SpecError(file: file, line: 0, column: 0, message: "autofix.backend is command but autofix.command is not set")
        }
        return config
    }

    private static func report(_ reader: YAMLReader, _ node: Node) throws -> Report {
        var result = Report()
        var typeNode: Node?
        var eventsGiven = false
        var reposNode: Node?
        for (key, value, _) in try reader.mapping(node, "reports entry", allowed: ["type", "url", "secret_env", "events", "repos", "retry_for", "backoff", "token_env", "context"]) {
            switch key {
            case "type":
                result.type = try reader.nonEmptyString(value, "reports type")
                typeNode = value
            case "url":
                result.url = try reader.nonEmptyString(value, "reports url")
                guard result.url.hasPrefix("http://") || result.url.hasPrefix("https://") else {
                    throw reader.fail(value, "reports url must start with http:// or https://, found \"\(result.url)\"")
                }
            case "secret_env": result.secretEnv = try reader.nonEmptyString(value, "reports secret_env")
            case "events":
                eventsGiven = true
                result.events = try reader.strings(value, "reports events", max: 3).map { name in
                    guard let event = Report.Event(rawValue: name) else {
                        throw reader.fail(value, "reports events: \"\(name)\" is not one of queued, started, finished")
                    }
                    return event
                }
            case "repos":
                reposNode = value
                if case .mapping = value {
                    for (name, project, _) in try reader.mapping(value, "reports repos", allowed: nil) {
                        result.projects[name] = try reader.nonEmptyString(project, "reports repos \(name)")
                    }
                    result.repos = result.projects.keys.sorted()
                } else {
                    result.repos = try reader.strings(value, "reports repos", max: 1000)
                }
            case "context": result.context = try reader.nonEmptyString(value, "reports context")
            case "token_env": result.tokenEnv = try reader.nonEmptyString(value, "reports token_env")
            case "retry_for": result.retryFor = try reader.duration(value, "reports retry_for")
            case "backoff": result.backoff = try reader.duration(value, "reports backoff")
            default: fatalError("unhandled reports key \(key)")
            }
        }
        guard Report.types.contains(result.type) else {
            throw reader.fail(typeNode ?? node, "reports type must be one of \(Report.types.joined(separator: ", ")), found \"\(result.type)\"")
        }
        guard !result.url.isEmpty else { throw reader.fail(node, "a reports entry needs url:") }
        if result.type != "webhook" {
            // A forge status is about every state change: pending while queued and running, then the outcome.
            if !eventsGiven { result.events = Report.Event.allCases }
            guard result.tokenEnv != nil else { throw reader.fail(typeNode ?? node, "a \(result.type) reports entry needs token_env: (the variable holding the API token)") }
            guard !result.projects.isEmpty else {
                throw reader.fail(reposNode ?? node, "a \(result.type) reports entry needs repos: as a mapping of registered repository name to the forge's project, e.g. {app: org/app}")
            }
        }
        return result
    }

    private static func autofix(_ reader: YAMLReader, _ node: Node) throws -> Autofix {
        var result = Autofix()
        let allowed = ["backend", "model", "api_key_env", "max_attempts", "max_turns", "max_cost_usd", "wall_time", "base_url",
                       "command", "prices", "author", "image"]
        for (key, value, _) in try reader.mapping(node, "autofix", allowed: allowed) {
            switch key {
            case "backend":
                guard let backend = AutofixBackend(rawValue: try reader.nonEmptyString(value, "autofix.backend")) else {
                    throw reader.fail(value, "autofix.backend must be anthropic, claude-code, command or off")
                }
                result.backend = backend
            case "model": result.model = try reader.nonEmptyString(value, "autofix.model")
            case "api_key_env": result.apiKeyEnv = try reader.nonEmptyString(value, "autofix.api_key_env")
            case "max_attempts": result.maxAttempts = try reader.int(value, "autofix.max_attempts", range: 1...10)
            case "max_turns": result.maxTurns = try reader.int(value, "autofix.max_turns", range: 1...200)
            case "wall_time": result.wallTimePerAttempt = try reader.duration(value, "autofix.wall_time")
            case "base_url":
                result.baseURL = try reader.nonEmptyString(value, "autofix.base_url")
                while result.baseURL?.hasSuffix("/") == true { result.baseURL?.removeLast() }
            case "command": result.command = try reader.nonEmptyString(value, "autofix.command")
            case "image": result.image = try reader.nonEmptyString(value, "autofix.image")
            case "author":
                let text = try reader.nonEmptyString(value, "autofix.author")
                guard let author = Autofix.parseAuthor(text) else {
                    throw reader.fail(value, "autofix.author must look like \"Name <email>\", found \"\(text)\"")
                }
                result.authorName = author.name
                result.authorEmail = author.email
            case "prices":
                guard case let .mapping(map) = value else { throw reader.fail(value, "autofix.prices must be a mapping of model id to {input, output}") }
                for (modelNode, rateNode) in map {
                    guard case let .scalar(scalar) = modelNode, !scalar.string.isEmpty else { throw reader.fail(modelNode, "autofix.prices: a model id must be a string") }
                    let model = scalar.string
                    var rate = ModelRate(input: 0, output: 0)
                    var seen: Set<String> = []
                    for (k, v, _) in try reader.mapping(rateNode, "autofix.prices.\(model)", allowed: ["input", "output"]) {
                        seen.insert(k)
                        let price = try reader.double(v, "autofix.prices.\(model).\(k)", range: 0...10_000)
                        if k == "input" { rate.input = price } else { rate.output = price }
                    }
                    guard seen.count == 2 else { throw reader.fail(rateNode, "autofix.prices.\(model) needs input and output (USD per million tokens)") }
                    result.prices[model] = rate
                }
            default: result.maxCostUSD = try reader.double(value, "autofix.max_cost_usd", range: 0...1000)
            }
        }
        return result
    }
}

/// `HOST:PORT` of a TCP listener.
package struct ListenAddress: Sendable, Equatable {
    package var host: String
    package var port: Int

    package init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    package var isLoopback: Bool { host == "127.0.0.1" || host == "::1" || host == "localhost" }
}

/// Which fixer autofix uses (`autofix.backend`).
package enum AutofixBackend: String, Codable, Sendable, CaseIterable {
    /// The Messages API with tools, called from the daemon (the key never leaves it).
    case anthropic
    /// The Claude Code CLI in the `autofix.image` container, reaching the API only through the model proxy.
    case claudeCode = "claude-code"
    /// A shell command in the run's image (`autofix.command`), e.g. a local model or a script.
    case command
    /// Autofix is off.
    case off

    /// Whether the fixer runs in a container that reaches the API through the model proxy.
    package var usesModelProxy: Bool { self == .claudeCode || self == .command }
}
