import Foundation
import Logging

/// One `.pushbox.yml` `vms:` entry of a run: the profile's guest running the tree after the container
/// steps passed (DESIGN §4 stage 4). Stored per run in the store, shown in the note as
/// `vm <profile>: passed 9.8s`, streamed to `logs/<logName>.log`.
package struct VMResult: Codable, Sendable, Equatable {
    /// Which tree the guest ran: the pushed commit's, or the passing autofix commit's.
    package enum Tree: String, Codable, Sendable {
        case pushed, autofix
    }

    enum CodingKeys: String, CodingKey {
        case position
        case profile
        case tree
        case command
        case state
        case message
        case exitCode = "exit_code"
        case timedOut = "timed_out"
        case accel
        case bootSeconds = "boot_seconds"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case testsPassed = "tests_passed"
        case testsFailed = "tests_failed"
        case testsSkipped = "tests_skipped"
        case logBytes = "log_bytes"
        case truncated
    }

    package var position: Int
    package var profile: String
    package var tree: Tree
    package var command: String
    package var state: StepState
    /// Why it is `error` or `skipped` (one line), e.g. `boot timeout: …`, `the image … is not built`.
    package var message: String?
    package var exitCode: Int32?
    package var timedOut: Bool
    /// The accelerator the guest got and why: `tcg (KVM probe failed: …)`.
    package var accel: String?
    /// From starting the guest until the job's first command.
    package var bootSeconds: Double?
    package var startedAt: Date?
    package var finishedAt: Date?
    package var testsPassed: Int?
    package var testsFailed: Int?
    package var testsSkipped: Int?
    package var logBytes: Int64
    package var truncated: Bool

    package init(position: Int, profile: String, tree: Tree = .pushed, command: String, state: StepState = .pending,
                 message: String? = nil, exitCode: Int32? = nil, timedOut: Bool = false, accel: String? = nil,
                 bootSeconds: Double? = nil, startedAt: Date? = nil, finishedAt: Date? = nil, testsPassed: Int? = nil,
                 testsFailed: Int? = nil, testsSkipped: Int? = nil, logBytes: Int64 = 0, truncated: Bool = false) {
        self.position = position
        self.profile = profile
        self.tree = tree
        self.command = command
        self.state = state
        self.message = message
        self.exitCode = exitCode
        self.timedOut = timedOut
        self.accel = accel
        self.bootSeconds = bootSeconds
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.testsPassed = testsPassed
        self.testsFailed = testsFailed
        self.testsSkipped = testsSkipped
        self.logBytes = logBytes
        self.truncated = truncated
    }

    /// The log's name under `runs/<id>/logs/` (without `.log`): `vm-<profile>`, `vm-<profile>-autofix`.
    package var logName: String { Self.logName(profile: profile, tree: tree) }

    package static func logName(profile: String, tree: Tree) -> String {
        "vm-\(profile)" + (tree == .autofix ? "-autofix" : "")
    }

    /// `vm linux-x86_64: passed 9.8s`, `vm linux-aarch64 (autofix): failed 4.1s (exit 2)`,
    /// `vm linux-x86_64: error: boot timeout: …` (the message's first line).
    package var noteLine: String {
        let vm = self
        var line = "vm \(vm.profile)\(vm.tree == .autofix ? " (autofix)" : ""): "
        switch vm.state {
        case .passed, .failed:
            line += vm.timedOut ? "timed out" : vm.state.rawValue
            if let duration = vm.duration { line += " \(Units.format(duration))" }
            if !vm.timedOut, vm.state == .failed, let code = vm.exitCode { line += " (exit \(code))" }
            if let tests = vm.tests { line += " (\(tests.summary))" }
        case .error, .skipped:
            line += vm.state.rawValue
            if let message = vm.message?.split(separator: "\n").first {
                line += vm.state == .error ? ": \(message)" : " (\(message))"
            }
        default:
            line += vm.state.rawValue
        }
        return line
    }
}

/// A guest ready to run one `vms:` entry: its executor (a sandbox per entry) and the profile's settings.
package struct VMGuest: Sendable {
    package var executor: any GuestExecutor
    /// The profile's `run`, used when the entry has none.
    package var defaultCommand: String
    /// The job timeout in force (the entry's `timeout`, else the profile's).
    package var jobTimeout: Duration

    package init(executor: any GuestExecutor, defaultCommand: String, jobTimeout: Duration) {
        self.executor = executor
        self.defaultCommand = defaultCommand
        self.jobTimeout = jobTimeout
    }
}

/// Where the VM stage gets its guests (implemented by Executors' `VMCatalog`, injected by the CLI).
///
/// Contract: `guest(profile:timeout:directory:)` resolves a profile name of `.pushbox.yml` to a guest whose
/// executor can run here, or throws `SandboxError` naming what is missing and how to fix it (unknown
/// profile, image not built, QEMU not installed): infrastructure trouble, which makes the run `error`.
/// The guest keeps its console log in `directory/console.log` and its scratch files (overlay, disks) in
/// `directory/work/`, which the sandbox's `destroy` removes. `timeout` (a `vms:` entry's) replaces the
/// profile's job timeout.
package protocol VMGuests: Sendable {
    func guest(profile: String, timeout: Duration?, directory: URL) throws -> VMGuest
}

/// How one command went in a guest: the exit status plus what only a VM knows.
package struct GuestRunReport: Sendable, Equatable {
    package var status: ExitStatus
    /// `tcg (…reason…)`, `kvm (…)`, or nil when the driver does not choose (VirtualBox).
    package var accel: String?
    /// From starting the guest until the job began (nil when the guest was already up).
    package var bootTime: Duration?

    package init(status: ExitStatus, accel: String? = nil, bootTime: Duration? = nil) {
        self.status = status
        self.accel = accel
        self.bootTime = bootTime
    }
}

/// A sandbox that is a virtual machine: reports boot timings and can copy results out after the job.
/// A `JobExecutor` whose sandboxes are guests (QEMU, VirtualBox): `makeGuestSandbox` is `makeSandbox` with
/// the guest's own operations, so nothing has to downcast.
package protocol GuestExecutor: JobExecutor {
    func makeGuestSandbox(for run: RunSpec, logger: Logger) async throws -> any GuestSandbox
}

extension GuestExecutor {
    package func makeSandbox(for run: RunSpec, logger: Logger) async throws -> any Sandbox {
        try await makeGuestSandbox(for: run, logger: logger)
    }
}

package protocol GuestSandbox: Sandbox {
    /// `run` with the guest's timings.
    func runGuest(_ step: Step, log: any LogSink) async throws -> GuestRunReport
    /// Copies `path` (relative to the guest's workspace; a file or directory) into `directory` on the host.
    /// Throws `SandboxError` when it is not there.
    func copyOut(_ path: String, to directory: URL) async throws
}

/// One log of a run, a step's or a VM entry's, in the order the run produces them.
package struct RunLogSection: Sendable, Equatable {
    /// The file's name under `logs/` without `.log`: the step's name, or `vm-<profile>[-autofix]`.
    package var name: String
    /// `step build`, `vm linux-x86_64`, `vm linux-x86_64 (autofix)`.
    package var title: String
    package var command: String
    package var state: StepState
    package var exitCode: Int32?
}

extension Run {
    /// The steps' logs, then the VM entries'.
    package var logSections: [RunLogSection] {
        steps.map { RunLogSection(name: $0.name, title: "step \($0.name)", command: $0.command, state: $0.state, exitCode: $0.exitCode) }
            + vms.map {
                RunLogSection(name: $0.logName, title: "vm \($0.profile)\($0.tree == .autofix ? " (autofix)" : "")",
                              command: $0.command, state: $0.state, exitCode: $0.exitCode)
            }
    }
}
