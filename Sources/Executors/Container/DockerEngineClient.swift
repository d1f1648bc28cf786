import Foundation
import HTTP

/// The engine answered with an error status. `message` is the engine's own JSON `message`.
package struct EngineAPIError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was asked, e.g. "POST /containers/create".
    package var operation: String
    package var status: Int
    package var message: String

    package var description: String { "container engine: \(operation) failed (HTTP \(status)): \(message)" }
}

/// What `GET /_ping` tells about the engine.
package struct EnginePing: Sendable, Equatable {
    package var flavor: EngineFlavor
    /// `Api-Version` header, e.g. "1.41".
    package var apiVersion: String?
}

/// A container as listed by `GET /containers/json`.
package struct ContainerSummary: Sendable, Equatable, Decodable {
    package var id: String
    package var names: [String]
    package var labels: [String: String]
    package var state: String

    enum CodingKeys: String, CodingKey { case id = "Id", names = "Names", labels = "Labels", state = "State" }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        names = try container.decodeIfPresent([String].self, forKey: .names) ?? []
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        state = try container.decodeIfPresent(String.self, forKey: .state) ?? ""
    }
}

/// An image as described by `GET /images/{name}/json`.
package struct ImageSummary: Sendable, Equatable {
    package var id: String
    package var tags: [String]
    package var labels: [String: String]
    /// Bytes, as the engine reports them (0 when it does not).
    package var size: Int64 = 0
}

/// A network as `GET /networks/{name}` describes it: its IPAM subnets and their gateways.
package struct NetworkSummary: Sendable, Equatable {
    package struct Subnet: Sendable, Equatable {
        package var subnet: String
        package var gateway: String?
        package init(subnet: String, gateway: String?) {
            self.subnet = subnet
            self.gateway = gateway
        }
    }
    package var name: String
    package var subnets: [Subnet]
}

/// How an exec'd process stands (`GET /exec/{id}/json`).
package struct ExecState: Sendable, Equatable {
    package var running: Bool
    package var exitCode: Int32?
}

/// The subset of the Docker Engine API (v1.41) that Pushbox uses, over the engine's unix socket. Works with
/// Docker and with Podman's `podman system service`. Statuses other than success become `EngineAPIError`
/// carrying the engine's message; transport trouble stays `HTTPClientError`.
package struct DockerEngineClient: Sendable {
    package let socketPath: String
    /// Limit for ordinary calls; streams (exec output, image import) have their own.
    package var requestTimeout: Duration
    private let http: HTTPClient
    private static let apiPrefix = "/v1.41"

    package init(socketPath: String, requestTimeout: Duration = .seconds(60), http: HTTPClient = HTTPClient()) {
        self.socketPath = socketPath
        self.requestTimeout = requestTimeout
        self.http = http
    }

    // MARK: Engine

    /// `GET /_ping`. Podman says who it is in `Libpod-Api-Version`.
    package func ping(timeout: Duration = .seconds(5)) async throws -> EnginePing {
        let response = try await send(.get, "/_ping", versioned: false, timeout: timeout)
        try expect(response, "GET /_ping", 200)
        let flavor: EngineFlavor = response.head.headers.contains("Libpod-Api-Version") ? .podman : .docker
        return EnginePing(flavor: flavor, apiVersion: response.head.headers["Api-Version"])
    }

    /// `GET /version`: the engine's `Version` and `ApiVersion`.
    package func version() async throws -> (version: String, apiVersion: String) {
        let response = try await send(.get, "/version")
        try expect(response, "GET /version", 200)
        let object = try json(response.body)
        return (object["Version"] as? String ?? "", object["ApiVersion"] as? String ?? "")
    }

    // MARK: Containers

    /// `POST /containers/create?name=…` → container id.
    package func createContainer(body: Data, name: String?) async throws -> String {
        var path = "/containers/create"
        if let name { path += "?name=" + Self.query(name) }
        let response = try await send(.post, path, json: body)
        try expect(response, "POST /containers/create", 201)
        guard let id = try json(response.body)["Id"] as? String else {
            throw EngineAPIError(operation: "POST /containers/create", status: response.status, message: "no Id in the answer")
        }
        return id
    }

    package func startContainer(_ id: String) async throws {
        let response = try await send(.post, "/containers/\(id)/start")
        try expect(response, "POST /containers/\(id)/start", 204, 304)
    }

    /// `POST /containers/{id}/kill`. A container that is not running (409) or gone (404) is left alone.
    package func killContainer(_ id: String, signal: String = "KILL") async throws {
        let response = try await send(.post, "/containers/\(id)/kill?signal=\(signal)")
        try expect(response, "POST /containers/\(id)/kill", 204, 404, 409)
    }

    /// `DELETE /containers/{id}?force=…`; returns false when there was no such container.
    @discardableResult
    package func removeContainer(_ id: String, force: Bool = true) async throws -> Bool {
        let response = try await send(.delete, "/containers/\(id)?force=\(force ? 1 : 0)&v=1")
        try expect(response, "DELETE /containers/\(id)", 200, 204, 404)
        return response.status != 404
    }

    /// `GET /containers/json?all=1` filtered by labels (`"key=value"` or `"key"`), running or not.
    package func listContainers(labels: [String]) async throws -> [ContainerSummary] {
        let filters = try JSONSerialization.data(withJSONObject: ["label": labels], options: [.sortedKeys])
        let response = try await send(.get, "/containers/json?all=1&filters=" + Self.query(String(decoding: filters, as: UTF8.self)))
        try expect(response, "GET /containers/json", 200)
        return try JSONDecoder().decode([ContainerSummary].self, from: response.body)
    }

    /// Whether the container exists, and its `State.Status` ("running", "exited", …).
    package func containerStatus(_ id: String) async throws -> String? {
        let response = try await send(.get, "/containers/\(id)/json")
        if response.status == 404 { return nil }
        try expect(response, "GET /containers/\(id)/json", 200)
        return (try json(response.body)["State"] as? [String: Any])?["Status"] as? String
    }

    /// `State.Pid` of a running container: its first process as the host sees it (0 when not running).
    package func containerPID(_ id: String) async throws -> Int32 {
        let response = try await send(.get, "/containers/\(id)/json")
        try expect(response, "GET /containers/\(id)/json", 200)
        let state = try json(response.body)["State"] as? [String: Any]
        return Int32(truncatingIfNeeded: (state?["Pid"] as? NSNumber)?.intValue ?? 0)
    }

    // MARK: Exec

    /// `POST /containers/{id}/exec` → exec id.
    package func createExec(container: String, body: Data) async throws -> String {
        let response = try await send(.post, "/containers/\(container)/exec", json: body)
        try expect(response, "POST /containers/\(container)/exec", 201)
        guard let id = try json(response.body)["Id"] as? String else {
            throw EngineAPIError(operation: "POST /containers/\(container)/exec", status: response.status, message: "no Id in the answer")
        }
        return id
    }

    /// `POST /exec/{id}/start`: the process's multiplexed output (see `DockerLogDecoder`) as it is produced,
    /// until it exits. Stop iterating (or cancel) to drop the connection; that does not stop the process.
    package func startExec(_ id: String) async throws -> AsyncThrowingStream<Data, any Error> {
        let request = HTTPRequest(
            .post, url("/exec/\(id)/start"), unixSocketPath: socketPath,
            headers: ["Content-Type": "application/json"], body: .data(Data(#"{"Detach":false,"Tty":false}"#.utf8)),
            timeout: nil)
        let response = try await http.stream(request)
        guard response.status == 200 else {
            var body = Data()
            for try await chunk in response.body { body.append(chunk) }
            throw apiError("POST /exec/\(id)/start", response.status, body)
        }
        return response.body
    }

    package func inspectExec(_ id: String) async throws -> ExecState {
        let response = try await send(.get, "/exec/\(id)/json")
        try expect(response, "GET /exec/\(id)/json", 200)
        let object = try json(response.body)
        return ExecState(running: object["Running"] as? Bool ?? false,
                         exitCode: (object["ExitCode"] as? NSNumber).map { Int32(truncatingIfNeeded: $0.intValue) })
    }

    // MARK: Images

    /// `GET /images/{name}/json`; nil when the engine has no such image.
    package func inspectImage(_ name: String) async throws -> ImageSummary? {
        let response = try await send(.get, "/images/\(name)/json")
        if response.status == 404 { return nil }
        try expect(response, "GET /images/\(name)/json", 200)
        let object = try json(response.body)
        let config = object["Config"] as? [String: Any]
        return ImageSummary(id: object["Id"] as? String ?? "",
                            tags: object["RepoTags"] as? [String] ?? [],
                            labels: config?["Labels"] as? [String: String] ?? [:],
                            size: (object["Size"] as? NSNumber)?.int64Value ?? 0)
    }

    /// `POST /images/create?fromSrc=-&repo=…&changes=…` with the root filesystem tar streamed from disk as
    /// the body. `repository` carries the tag (`name:tag`: Podman ignores a separate `tag` parameter).
    /// The engine reports import failures inside a 200 answer (`{"error": …}`); those throw too.
    package func importImage(tarFile: URL, repository: String, changes: [String], timeout: Duration = .seconds(30 * 60)) async throws {
        var path = "/images/create?fromSrc=-&repo=" + Self.query(repository)
        for change in changes { path += "&changes=" + Self.query(change) }
        let request = HTTPRequest(
            .post, url(path), unixSocketPath: socketPath, headers: ["Content-Type": "application/x-tar"],
            body: .file(tarFile), timeout: timeout)
        let response = try await http.execute(request)
        try expect(response, "POST /images/create", 200)
        for line in response.body.split(separator: UInt8(ascii: "\n")) {
            if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
               let error = object["error"] as? String ?? (object["errorDetail"] as? [String: Any])?["message"] as? String {
                throw EngineAPIError(operation: "POST /images/create", status: response.status, message: error)
            }
        }
    }

    /// `DELETE /images/{name}`. Returns false when the image does not exist; throws `EngineAPIError` with
    /// status 409 when a container still uses it.
    @discardableResult
    package func removeImage(_ nameOrID: String, force: Bool = false) async throws -> Bool {
        let response = try await send(.delete, "/images/\(nameOrID)?force=\(force ? 1 : 0)")
        try expect(response, "DELETE /images/\(nameOrID)", 200, 404)
        return response.status != 404
    }

    // MARK: Networks

    /// `GET /networks/{name}`: its IPAM subnets (with gateways); nil when the engine has no such network.
    package func inspectNetwork(_ name: String) async throws -> NetworkSummary? {
        let response = try await send(.get, "/networks/\(name)")
        if response.status == 404 { return nil }
        try expect(response, "GET /networks/\(name)", 200)
        let object = try json(response.body)
        let configs = (object["IPAM"] as? [String: Any])?["Config"] as? [[String: Any]] ?? []
        return NetworkSummary(name: object["Name"] as? String ?? name,
                              subnets: configs.compactMap { config in
                                  (config["Subnet"] as? String).map { NetworkSummary.Subnet(subnet: $0, gateway: config["Gateway"] as? String) }
                              })
    }

    /// `POST /networks/create`: a bridge network, IPv4 only, with `labels`. A network of that name that
    /// already exists (another daemon made it first) is not an error.
    package func createNetwork(name: String, labels: [String: String]) async throws {
        let body = try JSONSerialization.data(withJSONObject: [
            "Name": name, "Driver": "bridge", "EnableIPv6": false, "Internal": false, "CheckDuplicate": true, "Labels": labels,
        ] as [String: Any], options: [.sortedKeys])
        let response = try await send(.post, "/networks/create", json: body)
        try expect(response, "POST /networks/create", 200, 201, 409)
    }

    // MARK: Plumbing

    private func url(_ path: String, versioned: Bool = true) -> String {
        "http://localhost" + (versioned ? Self.apiPrefix : "") + path
    }

    private func send(_ method: HTTPMethod, _ path: String, json body: Data? = nil, versioned: Bool = true,
                      timeout: Duration? = nil) async throws -> HTTPResponse {
        var headers: HTTPHeaders = [:]
        if body != nil { headers.add("Content-Type", "application/json") }
        return try await http.execute(HTTPRequest(
            method, url(path, versioned: versioned), unixSocketPath: socketPath, headers: headers,
            body: body.map { .data($0) } ?? .empty, connectTimeout: .seconds(5), timeout: timeout ?? requestTimeout))
    }

    private func expect(_ response: HTTPResponse, _ operation: String, _ accepted: Int...) throws {
        guard !accepted.contains(response.status) else { return }
        throw apiError(operation, response.status, response.body)
    }

    private func apiError(_ operation: String, _ status: Int, _ body: Data) -> EngineAPIError {
        let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
        let message = object?["message"] as? String
            ?? String(decoding: body.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return EngineAPIError(operation: operation, status: status, message: message)
    }

    private func json(_ data: Data) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw EngineAPIError(operation: "decode", status: 0, message: "expected a JSON object: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        return object
    }

    /// Percent-encodes a query value (RFC 3986 unreserved characters stay).
    static func query(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
