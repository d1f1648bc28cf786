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
}
