#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLibGit2
import Foundation
import Synchronization

/// A git repository opened with libgit2 (bare or with a working tree).
///
/// Not `Sendable`: a libgit2 repository handle must not be used from two threads at once. Open one per
/// operation (or per task) and let it go; opening is cheap. Values it returns (``ObjectID``, ``CommitInfo``,
/// ``ExportReport``) are `Sendable`.
package final class Repository {
    let pointer: OpaquePointer

    private init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        git_repository_free(pointer)
    }

    // MARK: Opening

    /// Opens the repository at exactly `url` (a bare repository, a `.git` directory or a working tree);
    /// never searches parent directories. libgit2 refuses a repository owned by another user unless
    /// `safe.directory` allows it, like git does; the error then says so.
    package static func open(at url: URL) throws -> Repository {
        try LibGit2.initialize()
        var out: OpaquePointer?
        do {
            try check(git_repository_open(&out, url.path), "git_repository_open")
        } catch let error as GitError where error.message.contains("safe.directory") {
            // libgit2 1.5 refuses repositories owned by another user and reports it as a missing config value.
            throw GitError(
                code: GIT_EOWNER.rawValue, function: error.function,
                message: "\(url.path) is owned by another user; run as its owner or list it in safe.directory "
                    + "in this user's ~/.gitconfig (libgit2: \(error.message))")
        }
        return Repository(owning: unwrap(out, "git_repository_open"))
    }

    /// Creates (or reopens) a bare repository at `url`, creating missing directories.
    package static func initBare(at url: URL) throws -> Repository {
        try LibGit2.initialize()
        var out: OpaquePointer?
        try check(git_repository_init(&out, url.path, 1), "git_repository_init")
        return Repository(owning: unwrap(out, "git_repository_init"))
    }

    /// The version of the libgit2 this process runs against, e.g. "1.5.1".
    package static var libgit2Version: String { LibGit2.version }

    /// The git directory: the repository itself when bare, its `.git` directory otherwise.
    package var path: URL {
        // libgit2 always has a path for a repository opened from disk; `open` and `initBare` are the only ways in.
        let text = String(cString: git_repository_path(pointer))
        return URL(fileURLWithPath: text, isDirectory: true)
    }

    package var isBare: Bool { git_repository_is_bare(pointer) == 1 }

    // MARK: Objects

    /// The commit a revision names: a branch ("main", "refs/heads/x"), a tag (annotated tags are peeled),
    /// a full or abbreviated sha, or an expression such as "HEAD~1" (anything `git rev-parse` accepts).
    package func resolve(_ revision: String) throws -> ObjectID {
        let object = try Owned<GitObject>.make("git_revparse_single") { git_revparse_single(&$0, pointer, revision) }
        let commit = try Owned<GitObject>.make("git_object_peel") { git_object_peel(&$0, object.pointer, GIT_OBJECT_COMMIT) }
        return ObjectID(git_object_id(commit.pointer))
    }

    /// The commit `id` names; throws (`isNotFound`) when it is absent or not a commit.
    package func commit(_ id: ObjectID) throws -> CommitInfo {
        let commit = try lookupCommit(id)
        // A commit that git_commit_lookup parsed always has an author and a committer (parsing fails otherwise).
        let author = git_commit_author(commit.pointer)!.pointee
        let committer = git_commit_committer(commit.pointer)!.pointee
        var parents: [ObjectID] = []
        for index in 0..<git_commit_parentcount(commit.pointer) {
            parents.append(ObjectID(git_commit_parent_id(commit.pointer, index)))
        }
        return CommitInfo(
            id: id,
            subject: git_commit_summary(commit.pointer).map { String(cString: $0) } ?? "",
            message: git_commit_message(commit.pointer).map { String(cString: $0) } ?? "",
            authorName: String(cString: author.name),
            authorEmail: String(cString: author.email),
            time: Date(timeIntervalSince1970: TimeInterval(author.when.time)),
            committerName: String(cString: committer.name),
            committerEmail: String(cString: committer.email),
            commitTime: Date(timeIntervalSince1970: TimeInterval(committer.when.time)),
            tree: ObjectID(git_commit_tree_id(commit.pointer)),
            parents: parents
        )
    }

    /// The content of the regular file at `path` (e.g. ".pushbox.yml", "dir/file") in `commit`'s tree,
    /// or nil when nothing is there. Throws when the entry is a directory, a symlink or a submodule, or when
    /// it is bigger than `maxBytes` (the size is read from the object header, before the content is inflated).
    package func readFile(_ path: String, at commit: ObjectID, maxBytes: Int = 64 << 20) throws -> Data? {
        let tree = try rootTree(of: commit)
        var out: OpaquePointer?
        let code = git_tree_entry_bypath(&out, tree.pointer, path)
        if code == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(code, "git_tree_entry_bypath")
        let entry = Owned<GitTreeEntry>(owning: unwrap(out, "git_tree_entry_bypath"))
        switch git_tree_entry_filemode(entry.pointer) {
        case GIT_FILEMODE_BLOB, GIT_FILEMODE_BLOB_EXECUTABLE:
            break
        case GIT_FILEMODE_LINK:
            throw GitError.refused("Repository.readFile", "\(path) is a symlink, not a regular file")
        case GIT_FILEMODE_TREE:
            throw GitError.refused("Repository.readFile", "\(path) is a directory, not a regular file")
        case GIT_FILEMODE_COMMIT:
            throw GitError.refused("Repository.readFile", "\(path) is a submodule, not a regular file")
        default:
            throw GitError.refused("Repository.readFile", "\(path) has an unknown file mode")
        }
        // Every tree entry has an id; the pointer is into `entry`, which lives to the end of this function.
        let blobID = git_tree_entry_id(entry.pointer)!
        let odb = try Owned<GitODB>.make("git_repository_odb") { git_repository_odb(&$0, pointer) }
        var size = 0
        var type = GIT_OBJECT_ANY
        try check(git_odb_read_header(&size, &type, odb.pointer, blobID), "git_odb_read_header")
        guard size <= maxBytes else {
            throw GitError.refused(
                "Repository.readFile", "\(path) is \(size) bytes, more than the limit of \(maxBytes)", code: GIT_EBUFS)
        }
        let blob = try Owned<GitBlob>.make("git_blob_lookup") { git_blob_lookup(&$0, pointer, blobID) }
        return withExtendedLifetime(blob) {
            let count = Int(git_blob_rawsize(blob.pointer))
            guard count > 0, let bytes = git_blob_rawcontent(blob.pointer) else { return Data() }
            return Data(bytes: bytes, count: count)
        }
    }

    /// The names of the entries (files, directories, links, submodules) of `commit`'s tree, in git's order:
    /// the top level, or the directory at `directory` (e.g. "tests"); nil when that is not a directory.
    /// Enough to detect a pipeline (Makefile, package.json, tests/test_app.py, ...).
    package func fileNames(at commit: ObjectID, in directory: String? = nil) throws -> [String]? {
        var tree = try rootTree(of: commit)
        if let directory {
            var out: OpaquePointer?
            let code = git_tree_entry_bypath(&out, tree.pointer, directory)
            if code == GIT_ENOTFOUND.rawValue {
                git_error_clear()
                return nil
            }
            try check(code, "git_tree_entry_bypath")
            let entry = Owned<GitTreeEntry>(owning: unwrap(out, "git_tree_entry_bypath"))
            guard git_tree_entry_filemode(entry.pointer) == GIT_FILEMODE_TREE else { return nil }
            tree = try withExtendedLifetime(entry) { try lookupTree(git_tree_entry_id(entry.pointer)!) }
        }
        return withExtendedLifetime(tree) {
            (0..<git_tree_entrycount(tree.pointer)).map { index in
                String(cString: git_tree_entry_name(git_tree_entry_byindex(tree.pointer, index)))
            }
        }
    }

    // MARK: References

    /// The branch `HEAD` names (`main` for `ref: refs/heads/main`), even when it has no commit yet; nil when
    /// HEAD is detached or not a branch. A bare repository's default branch.
    package func headBranch() -> String? {
        var out: OpaquePointer?
        guard git_reference_lookup(&out, pointer, "HEAD") == 0, let out else {
            git_error_clear()
            return nil
        }
        let head = Owned<GitReference>(owning: out)
        return withExtendedLifetime(head) {
            guard let target = git_reference_symbolic_target(head.pointer) else { return nil }
            let name = String(cString: target)
            return name.hasPrefix("refs/heads/") ? String(name.dropFirst("refs/heads/".count)) : nil
        }
    }

    /// The direct references whose names start with `prefix`, sorted by name, each peeled to a commit
    /// (annotated tags included). Symbolic references (HEAD) and references to something that is not
    /// a commit (a tag of a tree or blob) or whose object is missing are left out.
    package func references(prefix: String = "refs/heads/") throws -> [(name: String, target: ObjectID)] {
        let iterator = try Owned<GitReferenceIterator>.make("git_reference_iterator_new") {
            git_reference_iterator_new(&$0, pointer)
        }
        var found: [(name: String, target: ObjectID)] = []
        while true {
            var out: OpaquePointer?
            let code = git_reference_next(&out, iterator.pointer)
            if code == GIT_ITEROVER.rawValue {
                break
            }
            try check(code, "git_reference_next")
            let reference = Owned<GitReference>(owning: unwrap(out, "git_reference_next"))
            let name = String(cString: git_reference_name(reference.pointer))
            guard name.hasPrefix(prefix), git_reference_type(reference.pointer) == GIT_REFERENCE_DIRECT else {
                continue
            }
            var peeled: OpaquePointer?
            let peelCode = git_reference_peel(&peeled, reference.pointer, GIT_OBJECT_COMMIT)
            if [GIT_EPEEL, GIT_EINVALIDSPEC, GIT_ENOTFOUND].map(\.rawValue).contains(peelCode) {
                git_error_clear()
                continue
            }
            try check(peelCode, "git_reference_peel")
            let commit = Owned<GitObject>(owning: unwrap(peeled, "git_reference_peel"))
            found.append((name: name, target: ObjectID(git_object_id(commit.pointer))))
        }
        return found.sorted { $0.name < $1.name }
    }

    /// Points the reference `name` (a full name, "refs/heads/autofix/main/1a2b3c4d") at `id`.
    /// Without `force`, an existing reference is not moved and this throws (`isConflict`).
    package func setReference(_ name: String, to id: ObjectID, force: Bool, logMessage: String) throws {
        var oid = id.oid
        _ = try Owned<GitReference>.make("git_reference_create") {
            git_reference_create(&$0, pointer, name, &oid, force ? 1 : 0, logMessage)
        }
    }

    // MARK: Notes

    /// The note on `commit` under `notesRef`, or nil when there is none (or the notes ref does not exist yet).
    package func note(on commit: ObjectID, notesRef: String = "refs/notes/pushbox") throws -> String? {
        var oid = commit.oid
        var out: OpaquePointer?
        let code = git_note_read(&out, pointer, notesRef, &oid)
        if code == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(code, "git_note_read")
        let note = Owned<GitNote>(owning: unwrap(out, "git_note_read"))
        return withExtendedLifetime(note) { String(cString: git_note_message(note.pointer)) }
    }

    /// Writes `text` as the note on `commit` under `notesRef`, replacing any note already there (latest run
    /// wins) and creating the notes ref when absent. A final newline is added when `text` lacks one.
    /// `author` signs both the note and the notes commit.
    ///
    /// Safe against concurrent writers, in this process or another: the notes commit is made on top of the
    /// tip that was read, and the ref moves only if it still points there (compare-and-swap); on a lost race
    /// the write is redone on the new tip. (`git_note_create` is not used because it force-creates a missing
    /// notes ref, so two first writers lose a note.)
    package func writeNote(
        _ text: String, on commit: ObjectID, notesRef: String = "refs/notes/pushbox", author: Signature
    ) throws {
        // Writers in this process take turns (libgit2 was seen to lose a note when 12 threads raced on the
        // notes ref); other processes are kept apart by the compare-and-swap below.
        try Self.noteWriters.withLock { _ in try writeNoteUnlocked(text, on: commit, notesRef: notesRef, author: author) }
    }

    private static let noteWriters = Mutex(())

    private func writeNoteUnlocked(_ text: String, on commit: ObjectID, notesRef: String, author: Signature) throws {
        let signature = try makeSignature(author)
        var target = commit.oid
        let body = text.hasSuffix("\n") ? text : text + "\n"
        var attempt = 1
        while true {
            var tip = git_oid()
            let tipCode = git_reference_name_to_id(&tip, pointer, notesRef)
            let hasTip = tipCode != GIT_ENOTFOUND.rawValue
            if hasTip {
                try check(tipCode, "git_reference_name_to_id")
            } else {
                git_error_clear()
            }
            let parent = hasTip
                ? try Owned<GitCommit>.make("git_commit_lookup") { git_commit_lookup(&$0, pointer, &tip) } : nil
            var notesCommit = git_oid()
            var noteBlob = git_oid()
            try withExtendedLifetime((signature, parent)) {
                _ = try check(
                    git_note_commit_create(
                        &notesCommit, &noteBlob, pointer, parent?.pointer, signature.pointer, signature.pointer,
                        &target, body, 1),
                    "git_note_commit_create")
            }
            var reference: OpaquePointer?
            let code = hasTip
                ? git_reference_create_matching(&reference, pointer, notesRef, &notesCommit, 1, &tip, "pushbox: note")
                : git_reference_create(&reference, pointer, notesRef, &notesCommit, 0, "pushbox: note")
            if code >= 0 {
                git_reference_free(reference)
                return
            }
            let lostRace = [GIT_EEXISTS, GIT_EMODIFIED, GIT_ELOCKED].map(\.rawValue).contains(code)
            guard lostRace, attempt < Self.noteAttempts else {
                try check(code, hasTip ? "git_reference_create_matching" : "git_reference_create")
                return
            }
            git_error_clear()
            attempt += 1
            Self.pause(.milliseconds(Int.random(in: 1...20)))
        }
    }

    /// How many times ``writeNote(_:on:notesRef:author:)`` tries before giving up on a contended notes ref.
    static let noteAttempts = 50

    private static func pause(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR {
            request = remaining
        }
    }

    // MARK: Helpers shared by the other files of this module

    func lookupCommit(_ id: ObjectID) throws -> Owned<GitCommit> {
        var oid = id.oid
        return try Owned<GitCommit>.make("git_commit_lookup") { git_commit_lookup(&$0, pointer, &oid) }
    }

    func rootTree(of commit: ObjectID) throws -> Owned<GitTree> {
        let commit = try lookupCommit(commit)
        return try Owned<GitTree>.make("git_commit_tree") { git_commit_tree(&$0, commit.pointer) }
    }

    func lookupTree(_ oid: UnsafePointer<git_oid>) throws -> Owned<GitTree> {
        try Owned<GitTree>.make("git_tree_lookup") { git_tree_lookup(&$0, pointer, oid) }
    }

    func lookupBlob(_ oid: UnsafePointer<git_oid>) throws -> Owned<GitBlob> {
        try Owned<GitBlob>.make("git_blob_lookup") { git_blob_lookup(&$0, pointer, oid) }
    }

    func makeSignature(_ signature: Signature) throws -> Owned<GitSignature> {
        var out: UnsafeMutablePointer<git_signature>?
        let seconds = git_time_t(signature.date.timeIntervalSince1970.rounded(.down))
        let offsetMinutes = Int32(signature.timeZone.secondsFromGMT(for: signature.date) / 60)
        try check(git_signature_new(&out, signature.name, signature.email, seconds, offsetMinutes), "git_signature_new")
        return Owned(owning: unwrap(out, "git_signature_new"))
    }
}

@available(*, unavailable, message: "a libgit2 repository handle is not thread-safe; open one per task")
extension Repository: Sendable {}

/// The out-pointer of a libgit2 call that returned success.
func unwrap<T>(_ value: T?, _ function: StaticString) -> T {
    guard let value else {
        // libgit2 sets the out-pointer on every successful return; a nil means it broke its own contract.
        preconditionFailure("\(function) returned success without a value")
    }
    return value
}
