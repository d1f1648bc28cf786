import Core

/// What became of one ref update handed to the scheduler; one `pushbox:` line in the push output.
package struct SubmitResult: Codable, Sendable, Equatable {
    enum CodingKeys: String, CodingKey {
        case ref
        case sha
        case status
        case runID = "run_id"
        case url
        case superseded
        case message
        case autofix
    }

    package enum Status: String, Codable, Sendable {
        case queued, skipped, deleted, rejected
        /// A spooled push that a later push of its ref overtook before the daemon saw it.
        case superseded
    }

    package var ref: String
    package var sha: String
    package var status: Status
    package var runID: Int64?
    package var url: String?
    /// Older runs of the same ref that this push superseded: queued ones (now `canceled`) and, for a
    /// branch, running ones (being stopped; each ends `canceled` unless it finished on its own first).
    package var superseded: [Int64]
    package var message: String?
    /// The review branch of an earlier run of this branch whose autofix passed, while it exists:
    /// `autofix/main/1a2b3c4d` fixes run 12 (1a2b3c4); shown under the run's line.
    package var autofix: AutofixHint?

    package init(ref: String, sha: String, status: Status, runID: Int64? = nil, url: String? = nil, superseded: [Int64] = [],
                 message: String? = nil, autofix: AutofixHint? = nil) {
        self.ref = ref
        self.sha = sha
        self.status = status
        self.runID = runID
        self.url = url
        self.superseded = superseded
        self.message = message
        self.autofix = autofix
    }

    package struct AutofixHint: Codable, Sendable, Equatable {
        enum CodingKeys: String, CodingKey {
            case branch
            case runID = "run_id"
            case sha
        }
        package var branch: String
        package var runID: Int64
        package var sha: String

        package init(branch: String, runID: Int64, sha: String) {
            self.branch = branch
            self.runID = runID
            self.sha = sha
        }
    }

    /// The line the hook prints (git shows it to the pusher prefixed with `remote: `).
    package var line: String {
        let name = RefUpdate(oldSHA: "", newSHA: sha, ref: ref).shortName
        switch status {
        case .queued:
            var text = "pushbox: run \(runID ?? 0) queued for \(name) (\(sha.prefix(7)))"
            if let url { text += " \(url)" }
            if !superseded.isEmpty { text += " (supersedes run \(superseded.map(String.init).joined(separator: ", ")))" }
            if let autofix {
                text += "\npushbox: \(autofix.branch) has a fix for run \(autofix.runID) (\(autofix.sha.prefix(7))); review: git diff \(autofix.sha.prefix(7))..\(autofix.branch)"
            }
            return text
        case .skipped: return "pushbox: \(name) skipped: \(message ?? "filtered")"
        case .deleted: return "pushbox: \(name) deleted; nothing to run"
        case .rejected: return "pushbox: \(name) not run: \(message ?? "rejected")"
        case .superseded: return "pushbox: \(name) (\(sha.prefix(7))) not run: \(message ?? "superseded")"
        }
    }
}
