import Core
import Foundation

/// A run's workspace as a file system of its own, so `workspace_quota` is enforced by the kernel: a sparse
/// ext4 image (`runs/<id>/workspace.img`, no journal, no reserved blocks) loop-mounted `nosuid,nodev` at the
/// workspace directory. A job that fills `/workspace` gets "No space left on device" at the quota; the host's
/// disk only holds what the job really wrote (the image is sparse and mounted with `discard`).
///
/// Contract: `create` leaves an empty, mounted workspace or throws (nothing mounted, no image left);
/// `release` deletes what the volume holds (never following a link), unmounts it (lazily, so a process still
/// inside cannot keep it) and deletes the image and the directory; it is safe to call on a plain directory
/// or on what a crashed daemon left. Needs root (mount).
package struct WorkspaceVolume: Sendable {
    package let mountPoint: URL
    package let image: URL
    package let bytes: Int64

    /// Formats and mounts a fresh volume of `bytes` at `mountPoint` (created; must not hold anything).
    package static func create(at mountPoint: URL, image: URL, bytes: Int64) throws -> WorkspaceVolume {
        let volume = WorkspaceVolume(mountPoint: mountPoint, image: image, bytes: bytes)
        volume.release()
        do {
            try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
            let fd = open(image.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw VolumeError(errno: errno, "cannot create \(image.path)") }
            let sized = ftruncate(fd, off_t(bytes))
            let sizeError = errno
            close(fd)
            guard sized == 0 else { throw VolumeError(errno: sizeError, "cannot size \(image.path)") }
            try Self.tool(["mkfs.ext4"], ["-q", "-F", "-m", "0", "-O", "^has_journal", "-L", "pushbox-ws",
                                          "-E", "lazy_itable_init=1,root_owner=1000:1000", image.path])
            try Self.tool(["mount"], ["-t", "ext4", "-o", "loop,nosuid,nodev,noatime,discard,noinit_itable", image.path, mountPoint.path])
            // mkfs made lost+found; the checkout wants an empty directory and the job has no use for it.
            _ = rmdir(mountPoint.appendingPathComponent("lost+found").path)
            return volume
        } catch {
            volume.release()
            throw error
        }
    }

    /// Whether the volume has (almost) no space left: how a failed step is told apart as a full workspace.
    package var isFull: Bool {
        Self.freeBytes(mountPoint) < max(4 << 20, bytes / 200)
    }

    /// The bytes an unprivileged writer can still use on the file system holding `url` (0 when unknown).
    package static func freeBytes(_ url: URL) -> Int64 {
        var stats = statvfs()
        guard statvfs(url.path, &stats) == 0 else { return 0 }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }

    /// Empties and unmounts the volume if mounted, then deletes its image and the mount point. Returns what
    /// went wrong, or nil; when the unmount fails, the image and the mount point are left alone (the image of
    /// a file system still mounted is never unlinked under it).
    @discardableResult
    package func release() -> String? {
        if Self.isMountPoint(mountPoint) {
            // Deleting the files first drops their unwritten pages; unmounting first would write them all
            // back into an image about to be deleted (seconds for a workspace holding gigabytes).
            // removeItem never follows a symlink.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: mountPoint.path)) ?? [] {
                try? FileManager.default.removeItem(at: mountPoint.appendingPathComponent(name))
            }
            if umount2(mountPoint.path, Int32(MNT_DETACH)) != 0 {
                return "cannot unmount \(mountPoint.path): \(String(cString: strerror(errno)))"
            }
        }
        unlink(image.path)
        do {
            if FileManager.default.fileExists(atPath: mountPoint.path) { try FileManager.default.removeItem(at: mountPoint) }
        } catch {
            return "cannot remove \(mountPoint.path): \(error)"
        }
        return nil
    }

    /// A run's workspace volume (or plain workspace), to release.
    package static func workspace(of files: RunFiles) -> WorkspaceVolume {
        WorkspaceVolume(mountPoint: files.workspace, image: files.workspaceImage, bytes: 0)
    }

    /// The volume a run's autofix attempts share, to release.
    package static func attempts(of files: RunFiles) -> WorkspaceVolume {
        WorkspaceVolume(mountPoint: files.attempts, image: files.attemptsImage, bytes: 0)
    }

    /// The volume `probe` makes in its scratch directory.
    private static func probeVolume(_ scratch: URL, bytes: Int64 = 0) -> WorkspaceVolume {
        WorkspaceVolume(mountPoint: scratch.appendingPathComponent("mnt"), image: scratch.appendingPathComponent("probe.img"), bytes: bytes)
    }

    /// Releases what a crashed daemon left in `home` (each run's workspace, volume or not, its attempts
    /// volume, and the daemon's probe), except for runs `inUse` says are still running (a foreground
    /// `pushbox run` in another process). Returns the ids of the runs released and the problems met.
    @discardableResult
    package static func releaseLeftovers(home: RunnerHome, inUse: (Int64) -> Bool) -> (released: [Int64], problems: [String]) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: home.runs.path)) ?? []
        var released: [Int64] = [], problems: [String] = []
        for name in names {
            if name.hasPrefix(".volume-probe-") {
                let probe = home.runs.appendingPathComponent(name)
                if let problem = probeVolume(probe).release() {
                    problems.append(problem)
                } else {
                    try? FileManager.default.removeItem(at: probe)
                }
                continue
            }
            guard let id = Int64(name) else { continue }
            // Any workspace (a plain one, or what a release cut short left), but only the attempts' volume:
            // a plain attempts directory holds the logs autofix keeps.
            let files = home.run(id)
            let left = [workspace(of: files), attempts(of: files)].filter { volume in
                FileManager.default.fileExists(atPath: volume.image.path) || isMountPoint(volume.mountPoint)
                    || (volume.mountPoint == files.workspace && FileManager.default.fileExists(atPath: volume.mountPoint.path))
            }
            guard !left.isEmpty, !inUse(id) else { continue }
            problems += left.compactMap { $0.release() }
            released.append(id)
        }
        return (released.sorted(), problems)
    }

    /// Whether volumes can be made here: root, the tools present, and a loop mount that works. What is
    /// wrong otherwise, in words.
    package static func probe(in directory: URL) -> String? {
        guard geteuid() == 0 else { return "the daemon does not run as root (loop mounts need it)" }
        let scratch = directory.appendingPathComponent(".volume-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            let made = probeVolume(scratch, bytes: 16 << 20)
            let volume = try create(at: made.mountPoint, image: made.image, bytes: made.bytes)
            volume.release()
            try? FileManager.default.removeItem(at: scratch)
            return nil
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            return "\(error)"
        }
    }

    private static func isMountPoint(_ url: URL) -> Bool {
        var own = stat(), parent = stat()
        guard lstat(url.path, &own) == 0, (own.st_mode & S_IFMT) == S_IFDIR,
              lstat(url.deletingLastPathComponent().path, &parent) == 0 else { return false }
        return own.st_dev != parent.st_dev
    }

    /// Runs the first of `names` found in the system directories with `arguments`; throws with its stderr.
    private static func tool(_ names: [String], _ arguments: [String]) throws {
        let directories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        guard let path = names.lazy.flatMap({ name in directories.map { "\($0)/\(name)" } })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw VolumeError("\(names[0]) is not installed (e2fsprogs, mount)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            // The tools say why only in words: this is the one place their words are read.
            throw VolumeError("\(names[0]) failed (exit \(process.terminationStatus)): \(text)",
                              outOfSpace: text.contains(String(cString: strerror(ENOSPC))))
        }
    }
}

package struct VolumeError: Error, CustomStringConvertible, Equatable {
    package var message: String
    /// The runner's disk had no room for the volume (`ENOSPC`).
    package var outOfSpace: Bool
    package init(_ message: String, outOfSpace: Bool = false) {
        self.message = message
        self.outOfSpace = outOfSpace
    }
    /// A failed system call: its `strerror` text follows `message`.
    package init(errno code: Int32, _ message: String) {
        self.init("\(message): \(String(cString: strerror(code)))", outOfSpace: code == ENOSPC)
    }
    package var description: String { message }
}
