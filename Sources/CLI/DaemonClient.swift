import API
import Core
import Foundation
import HTTP

/// Talks to `pushbox serve` over its unix socket with the JSON API of DESIGN §4.
struct DaemonClient {
    let home: RunnerHome
    let http = HTTPClient()

    enum Failure: Error {
        /// Nothing listens on the socket (daemon not running): the request never left.
        case unreachable(String)
        /// Connected, but the exchange failed (timeout, connection dropped): the daemon may have acted.
        case noAnswer(String)
        /// The daemon answered with an error.
        case api(status: Int, message: String)
    }

    func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, connectTimeout: Duration = .seconds(2),
                 timeout: Duration? = .seconds(30)) async throws -> Data {
        var headers: HTTPHeaders = [:]
        if body != nil { headers = ["Content-Type": "application/json"] }
        let request = HTTPRequest(method, "http://localhost\(path)", unixSocketPath: home.socket.path, headers: headers,
                                  body: body.map { .data($0) } ?? .empty, connectTimeout: connectTimeout, timeout: timeout)
        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch let error as HTTPClientError {
            throw Self.classify(error)
        }
        guard (200..<300).contains(response.status) else {
            let message = (try? APIJSON.decoder().decode(APIError.self, from: response.body))?.error
                ?? String(decoding: response.body.prefix(500), as: UTF8.self)
            throw Failure.api(status: response.status, message: message)
        }
        return response.body
    }

    func get<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
        try APIJSON.decoder().decode(type, from: try await request(.get, path))
    }

    /// Streams a body (live logs) to `sink` as it arrives.
    func stream(_ path: String, sink: (Data) -> Void) async throws {
        let request = HTTPRequest(.get, "http://localhost\(path)", unixSocketPath: home.socket.path, timeout: nil)
        let response: HTTPStreamingResponse
        do {
            response = try await http.stream(request)
        } catch let error as HTTPClientError {
            throw Self.classify(error)
        }
        guard (200..<300).contains(response.status) else {
            var body = Data()
            for try await chunk in response.body { body.append(chunk) }
            let message = (try? APIJSON.decoder().decode(APIError.self, from: body))?.error ?? "HTTP \(response.status)"
            throw Failure.api(status: response.status, message: message)
        }
        for try await chunk in response.body { sink(chunk) }
    }

    /// Could not connect (no socket file, or nobody accepting on it): the daemon is not running.
    static func classify(_ error: HTTPClientError) -> Failure {
        error.isConnectFailure ? .unreachable(error.message) : .noAnswer("\(error)")
    }

    /// Whether a daemon answers on the socket.
    func isRunning() async -> Bool {
        (try? await request(.get, "/healthz", connectTimeout: .seconds(1), timeout: .seconds(3))) != nil
    }
}

extension DaemonClient.Failure: CustomStringConvertible {
    var description: String {
        switch self {
        case let .unreachable(detail): "the daemon is not running (start it with `pushbox serve`): \(detail)"
        case let .noAnswer(detail): "no answer from the daemon: \(detail)"
        case let .api(status, message): "\(message) (HTTP \(status))"
        }
    }
}
