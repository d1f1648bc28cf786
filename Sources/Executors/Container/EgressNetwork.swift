import Core
import Foundation

/// `network: egress` jobs join the engine network `pushbox-egress` (a bridge Pushbox creates), and two
/// nftables tables of the host keep them to the outside world: from that network's subnets nothing reaches
/// the host itself (its loopback-only services cannot be reached from a bridge anyway; this also stops its
/// services on other addresses, `host.containers.internal` included) except DNS on the gateway; nothing is
/// forwarded to loopback, link-local (cloud metadata at 169.254.169.254) or other special addresses, nor
/// through a port the host publishes (DNAT); and the bridge forwards nothing from one egress job to another.
/// The containers have IPv6 switched off (`ContainerSpec.sysctls`). Other hosts of the LAN are "outside".
///
/// Contract: `ensure` makes the network if missing and (re)loads the table for its subnets on every call,
/// idempotently (the table is flushed and rewritten in one `nft -f` transaction); it throws when either
/// cannot be done, and the caller then refuses the job rather than run it without the rules.
package enum EgressNetwork {
    package static let name = "pushbox-egress"
    /// The name of both tables: `inet` (input, forward) and `bridge` (forward between the bridge's ports).
    package static let table = "pushbox_egress"
    /// Destinations never forwarded from the egress network.
    package static let blockedIPv4 = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4"]
    package static let blockedIPv6 = ["::1/128", "fe80::/10", "fd00:ec2::254/128", "ff00::/8"]

    /// The `nft -f` script for `subnets` (pure). Base chains at priority `filter - 10`, so the drops apply
    /// whatever the engine's own rules accept (a drop in any base chain is final).
    package static func firewallRules(subnets: [NetworkSummary.Subnet]) -> String {
        var input: [String] = [], forward: [String] = [], between: [String] = []
        for subnet in subnets {
            let family = subnet.subnet.contains(":") ? "ip6" : "ip"
            let blocked = (family == "ip6" ? blockedIPv6 : blockedIPv4).joined(separator: ", ")
            if let gateway = subnet.gateway, !gateway.isEmpty {
                input.append("\(family) saddr \(subnet.subnet) \(family) daddr \(gateway) udp dport 53 accept")
                input.append("\(family) saddr \(subnet.subnet) \(family) daddr \(gateway) tcp dport 53 accept")
            }
            input.append("\(family) saddr \(subnet.subnet) drop")
            forward.append("\(family) saddr \(subnet.subnet) \(family) daddr { \(blocked) } drop")
            forward.append("\(family) saddr \(subnet.subnet) ct status dnat drop")
            between.append("\(family) saddr \(subnet.subnet) \(family) daddr \(subnet.subnet) drop")
        }
        func chain(_ name: String, hook: String, _ rules: [String]) -> String {
            (["  chain \(name) {", "    type filter hook \(hook) priority filter - 10; policy accept;"]
                + rules.map { "    " + $0 } + ["  }"]).joined(separator: "\n")
        }
        return """
            table inet \(table)
            flush table inet \(table)
            table inet \(table) {
            \(chain("input", hook: "input", input))
            \(chain("forward", hook: "forward", forward))
            }
            table bridge \(table)
            flush table bridge \(table)
            table bridge \(table) {
            \(chain("forward", hook: "forward", between))
            }

            """
    }

    /// Makes sure the network exists and the firewall table matches its subnets; returns the subnets.
    @discardableResult
    package static func ensure(engine: DockerEngineClient) async throws -> [NetworkSummary.Subnet] {
        var network = try await engine.inspectNetwork(name)
        if network == nil {
            var failure: (any Error)?
            do {
                try await engine.createNetwork(name: name, labels: ["pushbox.managed": "1"])
            } catch {
                failure = error
            }
            // Another daemon may have made it meanwhile; only a network still missing is an error.
            network = try await engine.inspectNetwork(name)
            if network == nil, let failure { throw failure }
        }
        guard let subnets = network?.subnets, !subnets.isEmpty else {
            throw SandboxError("the engine network \(name) has no subnet to firewall")
        }
        try loadRules(firewallRules(subnets: subnets))
        return subnets
    }

    /// Where `nft` is, or nil.
    package static var nftPath: String? {
        ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func loadRules(_ script: String) throws {
        guard let nft = nftPath else { throw SandboxError("nft is not installed (apt-get install nftables)") }
        // From a file, not a pipe: an nft that exits early cannot hand the daemon a SIGPIPE.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-egress-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).nft")
        try Data(script.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nft)
        process.arguments = ["-f", file.path]
        let errors = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SandboxError("nft could not load the egress rules (exit \(process.terminationStatus)): \(String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
