import Foundation

/// What a one-shot (serial transport) guest runs for one step, and how it gets there: a small cpio archive
/// prepended to the image's initrd, which the guest init copies to `/run/pushbox/` (pure).
///
/// The archive holds `/pushbox/job.sh` (the environment and the step's command), `/pushbox/nonce` (which
/// makes the sentinels of this boot unique) and `/pushbox/user`. The kernel unpacks concatenated
/// archives in order, the same way early microcode is prepended to an initrd.
package enum GuestJob {
    /// `/bin/sh` script run in the guest from `/workspace`: the environment, then the command.
    package static func script(command: String, environment: [String: String]) -> String {
        var lines = ["# Written by pushbox for one step; run by /bin/sh in the guest."]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) where isVariableName(key) {
            lines.append("export \(key)=\(shellQuote(value))")
        }
        lines.append(command)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The archive the guest init reads (newc cpio, padded to 512 bytes so the base initrd that follows
    /// starts on a boundary the kernel's unpacker skips to).
    package static func initrdPrefix(script: String, nonce: String, user: String) -> Data {
        CPIOArchive.newc([
            .directory("pushbox"),
            .file("pushbox/job.sh", Data(script.utf8), mode: 0o755),
            .file("pushbox/nonce", Data((nonce + "\n").utf8)),
            .file("pushbox/user", Data((user + "\n").utf8)),
        ], padTo: 512)
    }

    /// `START`: printed right before the job runs. `EXIT`: followed by the exit code and `@@`.
    package static func startSentinel(nonce: String) -> String { "@@PUSHBOX-START \(nonce)@@" }
    package static func exitSentinelPrefix(nonce: String) -> String { "@@PUSHBOX-EXIT \(nonce) " }
    /// Printed by the init when the guest cannot reach the job (no root disk, no workspace).
    package static let failedSentinel = "@@PUSHBOX-FAILED@@"
    /// Printed by the init booted with `pushbox.probe=1` (the KVM probe), before it loads anything.
    package static let probeSentinel = "@@PUSHBOX-PROBE-OK@@"

    /// A fresh nonce: 16 hex digits.
    package static func makeNonce() -> String {
        let value = UInt64.random(in: 0...UInt64.max)
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// POSIX shell single quoting: `it's` → `'it'\''s'`.
    package static func shellQuote(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func isVariableName(_ key: String) -> Bool {
        guard let first = key.utf8.first, first == UInt8(ascii: "_") || isASCIILetter(first) else { return false }
        return key.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isASCIILetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}

/// The "new ASCII" cpio format (`070701`) the Linux initramfs unpacker reads (pure).
package enum CPIOArchive {
    package struct Entry: Sendable, Equatable {
        package var path: String
        package var mode: UInt32
        package var contents: Data

        package static func directory(_ path: String, mode: UInt32 = 0o755) -> Entry {
            Entry(path: path, mode: 0o040000 | mode, contents: Data())
        }

        package static func file(_ path: String, _ contents: Data, mode: UInt32 = 0o644) -> Entry {
            Entry(path: path, mode: 0o100000 | mode, contents: contents)
        }
    }

    /// Entries owned by root, mtime 0, then the `TRAILER!!!` entry; zero-padded to a multiple of `padTo`.
    package static func newc(_ entries: [Entry], padTo: Int = 4) -> Data {
        var out = Data()
        func header(ino: Int, mode: UInt32, nlink: Int, size: Int, nameSize: Int) {
            let fields: [UInt32] = [UInt32(ino), mode, 0, 0, UInt32(nlink), 0, UInt32(size), 0, 0, 0, 0, UInt32(nameSize), 0]
            out.append(contentsOf: Array("070701".utf8))
            for field in fields {
                let hex = String(field, radix: 16, uppercase: true)
                out.append(contentsOf: Array((String(repeating: "0", count: 8 - hex.count) + hex).utf8))
            }
        }
        func pad(_ alignment: Int) {
            while out.count % alignment != 0 { out.append(0) }
        }
        func append(ino: Int, mode: UInt32, nlink: Int, name: String, contents: Data) {
            let nameBytes = Array(name.utf8) + [0]
            header(ino: ino, mode: mode, nlink: nlink, size: contents.count, nameSize: nameBytes.count)
            out.append(contentsOf: nameBytes)
            pad(4)
            out.append(contents)
            pad(4)
        }
        for (index, entry) in entries.enumerated() {
            let isDirectory = entry.mode & 0o170000 == 0o040000
            append(ino: index + 1, mode: entry.mode, nlink: isDirectory ? 2 : 1, name: entry.path, contents: entry.contents)
        }
        append(ino: 0, mode: 0, nlink: 1, name: "TRAILER!!!", contents: Data())
        pad(max(4, padTo))
        return out
    }
}
