import Foundation

/// How the autofix stage ended for a failed run: stored in the `runs.autofix_*` columns, queried by its
/// status (never by text), and rendered as the note's `autofix:` line (`line`).
package struct AutofixOutcome: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case status, branch, commit, attempts
        case costUSD = "cost_usd"
        case failedIn = "failed_in"
        case repeatedFailure = "repeated_failure"
        case reason
        case keptNewerFixOf = "kept_newer_fix_of"
    }

    package enum Status: String, Codable, Sendable, CaseIterable {
        /// A fix passed the whole pipeline and every guest and is on `branch`.
        case passed
        /// Every attempt failed its verification (`failedIn` says where the last one did).
        case failed
        /// The loop stopped early: a budget, the fixer's own refusal, or the same failure twice.
        case gaveUp = "gave_up"
        /// No attempt was made (`reason` says why).
        case skipped
        /// The run was canceled while autofix worked; nothing was published.
        case canceled
        /// Autofix itself broke (`reason`); nothing was published.
        case error
    }

    package var status: Status
    /// `autofix/main/1a2b3c4d` when `passed`.
    package var branch: String?
    /// The published fix commit on `branch` (nil when a newer run's fix was kept there).
    package var commit: String?
    package var attempts: Int
    package var costUSD: Double
    /// Where the last attempt failed.
    package var failedIn: FailurePlace?
    /// The loop stopped because an attempt failed the way an earlier one had.
    package var repeatedFailure: Bool
    /// One line: why it was skipped, gave up or broke.
    package var reason: String?
    /// The branch already held the fix of this newer run, which was kept (`passed`).
    package var keptNewerFixOf: Int64?

    package init(status: Status, branch: String? = nil, commit: String? = nil, attempts: Int = 0, costUSD: Double = 0, failedIn: FailurePlace? = nil,
                 repeatedFailure: Bool = false, reason: String? = nil, keptNewerFixOf: Int64? = nil) {
        self.status = status
        self.branch = branch
        self.commit = commit
        self.attempts = attempts
        self.costUSD = costUSD
        self.failedIn = failedIn
        self.repeatedFailure = repeatedFailure
        self.reason = reason
        self.keptNewerFixOf = keptNewerFixOf
    }

    /// The note's `autofix:` line without its prefix: `passed autofix/main/1a2b3c4d (2 attempts, $0.07)`,
    /// `failed (attempt 2 failed in vm linux-aarch64)`, `gave up, same failure twice (attempt 2 failed in
    /// step test)`, `gave up after 3 attempts: …`, `skipped: …`, `canceled`, `error: …`.
    package var line: String {
        let attemptsText = "\(attempts) attempt\(attempts == 1 ? "" : "s")"
        switch status {
        case .passed:
            let text = "passed \(branch ?? "?") (\(attemptsText), \(String(format: "$%.2f", costUSD)))"
            return keptNewerFixOf.map { text + "; kept the newer fix of run \($0)" } ?? text
        case .failed:
            return "failed (attempt \(attempts) failed in \(failedIn?.description ?? "verification"))"
        case .gaveUp:
            if repeatedFailure, let failedIn { return "gave up, same failure twice (attempt \(attempts) failed in \(failedIn))" }
            return "gave up after \(attemptsText): \(reason ?? "no reason given")"
        case .skipped:
            return "skipped: \(reason ?? "no reason given")"
        case .canceled:
            return "canceled"
        case .error:
            return "error: \(reason ?? "unknown")"
        }
    }
}
