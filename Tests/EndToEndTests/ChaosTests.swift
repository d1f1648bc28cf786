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
        var environment = ProcessInfo.processInfo.environment
        environment["PUSHBOX_BIN"] = DaemonFixture.locateBinary().path
        let result = try Command.run(["python3", script.path, "--pushes", "30", "--repos", "3", "--branches", "6", "--pushers", "3",
                                      "--kills", "3", "--engine-restarts", "1", "--timeout", "600"], environment: environment)
        let text = result.output
        #expect(result.status == 0, "\(text)")
        #expect(text.contains("| pushes | 30 |"), "\(text)")
        #expect(text.contains("| lost | 0 |"), "\(text)")
        #expect(text.contains("| daemon SIGKILLs | 3 |"), "\(text)")
        #expect(text.contains("all checks passed"), "\(text)")
    }
}
