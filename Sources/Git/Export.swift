#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibGit2
import Foundation

extension Repository {
    /// Writes the tree of `commit` into `directory` (created when missing; it must be empty) and reports
    /// what was written.
    ///
    /// The tree's content can never make this write or read outside `directory`:
    /// - every file and directory is created relative to a descriptor of its parent directory, one path
    ///   component at a time, with `O_NOFOLLOW` (files with `O_CREAT|O_EXCL`), so no symlink is ever followed;
    /// - an entry whose path passes through an earlier symlink or file of the same name, a duplicate entry,
    ///   a name that is empty, `.`, `..`, contains `/`, or is `.git` is not written but listed in `refused`;
    /// - symlinks are created with their literal target and never dereferenced; those whose target leaves
    ///   `directory` (absolute, or climbing out with `..`, directly or through other links of the tree) are
    ///   still written, so the job sees the repository faithfully, and are listed in `unsafeSymlinks`.
    ///   Whoever reads the workspace later on the host must still not follow links (the job can make more).
    ///
    /// Regular files get mode 0755 when executable in git, 0644 otherwise; directories 0755. Submodules are
    /// not fetched: each becomes an empty directory listed in `submodules`. Content is exported byte for byte
    /// (no `.gitattributes` filters, no LFS smudging). Trees nested deeper than ``exportMaxDepth`` are refused.
    package func export(_ commit: ObjectID, to directory: URL) throws -> ExportReport {
        let tree = try rootTree(of: commit)
        let rootFD = try openEmptyDirectory(directory)
        defer { close(rootFD) }
        var exporter = TreeExporter(repository: self)
        try exporter.run(root: tree, rootFD: rootFD)
        return exporter.report
    }

    /// Directories nested deeper than this are refused: one descriptor stays open per level while exporting.
    package static let exportMaxDepth = 256

    private func openEmptyDirectory(_ directory: URL) throws -> Int32 {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw GitError.refused("Repository.export", "cannot create \(directory.path): \(error)")
        }
        let fd = try POSIX.openDirectory(directory.path)
        let contents: [String]
        do {
            contents = try manager.contentsOfDirectory(atPath: directory.path)
        } catch {
            close(fd)
            throw GitError.refused("Repository.export", "cannot list \(directory.path): \(error)")
        }
        guard contents.isEmpty else {
            close(fd)
            throw GitError.refused("Repository.export", "\(directory.path) is not empty", code: GIT_EEXISTS)
        }
        return fd
    }
}

/// Walks a tree depth-first without recursion (a hostile tree may be very deep), keeping one open
/// descriptor per directory level.
private struct TreeExporter {
    let repository: Repository
    var report = ExportReport()
    /// Every symlink written, by path relative to the export root, with its literal target.
    private var links: [String: String] = [:]
    private var linkPaths: [String] = []

    init(repository: Repository) {
        self.repository = repository
    }

    private struct Frame {
        let tree: Owned<GitTree>
        let fd: Int32
        let path: String
        let depth: Int
        let count: Int
        var next = 0
    }

    mutating func run(root: Owned<GitTree>, rootFD: Int32) throws {
        var frames = [Frame(tree: root, fd: rootFD, path: "", depth: 0, count: git_tree_entrycount(root.pointer))]
        defer {
            // Only reached with open descriptors when an error is thrown mid-walk; the root belongs to the caller.
            for frame in frames.dropFirst() {
                close(frame.fd)
            }
        }
        while let frame = frames.last {
            if frame.next == frame.count {
                if frames.count > 1 {
                    close(frame.fd)
                }
                frames.removeLast()
                continue
            }
            frames[frames.count - 1].next += 1
            guard let entry = git_tree_entry_byindex(frame.tree.pointer, frame.next) else {
                // `next` < git_tree_entrycount of this same immutable tree, so the entry exists.
                preconditionFailure("git_tree_entry_byindex returned nil for an index in range")
            }
            // `frame` holds the tree, and the entry it owns, alive for this call.
            if let child = try exportEntry(entry, in: frame) {
                frames.append(child)
            }
        }
        for path in linkPaths where escapes(linkAt: path) {
            report.unsafeSymlinks.append(path)
        }
    }

    /// Writes one entry; returns the frame to descend into when the entry is a directory.
    private mutating func exportEntry(_ entry: OpaquePointer, in parent: Frame) throws -> Frame? {
        // Every parsed tree entry has a name (possibly empty, which is refused below).
        let name = git_tree_entry_name(entry)!
        let nameString = String(cString: name)
        let path = parent.path.isEmpty ? nameString : parent.path + "/" + nameString
        if let problem = Self.problem(withName: nameString) {
            refuse(path, problem)
            return nil
        }
        let mode = git_tree_entry_filemode(entry)
        switch mode {
        case GIT_FILEMODE_TREE:
            guard parent.depth < Repository.exportMaxDepth else {
                refuse(path, "nested deeper than \(Repository.exportMaxDepth) directories")
                return nil
            }
            guard let fd = try makeDirectory(name, in: parent.fd, path: path) else { return nil }
            do {
                let subtree = try repository.lookupTree(git_tree_entry_id(entry))
                return Frame(tree: subtree, fd: fd, path: path, depth: parent.depth + 1,
                             count: git_tree_entrycount(subtree.pointer))
            } catch {
                close(fd)
                throw error
            }
        case GIT_FILEMODE_BLOB:
            try writeFile(entry, name, in: parent.fd, path: path, mode: 0o644)
        case GIT_FILEMODE_BLOB_EXECUTABLE:
            try writeFile(entry, name, in: parent.fd, path: path, mode: 0o755)
        case GIT_FILEMODE_LINK:
            try writeLink(entry, name, in: parent.fd, path: path)
        case GIT_FILEMODE_COMMIT:
            if let fd = try makeDirectory(name, in: parent.fd, path: path) {
                close(fd)
                report.submodules.append(path)
            }
        default:
            refuse(path, "unsupported file mode \(String(mode.rawValue, radix: 8))")
        }
        return nil
    }

    /// Why a tree entry name cannot be written as one path component, or nil when it can.
    static func problem(withName name: String) -> String? {
        if name.isEmpty { return "empty name" }
        if name == "." || name == ".." { return "the name \(name) would leave its directory" }
        if name.contains("/") { return "the name contains '/'" }
        if name.lowercased() == ".git" { return "a .git entry would plant repository metadata" }
        return nil
    }

    /// Creates (or reuses, for a duplicate tree entry) a real directory; nil when the name is already taken by
    /// a symlink or file, which would otherwise be written through.
    private mutating func makeDirectory(_ name: UnsafePointer<CChar>, in parentFD: Int32, path: String) throws -> Int32? {
        if mkdirat(parentFD, name, 0o755) != 0 {
            let code = errno
            guard code == EEXIST else { throw POSIX.error("mkdirat", path, code) }
        }
        let fd = openat(parentFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP || code == ENOTDIR {
                refuse(path, "an earlier entry of the same name is a symlink or file; not writing through it")
                return nil
            }
            throw POSIX.error("openat", path, code)
        }
        if fchmod(fd, 0o755) != 0 {
            let code = errno
            close(fd)
            throw POSIX.error("fchmod", path, code)
        }
        return fd
    }

    private mutating func writeFile(
        _ entry: OpaquePointer, _ name: UnsafePointer<CChar>, in parentFD: Int32, path: String, mode: mode_t
    ) throws {
        let blob = try repository.lookupBlob(git_tree_entry_id(entry))
        let fd = openat(parentFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST || code == ELOOP {
                refuse(path, "an earlier entry has the same name")
                return
            }
            throw POSIX.error("openat", path, code)
        }
        do {
            try withExtendedLifetime(blob) {
                let total = Int(git_blob_rawsize(blob.pointer))
                guard total > 0, let base = git_blob_rawcontent(blob.pointer) else { return }
                var offset = 0
                while offset < total {
                    let written = write(fd, base + offset, min(total - offset, 1 << 30))
                    if written < 0 {
                        let code = errno
                        if code == EINTR { continue }
                        throw POSIX.error("write", path, code)
                    }
                    offset += written
                }
            }
            if fchmod(fd, mode) != 0 {
                throw POSIX.error("fchmod", path, errno)
            }
        } catch {
            close(fd)
            throw error
        }
        if close(fd) != 0 {
            throw POSIX.error("close", path, errno)
        }
        report.files += 1
    }

    private mutating func writeLink(
        _ entry: OpaquePointer, _ name: UnsafePointer<CChar>, in parentFD: Int32, path: String
    ) throws {
        let blob = try repository.lookupBlob(git_tree_entry_id(entry))
        let bytes: [UInt8] = withExtendedLifetime(blob) {
            let count = Int(git_blob_rawsize(blob.pointer))
            guard count > 0, let base = git_blob_rawcontent(blob.pointer) else { return [] }
            return Array(UnsafeRawBufferPointer(start: base, count: count))
        }
        guard !bytes.isEmpty, bytes.count < Int(PATH_MAX), !bytes.contains(0) else {
            refuse(path, "the symlink target is empty, too long or contains NUL")
            return
        }
        let target = bytes.map { CChar(bitPattern: $0) } + [0]
        if symlinkat(target, parentFD, name) != 0 {
            let code = errno
            if code == EEXIST {
                refuse(path, "an earlier entry has the same name")
                return
            }
            throw POSIX.error("symlinkat", path, code)
        }
        report.symlinks += 1
        links[path] = String(decoding: bytes, as: UTF8.self)
        linkPaths.append(path)
    }

    /// Whether following the link at `path` (relative to the root) would leave the root, resolving the
    /// target lexically and through the other links this export wrote. Loops count as escaping.
    private func escapes(linkAt path: String) -> Bool {
        var current = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        current.removeLast()
        guard let target = links[path] else { return false }
        if target.hasPrefix("/") { return true }
        var pending = Array(target.split(separator: "/").map(String.init).reversed())
        var hops = 0
        while let component = pending.popLast() {
            switch component {
            case ".":
                continue
            case "..":
                if current.isEmpty { return true }
                current.removeLast()
            default:
                current.append(component)
                guard let next = links[current.joined(separator: "/")] else { continue }
                hops += 1
                if hops > 40 || next.hasPrefix("/") { return true }
                current.removeLast()
                pending.append(contentsOf: next.split(separator: "/").map(String.init).reversed())
            }
        }
        return false
    }

    private mutating func refuse(_ path: String, _ reason: String) {
        report.refused.append(RefusedEntry(path: path, reason: reason))
    }
}
