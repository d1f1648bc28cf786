import Core
import Foundation
import Testing
import TestSupport

/// Webhooks end to end: the real daemon posts to a receiver started here (Python's own `hmac` checks the
/// signature, so the check does not share code with Pushbox), which fails the first deliveries; the
/// outbox retries them, also across a daemon restart, and records every attempt.
@Suite("webhooks", .serialized)
struct WebhookTests {
    static let secret = "whsec-pushbox-test-4b1d"

    /// A receiver on 127.0.0.1 that answers 500 to its first `failFirst` requests, then 200 to correctly
    /// signed ones (401 otherwise), and appends what it got as JSON lines.
    final class Receiver {
        let directory: URL
        let process: SpawnedProcess
        let port: Int
        var log: URL { directory.appendingPathComponent("received.jsonl") }

        static let script = #"""
            import hashlib, hmac, json, sys
            from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
            port_file, log_file, secret, fail_first = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])
            count = 0
            class Handler(BaseHTTPRequestHandler):
                def log_message(self, *args): pass
                def do_POST(self):
                    global count
                    count += 1
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                    ok = not secret or hmac.compare_digest(expected, self.headers.get("X-Pushbox-Signature", ""))
                    status = 500 if count <= fail_first else (200 if ok else 401)
                    with open(log_file, "a") as f:
                        f.write(json.dumps({"n": count, "status": status, "path": self.path, "signature_ok": ok,
                                            "event": self.headers.get("X-Pushbox-Event"),
                                            "delivery": self.headers.get("X-Pushbox-Delivery"),
                                            "authorization": self.headers.get("Authorization"),
                                            "body": json.loads(body)}) + "\n")
                    answer = b"receiver down for now" if status == 500 else b"ok"
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            with open(port_file + ".tmp", "w") as f: f.write(str(server.server_address[1]))
            import os; os.rename(port_file + ".tmp", port_file)
            server.serve_forever()
            """#

        init(in directory: URL, failFirst: Int, secret: String = WebhookTests.secret) throws {
            self.directory = directory
            let scriptFile = directory.appendingPathComponent("receiver.py")
            try Self.script.write(to: scriptFile, atomically: true, encoding: .utf8)
            let portFile = directory.appendingPathComponent("receiver.port")
            process = try SpawnedProcess(URL(fileURLWithPath: "/usr/bin/python3"),
                                         [scriptFile.path, portFile.path, directory.appendingPathComponent("received.jsonl").path,
                                          secret, String(failFirst)],
                                         environment: ["PATH": "/usr/bin:/bin"], output: directory.appendingPathComponent("receiver.out"))
            let deadline = ContinuousClock.now + .seconds(20)
            var port: Int?
            while port == nil, ContinuousClock.now < deadline {
                port = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0) }
                if port == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            guard let port else {
                process.stop(signal: SIGKILL)
                throw FixtureError("the webhook receiver did not start")
            }
            self.port = port
        }

        func stop() { process.stop(signal: SIGKILL) }

        var received: [[String: Any]] {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }

        /// Waits until `predicate` holds for what was received.
        func wait(timeout: Duration = .seconds(60), until predicate: ([[String: Any]]) -> Bool) -> [[String: Any]] {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                let now = received
                if predicate(now) { return now }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return received
        }
    }

    @Test("signed deliveries of queued, started and finished; failures retried with backoff, across a daemon restart, every attempt recorded")
    func deliveriesAreSignedRetriedAndDurable() throws {
        let receiverDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-webhook-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: receiverDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: receiverDirectory) }
        let receiver = try Receiver(in: receiverDirectory, failFirst: 3)
        defer { receiver.stop() }
        let pushbox = try DaemonFixture(config: """
            reports:
              - {type: webhook, url: "http://127.0.0.1:\(receiver.port)/hook", secret_env: PUSHBOX_TEST_WEBHOOK_SECRET,
                 events: [queued, started, finished], backoff: 5s}
              - {type: webhook, url: "http://127.0.0.1:\(receiver.port)/other", events: [finished], repos: [another-repo]}
            """)
        let environment = ["PUSHBOX_TEST_WEBHOOK_SECRET": Self.secret]
        try pushbox.startDaemon(environment: environment)
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        let sha = try repo.commit("passing")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id)
        #expect(run.state == .passed)
        // The first three tries failed (500): stop the daemon while their retries are pending.
        let early = receiver.wait(timeout: .seconds(30)) { $0.count >= 3 }
        #expect(early.prefix(3).allSatisfy { $0["status"] as? Int == 500 })
        pushbox.stopDaemon()
        let pending = try pushbox.pushbox(["reports", String(id)])
        #expect(pending.stdout.contains("pending, next try"), "\(pending.stdout)")
        #expect(pending.stdout.contains("500"))
        // A new daemon picks the outbox up where the old one left it.
        try pushbox.startDaemon(environment: environment)
        let received = receiver.wait(timeout: .seconds(60)) { got in
            Set(got.filter { $0["status"] as? Int == 200 }.compactMap { $0["event"] as? String }) == ["queued", "started", "finished"]
        }
        let delivered = received.filter { $0["status"] as? Int == 200 }
        #expect(Set(delivered.compactMap { $0["event"] as? String }) == ["queued", "started", "finished"], "\(received)")
        #expect(delivered.count == 3, "each event delivered once")
        #expect(received.allSatisfy { $0["signature_ok"] as? Bool == true && $0["path"] as? String == "/hook" },
                "every request signed with the secret; the other repo's reporter sent nothing")
        // A retried delivery keeps its delivery id; the body says which event and run it is about.
        for entry in delivered {
            let body = try #require(entry["body"] as? [String: Any])
            #expect(body["event"] as? String == entry["event"] as? String)
            #expect(body["delivery"] as? String == entry["delivery"] as? String)
            let runBody = try #require(body["run"] as? [String: Any])
            #expect(runBody["id"] as? Int == Int(id) && runBody["sha"] as? String == sha)
            if entry["event"] as? String == "finished" {
                #expect(runBody["state"] as? String == "passed")
                #expect((runBody["steps"] as? [[String: Any]])?.count == 2)
            }
        }
        let retried = Set(received.filter { $0["status"] as? Int == 500 }.compactMap { $0["delivery"] as? String })
        #expect(retried.isSubset(of: Set(delivered.compactMap { $0["delivery"] as? String })))
        // The record: every attempt with its status and latency.
        let report = try pushbox.pushbox(["reports", String(id), "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])
        let deliveries = try #require(json["deliveries"] as? [[String: Any]])
        #expect(deliveries.count == 3)
        let attempts = deliveries.flatMap { ($0["attempts"] as? [[String: Any]]) ?? [] }
        #expect(attempts.count == 6, "3 failed + 3 delivered: \(attempts)")
        #expect(attempts.filter { $0["status"] as? Int == 500 }.allSatisfy { ($0["excerpt"] as? String)?.contains("receiver down") == true })
        #expect(deliveries.allSatisfy { ($0["delivery"] as? [String: Any])?["state"] as? String == "delivered" })
        let text = try pushbox.pushbox(["reports", String(id)])
        #expect(text.stdout.contains("finished → http://127.0.0.1:\(receiver.port)/hook  delivered after"))
        // …and on the run page.
        let page = try Self.get("http://127.0.0.1:\(pushbox.port)/runs/\(id)")
        #expect(page.contains("<h2>reports</h2>") && page.contains("500 in ") && page.contains("200 in "), "\(page.suffix(2000))")
        // The secret itself is nowhere in the store's records or the daemon's log.
        #expect(!report.stdout.contains(Self.secret) && !pushbox.daemonOutput().contains(Self.secret))
    }

    @Test("gitea commit statuses: pending while queued and running, then success, with the token, for the pushed sha")
    func giteaStatuses() throws {
        let receiverDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-gitea-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: receiverDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: receiverDirectory) }
        let receiver = try Receiver(in: receiverDirectory, failFirst: 0, secret: "")
        defer { receiver.stop() }
        let pushbox = try DaemonFixture(config: """
            reports:
              - {type: gitea, url: "http://127.0.0.1:\(receiver.port)/api/v1", token_env: PUSHBOX_TEST_GITEA_TOKEN, repos: {app: org/app}}
            """)
        try pushbox.startDaemon(environment: ["PUSHBOX_TEST_GITEA_TOKEN": "gitea-token-1"])
        let repo = try pushbox.makeRepo()
        try Projects.make(in: repo)
        let sha = try repo.commit("passing")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        #expect(try pushbox.waitForRun(id).state == .passed)
        let received = receiver.wait { $0.count >= 3 }
        #expect(received.count == 3, "\(received)")
        #expect(received.allSatisfy { $0["path"] as? String == "/api/v1/repos/org/app/statuses/\(sha)" })
        #expect(received.allSatisfy { $0["authorization"] as? String == "token gitea-token-1" })
        let bodies = received.compactMap { $0["body"] as? [String: Any] }
        #expect(bodies.compactMap { $0["state"] as? String } == ["pending", "pending", "success"])
        #expect(bodies.allSatisfy { $0["context"] as? String == "pushbox/ci" && ($0["target_url"] as? String)?.hasSuffix("/runs/\(id)") == true })
        #expect((bodies.last?["description"] as? String)?.hasPrefix("run \(id): passed (2 passed, 0 failed)") == true, "\(bodies)")
        let report = try pushbox.pushbox(["reports", String(id)])
        #expect(report.stdout.components(separatedBy: "delivered after 1 attempt").count == 4, "\(report.stdout)")
        #expect(!report.stdout.contains("gitea-token-1") && !pushbox.daemonOutput().contains("gitea-token-1"))
        // /metrics over TCP (Prometheus text format) counts the run and the deliveries.
        let metrics = try Self.get("http://127.0.0.1:\(pushbox.port)/metrics")
        #expect(metrics.contains("pushbox_runs_total{state=\"passed\"} 1"), "\(metrics)")
        #expect(metrics.contains("pushbox_runs_total{state=\"failed\"} 0"))
        #expect(metrics.contains("pushbox_report_deliveries_total{kind=\"gitea\",result=\"delivered\"} 3"))
        #expect(metrics.contains("pushbox_run_duration_seconds_count 1") && metrics.contains("pushbox_step_duration_seconds_count 2"))
        #expect(metrics.contains("pushbox_runs_queued 0") && metrics.contains("# TYPE pushbox_runs_total counter"))
    }

    /// GET with Python's urllib (an HTTP client that shares nothing with Pushbox).
    static func get(_ url: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())", url]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw FixtureError("GET \(url) failed (python3 exited \(process.terminationStatus))") }
        return String(decoding: data, as: UTF8.self)
    }
}
