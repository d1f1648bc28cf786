import Core
import Foundation
import Testing

@Suite("RunnerConfig")
struct RunnerConfigTests {
    @Test("no keys at all gives the documented defaults", arguments: ["", "\n", "# nothing set\n"])
    func defaults(_ text: String) throws {
        let config = try RunnerConfig.parse(text, file: "pushbox.yml")
        #expect(config == RunnerConfig())
        #expect(config.listen == "127.0.0.1:7070")
        #expect(config.url == "http://127.0.0.1:7070")
        #expect(config.concurrency == 2)
        #expect(config.engine == "auto")
        #expect(config.logCap == 100 * 1024 * 1024)
        #expect(config.reconcileEvery == .seconds(60))
        #expect(config.autofix.backend == .anthropic)
        #expect(config.autofix.model == "claude-sonnet-5-5")
        #expect(config.autofix.apiKeyEnv == "ANTHROPIC_API_KEY")
        #expect(config.autofix.maxAttempts == 3)
        #expect(config.autofix.maxTurns == 30)
        #expect(config.autofix.maxCostUSD == 2.0)
        #expect(config.vm.profiles == nil)
        #expect(config.vm.images == nil)
        #expect(config.vm.concurrency == 1)
        #expect(config.imagePath.isEmpty)
        #expect(config.cacheMax == 5 << 30)
        #expect(config.artifactsMax == 1 << 30)
        #expect(config.artifactsKeep == 20)
        #expect(config.workspaceQuota == 10 << 30)
    }

    @Test("workspace_quota: a size of at least 16m, or none")
    func workspaceQuota() throws {
        #expect(try RunnerConfig.parse("workspace_quota: 64m\n", file: "p.yml").workspaceQuota == 64 << 20)
        #expect(try RunnerConfig.parse("workspace_quota: none\n", file: "p.yml").workspaceQuota == nil)
        let small = #expect(throws: SpecError.self) { try RunnerConfig.parse("workspace_quota: 1m\n", file: "p.yml") }
        #expect(small?.message == "workspace_quota must be at least 16m, or none")
        let word = #expect(throws: SpecError.self) { try RunnerConfig.parse("workspace_quota: huge\n", file: "p.yml") }
        #expect(word?.message.contains("workspace_quota (or none) must be a size") == true, "\(word?.message ?? "")")
    }

    @Test("the shipped runner-config/pushbox.yml states exactly the defaults")
    func shippedFileIsTheDefaults() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("runner-config/pushbox.yml")
        let config = try RunnerConfig.parse(try String(contentsOf: file, encoding: .utf8), file: file.path)
        #expect(config == RunnerConfig())
    }

    @Test("image_path, cache_max, artifacts_max, artifacts_keep are read and checked")
    func imagesCachesArtifacts() throws {
        let config = try RunnerConfig.parse("image_path: [/srv/images, images]\ncache_max: 200MB\nartifacts_max: 10m\nartifacts_keep: 3\n", file: "p.yml")
        #expect(config.imagePath == ["/srv/images", "images"])
        #expect(config.cacheMax == 200 * 1000 * 1000 || config.cacheMax == 200 << 20)
        #expect(config.artifactsMax == 10 << 20)
        #expect(config.artifactsKeep == 3)
        #expect(throws: SpecError.self) { try RunnerConfig.parse("artifacts_keep: 0\n", file: "p.yml") }
        #expect(throws: SpecError.self) { try RunnerConfig.parse("cache_max: lots\n", file: "p.yml") }
        #expect(try RunnerConfig.parse("image_path: /one\n", file: "p.yml").imagePath == ["/one"], "one directory may be given alone")
    }

    @Test("a file that is an empty document (`---`, keys commented out) gives the defaults")
    func emptyDocument() throws {
        let config = try RunnerConfig.parse("---\n# listen: 0.0.0.0:7070\n", file: "pushbox.yml")
        #expect(config == RunnerConfig())
    }

    @Test("every key is read")
    func allKeys() throws {
        let config = try RunnerConfig.parse("""
            listen: 0.0.0.0:8080
            url: https://ci.example.com/pushbox//
            concurrency: 4
            engine: unix:///run/podman/podman.sock
            log_cap: 10MB
            reconcile_every: 5m
            autofix: {backend: claude-code, model: claude-x, api_key_env: MY_KEY, max_attempts: 5, max_turns: 50, max_cost_usd: 1.5}
            vm: {profiles: /opt/pushbox/vm-profiles, images: /var/lib/vm-images, concurrency: 3}
            """, file: "pushbox.yml")
        #expect(config.listen == "0.0.0.0:8080")
        #expect(config.url == "https://ci.example.com/pushbox")
        #expect(config.concurrency == 4)
        #expect(config.engine == "unix:///run/podman/podman.sock")
        #expect(config.logCap == 10 << 20)
        #expect(config.reconcileEvery == .seconds(300))
        #expect(config.autofix.backend == .claudeCode)
        #expect(config.autofix.model == "claude-x")
        #expect(config.autofix.apiKeyEnv == "MY_KEY")
        #expect(config.autofix.maxAttempts == 5)
        #expect(config.autofix.maxTurns == 50)
        #expect(config.autofix.maxCostUSD == 1.5)
        #expect(config.vm.profiles == "/opt/pushbox/vm-profiles")
        #expect(config.vm.images == "/var/lib/vm-images")
        #expect(config.vm.concurrency == 3)
    }

    @Test("reports: webhook entries with their defaults")
    func reports() throws {
        let config = try RunnerConfig.parse("""
            reports:
              - {type: webhook, url: "https://hooks.example/ci", secret_env: PUSHBOX_WEBHOOK_SECRET, events: [queued, finished]}
              - {url: "http://127.0.0.1:9/x", repos: [app], retry_for: 1h, backoff: 2s}
            """, file: "pushbox.yml")
        #expect(config.reports.count == 2)
        #expect(config.reports[0].secretEnv == "PUSHBOX_WEBHOOK_SECRET" && config.reports[0].events == [.queued, .finished])
        #expect(config.reports[0].retryFor == .seconds(86_400) && config.reports[0].backoff == .seconds(10))
        #expect(config.reports[1].type == "webhook" && config.reports[1].events == [.finished] && config.reports[1].repos == ["app"])
        #expect(config.reports[1].retryFor == .seconds(3600) && config.reports[1].backoff == .seconds(2))
    }

    @Test("autofix.author sets the name and email of autofix commits")
    func autofixAuthor() throws {
        let config = try RunnerConfig.parse("autofix:\n  author: \"Review Bot <bot@example.org>\"\n", file: "pushbox.yml")
        #expect(config.autofix.authorName == "Review Bot" && config.autofix.authorEmail == "bot@example.org")
        #expect(RunnerConfig().autofix.authorName == "Pushbox Autofix" && RunnerConfig().autofix.authorEmail == "autofix@pushbox.invalid")
        #expect(RunnerConfig.Autofix.parseAuthor("<a@b>") == nil)
        #expect(RunnerConfig.Autofix.parseAuthor("A <>") == nil)
        #expect(RunnerConfig.Autofix.parseAuthor("A <a@b") == nil)
    }

    @Test("url is derived from listen when not given", arguments: [
        ("listen: 0.0.0.0:9000", "http://0.0.0.0:9000"),
        ("listen: \"[::1]:7070\"", "http://[::1]:7070"),
        ("listen: localhost:1234", "http://localhost:1234"),
        ("concurrency: 3", "http://127.0.0.1:7070"),
        ("listen: 0.0.0.0:9000\nurl: http://ci.local", "http://ci.local"),
        ("url: http://ci.local/\nlisten: 0.0.0.0:9000", "http://ci.local"),
    ])
    func derivedURL(_ text: String, _ url: String) throws {
        #expect(try RunnerConfig.parse(text, file: "pushbox.yml").url == url)
    }

    @Test("the annotated runner-config/pushbox.yml parses to the defaults")
    func shippedDefaultFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("runner-config/pushbox.yml"), encoding: .utf8)
        #expect(try RunnerConfig.parse(text, file: "pushbox.yml") == RunnerConfig())
    }

    @Test("the DESIGN §4 runner configuration parses, reporters included")
    func designExample() throws {
        let text = """
            listen: 127.0.0.1:7070
            url: http://127.0.0.1:7070          # base of the links in notes, push output and reports
            concurrency: 2
            engine: auto                        # auto | unix:///path/to/docker-or-podman.sock
            log_cap: 100MB                      # per step; beyond it the log says "[truncated: N bytes]"
            reconcile_every: 60s
            autofix: {backend: anthropic, model: claude-sonnet-5-5, api_key_env: ANTHROPIC_API_KEY,
                      max_attempts: 3, max_turns: 30, max_cost_usd: 2.00}
            vm: {profiles: /opt/pushbox/vm-profiles, images: /root/.pushbox/vm-images}
            reports:                            # several at once; `repos` limits one to some repo names
              - {type: webhook, url: "https://hooks.example/ci", secret_env: PUSHBOX_WEBHOOK_SECRET, events: [finished]}
              - {type: gitea, url: "https://git.example/api/v1", token_env: GITEA_TOKEN, repos: {app: org/app}}
            """
        let config = try RunnerConfig.parse(text, file: "pushbox.yml")
        #expect(config.listen == "127.0.0.1:7070")
        #expect(config.reports.map(\.type) == ["webhook", "gitea"])
        #expect(config.reports[1].tokenEnv == "GITEA_TOKEN" && config.reports[1].projects == ["app": "org/app"])
        #expect(config.reports[1].repos == ["app"] && config.reports[1].events == [.queued, .started, .finished])
        #expect(config.reports[1].context == "pushbox/ci")
    }

    struct ConfigError: Sendable, CustomTestStringConvertible {
        var name: String
        var yaml: String
        var line: Int
        var column: Int
        var fragment: String
        var testDescription: String { name }
    }

    static let errors: [ConfigError] = [
        .init(name: "unknown key with suggestion", yaml: "concurrency: 2\nlissen: 0.0.0.0:1\n", line: 2, column: 1,
              fragment: "unknown key \"lissen\" in the runner configuration (expected one of: listen, url"),
        .init(name: "unknown key suggests", yaml: "concurrency: 2\nlog-cap: 1g\n", line: 2, column: 1,
              fragment: "did you mean \"log_cap\"?"),
        .init(name: "listen without a port", yaml: "listen: localhost\n", line: 1, column: 9,
              fragment: "listen must be HOST:PORT such as 127.0.0.1:7070, found \"localhost\""),
        .init(name: "listen with a port out of range", yaml: "\nlisten: 127.0.0.1:99999\n", line: 2, column: 9,
              fragment: "listen must be HOST:PORT"),
        .init(name: "listen without a host", yaml: "listen: \":7070\"\n", line: 1, column: 9, fragment: "found \":7070\""),
        .init(name: "listen with a named port", yaml: "listen: 127.0.0.1:http\n", line: 1, column: 9, fragment: "listen must be HOST:PORT"),
        .init(name: "concurrency zero", yaml: "concurrency: 0\n", line: 1, column: 14,
              fragment: "concurrency must be between 1 and 64, found 0"),
        .init(name: "engine tcp", yaml: "engine: tcp://127.0.0.1:2375\n", line: 1, column: 9,
              fragment: "engine must be auto or unix:///path/to/engine.sock"),
        .init(name: "bad log_cap", yaml: "log_cap: huge\n", line: 1, column: 10, fragment: "log_cap must be a size"),
        .init(name: "bad reconcile_every", yaml: "reconcile_every: often\n", line: 1, column: 18,
              fragment: "reconcile_every must be a duration"),
        .init(name: "bad autofix backend", yaml: "autofix:\n  backend: openai\n", line: 2, column: 12,
              fragment: "autofix.backend must be anthropic, claude-code, command or off"),
        .init(name: "unknown autofix key", yaml: "autofix:\n  max_attempt: 2\n", line: 2, column: 3,
              fragment: "did you mean \"max_attempts\"?"),
        .init(name: "autofix author without an email", yaml: "autofix:\n  author: Review Bot\n", line: 2, column: 11,
              fragment: "autofix.author must look like \"Name <email>\", found \"Review Bot\""),
        .init(name: "autofix author with a newline", yaml: "autofix:\n  author: \"Bot\\n <b@x>\"\n", line: 2, column: 11,
              fragment: "autofix.author must look like"),
        .init(name: "forge reporter without a token", yaml: "reports:\n  - {type: gitea, url: \"https://git.example/api/v1\", repos: {app: org/app}}\n", line: 2, column: 12,
              fragment: "a gitea reports entry needs token_env:"),
        .init(name: "forge reporter with a list of repos", yaml: "reports:\n  - {type: github, url: \"https://api.github.com\", token_env: T, repos: [app]}\n", line: 2, column: 72,
              fragment: "a github reports entry needs repos: as a mapping of registered repository name to the forge's project"),
        .init(name: "unknown reporter type", yaml: "reports:\n  - {type: slack, url: \"https://h.example\"}\n", line: 2, column: 12,
              fragment: "reports type must be one of webhook, gitea, github, gitlab, found \"slack\""),
        .init(name: "webhook event unknown", yaml: "reports:\n  - {url: \"https://h.example/x\", events: [done]}\n", line: 2, column: 42,
              fragment: "reports events: \"done\" is not one of queued, started, finished"),
        .init(name: "webhook url not http", yaml: "reports:\n  - {url: \"ftp://h.example/x\"}\n", line: 2, column: 11,
              fragment: "reports url must start with http:// or https://"),
        .init(name: "webhook without url", yaml: "reports:\n  - {type: webhook}\n", line: 2, column: 5,
              fragment: "a reports entry needs url:"),
        .init(name: "unknown vm key", yaml: "vm: {profile: /x}\n", line: 1, column: 6, fragment: "did you mean \"profiles\"?"),
        .init(name: "vm concurrency too high", yaml: "vm: {concurrency: 17}\n", line: 1, column: 19,
              fragment: "vm.concurrency must be between 1 and 16"),
        .init(name: "not a mapping", yaml: "- listen\n", line: 1, column: 1,
              fragment: "the runner configuration must be a mapping"),
    ]

    @Test("errors name line, column and the problem", arguments: errors)
    func error(_ c: ConfigError) throws {
        let error = #expect(throws: SpecError.self) { try RunnerConfig.parse(c.yaml, file: "/home/u/.pushbox/pushbox.yml") }
        #expect(error?.file == "/home/u/.pushbox/pushbox.yml")
        #expect(error?.line == c.line, "\(String(describing: error))")
        #expect(error?.column == c.column, "\(String(describing: error))")
        #expect(error?.message.contains(c.fragment) == true, "\(String(describing: error))")
    }

    @Test("ListenAddress accepts", arguments: [
        ("127.0.0.1:7070", "127.0.0.1", 7070, true),
        ("[::1]:7070", "::1", 7070, true),
        ("::1:7070", "::1", 7070, true),
        ("localhost:80", "localhost", 80, true),
        ("0.0.0.0:0", "0.0.0.0", 0, false),
        ("ci.example.com:65535", "ci.example.com", 65535, false),
        ("[2001:db8::1]:443", "2001:db8::1", 443, false),
    ])
    func listenAddress(_ text: String, _ host: String, _ port: Int, _ loopback: Bool) throws {
        let address = try #require(ListenAddress(text))
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.isLoopback == loopback)
    }

    @Test("ListenAddress rejects", arguments: ["7070", ":7070", "host:", "host:65536", "host:-1", "[]:80", "", "host:http",
                                               "host: 80"])
    func listenAddressRejects(_ text: String) {
        #expect(ListenAddress(text) == nil)
    }
}

@Suite("RunnerConfig autofix keys")
struct RunnerConfigAutofixTests {
    @Test("base_url, command, wall_time and prices parse; defaults stay")
    func autofixKeys() throws {
        let config = try RunnerConfig.parse("""
            autofix:
              backend: command
              command: ./fix.sh
              base_url: http://127.0.0.1:9/
              wall_time: 90s
              prices: {claude-test: {input: 1.5, output: 7}}
            """, file: "pushbox.yml")
        #expect(config.autofix.backend == .command)
        #expect(config.autofix.command == "./fix.sh")
        #expect(config.autofix.baseURL == "http://127.0.0.1:9")
        #expect(config.autofix.wallTimePerAttempt == .seconds(90))
        #expect(config.autofix.prices["claude-test"] == RunnerConfig.ModelRate(input: 1.5, output: 7))
        #expect(RunnerConfig().autofix.wallTimePerAttempt == .seconds(600))
        #expect(RunnerConfig().autofix.baseURL == nil)
    }

    @Test("the command backend needs a command; a price needs input and output")
    func refusals() {
        #expect(throws: SpecError.self) { try RunnerConfig.parse("autofix: {backend: command}", file: "pushbox.yml") }
        #expect(throws: SpecError.self) { try RunnerConfig.parse("autofix: {prices: {m: {input: 1}}}", file: "pushbox.yml") }
        #expect(throws: SpecError.self) { try RunnerConfig.parse("autofix: {prices: {m: {input: 1, output: 2, x: 3}}}", file: "pushbox.yml") }
    }
}
