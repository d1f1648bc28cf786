import Core
import Foundation

/// Reading a workspace that a pushed tree and its jobs control, without ever leaving it: directories are
/// walked by hand with `lstat`, symlinks are reported and never followed, and files are opened component
/// by component with `O_NOFOLLOW`, so a link swapped in after the walk is refused too.
enum WorkspaceFiles {
    /// A regular file found by `walk`, or a symlink it refused to follow.
    struct Found {
        var relative: String
        var size: Int64
        var isSymlink: Bool
    }

    /// The places the workspace's files are on the host: the workspace itself, and the host directories of
    /// cache mounts below `/workspace` (the workspace only has their empty mount points). `prefix` is the
    /// path below the workspace (`target` for `/workspace/target`; "" for the workspace).
    static func roots(workspace: URL, mounts: [RunMount]) -> [(prefix: String, root: URL)] {
        [("", workspace)] + mounts.compactMap { mount in
            guard mount.sandboxPath.hasPrefix("/workspace/") else { return nil }
            return (String(mount.sandboxPath.dropFirst("/workspace/".count)), URL(fileURLWithPath: mount.hostPath))
        }
    }

    /// `walk` over every root, paths relative to the workspace; each result keeps the root it was found in.
    static func walk(_ roots: [(prefix: String, root: URL)], limit: Int,
                     include: (String) -> Bool) -> [(found: Found, root: URL, local: String)] {
        var all: [(found: Found, root: URL, local: String)] = []
        for (prefix, root) in roots where all.count < limit {
            let joined: (String) -> String = { prefix.isEmpty ? $0 : prefix + "/" + $0 }
            for item in walk(root, limit: limit - all.count, include: { include(joined($0)) }) {
                var found = item
                found.relative = joined(item.relative)
                all.append((found, root, item.relative))
            }
        }
        return all.sorted { $0.found.relative < $1.found.relative }
    }

    /// Regular files and symlinks below `root` (relative `/`-separated paths) for which `include` is true;
    /// `descend` decides whether a directory is entered. Stops after `limit` results.
    static func walk(_ root: URL, limit: Int, descend: (String) -> Bool = { _ in true },
                     include: (String) -> Bool) -> [Found] {
        var found: [Found] = []
        var pending: [String] = [""]
        while let directory = pending.popLast(), found.count < limit {
            let absolute = directory.isEmpty ? root.path : root.path + "/" + directory
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: absolute) else { continue }
            for name in names.sorted().reversed() {
                let relative = directory.isEmpty ? name : directory + "/" + name
                var info = stat()
                guard lstat(root.path + "/" + relative, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    if descend(relative) { pending.append(relative) }
                case S_IFREG where include(relative):
                    found.append(Found(relative: relative, size: Int64(info.st_size), isSymlink: false))
                case S_IFLNK where include(relative):
                    found.append(Found(relative: relative, size: 0, isSymlink: true))
                default:
                    break
                }
                if found.count >= limit { break }
            }
        }
        return found.sorted { $0.relative < $1.relative }
    }

    /// Opens `root/relative` for reading without following any symlink on the way; -1 with errno set
    /// (ELOOP for a link) when that is not possible, or ENOENT-like errors. Refuses what is not a regular file.
    static func openRegularFile(_ root: URL, relative: String) -> Int32 {
        var directory = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { return -1 }
        let parts = relative.split(separator: "/").map(String.init)
        guard !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
            close(directory)
            errno = EINVAL
            return -1
        }
        for part in parts.dropLast() {
            let next = openat(directory, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(directory)
            guard next >= 0 else { return -1 }
            directory = next
        }
        let file = openat(directory, parts.last!, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        close(directory)
        guard file >= 0 else { return -1 }
        var info = stat()
        guard fstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(file)
            errno = EINVAL
            return -1
        }
        return file
    }
}

/// Why a file of a workspace or a cache could not be copied or created (a line for the run's log).
package struct FileError: Error, CustomStringConvertible, Equatable {
    package var description: String
    init(_ description: String) { self.description = description }
}
