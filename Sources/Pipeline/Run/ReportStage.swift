import Core
import Foundation
import Git
import Logging
import Workspace

/// Stage 5 of a run: `metadata.json` beside the logs.
extension RunDriver {
    func writeMetadata(_ run: Run, times: StageTimes, files: RunFiles, logger: Logger) {
        var metadata = RunMetadata(run: run, url: "\(environment.config.url)/runs/\(run.id)")
        metadata.timings = times
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = Timestamps.encoding
        do {
            try FileManager.default.createDirectory(at: files.root, withIntermediateDirectories: true)
            try encoder.encode(metadata).write(to: files.metadata, options: .atomic)
        } catch {
            logger.error("cannot write \(files.metadata.path): \(error)")
        }
    }
}

/// When the stages of a run began, for `metadata.json` (and the benchmarks).
package struct StageTimes: Codable, Sendable {
    package var claimedAt: Date
    package var checkedOutAt: Date?
    package var sandboxRequestedAt: Date?
    package var sandboxReadyAt: Date?
    package var vmsStartedAt: Date?
    /// The flake re-run of autofix (the whole pipeline once more, in a fresh container), when it ran.
    package var flakeRerunSeconds: Double?
}

/// `runs/<id>/metadata.json`: the seed's fields, stable names.
package struct RunMetadata: Codable, Sendable {

    package struct StepEntry: Codable, Sendable {
        var name: String
        var command: String
        var state: String
        var exitCode: Int32?
        var timedOut: Bool
        var startedAt: Date?
        var finishedAt: Date?
        var durationSeconds: Double?
        var tests: TestCounts?
        var logBytes: Int64
        var logTruncated: Bool
    }

    var runId: Int64
    var repo: String
    var ref: String
    var sha: String
    var state: String
    var message: String?
    var detected: String?
    var image: String?
    var containerId: String?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?
    var durationSeconds: Double?
    var url: String
    var steps: [StepEntry]
    var timings: StageTimes?
    /// The note's `autofix:` line without the prefix, when autofix ran.
    var autofix: String?
    var vms: [VMResult]

    package init(run: Run, url: String) {
        runId = run.id
        repo = run.repoName
        ref = run.ref
        sha = run.sha
        state = run.state.rawValue
        message = run.message
        detected = run.detected
        image = run.image
        containerId = run.sandboxID
        createdAt = run.createdAt
        startedAt = run.startedAt
        finishedAt = run.finishedAt
        durationSeconds = run.duration.map(Units.seconds)
        self.url = url
        autofix = run.autofix
        vms = run.vms
        steps = run.steps.map { step in
            StepEntry(name: step.name, command: step.command, state: step.state.rawValue, exitCode: step.exitCode,
                      timedOut: step.timedOut, startedAt: step.startedAt, finishedAt: step.finishedAt,
                      durationSeconds: step.duration.map(Units.seconds),
                      tests: step.tests,
                      logBytes: step.logBytes, logTruncated: step.truncated)
        }
    }
}
