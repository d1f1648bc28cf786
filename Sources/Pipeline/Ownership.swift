import Core
import Foundation

/// Hands a workspace to the sandbox user without ever following a symlink out of it.
enum Ownership {
    /// The uid/gid of user `ci` in every pushbox image.
    static let sandboxUID: UInt32 = 1000

    static func give(_ root: URL, uid: UInt32, gid: UInt32) throws {
        guard lchown(root.path, uid, gid) == 0 else {
            throw RunAbort(state: .error, message: "cannot chown \(root.path): \(String(cString: strerror(errno)))")
        }
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return }
        while let relative = walker.nextObject() as? String {
            // lchown changes a symlink itself, never its target; the enumerator does not descend into links.
            _ = lchown(root.appendingPathComponent(relative).path, uid, gid)
        }
    }
}

/// Finds a step's JUnit files: regular files under the workspace whose relative path matches the glob.
/// Symlinks are skipped, so a link to a host file is never read.
enum JUnitFiles {
    static let maxFiles = 1000

    static func find(_ pattern: String, in workspace: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(atPath: workspace.path) else { return [] }
        var found: [URL] = []
        while let relative = walker.nextObject() as? String, found.count < maxFiles {
            guard Glob.matches(pattern, relative, pathAware: true) else { continue }
            let url = workspace.appendingPathComponent(relative)
            var info = stat()
            guard lstat(url.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            found.append(url)
        }
        return found
    }
}
