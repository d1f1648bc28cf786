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
    /// The budget that was used up (`max_turns`, `cost`, `wall_time`), for the session's record.
    package var budget: String?

    package init(status: Int, type: String, message: String, budget: String? = nil) {
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
    /// fields dropped, and `accept-encoding: identity` so that the proxy can read the usage in the answer.
    package static func upstreamHeaders(_ headers: [(name: String, value: String)], apiKey: String) -> [(name: String, value: String)] {
        var out = headers.filter { field in
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

    /// The `model` of a Messages request body, nil when the body is not a JSON object with one.
    package static func model(ofRequestBody body: Data) -> String? {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["model"] as? String
    }

    /// Whether one more request of `route` may go upstream, given what the session has used. A
    /// `messages` request beyond `maxRequests` turns, at or past the cost budget, or after the wall time
    /// is refused with a `permission_error` naming the budget; token counting only with the wall time.
    package static func admit(_ route: ProxyRoute, turnsAdmitted: Int, costUSD: Double, elapsed: Duration,
                              budget: ModelSessionBudget) -> ProxyRefusal? {
        if elapsed >= budget.wallTime {
            return ProxyRefusal(status: 403, type: "permission_error",
                                message: "pushbox model proxy: the attempt's wall time of \(budget.wallTime) is used up", budget: "wall_time")
        }
        guard route == .messages else { return nil }
        if turnsAdmitted >= budget.maxRequests {
            return ProxyRefusal(status: 403, type: "permission_error",
                                message: "pushbox model proxy: the attempt's budget of \(budget.maxRequests) model requests (max_turns) is used up",
                                budget: "max_turns")
        }
        if costUSD >= budget.maxCostUSD {
            return ProxyRefusal(status: 403, type: "permission_error",
                                message: "pushbox model proxy: the attempt's cost budget of $\(String(format: "%.2f", budget.maxCostUSD)) is used up ($\(String(format: "%.4f", costUSD)) spent)",
                                budget: "cost")
        }
        return nil
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
