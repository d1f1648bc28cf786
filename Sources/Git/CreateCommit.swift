#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibGit2
import Foundation

extension Repository {
    /// Writes the content of `directory` as a tree and a commit on top of `parent`; returns the commit.
    /// No reference moves: follow with ``setReference(_:to:force:logMessage:)``.
    ///
    /// Regular files become blobs (executable when the owner may execute them), symlinks become links with
    /// their literal target (never followed), `.git` entries are skipped at every level, other file types
    /// (sockets, fifos, devices) and empty directories are skipped, as git would. A directory where
    /// `parent`'s tree has a submodule keeps that submodule's gitlink unchanged (the exporter leaves
    /// submodules as empty directories, so a round trip does not drop them). A final newline is added to
    /// `message` when it lacks one.
    package func createCommit(
        parent: ObjectID, treeFrom directory: URL, message: String, author: Signature, committer: Signature
    ) throws -> ObjectID {
        let parentCommit = try lookupCommit(parent)
        let parentTree = try Owned<GitTree>.make("git_commit_tree") { git_commit_tree(&$0, parentCommit.pointer) }
        let rootFD = try POSIX.openDirectory(directory.path)
        defer { close(rootFD) }
        guard let treeID = try TreeWriter(repository: self).writeTree(fd: rootFD, path: "", depth: 0, previous: parentTree)
        else {
            // writeTree returns nil only for empty subdirectories (depth > 0); the root tree is always written.
            preconditionFailure("the root tree was not written")
        }
        return try createCommit(parent: parent, tree: ObjectID(treeID), message: message, author: author, committer: committer)
    }

    /// A commit of the existing tree `tree` on top of `parent` (e.g. a tree an earlier commit already has);
    /// returns the commit. No reference moves. A final newline is added to `message` when it lacks one.
    package func createCommit(
        parent: ObjectID, tree treeID: ObjectID, message: String, author: Signature, committer: Signature
    ) throws -> ObjectID {
        let parentCommit = try lookupCommit(parent)
        var oid = treeID.oid
        let tree = try Owned<GitTree>.make("git_tree_lookup") { git_tree_lookup(&$0, pointer, &oid) }
        let authorSignature = try makeSignature(author)
        let committerSignature = try makeSignature(committer)
        let body = message.hasSuffix("\n") ? message : message + "\n"
        var commitID = git_oid()
        var parents: [OpaquePointer?] = [parentCommit.pointer]
        try withExtendedLifetime((parentCommit, tree, authorSignature, committerSignature)) {
            try parents.withUnsafeMutableBufferPointer { buffer in
                _ = try check(
                    git_commit_create(
                        &commitID, pointer, nil, authorSignature.pointer, committerSignature.pointer, nil, body,
                        tree.pointer, 1, buffer.baseAddress),
                    "git_commit_create")
            }
        }
        return ObjectID(commitID)
    }
}

/// Builds trees bottom-up from a directory, reading through descriptors with `O_NOFOLLOW`. Names are kept
/// as raw bytes, so names that are not UTF-8 survive a round trip.
private struct TreeWriter {
    let repository: Repository

    /// The id of the tree for the directory open at `fd`, or nil when it would be empty (except the root,
    /// which is always written). `previous` is the same directory's tree in the parent commit, if any.
    func writeTree(fd: Int32, path: String, depth: Int, previous: Owned<GitTree>?) throws -> git_oid? {
        guard depth <= Repository.exportMaxDepth else {
            throw GitError.refused(
                "Repository.createCommit", "\(path) is nested deeper than \(Repository.exportMaxDepth) directories")
        }
        let builder = try Owned<GitTreeBuilder>.make("git_treebuilder_new") {
            git_treebuilder_new(&$0, repository.pointer, nil)
        }
        for name in try Self.names(in: fd, path: path) {
            let displayName = Self.display(name)
            let childPath = path.isEmpty ? displayName : path + "/" + displayName
            var status = stat()
            guard fstatat(fd, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw POSIX.error("fstatat", childPath, errno)
            }
            var oid = git_oid()
            let mode: git_filemode_t
            switch status.st_mode & S_IFMT {
            case S_IFREG:
                guard let written = try writeBlob(fd: fd, name: name, path: childPath) else { continue }
                oid = written.oid
                mode = written.executable ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB
            case S_IFLNK:
                oid = try writeLink(fd: fd, name: name, path: childPath)
                mode = GIT_FILEMODE_LINK
            case S_IFDIR:
                let old = try previousEntry(name, in: previous)
                if let old, git_tree_entry_filemode(old.pointer) == GIT_FILEMODE_COMMIT {
                    oid = git_tree_entry_id(old.pointer).pointee
                    mode = GIT_FILEMODE_COMMIT
                } else {
                    let childFD = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    guard childFD >= 0 else { throw POSIX.error("openat", childPath, errno) }
                    defer { close(childFD) }
                    var oldTree: Owned<GitTree>?
                    if let old, git_tree_entry_filemode(old.pointer) == GIT_FILEMODE_TREE {
                        oldTree = try repository.lookupTree(git_tree_entry_id(old.pointer))
                    }
                    guard let subtree = try writeTree(fd: childFD, path: childPath, depth: depth + 1, previous: oldTree)
                    else { continue }
                    oid = subtree
                    mode = GIT_FILEMODE_TREE
                }
            default:
                continue
            }
            try check(git_treebuilder_insert(nil, builder.pointer, name, &oid, mode), "git_treebuilder_insert")
        }
        if depth > 0 && git_treebuilder_entrycount(builder.pointer) == 0 {
            return nil
        }
        var treeID = git_oid()
        try check(git_treebuilder_write(&treeID, builder.pointer), "git_treebuilder_write")
        return treeID
    }

    /// The entry `name` of `tree` (owned, so it outlives the tree), or nil.
    private func previousEntry(_ name: [CChar], in tree: Owned<GitTree>?) throws -> Owned<GitTreeEntry>? {
        guard let tree else { return nil }
        return try withExtendedLifetime(tree) {
            guard let borrowed = git_tree_entry_byname(tree.pointer, name) else { return nil }
            return try Owned<GitTreeEntry>.make("git_tree_entry_dup") { git_tree_entry_dup(&$0, borrowed) }
        }
    }

    /// The names (NUL-terminated bytes) in the directory open at `fd`, without ".", ".." and ".git" in any case.
    private static func names(in fd: Int32, path: String) throws -> [[CChar]] {
        let copy = dup(fd)
        guard copy >= 0 else { throw POSIX.error("dup", path, errno) }
        guard let directory = fdopendir(copy) else {
            let code = errno
            close(copy)
            throw POSIX.error("fdopendir", path, code)
        }
        defer { closedir(directory) }
        var names: [[CChar]] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw POSIX.error("readdir", path, errno) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) }) + [0]
            }
            if !isSkipped(name) {
                names.append(name)
            }
        }
        return names
    }

    /// A NUL-terminated name as text for paths in errors (invalid UTF-8 is repaired).
    private static func display(_ name: [CChar]) -> String {
        String(decoding: name.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// ".", ".." and ".git" in any case (git refuses `.git` entries in trees).
    private static func isSkipped(_ name: [CChar]) -> Bool {
        let lowered = display(name).lowercased()
        return lowered == "." || lowered == ".." || lowered == ".git"
    }

    /// The blob of the regular file `name` and whether its owner may execute it; nil when it stopped being
    /// a regular file since it was listed.
    private func writeBlob(fd: Int32, name: [CChar], path: String) throws -> (oid: git_oid, executable: Bool)? {
        // O_NONBLOCK: should the file have been swapped for a fifo, opening it must not hang.
        let fileFD = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fileFD >= 0 else { throw POSIX.error("openat", path, errno) }
        defer { close(fileFD) }
        var status = stat()
        guard fstat(fileFD, &status) == 0 else { throw POSIX.error("fstat", path, errno) }
        guard status.st_mode & S_IFMT == S_IFREG else { return nil }
        let executable = status.st_mode & S_IXUSR != 0
        let size = Int(status.st_size)
        if size <= Self.inMemoryLimit {
            // One byte more than expected, to notice a file that grew since fstat.
            var buffer = [UInt8](repeating: 0, count: size + 1)
            var filled = 0
            while filled < buffer.count {
                let count = buffer.withUnsafeMutableBytes { read(fileFD, $0.baseAddress! + filled, $0.count - filled) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw POSIX.error("read", path, errno)
                }
                if count == 0 { break }
                filled += count
            }
            if filled <= size {
                var oid = git_oid()
                try check(git_blob_create_from_buffer(&oid, repository.pointer, buffer, filled), "git_blob_create_from_buffer")
                return (oid, executable)
            }
            // The file grew while being read: start again, streaming.
            guard lseek(fileFD, 0, SEEK_SET) == 0 else { throw POSIX.error("lseek", path, errno) }
        }
        return (try streamBlob(fileFD, path: path), executable)
    }

    /// Files up to this size are hashed from memory (`git_blob_create_from_buffer` skips objects the
    /// repository already has); bigger ones are streamed so that memory stays bounded.
    static let inMemoryLimit = 8 << 20

    private func streamBlob(_ fileFD: Int32, path: String) throws -> git_oid {
        var out: UnsafeMutablePointer<git_writestream>?
        try check(git_blob_create_from_stream(&out, repository.pointer, nil), "git_blob_create_from_stream")
        let stream = unwrap(out, "git_blob_create_from_stream")
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        do {
            while true {
                let count = read(fileFD, &buffer, buffer.count)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw POSIX.error("read", path, errno)
                }
                if count == 0 { break }
                // git_blob_create_from_stream always fills in write, close and free.
                try check(stream.pointee.write!(stream, buffer, count), "git_writestream.write")
            }
        } catch {
            stream.pointee.free!(stream)
            throw error
        }
        var oid = git_oid()
        // Commits the blob and frees the stream, whatever the outcome.
        try check(git_blob_create_from_stream_commit(&oid, stream), "git_blob_create_from_stream_commit")
        return oid
    }

    private func writeLink(fd: Int32, name: [CChar], path: String) throws -> git_oid {
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlinkat(fd, name, &target, target.count - 1)
        guard length >= 0 else { throw POSIX.error("readlinkat", path, errno) }
        var oid = git_oid()
        try check(git_blob_create_from_buffer(&oid, repository.pointer, target, length), "git_blob_create_from_buffer")
        return oid
    }
}
