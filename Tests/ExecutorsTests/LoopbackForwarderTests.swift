import Executors
import Foundation
import Logging
import Testing

@Suite("model proxy forwarder: pure parts")
struct LoopbackForwarderTests {
    @Test("nsenter switches only the network namespace; socat listens on the container's 127.0.0.1 and connects the host socket")
    func arguments() {
        #expect(LoopbackForwarder.arguments(containerPID: 4242, port: 4180, socketPath: "/root/.pushbox/model-proxy-7/api.sock", socat: "/usr/bin/socat")
            == ["--target", "4242", "--net", "--", "/usr/bin/socat", "TCP-LISTEN:4180,bind=127.0.0.1,fork,reuseaddr",
                "UNIX-CONNECT:/root/.pushbox/model-proxy-7/api.sock"])
    }

    static let table = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:1054 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
           1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
           2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
        """

    @Test("listening means state 0A on 127.0.0.1:port in the namespace's /proc/net/tcp", arguments: [
        (4180, true),     // 0x1054
        (8080, false),    // 0x1F90: an established connection, not a listener
        (22, false),      // 0.0.0.0:22 listens, but not on 127.0.0.1
        (4181, false),
    ])
    func listening(_ port: Int, _ expected: Bool) {
        #expect(LoopbackForwarder.isListening(procNetTCP: Self.table, port: port) == expected)
        #expect(!LoopbackForwarder.isListening(procNetTCP: "", port: port))
    }
}

@Suite("model proxy forwarder: leftovers")
struct LoopbackForwarderOrphanTests {
    @Test("only a socat forwarder's argument vector names a socket", arguments: [
        (["/usr/bin/socat", "TCP-LISTEN:4180,bind=127.0.0.1,fork,reuseaddr", "UNIX-CONNECT:/h/model-proxy-1.sock"], "/h/model-proxy-1.sock" as String?),
        (["socat", "TCP-LISTEN:1", "UNIX-CONNECT:/x"], "/x"),
        (["/usr/bin/socat", "UNIX-LISTEN:/x", "UNIX-CONNECT:/y"], nil),
        (["/usr/bin/nc", "TCP-LISTEN:1", "UNIX-CONNECT:/x"], nil),
        (["/usr/bin/socat", "TCP-LISTEN:1", "UNIX-CONNECT:/x", "extra"], nil),
        ([], nil),
    ])
    func targets(_ argv: [String], _ socket: String?) {
        #expect(LoopbackForwarder.orphanTarget(argv) == socket)
    }
}

@Suite("model proxy forwarder: stopping", .serialized)
struct LoopbackForwarderStopTests {
    /// A unix socket that accepts connections into its backlog (no one reads them), closed by the caller.
    static func listen(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 16) == 0 else { throw CocoaError(.fileWriteUnknown) }
        return fd
    }

    /// The pids of the process group `group`, from /proc.
    static func members(of group: pid_t) -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(pid_t.init).filter { getpgid($0) == group }
    }

    @Test("stop ends the connections the forwarder forked also when its leader has exited and was reaped; its log goes with it")
    func stopEndsForkedConnections() async throws {
        guard LoopbackForwarder.missingRequirements().isEmpty else { return }   // needs nsenter, socat and root
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("pbx-fwd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socketPath = directory.appendingPathComponent("api.sock").path
        let listener = try Self.listen(at: socketPath)
        defer { _ = Glibc.close(listener) }
        let port = Int.random(in: 20_000...60_000)
        // Into this process's own network namespace: the host's loopback stands in for the container's.
        let forwarder = try await LoopbackForwarder.start(containerPID: getpid(), port: port, socketPath: socketPath, logger: Logger(label: "test"))
        let logs = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("forwarder-") }
        #expect(logs.count == 1, "the log is beside the socket, not in /tmp: \(logs)")
        // One connection: socat forks a child for it, in the forwarder's process group.
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { _ = Glibc.close(client) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while Self.members(of: forwarder.pid).count < 2 && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(Self.members(of: forwarder.pid).count >= 2, "socat forked a child for the connection")
        // The leader dies and is reaped; its child lives on.
        kill(forwarder.pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(forwarder.pid, &status, 0)
        #expect(!Self.members(of: forwarder.pid).isEmpty, "the forked connection outlived its leader")
        await forwarder.stop()
        #expect(Self.members(of: forwarder.pid).isEmpty, "stop signalled the group: \(Self.members(of: forwarder.pid))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("forwarder-") }.isEmpty)
        await forwarder.stop()   // twice is harmless
    }

    @Test("waiting for a group is bounded and sleeps also in a cancelled task (no spinning)")
    func boundedWaitWhenCancelled() async {
        let task = Task { () -> (Bool, Duration, Double) in
            withUnsafeCurrentTask { $0?.cancel() }
            var before = timespec(), after = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &before)
            let clock = ContinuousClock()
            let started = clock.now
            // This process's own group never empties: the wait runs to its limit.
            let gone = LoopbackForwarder.waitForGroupExit(getpgrp(), within: .milliseconds(300))
            let waited = clock.now - started
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &after)
            let cpu = Double(after.tv_sec - before.tv_sec) + Double(after.tv_nsec - before.tv_nsec) / 1e9
            return (gone, waited, cpu)
        }
        let (gone, waited, cpu) = await task.value
        #expect(!gone)
        #expect(waited >= .milliseconds(300) && waited < .seconds(2), "\(waited)")
        #expect(cpu < 0.1, "the wait used \(cpu) s of CPU in 0.3 s: it spins")
    }
}
