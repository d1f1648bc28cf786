import Core

/// Parses what git gives a `post-receive` hook on stdin: one `<old-sha> <new-sha> <ref>` line per
/// updated ref. Pure. Lines that are not of that shape are reported, not fatal: the hook must never fail
/// a push.
package enum PostReceiveParser {
    package struct Result: Sendable, Equatable {
        package var updates: [RefUpdate]
        /// Human descriptions of lines that were skipped.
        package var rejected: [String]
    }

    package static func parse(_ text: String) -> Result {
        var updates: [RefUpdate] = []
        var rejected: [String] = []
        // "\r\n" is one Character in Swift: split on both.
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (number, rawLine) in lines.enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard fields.count == 3 else {
                rejected.append("line \(number + 1): expected \"<old> <new> <ref>\", got \"\(line.prefix(200))\"")
                continue
            }
            let old = String(fields[0]), new = String(fields[1]), ref = String(fields[2])
            guard isSHA(old), isSHA(new) else {
                rejected.append("line \(number + 1): \"\(old.prefix(64))\" or \"\(new.prefix(64))\" is not an object id")
                continue
            }
            guard isPlausibleRef(ref) else {
                rejected.append("line \(number + 1): \"\(ref.prefix(200))\" is not a ref name")
                continue
            }
            updates.append(RefUpdate(oldSHA: old.lowercased(), newSHA: new.lowercased(), ref: ref))
        }
        return Result(updates: updates, rejected: rejected)
    }

    /// 40 (SHA-1) or 64 (SHA-256) hex digits.
    package static func isSHA(_ text: String) -> Bool {
        (text.utf8.count == 40 || text.utf8.count == 64) && text.utf8.allSatisfy { isHex($0) }
    }

    private static func isHex(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
    }

    /// The rules of `git check-ref-format` that matter for safety: under `refs/`, no `..`, no control
    /// characters or space, no `~^:?*[\`, no component starting with `.` or ending with `.lock`.
    package static func isPlausibleRef(_ ref: String) -> Bool {
        guard ref.hasPrefix("refs/"), ref.utf8.count <= 4096, !ref.contains(".."), !ref.hasSuffix("/"),
              !ref.contains("//"), !ref.contains("@{") else { return false }
        for scalar in ref.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f || " ~^:?*[\\".unicodeScalars.contains(scalar) { return false }
        }
        for component in ref.split(separator: "/") {
            if component.hasPrefix(".") || component.hasSuffix(".lock") || component.hasSuffix(".") { return false }
        }
        return true
    }
}
