import Foundation

/// An HTTP method. A struct rather than an enum so that any token the server understands can be sent.
package struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package var rawValue: String
    package init(rawValue: String) { self.rawValue = rawValue }

    package static let get = HTTPMethod(rawValue: "GET")
    package static let head = HTTPMethod(rawValue: "HEAD")
    package static let post = HTTPMethod(rawValue: "POST")
    package static let put = HTTPMethod(rawValue: "PUT")
    package static let patch = HTTPMethod(rawValue: "PATCH")
    package static let delete = HTTPMethod(rawValue: "DELETE")

    package var description: String { rawValue }
}

/// Header fields in the order they were given or received. Lookup ignores case; names may repeat.
package struct HTTPHeaders: Sendable, Equatable, ExpressibleByDictionaryLiteral, Sequence {
    package private(set) var fields: [(name: String, value: String)]

    package init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }
    package init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// The first value of the field `name` (case-insensitive), if present.
    package subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    package func contains(_ name: String) -> Bool { self[name] != nil }

    package mutating func add(_ name: String, _ value: String) { fields.append((name: name, value: value)) }

    /// Replaces every field called `name` by one with `value`.
    package mutating func set(_ name: String, _ value: String) {
        fields.removeAll { $0.name.caseInsensitiveCompare(name) == .orderedSame }
        fields.append((name: name, value: value))
    }

    package func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    package static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// What a request sends as its body.
package enum HTTPRequestBody: Sendable {
    case empty
    case data(Data)
    /// Streamed from the file in pieces; the size is taken when the transfer starts (sent as
    /// `Content-Length`). Suited to multi-hundred-MB uploads such as an image tar.
    case file(URL)
    /// Pulled on the transfer's own thread, where blocking is fine: fill the buffer, return the number of
    /// bytes written, 0 at the end. `length` nil sends the body chunked.
    case reader(length: Int64?, @Sendable (UnsafeMutableRawBufferPointer) throws -> Int)
}

/// One HTTP request, over TCP (`url` decides host and port) or over a unix socket (`unixSocketPath`; the
/// URL then only gives the path, and its host becomes the `Host` header, e.g. `http://localhost/_ping`).
package struct HTTPRequest: Sendable {
    package var method: HTTPMethod
    package var url: String
    package var unixSocketPath: String?
    package var headers: HTTPHeaders
    package var body: HTTPRequestBody
    /// Time allowed to establish the connection.
    package var connectTimeout: Duration
    /// Time allowed for the whole transfer, body included; nil means no limit (long-lived streams).
    package var timeout: Duration?

    package init(
        _ method: HTTPMethod = .get, _ url: String, unixSocketPath: String? = nil, headers: HTTPHeaders = [:],
        body: HTTPRequestBody = .empty, connectTimeout: Duration = .seconds(10), timeout: Duration? = .seconds(60)
    ) {
        self.method = method
        self.url = url
        self.unixSocketPath = unixSocketPath
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }

    /// "GET http://localhost/_ping via /run/podman/podman.sock", for error messages and logs.
    package var summary: String {
        if let unixSocketPath { return "\(method) \(url) via \(unixSocketPath)" }
        return "\(method) \(url)"
    }
}

/// Status line and header fields, available before the body.
package struct HTTPResponseHead: Sendable, Equatable {
    package var status: Int
    package var headers: HTTPHeaders

    package init(status: Int, headers: HTTPHeaders) {
        self.status = status
        self.headers = headers
    }
}

/// A response whose body has been read completely.
package struct HTTPResponse: Sendable {
    package var head: HTTPResponseHead
    package var body: Data
    package var status: Int { head.status }
}

/// A response whose body arrives as it is received. Stop iterating (or cancel the iterating task) to abort
/// the transfer. The body stream finishes by throwing `HTTPClientError` when the transfer fails midway.
package struct HTTPStreamingResponse: Sendable {
    package var head: HTTPResponseHead
    package var body: AsyncThrowingStream<Data, any Error>
    package var status: Int { head.status }
}
