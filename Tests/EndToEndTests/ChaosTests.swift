import Foundation
import Testing
import TestSupport

/// `scripts/chaos` in a reduced form: the same script a user runs, with fewer pushes and kills.
@Suite("chaos", .serialized)
struct ChaosTests {
    @Test("pushes while the daemon is SIGKILLed and the engine stopped: nothing lost, one run per commit, every note")
    func reducedChaos() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/chaos")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--pushes", "30", "--repos", "3", "--branches", "6", "--pushers", "3",
                             "--kills", "3", "--engine-restarts", "1", "--timeout", "600"]
        var environment = ProcessInfo.processInfo.environment
        environment["PUSHBOX_BIN"] = DaemonFixture.locateBinary().path
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("| pushes | 30 |"), "\(text)")
        #expect(text.contains("| lost | 0 |"), "\(text)")
        #expect(text.contains("| daemon SIGKILLs | 3 |"), "\(text)")
        #expect(text.contains("all checks passed"), "\(text)")
    }
}
