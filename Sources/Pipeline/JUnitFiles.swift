import Core
import Foundation

/// Finds a step's JUnit files: regular files under the workspace whose relative path matches the glob.
/// Symlinks are neither followed into nor returned, so a link to a host file is never read.
enum JUnitFiles {
    static let maxFiles = 1000

    static func find(_ pattern: String, in workspace: URL) -> [URL] {
        WorkspaceFiles.walk(workspace, limit: maxFiles) { Glob.matches(pattern, $0, pathAware: true) }
            .filter { !$0.isSymlink }
            .map { workspace.appendingPathComponent($0.relative) }
    }
}
