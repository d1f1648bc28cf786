import Core
import Foundation
import Testing
import TestSupport

/// The dashboard in a real browser: Debian's headless Chromium driven by selenium (Tests/Browser/dashboard.py)
/// against the real daemon while runs are live. Screenshots go to `$PUSHBOX_SCREENSHOTS_DIR` (the
/// committed ones in docs/screenshots/ were made with it set to that directory), else a temporary one.
@Suite("dashboard in a real browser", .serialized, .timeLimit(.minutes(10)))
struct DashboardBrowserTests {
    @Test("live log lines appear without a reload, the run turns green, Cancel stops a run; screenshots at desktop and phone width")
    func liveDashboard() throws {
        let pushbox = try DaemonFixture(config: "concurrency: 2\n")
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", """
            steps:
              - {name: count, run: "for i in $(seq 1 40); do printf '\\\\033[32mtick\\\\033[0m %s\\\\n' $i; sleep 0.25; done; echo '5 passed, 0 failed'"}
            """)
        try repo.commit("counting")
        let live = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        try repo.checked(["checkout", "-q", "-b", "slow"])
        try repo.write(".pushbox.yml", "steps:\n  - {name: wait, run: \"echo waiting; sleep 300\"}\n")
        try repo.commit("slow")
        let slow = try #require(DaemonFixture.queuedRunIDs(in: try repo.push("HEAD:refs/heads/slow").output).first)
        // Open the page while both steps run.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline,
              !(pushbox.log(run: live, step: "count").contains("tick\u{1B}[0m 2") && pushbox.log(run: slow, step: "wait").contains("waiting")) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let token = try pushbox.pushbox(["token"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let shots = ProcessInfo.processInfo.environment["PUSHBOX_SCREENSHOTS_DIR"].map { URL(fileURLWithPath: $0) }
            ?? pushbox.directory.url("screenshots")
        try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Browser/dashboard.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")   // the python3 on PATH, where setup installed selenium
        process.arguments = ["python3", script.path, "http://127.0.0.1:\(pushbox.port)", String(live), String(slow), token, shots.path]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: stdout, as: UTF8.self)
        let seen = try #require(try JSONSerialization.jsonObject(with: Data((text.split(separator: "\n").last ?? "{}").utf8)) as? [String: Any],
                                "\(text)\n\(String(decoding: stderr, as: UTF8.self).suffix(3000))")
        #expect(process.terminationStatus == 0, "\(String(decoding: stderr, as: UTF8.self).suffix(3000))")
        #expect(seen["live_lines_without_reload"] as? Bool == true, "\(seen)")
        #expect(seen["live_line_anchor"] as? Bool == true)
        #expect(seen["final_state"] as? String == "passed", "\(seen)")
        #expect(seen["final_ticks"] as? Int == 40)
        #expect((seen["runs_listed"] as? Int ?? 0) >= 2)
        #expect(seen["cancel_state"] as? String == "canceled", "\(seen)")
        #expect(seen["phone_width_overflow"] as? Bool == false)
        #expect(try pushbox.run(slow).state == .canceled)
        for name in ["runs.png", "run.png", "run-phone.png"] {
            let data = try Data(contentsOf: shots.appendingPathComponent(name))
            #expect(data.count > 5_000 && data.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "\(name) is a PNG screenshot")
        }
    }
}
