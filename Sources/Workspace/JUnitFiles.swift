import Core
import Foundation

/// Finds a step's JUnit files: regular files under the workspace whose relative path matches the glob.
/// Symlinks are neither followed into nor returned, so a link to a host file is never read.
package enum JUnitFiles {
    package static let maxFiles = 1000

    /// `mounts`: the run's cache mounts (files below a cached `/workspace/…` path live in the cache).
    package static func find(_ pattern: String, in workspace: URL, mounts: [RunMount] = []) -> [URL] {
        WorkspaceFiles.walk(WorkspaceFiles.roots(workspace: workspace, mounts: mounts), limit: maxFiles) {
            Glob.matches(pattern, $0, pathAware: true)
        }
        .filter { !$0.found.isSymlink }
        .map { $0.root.appendingPathComponent($0.local) }
    }
}
