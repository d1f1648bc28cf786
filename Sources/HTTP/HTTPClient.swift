import Foundation
import Synchronization

/// A small HTTP/1.1 client over libcurl, for TCP and unix-socket servers (the container engine, webhooks,
/// model APIs). Each transfer runs on a thread of its own, because libcurl blocks; the async API bridges to
/// it. TLS peers are verified; the usual proxy environment variables are honoured except for unix sockets
/// and loopback addresses. Cancelling the calling task aborts the transfer at once (the transfer waits in
/// `curl_multi_poll`, which `curl_multi_wakeup` interrupts).
///
/// Response bodies are not flow-controlled: chunks are buffered until the consumer takes them.
package struct HTTPClient: Sendable {
    package init() {}

    /// Performs `request` and reads the whole body. Any status is returned; only transport failures throw
    /// (`HTTPClientError`), and cancellation throws `CancellationError`.
    package func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        let response = try await stream(request)
        var body = Data()
        for try await chunk in response.body {
            body.append(chunk)
        }
        // The stream ends quietly when the iterating task is cancelled: do not pass a cut body off as whole.
        try Task.checkCancellation()
        return HTTPResponse(head: response.head, body: body)
    }

    /// Performs `request` and returns as soon as the status line and header fields have arrived; the body
    /// follows as chunks in the order received. Abandoning the body (stopping iteration, dropping it,
    /// cancelling the task) aborts the transfer.
    package func stream(_ request: HTTPRequest) async throws -> HTTPStreamingResponse {
        try Task.checkCancellation()
        let (body, bodyContinuation) = AsyncThrowingStream<Data, any Error>.makeStream()
        let head = HeadHandoff()
        let transfer = try Transfer(request, events: TransferEvents(
            head: { head.resume(with: .success($0)) },
            body: { bodyContinuation.yield($0) },
            end: { result in
                switch result {
                case .success: head.resume(with: .failure(HTTPClientError(
                    function: "curl_easy_perform", code: -1, message: "no response", request: request.summary)))
                    bodyContinuation.finish()
                case .failure(let error):
                    head.resume(with: .failure(error))
                    bodyContinuation.finish(throwing: error)
                }
            }))
        let flag = transfer.flag
        bodyContinuation.onTermination = { termination in
            if case .cancelled = termination { flag.cancel() }
        }
        let responseHead = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                head.install(continuation)
                transfer.start()
            }
        } onCancel: {
            flag.cancel()
        }
        return HTTPStreamingResponse(head: responseHead, body: body)
    }
}

/// Hands the response head from the transfer thread to the awaiting task exactly once; later results
/// (the end of a transfer whose head was already delivered) are dropped.
private final class HeadHandoff: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<HTTPResponseHead, any Error>?, done: Bool)>((nil, false))

    func install(_ continuation: CheckedContinuation<HTTPResponseHead, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    func resume(with result: Result<HTTPResponseHead, any Error>) {
        let continuation: CheckedContinuation<HTTPResponseHead, any Error>? = state.withLock { state in
            guard !state.done else { return nil }
            state.done = true
            let continuation = state.continuation
            state.continuation = nil
            return continuation
        }
        continuation?.resume(with: result)
    }
}
