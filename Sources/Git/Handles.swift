import CLibGit2

/// One kind of libgit2 handle: its pointer type and the function that frees it.
protocol LibGit2Handle {
    associatedtype Pointer
    static func free(_ pointer: Pointer)
}

/// Owns one libgit2 handle and frees it in `deinit`. Ownership is taken in the initializer, exactly once.
///
/// Handles borrowed from an owner (a `git_tree_entry` from `git_tree_entry_byindex`, the content of a blob)
/// are valid only while the owner is alive: read them inside `withExtendedLifetime(owner)`.
final class Owned<Kind: LibGit2Handle> {
    let pointer: Kind.Pointer

    init(owning pointer: Kind.Pointer) {
        self.pointer = pointer
    }

    deinit {
        Kind.free(pointer)
    }
}

extension Owned where Kind.Pointer == OpaquePointer {
    /// Calls a libgit2 constructor that fills an out-pointer and takes ownership of what it made.
    static func make(_ function: StaticString, _ body: (inout OpaquePointer?) -> Int32) throws -> Owned {
        var out: OpaquePointer?
        try check(body(&out), function)
        guard let out else {
            // libgit2 sets the out-pointer on every successful return of its constructors; a nil here means
            // the library broke its own contract, and there is nothing sensible to continue with.
            preconditionFailure("\(function) returned success without an object")
        }
        return Owned(owning: out)
    }
}

enum GitObject: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_object_free(pointer) } }
enum GitCommit: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_commit_free(pointer) } }
enum GitTree: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_tree_free(pointer) } }
enum GitTreeEntry: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_tree_entry_free(pointer) } }
enum GitBlob: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_blob_free(pointer) } }
enum GitReference: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_reference_free(pointer) } }
enum GitReferenceIterator: LibGit2Handle {
    static func free(_ pointer: OpaquePointer) { git_reference_iterator_free(pointer) }
}
enum GitNote: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_note_free(pointer) } }
enum GitDiff: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_diff_free(pointer) } }
enum GitODB: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_odb_free(pointer) } }
enum GitTreeBuilder: LibGit2Handle { static func free(_ pointer: OpaquePointer) { git_treebuilder_free(pointer) } }
enum GitSignature: LibGit2Handle {
    static func free(_ pointer: UnsafeMutablePointer<git_signature>) { git_signature_free(pointer) }
}
