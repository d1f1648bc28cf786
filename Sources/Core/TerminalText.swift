/// What a terminal shows for output that redraws itself (pure). Progress bars print `\r` to go back to the
/// start of the line and write over it; the log keeps every byte, and what people read (the run page, the
/// live view, the log tail the model sees) shows the line as the terminal would have left it.
package enum TerminalText {
    /// One line (no `\n`) as a terminal leaves it: each `\r` returns to column 0 and the next text writes
    /// over what is there, character by character; a trailing `\r` (a CRLF line end) is dropped. A line
    /// with escape sequences (colours) keeps its last non-empty segment, since their characters take no
    /// column.
    package static func collapse(_ line: Substring) -> String {
        // Scalars, not Characters: "\r\n" is one Character in Swift.
        guard line.unicodeScalars.contains("\r") else { return String(line) }
        var segments = line.unicodeScalars.split(separator: "\r", omittingEmptySubsequences: false).map(Substring.init)
        while segments.count > 1, segments.last?.isEmpty == true { segments.removeLast() }
        if segments.contains(where: { $0.unicodeScalars.contains("\u{1B}") }) {
            return String(segments.last { !$0.isEmpty } ?? "")
        }
        var screen: [Character] = []
        for segment in segments {
            var column = 0
            for character in segment {
                if column < screen.count { screen[column] = character } else { screen.append(character) }
                column += 1
            }
        }
        return String(screen)
    }

    /// `collapse` applied to every line of `text`.
    package static func collapseLines(_ text: String) -> String {
        guard text.unicodeScalars.contains("\r") else { return text }
        return text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
            .map { collapse(Substring($0)) }.joined(separator: "\n")
    }
}
