import Core
import Foundation

/// Decodes the Docker Engine's multiplexed output stream (exec start, attach, logs without a TTY), fed in
/// chunks cut anywhere. Each frame is an 8-byte header `[stream, 0, 0, 0, length as UInt32 big-endian]`
/// followed by `length` bytes of output; stream 1 is stdout, 2 stderr (0 stdin and 3 the engine's own
/// error stream are mapped to stdout and stderr). Payload bytes are passed on as they arrive, before the
/// frame is complete, and are never reinterpreted (not necessarily UTF-8).
///
/// A header that cannot be one (non-zero padding, unknown stream) means the stream is not multiplexed
/// (a TTY, or garbage): from there on everything is passed through as stdout, so nothing is lost and
/// nothing traps. `isRaw` tells that it happened.
package struct DockerLogDecoder: Sendable {
    package struct Chunk: Sendable, Equatable {
        package var stream: LogStream
        package var bytes: Data
        package init(_ stream: LogStream, _ bytes: Data) {
            self.stream = stream
            self.bytes = bytes
        }
    }

    private var header: [UInt8] = []
    private var stream: LogStream = .stdout
    private var remaining = 0
    package private(set) var isRaw = false

    package init() {}

    /// The output contained in `data`, consecutive pieces of the same stream merged.
    package mutating func feed(_ data: Data) -> [Chunk] {
        var output: [Chunk] = []
        var index = data.startIndex
        while index < data.endIndex {
            if isRaw {
                append(.stdout, data[index...], to: &output)
                return output
            }
            if remaining > 0 {
                let end = data.index(index, offsetBy: min(remaining, data.endIndex - index))
                append(stream, data[index..<end], to: &output)
                remaining -= end - index
                index = end
                continue
            }
            header.append(data[index])
            index += 1
            guard header.count == 8 else { continue }
            guard let decoded = Self.stream(header[0]), header[1] == 0, header[2] == 0, header[3] == 0 else {
                isRaw = true
                append(.stdout, Data(header), to: &output)
                header = []
                continue
            }
            stream = decoded
            remaining = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
            header = []
        }
        return output
    }

    /// Call at the end of the stream: bytes of an unfinished header are passed through as stdout.
    /// (A frame cut short by the end has already passed on what arrived.)
    package mutating func finish() -> [Chunk] {
        defer { header = [] }
        return header.isEmpty ? [] : [Chunk(.stdout, Data(header))]
    }

    private static func stream(_ byte: UInt8) -> LogStream? {
        switch byte {
        case 0, 1: .stdout
        case 2, 3: .stderr
        default: nil
        }
    }

    private func append(_ stream: LogStream, _ bytes: Data, to output: inout [Chunk]) {
        guard !bytes.isEmpty else { return }
        if let last = output.last, last.stream == stream {
            output[output.count - 1].bytes.append(bytes)
        } else {
            output.append(Chunk(stream, Data(bytes)))
        }
    }
}
