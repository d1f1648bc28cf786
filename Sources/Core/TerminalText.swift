/// Output that redraws itself, as people read it (pure). Progress bars print `\r` to go back to the start of
/// the line and draw it again; the log keeps every byte, and what people read (the run page, the live view,
/// the log tail the model sees) shows the line's last drawing.
package enum TerminalText {
    /// One line (no `\n`): the text after its last `\r` that is not empty (a trailing `\r`, as in a CRLF line
    /// end, is dropped). Deliberately not a terminal's overwrite, character by character: pieces written over
    /// each other could spell out a masked secret that no single piece contains.
    package static func collapse(_ line: Substring) -> String {
        // Scalars, not Characters: "\r\n" is one Character in Swift.
        guard line.unicodeScalars.contains("\r") else { return String(line) }
        let segments = line.unicodeScalars.split(separator: "\r", omittingEmptySubsequences: true)
        return segments.last.map { String(Substring($0)) } ?? ""
    }

    /// `collapse` applied to every line of `text`.
    package static func collapseLines(_ text: String) -> String {
        guard text.unicodeScalars.contains("\r") else { return text }
        return text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
            .map { collapse(Substring($0)) }.joined(separator: "\n")
    }
}
