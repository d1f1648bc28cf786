import Foundation

/// Replaces secret values in output with `***`: each value verbatim, each line of a multi-line value,
/// and their base64 and base64url encodings (including the forms that appear when the value sits inside a
/// longer encoded string). Pure; `StreamingMasker` applies it to output that arrives in pieces.
package struct SecretMasker: Sendable {
    package static let replacement = Data("***".utf8)
    /// Patterns, longest first so a longer match wins over its own lines.
    package let patterns: [Data]

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

    /// Masks every occurrence in `data`.
    package func mask(_ data: Data) -> Data {
        guard !patterns.isEmpty, !data.isEmpty else { return data }
        let bytes = [UInt8](data)
        var output = Data(capacity: bytes.count)
        var i = 0
        let patternBytes = patterns.map { [UInt8]($0) }
        outer: while i < bytes.count {
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
        return output
    }
}

/// Applies a `SecretMasker` to a stream: holds back just enough trailing bytes that a secret split across
/// two writes is still caught. Not thread-safe; one per stream.
package struct StreamingMasker: Sendable {
    private let masker: SecretMasker
    private var pending = Data()

    package init(_ masker: SecretMasker) { self.masker = masker }

    /// Returns the bytes that are safe to emit now.
    package mutating func push(_ data: Data) -> Data {
        guard !masker.isEmpty else { return data }
        pending.append(data)
        let masked = masker.mask(pending)
        let keep = max(0, masker.longestPattern - 1)
        // Emit up to the last newline, or all but `keep` bytes, whichever emits more while keeping a tail
        // that could still start a secret.
        guard masked.count > keep else {
            pending = masked
            return Data()
        }
        let emitCount = masked.count - keep
        let emitted = masked.prefix(emitCount)
        pending = Data(masked.suffix(from: masked.startIndex + emitCount))
        return Data(emitted)
    }

    /// The rest, at the end of the stream.
    package mutating func finish() -> Data {
        let rest = masker.mask(pending)
        pending = Data()
        return rest
    }
}
