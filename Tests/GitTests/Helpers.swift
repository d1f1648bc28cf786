#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Git
import TestSupport

/// Runs `body` with a fresh fixture (bare repo + clone) in a temporary directory that is removed afterwards.
func withFixture<T>(_ body: (GitFixture, TemporaryDirectory) throws -> T) throws -> T {
    let directory = try TemporaryDirectory(prefix: "pushbox-gittests")
    defer { directory.remove() }
    return try body(try GitFixture.make(in: directory), directory)
}

func objectID(_ hex: String) throws -> ObjectID {
    guard let id = ObjectID(hex: hex) else { throw TestFailure("not an object id: \(hex)") }
    return id
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// File facts read with lstat, so symlinks are never followed.
enum FileKind: Equatable {
    case file(mode: Int)
    case directory(mode: Int)
    case symlink(target: String)
    case missing
}

func fileKind(_ url: URL) -> FileKind {
    var status = stat()
    guard lstat(url.path, &status) == 0 else { return .missing }
    let mode = Int(status.st_mode & 0o7777)
    switch status.st_mode & S_IFMT {
    case S_IFREG: return .file(mode: mode)
    case S_IFDIR: return .directory(mode: mode)
    case S_IFLNK:
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: url.path)) ?? "?"
        return .symlink(target: target)
    default: return .missing
    }
}

func contents(_ url: URL) throws -> String {
    String(decoding: try Data(contentsOf: url), as: UTF8.self)
}

/// Builds trees byte by byte with `git hash-object --literally`, which (unlike `git mktree` and the index)
/// accepts any entry name, duplicates and any order: the trees a hostile push could carry.
struct TreeCrafter {
    let fixture: GitFixture

    struct Entry {
        var mode: String
        var nameBytes: [UInt8]
        var id: String

        init(mode: String, name: String, id: String) {
            self.init(mode: mode, nameBytes: Array(name.utf8), id: id)
        }

        init(mode: String, nameBytes: [UInt8], id: String) {
            self.mode = mode
            self.nameBytes = nameBytes
            self.id = id
        }
    }

    func blob(_ text: String) throws -> String {
        try fixture.checked(["hash-object", "-w", "--stdin"], input: Data(text.utf8))
    }

    func tree(_ entries: [Entry]) throws -> String {
        var data = Data()
        for entry in entries {
            data.append(contentsOf: Array("\(entry.mode) ".utf8) + entry.nameBytes + [0])
            data.append(contentsOf: try Self.rawBytes(entry.id))
        }
        return try fixture.checked(["hash-object", "-t", "tree", "-w", "--literally", "--stdin"], input: data)
    }

    func commit(tree: String, message: String = "crafted") throws -> String {
        try fixture.checked(["commit-tree", tree, "-m", message])
    }

    static func rawBytes(_ hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count == 40 else { throw TestFailure("bad sha \(hex)") }
        return try stride(from: 0, to: 40, by: 2).map { index in
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
                throw TestFailure("bad sha \(hex)")
            }
            return byte
        }
    }
}
