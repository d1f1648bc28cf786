import Foundation
import HTTP
import Testing

@Suite("HTTPClient against a local Python server", .serialized)
struct HTTPClientTests {
    let client = HTTPClient()

    @Test("GET over TCP returns status, headers and body")
    func getOverTCP() async throws {
        try await withTestServer { server in
            let response = try await client.execute(HTTPRequest(.get, "\(server.base)/hello"))
            #expect(response.status == 200)
            #expect(response.head.headers["x-test"] == "yes")
            #expect(String(decoding: response.body, as: UTF8.self) == "hello")
        }
    }

    @Test("non-2xx statuses are returned, not thrown")
    func notFound() async throws {
        try await withTestServer { server in
            let response = try await client.execute(HTTPRequest(.get, "\(server.base)/missing"))
            #expect(response.status == 404)
            #expect(String(decoding: response.body, as: UTF8.self).contains("no such thing"))
        }
    }

    @Test("unix socket: requests reach the server and Host is localhost")
    func unixSocket() async throws {
        try await withTestServer { server in
            let response = try await client.execute(HTTPRequest(
                .post, "http://localhost/echo", unixSocketPath: server.socketPath,
                headers: ["Content-Type": "application/json"], body: .data(Data("{}".utf8))))
            #expect(response.status == 200)
            let fields = String(decoding: response.body, as: UTF8.self).split(separator: " ")
            #expect(fields[0] == "POST")
            #expect(fields[1] == "2")
            #expect(fields[3] == "localhost")
            #expect(fields[4] == "application/json")
        }
    }

    @Test("methods: PUT, DELETE, HEAD; POST without a body has no form content type", arguments: [
        HTTPMethod.put, .delete, .post,
    ])
    func methods(_ method: HTTPMethod) async throws {
        try await withTestServer { server in
            let response = try await client.execute(HTTPRequest(method, "\(server.base)/echo"))
            #expect(response.status == 200)
            #expect(response.head.headers["X-Method"] == method.rawValue)
            #expect(String(decoding: response.body, as: UTF8.self).hasSuffix(" None"))
        }
    }

    @Test("HEAD returns the head and no body")
    func head() async throws {
        try await withTestServer { server in
            let response = try await client.execute(HTTPRequest(.head, "\(server.base)/hello"))
            #expect(response.status == 200)
            #expect(response.head.headers["Content-Length"] == "5")
            #expect(response.body.isEmpty)
        }
    }

    @Test("a file body is streamed with its length; a reader body is sent chunked")
    func uploads() async throws {
        try await withTestServer { server in
            var bytes = [UInt8](repeating: 0, count: 24 << 20)
            for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ i >> 9) }
            let data = Data(bytes)
            let file = server.directory.appendingPathComponent("upload.bin")
            try data.write(to: file)
            let digest = try sha256Hex(of: file)

            let fromFile = try await client.execute(HTTPRequest(
                .post, "\(server.base)/echo", headers: ["Content-Type": "application/x-tar"], body: .file(file)))
            #expect(String(decoding: fromFile.body, as: UTF8.self) == "POST \(data.count) \(digest) 127.0.0.1:\(server.port) application/x-tar")

            let offset = Offset()
            let reader: @Sendable (UnsafeMutableRawBufferPointer) throws -> Int = { buffer in
                let start = offset.take(buffer.count, limit: data.count)
                let n = min(buffer.count, data.count - start)
                data.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: start..<start + n)
                return n
            }
            let chunked = try await client.execute(HTTPRequest(
                .put, "\(server.base)/echo", unixSocketPath: server.socketPath, body: .reader(length: nil, reader)))
            #expect(String(decoding: chunked.body, as: UTF8.self).hasPrefix("PUT \(data.count) \(digest) "))
        }
    }

    @Test("a reader that throws fails the request with its own error")
    func readerError() async throws {
        try await withTestServer { server in
            let reader: @Sendable (UnsafeMutableRawBufferPointer) throws -> Int = { _ in
                throw TestServerError(message: "disk on fire")
            }
            await #expect(throws: TestServerError.self) {
                _ = try await client.execute(HTTPRequest(.post, "\(server.base)/echo", body: .reader(length: 10, reader)))
            }
        }
    }

    @Test("streaming: the head and the first chunks arrive before the response ends")
    func streaming() async throws {
        try await withTestServer { server in
            let clock = ContinuousClock()
            let start = clock.now
            let response = try await client.stream(HTTPRequest(.get, "\(server.base)/stream"))
            #expect(response.status == 200)
            var arrivals: [(String, Duration)] = []
            for try await chunk in response.body {
                arrivals.append((String(decoding: chunk, as: UTF8.self), clock.now - start))
            }
            #expect(arrivals.map(\.0).joined() == "chunk0\nchunk1\nchunk2\n")
            let firstArrival = try #require(arrivals.first).1
            let lastArrival = try #require(arrivals.last).1
            // The server pauses 0.6 s between chunks: the first one cannot have waited for the end.
            #expect(lastArrival - firstArrival > .milliseconds(900), "arrivals: \(arrivals)")
        }
    }

    @Test("total timeout: fails promptly with a timeout error")
    func timeout() async throws {
        try await withTestServer { server in
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: HTTPClientError.self) {
                _ = try await client.execute(HTTPRequest(.get, "\(server.base)/slow", timeout: .milliseconds(400)))
            }
            #expect(error?.isTimeout == true)
            #expect(error?.function == "curl_easy_perform")
            #expect(clock.now - start < .seconds(3))
        }
    }

    @Test("a timeout in the middle of a streamed body finishes the body stream with the error")
    func timeoutMidBody() async throws {
        try await withTestServer { server in
            let response = try await client.stream(HTTPRequest(.get, "\(server.base)/slowbody", timeout: .milliseconds(700)))
            #expect(response.status == 200)
            var received = Data()
            let error = await #expect(throws: HTTPClientError.self) {
                for try await chunk in response.body { received.append(chunk) }
            }
            #expect(received == Data("x".utf8))
            #expect(error?.isTimeout == true)
        }
    }

    @Test("cancelling the task aborts a transfer that is waiting for the server")
    func cancellation() async throws {
        try await withTestServer { server in
            let clock = ContinuousClock()
            let request = HTTPRequest(.get, "http://localhost/slow", unixSocketPath: server.socketPath, timeout: nil)
            let task = Task { try await client.execute(request) }
            try await Task.sleep(for: .milliseconds(300))
            let start = clock.now
            task.cancel()
            let result = await task.result
            let elapsed = clock.now - start
            #expect(throws: CancellationError.self) { try result.get() }
            #expect(elapsed < .seconds(1), "cancellation took \(elapsed)")
        }
    }

    @Test("abandoning a streamed body aborts the transfer")
    func abandonStream() async throws {
        try await withTestServer { server in
            let clock = ContinuousClock()
            let start = clock.now
            let task = Task {
                let response = try await client.stream(HTTPRequest(.get, "\(server.base)/stream", timeout: nil))
                for try await _ in response.body { break }
            }
            try await task.value
            #expect(clock.now - start < .seconds(1))
        }
    }

    @Test("connection refused names curl_easy_perform and says what happened")
    func connectionRefused() async throws {
        let port = try unusedPort()
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await client.execute(HTTPRequest(.get, "http://127.0.0.1:\(port)/"))
        }
        #expect(error?.isConnectFailure == true)
        let text = error?.description ?? ""
        #expect(text.contains("GET http://127.0.0.1:\(port)/"))
        #expect(text.contains("curl_easy_perform failed"))
        #expect(text.lowercased().contains("connect"), "\(text)")
    }

    @Test("a missing unix socket is a connect failure naming the socket")
    func missingSocket() async throws {
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await client.execute(HTTPRequest(.get, "http://localhost/_ping", unixSocketPath: "/nonexistent/engine.sock"))
        }
        #expect(error?.isConnectFailure == true)
        #expect(error?.description.contains("/nonexistent/engine.sock") == true)
    }

    @Test("a missing upload file throws before any transfer")
    func missingFile() async throws {
        await #expect(throws: (any Error).self) {
            _ = try await client.execute(HTTPRequest(.post, "http://127.0.0.1:9/", body: .file(URL(fileURLWithPath: "/nonexistent.tar"))))
        }
    }

    @Test("TLS verification is on: an https URL to a plain HTTP server fails instead of passing")
    func tlsToPlainServer() async throws {
        try await withTestServer { server in
            await #expect(throws: HTTPClientError.self) {
                _ = try await client.execute(HTTPRequest(.get, "https://127.0.0.1:\(server.port)/hello", timeout: .seconds(5)))
            }
        }
    }
}

/// Shared position of a reader body (the reader runs on the transfer thread).
private final class Offset: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(_ count: Int, limit: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let start = value
        value = min(limit, value + count)
        return start
    }
}

private func sha256Hex(of file: URL) throws -> String {
    let child = Foundation.Process()
    child.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    child.arguments = [file.path]
    let pipe = Pipe()
    child.standardOutput = pipe
    try child.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    child.waitUntilExit()
    return String(String(decoding: output, as: UTF8.self).prefix(64))
}

/// A TCP port on 127.0.0.1 nobody listens on (bound, then released).
private func unusedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw TestServerError(message: "bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
