import Core
import Foundation
import Glibc
import Workspace
import Testing
import TestSupport

/// `WorkspaceVolume` with real loop mounts (the tests run as root, like the daemon).
@Suite("WorkspaceVolume", .serialized)
struct WorkspaceVolumeTests {
    private static func mounted(_ url: URL) -> Bool {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first == Substring(url.path) }
    }

    @Test("a volume is an empty file system of the quota's size, mounted nosuid,nodev; writing past it is ENOSPC; release leaves nothing")
    func quotaIsEnforced() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let home = RunnerHome(root: directory.url("home"))
        let files = home.run(7)
        let volume = try WorkspaceVolume.create(at: files.workspace, image: files.workspaceImage, bytes: 32 << 20)
        #expect(Self.mounted(files.workspace))
        #expect(try FileManager.default.contentsOfDirectory(atPath: files.workspace.path).isEmpty, "no lost+found")
        var stats = statvfs()
        #expect(statvfs(files.workspace.path, &stats) == 0)
        let size = Int64(stats.f_blocks) * Int64(stats.f_frsize)
        #expect(size > 24 << 20 && size <= 32 << 20, "\(size)")
        #expect(stats.f_flag & 2 != 0 && stats.f_flag & 4 != 0, "ST_NOSUID and ST_NODEV")
        #expect(!volume.isFull)

        // Fill it: the write stops with ENOSPC near the quota.
        let fd = open(files.workspace.appendingPathComponent("fill").path, O_WRONLY | O_CREAT, 0o644)
        #expect(fd >= 0)
        let chunk = [UInt8](repeating: 0x5a, count: 1 << 20)
        var written: Int64 = 0, failure: Int32 = 0
        while written < 64 << 20 {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            if n < 0 { failure = errno; break }
            written += Int64(n)
        }
        close(fd)
        #expect(failure == ENOSPC)
        #expect(written > 20 << 20 && written <= 32 << 20, "\(written)")
        #expect(volume.isFull)
        // On the host, the image takes what was written, not more.
        // (Foundation's totalFileAllocatedSize counts st_blocks in 4 KiB units on Linux; du is right.)
        let du = Process()
        du.executableURL = URL(fileURLWithPath: "/usr/bin/du")
        du.arguments = ["-B1", files.workspaceImage.path]
        let output = Pipe()
        du.standardOutput = output
        try du.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        du.waitUntilExit()
        let allocated = Int(text.split(separator: "\t").first ?? "") ?? 0
        #expect(allocated > 20 << 20 && allocated <= 34 << 20, "\(allocated)")

        volume.release()
        #expect(!Self.mounted(files.workspace))
        #expect(!FileManager.default.fileExists(atPath: files.workspaceImage.path))
        #expect(!FileManager.default.fileExists(atPath: files.workspace.path))
        volume.release()  // twice is fine
    }

    @Test("leftovers of a killed daemon are released, except a run still in use")
    func leftovers() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let home = RunnerHome(root: directory.url("home"))
        let left = try WorkspaceVolume.create(at: home.run(3).workspace, image: home.run(3).workspaceImage, bytes: 16 << 20)
        let leftAttempts = try WorkspaceVolume.create(at: home.run(3).attempts, image: home.run(3).attemptsImage, bytes: 16 << 20)
        let onlyAttempts = try WorkspaceVolume.create(at: home.run(6).attempts, image: home.run(6).attemptsImage, bytes: 16 << 20)
        let inUse = try WorkspaceVolume.create(at: home.run(4).workspace, image: home.run(4).workspaceImage, bytes: 16 << 20)
        let probe = home.runs.appendingPathComponent(".volume-probe-99-1")
        let probeVolume = try WorkspaceVolume.create(at: probe.appendingPathComponent("mnt"), image: probe.appendingPathComponent("probe.img"), bytes: 16 << 20)
        defer { for volume in [inUse, left, leftAttempts, onlyAttempts, probeVolume] { volume.release() } }
        // A plain workspace (a release cut short), and a plain attempts directory (kept logs, not a leftover).
        try FileManager.default.createDirectory(at: home.run(5).workspace, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: home.run(7).attempts.appendingPathComponent("1"), withIntermediateDirectories: true)
        try Data("log\n".utf8).write(to: home.run(7).attempts.appendingPathComponent("1/command.log"))
        let leftovers = WorkspaceVolume.releaseLeftovers(home: home) { $0 == 4 }
        #expect(leftovers.released == [3, 5, 6])
        #expect(leftovers.problems.isEmpty)
        for volume in [left, leftAttempts, onlyAttempts, probeVolume] {
            #expect(!Self.mounted(volume.mountPoint) && !FileManager.default.fileExists(atPath: volume.image.path), "\(volume.mountPoint.path)")
        }
        #expect(!FileManager.default.fileExists(atPath: probe.path))
        #expect(Self.mounted(home.run(4).workspace))
        #expect(!FileManager.default.fileExists(atPath: home.run(5).workspace.path))
        #expect(FileManager.default.fileExists(atPath: home.run(7).attempts.appendingPathComponent("1/command.log").path), "autofix logs stay")
    }

    @Test("a volume that cannot be made throws and leaves nothing behind")
    func failureLeavesNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let home = RunnerHome(root: directory.url("home"))
        // 64 KiB is too small for ext4 with these options: mkfs fails.
        #expect(throws: VolumeError.self) {
            try WorkspaceVolume.create(at: home.run(1).workspace, image: home.run(1).workspaceImage, bytes: 64 << 10)
        }
        #expect(!FileManager.default.fileExists(atPath: home.run(1).workspaceImage.path))
        #expect(!Self.mounted(home.run(1).workspace))
        #expect(WorkspaceVolume.probe(in: directory.url) == nil, "volumes work on this machine (root, e2fsprogs, loop)")
    }
}
