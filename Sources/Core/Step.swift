/// One command of a pipeline, run with `/bin/sh -c` inside the run's sandbox.
package struct Step: Codable, Sendable, Equatable {
    /// Unique within the pipeline; also the log file name (`logs/<name>.log`).
    package var name: String
    /// Shell command line.
    package var run: String
    /// Glob (relative to the workspace) of JUnit XML files this step writes, if any.
    package var junit: String?

    package init(name: String, run: String, junit: String? = nil) {
        self.name = name
        self.run = run
        self.junit = junit
    }
}

/// How a step's process ended.
package struct ExitStatus: Sendable, Equatable, Codable {
    package var code: Int32
    /// The runner stopped it because the run's `timeout:` was reached.
    package var timedOut: Bool

    package init(code: Int32, timedOut: Bool = false) {
        self.code = code
        self.timedOut = timedOut
    }

    package static let success = ExitStatus(code: 0)
    package var succeeded: Bool { code == 0 && !timedOut }
    /// Exit 137 (128 + SIGKILL) without a timeout: the kernel's OOM killer or a limit stopped the job.
    package static func isKilled(code: Int32) -> Bool { code == 128 + 9 }
    package var wasKilled: Bool { !timedOut && Self.isKilled(code: code) }

    /// Human wording for notes and logs: exit 137 without a timeout is the kernel or a limit killing the job.
    package var summary: String {
        if timedOut { return "timed out" }
        return wasKilled ? "exit \(code): killed (out of memory or limit)" : "exit \(code)"
    }
}
