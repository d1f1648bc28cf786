import CCurl
import Foundation
import Synchronization

/// Set from any thread to abort a transfer; read by the transfer's callbacks. While the transfer waits for
/// the network, `cancel()` also wakes it up (`curl_multi_wakeup` is documented as callable from any thread;
/// the lock keeps the multi handle alive for that call).
final class CancelFlag: Sendable {
    private let value = Atomic<Bool>(false)
    private let multi = Mutex<MultiReference?>(nil)

    /// The multi handle of a transfer in flight. `curl_multi_wakeup` may be called from any thread.
    fileprivate struct MultiReference: @unchecked Sendable {
        var handle: UnsafeMutableRawPointer
    }

    func cancel() {
        value.store(true, ordering: .relaxed)
        multi.withLock { reference in
            if let reference { _ = curl_multi_wakeup(reference.handle) }
        }
    }

    var isCancelled: Bool { value.load(ordering: .relaxed) }

    fileprivate func attach(_ handle: UnsafeMutableRawPointer?) {
        let reference = handle.map(MultiReference.init)
        multi.withLock { $0 = reference }
    }
}

/// What a running transfer reports, in order, on its own thread: at most one `head`, any number of
/// `body` chunks, then exactly one `end`.
struct TransferEvents: Sendable {
    var head: @Sendable (HTTPResponseHead) -> Void
    var body: @Sendable (Data) -> Void
    var end: @Sendable (Result<Void, any Error>) -> Void
}

/// One request in flight: the curl handle, its body source and the response parser that the C callbacks
/// drive. `@unchecked Sendable` because after `init` everything but `flag` is touched only by the thread
/// that runs `perform` (libcurl calls the callbacks on the thread that drives the transfer).
final class Transfer: @unchecked Sendable {
    let flag = CancelFlag()
    private let easy: CurlEasy
    private let events: TransferEvents
    private var source: BodySource
    private var status = 0
    private var headers = HTTPHeaders()
    private var headDelivered = false
    /// An error thrown by a `.reader` body, reported instead of curl's "aborted by callback".
    private var readError: (any Error)?

    init(_ request: HTTPRequest, events: TransferEvents) throws {
        self.events = events
        easy = try CurlEasy(summary: request.summary)
        source = try BodySource(request.body)
        try configure(request)
    }

    private func configure(_ request: HTTPRequest) throws {
        try easy.set(CURLOPT_URL, request.url)
        try easy.set(CURLOPT_NOSIGNAL, 1)          // required when several threads use libcurl
        try easy.set(CURLOPT_SSL_VERIFYPEER, 1)
        try easy.set(CURLOPT_SSL_VERIFYHOST, 2)
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout))
        try easy.set(CURLOPT_TIMEOUT_MS, request.timeout.map(milliseconds) ?? 0)
        if let path = request.unixSocketPath {
            try easy.set(CURLOPT_UNIX_SOCKET_PATH, path)
            try easy.set(CURLOPT_NOPROXY, "*")     // a proxy cannot reach a local socket
        } else if Self.isLoopback(request.url) {
            try easy.set(CURLOPT_NOPROXY, "*")     // nor the loopback interface of this host
        }
        // Otherwise libcurl honours http_proxy / https_proxy / no_proxy from the environment.

        var lines = request.headers.map { "\($0.name): \($0.value)" }
        // curl would send `Expect: 100-continue` for large bodies and wait for it; servers here answer directly.
        if !request.headers.contains("Expect") { lines.append("Expect:") }

        let length = source.length
        switch request.method {
        case .head:
            try easy.set(CURLOPT_NOBODY, 1)
        case .get where source.isEmpty:
            try easy.set(CURLOPT_HTTPGET, 1)
        case .post:
            try easy.set(CURLOPT_POST, 1)
            try easy.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: length ?? -1)
            // curl labels a POST as a form unless told otherwise.
            if !request.headers.contains("Content-Type") { lines.append("Content-Type:") }
        default:
            try easy.set(CURLOPT_CUSTOMREQUEST, request.method.rawValue)
            if !source.isEmpty {
                try easy.set(CURLOPT_UPLOAD, 1)
                try easy.set(CURLOPT_INFILESIZE_LARGE, offset: length ?? -1)
            }
        }
        try easy.setHeaders(lines)

        let me = UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
        try easy.set(CURLOPT_READFUNCTION, pointer: unsafeBitCast(readCallback, to: UnsafeRawPointer.self))
        try easy.set(CURLOPT_READDATA, pointer: me)
        try easy.set(CURLOPT_HEADERFUNCTION, pointer: unsafeBitCast(headerCallback, to: UnsafeRawPointer.self))
        try easy.set(CURLOPT_HEADERDATA, pointer: me)
        try easy.set(CURLOPT_WRITEFUNCTION, pointer: unsafeBitCast(writeCallback, to: UnsafeRawPointer.self))
        try easy.set(CURLOPT_WRITEDATA, pointer: me)
        try easy.set(CURLOPT_XFERINFOFUNCTION, pointer: unsafeBitCast(progressCallback, to: UnsafeRawPointer.self))
        try easy.set(CURLOPT_XFERINFODATA, pointer: me)
        try easy.set(CURLOPT_NOPROGRESS, 0)
    }

    /// Runs the transfer on a thread of its own (libcurl blocks until the end).
    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "pushbox-http"
        thread.start()
    }

    private func run() {
        let result = Result { try perform() }
        source.close()
        if flag.isCancelled {
            events.end(.failure(CancellationError()))
        } else if let readError {
            events.end(.failure(readError))
        } else if case .failure(let error) = result {
            events.end(.failure(error))
        } else {
            if !headDelivered { deliverHead(status: easy.responseCode()) }
            events.end(.success(()))
        }
    }

    /// `curl_easy_perform`, spelled out with a multi handle so that `CancelFlag.cancel()` can interrupt the
    /// wait. Returns when the transfer is done, failed, or was cancelled.
    private func perform() throws {
        let multi = try CurlMulti(summary: easy.summary)
        try multi.check(curl_multi_add_handle(multi.handle, easy.handle), "curl_multi_add_handle")
        flag.attach(multi.handle)
        defer {
            flag.attach(nil)
            curl_multi_remove_handle(multi.handle, easy.handle)
        }
        var running: Int32 = 1
        while running > 0 && !flag.isCancelled {
            try multi.check(curl_multi_perform(multi.handle, &running), "curl_multi_perform")
            if running > 0 {
                try multi.check(curl_multi_poll(multi.handle, nil, 0, 1000, nil), "curl_multi_poll")
            }
        }
        if flag.isCancelled { return }
        var pending: Int32 = 0
        while let message = curl_multi_info_read(multi.handle, &pending) {
            if message.pointee.msg == CURLMSG_DONE {
                // The code curl_easy_perform would have returned; named so in errors.
                try easy.check(message.pointee.data.result, "curl_easy_perform")
            }
        }
    }

    // MARK: Callbacks (on the transfer thread)

    fileprivate func header(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard !headDelivered else { return }                  // trailers of a chunked body
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: bytes[..<end], as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = HTTPHeaders()
        } else if line.isEmpty {
            // An interim response (100 Continue) is followed by the real one.
            if (100..<200).contains(status) && status != 101 { return }
            deliverHead(status: status)
        } else if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers.add(name, value)
        }
    }

    private func deliverHead(status: Int) {
        headDelivered = true
        events.head(HTTPResponseHead(status: status, headers: headers))
    }

    fileprivate func write(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if flag.isCancelled { return false }
        if !headDelivered { deliverHead(status: easy.responseCode()) }
        events.body(Data(buffer: bytes))
        return true
    }

    fileprivate func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        if flag.isCancelled { return Int(CURL_READFUNC_ABORT) }
        do {
            return try source.read(into: buffer)
        } catch {
            readError = error
            return Int(CURL_READFUNC_ABORT)
        }
    }

    fileprivate var isCancelled: Bool { flag.isCancelled }

    // MARK: Helpers

    /// curl takes whole milliseconds as `long`, and 0 means "no limit": round up so that a tiny
    /// timeout stays a timeout.
    private func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int(max(1, min(ms, Int64(Int32.max))))
    }

    static func isLoopback(_ url: String) -> Bool {
        guard let host = URLComponents(string: url)?.host?.lowercased() else { return false }
        return host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }
}

/// Where the request body comes from; read on the transfer thread.
private enum BodySource {
    case none
    case data(Data, offset: Int)
    case file(FileHandle, length: Int64)
    case reader(length: Int64?, @Sendable (UnsafeMutableRawBufferPointer) throws -> Int)

    init(_ body: HTTPRequestBody) throws {
        switch body {
        case .empty: self = .none
        case .data(let data): self = data.isEmpty ? .none : .data(data, offset: 0)
        case .file(let url):
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            let length = (attributes[.size] as? NSNumber)?.int64Value ?? 0
            self = .file(try FileHandle(forReadingFrom: url), length: length)
        case .reader(let length, let read): self = .reader(length: length, read)
        }
    }

    var isEmpty: Bool {
        if case .none = self { return true }
        return false
    }

    var length: Int64? {
        switch self {
        case .none: 0
        case .data(let data, _): Int64(data.count)
        case .file(_, let length): length
        case .reader(let length, _): length
        }
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        switch self {
        case .none:
            return 0
        case .data(let data, let offset):
            let n = min(buffer.count, data.count - offset)
            guard n > 0 else { return 0 }
            let start = data.startIndex + offset
            data.copyBytes(to: buffer.bindMemory(to: UInt8.self), from: start..<start + n)
            self = .data(data, offset: offset + n)
            return n
        case .file(let handle, _):
            guard let base = buffer.baseAddress else { return 0 }
            while true {
                let n = Foundation.read(handle.fileDescriptor, base, buffer.count)
                if n >= 0 { return n }
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
        case .reader(_, let read):
            return try read(buffer)
        }
    }

    func close() {
        if case .file(let handle, _) = self { try? handle.close() }
    }
}

// The C entry points: `userdata` is the `Transfer`, kept alive by the thread running it. libcurl hands back
// exactly the pointer set with CURLOPT_*DATA, so it is never nil (the force unwraps cannot fail).

private let headerCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    pointer, size, count, userdata in
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
    let n = size * count
    transfer.header(UnsafeBufferPointer(start: UnsafeRawPointer(pointer)?.assumingMemoryBound(to: UInt8.self), count: n))
    return n
}

private let writeCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    pointer, size, count, userdata in
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
    let n = size * count
    let ok = transfer.write(UnsafeBufferPointer(start: UnsafeRawPointer(pointer)?.assumingMemoryBound(to: UInt8.self), count: n))
    return ok ? n : 0    // anything but n makes curl stop with CURLE_WRITE_ERROR
}

private let readCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    pointer, size, count, userdata in
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
    return transfer.read(into: UnsafeMutableRawBufferPointer(start: pointer, count: size * count))
}

private let progressCallback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32 = {
    userdata, _, _, _, _ in
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
    return transfer.isCancelled ? 1 : 0    // non-zero aborts with CURLE_ABORTED_BY_CALLBACK
}
