import Foundation

/// Turns the raw bytes of a step log into the plain lines a terminal would have shown.
enum TestCountsLogText {
    /// Only this many bytes at the end of a log are looked at: every summary line a test runner prints
    /// is near the end, and a log can be a gigabyte.
    static let scanLimit = 64 * 1024

    /// The lines of the last ``scanLimit`` bytes of `log`: decoded as UTF-8 (invalid bytes become
    /// U+FFFD), ANSI escape sequences and other control characters removed, split at `\n`, `\r\n` and
    /// also at a lone `\r` (progress bars redraw a line with it; each redraw becomes its own line),
    /// each line trimmed of surrounding white space.
    static func lines(_ log: Data) -> [Substring] {
        var bytes = log[...]
        if bytes.count > scanLimit {
            bytes = bytes.suffix(scanLimit)
            // Unless the cut fell just after a newline, the first line is a fragment ("1 passed" of
            // "11 passed"): drop it rather than misread it.
            if log[bytes.startIndex - 1] != UInt8(ascii: "\n"), let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                bytes = bytes[bytes.index(after: newline)...]
            }
        }
        let text = stripEscapes(String(decoding: bytes, as: UTF8.self))
        return text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .map(trim)
    }

    /// Removes ANSI/VT100 escape sequences (CSI such as colours and cursor moves, OSC such as window
    /// titles and hyperlinks, and the short two- and three-byte ones) and every C0 control character
    /// other than tab, line feed and carriage return.
    static func stripEscapes(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let scalar = pending { pending = nil; return scalar }
            return scalars.next()
        }
        while let scalar = next() {
            switch scalar.value {
            case 0x1B:
                guard let kind = next() else { break }
                switch kind {
                case "[":  // CSI: parameter bytes 0x30–0x3F, intermediates 0x20–0x2F, one final byte 0x40–0x7E.
                    while let byte = next() {
                        if (0x40...0x7E).contains(byte.value) { break }
                        if !(0x20...0x3F).contains(byte.value) { pending = byte; break }
                    }
                case "]", "P", "X", "^", "_":  // OSC, DCS, SOS, PM, APC: up to BEL or ESC \.
                    while let byte = next() {
                        if byte.value == 0x07 { break }
                        if byte.value == 0x1B {
                            if let after = next(), after != "\\" { pending = after }
                            break
                        }
                        if byte == "\n" { pending = byte; break }  // unterminated: do not eat the log
                    }
                default:  // ESC ( B and friends: intermediates 0x20–0x2F, then one final byte.
                    var byte: Unicode.Scalar? = kind
                    while let current = byte, (0x20...0x2F).contains(current.value) { byte = next() }
                    if let current = byte, current == "\n" || current == "\r" { pending = current }
                }
            case 0x09, 0x0A, 0x0D:
                out.append(scalar)
            case 0x00...0x1F, 0x7F, 0x9B:
                continue
            default:
                out.append(scalar)
            }
        }
        return String(out)
    }
}

extension TestCountsLogText {
    static func trim(_ text: Substring) -> Substring {
        guard let first = text.firstIndex(where: { !$0.isWhitespace }) else { return text[text.endIndex...] }
        let last = text.lastIndex(where: { !$0.isWhitespace })!  // exists: `first` is such an index.
        return text[first...last]
    }
}
