import Executors
import Foundation
import Testing

@Suite("model proxy forwarder: pure parts")
struct LoopbackForwarderTests {
    @Test("nsenter switches only the network namespace; socat listens on the container's 127.0.0.1 and connects the host socket")
    func arguments() {
        #expect(LoopbackForwarder.arguments(containerPID: 4242, port: 4180, socketPath: "/root/.pushbox/model-proxy-7.sock", socat: "/usr/bin/socat")
            == ["--target", "4242", "--net", "--", "/usr/bin/socat", "TCP-LISTEN:4180,bind=127.0.0.1,fork,reuseaddr",
                "UNIX-CONNECT:/root/.pushbox/model-proxy-7.sock"])
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
