import Core
import Foundation
import Synchronization

/// One cache entry on disk: the cached directories of one repository and branch.
package struct CacheEntry: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case repoID = "repo_id", repoName = "repo", branch, directories, createdAt = "created_at", lastUsedAt = "last_used_at"
        case sizeBytes = "size_bytes", seededFrom = "seeded_from"
    }

    package var repoID: Int64
    package var repoName: String
    package var branch: String
    /// Container path (`/home/ci/.npm`) → directory name inside the entry (`d0`).
    package var directories: [String: String]
    package var createdAt: Date
    package var lastUsedAt: Date
    /// Measured when the last run using it ended.
    package var sizeBytes: Int64
    /// The branch whose cache this one started as a copy of, if any.
    package var seededFrom: String?
    /// The entry's directory (not stored: left out of `CodingKeys`, set by whoever read the file).
    package var location: URL = URL(fileURLWithPath: "/")

    package init(repoID: Int64, repoName: String, branch: String, location: URL, now: Date = Date()) {
        self.repoID = repoID
        self.repoName = repoName
        self.branch = branch
        self.directories = [:]
        self.createdAt = now
        self.lastUsedAt = now
        self.sizeBytes = 0
        self.location = location
    }
}

/// The caches of a run, ready to mount, and what happened, for the run's checkout log.
package struct PreparedCaches: Sendable {
    package var mounts: [RunMount]
    package var lines: [String]
    /// The entry in use (released when the run ends); nil when nothing is cached.
    package var entry: URL?
}

/// Per-repository caches under `$PUSHBOX_HOME/cache/` (`.pushbox.yml` `cache:`).
///
/// Layout: `cache/repo-<repo id>/b<n>/` per branch, holding `cache.json` (a `CacheEntry`) and one
/// directory per cached container path, owned by the step user (uid 1000) and bind-mounted read-write
/// into the run's container: restoring costs a mount, not a copy. Rules:
/// - a run only ever sees its own repository's entries (the directory is keyed by repository id);
/// - the default branch (the bare repository's HEAD) reads and writes its own entry;
/// - another branch uses its own entry; when it has none yet, that entry starts as a copy of the default
///   branch's (`cp -a --reflink=auto`), so the branch reuses main's cache without being able to change it;
/// - after a run, entries of the repository beyond `maxBytesPerRepo` are removed, least recently used
///   first, never one a running run uses.
/// Runs of one repository and branch never overlap (the scheduler's rule), so an entry has one user at a
/// time; `claims` keeps eviction and `clear` away from entries in use.
package final class RunCaches: Sendable {
    package let root: URL
    package let maxBytesPerRepo: Int64
    /// Entry directory → how many runs (or seed copies) use it now. Its lock also guards choosing and
    /// creating entries, eviction and clearing.
    private let claims = Mutex<[String: Int]>([:])

    package init(root: URL, maxBytesPerRepo: Int64) {
        self.root = root
        self.maxBytesPerRepo = maxBytesPerRepo
    }

    static let entryFile = "cache.json"
    static let stepUser: uid_t = 1000

    package func repoDirectory(_ repoID: Int64) -> URL { root.appendingPathComponent("repo-\(repoID)") }

    /// Every entry of a repository (or of all), newest use first.
    package func entries(repoID: Int64? = nil) -> [CacheEntry] {
        let fm = FileManager.default
        let repos = repoID.map { [repoDirectory($0)] }
            ?? ((try? fm.contentsOfDirectory(atPath: root.path)) ?? []).filter { $0.hasPrefix("repo-") }.map { root.appendingPathComponent($0) }
        var found: [CacheEntry] = []
        for repo in repos {
            for name in (try? fm.contentsOfDirectory(atPath: repo.path)) ?? [] where name.hasPrefix("b") {
                let location = repo.appendingPathComponent(name)
                guard let data = fm.contents(atPath: location.appendingPathComponent(Self.entryFile).path),
                      var entry = try? Self.decoder.decode(CacheEntry.self, from: data) else { continue }
                entry.location = location
                found.append(entry)
            }
        }
        return found.sorted { $0.lastUsedAt > $1.lastUsedAt }
    }

    /// The mounts for a run's `paths` (absolute container paths), creating or seeding its entry.
    /// `workspace` is the run's host checkout: the parents of `/workspace/…` mount points are made there.
    /// Choosing, creating and claiming an entry happen under one lock, so two runs of a new repository's
    /// branches never share an entry; the default branch's entry is claimed while it is copied.
    package func prepare(repoID: Int64, repoName: String, branch: String, defaultBranch: String?, paths: [String],
                         workspace: URL) throws -> PreparedCaches {
        guard !paths.isEmpty else { return PreparedCaches(mounts: [], lines: [], entry: nil) }
        let started = ContinuousClock.now
        var lines: [String] = []
        // Under the lock: find or create this branch's entry and claim it; claim main's for the copy.
        let (found, isNew, seedSource): (CacheEntry, Bool, CacheEntry?) = try claims.withLock { claims in
            let existing = entries(repoID: repoID)
            if let own = existing.first(where: { $0.branch == branch }) {
                claims[own.location.path, default: 0] += 1
                return (own, false, nil)
            }
            let entry = CacheEntry(repoID: repoID, repoName: repoName, branch: branch, location: try newEntryLocation(repoID))
            try write(entry)
            claims[entry.location.path, default: 0] += 1
            guard let defaultBranch, defaultBranch != branch, let main = existing.first(where: { $0.branch == defaultBranch }) else {
                return (entry, true, nil)
            }
            claims[main.location.path, default: 0] += 1
            return (entry, true, main)
        }
        var entry = found
        if !isNew {
            lines.append("cache: reusing the cache of \(branch) (\(Units.formatBytes(entry.sizeBytes)), last used \(Timestamps.string(entry.lastUsedAt)))")
        }
        if let main = seedSource {
            defer { unclaim(main.location) }
            do {
                for (path, name) in main.directories.sorted(by: { $0.key < $1.key }) where paths.contains(path) {
                    try copyTree(main.location.appendingPathComponent(name), to: entry.location.appendingPathComponent(name))
                    entry.directories[path] = name
                }
            } catch {
                unclaim(entry.location)
                remove(entry.location)
                throw error
            }
            entry.seededFrom = main.branch
            lines.append("cache: \(branch) has no cache yet; starting from a copy of \(main.branch)'s (its own stays unchanged)")
        } else if isNew {
            lines.append("cache: \(branch) has no cache yet; starting empty")
        }
        do {
            var mounts: [RunMount] = []
            for path in paths {
                let name = entry.directories[path] ?? nextDirectoryName(entry)
                entry.directories[path] = name
                let directory = entry.location.appendingPathComponent(name)
                if !FileManager.default.fileExists(atPath: directory.path) { try makeOwnedDirectory(directory) }
                if path.hasPrefix("/workspace/") {
                    let relative = String(path.dropFirst("/workspace/".count))
                    if let problem = try prepareWorkspaceMountPoint(workspace, relative: relative) {
                        lines.append("cache: \(path) not cached: \(problem)")
                        continue
                    }
                }
                mounts.append(RunMount(hostPath: directory.path, sandboxPath: path))
            }
            entry.lastUsedAt = Date()
            try write(entry)
            lines.append("cache: \(mounts.map(\.sandboxPath).joined(separator: ", ")) mounted in \(Units.format(ContinuousClock.now - started))")
            return PreparedCaches(mounts: mounts, lines: lines, entry: entry.location)
        } catch {
            unclaim(entry.location)
            throw error
        }
    }

    /// After the run: records the entry's size and use, then keeps the repository under its size cap.
    /// Returns lines for the log (evictions).
    @discardableResult
    package func release(_ prepared: PreparedCaches, repoID: Int64) -> [String] {
        guard let location = prepared.entry else { return [] }
        if var entry = entries(repoID: repoID).first(where: { $0.location.path == location.path }) {
            entry.sizeBytes = Self.diskUsage(location)
            entry.lastUsedAt = Date()
            try? write(entry)
        }
        unclaim(location)
        return evict(repoID: repoID, keeping: location)
    }

    /// Removes the least recently used entries of a repository until it fits `maxBytesPerRepo`. The entry
    /// just used goes last, and only when it alone is over the cap; entries in use stay.
    package func evict(repoID: Int64, keeping current: URL? = nil) -> [String] {
        let doomed: [CacheEntry] = claims.withLock { claims in
            var all = entries(repoID: repoID)
            var total = all.reduce(Int64(0)) { $0 + $1.sizeBytes }
            all.sort { a, b in
                // Oldest first; the current entry after every other.
                if (a.location.path == current?.path) != (b.location.path == current?.path) { return b.location.path == current?.path }
                return a.lastUsedAt < b.lastUsedAt
            }
            var chosen: [CacheEntry] = []
            for entry in all where total > maxBytesPerRepo && claims[entry.location.path, default: 0] == 0 {
                detach(entry.location)
                chosen.append(entry)
                total -= entry.sizeBytes
            }
            return chosen
        }
        return doomed.map { entry in
            "cache: removed the cache of \(entry.branch) (\(Units.formatBytes(entry.sizeBytes)), last used \(Timestamps.string(entry.lastUsedAt))): the caches of \(entry.repoName) exceeded cache_max \(Units.formatBytes(maxBytesPerRepo))"
        }
    }

    /// Deletes entries (of one repository, optionally one branch; or all). Entries in use are skipped and
    /// returned in `busy`.
    package func clear(repoID: Int64?, branch: String? = nil) -> (removed: [CacheEntry], busy: [CacheEntry]) {
        claims.withLock { claims in
            var removed: [CacheEntry] = [], busy: [CacheEntry] = []
            for entry in entries(repoID: repoID) where branch == nil || entry.branch == branch {
                if claims[entry.location.path, default: 0] > 0 {
                    busy.append(entry)
                } else {
                    detach(entry.location)
                    removed.append(entry)
                }
            }
            return (removed, busy)
        }
    }

    // MARK: - Helpers

    private func unclaim(_ location: URL) {
        claims.withLock { claims in
            let left = claims[location.path, default: 1] - 1
            claims[location.path] = left > 0 ? left : nil
        }
    }

    private func remove(_ location: URL) {
        claims.withLock { _ in detach(location) }
    }

    /// Renames an entry out of the way (never taken for a cache again), then deletes it. Call under the lock.
    private func detach(_ location: URL) {
        let doomed = location.deletingLastPathComponent().appendingPathComponent(".removing-\(location.lastPathComponent)-\(UInt32.random(in: 0...UInt32.max))")
        if (try? FileManager.default.moveItem(at: location, to: doomed)) != nil {
            try? FileManager.default.removeItem(at: doomed)
        }
    }

    /// A new `b<n>` directory of the repository, created here (mkdir fails when it exists). Call under the lock.
    private func newEntryLocation(_ repoID: Int64) throws -> URL {
        let repo = repoDirectory(repoID)
        try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
        var n = 0
        while true {
            let location = repo.appendingPathComponent("b\(n)")
            if mkdir(location.path, 0o755) == 0 {
                _ = chown(location.path, Self.stepUser, Self.stepUser)
                return location
            }
            guard errno == EEXIST, n < 100_000 else {
                throw FileError("cannot create \(location.path): \(String(cString: strerror(errno)))")
            }
            n += 1
        }
    }

    private func nextDirectoryName(_ entry: CacheEntry) -> String {
        let used = Set(entry.directories.values)
        var k = 0
        while used.contains("d\(k)") { k += 1 }
        return "d\(k)"
    }

    private func write(_ entry: CacheEntry) throws {
        let file = entry.location.appendingPathComponent(Self.entryFile)
        try Self.encoder.encode(entry).write(to: file, options: .atomic)
    }

    private func makeOwnedDirectory(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        _ = chown(url.path, Self.stepUser, Self.stepUser)
    }

    /// Makes the parents of `workspace/relative` as real directories of the step user, refusing any that
    /// is a symlink or a file (a pushed tree decides what is there). Nil when the mount point is ready.
    private func prepareWorkspaceMountPoint(_ workspace: URL, relative: String) throws -> String? {
        var current = workspace.path
        let parts = relative.split(separator: "/")
        for (index, part) in parts.enumerated() {
            current += "/" + part
            var info = stat()
            if lstat(current, &info) == 0 {
                if (info.st_mode & S_IFMT) == S_IFLNK { return "\(relative) has a symlink in its path (\(parts[...index].joined(separator: "/")))" }
                if (info.st_mode & S_IFMT) != S_IFDIR { return "\(parts[...index].joined(separator: "/")) is a file in the checkout" }
            } else {
                guard mkdir(current, 0o755) == 0 else { return "cannot create \(current): \(String(cString: strerror(errno)))" }
                _ = lchown(current, Self.stepUser, Self.stepUser)
            }
        }
        return nil
    }

    /// `cp -a --reflink=auto`: a copy-on-write clone where the file system has them, else a plain copy;
    /// symlinks are copied as links, never followed.
    private func copyTree(_ source: URL, to destination: URL) throws {
        guard FileManager.default.fileExists(atPath: source.path) else { return }
        let cp = Process()
        cp.executableURL = URL(fileURLWithPath: "/bin/cp")
        cp.arguments = ["-a", "--reflink=auto", "--no-target-directory", source.path, destination.path]
        cp.standardInput = FileHandle.nullDevice
        cp.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        cp.standardError = errors
        try cp.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        cp.waitUntilExit()
        guard cp.terminationStatus == 0 else {
            try? FileManager.default.removeItem(at: destination)
            throw FileError("cannot copy the cache \(source.path): \(String(decoding: message, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// The sizes of the regular files below `url` added up (symlinks not followed).
    package static func diskUsage(_ url: URL) -> Int64 {
        var total: Int64 = 0
        guard let walker = FileManager.default.enumerator(atPath: url.path) else { return 0 }
        while let relative = walker.nextObject() as? String {
            var info = stat()
            if lstat(url.path + "/" + relative, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { total += Int64(info.st_size) }
        }
        return total
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = Timestamps.encoding
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = Timestamps.decoding
        return decoder
    }()
}
