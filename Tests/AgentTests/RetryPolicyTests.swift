@testable import Agent
import Foundation
import HTTP
import Testing

@Suite("Retry policy (pure)")
struct RetryPolicyTests {
    @Test(arguments: [
        (400, false), (401, false), (403, false), (404, false), (413, false), (422, false),
        (408, true), (409, true), (429, true), (500, true), (502, true), (503, true), (504, true), (529, true),
    ])
    func statusRule(status: Int, retryable: Bool) {
        #expect(RetryPolicy.isRetryable(status: status, headers: [:]) == retryable)
    }

    @Test func xShouldRetryOverridesTheStatus() {
        #expect(!RetryPolicy.isRetryable(status: 529, headers: ["x-should-retry": "false"]))
        #expect(RetryPolicy.isRetryable(status: 400, headers: ["X-Should-Retry": "true"]))
        #expect(RetryPolicy.isRetryable(status: 500, headers: ["x-should-retry": "maybe"]))
    }

    @Test func retryAfterMsWinsOverRetryAfter() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(RetryPolicy.serverDelay(headers: ["retry-after-ms": "1500", "retry-after": "9"], now: now) == .milliseconds(1500))
        #expect(RetryPolicy.serverDelay(headers: ["retry-after-ms": "2.5"], now: now) == .microseconds(2500))
        #expect(RetryPolicy.serverDelay(headers: ["retry-after": "3"], now: now) == .seconds(3))
        #expect(RetryPolicy.serverDelay(headers: ["retry-after": "0.25"], now: now) == .milliseconds(250))
        // Unusable values fall through to backoff.
        #expect(RetryPolicy.serverDelay(headers: ["retry-after-ms": "soon", "retry-after": "2"], now: now) == .seconds(2))
        #expect(RetryPolicy.serverDelay(headers: ["retry-after": "0"], now: now) == nil)
        #expect(RetryPolicy.serverDelay(headers: ["retry-after": "-4"], now: now) == nil)
        #expect(RetryPolicy.serverDelay(headers: [:], now: now) == nil)
    }

    @Test func retryAfterAsHTTPDate() throws {
        let now = try #require(RetryPolicy.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT"))
        #expect(RetryPolicy.serverDelay(headers: ["retry-after": "Sun, 06 Nov 1994 08:49:42 GMT"], now: now) == .seconds(5))
        #expect(RetryPolicy.serverDelay(headers: ["retry-after": "Sun, 06 Nov 1994 08:49:30 GMT"], now: now) == nil)
        #expect(RetryPolicy.parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT") == now)
        #expect(RetryPolicy.parseHTTPDate("Sun Nov  6 08:49:37 1994") == now)
        #expect(RetryPolicy.parseHTTPDate("tomorrow") == nil)
    }

    @Test func backoffDoublesFromHalfASecondToEightWithJitter() {
        let policy = RetryPolicy()
        #expect((0...6).map { milliseconds(policy.backoff(retry: $0, random: 0)) } == [500, 1000, 2000, 4000, 8000, 8000, 8000])
        // The jitter takes off up to a quarter.
        #expect(milliseconds(policy.backoff(retry: 0, random: 1)) == 375)
        #expect(milliseconds(policy.backoff(retry: 4, random: 0.5)) == 7000)
        #expect(milliseconds(policy.delay(retry: 2, headers: ["retry-after": "1"], now: Date(), random: 0)) == 1000)
    }
}
