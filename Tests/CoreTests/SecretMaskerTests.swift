import Core
import Foundation
import Testing

private func bytes(_ text: String) -> Data { Data(text.utf8) }
private func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

/// The part of `encoded` (the base64 of `prefixCount` bytes + the secret + anything) that depends only on
/// the secret's bytes: whole 6-bit groups that start at or after the secret and end at or before its end.
private func base64Core(prefixCount: Int, secretCount: Int) -> Range<Int> {
    let start = (prefixCount * 8 + 5) / 6
    let end = ((prefixCount + secretCount) * 8) / 6
    return start..<end
}

private func replacing(_ range: Range<Int>, in string: String, with replacement: String) -> String {
    let chars = Array(string)
    return String(chars[..<range.lowerBound]) + replacement + String(chars[range.upperBound...])
}

@Suite("SecretMasker")
struct SecretMaskerTests {
    @Test("verbatim occurrences", arguments: [
        ("password=hunter2-secret;", "password=***;"),
        ("hunter2-secret", "***"),
        ("hunter2-secrethunter2-secret", "******"),
        ("a hunter2-secret b hunter2-secret c", "a *** b *** c"),
        ("hunter2-secre", "hunter2-secre"),
        ("HUNTER2-SECRET", "HUNTER2-SECRET"),
        ("", ""),
    ])
    func verbatim(_ input: String, _ expected: String) {
        let masker = SecretMasker(secrets: ["hunter2-secret"])
        #expect(text(masker.mask(bytes(input))) == expected)
    }

    @Test("several secrets, the longer one winning where one contains another")
    func severalSecrets() {
        let masker = SecretMasker(secrets: ["abc", "abcdef-long", "zzz"])
        #expect(text(masker.mask(bytes("x abcdef-long y abc z zzz"))) == "x *** y *** z ***")
        #expect(masker.longestPattern >= "abcdef-long".utf8.count)
    }

    @Test("bytes around a secret are kept exactly, invalid UTF-8 and NULs included")
    func binaryAround() {
        let masker = SecretMasker(secrets: ["s3cr3t-value"])
        let input = Data([0xff, 0x00, 0xfe]) + bytes("s3cr3t-value") + Data([0x00, 0xc3])
        #expect(masker.mask(input) == Data([0xff, 0x00, 0xfe]) + bytes("***") + Data([0x00, 0xc3]))
    }

    @Test("secrets shorter than 3 bytes are ignored", arguments: [[""], ["a"], ["ab"], ["", "x", "yz"]])
    func shortSecrets(_ secrets: [String]) {
        let masker = SecretMasker(secrets: secrets)
        #expect(masker.isEmpty)
        #expect(masker.longestPattern == 0)
        #expect(masker.mask(bytes("a ab yz x")) == bytes("a ab yz x"))
    }

    @Test("a 3-byte secret is masked")
    func threeBytes() {
        let masker = SecretMasker(secrets: ["abc", "ab"])
        #expect(!masker.isEmpty)
        #expect(text(masker.mask(bytes("xabcx ab"))) == "x***x ab")
    }

    @Test("every line of a multi-line secret is masked on its own")
    func multiLine() {
        let key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\nAQEFAASCBKcwggSjAgEAAo\n-----END KEY-----"
        let masker = SecretMasker(secrets: [key])
        // The whole key is one match; its line breaks stay, so later line numbers do not move.
        #expect(text(masker.mask(bytes("key: " + key + "\n"))) == "key: ***\n\n\n\n")
        #expect(text(masker.mask(bytes("line 2 is MIIEvQIBADANBgkqhkiG9w0 here"))) == "line 2 is *** here")
        #expect(text(masker.mask(bytes("> AQEFAASCBKcwggSjAgEAAo"))) == "> ***")
        #expect(text(masker.mask(bytes("-----END KEY-----"))) == "***")
        // Lines with Windows line endings.
        let crlf = "first-line-value\r\nsecond-line-value"
        let masker2 = SecretMasker(secrets: [crlf])
        #expect(text(masker2.mask(bytes("[second-line-value] [first-line-value]"))) == "[***] [***]")
    }

    @Test("a secret printed with line breaks between its characters is masked, the breaks kept", arguments: [
        ("tok", "en-1234", "\n"), ("t", "oken-1234", "\n"), ("token-123", "4", "\r\n"), ("tok", "en-1234", "\r"),
    ])
    func splitAcrossLines(_ head: String, _ tail: String, _ separator: String) {
        let masker = SecretMasker(secrets: ["token-1234"])
        let output = text(masker.mask(bytes("a " + head + separator + tail + " b")))
        #expect(!output.contains("token") && !output.contains("1234"), "\(output)")
        #expect(output == "a ***" + String(repeating: "\n", count: separator.utf8.filter { $0 == 10 }.count) + " b")
        // fold -w 3: every piece on its own line.
        let folded = "token-1234".map(String.init).chunked(3).joined(separator: "\n")
        #expect(text(masker.mask(bytes(folded))) == "***\n\n\n")
        // A line break before the first character is not part of the match.
        #expect(text(masker.mask(bytes("x\ntoken-1234"))) == "x\n***")
    }

    @Test("base64 wrapped at 76 columns (what `base64` prints for a long value) is masked")
    func wrappedBase64() {
        let secret = String(repeating: "0123456789abcdef", count: 8)
        let encoded = Data(secret.utf8).base64EncodedString()
        let wrapped = stride(from: 0, to: encoded.count, by: 76).map { start in
            String(encoded.dropFirst(start).prefix(76))
        }.joined(separator: "\n") + "\n"
        let output = text(SecretMasker(secrets: [secret]).mask(bytes(wrapped)))
        #expect(!output.contains(String(encoded.prefix(20))) && output.hasPrefix("***"), "\(output)")
    }

    @Test("percent-encoded (as in a URL) and form-encoded values are masked")
    func percentEncoded() {
        let secret = "p@ss w/rd&x=1"
        let masker = SecretMasker(secrets: [secret])
        #expect(text(masker.mask(bytes("GET /login?password=p%40ss%20w%2Frd%26x%3D1 HTTP/1.1"))) == "GET /login?password=*** HTTP/1.1")
        #expect(text(masker.mask(bytes("body: pw=p%40ss+w%2Frd%26x%3D1"))) == "body: pw=***")
        #expect(text(masker.mask(bytes("https://user:p@ss w/rd&x=1@host/"))) == "https://user:***@host/")
    }

    @Test("streaming equals unstreamed however the input is cut, also with many line breaks in a gap (not a match)")
    func streamingManyBreaks() {
        let masker = SecretMasker(secrets: ["hunter2x"])
        for input in ["h" + String(repeating: "\n", count: 40) + "unter2x", "h\r\n\r\nu\r\n\r\nnter2x", "hu\nnter2x"] {
            let bytes = Array(input.utf8)
            let whole = masker.mask(Data(bytes))
            for split in 1..<bytes.count {
                var stream = StreamingMasker(masker)
                var output = stream.push(Data(bytes[..<split]))
                output += stream.push(Data(bytes[split...]))
                output += stream.finish()
                #expect(output == whole, "\(input.debugDescription) split at \(split)")
            }
        }
        #expect(text(masker.mask(bytes("hu\nnter2x"))) == "***\n")
    }

    @Test("streaming: a secret split across lines and across pushes gives the unstreamed output")
    func streamingSplitAcrossLines() {
        let masker = SecretMasker(secrets: ["token-1234"])
        let input = Array("log: tok\nen-\r\n1234 end\n".utf8)
        let whole = masker.mask(Data(input))
        for split in 1..<input.count {
            var stream = StreamingMasker(masker)
            var output = stream.push(Data(input[..<split]))
            output += stream.push(Data(input[split...]))
            output += stream.finish()
            #expect(output == whole, "split at \(split)")
        }
        #expect(text(whole) == "log: ***\n\n end\n")
    }

    @Test("short lines of a multi-line secret are not patterns on their own")
    func multiLineShortLines() {
        let masker = SecretMasker(secrets: ["ab\nlong-enough-line"])
        #expect(text(masker.mask(bytes("ab cd"))) == "ab cd")
        #expect(text(masker.mask(bytes("long-enough-line"))) == "***")
    }

    static let alignments: [(String, String)] = [
        ("", ""), ("", "y"), ("", "yy"), ("x", ""), ("x", "y"), ("x", "yy"), ("xx", ""), ("xx", "y"), ("xx", "yy"),
        ("Authorization: ", "\n"), ("user:", ""),
    ]

    @Test("base64 in all three alignments: the secret's core is masked", arguments: alignments)
    func base64(_ prefix: String, _ suffix: String) throws {
        let secret = "correct-horse-battery-staple"
        let masker = SecretMasker(secrets: [secret])
        let encoded = bytes(prefix + secret + suffix).base64EncodedString()
        let core = base64Core(prefixCount: prefix.utf8.count, secretCount: secret.utf8.count)
        let coreText = String(Array(encoded)[core])
        #expect(coreText.count >= 36)
        let masked = text(masker.mask(bytes(encoded)))
        #expect(!masked.contains(coreText))
        #expect(masked == replacing(core, in: encoded, with: "***"))
        // The whole thing, embedded in a log line.
        #expect(text(masker.mask(bytes("token " + encoded + " end"))) == "token " + replacing(core, in: encoded, with: "***") + " end")
    }

    @Test("base64url in all three alignments", arguments: alignments)
    func base64url(_ prefix: String, _ suffix: String) throws {
        // ">>>" encodes to "Pj4+" and "???" to "Pz8/": the standard and URL alphabets differ.
        let secret = "tok>>>???>>>???-end"
        let masker = SecretMasker(secrets: [secret])
        let standard = bytes(prefix + secret + suffix).base64EncodedString()
        let url = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let core = base64Core(prefixCount: prefix.utf8.count, secretCount: secret.utf8.count)
        let urlCore = String(Array(url)[core])
        #expect(urlCore.contains("-") || urlCore.contains("_"))
        #expect(text(masker.mask(bytes(url))) == replacing(core, in: url, with: "***"))
        #expect(text(masker.mask(bytes(standard))) == replacing(core, in: standard, with: "***"))
    }

    @Test("each line of a multi-line secret is masked in base64 too")
    func base64OfLine() {
        let secret = "first-line-of-it\nsecond-line-of-it"
        let masker = SecretMasker(secrets: [secret])
        for line in ["first-line-of-it", "second-line-of-it"] {
            let encoded = bytes(line).base64EncodedString()
            let core = base64Core(prefixCount: 0, secretCount: line.utf8.count)
            #expect(text(masker.mask(bytes(encoded))) == replacing(core, in: encoded, with: "***"))
        }
    }

    @Test("text that merely resembles base64 is left alone")
    func noFalsePositives() {
        let masker = SecretMasker(secrets: ["correct-horse-battery-staple"])
        let unrelated = bytes("other-secret-value-here").base64EncodedString()
        #expect(text(masker.mask(bytes(unrelated))) == unrelated)
    }
}

@Suite("StreamingMasker")
struct StreamingMaskerTests {
    static let secret = "correct-horse-battery"
    static let input: Data = {
        let b64 = Data(("x" + secret).utf8).base64EncodedString()
        return Data("start \(secret) mid \(b64) [\(secret)\(secret)] tail\n".utf8)
    }()

    private func streamed(_ masker: SecretMasker, _ pieces: [Data]) -> Data {
        var streaming = StreamingMasker(masker)
        var out = Data()
        for piece in pieces { out += streaming.push(piece) }
        out += streaming.finish()
        return out
    }

    @Test("a secret split across 2 pushes, at every split position, gives the unstreamed output")
    func twoPushes() {
        let masker = SecretMasker(secrets: [Self.secret])
        let expected = masker.mask(Self.input)
        #expect(!text(expected).contains(Self.secret))
        let bytes = [UInt8](Self.input)
        for i in 0...bytes.count {
            let out = streamed(masker, [Data(bytes[..<i]), Data(bytes[i...])])
            #expect(out == expected, "split at \(i): \(text(out))")
        }
    }

    @Test("a secret split across 3 pushes, at every pair of split positions, gives the unstreamed output")
    func threePushes() {
        let masker = SecretMasker(secrets: [Self.secret])
        let expected = masker.mask(Self.input)
        let bytes = [UInt8](Self.input)
        var failures = 0
        for i in 0...bytes.count {
            for j in i...bytes.count {
                let out = streamed(masker, [Data(bytes[..<i]), Data(bytes[i..<j]), Data(bytes[j...])])
                if out != expected {
                    failures += 1
                    if failures <= 5 { Issue.record("split at \(i), \(j): \(text(out))") }
                }
            }
        }
        #expect(failures == 0)
    }

    @Test("one byte at a time")
    func byteByByte() {
        let masker = SecretMasker(secrets: [Self.secret, "zz-other-zz"])
        let input = Self.input + Data("zz-other-zz\n".utf8)
        let out = streamed(masker, [UInt8](input).map { Data([$0]) })
        #expect(out == masker.mask(input))
    }

    @Test("push never emits a secret's first bytes before knowing what follows")
    func holdsBack() {
        var streaming = StreamingMasker(SecretMasker(secrets: [Self.secret]))
        let first = streaming.push(Data("ok correct-hor".utf8))
        #expect(!text(first).contains("correct-hor"))
        let second = streaming.push(Data("se-battery done".utf8))
        let rest = streaming.finish()
        #expect(text(first + second + rest) == "ok *** done")
    }

    @Test("nothing is lost at finish", arguments: [0, 1, 7, 20, 64])
    func nothingLost(_ chunk: Int) {
        let masker = SecretMasker(secrets: ["not-present-anywhere-at-all"])
        var input = Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        input += Data("plain text\n".utf8)
        let pieces: [Data] = chunk == 0 ? [input] : stride(from: 0, to: input.count, by: chunk).map {
            input.subdata(in: $0..<min($0 + chunk, input.count))
        }
        #expect(streamed(masker, pieces) == input)
    }

    @Test("without secrets, push passes bytes straight through")
    func passThrough() {
        var streaming = StreamingMasker(SecretMasker(secrets: []))
        #expect(streaming.push(Data("abc".utf8)) == Data("abc".utf8))
        #expect(streaming.push(Data([0xff, 0x00])) == Data([0xff, 0x00]))
        #expect(streaming.finish().isEmpty)
    }

    /// With two secrets where one starts the other, a push that ends inside the longer one lets the
    /// shorter match on its own; the rest of the longer secret is then emitted in the clear.
    @Test("a secret that extends another secret is masked whole wherever the stream is split", arguments: [
        "s3cret-v", "s3cret-value", "s3cret-value-", "s3cret-value-and-mo", "s3cret-value-and-more",
    ])
    func secretExtendingAnother(_ firstPush: String) {
        let masker = SecretMasker(secrets: ["s3cret-value", "s3cret-value-and-more"])
        let line = "token=s3cret-value-and-more\n"
        #expect(text(masker.mask(Data(line.utf8))) == "token=***\n")
        let first = "token=" + firstPush
        let out = streamed(masker, [Data(first.utf8), Data(line.utf8.dropFirst(first.utf8.count))])
        if firstPush.count >= "s3cret-value".count && firstPush.count < "s3cret-value-and-more".count {
            #expect(!text(out).contains("and-more"), "\(text(out))")
            #expect(out == masker.mask(Data(line.utf8)))
        } else {
            #expect(out == masker.mask(Data(line.utf8)))
        }
    }

    @Test("a multi-line secret split at its line break gives the unstreamed output")
    func multiLineSplit() {
        let secret = "first-line-value\nsecond-line-value"
        let masker = SecretMasker(secrets: [secret])
        let out = streamed(masker, [Data("first-line-value".utf8), Data("\nsecond-line-value\n".utf8)])
        #expect(!text(out).contains("line-value"))
        #expect(out == masker.mask(Data((secret + "\n").utf8)))
    }
}

private extension Array {
    /// Consecutive pieces of `size` elements (the last may be shorter).
    func chunked(_ size: Int) -> [String] where Element == String {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)].joined() }
    }
}
