/// Sends one request to a Messages API (`POST /v1/messages`) and returns the model's turn.
///
/// Contract: returns only a decoded message (any `stop_reason`); throws for everything else — an API
/// error the client does not retry (`AnthropicAPIError`), a retry budget used up (`RetryBudgetExhausted`),
/// a body that is not a message (`InvalidResponseError`), or `CancellationError` when the calling task is
/// cancelled. Retries, backoff and timeouts are the implementation's business; error messages never contain
/// credentials.
package protocol ModelClient: Sendable {
    func createMessage(_ request: MessageRequest) async throws -> MessageResponse
}
