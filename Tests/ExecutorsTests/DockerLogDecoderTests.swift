import Core
import Executors
import Foundation
import Testing

@Suite("DockerLogDecoder: multiplexed frames cut anywhere")
struct DockerLogDecoderTests {
    typealias Chunk = DockerLogDecoder.Chunk

    static func frame(_ stream: UInt8, _ payload: String) -> [UInt8] {
        frame(stream, Array(payload.utf8))
    }

    static func frame(_ stream: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        return [stream, 0, 0, 0, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + payload
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var feeds: [[UInt8]]
        var expected: [Chunk]
        var raw = false
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "one frame", feeds: [frame(1, "hello\n")], expected: [Chunk(.stdout, Data("hello\n".utf8))]),
        Case(name: "stdout then stderr in one chunk", feeds: [frame(1, "out\n") + frame(2, "err\n")],
             expected: [Chunk(.stdout, Data("out\n".utf8)), Chunk(.stderr, Data("err\n".utf8))]),
        Case(name: "same stream frames merge within a chunk", feeds: [frame(1, "a") + frame(1, "b") + frame(2, "c") + frame(1, "d")],
             expected: [Chunk(.stdout, Data("ab".utf8)), Chunk(.stderr, Data("c".utf8)), Chunk(.stdout, Data("d".utf8))]),
        Case(name: "header split after 3 bytes", feeds: [Array(frame(2, "xyz").prefix(3)), Array(frame(2, "xyz").dropFirst(3))],
             expected: [Chunk(.stderr, Data("xyz".utf8))]),
        Case(name: "payload split: bytes pass on before the frame is complete",
             feeds: [Array(frame(1, "abcdef").prefix(10)), Array(frame(1, "abcdef").dropFirst(10))],
             expected: [Chunk(.stdout, Data("ab".utf8)), Chunk(.stdout, Data("cdef".utf8))]),
        Case(name: "zero-length frames are skipped", feeds: [frame(1, "") + frame(2, "") + frame(1, "x")],
             expected: [Chunk(.stdout, Data("x".utf8))]),
        Case(name: "stdin (0) counts as stdout, systemerr (3) as stderr", feeds: [frame(0, "i") + frame(3, "engine broke")],
             expected: [Chunk(.stdout, Data("i".utf8)), Chunk(.stderr, Data("engine broke".utf8))]),
        Case(name: "non-UTF-8 payload is kept byte for byte", feeds: [frame(1, [0xff, 0xfe, 0x00, 0xc3])],
             expected: [Chunk(.stdout, Data([0xff, 0xfe, 0x00, 0xc3]))]),
        Case(name: "unknown stream id: the rest passes through raw as stdout",
             feeds: [frame(1, "ok") + [9, 0, 0, 0, 0, 0, 0, 1, 0x41], Array("more".utf8)],
             expected: [Chunk(.stdout, Data("ok".utf8) + Data([9, 0, 0, 0, 0, 0, 0, 1, 0x41])), Chunk(.stdout, Data("more".utf8))],
             raw: true),
        Case(name: "a TTY stream (no headers) passes through raw", feeds: [Array("plain text output\r\n".utf8)],
             expected: [Chunk(.stdout, Data("plain text output\r\n".utf8))], raw: true),
        Case(name: "empty feed", feeds: [[]], expected: []),
    ]

    @Test("table", arguments: cases)
    func table(_ testCase: Case) {
        var decoder = DockerLogDecoder()
        var output: [Chunk] = []
        for feed in testCase.feeds { output += decoder.feed(Data(feed)) }
        output += decoder.finish()
        #expect(output == testCase.expected)
        #expect(decoder.isRaw == testCase.raw)
    }

    @Test("an unfinished header at the end is passed through")
    func truncatedHeader() {
        var decoder = DockerLogDecoder()
        #expect(decoder.feed(Data(Self.frame(1, "a") + [1, 0, 0])) == [Chunk(.stdout, Data("a".utf8))])
        #expect(decoder.finish() == [Chunk(.stdout, Data([1, 0, 0]))])
    }

    @Test("every way of cutting a stream into two or three pieces gives the same output per stream")
    func everySplit() {
        let stream = Self.frame(1, "first line\n") + Self.frame(2, "") + Self.frame(2, "warning: \u{e9}\n")
            + Self.frame(1, [0x80, 0x81]) + Self.frame(1, "last\n")
        func decode(_ pieces: [ArraySlice<UInt8>]) -> (Data, Data) {
            var decoder = DockerLogDecoder()
            var out = Data(), err = Data()
            for chunk in pieces.flatMap({ decoder.feed(Data($0)) }) + decoder.finish() {
                if chunk.stream == .stdout { out += chunk.bytes } else { err += chunk.bytes }
            }
            return (out, err)
        }
        let expected = (Data("first line\n".utf8) + Data([0x80, 0x81]) + Data("last\n".utf8), Data("warning: \u{e9}\n".utf8))
        let bytes = stream[...]
        for i in 0...bytes.count {
            for j in i...bytes.count {
                let result = decode([bytes[..<i], bytes[i..<j], bytes[j...]])
                #expect(result == expected, "cut at \(i), \(j)")
                if result != expected { return }
            }
        }
    }
}
