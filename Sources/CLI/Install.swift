import Core
import Foundation

/// Where pushbox's own files live (hooks/, sandbox/, runner-config/, vm-profiles/): `$PUSHBOX_SHARE`, or
/// the nearest parent of the executable that holds them (the checkout when run from `.build/`).
enum Install {
    static func directory() throws -> URL {
        if let share = ProcessInfo.processInfo.environment["PUSHBOX_SHARE"], !share.isEmpty {
            return URL(fileURLWithPath: share)
        }
        var candidate = executable().deletingLastPathComponent()
        while candidate.path != "/" {
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("hooks/post-receive").path),
               FileManager.default.fileExists(atPath: candidate.appendingPathComponent("runner-config/pushbox.yml").path) {
                return candidate
            }
            candidate = candidate.deletingLastPathComponent()
        }
        throw UserError("cannot find pushbox's files (hooks/, runner-config/, sandbox/) above \(executable().path); set PUSHBOX_SHARE to the checkout or install directory")
    }

    /// The root of the host-wide build caches (image tars, debootstrap scratch and .debs, downloaded wheels):
    /// `$PUSHBOX_CACHE`, else /var/cache/pushbox. The build scripts read the same variable.
    static func cacheRoot() -> URL {
        let value = ProcessInfo.processInfo.environment["PUSHBOX_CACHE"] ?? ""
        return URL(fileURLWithPath: value.isEmpty ? "/var/cache/pushbox" : value)
    }

    /// The absolute path of the running binary.
    static func executable() -> URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }
}
