import Agent
import Foundation

/// The endpoints the model proxy forwards; everything else is refused.
package enum ProxyRoute: String, Sendable, Equatable {
    /// `POST /v1/messages` (with or without `?beta=true`): one turn of the attempt's budget.
    case messages = "/v1/messages"
    /// `POST /v1/messages/count_tokens`: forwarded, not a turn, no cost.
    case countTokens = "/v1/messages/count_tokens"
}

/// Why the proxy answers itself instead of forwarding: an Anthropic-format error (notes §6).
package struct ProxyRefusal: Sendable, Equatable, Error {
    package var status: Int
    /// `error.type`: `authentication_error`, `not_found_error`, `permission_error`, …
    package var type: String
    package var message: String
    /// The budget that was used up, for the session's record; nil for a refusal that is not about a budget.
    package var budget: ModelBudgetLimit?

    package init(status: Int, type: String, message: String, budget: ModelBudgetLimit? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.budget = budget
    }

    /// `{"type":"error","error":{"type","message"},"request_id"}`, as the API answers.
    package var body: Data {
        let object: [String: Any] = ["type": "error", "error": ["type": type, "message": message], "request_id": "req_pushbox_proxy"]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// Headers of the refusal: JSON, and `x-should-retry: false` (the SDKs and the CLI would otherwise
    /// retry some of these statuses for minutes).
    package var headers: [(name: String, value: String)] {
        [("content-type", "application/json"), ("x-should-retry", "false")]
    }
}

/// The pure part of the model proxy: which requests pass, what is forwarded in which direction, and the
/// budget decisions. No I/O here; `ProxyRulesTests` are table tests.
package enum ProxyRules {
    /// Request bodies above this are refused (the API's own limit, notes §9).
    package static let maxRequestBytes = 32 << 20

    /// The route of `method path`, nil for anything that is not a Messages endpoint (the query, such as
    /// `?beta=true`, is kept when forwarding and ignored here).
    package static func route(method: String, path: String) -> ProxyRoute? {
        guard method == "POST" else { return nil }
        let bare = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        return ProxyRoute(rawValue: bare)
    }

    package static let notFound = ProxyRefusal(
        status: 404, type: "not_found_error",
        message: "pushbox model proxy: only POST /v1/messages and POST /v1/messages/count_tokens are forwarded")

    package static let badToken = ProxyRefusal(
        status: 401, type: "authentication_error",
        message: "pushbox model proxy: invalid x-api-key (not this attempt's token, or the attempt has ended)")

    /// The credential a client sent: `x-api-key`, else `authorization: Bearer …` (both are valid API forms).
    package static func token(in headers: [(name: String, value: String)]) -> String? {
        if let key = value("x-api-key", in: headers), !key.isEmpty { return key }
        if let authorization = value("authorization", in: headers), authorization.lowercased().hasPrefix("bearer ") {
            return String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Hop-by-hop fields (RFC 9110 §7.6.1) and those the forwarding connection sets itself.
    static let notForwarded: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length", "expect",
    ]

    /// The client's headers as sent upstream: credentials replaced by the real key (`x-api-key`), hop-by-hop
    /// fields dropped, the server-tool flags of `anthropic-beta` dropped (`filteredBetas`), and
    /// `accept-encoding: identity` so that the proxy can read the usage in the answer.
    package static func upstreamHeaders(_ headers: [(name: String, value: String)], apiKey: String) -> [(name: String, value: String)] {
        var out = filteredBetas(headers).filter { field in
            let name = field.name.lowercased()
            return !notForwarded.contains(name) && name != "x-api-key" && name != "authorization" && name != "accept-encoding"
        }
        out.append(("x-api-key", apiKey))
        out.append(("accept-encoding", "identity"))
        return out
    }

    /// The upstream's headers as sent to the client, unchanged (status, `retry-after`, `retry-after-ms`,
    /// `x-should-retry`, `request-id`, rate-limit fields) except hop-by-hop fields and the length (the
    /// proxy streams the body on as it arrives).
    package static func downstreamHeaders(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        headers.filter { !notForwarded.contains($0.name.lowercased()) }
    }

    /// `base` + the client's path and query: `https://api.anthropic.com` + `/v1/messages?beta=true`. A base
    /// with a path (a gateway under `/anthropic`) keeps it.
    package static func upstreamURL(base: String, pathAndQuery: String) -> String {
        var base = base
        while base.hasSuffix("/") { base.removeLast() }
        return base + (pathAndQuery.hasPrefix("/") ? pathAndQuery : "/" + pathAndQuery)
    }

    /// Request fields that make the API itself connect to an address the request names (an MCP server;
    /// a code-execution container that fetches), with why: refused, since the container must reach no
    /// outside address, not even through the API.
    static let refusedFields: [(field: String, why: String)] = [
        ("mcp_servers", "MCP servers make the API connect to addresses outside the sandbox"),
        ("container", "code-execution containers run on the API's side, outside the sandbox and the cost budget"),
    ]

    /// Prefixes of the `type` of server tools: tools the API runs itself — it searches and fetches the web,
    /// executes code, connects to MCP servers — outside the sandbox and outside the cost budget (their fees
    /// are not in the usage's token counts). Removed from `tools` rather than refused: the Claude Code CLI
    /// may declare some on every request and must keep working without them.
    static let serverToolPrefixes = ["web_search", "web_fetch", "code_execution", "mcp"]

    /// Prefixes of `anthropic-beta` flags that only enable server tools and MCP connections (dropped
    /// from the header too; the body rules already keep out what they enable).
    static let serverToolBetaPrefixes = ["mcp-client-", "code-execution-", "web-fetch-", "web-search-"]

    /// A request body the proxy may forward, with what it took out.
    package struct CheckedBody: Sendable, Equatable {
        /// The bytes to send upstream: the client's own when nothing was removed, else the object re-encoded.
        package var body: Data
        /// `type` of each server tool removed from `tools`, in order.
        package var removedTools: [String]
        /// `model`, when the body has one.
        package var model: String?
        /// `max_tokens`, when the body has one.
        package var maxTokens: Int?
    }

    /// The body of a Messages or token-counting request as the proxy forwards it, or why not: it must be
    /// a JSON object (else 400); `mcp_servers` or `container` (any value) is refused naming the field; an
    /// image or document block anywhere whose `source` is `{"type":"url"}` is refused (the API would fetch
    /// the URL); server tools (`serverToolPrefixes`) are removed from `tools`, and a `tool_choice` that
    /// only they could satisfy goes too. Everything else passes as it is, byte for byte when nothing was
    /// removed.
    package static func checkRequestBody(_ body: Data) -> Result<CheckedBody, ProxyRefusal> {
        guard var object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            return .failure(invalidRequest("the request body is not a JSON object"))
        }
        for (field, why) in refusedFields where object[field] != nil {
            return .failure(invalidRequest("the field \(field) is refused: \(why)"))
        }
        for field in ["messages", "system"] {
            if let object = object[field], let path = urlSource(in: object, path: field) {
                return .failure(invalidRequest("\(path) is refused: a source of type url makes the API fetch an address outside the sandbox; send the content (base64 or text) instead"))
            }
        }
        var removed: [String] = []
        var removedNames: Set<String> = []
        if let tools = object["tools"] as? [Any] {
            let kept = tools.filter { tool in
                guard let definition = tool as? [String: Any], let type = definition["type"] as? String,
                      isServerTool(type) else { return true }
                removed.append(type)
                if let name = definition["name"] as? String { removedNames.insert(name) }
                return false
            }
            if !removed.isEmpty {
                object["tools"] = kept
                // A choice the remaining tools cannot satisfy would be the API's 400; without it the model
                // picks among the rest.
                if let choice = object["tool_choice"] as? [String: Any], let type = choice["type"] as? String,
                   (type == "tool" && removedNames.contains(choice["name"] as? String ?? "")) || (type == "any" && kept.isEmpty) {
                    object["tool_choice"] = nil
                }
            }
        }
        var forwarded = body
        if !removed.isEmpty {
            guard let encoded = try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes]) else {
                return .failure(invalidRequest("the request body could not be re-encoded after removing server tools"))
            }
            forwarded = encoded
        }
        return .success(CheckedBody(body: forwarded, removedTools: removed, model: object["model"] as? String,
                                    maxTokens: (object["max_tokens"] as? NSNumber)?.intValue))
    }

    /// Whether a tool `type` names a server tool (`web_search_20250305`, `web_fetch_20250910`,
    /// `code_execution_20250825`, `mcp_toolset`, …).
    package static func isServerTool(_ type: String) -> Bool {
        let type = type.lowercased()
        return serverToolPrefixes.contains { type.hasPrefix($0) }
    }

    /// `anthropic-beta` values without the flags of `serverToolBetaPrefixes` (a field left empty goes).
    package static func filteredBetas(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        headers.compactMap { field in
            guard field.name.lowercased() == "anthropic-beta" else { return field }
            let flags = field.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { flag in !flag.isEmpty && !serverToolBetaPrefixes.contains { flag.lowercased().hasPrefix($0) } }
            return flags.isEmpty ? nil : (field.name, flags.joined(separator: ","))
        }
    }

    /// The path (`messages[1].content[0].source`) of the first object under `value` with a `source` of
    /// type `url`, nil when none.
    static func urlSource(in value: Any, path: String) -> String? {
        if let array = value as? [Any] {
            for (index, element) in array.enumerated() {
                if let found = urlSource(in: element, path: "\(path)[\(index)]") { return found }
            }
        } else if let object = value as? [String: Any] {
            if let source = object["source"] as? [String: Any], source["type"] as? String == "url" { return path + ".source" }
            for key in object.keys.sorted() {
                if let found = urlSource(in: object[key]!, path: "\(path).\(key)") { return found }
            }
        }
        return nil
    }

    /// A 400 `invalid_request_error`, as the API answers a malformed request.
    static func invalidRequest(_ why: String) -> ProxyRefusal {
        ProxyRefusal(status: 400, type: "invalid_request_error", message: "pushbox model proxy: \(why)")
    }

    /// The `model` of a Messages request body, nil when the body is not a JSON object with one.
    package static func model(ofRequestBody body: Data) -> String? {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["model"] as? String
    }

    /// Whether one more request of `route` may go upstream, given what the session has used. A
    /// `messages` request beyond `maxRequests` turns, or when the cost spent plus the cost reserved by the
    /// requests still in flight (`reservedUSD`, see `reservation`) reaches the cost budget, or after the wall
    /// time is refused with a `permission_error` naming the budget; token counting only with the wall time.
    /// The request's own reservation is not part of the sum: a request may end past the budget (by at most
    /// its `max_tokens`), which is what makes the next one refused, but it is never refused beforehand for
    /// what it might cost — a `max_tokens` near the model's limit would otherwise refuse every request.
    package static func admit(_ route: ProxyRoute, turnsAdmitted: Int, spentUSD: Double, reservedUSD: Double = 0,
                              elapsed: Duration, budget: ModelSessionBudget) -> ProxyRefusal? {
        if elapsed >= budget.wallTime {
            return ProxyRefusal(status: 403, type: "permission_error",
                                message: "pushbox model proxy: the attempt's wall time of \(budget.wallTime) is used up", budget: .wallTime)
        }
        guard route == .messages else { return nil }
        if turnsAdmitted >= budget.maxRequests {
            return ProxyRefusal(status: 403, type: "permission_error",
                                message: "pushbox model proxy: the attempt's budget of \(budget.maxRequests) model requests (max_turns) is used up",
                                budget: .turns)
        }
        if spentUSD + reservedUSD >= budget.maxCostUSD {
            let inFlight = reservedUSD > 0 ? ", $\(String(format: "%.4f", reservedUSD)) reserved by requests in flight" : ""
            return ProxyRefusal(status: 403, type: "permission_error",
                                message: "pushbox model proxy: the attempt's cost budget of $\(String(format: "%.2f", budget.maxCostUSD)) is used up ($\(String(format: "%.4f", spentUSD)) spent\(inFlight))",
                                budget: .cost)
        }
        return nil
    }

    /// What an admitted Messages request reserves of the cost budget until its answer ends and its real
    /// cost replaces the reservation: the most it can cost in output, `max_tokens` at the model's output
    /// price. The input is not counted (the proxy does not tokenize; its cost shows in the answer's usage).
    /// Zero when the body has no `max_tokens` (the API refuses such a request).
    package static func reservation(maxTokens: Int?, price: ModelPrice) -> Double {
        Double(max(0, maxTokens ?? 0)) * price.output / 1_000_000
    }

    /// A Messages request for a model the runner has no price for: its cost could not be bounded.
    package static func noPrice(for model: String?) -> ProxyRefusal {
        ProxyRefusal(status: 400, type: "invalid_request_error",
                     message: "pushbox model proxy: no price for model \(model ?? "(none)"); add it to autofix.prices in the runner configuration")
    }

    /// Compares in time that depends only on the lengths, not on where the strings differ.
    package static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    static func value(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}
