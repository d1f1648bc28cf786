import Core
import Foundation
import Testing

/// A container step and a `vms:` entry go through the one life cycle of `RecordedJob`.
@Suite("RecordedJob life cycle")
struct RecordedJobTests {
    static let start = Date(timeIntervalSince1970: 1_700_000_000)

    static func walk<Job: RecordedJob>(_ job: Job, _ status: Core.ExitStatus?, otherwise: StepState = .error) -> Job {
        var job = job
        job.start(at: start)
        #expect(job.state == .running && job.startedAt == start && job.finishedAt == nil)
        job.end(status, otherwise: otherwise, logBytes: 42, truncated: true, at: start.addingTimeInterval(2.5))
        job.record(tests: status == nil ? nil : TestCounts(passed: 3, failed: 1, skipped: 0))
        return job
    }

    @Test("passed, failed, timed out: by the status; the log's size, the duration and the counts kept", arguments: [
        (Core.ExitStatus.success, StepState.passed, Int32(0), false),
        (Core.ExitStatus(code: 2), .failed, 2, false),
        (Core.ExitStatus(code: 124, timedOut: true), .failed, 124, true),
    ])
    func ranToAnEnd(_ status: Core.ExitStatus, _ state: StepState, _ code: Int32, _ timedOut: Bool) {
        let step = Self.walk(StepResult(position: 0, name: "test", command: "make test"), status)
        let vm = Self.walk(VMResult(position: 0, profile: "linux-x86_64", command: "make test"), status)
        for job in [step as any RecordedJob, vm] {
            #expect(job.state == state && job.exitCode == code && job.timedOut == timedOut)
            #expect(job.logBytes == 42 && job.truncated && job.duration == .milliseconds(2500))
            #expect(job.tests == TestCounts(passed: 3, failed: 1, skipped: 0))
        }
    }

    @Test("a job that did not run to an end takes the given state and no exit code; no counts are invented")
    func didNotEnd() {
        let canceled = Self.walk(StepResult(position: 0, name: "s", command: "c"), nil, otherwise: .canceled)
        #expect(canceled.state == .canceled && canceled.exitCode == nil && canceled.tests == nil)
        let broken = Self.walk(VMResult(position: 0, profile: "p", command: "c"), nil)
        #expect(broken.state == .error && broken.exitCode == nil && broken.finishedAt != nil)
    }
}
