import Foundation

/// Small POSIX helpers for processes that are not our structured children: a service started in its
/// own session (so a Ctrl-C at the daemon's terminal does not reach it) and found again by pid.
enum LocalProcess {
    /// glibc's `POSIX_SPAWN_SETSID` (a GNU extension Swift does not import); the value is part of glibc's ABI.
    private static let spawnSetSID: Int32 = 0x80

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does not import;
    /// looked up at run time, nil on an older C library.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Starts `executable` in a new session with stdin from /dev/null and stdout+stderr appended to `logFile`.
    static func spawnDetached(_ executable: String, _ arguments: [String], logFile: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of ours: a long-lived service must not hold a descriptor its parent's parent waits on
        // (Foundation's Process sees a child exit through a socket the child inherits).
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(spawnSetSID | Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw SpawnError(executable: executable, message: String(cString: strerror(rc)))
        }
        return pid
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

struct SpawnError: Error, CustomStringConvertible {
    var executable: String
    var message: String
    var description: String { "cannot start \(executable): \(message)" }
}
