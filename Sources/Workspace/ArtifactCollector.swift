import Core
import Foundation

/// Copies a run's artifacts (`.pushbox.yml` `artifacts:`) out of its workspace into `runs/<id>/artifacts/`.
///
/// A pattern is a glob relative to the workspace (`*` stays within a directory, `**` crosses them); a
/// pattern that names a directory takes every file below it. Only regular files are copied; symlinks are
/// never followed (a link is listed as skipped, whatever it points to) and every file is opened without
/// following links on its path. The copy stops at `maxBytes` in total and at `maxFiles`.
package enum ArtifactCollector {
    package static let maxFiles = 10_000

    package struct Outcome: Sendable, Equatable {
        package var files: [ArtifactFile]
        /// Lines for the run's log: what was kept, skipped and why.
        package var lines: [String]
    }

    /// `mounts`: the run's cache mounts; files below a cached `/workspace/…` path are read from the cache.
    package static func collect(patterns: [String], workspace: URL, destination: URL, maxBytes: Int64,
                                mounts: [RunMount] = []) -> Outcome {
        func matches(_ relative: String) -> Bool {
            patterns.contains { pattern in
                Glob.matches(pattern, relative, pathAware: true)
                    // `dist` or `build/out` names a directory: everything below it.
                    || matchesDirectoryPrefix(pattern, relative)
            }
        }
        let found = WorkspaceFiles.walk(WorkspaceFiles.roots(workspace: workspace, mounts: mounts), limit: maxFiles + 1, include: matches)
        var files: [ArtifactFile] = []
        var lines: [String] = []
        var total: Int64 = 0
        for (item, root, local) in found.prefix(maxFiles) {
            if item.isSymlink {
                lines.append("artifacts: skipped \(item.relative): a symlink (never followed)")
                continue
            }
            guard total + item.size <= maxBytes else {
                lines.append("artifacts: skipped \(item.relative) (\(Units.formatBytes(item.size))) and what follows: artifacts_max \(Units.formatBytes(maxBytes)) reached")
                break
            }
            do {
                let size = try copy(local, from: root, to: destination.appendingPathComponent(String(item.relative.dropLast(local.count))),
                                    limit: maxBytes - total)
                files.append(ArtifactFile(path: item.relative, size: size))
                total += size
            } catch {
                lines.append("artifacts: skipped \(item.relative): \(error)")
            }
        }
        if found.count > maxFiles { lines.append("artifacts: only the first \(maxFiles) files were kept") }
        if files.isEmpty && !lines.contains(where: { $0.contains("skipped") }) {
            lines.append("artifacts: nothing matched \(patterns.joined(separator: ", "))")
        } else if !files.isEmpty {
            lines.append("artifacts: kept \(ArtifactFile.noteSummary(files))")
        }
        return Outcome(files: files, lines: lines)
    }

    /// Whether `relative` lies below a directory that `pattern` matches (`dist` → `dist/app.js`).
    static func matchesDirectoryPrefix(_ pattern: String, _ relative: String) -> Bool {
        var prefix = Substring(relative)
        while let slash = prefix.lastIndex(of: "/") {
            prefix = prefix[..<slash]
            if Glob.matches(pattern, String(prefix), pathAware: true) { return true }
        }
        return false
    }

    /// Copies one file through a descriptor opened without following links; returns the bytes copied.
    private static func copy(_ relative: String, from workspace: URL, to destination: URL, limit: Int64) throws -> Int64 {
        let source = WorkspaceFiles.openRegularFile(workspace, relative: relative)
        guard source >= 0 else {
            throw FileError(errno == ELOOP ? "a symlink on its path (never followed)" : "cannot open it: \(String(cString: strerror(errno)))")
        }
        defer { close(source) }
        let target = destination.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let out = open(target.path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw FileError("cannot write \(target.path): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var copied: Int64 = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0 { throw FileError("read failed: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            copied += Int64(count)
            guard copied <= limit else {
                unlink(target.path)
                throw FileError("it grew past artifacts_max while being copied")
            }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { write(out, $0.baseAddress! + offset, count - offset) }
                guard written > 0 else { throw FileError("write failed: \(String(cString: strerror(errno)))") }
                offset += written
            }
        }
        return copied
    }
}
