import Core
import Foundation

/// Server-sent events of a log (pure): complete lines only, so that a multi-byte character split across
/// two reads is never cut; each line one `line` event whose id is its 1-based line number (the page's
/// line anchors use the same numbers).
///
///     event: line
///     id: 42
///     data: the line's text (invalid UTF-8 replaced)
///
/// `finish` flushes a last line without a newline and ends with `event: end` and the final state.
package struct LogEventEncoder {
    private var pending = Data()
    private(set) var nextLine: Int

    package init(firstLine: Int = 1) { nextLine = firstLine }

    package mutating func feed(_ bytes: Data) -> String {
        pending.append(bytes)
        var out = ""
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            out += event(pending[pending.startIndex..<newline])
            pending.removeSubrange(pending.startIndex...newline)
        }
        return out
    }

    package mutating func finish(state: String) -> String {
        var out = pending.isEmpty ? "" : event(pending)
        pending.removeAll()
        out += "event: end\ndata: \(state)\n\n"
        return out
    }

    private mutating func event(_ bytes: Data) -> String {
        // A progress bar's carriage returns leave what a terminal would show (SSE data cannot hold a CR).
        let text = TerminalText.collapse(Substring(String(decoding: bytes, as: UTF8.self)))
        defer { nextLine += 1 }
        return "event: line\nid: \(nextLine)\ndata: \(text)\n\n"
    }
}

/// ANSI colour escapes (SGR) to HTML spans with classes (pure; the page's CSS colours them, light and
/// dark). Text is HTML-escaped; other escape sequences (cursor movement, titles) are dropped.
///
/// Classes: `b` bold, `i` italic, `u` underline, `f0`…`f15` foreground, `g0`…`g15` background.
enum ANSIRenderer {
    struct Style: Equatable {
        var bold = false, italic = false, underline = false
        var foreground: Int?
        var background: Int?

        var classes: String {
            var list: [String] = []
            if bold { list.append("b") }
            if italic { list.append("i") }
            if underline { list.append("u") }
            if let foreground { list.append("f\(foreground)") }
            if let background { list.append("g\(background)") }
            return list.joined(separator: " ")
        }

        mutating func apply(_ codes: [Int]) {
            var codes = codes.isEmpty ? [0] : codes
            while !codes.isEmpty {
                let code = codes.removeFirst()
                switch code {
                case 0: self = Style()
                case 1: bold = true
                case 3: italic = true
                case 4: underline = true
                case 22: bold = false
                case 23: italic = false
                case 24: underline = false
                case 30...37: foreground = code - 30
                case 39: foreground = nil
                case 40...47: background = code - 40
                case 49: background = nil
                case 90...97: foreground = code - 90 + 8
                case 100...107: background = code - 100 + 8
                case 38, 48:
                    // 256-colour (5;n) and true colour (2;r;g;b): the first 16 of 256 map to the palette,
                    // the others show in the default colour.
                    if codes.first == 5, codes.count >= 2 {
                        let n = codes[1]
                        codes.removeFirst(2)
                        let colour: Int? = n < 16 ? n : nil
                        if code == 38 { foreground = colour } else { background = colour }
                    } else if codes.first == 2, codes.count >= 4 {
                        codes.removeFirst(4)
                        if code == 38 { foreground = nil } else { background = nil }
                    }
                default: break
                }
            }
        }
    }

    static func html(_ text: String) -> String {
        var out = ""
        var style = Style()
        var open = false
        var scalars = Array(text.unicodeScalars)[...]
        func openSpan() {
            let classes = style.classes
            if !classes.isEmpty {
                out += "<span class=\"\(classes)\">"
                open = true
            }
        }
        while let scalar = scalars.first {
            scalars = scalars.dropFirst()
            if scalar == "\u{1B}" {
                guard let next = scalars.first else { break }
                if next == "[" {
                    // CSI: parameters, then a final byte in @…~.
                    scalars = scalars.dropFirst()
                    var parameters = ""
                    var final: Unicode.Scalar?
                    while let c = scalars.first {
                        scalars = scalars.dropFirst()
                        if (0x40...0x7E).contains(c.value) { final = c; break }
                        parameters.unicodeScalars.append(c)
                    }
                    if final == "m" {
                        if open { out += "</span>"; open = false }
                        style.apply(parameters.split(separator: ";", omittingEmptySubsequences: false).map { Int($0) ?? 0 })
                        openSpan()
                    }
                } else if next == "]" {
                    // OSC (window titles, links): up to BEL or ESC \.
                    while let c = scalars.first {
                        scalars = scalars.dropFirst()
                        if c == "\u{07}" { break }
                        if c == "\u{1B}" { scalars = scalars.dropFirst(); break }
                    }
                } else {
                    scalars = scalars.dropFirst()
                }
                continue
            }
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if scalar.value < 0x20 && scalar != "\t" && scalar != "\n" { continue }   // other control characters
                out.unicodeScalars.append(scalar)
            }
        }
        if open { out += "</span>" }
        return out
    }
}

/// The end of a log for the page (file I/O plus pure splitting): at most `bytes` from the end, starting at
/// a line boundary, with the number of the first line shown (lines before the tail are counted).
struct LogTail: Equatable {
    var lines: [String]
    var firstLine: Int
    /// Bytes before the first line shown.
    var skippedBytes: UInt64
    /// The byte after the last line shown: where a live follower continues.
    var endOffset: UInt64

    /// `completeLinesOnly`: a last line without its newline is left out (a live step: it arrives later).
    static func read(_ file: URL, bytes: Int, completeLinesOnly: Bool) -> LogTail {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return LogTail(lines: [], firstLine: 1, skippedBytes: 0, endOffset: 0) }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        var start = size > UInt64(bytes) ? size - UInt64(bytes) : 0
        try? handle.seek(toOffset: start)
        var data = (try? handle.readToEnd()) ?? Data()
        if start > 0, let newline = data.firstIndex(of: UInt8(ascii: "\n")) {
            // Begin at a whole line.
            start += UInt64(newline - data.startIndex + 1)
            data = data[(newline + 1)...]
        }
        var end = size
        if completeLinesOnly {
            if let last = data.lastIndex(of: UInt8(ascii: "\n")) {
                end = start + UInt64(last - data.startIndex + 1)
                data = data[..<(last + 1)]
            } else {
                end = start
                data = Data()
            }
        }
        var firstLine = 1
        if start > 0 {
            // Count the lines before the tail, in pieces (cheap even for a 100 MB log).
            try? handle.seek(toOffset: 0)
            var remaining = start
            while remaining > 0, let chunk = try? handle.read(upToCount: Int(min(remaining, 1 << 20))), !chunk.isEmpty {
                firstLine += Self.newlines(in: chunk)
                remaining -= UInt64(chunk.count)
            }
        }
        var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return LogTail(lines: lines, firstLine: firstLine, skippedBytes: start, endOffset: end)
    }

    /// Newlines in `data`, with memchr (a 50 MB log is counted in milliseconds).
    static func newlines(in data: Data) -> Int {
        data.withUnsafeBytes { buffer -> Int in
            guard var cursor = buffer.baseAddress else { return 0 }
            var remaining = buffer.count
            var count = 0
            while remaining > 0, let hit = memchr(cursor, 0x0A, remaining) {
                count += 1
                let advance = cursor.distance(to: UnsafeRawPointer(hit)) + 1
                cursor = cursor.advanced(by: advance)
                remaining -= advance
            }
            return count
        }
    }
}
