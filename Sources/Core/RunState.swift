/// The life of a run: `queued → running → passed | failed | error | canceled`.
/// `error` means configuration or infrastructure trouble (bad `.pushbox.yml`, missing image, engine down);
/// `failed` means a step of the pipeline exited non-zero.
package enum RunState: String, Codable, Sendable, CaseIterable {
    case queued, running, passed, failed, error, canceled

    /// How the message of an `error` run of cause `RunErrorCause.engineUnavailable` starts, for the reader;
    /// the cause, not these words, makes it retried once (source `engine-retry`) when the engine answers.
    package static let engineUnavailablePrefix = "container engine unavailable"
    /// How the message of an `error` run of cause `RunErrorCause.runnerDiskFull` starts (the runner's own disk
    /// was full before the job could start); retried once (source `disk-retry`) when there is space again.
    package static let runnerDiskFullPrefix = "runner disk full"

    /// The message of a `canceled` run that a later push of its ref superseded (queued, running, or a spooled
    /// push overtaken before the daemon saw it); the note's line says the same.
    package static func supersededMessage(by runID: Int64) -> String { "superseded by run \(runID)" }

    package var isFinished: Bool {
        switch self {
        case .queued, .running: false
        case .passed, .failed, .error, .canceled: true
        }
    }
}

/// The state of one step of a run. `skipped` steps come after a failed one.
package enum StepState: String, Codable, Sendable {
    case pending, running, passed, failed, error, skipped, canceled
}
