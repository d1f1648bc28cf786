import Foundation

/// A fresh directory under `NSTemporaryDirectory()`, for one test. Call ``remove()`` when done
/// (`defer { directory.remove() }`).
package struct TemporaryDirectory: Sendable {
    /// The directory, with symlinks in its path resolved (so paths compare equal to what tools print).
    package let url: URL

    package init(prefix: String = "pushbox-test") throws {
        let template = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("\(prefix).XXXXXX").path
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: template])
        }
        url = URL(fileURLWithPath: String(cString: made), isDirectory: true).resolvingSymlinksInPath()
    }

    /// `url` with `path` ("a/b") appended.
    package func url(_ path: String) -> URL {
        url.appendingPathComponent(path)
    }

    /// Removes the directory and everything in it; symlinks inside are removed, never followed.
    package func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
