import Core
import Foundation

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
