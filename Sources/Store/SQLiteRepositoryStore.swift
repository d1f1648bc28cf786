import Core
import Foundation
import GRDB

/// `RepositoryStore` in the SQLite file: the `repos` table.
package final class SQLiteRepositoryStore: RepositoryStore, Sendable {
    private let database: SQLiteDatabase
    private var pool: DatabasePool { database.pool }

    init(_ database: SQLiteDatabase) { self.database = database }

    package func addRepo(name: String, path: String) throws -> Repo {
        try pool.write { db in
            if let existing = try Row.fetchOne(db, sql: "SELECT name FROM repos WHERE path = ?", arguments: [path]) {
                throw StoreError("\(path) is already registered as \"\(existing["name"] as String)\"")
            }
            if try Row.fetchOne(db, sql: "SELECT 1 FROM repos WHERE name = ?", arguments: [name]) != nil {
                throw StoreError("a repository named \"\(name)\" is already registered; choose another with --name")
            }
            let now = Date()
            try db.execute(sql: "INSERT INTO repos (name, path, created_at, hook_token) VALUES (?, ?, ?, ?)",
                           arguments: [name, path, now.timeIntervalSince1970, Self.makeToken()])
            return Repo(id: db.lastInsertedRowID, name: name, path: path, createdAt: now)
        }
    }

    /// The repository's own token for `POST /api/v1/hooks/post-receive` (a hook on another host); made on
    /// first use for repositories registered before tokens existed. Never part of `Repo` (the API lists repos).
    package func hookToken(repoID: Int64) throws -> String {
        try pool.write { db in
            if let token = try String.fetchOne(db, sql: "SELECT hook_token FROM repos WHERE id = ?", arguments: [repoID]) { return token }
            let token = Self.makeToken()
            try db.execute(sql: "UPDATE repos SET hook_token = ? WHERE id = ?", arguments: [token, repoID])
            return token
        }
    }

    /// The repository a hook token belongs to, if any.
    package func repo(hookToken token: String) throws -> Repo? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM repos WHERE hook_token = ?", arguments: [token]).map(Self.repo)
        }
    }

    /// 32 random bytes as hex.
    static func makeToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    package func repos() throws -> [Repo] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM repos ORDER BY name").map(Self.repo) }
    }

    package func repo(named name: String) throws -> Repo? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM repos WHERE name = ?", arguments: [name]).map(Self.repo) }
    }

    package func repo(path: String) throws -> Repo? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM repos WHERE path = ?", arguments: [path]).map(Self.repo) }
    }

    package func repo(id: Int64) throws -> Repo? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM repos WHERE id = ?", arguments: [id]).map(Self.repo) }
    }

    /// Unregisters a repository. Its runs stay in the store only as long as the repo row: they go with it.
    package func removeRepo(named name: String) throws {
        try pool.write { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "DELETE FROM repos WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { throw StoreError("no repository named \"\(name)\" is registered") }
        }
    }

    private static func repo(_ row: Row) -> Repo {
        Repo(id: row["id"], name: row["name"], path: row["path"], createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }
}
