import Core
import Foundation
import Testing
import TestSupport

/// No secret and no key inside any autofix sandbox: the real daemon, real pushes, real containers, the real
/// Claude Code CLI; only the Messages API is the fake (upstream of the daemon's model proxy).
@Suite("autofix sandboxes: no secret, no key, no network but the proxy", .serialized)
struct AutofixSandboxTests {
    static let secret = AutofixTests.secret

    /// The forms a dump of `text` could take: verbatim, reversed, hex (whitespace removed), base64 at any
    /// of the three alignments.
    static func forms(of text: String) -> [String] {
        let bytes = Array(text.utf8)
        var forms = [text, String(text.reversed()), bytes.map { String(format: "%02x", $0) }.joined()]
        for shift in 0..<3 {
            let encoded = Data(Array(repeating: UInt8(ascii: "x"), count: shift) + bytes).base64EncodedString()
            // Skip the characters that depend on the padding bytes, and the last (partial) group.
            let start = encoded.index(encoded.startIndex, offsetBy: (shift * 4 + 2) / 3 + (shift == 0 ? 0 : 1))
            forms.append(String(encoded[start...].dropLast(4)))
        }
        return forms
    }

    /// Whether `haystack` (with whitespace removed too, for the hex dump) holds any form of `text`.
    static func leaks(_ text: String, in haystack: String) -> String? {
        let squeezed = haystack.filter { !$0.isWhitespace }
        return forms(of: text).first { haystack.contains($0) || squeezed.contains($0) }
    }

    /// Every log and JSON file under the run's directory.
    static func recordedFiles(_ pushbox: DaemonFixture, run: Int64) -> [(String, String)] {
        let runDir = pushbox.home.appendingPathComponent("runs/\(run)")
        var files: [(String, String)] = []
        let enumerator = FileManager.default.enumerator(at: runDir, includingPropertiesForKeys: nil)
        while let url = enumerator?.nextObject() as? URL {
            guard url.pathExtension == "log" || url.pathExtension == "json" else { continue }
            files.append((url.path, (try? String(contentsOf: url, encoding: .utf8)) ?? ""))
        }
        return files
    }

    static let dumps = "env; echo ===rev; env | rev; echo ===hex; env | od -An -tx1; echo ===base64; env | base64 -w0; echo; echo ===end"

    @Test("anthropic: env, env | rev, a hex and a base64 dump through run_command show no secret and no key")
    func anthropicRunCommandHasNoSecret() async throws {
        let fake = try await FakeAnthropicServer.start(apiKey: "sk-ant-real-\(UUID().uuidString)")
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: AutofixTests.anthropicConfig(fake))
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey, "DEPLOY_TOKEN": Self.secret])
        let repo = try pushbox.makeRepo()
        try AutofixTests.buggyProject(in: repo, pipeline: """
            secrets: [DEPLOY_TOKEN]
            steps:
              - {name: build, run: make}
              - {name: test, run: 'test -n "$DEPLOY_TOKEN" && make test'}
            """)
        let input = try JSONSerialization.data(withJSONObject: ["command": Self.dumps])
        fake.enqueue(
            .toolUse([(id: "toolu_env", name: "run_command", input: String(decoding: input, as: UTF8.self))]),
            AutofixTests.edit("toolu_fix", "a-b", "a+b"),
            .text("add() subtracted; it now adds."))
        let (sha, run, _) = try AutofixTests.pushAndWait(pushbox, repo)
        // The fix passed its verification, whose `test` step needs the secret: the verification run has it.
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (1 attempt, $0.00)", "\(run)\n\(pushbox.daemonOutput().suffix(3000))")
        let requests = fake.requests
        #expect(requests.count == 3)
        let toolResult = try #require(requests.dropFirst().first?.bodyText)
        #expect(toolResult.contains("toolu_env") && toolResult.contains("PUSHBOX_RUN_ID=") && toolResult.contains("===end"),
                "the dumps really ran: \(toolResult.prefix(2000))")
        #expect(toolResult.contains("1=DI_NUR_XOBHSUP"), "the reversed dump is there")
        for request in requests {
            #expect(Self.leaks(Self.secret, in: request.bodyText) == nil, "the secret in what the model was sent")
            #expect(Self.leaks(fake.apiKey, in: request.bodyText) == nil, "the key in what the model was sent")
        }
        for (path, text) in Self.recordedFiles(pushbox, run: run.id) {
            #expect(Self.leaks(Self.secret, in: text) == nil, "\(path)")
            #expect(Self.leaks(fake.apiKey, in: text) == nil, "\(path)")
        }
        #expect(Self.leaks(Self.secret, in: pushbox.daemonOutput()) == nil)
    }

    @Test("claude-code: no key or secret in the container, only the proxy on its loopback; the proxy adds the key; tokens recorded")
    func claudeCodeContainerHoldsOnlyAToken() async throws {
        let fake = try await FakeAnthropicServer.start(apiKey: "sk-ant-real-\(UUID().uuidString)")
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: """
            autofix:
              backend: claude-code
              base_url: \(fake.baseURL)
              api_key_env: PUSHBOX_TEST_ANTHROPIC_KEY
              model: claude-sonnet-5-5
            """)
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey, "DEPLOY_TOKEN": Self.secret])
        // A loopback service of the host that no container may reach; the host itself reaches it.
        let hostService = try LoopbackListener()
        defer { hostService.close() }
        let mirror = Self.mirrorAddress()
        #expect(Self.hostCanConnect(mirror, 80), "the host reaches \(mirror):80, so the container's failure to is the sandbox's doing")
        let repo = try pushbox.makeRepo()
        try AutofixTests.buggyProject(in: repo, pipeline: Projects.defaultPipeline + "\nsecrets: [DEPLOY_TOKEN]\n")
        // The key in two halves, so that no command line or session file holds it whole.
        let half = fake.apiKey.index(fake.apiKey.startIndex, offsetBy: fake.apiKey.count / 2)
        let (keyStart, keyEnd) = (String(fake.apiKey[..<half]), String(fake.apiKey[half...]))
        let secretHalf = Self.secret.index(Self.secret.startIndex, offsetBy: Self.secret.count / 2)
        let (secretStart, secretEnd) = (String(Self.secret[..<secretHalf]), String(Self.secret[secretHalf...]))
        let look = """
            env; echo ===environ; cat /proc/1/environ | tr '\\0' '\\n'; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | sort -u | grep -c . ; \
            echo ===grep; A=\(keyStart); B=\(keyEnd); C=\(secretStart); D=\(secretEnd); \
            grep -rIl -e "$A$B" -e "$C$D" --exclude-dir=proc --exclude-dir=sys / 2>/dev/null | head -5; echo "grep done"; \
            echo "environ matches: $(cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c -e "$A$B" -e "$C$D")"; echo ===end
            """
        let probe = """
            p() { if timeout 3 bash -c "echo > /dev/tcp/$1/$2" 2>/dev/null; then echo "$1:$2 open"; else echo "$1:$2 closed"; fi; }; \
            p 127.0.0.1 \(pushbox.port); p 10.0.2.2 \(pushbox.port); p 127.0.0.1 \(hostService.port); p 10.0.2.2 \(hostService.port); \
            p 127.0.0.1 \(fake.port); p \(mirror) 80; p 1.1.1.1 443; p 127.0.0.1 4180; \
            exec 3<>/dev/tcp/127.0.0.1/4180 && printf 'GET /v1/models HTTP/1.1\\r\\nHost: x\\r\\nx-api-key: %s\\r\\nConnection: close\\r\\n\\r\\n' "$ANTHROPIC_API_KEY" >&3 && \
            echo "proxy says: $(head -1 <&3)"; ip -o addr 2>/dev/null | awk '{print "iface", $2, $4}'; cat /proc/net/dev | tail -n +3 | awk '{print "dev", $1}'
            """
        func bash(_ id: String, _ command: String) throws -> FakeBehaviour {
            let input = try JSONSerialization.data(withJSONObject: ["command": command, "description": "Look around"])
            return .toolUse([(id: id, name: "Bash", input: String(decoding: input, as: UTF8.self))],
                            usage: FakeUsage(inputTokens: 1000, outputTokens: 50, cacheCreationInputTokens: 200, cacheReadInputTokens: 300))
        }
        fake.enqueue(
            try bash("toolu_look", look),
            try bash("toolu_probe", probe),
            .toolUse([(id: "toolu_edit", name: "Edit", input: #"{"file_path":"/workspace/hello.c","old_string":"a-b","new_string":"a+b"}"#)],
                     usage: FakeUsage(inputTokens: 1000, outputTokens: 50, cacheCreationInputTokens: 200, cacheReadInputTokens: 300)),
            .text("Fixed add: it subtracted.", usage: FakeUsage(inputTokens: 1000, outputTokens: 50, cacheCreationInputTokens: 200, cacheReadInputTokens: 300)))
        let (sha, run, _) = try AutofixTests.pushAndWait(pushbox, repo)
        #expect(run.autofix?.hasPrefix("passed autofix/main/\(sha.prefix(8)) (1 attempt, $") == true, "\(run)\n\(pushbox.daemonOutput().suffix(3000))")
        let requests = fake.requests
        #expect(requests.count == 4, "\(requests.map { "\($0.path) \($0.responseStatus) \($0.validationFailure ?? "")" })")

        // What the fake received carries the REAL key, added by the proxy; the container had only its token.
        #expect(requests.allSatisfy { $0.header("x-api-key") == fake.apiKey && $0.header("authorization") == nil })
        #expect(requests.allSatisfy { $0.header("user-agent")?.hasPrefix("claude-cli/") == true })
        let looked = requests[1].bodyText, probed = requests[2].bodyText
        #expect(looked.contains("toolu_look") && looked.contains("===environ") && looked.contains("grep done") && looked.contains("===end"),
                "the commands ran: \(looked.suffix(3000))")
        #expect(looked.contains("ANTHROPIC_API_KEY=pbx-attempt-"), "the container's key is the attempt's token")
        // What the file system search found (the names of files holding the key or the secret whole) and
        // how many environment lines of any process hold them: nothing, and 0.
        let lookOutput = try #require(Self.toolResult("toolu_look", in: requests[1]), "\(looked.suffix(2000))")
        let found = try #require(Self.between("===grep\n", "grep done", in: lookOutput), "\(lookOutput.suffix(2000))")
        #expect(found.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "files holding the key or the secret: \(found)")
        #expect(lookOutput.contains("environ matches: 0\n"),
                "processes whose environment holds the key or the secret: \(lookOutput.suffix(300))")
        #expect(looked.contains("ANTHROPIC_BASE_URL=http://127.0.0.1:4180"))
        for request in requests {
            #expect(Self.leaks(fake.apiKey, in: request.bodyText) == nil, "the real key in the container: \(request.bodyText.suffix(2000))")
            #expect(Self.leaks(Self.secret, in: request.bodyText) == nil, "the secret in the container")
        }
        // The token worked only for this attempt: it is revoked, and it is masked in what Pushbox keeps.
        let token = try #require(looked.range(of: #"pbx-attempt-[0-9a-f]{64}"#, options: .regularExpression).map { String(looked[$0]) })
        for (path, text) in Self.recordedFiles(pushbox, run: run.id) {
            #expect(!text.contains(token) && !text.contains(fake.apiKey) && !text.contains(Self.secret), "\(path)")
        }

        // The network: only the proxy, on the container's own loopback.
        #expect(probed.contains("127.0.0.1:\(pushbox.port) closed") && probed.contains("10.0.2.2:\(pushbox.port) closed"),
                "the daemon's HTTP port: \(probed.suffix(2000))")
        #expect(probed.contains("127.0.0.1:\(hostService.port) closed") && probed.contains("10.0.2.2:\(hostService.port) closed"),
                "another loopback service of the host")
        #expect(probed.contains("127.0.0.1:\(fake.port) closed"), "the model API itself, around the proxy")
        #expect(probed.contains("\(mirror):80 closed") && probed.contains("1.1.1.1:443 closed"), "no egress")
        #expect(probed.contains("127.0.0.1:4180 open") && probed.contains("proxy says: HTTP/1.1 404"), "the proxy answers, and refuses /v1/models")
        #expect(!probed.contains("dev eth") && !probed.contains("dev tap"), "only lo: \(probed.suffix(600))")
        #expect(hostService.isOpen, "the host service was listening all along")

        // The proxy's usage is the attempt's: tokens in fix_attempts.json and the API.
        let records = try AutofixTests.attempts(pushbox, run: run.id)
        let usage = try #require((records.first?["transcript"] as? [String: Any])?["usage"] as? [String: Any], "\(records)")
        #expect(usage["input_tokens"] as? Int == 4000 && usage["output_tokens"] as? Int == 200)
        #expect(usage["cache_creation_input_tokens"] as? Int == 800 && usage["cache_read_input_tokens"] as? Int == 1200)
        // (4000 × 3 + 200 × 15 + 800 × 3.75 + 1200 × 0.3) per million.
        #expect(abs((records.first?["cost_usd"] as? Double ?? 0) - 0.01836) < 1e-9, "\(records)")
        let api = try HTTPGet.fetch("http://127.0.0.1:\(pushbox.port)/api/v1/runs/\(run.id)/attempts").body
        let listed = try #require((try JSONSerialization.jsonObject(with: Data(api.utf8)) as? [String: Any])?["attempts"] as? [[String: Any]], "\(api)")
        #expect(listed.first?["input_tokens"] as? Int == 4000 && listed.first?["output_tokens"] as? Int == 200, "\(api)")
        #expect(listed.first?["cache_read_tokens"] as? Int == 1200 && listed.first?["cache_write_tokens"] as? Int == 800 && listed.first?["turns"] as? Int == 4, "\(api)")

        // Nothing left: no forwarder, no attempt container (nor any other container of this daemon).
        let forwarders = try Command.run(["pgrep", "-f", "UNIX-CONNECT:\(pushbox.home.path)/model-proxy-"])
        #expect(forwarders.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "leftover forwarders: \(forwarders.output)")
        var containers = try SupersedeTests.leftoverContainers(pushbox)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while !containers.isEmpty && clock.now < deadline {   // the last destroy may still be on its way
            try await Task.sleep(for: .milliseconds(200))
            containers = try SupersedeTests.leftoverContainers(pushbox)
        }
        #expect(containers.isEmpty, "leftover containers of the daemon: \(containers)")
    }

    @Test("command backend with a key: network none, the proxy at ANTHROPIC_BASE_URL with a token, the real key added upstream")
    func commandBackendUsesTheProxy() async throws {
        let fake = try await FakeAnthropicServer.start(apiKey: "sk-ant-real-\(UUID().uuidString)")
        defer { Task { await fake.stop() } }
        let pushbox = try DaemonFixture(config: """
            autofix:
              backend: command
              command: "bash agent.sh"
              base_url: \(fake.baseURL)
              api_key_env: PUSHBOX_TEST_ANTHROPIC_KEY
            """)
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_ANTHROPIC_KEY": fake.apiKey, "DEPLOY_TOKEN": Self.secret])
        let repo = try pushbox.makeRepo()
        try AutofixTests.buggyProject(in: repo, pipeline: Projects.defaultPipeline + "\nsecrets: [DEPLOY_TOKEN]\n")
        let mirror = Self.mirrorAddress()
        // An agent of the user's: asks the model API (here: count_tokens) through the proxy, looks around, fixes.
        try repo.write("agent.sh", #"""
            body='{"model":"claude-sonnet-5-5","messages":[{"role":"user","content":"hi"}]}'
            exec 3<>/dev/tcp/127.0.0.1/4180
            printf 'POST /v1/messages/count_tokens HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: %s\r\nConnection: close\r\n\r\n%s' "$ANTHROPIC_API_KEY" "${#body}" "$body" >&3
            echo "proxy: $(head -1 <&3)"
            exec 3<&-
            send() {
              exec 3<>/dev/tcp/127.0.0.1/4180
              printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\ncontent-length: %s\r\nConnection: close\r\n\r\n%s' "$ANTHROPIC_API_KEY" "${#2}" "$2" >&3
              answer=$(cat <&3); exec 3<&-
              echo "$1: $(echo "$answer" | head -1)"
              echo "$answer" | grep -o 'the field mcp_servers is refused' || true
            }
            send mcp '{"model":"claude-sonnet-5-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}],"mcp_servers":[{"type":"url","url":"https://evil.example/sse","name":"evil"}]}'
            send fetch '{"model":"claude-sonnet-5-5","max_tokens":50,"messages":[{"role":"user","content":"fetch it"}],"tools":[{"name":"Bash","description":"run","input_schema":{"type":"object","properties":{}}},{"type":"web_fetch_20250910","name":"web_fetch","max_uses":1}]}'
            echo "base: $ANTHROPIC_BASE_URL"
            echo "token: ${ANTHROPIC_API_KEY:0:12}"
            echo "secret vars: $(env | grep -c DEPLOY_TOKEN)"
            if timeout 3 bash -c "echo > /dev/tcp/\#(mirror)/80" 2>/dev/null; then echo "mirror open"; else echo "mirror closed"; fi
            sed -i 's/a-b/a+b/' hello.c
            echo fixed add
            """#)
        fake.enqueue(.text("fetched nothing"))
        let (sha, run, _) = try AutofixTests.pushAndWait(pushbox, repo)
        #expect(run.autofix == "passed autofix/main/\(sha.prefix(8)) (1 attempt, $0.00)", "\(run)\n\(pushbox.daemonOutput().suffix(3000))")
        let log = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(run.id)/attempts/1/command.log"), encoding: .utf8)
        #expect(log.contains("proxy: HTTP/1.1 200") && log.contains("base: http://127.0.0.1:4180"), "\(log)")
        // From the container: a request naming an MCP server is the proxy's 400; a server tool is taken out.
        #expect(log.contains("mcp: HTTP/1.1 400") && log.contains("the field mcp_servers is refused"), "\(log)")
        #expect(log.contains("fetch: HTTP/1.1 200"), "\(log)")
        #expect(log.contains("token: pbx-attempt-") && log.contains("secret vars: 0") && log.contains("mirror closed"), "\(log)")
        let requests = fake.requests
        #expect(requests.count == 2, "\(requests.map { "\($0.path) \($0.bodyText.prefix(300))" })")
        #expect(requests.first?.path == "/v1/messages/count_tokens" && requests.allSatisfy { $0.header("x-api-key") == fake.apiKey })
        #expect(!requests.contains { $0.bodyText.contains("mcp_servers") || $0.bodyText.contains("evil.example") }, "the refused request never went upstream")
        let fetched = try #require(requests.last)
        #expect(fetched.path == "/v1/messages" && fetched.validationFailure == nil && fetched.bodyText.contains("fetch it"), "\(fetched.bodyText)")
        let tools = (try? JSONSerialization.jsonObject(with: fetched.body) as? [String: Any])?["tools"] as? [[String: Any]]
        #expect(tools?.map { $0["name"] as? String } == ["Bash"] && !fetched.bodyText.contains("web_fetch"), "\(fetched.bodyText)")
        for (path, text) in Self.recordedFiles(pushbox, run: run.id) {
            #expect(!text.contains(fake.apiKey) && !text.contains(Self.secret), "\(path)")
        }
    }

    /// The text of the `tool_result` for `id` in a request's messages (a string, or its text blocks joined).
    static func toolResult(_ id: String, in request: RecordedRequest) -> String? {
        let messages = (try? JSONSerialization.jsonObject(with: request.body) as? [String: Any])?["messages"] as? [[String: Any]] ?? []
        for message in messages {
            for block in message["content"] as? [[String: Any]] ?? [] where block["type"] as? String == "tool_result" && block["tool_use_id"] as? String == id {
                if let text = block["content"] as? String { return text }
                return (block["content"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }.joined(separator: "\n")
            }
        }
        return nil
    }

    /// What `text` holds between the first `start` and the next `end`, nil when either is missing.
    static func between(_ start: String, _ end: String, in text: String) -> String? {
        guard let open = text.range(of: start), let close = text.range(of: end, range: open.upperBound..<text.endIndex) else { return nil }
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// The Debian mirror's first IPv4 address (the host reaches it: apt works here).
    static func mirrorAddress() -> String {
        let sources = (try? String(contentsOfFile: "/etc/apt/sources.list.d/debian.sources", encoding: .utf8)) ?? ""
        let host = sources.split(separator: "\n").first { $0.hasPrefix("URIs:") }
            .flatMap { URL(string: String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces))?.host } ?? "deb.debian.org"
        var hints = addrinfo(ai_flags: 0, ai_family: AF_INET, ai_socktype: Int32(SOCK_STREAM.rawValue), ai_protocol: 0,
                             ai_addrlen: 0, ai_addr: nil, ai_canonname: nil, ai_next: nil)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, "80", &hints, &result) == 0, let first = result else { return host }
        defer { freeaddrinfo(result) }
        var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        let address = first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        var copy = address
        inet_ntop(AF_INET, &copy, &buffer, socklen_t(INET_ADDRSTRLEN))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func hostCanConnect(_ host: String, _ port: Int) -> Bool {
        (try? Command.run(["timeout", "5", "bash", "-c", "echo > /dev/tcp/\(host)/\(port)"]))?.status == 0
    }
}

/// A TCP listener on the host's 127.0.0.1 (a stand-in for any loopback service), closed by `close`.
final class LoopbackListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            _ = Glibc.close(fd)
            throw CocoaError(.fileWriteUnknown)
        }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.fd = fd
    }

    /// Still listening: a connection from the host succeeds.
    var isOpen: Bool { AutofixSandboxTests.hostCanConnect("127.0.0.1", port) }

    func close() { _ = Glibc.close(fd) }
}
