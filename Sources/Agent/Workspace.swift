import Core
import Foundation

/// A failure the model should read: it becomes a `tool_result` with `is_error: true` and this message.
package struct ToolFailure: Error, CustomStringConvertible, Sendable, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// A path inside a `Workspace`, with symlinks inside the workspace resolved: `components` are the real
/// directory entries from the root (none is `.`, `..` or a symlink, except possibly a missing tail).
package struct WorkspacePath: Sendable, Equatable {
    package var components: [String]
    /// "a/b/c"; "." for the root.
    package var relative: String { components.isEmpty ? "." : components.joined(separator: "/") }
}

/// The directory the agent's tools may touch, and nothing outside it.
///
/// Paths are relative to the root. Resolution goes component by component with `lstat`, never letting
/// the kernel follow a symlink: absolute paths and `..` are refused, a symlink is followed only when its
/// target stays inside the root (checked the same way), and a symlink that leads outside is refused.
/// Files are then opened with `openat(…, O_NOFOLLOW)` one component at a time, so a symlink swapped in
/// after resolution makes the access fail instead of escaping.
///
/// Writes are refused for `.git` and for paths matching `protectedPaths` (globs relative to the root:
/// `*`, `**`, `?`; a pattern ending in `/` protects that directory and everything under it).
package struct Workspace: Sendable {
    package let root: URL
    package let protectedPaths: [String]

    /// `root` must be an existing directory; its own symlinks (e.g. /tmp → /private/tmp) are resolved.
    package init(root: URL, protectedPaths: [String] = []) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ToolFailure("the workspace \(root.path) is not a directory")
        }
        self.root = root.resolvingSymlinksInPath()
        self.protectedPaths = protectedPaths
    }

    // MARK: Resolution

    /// Resolves `path` (relative to the root). The final components may be missing (for writes);
    /// `mustExist` refuses that with "no such file or directory".
    package func resolve(_ path: String, mustExist: Bool = true) throws -> WorkspacePath {
        let trimmed = path.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("/") || trimmed.hasPrefix("~") {
            throw ToolFailure("\"\(path)\" is an absolute path; give a path relative to the workspace root (e.g. \"src/main.c\")")
        }
        if trimmed.contains("\0") { throw ToolFailure("the path contains a NUL character") }
        let requested = trimmed.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if requested.contains("..") {
            throw ToolFailure("\"\(path)\" contains \"..\"; paths must stay inside the workspace")
        }
        var pending = requested.filter { $0 != "." }
        var resolved: [String] = []
        var missing = false
        var hops = 0
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." { continue }
            if name == ".." {
                // Only from a symlink's target: the requested path had none.
                guard !resolved.isEmpty else { throw ToolFailure("\"\(path)\" leads outside the workspace through a symlink; refused") }
                resolved.removeLast()
                continue
            }
            if missing {
                resolved.append(name)
                continue
            }
            let candidate = resolved + [name]
            var info = stat()
            if lstat(absolute(candidate), &info) != 0 {
                let code = errno
                guard code == ENOENT else {
                    if code == ENOTDIR { throw ToolFailure("\"\(path)\": \(resolved.joined(separator: "/")) is not a directory") }
                    throw ToolFailure("\"\(path)\": \(String(cString: strerror(code)))")
                }
                missing = true
                resolved.append(name)
                continue
            }
            if (info.st_mode & S_IFMT) == S_IFLNK {
                hops += 1
                guard hops <= 40 else { throw ToolFailure("\"\(path)\": too many levels of symbolic links") }
                let target = try readLink(candidate)
                let link = candidate.joined(separator: "/")
                if target.hasPrefix("/") {
                    let rootPath = root.path
                    guard target == rootPath || target.hasPrefix(rootPath + "/") else {
                        throw ToolFailure("\"\(path)\" goes through the symlink \"\(link)\", which points outside the workspace (\(target)); refused")
                    }
                    resolved = []
                    pending = target.dropFirst(rootPath.count).split(separator: "/").map(String.init) + pending
                } else {
                    // Relative to the directory holding the link; a `..` that climbs past the root is refused above.
                    let parts = target.split(separator: "/").map(String.init)
                    var depth = resolved.count
                    for part in parts {
                        if part == ".." { depth -= 1 } else if part != "." { depth += 1 }
                        if depth < 0 {
                            throw ToolFailure("\"\(path)\" goes through the symlink \"\(link)\", which points outside the workspace (\(target)); refused")
                        }
                    }
                    pending = parts + pending
                }
                continue
            }
            if !pending.isEmpty && (info.st_mode & S_IFMT) != S_IFDIR {
                throw ToolFailure("\"\(path)\": \(candidate.joined(separator: "/")) is not a directory")
            }
            resolved.append(name)
        }
        if missing && mustExist { throw ToolFailure("no such file or directory: \"\(path)\"") }
        return WorkspacePath(components: resolved)
    }

    /// The glob (or ".git") that forbids writing `path`, nil when writing is allowed.
    package func protection(of path: WorkspacePath) -> String? {
        if path.components.contains(".git") { return ".git" }
        let relative = path.relative
        for pattern in protectedPaths {
            if pattern.hasSuffix("/") {
                let directory = String(pattern.dropLast())
                if relative == directory || relative.hasPrefix(directory + "/") || Glob.matches(directory + "/**", relative, pathAware: true) {
                    return pattern
                }
            } else if Glob.matches(pattern, relative, pathAware: true) {
                return pattern
            }
        }
        return nil
    }

    /// Refuses writing `requested` (the model's spelling) when it, or what it resolves to, is protected.
    package func checkWritable(_ resolved: WorkspacePath, requested: String) throws {
        let lexical = WorkspacePath(components: requested.split(separator: "/").map(String.init).filter { $0 != "." })
        if let pattern = protection(of: resolved) ?? protection(of: lexical) {
            throw ToolFailure("\"\(requested)\" is protected (matches \"\(pattern)\"): autofix must fix the code, not change the pipeline, the tests or the repository metadata. Leave this file as it is.")
        }
    }

    private func absolute(_ components: [String]) -> String {
        components.isEmpty ? root.path : root.path + "/" + components.joined(separator: "/")
    }

    private func readLink(_ components: [String]) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(absolute(components), &buffer, buffer.count - 1)
        guard count >= 0 else { throw ToolFailure("cannot read the symlink \(components.joined(separator: "/")): \(String(cString: strerror(errno)))") }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Access without following symlinks

    /// What a directory entry is, without following symlinks.
    package enum EntryKind: Sendable, Equatable {
        case file
        case directory
        case symlink
        case other
    }

    /// Opens the directory `components` (from the root) one component at a time, refusing symlinks.
    /// `create` makes missing directories (mode 0755). The caller closes the descriptor.
    private func openDirectory(_ components: [String], create: Bool = false) throws -> Int32 {
        var fd = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ToolFailure("cannot open the workspace: \(String(cString: strerror(errno)))") }
        for (index, name) in components.enumerated() {
            var next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT && create {
                if mkdirat(fd, name, 0o755) != 0 && errno != EEXIST {
                    let code = errno
                    close(fd)
                    throw ToolFailure("cannot create directory \(components[...index].joined(separator: "/")): \(String(cString: strerror(code)))")
                }
                next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let code = errno
            close(fd)
            guard next >= 0 else {
                let where_ = components[...index].joined(separator: "/")
                if code == ELOOP || code == ENOTDIR {
                    throw ToolFailure("\(where_) is not a directory (or was replaced by a symlink); refused")
                }
                throw ToolFailure("cannot open \(where_): \(String(cString: strerror(code)))")
            }
            fd = next
        }
        return fd
    }

    /// The kind of the entry at `path`, nil when it does not exist.
    package func kind(of path: WorkspacePath) throws -> EntryKind? {
        guard let name = path.components.last else { return .directory }
        let dir = try openDirectory(Array(path.components.dropLast()))
        defer { close(dir) }
        var info = stat()
        guard fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw ToolFailure("cannot inspect \(path.relative): \(String(cString: strerror(errno)))")
        }
        return Self.kind(info.st_mode)
    }

    private static func kind(_ mode: mode_t) -> EntryKind {
        switch mode & S_IFMT {
        case S_IFREG: .file
        case S_IFDIR: .directory
        case S_IFLNK: .symlink
        default: .other
        }
    }

    /// Reads at most `limit` bytes of the regular file at `path`; also returns the file's size.
    package func readFile(_ path: WorkspacePath, limit: Int) throws -> (data: Data, size: Int) {
        guard let name = path.components.last else { throw ToolFailure("\".\" is a directory, not a file") }
        let dir = try openDirectory(Array(path.components.dropLast()))
        let fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        let code = errno
        close(dir)
        guard fd >= 0 else {
            if code == ELOOP { throw ToolFailure("\(path.relative) is a symlink; refused") }
            if code == ENOENT { throw ToolFailure("no such file: \(path.relative)") }
            throw ToolFailure("cannot open \(path.relative): \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ToolFailure("cannot inspect \(path.relative): \(String(cString: strerror(errno)))") }
        switch Self.kind(info.st_mode) {
        case .file: break
        case .directory: throw ToolFailure("\(path.relative) is a directory; use list_files")
        default: throw ToolFailure("\(path.relative) is not a regular file")
        }
        let size = Int(info.st_size)
        var data = Data(count: min(size, limit))
        var filled = 0
        while filled < data.count {
            let count = data.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw ToolFailure("cannot read \(path.relative): \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            filled += count
        }
        data.count = filled
        return (data, size)
    }

    /// Replaces (or creates, mode 0644) the regular file at `path`, creating missing directories.
    /// The existing file's mode is kept. Refuses protected paths.
    package func writeFile(_ path: WorkspacePath, _ data: Data, requested: String) throws {
        try checkWritable(path, requested: requested)
        guard let name = path.components.last else { throw ToolFailure("\".\" is a directory, not a file") }
        let dir = try openDirectory(Array(path.components.dropLast()), create: true)
        let fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        let code = errno
        close(dir)
        guard fd >= 0 else {
            if code == ELOOP { throw ToolFailure("\(path.relative) is a symlink; refused") }
            if code == EISDIR { throw ToolFailure("\(path.relative) is a directory") }
            throw ToolFailure("cannot write \(path.relative): \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var written = 0
        while written < data.count {
            let count = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw ToolFailure("cannot write \(path.relative): \(String(cString: strerror(errno)))") }
            written += count
        }
    }

    /// The entries of the directory at `path`, sorted by name, without `.` and `..`.
    package func entries(of path: WorkspacePath) throws -> [(name: String, kind: EntryKind)] {
        let fd = try openDirectory(path.components)
        guard let stream = fdopendir(fd) else {
            close(fd)
            throw ToolFailure("cannot list \(path.relative): \(String(cString: strerror(errno)))")
        }
        defer { closedir(stream) }
        var result: [(name: String, kind: EntryKind)] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            let kind: EntryKind = fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? Self.kind(info.st_mode) : .other
            result.append((name, kind))
        }
        return result.sorted { $0.name < $1.name }
    }
}
