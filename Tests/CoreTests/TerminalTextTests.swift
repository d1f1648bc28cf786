import Core
import Testing

@Suite("TerminalText: a redrawn line shows its last drawing")
struct TerminalTextTests {
    @Test("progress bars keep their last drawing; CRLF and plain lines unchanged; pieces are never combined", arguments: [
        ("plain line", "plain line"),
        ("windows line\r", "windows line"),
        ("\rprogress  1%\rprogress 50%\rprogress 100%", "progress 100%"),
        ("downloading 10/10\rdone", "done"),
        ("xxxxET\rSECR", "SECR"),
        ("[=====     ]\r[==========]\r", "[==========]"),
        ("\r\r\r", ""),
        ("a\r\u{1B}[32mgreen\u{1B}[0m\r", "\u{1B}[32mgreen\u{1B}[0m"),
        ("héllo\rH", "H"),
    ])
    func collapse(input: String, shown: String) {
        #expect(TerminalText.collapse(Substring(input)) == shown)
    }

    @Test("every line of a text")
    func lines() {
        let text = (1...1000).map { "\rstep \($0)/1000" }.joined() + "\nnext line\nlast\r\n"
        #expect(TerminalText.collapseLines(text) == "step 1000/1000\nnext line\nlast\n")
    }
}
