import Core
import Foundation
@testable import Server
import Testing

@Suite("log rendering: ANSI to HTML, server-sent events, the tail")
struct LogRenderingTests {
    @Test("ANSI SGR colours become spans; text is escaped; other escapes are dropped", arguments: [
        ("plain <b> & \"q\"", "plain &lt;b&gt; &amp; &quot;q&quot;"),
        ("\u{1B}[31merror\u{1B}[0m: x", "<span class=\"f1\">error</span>: x"),
        ("\u{1B}[1;32mok\u{1B}[m", "<span class=\"b f2\">ok</span>"),
        ("\u{1B}[91;44mhi\u{1B}[39mthere\u{1B}[0m", "<span class=\"f9 g4\">hi</span><span class=\"g4\">there</span>"),
        ("\u{1B}[38;5;3mx\u{1B}[38;5;200my", "<span class=\"f3\">x</span>y"),
        ("\u{1B}[38;2;1;2;3mtrue colour", "true colour"),
        ("a\u{1B}[2Kb\u{1B}]0;title\u{07}c\u{08}d", "abcd"),
        ("\u{1B}[4munder\u{1B}[24m", "<span class=\"u\">under</span>"),
    ])
    func ansi(_ input: String, _ html: String) {
        #expect(ANSIRenderer.html(input) == html)
    }

    @Test("events carry whole lines only, numbered; a split multi-byte character is kept intact; end says the state")
    func events() {
        var encoder = LogEventEncoder(firstLine: 7)
        let bytes = Array("héllo\r\nwor".utf8)
        // Split inside the two-byte "é".
        #expect(encoder.feed(Data(bytes[0..<2])) == "")
        #expect(encoder.feed(Data(bytes[2...])) == "event: line\nid: 7\ndata: héllo\n\n")
        #expect(encoder.feed(Data("ld\n".utf8)) == "event: line\nid: 8\ndata: world\n\n")
        #expect(encoder.feed(Data("no newline, a\rCR".utf8)) == "")
        #expect(encoder.finish(state: "passed") == "event: line\nid: 9\ndata: CR\n\nevent: end\ndata: passed\n\n")
    }

    @Test("the tail starts at a whole line, counts the lines before it, and leaves a live step's partial line out")
    func tail() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-tail-\(UUID().uuidString.prefix(8)).log")
        defer { try? FileManager.default.removeItem(at: file) }
        let text = (1...1000).map { "line \($0)" }.joined(separator: "\n") + "\npartial"
        try Data(text.utf8).write(to: file)
        let whole = LogTail.read(file, bytes: 1 << 20, completeLinesOnly: false)
        #expect(whole.firstLine == 1 && whole.lines.count == 1001 && whole.lines.last == "partial" && whole.skippedBytes == 0)
        let live = LogTail.read(file, bytes: 100, completeLinesOnly: true)
        #expect(live.lines.last == "line 1000" && live.lines.first.map { $0.hasPrefix("line ") } == true)
        #expect(live.firstLine + live.lines.count - 1 == 1000, "numbers continue from the skipped part")
        #expect(live.endOffset == UInt64(text.utf8.count - "partial".utf8.count))
        #expect(live.skippedBytes > 0)
        let missing = LogTail.read(file.appendingPathExtension("none"), bytes: 10, completeLinesOnly: true)
        #expect(missing.lines.isEmpty && missing.endOffset == 0)
    }
}
