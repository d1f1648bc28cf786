import Foundation
import HTTP

/// When and how long to wait before retrying a Messages API request: the official SDKs' rules
/// (shared/notes/claude-api.md §7), plus a total time cap so that a run never hangs. Pure.
///
/// - Retry: transport failures (connection refused or dropped, timeouts), 408, 409, 429 and every status
///   ≥ 500 (529 included). An `x-should-retry: true|false` header overrides the status rule.
/// - Wait: `retry-after-ms`, else `retry-after` (seconds, or an HTTP date), else
///   `min(initialDelay · 2ⁿ, maxDelay) · (1 − 0.25 · random)` for the n-th retry (n from 0).
/// - Stop: after `maxRetries` retries, or when the next wait would end past `totalTime` since the first
///   request.
package struct RetryPolicy: Sendable, Equatable {
    /// Retries after the first request; 0 disables retrying.
    package var maxRetries: Int
    package var initialDelay: Duration
    package var maxDelay: Duration
    /// Cap on the whole call: requests, waits and retries together.
    package var totalTime: Duration

    package init(maxRetries: Int = 4, initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(8),
                 totalTime: Duration = .seconds(15 * 60)) {
        self.maxRetries = maxRetries
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.totalTime = totalTime
    }

    /// Whether a response with `status` and `headers` may be retried.
    package static func isRetryable(status: Int, headers: HTTPHeaders) -> Bool {
        switch headers["x-should-retry"]?.lowercased() {
        case "true": return true
        case "false": return false
        default: return status == 408 || status == 409 || status == 429 || status >= 500
        }
    }

    /// The wait the server asked for: `retry-after-ms` (milliseconds, may be fractional), else
    /// `retry-after` as seconds (may be fractional) or as an HTTP date relative to `now`. Nil when neither
    /// header gives a positive wait.
    package static func serverDelay(headers: HTTPHeaders, now: Date) -> Duration? {
        if let text = headers["retry-after-ms"], let ms = Double(text.trimmingCharacters(in: .whitespaces)),
           ms.isFinite, ms > 0 {
            return .nanoseconds(Int64(min(ms, 1e12) * 1_000_000))
        }
        guard let text = headers["retry-after"]?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(text) {
            guard seconds.isFinite, seconds > 0 else { return nil }
            return .nanoseconds(Int64(min(seconds, 1e9) * 1_000_000_000))
        }
        guard let date = parseHTTPDate(text) else { return nil }
        let seconds = date.timeIntervalSince(now)
        guard seconds > 0 else { return nil }
        return .nanoseconds(Int64(min(seconds, 1e9) * 1_000_000_000))
    }

    /// Exponential backoff for the retry with index `retry` (0 for the first retry); `random` in 0..<1.
    package func backoff(retry: Int, random: Double) -> Duration {
        let factor = pow(2.0, Double(min(max(retry, 0), 30)))
        let base = min(seconds(initialDelay) * factor, seconds(maxDelay))
        let jittered = base * (1 - 0.25 * min(max(random, 0), 1))
        return .nanoseconds(Int64(jittered * 1_000_000_000))
    }

    /// The wait before retry number `retry` (0-based) of a response with `headers`: the server's, else backoff.
    package func delay(retry: Int, headers: HTTPHeaders, now: Date, random: Double) -> Duration {
        Self.serverDelay(headers: headers, now: now) ?? backoff(retry: retry, random: random)
    }

    /// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), with the obsolete RFC 850 and asctime forms.
    static func parseHTTPDate(_ text: String) -> Date? {
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}

func seconds(_ duration: Duration) -> Double {
    let (whole, attoseconds) = duration.components
    return Double(whole) + Double(attoseconds) / 1e18
}

/// Time as the retry loop sees it. Injected so that tests run retries instantly while recording the waits
/// that were asked for; `.live` uses the real clocks.
package struct RetryTiming: Sendable {
    /// Waits (throws `CancellationError` when the task is cancelled).
    package var sleep: @Sendable (Duration) async throws -> Void
    /// Monotonic time since an arbitrary origin, for the total time cap.
    package var uptime: @Sendable () -> Duration
    /// Wall-clock time, for `retry-after` HTTP dates.
    package var now: @Sendable () -> Date
    /// Uniform in 0..<1, for jitter.
    package var random: @Sendable () -> Double

    package init(sleep: @escaping @Sendable (Duration) async throws -> Void, uptime: @escaping @Sendable () -> Duration,
                 now: @escaping @Sendable () -> Date = { Date() }, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.sleep = sleep
        self.uptime = uptime
        self.now = now
        self.random = random
    }

    package static let live = RetryTiming(
        sleep: { try await ContinuousClock().sleep(for: $0) },
        uptime: { monotonicOrigin.duration(to: ContinuousClock.now) })
}

private let monotonicOrigin = ContinuousClock.now
