import Core
import Foundation
import Pipeline
import Testing

private let a = String(repeating: "a", count: 40)
private let b = String(repeating: "b", count: 40)
private let zero = String(repeating: "0", count: 40)
private let a256 = String(repeating: "a", count: 64)
private let b256 = String(repeating: "b", count: 64)

struct HookInputCase: Sendable, CustomTestStringConvertible {
    var name: String
    var input: String
    var updates: [RefUpdate]
    var rejected: [String]

    init(_ name: String, _ input: String, _ updates: [RefUpdate], rejected: [String] = []) {
        self.name = name
        self.input = input
        self.updates = updates
        self.rejected = rejected
    }

    var testDescription: String { name }
}

private func ref(_ old: String, _ new: String, _ name: String) -> RefUpdate {
    RefUpdate(oldSHA: old, newSHA: new, ref: name)
}

private let fiftyRefs = (0..<50).map { i in
    ref(String(format: "%040x", i), String(format: "%040x", i + 1000), "refs/heads/branch-\(i)")
}

private let longRef = "refs/heads/" + String(repeating: "x", count: 989)

@Suite("PostReceiveParser")
struct PostReceiveParserTests {
    static let cases: [HookInputCase] = [
        .init("single line", "\(a) \(b) refs/heads/main\n", [ref(a, b, "refs/heads/main")]),
        .init("single line without a final newline", "\(a) \(b) refs/heads/main", [ref(a, b, "refs/heads/main")]),
        .init("many lines, in order", """
            \(zero) \(a) refs/heads/new
            \(a) \(b) refs/heads/main
            \(b) \(zero) refs/heads/old
            \(zero) \(b) refs/tags/v1.0

            """, [ref(zero, a, "refs/heads/new"), ref(a, b, "refs/heads/main"), ref(b, zero, "refs/heads/old"),
                  ref(zero, b, "refs/tags/v1.0")]),
        .init("50 refs", fiftyRefs.map { "\($0.oldSHA) \($0.newSHA) \($0.ref)\n" }.joined(), fiftyRefs),
        .init("deletion", "\(a) \(zero) refs/heads/gone\n", [ref(a, zero, "refs/heads/gone")]),
        .init("tag", "\(zero) \(a) refs/tags/release-2024.1\n", [ref(zero, a, "refs/tags/release-2024.1")]),
        .init("blank and whitespace-only lines", "\n\n\(a) \(b) refs/heads/main\n   \n\t\n\(b) \(a) refs/heads/dev\n\n",
              [ref(a, b, "refs/heads/main"), ref(b, a, "refs/heads/dev")]),
        .init("empty input", "", []),
        .init("a trailing \\r on the last line", "\(a) \(b) refs/heads/main\r", [ref(a, b, "refs/heads/main")]),
        .init("upper-case object ids are lower-cased", "\(a.uppercased()) \(b.uppercased()) refs/heads/main\n",
              [ref(a, b, "refs/heads/main")]),
        .init("SHA-256 object ids", "\(a256) \(b256) refs/heads/main\n\(String(repeating: "0", count: 64)) \(a256) refs/tags/x\n",
              [ref(a256, b256, "refs/heads/main"), ref(String(repeating: "0", count: 64), a256, "refs/tags/x")]),
        .init("unicode ref names", "\(a) \(b) refs/heads/功能/ünïcödé-🚀\n", [ref(a, b, "refs/heads/功能/ünïcödé-🚀")]),
        .init("a 1000-character ref", "\(a) \(b) \(longRef)\n", [ref(a, b, longRef)]),
        .init("other namespaces", "\(a) \(b) refs/notes/pushbox\n\(a) \(b) refs/pull/12/head\n",
              [ref(a, b, "refs/notes/pushbox"), ref(a, b, "refs/pull/12/head")]),
        .init("malformed lines are rejected with their line numbers, good ones kept", """
            \(a) \(b) refs/heads/main
            garbage

            \(a) \(b)
            \(b) \(a) refs/heads/dev
            """, [ref(a, b, "refs/heads/main"), ref(b, a, "refs/heads/dev")],
              rejected: [
                "line 2: expected \"<old> <new> <ref>\", got \"garbage\"",
                "line 4: expected \"<old> <new> <ref>\", got \"\(a) \(b)\"",
              ]),
        .init("bad sha: too short", "\(a.dropLast()) \(b) refs/heads/main\n", [],
              rejected: ["line 1: \"\(a.dropLast())\" or \"\(b)\" is not an object id"]),
        .init("bad sha: too long", "\(a) \(b)b refs/heads/main\n", [],
              rejected: ["line 1: \"\(a)\" or \"\(b)b\" is not an object id"]),
        .init("bad sha: not hex", "\(a) \(String(repeating: "g", count: 40)) refs/heads/main\n", [],
              rejected: ["line 1: \"\(a)\" or \"\(String(repeating: "g", count: 40))\" is not an object id"]),
        .init("ref without refs/", "\(a) \(b) main\n\(a) \(b) HEAD\n", [],
              rejected: ["line 1: \"main\" is not a ref name", "line 2: \"HEAD\" is not a ref name"]),
        .init("`..` in a ref", "\(a) \(b) refs/heads/../../etc/passwd\n\(a) \(b) refs/heads/a..b\n", [],
              rejected: ["line 1: \"refs/heads/../../etc/passwd\" is not a ref name", "line 2: \"refs/heads/a..b\" is not a ref name"]),
        .init("a ref with a space", "\(a) \(b) refs/heads/a b\n", [], rejected: ["line 1: \"refs/heads/a b\" is not a ref name"]),
    ]

    @Test(arguments: cases)
    func parse(_ c: HookInputCase) {
        let result = PostReceiveParser.parse(c.input)
        #expect(result.updates == c.updates)
        #expect(result.rejected == c.rejected)
    }

    static let crlfCases: [HookInputCase] = [
        .init("CRLF line endings", "\(a) \(b) refs/heads/main\r\n\(b) \(a) refs/heads/dev\r\n",
              [ref(a, b, "refs/heads/main"), ref(b, a, "refs/heads/dev")]),
        .init("a CRLF blank line between two refs", "\(a) \(b) refs/heads/main\n\r\n\(b) \(a) refs/heads/dev\n",
              [ref(a, b, "refs/heads/main"), ref(b, a, "refs/heads/dev")]),
    ]

    /// `split(separator: "\n")` on a String compares Characters, and "\r\n" is one Character, so CRLF input is
    /// never split into lines (and the `hasSuffix("\r")` check never sees a lone "\r").
    @Test("trailing \\r is dropped", arguments: crlfCases)
    func crlf(_ c: HookInputCase) {
        let result = PostReceiveParser.parse(c.input)
        #expect(result.updates == c.updates)
        #expect(result.rejected == [])
    }

    static let badRefs: [String] = [
        "refs/heads/a\u{01}b", "refs/heads/a\u{1f}", "refs/heads/a\u{7f}", "refs/heads/tab\there", "refs/heads/esc\u{1b}[31m",
        "refs/heads/x.lock", "refs/heads/.hidden", "refs/heads/a//b", "refs/heads/x/", "refs/heads/a@{1}", "refs/heads/a~1",
        "refs/heads/a^", "refs/heads/a:b", "refs/heads/a?", "refs/heads/a*", "refs/heads/a[", "refs/heads/a\\b",
        "refs/heads/end.", "refs/", "refs/heads/" + String(repeating: "x", count: 4086), "heads/main", "/refs/heads/main",
    ]

    @Test("unsafe ref names are rejected", arguments: badRefs)
    func badRef(_ name: String) {
        #expect(!PostReceiveParser.isPlausibleRef(name))
        let result = PostReceiveParser.parse("\(a) \(b) \(name)\n")
        #expect(result.updates.isEmpty)
        #expect(result.rejected.count == 1)
        #expect(result.rejected.first?.hasPrefix("line 1: \"") == true)
        #expect(result.rejected.first?.hasSuffix("is not a ref name") == true)
    }

    @Test("plausible refs", arguments: [
        "refs/heads/main", "refs/heads/feature/login-2", "refs/tags/v1.0.0", "refs/heads/功能", longRef,
        "refs/heads/" + String(repeating: "x", count: 4085), "refs/heads/a.b", "refs/heads/_x", "refs/heads/x-lock",
    ])
    func goodRef(_ name: String) {
        #expect(PostReceiveParser.isPlausibleRef(name))
    }

    @Test("isSHA", arguments: [
        (a, true), (a256, true), (a.uppercased(), true), ("0123456789abcdefABCDEF0123456789abcdef01", true),
        ("", false), (String(a.dropLast()), false), (a + "a", false), (String(repeating: "a", count: 63), false),
        (String(repeating: "a", count: 65), false), (String(repeating: "é", count: 20), false), ("z" + a.dropFirst(), false),
    ])
    func isSHA(_ text: String, _ expected: Bool) {
        #expect(PostReceiveParser.isSHA(text) == expected)
    }

    @Test("a rejected line's echo is bounded")
    func boundedEcho() {
        let huge = String(repeating: "z", count: 100_000)
        let result = PostReceiveParser.parse(huge + "\n")
        #expect(result.rejected.count == 1)
        #expect(result.rejected[0].utf8.count < 300)
    }
}
