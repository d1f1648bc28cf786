import Foundation

/// The one `posix_spawn` set-up for the children the runner starts itself (QEMU and its tools, services in
/// their own session, the test fixtures' daemons). Foundation's `Process` is not used for these: on Linux it
/// was seen never to reap a child killed with SIGKILL, and it cannot start a child in a new session.
///
/// Every child gets stdin from a file (default /dev/null), stdout and stderr on one destination, an empty
/// signal mask and default signal handlers (the daemon's own handlers and blocked signals never leak in).
package enum ProcessSpawn {
    /// Where the child's stdout and stderr go.
    package enum Output: Sendable {
        /// Appended to this file (created 0644 if needed).
        case appendingTo(String)
        /// This descriptor of ours (a pipe's write end); the caller closes its own copy.
        case descriptor(Int32)
    }

    /// Which process group the child belongs to.
    package enum Grouping: Sendable {
        /// Ours.
        case inherited
        /// A new group led by the child: the whole group can be signalled at once.
        case newProcessGroup
        /// A new session (and group): a Ctrl-C at the daemon's terminal does not reach it.
        case newSession
    }

    /// glibc's `POSIX_SPAWN_SETSID` (a GNU extension Swift does not import); the value is part of glibc's ABI.
    private static let spawnSetSID: Int32 = 0x80

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does not import;
    /// looked up at run time, nil on an older C library.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Starts `executable` (a path) with `arguments`; `environment` nil means ours. With
    /// `closingOtherDescriptors`, the child holds nothing of ours beyond 0, 1 and 2 (a long-lived service
    /// must not hold a descriptor someone waits on for end of file).
    package static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                              standardInput: String = "/dev/null", output: Output, grouping: Grouping,
                              closingOtherDescriptors: Bool = false) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, standardInput, O_RDONLY, 0)
        switch output {
        case .appendingTo(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .descriptor(let fd):
            posix_spawn_file_actions_adddup2(&actions, fd, 1)
            posix_spawn_file_actions_adddup2(&actions, fd, 2)
        }
        if closingOtherDescriptors, let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        switch grouping {
        case .inherited: break
        case .newProcessGroup:
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
        case .newSession: flags |= spawnSetSID
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in
            env.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = envp.map { posix_spawn(&pid, executable, &actions, &attributes, argv, $0) }
            ?? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SpawnError(executable: executable, message: String(cString: strerror(rc))) }
        return pid
    }
}

/// A child that could not be started.
package struct SpawnError: Error, CustomStringConvertible {
    package var executable: String
    package var message: String
    package init(executable: String, message: String) {
        self.executable = executable
        self.message = message
    }
    package var description: String { "cannot start \(executable): \(message)" }
}
