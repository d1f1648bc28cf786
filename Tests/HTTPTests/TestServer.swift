import Foundation

/// A tiny HTTP server in Python, started as a child process for one test and stopped by pid. It listens
/// on 127.0.0.1 (a free port it picks) and on a unix socket in a temporary directory.
final class TestServer: Sendable {
    let port: Int
    let socketPath: String
    let directory: URL
    private let child: Foundation.Process

    var base: String { "http://127.0.0.1:\(port)" }

    static func start() throws -> TestServer {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("pushbox-http-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = directory.appendingPathComponent("server.py")
        try serverScript.write(to: script, atomically: true, encoding: .utf8)
        let socketPath = directory.appendingPathComponent("http.sock").path

        let child = Foundation.Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        child.arguments = ["python3", script.path, socketPath]
        let output = Pipe()
        child.standardOutput = output
        try child.run()
        // The script prints its port once both listeners are up.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            child.terminate()
            throw TestServerError(message: "test server did not start: \(String(decoding: line, as: UTF8.self))")
        }
        return TestServer(port: port, socketPath: socketPath, directory: directory, child: child)
    }

    private init(port: Int, socketPath: String, directory: URL, child: Foundation.Process) {
        self.port = port
        self.socketPath = socketPath
        self.directory = directory
        self.child = child
    }

    func stop() {
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }
}

struct TestServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Runs `body` with a fresh server and always stops it.
@discardableResult
func withTestServer<R>(_ body: (TestServer) async throws -> R) async throws -> R {
    let server = try TestServer.start()
    do {
        let result = try await body(server)
        server.stop()
        return result
    } catch {
        server.stop()
        throw error
    }
}

private let serverScript = #"""
import hashlib, http.server, os, socket, socketserver, sys, threading, time

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def reply(self, status, data, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        path = self.path
        if path == "/hello":
            self.reply(200, b"hello", [("X-Test", "yes"), ("Content-Type", "text/plain")])
        elif path == "/echo":
            data = self.body()
            info = "%s %s %s %s %s" % (self.command, len(data), hashlib.sha256(data).hexdigest(),
                                    self.headers.get("Host"), self.headers.get("Content-Type"))
            self.reply(200, info.encode(), [("X-Method", self.command)])
        elif path == "/missing":
            self.reply(404, b'{"message":"no such thing"}', [("Content-Type", "application/json")])
        elif path == "/stream":
            # No length, no chunking: the body ends when the connection closes (like a hijacked stream).
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(3):
                self.wfile.write(b"chunk%d\n" % i)
                self.wfile.flush()
                time.sleep(0.6)
            self.close_connection = True
        elif path == "/slow":
            time.sleep(10)
            self.reply(200, b"late")
        elif path == "/slowbody":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(10)
        else:
            self.reply(400, b"unknown path")

    def handle_quietly(self):
        try:
            self.handle_any()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_quietly

class TCP(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

class Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)

tcp = TCP(("127.0.0.1", 0), Handler)
unix = Unix(sys.argv[1], Handler)
threading.Thread(target=unix.serve_forever, daemon=True).start()
print(tcp.server_address[1], flush=True)
tcp.serve_forever()
"""#
