import Foundation

/// Replaces secret values in output with `***`: each value verbatim, each line of a multi-line value,
/// their base64 and base64url encodings (including the forms that appear when the value sits inside a
/// longer encoded string) and their percent-encoding (a value put into a URL). Each form is also found when
/// a line break (one `\n`, `\r` or `\r\n` per gap) was put between its characters (`fold`, `base64` wrapping at 76 columns, a job printing
/// it in pieces): the line breaks inside a match are kept after the `***`, so line numbers stay. Pure;
/// `StreamingMasker` applies it to output that arrives in pieces.
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
                for encoded in Self.percentForms(of: piece) where encoded != piece {
                    found.insert(Data(encoded.utf8))
                }
            }
        }
        patterns = found.sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
        patternBytes = patterns.map { [UInt8]($0) }
    }

    package var isEmpty: Bool { patterns.isEmpty }
    package var longestPattern: Int { patterns.first?.count ?? 0 }
    /// The most input bytes one match can cover: each pattern byte may be followed by a `\r\n`.
    package var longestMatch: Int { longestPattern * 3 }

    /// The value percent-encoded as URL components carry it: RFC 3986's unreserved characters kept, and
    /// the form with `+` for spaces (HTML forms, query strings).
    static func percentForms(of value: String) -> [String] {
        let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        guard let strict = value.addingPercentEncoding(withAllowedCharacters: unreserved) else { return [] }
        return [strict, strict.replacingOccurrences(of: "%20", with: "+")]
    }

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
            for pattern in patternBytes where pattern[0] == bytes[i] {
                if let end = Self.match(pattern, in: bytes, at: i) {
                    output.append(Self.replacement)
                    // Keep the line structure: the line breaks the match spanned follow the mask.
                    for byte in bytes[i..<end] where byte == 0x0A { output.append(0x0A) }
                    i = end
                    continue outer
                }
            }
            output.append(bytes[i])
            i += 1
        }
        return (output, i)
    }

    /// Where a match of `pattern` starting at `start` ends (exclusive), allowing one line break (`\n`, `\r`
    /// or `\r\n`) between two pattern bytes; nil when there is none. One per gap keeps a match within
    /// `longestMatch` bytes, which the streaming masker's holdback relies on.
    private static func match(_ pattern: [UInt8], in bytes: [UInt8], at start: Int) -> Int? {
        var j = start, k = 0
        while k < pattern.count {
            guard j < bytes.count else { return nil }
            if bytes[j] == pattern[k] {
                j += 1
                k += 1
                continue
            }
            guard k > 0 else { return nil }
            if bytes[j] == 0x0D, j + 1 < bytes.count, bytes[j + 1] == 0x0A {
                j += 2
            } else if bytes[j] == 0x0A || bytes[j] == 0x0D {
                j += 1
            } else {
                return nil
            }
            guard j < bytes.count, bytes[j] == pattern[k] else { return nil }
        }
        return j
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
        let limit = pending.count - (masker.longestMatch - 1)
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
