#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX helpers the exporter and the tree writer share.
enum POSIX {
    /// Opens an existing directory for use as the base of `*at` calls.
    static func openDirectory(_ path: String) throws -> Int32 {
        #if canImport(Glibc)
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        #else
        let fd = Darwin.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        #endif
        guard fd >= 0 else { throw error("open", path, errno) }
        return fd
    }

    /// A failed POSIX call: `code` is its `errno`, the message names the path it was working on.
    static func error(_ function: String, _ path: String, _ code: Int32) -> GitError {
        GitError(code: code, function: function, message: "\(path): \(String(cString: strerror(code)))")
    }
}
