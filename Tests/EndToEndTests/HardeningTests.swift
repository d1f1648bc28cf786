import Core
import Foundation
import Testing
import TestSupport

/// Container hardening, asserted from inside real jobs pushed through the real daemon.
@Suite("container hardening", .serialized)
struct HardeningTests {
    /// Whether `condition` holds within `seconds` (a run's workspace is released just after it is reported).
    static func eventually(_ seconds: Double = 15, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { return false }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return true
    }

    static func mountTable() -> String {
        (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    }

    @Test("only lo, not root, read-only /, writable workspace and tmp, no capabilities")
    func lockedDown() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            steps:
              - name: inspect
                run: |
                  echo "interfaces: $(ls /sys/class/net | tr '\\n' ' ')"
                  echo "uid: $(id -u)"
                  if touch /pushbox-root-write 2>/dev/null; then echo "root: writable"; else echo "root: read-only"; fi
                  if touch /workspace/out.txt; then echo "workspace: writable"; fi
                  if touch /tmp/x; then echo "tmp: writable"; fi
                  echo "capeff: $(grep CapEff /proc/self/status | awk '{print $2}')"
                  echo "nonewprivs: $(grep NoNewPrivs /proc/self/status | awk '{print $2}')"
            """)
        try repo.commit("inspect")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .passed)
        let log = pushbox.log(run: id, step: "inspect")
        #expect(log.contains("interfaces: lo \n"), "\(log)")
        #expect(log.contains("uid: 1000"))
        #expect(log.contains("root: read-only"))
        #expect(log.contains("workspace: writable"))
        #expect(log.contains("tmp: writable"))
        #expect(log.contains("capeff: 0000000000000000"))
        #expect(log.contains("nonewprivs: 1"))
        // The workspace went with the run: nothing of it is left on the host.
        #expect(Self.eventually { !FileManager.default.fileExists(atPath: pushbox.home.appendingPathComponent("runs/\(id)/workspace").path) })
        #expect(!FileManager.default.fileExists(atPath: pushbox.home.appendingPathComponent("runs/\(id)/workspace.img").path))
    }

    @Test("a disk filler in /workspace stops at workspace_quota: the run fails and says so, nothing is left mounted, the next run is fine")
    func workspaceQuota() throws {
        let pushbox = try DaemonFixture(config: "workspace_quota: 64m\n")
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            steps:
              - name: fill
                run: |
                  echo "size: $(df -k /workspace | awk 'NR==2 {print $2}') KiB"
                  grep " /workspace " /proc/mounts
                  dd if=/dev/zero of=/workspace/fill bs=1M count=1000
            """)
        try repo.commit("fill the workspace")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let workspace = pushbox.home.appendingPathComponent("runs/\(id)/workspace").path
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .failed)
        #expect(run.message?.contains("the workspace is full (workspace_quota 64.0 MiB)") == true, "\(run.message ?? "")")
        let log = pushbox.log(run: id, step: "fill")
        #expect(log.contains("No space left on device"), "\(log)")
        let size = log.split(separator: "\n").first { $0.hasPrefix("size: ") }.flatMap { Int($0.dropFirst(6).split(separator: " ")[0]) } ?? 0
        #expect(size > 50_000 && size <= 65_536, "the job sees a file system of the quota's size: \(log)")
        #expect(log.contains("nosuid") && log.contains("nodev"))
        #expect(Self.eventually { !Self.mountTable().contains(workspace) }, "the volume is unmounted")
        #expect(!FileManager.default.fileExists(atPath: workspace + ".img"))
        #expect(try pushbox.note(repo, run.sha)?.contains("the workspace is full") == true)

        try repo.write(".pushbox.yml", "steps:\n  - {name: small, run: \"head -c 1000000 /dev/zero > /workspace/ok && ls -l /workspace/ok\"}\n")
        try repo.commit("small")
        let next = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(next).state == .passed)
    }

    @Test("network: egress reaches the mirror, but no host service (bridge gateway or loopback-only) and no link-local metadata address")
    func egressIsolation() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        // A first egress run makes the daemon create its network; its gateway is the host's address on it.
        try repo.write(".pushbox.yml", "network: egress\nsteps:\n  - {name: up, run: \"true\"}\n")
        try repo.commit("bring the network up")
        let first = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(first).state == .passed)
        let inspect = try Command.run(["podman", "network", "inspect", "pushbox-egress", "--format", "{{range .Subnets}}{{.Gateway}} {{end}}"])
        let gateway = try #require(inspect.output.split(separator: " ").first.map(String.init), "\(inspect.output)")
        // Host services a job must not reach: one on the bridge's gateway address (reachable only from that
        // bridge; IP_FREEBIND as the bridge may be down between runs) and one on the host's loopback.
        let gatewayPort = Int.random(in: 20_000...29_999), loopbackPort = gatewayPort + 10_000
        let listeners = try Foundation.Process.run(URL(fileURLWithPath: "/usr/bin/python3"), arguments: ["-c", """
            import socket, sys, time
            a = socket.socket(); a.setsockopt(socket.SOL_IP, 15, 1); a.bind((sys.argv[1], int(sys.argv[2]))); a.listen(8)
            b = socket.socket(); b.bind(("127.0.0.1", int(sys.argv[3]))); b.listen(8)
            time.sleep(120)
            """, gateway, String(gatewayPort), String(loopbackPort)])
        defer { kill(listeners.processIdentifier, SIGKILL); listeners.waitUntilExit() }
        let sources = (try? String(contentsOfFile: "/etc/apt/sources.list.d/debian.sources", encoding: .utf8)) ?? ""
        let mirror = sources.split(separator: "\n").first { $0.hasPrefix("URIs:") }
            .flatMap { URL(string: String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces))?.host } ?? "deb.debian.org"
        // Another repository's egress job, serving on its own address while the probe runs.
        let peer = try pushbox.makeRepo("peer")
        try peer.write(".pushbox.yml", """
            network: egress
            steps:
              - name: serve
                run: |
                  python3 -m http.server 8000 --bind 0.0.0.0 >/dev/null 2>&1 &
                  sleep 1
                  if timeout 5 bash -c "echo > /dev/tcp/127.0.0.1/8000"; then echo "self: open"; fi
                  echo "ip: $(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("10.255.255.255", 1)); print(s.getsockname()[0])')"
                  sleep 40
            """)
        try peer.commit("serve")
        let peerID = try #require(DaemonFixture.queuedRunIDs(in: try peer.push().output).first)
        let peerDeadline = ContinuousClock.now + .seconds(60)
        while !pushbox.log(run: peerID, step: "serve").contains("ip: "), ContinuousClock.now < peerDeadline { Thread.sleep(forTimeInterval: 0.3) }
        let peerLog = pushbox.log(run: peerID, step: "serve")
        #expect(peerLog.contains("self: open"), "the peer serves: \(peerLog)")
        let peerAddress = try #require(peerLog.split(separator: "\n").first { $0.hasPrefix("ip: ") }.map { String($0.dropFirst(4)) })
        try repo.write(".pushbox.yml", """
            network: egress
            steps:
              - name: probe
                run: |
                  probe() { if timeout 5 bash -c "echo > /dev/tcp/$1/$2" 2>/dev/null; then echo "$1:$2 open"; else echo "$1:$2 closed"; fi; }
                  probe \(gateway) \(gatewayPort)
                  probe \(gateway) \(loopbackPort)
                  probe 169.254.169.254 80
                  probe \(peerAddress) 8000
                  probe \(mirror) 80
                  echo "ipv6 off: $(cat /proc/sys/net/ipv6/conf/all/disable_ipv6)"
            """)
        try repo.commit("probe")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(id).state == .passed)
        let log = pushbox.log(run: id, step: "probe")
        #expect(log.contains("\(mirror):80 open"), "the outside is reachable: \(log)")
        #expect(log.contains("\(gateway):\(gatewayPort) closed"), "a host service on the bridge: \(log)")
        // (A loopback-only service is out of a bridge's reach anyway; asserted so it stays that way.)
        #expect(log.contains("\(gateway):\(loopbackPort) closed"), "a loopback-only host service: \(log)")
        #expect(log.contains("169.254.169.254:80 closed"), "link-local metadata: \(log)")
        #expect(log.contains("\(peerAddress):8000 closed"), "another egress job: \(log)")
        #expect(log.contains("ipv6 off: 1"), "\(log)")
        #expect(try pushbox.run(peerID).state == .running, "the peer was still serving while it was probed")
        #expect(listeners.isRunning, "the listeners were up the whole time")
        // The rules are in the host's firewall, in Pushbox's own table.
        let rules = try Command.run(["nft", "list", "table", "inet", "pushbox_egress"])
        #expect(rules.output.contains("169.254.0.0/16") && rules.output.contains("drop"), "\(rules.output)")
        #expect(try pushbox.waitForRun(peerID).state == .passed)
    }

    @Test("over TCP: paths that climb out never reach a host file; POSTs need the right token; a body over the limit is 413")
    func httpEdges() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: ok, run: \"mkdir -p out && echo x > out/a.txt\"}\nartifacts: [out/a.txt]\n")
        try repo.commit("one run")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(id).state == .passed)
        let base = "http://127.0.0.1:\(pushbox.port)"
        func request(_ arguments: [String]) throws -> (status: Int, body: String) {
            let body = pushbox.home.appendingPathComponent("http-body")
            let result = try Command.run(["curl", "-sS", "--path-as-is", "-o", body.path, "-w", "%{http_code}"] + arguments, mergeErrors: false)
            return (Int(result.output) ?? 0, (try? String(contentsOf: body, encoding: .utf8)) ?? "")
        }
        for path in ["/runs/../../../../etc/passwd", "/api/v1/runs/../../../../etc/passwd", "/api/v1/runs/\(id)/logs/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
                     "/api/v1/runs/\(id)/artifacts/../../../../../etc/passwd", "/api/v1/runs/\(id)/artifacts/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
                     "/api/v1/runs/\(id)/artifacts/out/../../../pushbox.sqlite", "/api/v1/runs/\(id)%2F..%2F..%2Ftoken"] {
            let answer = try request([base + path])
            #expect([400, 404].contains(answer.status), "\(path): \(answer.status)")
            #expect(!answer.body.contains("root:x:0") && !answer.body.contains("SQLite format"), "\(path)")
        }
        #expect(try request([base + "/api/v1/runs/\(id)/artifacts/out/a.txt"]) == (200, "x\n"), "the recorded artifact itself is served")

        #expect(try request(["-X", "POST", base + "/api/v1/runs/\(id)/retry"]).status == 401)
        #expect(try request(["-X", "POST", "-H", "Authorization: Bearer wrong", base + "/api/v1/runs/\(id)/retry"]).status == 401)
        let token = try String(contentsOf: pushbox.home.appendingPathComponent("token"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let huge = pushbox.home.appendingPathComponent("huge.json")
        try Data(repeating: UInt8(ascii: " "), count: 5 << 20).write(to: huge)
        #expect(try request(["-X", "POST", "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/json",
                             "--data-binary", "@\(huge.path)", base + "/api/v1/hooks/post-receive"]).status == 413)
        #expect(try request(["-X", "POST", "-H", "Authorization: Bearer \(token)", base + "/api/v1/runs/\(id)/retry"]).status == 200)
    }

    @Test("symlinks committed in the pushed tree (/etc/shadow, ../../.. = the runner home): checkout, JUnit and artifacts never read through them")
    func pushedSymlinks() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        // What `up` would reach from runs/<id>/workspace on the host: the runner home. Plant a JUnit file
        // there with 77 passing tests; the store is there too.
        let cases = String(repeating: "<testcase name=\"host\"/>", count: 77)
        try Data("<testsuite name=\"host\">\(cases)</testsuite>".utf8).write(to: pushbox.home.appendingPathComponent("planted.xml"))
        try FileManager.default.createSymbolicLink(atPath: repo.clone.appendingPathComponent("shadow").path, withDestinationPath: "/etc/shadow")
        try FileManager.default.createSymbolicLink(atPath: repo.clone.appendingPathComponent("up").path, withDestinationPath: "../../..")
        try repo.write(".pushbox.yml", """
            artifacts: [shadow, up/pushbox.sqlite, "up/*.xml", "results/*"]
            steps:
              - name: test
                run: |
                  mkdir -p results
                  echo '<testsuite name="own"><testcase name="a"/><testcase name="b"/></testsuite>' > results/own.xml
                  echo "job sees: $(readlink shadow) $(readlink up)"
                junit: "*/*.xml"
            """)
        let sha = try repo.commit("links out")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .passed, "\(run.message ?? "")")
        #expect(pushbox.log(run: id, step: "test").contains("job sees: /etc/shadow ../../.."), "committed as links")
        let checkout = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(id)/checkout.log"), encoding: .utf8)
        #expect(checkout.contains("symlinks pointing outside the workspace (kept as links, never followed by the runner): "), "\(checkout)")
        #expect(checkout.contains("shadow") && checkout.contains("up"))
        #expect(run.steps[0].testsPassed == 2, "only the job's own JUnit file counts, not the planted 77: \(String(describing: run.steps[0].testsPassed))")
        #expect(run.artifacts.map(\.path) == ["results/own.xml"], "\(run.artifacts)")
        let kept = pushbox.home.appendingPathComponent("runs/\(id)/artifacts")
        for path in ["shadow", "up", "up/pushbox.sqlite", "up/planted.xml"] {
            #expect(!FileManager.default.fileExists(atPath: kept.appendingPathComponent(path).path), "\(path) was not kept")
        }
        let note = try pushbox.note(repo, sha) ?? ""
        #expect(note.contains("2 passed") && !note.contains("77"), "\(note)")
    }

    @Test("a workspace a killed daemon left mounted is released at the next start")
    func volumeAfterKill() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - {name: slow, run: \"sleep 3\"}\n")
        try repo.commit("slow")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        _ = try pushbox.waitForRun(id) { $0.state == .running && $0.sandboxID != nil }
        let workspace = pushbox.home.appendingPathComponent("runs/\(id)/workspace").path
        #expect(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).contains(workspace), "the default quota mounts a volume")
        pushbox.stopDaemon(signal: SIGKILL)
        #expect(try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).contains(workspace))
        try pushbox.startDaemon()
        #expect(try pushbox.waitForRun(id).state == .passed)
        #expect(Self.eventually { !Self.mountTable().contains(pushbox.home.path + "/runs/") })
        #expect(!FileManager.default.fileExists(atPath: workspace + ".img"))
        #expect(pushbox.daemonOutput().contains("removed the workspaces interrupted runs left: [\(id)]"), "\(pushbox.daemonOutput().suffix(3000))")
    }

    @Test("from inside a job: no engine socket, runner home, store, bare repository, other run's workspace or model key")
    func containmentFromInside() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon(environment: ["ANTHROPIC_API_KEY": "sk-ant-must-not-leak"])
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "steps:\n  - echo first run\n")
        _ = try repo.commit("first")
        let first = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first))
        let home = pushbox.home.path
        let paths = ["/var/run/docker.sock", "/run/podman/podman.sock", "/run/docker.sock", home, "\(home)/pushbox.sqlite",
                     "\(home)/engine.sock", "\(home)/token", repo.bare.path, "\(home)/runs/\(first.id)/workspace"]
        let probes = paths.map { "if [ -e '\($0)' ]; then echo 'REACHABLE \($0)'; else echo 'absent \($0)'; fi" }
        try repo.write(".pushbox.yml", """
            steps:
              - name: probe
                run: |
            \(probes.map { "      " + $0 }.joined(separator: "\n"))
                  env | grep -c ANTHROPIC || true
                  (env; cat /proc/1/environ 2>/dev/null | tr '\\0' '\\n') | grep -q sk-ant-must-not-leak && echo 'REACHABLE key' || echo 'absent key'
                  ls / ; mount | grep -c ' /workspace ' || true
            """)
        _ = try repo.commit("probe")
        let run = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first))
        #expect(run.state == .passed)
        let log = pushbox.log(run: run.id, step: "probe")
        #expect(!log.contains("REACHABLE"), "\(log)")
        #expect(log.components(separatedBy: "absent ").count - 1 == paths.count + 1, "\(log)")
    }

    /// The host's processes whose command line contains `marker` (the steps below start uniquely marked sleeps).
    static func hostProcesses(containing marker: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
        }
    }

    @Test("a step that ignores SIGTERM is still stopped at the timeout; a detached daemonised child dies with the run")
    func stubbornProcesses() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        // Unique durations mark the sleeps, so only these are looked for on the host.
        let stubborn = "4242.\(Int.random(in: 100...999))", detached = "4343.\(Int.random(in: 100...999))"
        try repo.write(".pushbox.yml", """
            timeout: 5s
            steps:
              - name: detach
                run: "setsid nohup sleep \(detached) >/dev/null 2>&1 & echo detached"
              - name: stubborn
                run: "trap '' TERM INT; echo ignoring; sleep \(stubborn); echo never"
            """)
        _ = try repo.commit("stubborn")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        _ = try pushbox.waitForRun(id, timeout: .seconds(60)) { pushbox.log(run: $0.id, step: "stubborn").contains("ignoring") }
        #expect(!Self.hostProcesses(containing: "sleep \(detached)").isEmpty, "the detached child outlived its step while the run goes on")
        let run = try pushbox.waitForRun(id, timeout: .seconds(60))
        #expect(run.state == .failed)
        #expect(run.steps.first?.state == .passed)
        #expect(run.steps.last?.timedOut == true, "\(run.steps)")
        #expect(!pushbox.log(run: id, step: "stubborn").contains("never"))
        let duration = try #require(run.duration)
        #expect(duration < .seconds(45), "the timeout stops a SIGTERM-ignoring step (hang guard, not a benchmark): \(duration)")
        // The container is gone, and with it both processes.
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, !(Self.hostProcesses(containing: "sleep \(stubborn)") + Self.hostProcesses(containing: "sleep \(detached)")).isEmpty {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(Self.hostProcesses(containing: "sleep \(stubborn)").isEmpty)
        #expect(Self.hostProcesses(containing: "sleep \(detached)").isEmpty)
        #expect(pushbox.isDaemonRunning)
    }

    @Test("a fork bomb hits the pids limit; the daemon survives and serves the next run")
    func forkBomb() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            timeout: 20s
            resources: {pids: 64, memory: 256m, cpus: 1}
            steps:
              - name: bomb
                run: |
                  bomb() { bomb | bomb & }; bomb
                  sleep 5
                  echo "still alive"
            """)
        try repo.commit("fork bomb")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(90))
        #expect(run.state.isFinished)
        let log = pushbox.log(run: id, step: "bomb")
        #expect(log.contains("Cannot fork") || log.contains("Resource temporarily unavailable"), "\(log.prefix(500))")
        #expect(pushbox.isDaemonRunning)
        // The daemon still runs the next push.
        try repo.write(".pushbox.yml", "steps:\n  - {name: ok, run: \"echo fine\"}\n")
        try repo.commit("after the bomb")
        let next = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(next).state == .passed)
    }

    @Test("a memory hog is killed and reported as such")
    func memoryHog() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            resources: {memory: 64m}
            steps:
              - {name: hog, run: "python3 -c 'b = bytearray(400 * 1024 * 1024); print(len(b))'"}
            """)
        let sha = try repo.commit("hog")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .failed)
        #expect(run.steps[0].exitCode == 137)
        #expect(run.message?.contains("killed (out of memory or limit)") == true)
        #expect(pushbox.log(run: id, step: "hog").contains("killed (out of memory or limit)"))
        #expect(try pushbox.note(repo, sha)?.contains("exit 137: killed, out of memory or limit") == true)
        // conmon records the OOM in its working directory: the daemon's private podman service runs in the
        // runner home, never in the directory the daemon was started from.
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/oom"))
    }

    @Test("a secret reaches the job but never a log, the note, the dashboard, the API or the store: verbatim, base64 (wrapped), split across lines, URL-encoded")
    func secretMasked() throws {
        let pushbox = try DaemonFixture()
        // Long enough that `base64` wraps it, with characters a URL must encode.
        let secret = "s3cr3t-\(UUID().uuidString)-p@ss/w0rd+\(UUID().uuidString)"
        try pushbox.startDaemon(environment: ["DEPLOY_TOKEN": secret])
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            secrets: [DEPLOY_TOKEN]
            steps:
              - name: leak
                run: |
                  echo "plain: $DEPLOY_TOKEN"
                  printf '%s' "$DEPLOY_TOKEN" | base64
                  printf '%s' "$DEPLOY_TOKEN" | base64 -w0; echo
                  printf '%s' "$DEPLOY_TOKEN" | fold -w 7; echo
                  python3 -c 'import os, urllib.parse; print("https://ci.example/?t=" + urllib.parse.quote(os.environ["DEPLOY_TOKEN"], safe=""))'
                  test -n "$DEPLOY_TOKEN" && echo "length: ${#DEPLOY_TOKEN}"
                  echo "failing with the secret: $DEPLOY_TOKEN" >&2
                  exit 3
            """)
        let sha = try repo.commit("leak")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(id).state == .failed)
        let log = pushbox.log(run: id, step: "leak")
        #expect(log.contains("plain: ***"))
        #expect(log.contains("length: \(secret.count)"))
        #expect(log.contains("https://ci.example/?t=***"), "\(log)")
        let encoded = Data(secret.utf8).base64EncodedString()
        let percent = try #require(secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
        // Every form, and pieces of it long enough to identify it.
        let forms = [secret, encoded, String(encoded.prefix(24)), String(encoded.suffix(24)), percent,
                     String(secret.prefix(20)), String(secret.suffix(20))]
        func leaks(_ text: String, _ place: String) {
            for form in forms { #expect(!text.contains(form), "\(place) contains a form of the secret: \(form)") }
            // Split across lines: with the line breaks removed, it must not reappear either.
            #expect(!text.replacingOccurrences(of: "\n", with: "").contains(secret), "\(place) has the secret split across lines")
        }
        leaks(log, "the step log")
        leaks(try #require(try pushbox.note(repo, sha)), "the note")
        let port = pushbox.port
        leaks(try WebhookTests.get("http://127.0.0.1:\(port)/runs/\(id)"), "the run page")
        leaks(try WebhookTests.get("http://127.0.0.1:\(port)/api/v1/runs/\(id)/log"), "the API log")
        leaks(try WebhookTests.get("http://127.0.0.1:\(port)/api/v1/runs/\(id)"), "the API run")
        var store = Data()
        for name in ["pushbox.sqlite", "pushbox.sqlite-wal"] {
            store += (try? Data(contentsOf: pushbox.home.appendingPathComponent(name))) ?? Data()
        }
        leaks(String(decoding: store, as: UTF8.self), "the store")
        leaks(try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(id)/metadata.json"), encoding: .utf8), "metadata.json")
    }
}
