import Foundation
import Workspace
import Synchronization

/// A child process in its own process group, with stdout and stderr on one pipe read as an async stream.
///
/// Used for QEMU (killed with its whole group on cancel or timeout) and for the short tools around it
/// (`qemu-img`, `mkfs.ext4`, `debugfs`, image build scripts). Two threads per child: one reads the pipe
/// (blocking `read`), one waits for the exit (blocking `waitid`). A signal is only ever sent while the
/// child is known not to be reaped, so a recycled pid or process group is never hit.
final class SpawnedChild: Sendable {
    let pid: pid_t
    let executable: String
    /// Raw output chunks; finishes at end of file (the child and everything holding the pipe are gone).
    let output: AsyncStream<Data>

    private struct State {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }
    private let state = Mutex(State())

    private init(pid: pid_t, executable: String, output: AsyncStream<Data>) {
        self.pid = pid
        self.executable = executable
        self.output = output
    }

    /// Starts `executable` (a path) with `arguments`, stdin from `standardInput` (a file; default /dev/null),
    /// in a new process group.
    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                      standardInput: String = "/dev/null") throws -> SpawnedChild {
        var fds: [Int32] = [0, 0]
        // O_CLOEXEC: no other child spawned meanwhile inherits the write end (it would hold off end of file).
        guard gnuPipe2(&fds, O_CLOEXEC) == 0 else {
            throw SpawnError(executable: executable, message: "pipe2: \(String(cString: strerror(errno)))")
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])

        let pid: pid_t
        do {
            pid = try ProcessSpawn.spawn(executable, arguments, environment: environment, standardInput: standardInput,
                                         output: .descriptor(writeEnd), grouping: .newProcessGroup)
        } catch {
            close(writeEnd)
            close(readEnd)
            throw error
        }
        close(writeEnd)

        let (stream, continuation) = AsyncStream<Data>.makeStream(bufferingPolicy: .unbounded)
        let child = SpawnedChild(pid: pid, executable: executable, output: stream)
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if count > 0 {
                    continuation.yield(Data(buffer[0..<count]))
                } else if count < 0, errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(readEnd)
            continuation.finish()
        }
        reader.name = "pushbox-child-output"
        reader.start()
        let waiter = Thread { child.waitForExitBlocking() }
        waiter.name = "pushbox-child-wait"
        waiter.start()
        return child
    }

    /// Blocks until the child exits, then reaps it under the lock `signal` takes.
    private func waitForExitBlocking() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        let (code, waiters) = state.withLock { state in
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            // Exit code, or 128 + signal number like a shell reports it.
            let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            state.status = code
            let waiters = state.waiters
            state.waiters.removeAll()
            return (code, waiters)
        }
        for waiter in waiters { waiter.resume(returning: code) }
    }

    /// The exit status, once the child has exited (exit code, or 128 + the signal that ended it).
    var exitStatus: Int32? { state.withLock { $0.status } }

    /// Waits for the exit (does not cancel with the calling task; kill first to hurry it).
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            let done: Int32? = state.withLock { state in
                if let status = state.status { return status }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Waits at most `limit`; nil when it is still running then.
    func waitForExit(within limit: Duration) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if let status = exitStatus { return status }
            try? await clock.sleep(for: .milliseconds(20))
        }
        return exitStatus
    }

    /// Sends `signal` to the child's whole process group, unless it has already been reaped.
    func signalGroup(_ signal: Int32) {
        state.withLock { state in
            guard state.status == nil else { return }
            if kill(-pid, signal) != 0 { kill(pid, signal) }
        }
    }

    /// SIGKILL to the group, then waits for the exit. Returns the exit status.
    @discardableResult
    func killGroupAndWait() async -> Int32 {
        signalGroup(SIGKILL)
        return await waitForExit()
    }
}

/// glibc's `pipe2`, which Swift's Glibc module hides behind `_GNU_SOURCE`. Setting close-on-exec atomically
/// matters: with `pipe` + `fcntl`, a child spawned by another thread in between would inherit the write end.
@_silgen_name("pipe2")
private func gnuPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

extension SpawnedChild {
    /// Runs a short tool to completion and returns its exit status and combined output. Cancelling the
    /// calling task kills the tool.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    standardInput: String = "/dev/null",
                    onLine: (@Sendable (String) -> Void)? = nil) async throws -> (status: Int32, output: String) {
        let child = try spawn(executable, arguments, environment: environment, standardInput: standardInput)
        return await withTaskCancellationHandler {
            var collected = Data()
            var pending = Data()
            for await chunk in child.output {
                if collected.count < 1 << 20 { collected.append(chunk) }
                guard let onLine else { continue }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    onLine(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            if let onLine, !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
            let status = await child.waitForExit()
            return (status, String(decoding: collected, as: UTF8.self))
        } onCancel: {
            child.signalGroup(SIGKILL)
        }
    }
}
