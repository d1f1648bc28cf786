@testable import CLI
import Core
import Foundation
import Testing

/// What a dead process left of its model proxy in the runner home is removed at the next start; what a
/// live process owns, and anything else in the home, is kept.
@Suite("model proxy leftovers")
struct ModelProxyLeftoversTests {
    @Test("a dead pid's proxy directory and an old-style socket go; a live pid's directory and other files stay")
    func leftovers() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-leftovers-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        for directory in ["model-proxy-4000001", "model-proxy-4000002", "runs"] {
            try fm.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        try Data().write(to: root.appendingPathComponent("model-proxy-4000001/forwarder.log"))
        try Data().write(to: root.appendingPathComponent("model-proxy-4000003.sock"))
        try Data().write(to: root.appendingPathComponent("model-proxy-notapid"))
        let removed = ContainerModelGateway.removeLeftovers(home: RunnerHome(root: root), isGone: { $0 != 4000002 })
        #expect(Set(removed) == ["model-proxy-4000001", "model-proxy-4000003.sock"])
        let left = Set(try fm.contentsOfDirectory(atPath: root.path))
        #expect(left == ["model-proxy-4000002", "runs", "model-proxy-notapid"])
        #expect(ContainerModelGateway.owner(ofEntry: "model-proxy-12") == 12 && ContainerModelGateway.owner(ofEntry: "model-proxy-x") == nil)
    }
}
