import Core
import Foundation
import HTTP
import Logging

/// An error answer of the Messages API that is not retried (or the last one when retries ran out):
/// status, `error.type`, the API's own `error.message`, and the `request-id` header when present.
package struct AnthropicAPIError: Error, CustomStringConvertible, Sendable, Equatable {
    package var status: Int
    /// `authentication_error`, `invalid_request_error`, `overloaded_error`, … (`http_error` when the body
    /// was not an API error body, e.g. a proxy's page).
    package var type: String
    package var message: String
    package var requestID: String?

    package init(status: Int, type: String, message: String, requestID: String? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.requestID = requestID
    }

    package var description: String {
        "Anthropic API \(status) \(type): \(message)" + (requestID.map { " (request-id \($0))" } ?? "")
    }
}

/// The retry budget ran out: too many retries, or the total time cap would be passed by the next wait.
package struct RetryBudgetExhausted: Error, CustomStringConvertible, Sendable, Equatable {
    /// Requests sent, the first one included.
    package var attempts: Int
    /// Time since the first request.
    package var elapsed: Duration
    /// Which limit ended it, e.g. "4 retries" or "the server asked to wait 120 s, past the 15 min cap".
    package var limit: String
    /// The last failure, credential-free: an API error's description or a transport error's message.
    package var lastFailure: String
    /// The last API error, when the last failure was one.
    package var lastAPIError: AnthropicAPIError?

    package var description: String {
        "the model API still failed after \(attempts) requests in \(String(format: "%.1f", seconds(elapsed))) s (retry budget: \(limit)); last failure: \(lastFailure)"
    }
}

/// What `AnthropicClient.send` reports beside the response.
package struct ModelCallInfo: Sendable, Equatable {
    /// Requests sent, the first one included (1 when nothing was retried).
    package var attempts: Int
    /// The `request-id` header of the successful response.
    package var requestID: String?
    /// The waits between the requests, in order.
    package var delays: [Duration]
}

/// `ModelClient` over the Anthropic Messages API: `POST {baseURL}/v1/messages` with `x-api-key`,
/// `anthropic-version` and a JSON body, over libcurl (`HTTPClient`). Retries as `RetryPolicy` says.
/// The API key is held privately: it is never logged, and any text that came from elsewhere (the server's
/// messages, transport errors) has it masked before it becomes part of an error.
package struct AnthropicClient: ModelClient, CustomStringConvertible {
    package static let defaultBaseURL = "https://api.anthropic.com"
    /// Both 2023-06-01 and 2026-10-21 are valid; the newer one is what SDK 2.x sends (notes §0).
    package static let defaultAPIVersion = "2026-10-21"

    package let baseURL: String
    package let apiVersion: String
    package let retry: RetryPolicy
    /// Limit for one request (connect + send + wait + read); the remaining total time is applied as well.
    package let requestTimeout: Duration
    package let connectTimeout: Duration
    private let apiKey: String
    private let masker: SecretMasker
    private let timing: RetryTiming
    private let http: HTTPClient
    private let logger: Logger

    /// - Parameters:
    ///   - baseURL: e.g. `https://api.anthropic.com` (the caller reads the config or `ANTHROPIC_BASE_URL`);
    ///     a trailing `/` is ignored.
    ///   - apiKey: the key itself (the caller reads the environment variable the config names).
    package init(baseURL: String = AnthropicClient.defaultBaseURL, apiKey: String,
                 apiVersion: String = AnthropicClient.defaultAPIVersion, retry: RetryPolicy = RetryPolicy(),
                 requestTimeout: Duration = .seconds(600), connectTimeout: Duration = .seconds(10),
                 timing: RetryTiming = .live, http: HTTPClient = HTTPClient(), logger: Logger) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.timing = timing
        self.http = http
        self.logger = logger
        masker = SecretMasker(secrets: [apiKey])
    }

    package var description: String { "AnthropicClient(\(baseURL), version \(apiVersion), key ***)" }

    package func createMessage(_ request: MessageRequest) async throws -> MessageResponse {
        try await send(request).response
    }

    /// `createMessage` with how it went: requests sent, the waits, the request id.
    package func send(_ request: MessageRequest) async throws -> (response: MessageResponse, info: ModelCallInfo) {
        let body = try request.encoded()
        let start = timing.uptime()
        var delays: [Duration] = []
        var attempt = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            let remaining = retry.totalTime - (timing.uptime() - start)
            let failure: Failure
            do {
                let response = try await http.execute(httpRequest(body: body, timeout: min(requestTimeout, max(remaining, .milliseconds(1)))))
                let requestID = response.head.headers["request-id"]
                if response.status == 200 {
                    do {
                        let message = try MessageResponse.decode(response.body)
                        logger.debug("model answered", metadata: [
                            "model": "\(message.model)", "stop_reason": "\(message.stopReason?.rawValue ?? "null")",
                            "attempt": "\(attempt)", "request_id": "\(requestID ?? "-")",
                        ])
                        return (message, ModelCallInfo(attempts: attempt, requestID: requestID, delays: delays))
                    } catch let error as InvalidResponseError {
                        // An error body inside a 200 (as an interrupted stream would carry) is retried like
                        // the status it stands for; anything else is not an answer we can use.
                        guard let apiError = APIErrorBody.parse(response.body) else { throw masked(error) }
                        failure = .api(apiError: apiError, status: 200, headers: response.head.headers, requestID: requestID,
                                       retryable: ["overloaded_error", "api_error", "rate_limit_error"].contains(apiError.error.type))
                    }
                } else {
                    let parsed = APIErrorBody.parse(response.body)
                    let apiError = parsed ?? APIErrorBody(type: "http_error", message: Self.nonAPIBodySummary(response.body))
                    failure = .api(apiError: apiError, status: response.status, headers: response.head.headers, requestID: requestID ?? parsed?.requestID,
                                   retryable: RetryPolicy.isRetryable(status: response.status, headers: response.head.headers))
                }
            } catch let error as HTTPClientError {
                failure = .transport(error)
            }
            // CancellationError and anything unexpected propagate from the `do` above.

            let (lastFailure, apiError, headers, retryable) = describe(failure)
            guard retryable else {
                // Only API errors can be final here: transport failures are always retryable.
                throw apiError ?? AnthropicAPIError(status: 0, type: "transport_error", message: lastFailure)
            }
            let retryIndex = attempt - 1
            let elapsed = timing.uptime() - start
            guard retryIndex < retry.maxRetries else {
                throw RetryBudgetExhausted(attempts: attempt, elapsed: elapsed, limit: "\(retry.maxRetries) retries",
                                           lastFailure: lastFailure, lastAPIError: apiError)
            }
            let delay = retry.delay(retry: retryIndex, headers: headers, now: timing.now(), random: timing.random())
            guard elapsed + delay < retry.totalTime else {
                throw RetryBudgetExhausted(
                    attempts: attempt, elapsed: elapsed,
                    limit: "waiting \(String(format: "%.1f", seconds(delay))) s more would pass the \(String(format: "%.0f", seconds(retry.totalTime))) s cap",
                    lastFailure: lastFailure, lastAPIError: apiError)
            }
            logger.notice("model API request failed; retrying", metadata: [
                "attempt": "\(attempt)", "delay_s": "\(String(format: "%.3f", seconds(delay)))", "failure": "\(lastFailure)",
            ])
            delays.append(delay)
            try await timing.sleep(delay)
        }
    }

    private enum Failure {
        case api(apiError: APIErrorBody, status: Int, headers: HTTPHeaders, requestID: String?, retryable: Bool)
        case transport(HTTPClientError)
    }

    /// (credential-free description, the API error if any, response headers, whether it may be retried)
    private func describe(_ failure: Failure) -> (String, AnthropicAPIError?, HTTPHeaders, Bool) {
        switch failure {
        case .api(let body, let status, let headers, let requestID, let retryable):
            let error = AnthropicAPIError(status: status, type: mask(body.error.type), message: mask(body.error.message), requestID: requestID)
            return (error.description, error, headers, retryable)
        case .transport(let error):
            return (mask("\(error.function): \(error.message)"), nil, HTTPHeaders(), true)
        }
    }

    private func httpRequest(body: Data, timeout: Duration) -> HTTPRequest {
        HTTPRequest(.post, baseURL + "/v1/messages", headers: [
            "x-api-key": apiKey,
            "anthropic-version": apiVersion,
            "content-type": "application/json",
            "accept": "application/json",
        ], body: .data(body), connectTimeout: min(connectTimeout, timeout), timeout: timeout)
    }

    private func mask(_ text: String) -> String {
        String(decoding: masker.mask(Data(text.utf8)), as: UTF8.self)
    }

    private func masked(_ error: InvalidResponseError) -> InvalidResponseError {
        var error = error
        error.bodyPrefix = mask(error.bodyPrefix)
        error.reason = mask(error.reason)
        return error
    }

    /// A few words from a body that is not an API error (HTML from a proxy, empty).
    static func nonAPIBodySummary(_ body: Data) -> String {
        let text = String(decoding: body.prefix(400), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
        return text.isEmpty ? "(empty body)" : String(text.prefix(200))
    }
}
