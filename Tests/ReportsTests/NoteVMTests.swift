import Core
import Foundation
import Reports
import Testing

@Suite("note: vm lines")
struct NoteVMTests {
    static let start = Date(timeIntervalSince1970: 1_700_000_000)

    static func vm(_ state: StepState, seconds: Double? = 9.8, tree: VMResult.Tree = .pushed, exit: Int32? = nil,
                   timedOut: Bool = false, message: String? = nil, tests: Int? = nil) -> VMResult {
        VMResult(position: 0, profile: "linux-x86_64", tree: tree, command: "make test", state: state, message: message,
                 exitCode: exit, timedOut: timedOut, startedAt: seconds.map { _ in start },
                 finishedAt: seconds.map { start.addingTimeInterval($0) }, testsPassed: tests, testsFailed: tests.map { _ in 1 })
    }

    @Test("each state reads as DESIGN §4 shows it", arguments: [
        (vm(.passed, exit: 0), "vm linux-x86_64: passed 9.8s"),
        (vm(.failed, seconds: 4.1, exit: 2), "vm linux-x86_64: failed 4.1s (exit 2)"),
        (vm(.failed, seconds: 1200, exit: 124, timedOut: true), "vm linux-x86_64: timed out 20m00s"),
        (vm(.passed, exit: 0, tests: 41), "vm linux-x86_64: passed 9.8s (41 passed, 1 failed)"),
        (vm(.error, message: "boot timeout: not ready after 60.0s\nlast console lines:\n  | panic"),
         "vm linux-x86_64: error: boot timeout: not ready after 60.0s"),
        (vm(.skipped, seconds: nil, message: "VM validation is off for this run"),
         "vm linux-x86_64: skipped (VM validation is off for this run)"),
        (vm(.skipped, seconds: nil), "vm linux-x86_64: skipped"),
        (vm(.passed, tree: .autofix, exit: 0), "vm linux-x86_64 (autofix): passed 9.8s"),
        (vm(.canceled, seconds: nil), "vm linux-x86_64: canceled"),
    ])
    func line(_ vm: VMResult, _ expected: String) {
        #expect(vm.noteLine == expected)
    }

    @Test("vm lines follow the steps and the autofix line, in position order")
    func order() {
        var run = Run(id: 3, repoID: 1, repoName: "app", ref: "refs/heads/main", sha: String(repeating: "b", count: 40), state: .failed)
        run.steps = [StepResult(position: 0, name: "test", command: "make test", state: .passed, exitCode: 0)]
        run.vms = [Self.vm(.failed, seconds: 2, exit: 1), {
            var second = Self.vm(.passed, seconds: 3, exit: 0)
            second.position = 1
            second.profile = "linux-aarch64"
            return second
        }()]
        run.autofix = nil
        let note = NoteFormatter.format(run, baseURL: "http://x")
        #expect(note == """
            pushbox: failed
            run: 3 http://x/runs/3
            ref: refs/heads/main
            step test: passed
            vm linux-x86_64: failed 2.0s (exit 1)
            vm linux-aarch64: passed 3.0s

            """)
    }

    @Test("log sections: the steps, then the VM entries under their log names")
    func sections() {
        var run = Run(id: 3, repoID: 1, repoName: "app", ref: "refs/heads/main", sha: String(repeating: "b", count: 40))
        run.steps = [StepResult(position: 0, name: "build", command: "make")]
        run.vms = [Self.vm(.passed, exit: 0), Self.vm(.running, tree: .autofix)]
        #expect(run.logSections.map(\.name) == ["build", "vm-linux-x86_64", "vm-linux-x86_64-autofix"])
        #expect(run.logSections.map(\.title) == ["step build", "vm linux-x86_64", "vm linux-x86_64 (autofix)"])
    }
}

@Suite("note: what a failed run's message adds")
struct NoteFailedMessageTests {
    static func failed(_ message: String?) -> String {
        var run = Run(id: 5, repoID: 1, repoName: "app", ref: "refs/heads/main", sha: String(repeating: "c", count: 40), state: .failed)
        run.steps = [StepResult(position: 0, name: "fill", command: "dd …", state: .failed, exitCode: 1)]
        run.message = message
        return NoteFormatter.format(run, baseURL: "http://127.0.0.1:7070")
    }

    @Test("only what follows the step's own failure is added: a full workspace, a full runner disk")
    func hints() {
        #expect(!Self.failed("step fill failed (exit 1)").contains("failed: "), "the step line says it already")
        #expect(!Self.failed(nil).contains("failed: "))
        #expect(Self.failed("step fill failed (exit 1); the workspace is full (workspace_quota 64.0 MiB)")
            .hasSuffix("step fill: failed (exit 1)\nfailed: the workspace is full (workspace_quota 64.0 MiB)\n"))
    }
}
