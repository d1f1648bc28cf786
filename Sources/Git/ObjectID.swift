import CLibGit2

/// The SHA-1 name of a git object, as 40 lowercase hex digits.
package struct ObjectID: Hashable, Sendable, CustomStringConvertible, Codable {
    /// 40 lowercase hex digits.
    package let hex: String

    /// Accepts exactly 40 hex digits (either case); stores them lowercased.
    package init?(hex: String) {
        let utf8 = hex.utf8
        guard utf8.count == 40, utf8.allSatisfy(ObjectID.isHexDigit) else { return nil }
        self.hex = hex.lowercased()
    }

    /// The all-zero id git uses for "no object" (for example the old value of a newly created ref in a hook).
    package static let zero = ObjectID(validatedHex: String(repeating: "0", count: 40))

    package var isZero: Bool { self == .zero }

    /// The first 7 hex digits, as `git log --oneline` shows them.
    package var short: String { String(hex.prefix(7)) }

    /// The first 8 hex digits, as used in autofix branch names (`autofix/<branch>/<sha8>`).
    package var sha8: String { String(hex.prefix(8)) }

    package var description: String { hex }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = ObjectID(hex: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not 40 hex digits: \(text)")
        }
        self = id
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    private init(validatedHex: String) {
        self.hex = validatedHex
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) || (byte >= 0x41 && byte <= 0x46)
    }
}

extension ObjectID {
    private static let digits = Array("0123456789abcdef".utf8)

    /// The id of a libgit2 `git_oid`.
    init(_ oid: git_oid) {
        var oid = oid
        let text = withUnsafeBytes(of: &oid.id) { raw in
            String(unsafeUninitializedCapacity: raw.count * 2) { buffer in
                for (index, byte) in raw.enumerated() {
                    buffer[2 * index] = ObjectID.digits[Int(byte >> 4)]
                    buffer[2 * index + 1] = ObjectID.digits[Int(byte & 0x0f)]
                }
                return raw.count * 2
            }
        }
        self.init(validatedHex: text)
    }

    init(_ oid: UnsafePointer<git_oid>) {
        self.init(oid.pointee)
    }

    /// The libgit2 form of this id.
    var oid: git_oid {
        var oid = git_oid()
        let hexBytes = Array(hex.utf8)
        withUnsafeMutableBytes(of: &oid.id) { raw in
            for index in 0..<raw.count {
                raw[index] = ObjectID.nibble(hexBytes[2 * index]) << 4 | ObjectID.nibble(hexBytes[2 * index + 1])
            }
        }
        return oid
    }

    private static func nibble(_ byte: UInt8) -> UInt8 {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        // `hex` was validated and lowercased by init?(hex:) or produced from a git_oid, so no other byte can occur.
        default: preconditionFailure("ObjectID.hex holds a non-hex byte \(byte)")
        }
    }
}
