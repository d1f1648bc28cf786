/// Where a run came from; stored in `runs.source` by its raw value, shown in the API and the dashboard.
package enum RunSource: String, Codable, Sendable, CaseIterable {
    /// The repository's `post-receive` hook reached the daemon.
    case hook
    /// A push the hook saved while the daemon was down, drained at the next start.
    case spool
    /// The reconciliation scan found a head without a run (no hook, or the hook was lost).
    case scan
    /// `pushbox run`, in the foreground.
    case run
    /// `pushbox retry`, the dashboard's Retry, `POST /api/v1/runs/<id>/retry`.
    case retry
    /// The engine answers again after a run ended `error` because of its loss (`RunErrorCause.engineUnavailable`).
    case engineRetry = "engine-retry"
    /// The runner home has space again after a run ended `error` because it was full (`RunErrorCause.runnerDiskFull`).
    case diskRetry = "disk-retry"

    /// The causes after which a run is retried once, automatically, and the source its retry gets.
    package static func automaticRetry(after cause: RunErrorCause) -> RunSource? {
        switch cause {
        case .engineUnavailable: .engineRetry
        case .runnerDiskFull: .diskRetry
        default: nil
        }
    }

    /// Whether this run is itself an automatic retry (never retried automatically again).
    package var isAutomaticRetry: Bool { self == .engineRetry || self == .diskRetry }
}

/// Why a run ended `error`: what decides whether it is retried and how it is reported, stored in
/// `runs.error_cause` beside the human message. Nothing decides by the message's text.
package enum RunErrorCause: String, Codable, Sendable, CaseIterable {
    /// `.pushbox.yml` cannot be read or parsed, nothing was detected, a secret is missing or refused.
    case configuration
    /// The repository, its commit or its tree cannot be read (unregistered, gone, not a commit).
    case repository
    /// The container engine stopped answering during the run: retried once when it answers again.
    case engineUnavailable = "engine_unavailable"
    /// The runner's own disk was full before the job could start (its workspace or checkout): retried once
    /// when there is space again. A log that filled the disk is `other`: the same output would fill it again.
    case runnerDiskFull = "runner_disk_full"
    /// The push's tree does not fit in its workspace (`workspace_quota`): the push's doing, not retried.
    case workspaceFull = "workspace_full"
    /// The sandbox could not be made or used (image missing, engine refused): infrastructure.
    case sandbox
    /// The daemon stopped or died and the run could not be resumed.
    case interrupted
    /// Anything else.
    case other
}
