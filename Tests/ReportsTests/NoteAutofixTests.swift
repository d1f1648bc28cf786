import Core
import Foundation
import Reports
import Testing

@Suite("note: autofix line")
struct NoteAutofixTests {
    @Test("a failed run's note carries the autofix outcome after the steps")
    func autofixLine() {
        var run = Run(id: 12, repoID: 1, repoName: "app", ref: "refs/heads/main", sha: String(repeating: "a", count: 40), state: .failed)
        run.steps = [StepResult(position: 0, name: "test", command: "make test", state: .failed, exitCode: 2)]
        run.autofix = "passed autofix/main/aaaaaaaa (2 attempts, $0.07)"
        let note = NoteFormatter.format(run, baseURL: "http://x")
        #expect(note == "pushbox: failed\nrun: 12 http://x/runs/12\nref: refs/heads/main\nstep test: failed (exit 2)\nautofix: passed autofix/main/aaaaaaaa (2 attempts, $0.07)\n")
        run.autofix = nil
        #expect(!NoteFormatter.format(run, baseURL: "http://x").contains("autofix"))
    }

    @Test("the fix commit's note: passed, the run, the review branch, what it fixes, the guests that passed on it; none without a published commit")
    func fixNote() {
        var run = Run(id: 12, repoID: 1, repoName: "app", ref: "refs/heads/main", sha: String(repeating: "a", count: 40), state: .failed)
        run.vms = [NoteVMTests.vm(.failed, exit: 2), NoteVMTests.vm(.passed, tree: .autofix, exit: 0)]
        #expect(NoteFormatter.formatFix(run, baseURL: "http://x") == nil, "no autofix")
        run.autofixOutcome = AutofixOutcome(status: .passed, branch: "autofix/main/aaaaaaaa", commit: String(repeating: "b", count: 40), attempts: 1)
        #expect(NoteFormatter.formatFix(run, baseURL: "http://x") == """
            pushbox: passed
            run: 12 http://x/runs/12
            ref: refs/heads/autofix/main/aaaaaaaa
            fixes: \(run.sha)
            vm linux-x86_64: passed 9.8s

            """)
        run.autofixOutcome?.commit = nil
        #expect(NoteFormatter.formatFix(run, baseURL: "http://x") == nil, "a newer run's fix was kept: its own note stands")
        run.autofixOutcome = AutofixOutcome(status: .gaveUp, branch: nil, commit: String(repeating: "b", count: 40))
        #expect(NoteFormatter.formatFix(run, baseURL: "http://x") == nil)
    }
}
