import Core
import Foundation
import Store

/// A fresh directory holding `pushbox.sqlite`, removed when the body returns.
struct StoreFixture {
    let directory: URL
    var path: String { directory.appendingPathComponent("pushbox.sqlite").path }

    @discardableResult
    static func with<T>(_ body: (RunStore, StoreFixture) throws -> T) throws -> T {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        return try body(try RunStore(path: fixture.path), fixture)
    }

    @discardableResult
    static func withAsync<T>(_ body: (RunStore, StoreFixture) async throws -> T) async throws -> T {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        return try await body(try RunStore(path: fixture.path), fixture)
    }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-storetests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

func sha(_ n: Int) -> String {
    let hex = String(n, radix: 16)
    return String(repeating: "0", count: 40 - hex.count - 1) + "a" + hex
}

func update(_ ref: String, _ n: Int, old: String = RefUpdate.zeroSHA) -> RefUpdate {
    RefUpdate(oldSHA: old, newSHA: sha(n), ref: ref)
}

/// A push to refs/heads/main.
func update(_ n: Int, old: String = RefUpdate.zeroSHA) -> RefUpdate {
    update("refs/heads/main", n, old: old)
}

/// A date whose `timeIntervalSince1970` round-trips exactly through a SQLite REAL.
func date(_ offset: Double) -> Date {
    Date(timeIntervalSince1970: 1_700_000_000 + offset)
}
