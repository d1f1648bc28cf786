import CCurl
import Foundation

/// libcurl's process-wide setup, run once before the first handle is made: a global `let` is initialised
/// lazily and exactly once, whichever thread gets there first.
private let curlGlobalInit: Int32 = Int32(curl_global_init(Int(CURL_GLOBAL_ALL)).rawValue)

/// A libcurl call that failed, named after the C function, with curl's own explanation.
package struct HTTPClientError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The C function that reported the failure, e.g. `curl_easy_perform`.
    package var function: String
    /// libcurl's `CURLcode`.
    package var code: Int
    /// curl's message (the error buffer when it has one, else `curl_easy_strerror`).
    package var message: String
    /// What was being done, e.g. "GET http://localhost/_ping via /run/podman/podman.sock".
    package var request: String

    package init(function: String, code: Int, message: String, request: String) {
        self.function = function
        self.code = code
        self.message = message
        self.request = request
    }

    package var description: String { "\(request): \(function) failed: \(message)" }

    /// The connect or total timeout ran out.
    package var isTimeout: Bool { code == Int(CURLE_OPERATION_TIMEDOUT.rawValue) }
    /// Nothing answered: connection refused, no such socket, unknown host.
    package var isConnectFailure: Bool {
        [CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY]
            .contains { Int($0.rawValue) == code }
    }
}

/// Owns one `CURL *` easy handle and everything libcurl borrows from it (error buffer, header list).
/// Not thread-safe: a handle is configured, then performed on exactly one thread.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    /// Where libcurl writes a detailed message for the last failure (CURLOPT_ERRORBUFFER).
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// Names the request in error messages.
    let summary: String

    init(summary: String) throws {
        self.summary = summary
        guard curlGlobalInit == 0 else {
            throw HTTPClientError(function: "curl_global_init", code: Int(curlGlobalInit),
                                  message: String(cString: curl_easy_strerror(CURLcode(UInt32(curlGlobalInit)))),
                                  request: summary)
        }
        guard let handle = curl_easy_init() else {
            throw HTTPClientError(function: "curl_easy_init", code: -1, message: "out of memory", request: summary)
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeRawPointer(errorBuffer))
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// The one funnel from a `CURLcode` to a Swift error.
    func check(_ code: CURLcode, _ function: @autoclosure () -> String) throws {
        guard code != CURLE_OK else { return }
        throw error(code, function())
    }

    func error(_ code: CURLcode, _ function: String) -> HTTPClientError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        return HTTPClientError(function: function, code: Int(code.rawValue), message: message, request: summary)
    }

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(pushbox_curl_setopt_long(handle, option, value), "curl_easy_setopt(\(option.rawValue))")
    }

    func set(_ option: CURLoption, offset value: Int64) throws {
        try check(pushbox_curl_setopt_off(handle, option, curl_off_t(value)), "curl_easy_setopt(\(option.rawValue))")
    }

    /// libcurl copies string options (since 7.17), so the Swift string may go away afterwards.
    func set(_ option: CURLoption, _ value: String) throws {
        try check(pushbox_curl_setopt_str(handle, option, value), "curl_easy_setopt(\(option.rawValue))")
    }

    func set(_ option: CURLoption, pointer value: UnsafeRawPointer?) throws {
        try check(pushbox_curl_setopt_ptr(handle, option, value), "curl_easy_setopt(\(option.rawValue))")
    }

    /// Sets the request's header lines; the list lives as long as the handle.
    func setHeaders(_ lines: [String]) throws {
        var list: UnsafeMutablePointer<curl_slist>?
        for line in lines {
            guard let appended = curl_slist_append(list, line) else {
                curl_slist_free_all(list)
                throw HTTPClientError(function: "curl_slist_append", code: -1, message: "out of memory", request: summary)
            }
            list = appended
        }
        curl_slist_free_all(headerList)
        headerList = list
        try set(CURLOPT_HTTPHEADER, pointer: UnsafeRawPointer(list))
    }

    func responseCode() -> Int {
        var code = 0
        _ = pushbox_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }
}

/// Owns one `CURLM *` multi handle driving a single easy handle. The multi interface is used only so that
/// `curl_multi_wakeup` (safe from any thread) can interrupt a transfer that waits for the network, which
/// makes cancellation immediate instead of waiting for the next progress callback.
final class CurlMulti {
    let handle: UnsafeMutableRawPointer
    private let summary: String

    init(summary: String) throws {
        self.summary = summary
        guard let handle = curl_multi_init() else {
            throw HTTPClientError(function: "curl_multi_init", code: -1, message: "out of memory", request: summary)
        }
        self.handle = handle
    }

    deinit { curl_multi_cleanup(handle) }

    /// The one funnel from a `CURLMcode` to a Swift error.
    func check(_ code: CURLMcode, _ function: String) throws {
        guard code != CURLM_OK else { return }
        throw HTTPClientError(function: function, code: Int(code.rawValue),
                              message: String(cString: curl_multi_strerror(code)), request: summary)
    }
}
