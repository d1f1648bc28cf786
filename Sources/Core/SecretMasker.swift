import Foundation

/// Replaces secret values in output with `***`: each value verbatim, each line of a multi-line value,
/// and their base64 and base64url encodings (including the forms that appear when the value sits inside a
/// longer encoded string). Pure; `StreamingMasker` applies it to output that arrives in pieces.
package struct SecretMasker: Sendable {
    package static let replacement = Data("***".utf8)
    /// Patterns, longest first so a longer match wins over its own lines.
    package let patterns: [Data]
    private let patternBytes: [[UInt8]]

    package init(secrets: [String]) {
        var found = Set<Data>()
        for secret in secrets where secret.utf8.count >= 3 {
            var pieces = [secret]
            let lines = secret.split(whereSeparator: \.isNewline).map(String.init)
            if lines.count > 1 { pieces += lines.filter { $0.utf8.count >= 3 } }
            for piece in pieces {
                found.insert(Data(piece.utf8))
                for encoded in Self.base64Forms(of: Data(piece.utf8)) where encoded.count >= 4 {
                    found.insert(Data(encoded.utf8))
                }
            }
        }
        patterns = found.sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
        patternBytes = patterns.map { [UInt8]($0) }
    }

    package var isEmpty: Bool { patterns.isEmpty }
    package var longestPattern: Int { patterns.first?.count ?? 0 }

    /// The base64 (and base64url) text that any encoding containing `bytes` must contain, for each of the
    /// three alignments the value can have inside a longer input.
    static func base64Forms(of bytes: Data) -> [String] {
        var forms: [String] = []
        for offset in 0..<3 {
            let padded = Data(repeating: 0, count: offset) + bytes
            let encoded = padded.base64EncodedString()
            // Drop characters influenced by the padding bytes in front and by whatever follows the value.
            let leading = offset == 0 ? 0 : (offset * 8 + 5) / 6
            let total = (padded.count * 8) / 6
            guard total > leading else { continue }
            let start = encoded.index(encoded.startIndex, offsetBy: leading)
            let end = encoded.index(encoded.startIndex, offsetBy: total)
            let core = String(encoded[start..<end])
            forms.append(core)
            forms.append(core.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))
        }
        return forms
    }

    /// Masks every occurrence in `text`.
    package func mask(_ text: String) -> String {
        String(decoding: mask(Data(text.utf8)), as: UTF8.self)
    }

    /// Masks every occurrence in `data`.
    package func mask(_ data: Data) -> Data {
        mask([UInt8](data), decidedBefore: data.count).output
    }

    /// Masks `bytes` from the start up to position `limit`: at each position the longest pattern that
    /// starts there wins. Returns the masked output and how many input bytes it covers (a match that
    /// starts before `limit` may end after it). The caller must make sure every pattern starting before
    /// `limit` lies wholly inside `bytes`, or that `limit` is the end of the input.
    func mask(_ bytes: [UInt8], decidedBefore limit: Int) -> (output: Data, consumed: Int) {
        var output = Data(capacity: bytes.count)
        var i = 0
        outer: while i < limit {
            for pattern in patternBytes where pattern[0] == bytes[i] && i + pattern.count <= bytes.count {
                if bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                    output.append(Self.replacement)
                    i += pattern.count
                    continue outer
                }
            }
            output.append(bytes[i])
            i += 1
        }
        return (output, i)
    }

}

/// Applies a `SecretMasker` to a stream: holds back just enough raw bytes that a secret split across
/// writes, or a longer secret that begins like a shorter one, is still masked whole. One per stream.
package struct StreamingMasker: Sendable {
    private let masker: SecretMasker
    private var pending: [UInt8] = []

    package init(_ masker: SecretMasker) { self.masker = masker }

    /// Returns the bytes that are safe to emit now.
    package mutating func push(_ data: Data) -> Data {
        guard !masker.isEmpty else { return data }
        pending.append(contentsOf: data)
        // Every pattern that starts before `limit` fits inside `pending`, so the choice there is final.
        let limit = pending.count - (masker.longestPattern - 1)
        guard limit > 0 else { return Data() }
        let (output, consumed) = masker.mask(pending, decidedBefore: limit)
        pending.removeFirst(consumed)
        return output
    }

    /// The rest, at the end of the stream.
    package mutating func finish() -> Data {
        let (output, _) = masker.mask(pending, decidedBefore: pending.count)
        pending = []
        return output
    }
}
