import Foundation
import Workspace

/// Small POSIX helpers for processes that are not our structured children: a service started in its
/// own session (so a Ctrl-C at the daemon's terminal does not reach it) and found again by pid.
enum LocalProcess {
    /// Starts `executable` in a new session with stdin from /dev/null and stdout+stderr appended to `logFile`,
    /// holding no other descriptor of ours.
    static func spawnDetached(_ executable: String, _ arguments: [String], logFile: String) throws -> pid_t {
        try ProcessSpawn.spawn(executable, arguments, output: .appendingTo(logFile), grouping: .newSession,
                               closingOtherDescriptors: true)
    }

    /// Whether `pid` is a live process. Reaps it when it is our own child; someone else's zombie counts as gone.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard pid > 0 else { return false }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // Format: "pid (comm) S …"; comm may contain spaces and parentheses, the state follows the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        if state == "Z" || state == "X" {
            // Exiting. When it is our child, it is gone only once reaped (a multi-threaded process shows `Z`
            // while its other threads still wind down, and cannot be reaped yet): 0 means "not yet".
            return waitpid(pid, &status, WNOHANG) == 0
        }
        return true
    }

    /// The argument vector of a running process, from /proc.
    static func commandLine(_ pid: pid_t) -> [String]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// SIGTERM, up to `grace` for it to exit, then SIGKILL. True when the process is gone.
    @discardableResult
    static func terminate(_ pid: pid_t, grace: Duration) async -> Bool {
        guard isAlive(pid) else { return true }
        kill(pid, SIGTERM)
        if await waitForExit(pid, within: grace) { return true }
        kill(pid, SIGKILL)
        return await waitForExit(pid, within: .seconds(5))
    }

    static func waitForExit(_ pid: pid_t, within limit: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if !isAlive(pid) { return true }
            try? await clock.sleep(for: .milliseconds(25))
        }
        return !isAlive(pid)
    }

    /// The first `name` found on `PATH`.
    static func which(_ name: String, environment: [String: String]) -> String? {
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
