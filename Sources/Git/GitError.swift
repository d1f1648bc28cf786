import CLibGit2
import Glibc

/// A failed libgit2 call, a refused input, or a failed file-system call made by this module.
///
/// `function` always names what failed: a libgit2 function (`git_repository_open`), a POSIX call made by the
/// exporter or the tree writer (`openat`, `symlinkat`), or a method of ``Repository`` that refused its input
/// (`Repository.readFile`). `code` is libgit2's return code (a negative `git_error_code`) for libgit2
/// functions and for refusals, and `errno` (positive) for POSIX calls.
package struct GitError: Error, CustomStringConvertible {
    package let code: Int32
    package let function: String
    package let message: String

    package init(code: Int32, function: String, message: String) {
        self.code = code
        self.function = function
        self.message = message
    }

    /// The object, reference, note or path does not exist (`GIT_ENOTFOUND`).
    package var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }

    /// The repository belongs to another user and `safe.directory` does not allow it (`GIT_EOWNER`).
    package var isOwnedByAnotherUser: Bool { code == GIT_EOWNER.rawValue }

    /// A reference update lost a race or would overwrite without `force` (`GIT_EEXISTS`, `GIT_EMODIFIED`, `GIT_ELOCKED`).
    package var isConflict: Bool {
        code == GIT_EEXISTS.rawValue || code == GIT_EMODIFIED.rawValue || code == GIT_ELOCKED.rawValue
    }

    /// A POSIX call of the exporter or the tree writer found the file system full (`ENOSPC`).
    package var isOutOfSpace: Bool { code == ENOSPC }

    package var description: String { "\(function) failed (\(code)): \(message)" }

    /// The error libgit2 recorded for this thread, then cleared so that it cannot leak into a later error.
    static func lastLibGit2Error(code: Int32, function: String) -> GitError {
        var message = "no message from libgit2"
        if let last = git_error_last(), let text = last.pointee.message {
            message = String(cString: text)
        }
        git_error_clear()
        return GitError(code: code, function: function, message: message)
    }

    /// An input this module refuses (too big, wrong object type, invalid name), named by the method that refused it.
    static func refused(_ function: String, _ message: String, code: git_error_code = GIT_EINVALID) -> GitError {
        GitError(code: code.rawValue, function: function, message: message)
    }
}

/// The one funnel from libgit2 return codes to Swift errors: negative codes throw a ``GitError`` that names
/// `function` and carries `git_error_last()`'s message. Non-negative codes are returned unchanged.
@discardableResult
func check(_ code: Int32, _ function: StaticString) throws -> Int32 {
    if code < 0 {
        throw GitError.lastLibGit2Error(code: code, function: "\(function)")
    }
    return code
}

/// libgit2 must be initialized once per process before any other call; it is never shut down.
enum LibGit2 {
    /// A `static let` runs its initializer exactly once, lazily and thread-safely, on first use.
    private static let initResult: Int32 = {
        let result = git_libgit2_init()
        guard result >= 0 else { return result }
        // See the shim: registered repositories are trusted whoever owns them.
        let disabled = pushbox_git_disable_owner_validation()
        return disabled < 0 ? disabled : result
    }()

    static func initialize() throws {
        try check(initResult, "git_libgit2_init")
    }

    /// "major.minor.revision" of the libgit2 this process runs against.
    static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        // git_libgit2_version only writes three ints and cannot fail in 1.5; the result is ignored for that reason.
        _ = git_libgit2_version(&major, &minor, &revision)
        return "\(major).\(minor).\(revision)"
    }
}
