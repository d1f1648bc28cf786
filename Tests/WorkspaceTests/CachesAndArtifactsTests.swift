import Core
import Foundation
import Workspace
import Synchronization
import Testing
import TestSupport

private func write(_ url: URL, _ text: String) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
}

private func read(_ url: URL) -> String? {
    (try? Data(contentsOf: url)).map { String(decoding: $0, as: UTF8.self) }
}

/// The host directory mounted at `path`.
private func host(_ prepared: PreparedCaches, _ path: String) throws -> URL {
    URL(fileURLWithPath: try #require(prepared.mounts.first { $0.sandboxPath == path }).hostPath)
}

@Suite("RunCaches")
final class RunCachesTests {
    let directory: TemporaryDirectory
    let workspace: URL
    init() throws {
        directory = try TemporaryDirectory()
        workspace = directory.url("workspace")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
    }
    deinit { directory.remove() }

    @Test("the same repository and branch get the same directories back; another repository gets its own")
    func sameBranchSameDirectories() throws {
        let caches = RunCaches(root: directory.url("cache"), maxBytesPerRepo: 1 << 30)
        let first = try caches.prepare(repoID: 1, repoName: "app", branch: "main", defaultBranch: "main",
                                       paths: ["/home/ci/.npm"], workspace: workspace)
        try write(try host(first, "/home/ci/.npm").appendingPathComponent("marker"), "one")
        caches.release(first, repoID: 1)
        let second = try caches.prepare(repoID: 1, repoName: "app", branch: "main", defaultBranch: "main",
                                        paths: ["/home/ci/.npm"], workspace: workspace)
        #expect(read(try host(second, "/home/ci/.npm").appendingPathComponent("marker")) == "one")
        #expect(second.lines.contains { $0.contains("reusing the cache of main") })
        caches.release(second, repoID: 1)
        let other = try caches.prepare(repoID: 2, repoName: "other", branch: "main", defaultBranch: "main",
                                       paths: ["/home/ci/.npm"], workspace: workspace)
        #expect(read(try host(other, "/home/ci/.npm").appendingPathComponent("marker")) == nil)
        #expect(!(try host(other, "/home/ci/.npm").path.hasPrefix(caches.repoDirectory(1).path)))
        // Mount points are owned by the step user.
        var info = stat()
        #expect(stat(try host(other, "/home/ci/.npm").path, &info) == 0 && info.st_uid == 1000)
    }

    @Test("a new branch starts from a copy of the default branch's cache and cannot change it")
    func branchSeedsFromDefault() throws {
        let caches = RunCaches(root: directory.url("cache"), maxBytesPerRepo: 1 << 30)
        let main = try caches.prepare(repoID: 1, repoName: "app", branch: "main", defaultBranch: "main",
                                      paths: ["/home/ci/.stash"], workspace: workspace)
        let mainFile = try host(main, "/home/ci/.stash").appendingPathComponent("shared")
        try write(mainFile, "from main")
        caches.release(main, repoID: 1)
        let feature = try caches.prepare(repoID: 1, repoName: "app", branch: "feature/x", defaultBranch: "main",
                                         paths: ["/home/ci/.stash"], workspace: workspace)
        let featureFile = try host(feature, "/home/ci/.stash").appendingPathComponent("shared")
        #expect(read(featureFile) == "from main")
        // Writing in place (not replacing) must not reach main's copy: no hard links between them.
        let handle = try FileHandle(forWritingTo: featureFile)
        try handle.write(contentsOf: Data("POISON".utf8))
        try handle.close()
        #expect(read(mainFile) == "from main")
        #expect(feature.lines.contains { $0.contains("starting from a copy of main's") })
        #expect(caches.entries(repoID: 1).first { $0.branch == "feature/x" }?.seededFrom == "main")
    }

    @Test("mount points below /workspace are made as real directories; a symlink in the path is refused")
    func workspaceMountPoints() throws {
        let caches = RunCaches(root: directory.url("cache"), maxBytesPerRepo: 1 << 30)
        try FileManager.default.createSymbolicLink(atPath: workspace.appendingPathComponent("out").path, withDestinationPath: "/etc")
        let prepared = try caches.prepare(repoID: 1, repoName: "app", branch: "main", defaultBranch: "main",
                                          paths: ["/workspace/build/cache", "/workspace/out/x"], workspace: workspace)
        #expect(prepared.mounts.map(\.sandboxPath) == ["/workspace/build/cache"])
        var info = stat()
        #expect(lstat(workspace.appendingPathComponent("build/cache").path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR)
        #expect(prepared.lines.contains { $0.contains("/workspace/out/x not cached") && $0.contains("symlink") })
        #expect(!FileManager.default.fileExists(atPath: "/etc/x"))
    }

    @Test("runs of several new branches at once get one entry each")
    func concurrentNewBranches() throws {
        let caches = RunCaches(root: directory.url("cache"), maxBytesPerRepo: 1 << 30)
        let workspace = self.workspace
        let results = Mutex<[String: String]>([:])
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let prepared = try? caches.prepare(repoID: 1, repoName: "app", branch: "b\(i)", defaultBranch: "main",
                                               paths: ["/home/ci/.stash"], workspace: workspace)
            results.withLock { $0["b\(i)"] = prepared?.entry?.path ?? "none" }
        }
        let locations = results.withLock { $0 }
        #expect(Set(locations.values).count == 8 && !locations.values.contains("none"), "\(locations)")
        #expect(Set(caches.entries(repoID: 1).map(\.branch)) == Set((0..<8).map { "b\($0)" }))
    }

    @Test("over the cap, the least recently used entries go, the current one last; clear removes")
    func eviction() throws {
        let caches = RunCaches(root: directory.url("cache"), maxBytesPerRepo: 150_000)
        for branch in ["a", "b", "c"] {
            let prepared = try caches.prepare(repoID: 1, repoName: "app", branch: branch, defaultBranch: nil,
                                              paths: ["/home/ci/.stash"], workspace: workspace)
            try Data(repeating: 7, count: 60_000).write(to: try host(prepared, "/home/ci/.stash").appendingPathComponent("blob"))
            let lines = caches.release(prepared, repoID: 1)
            if branch == "c" { #expect(lines.contains { $0.contains("removed the cache of a") }, "\(lines)") }
        }
        #expect(Set(caches.entries(repoID: 1).map(\.branch)) == ["b", "c"])
        let (removed, busy) = caches.clear(repoID: 1, branch: "b")
        #expect(removed.map(\.branch) == ["b"] && busy.isEmpty)
        #expect(caches.entries(repoID: 1).map(\.branch) == ["c"])
        // An entry in use is never removed.
        let inUse = try caches.prepare(repoID: 1, repoName: "app", branch: "c", defaultBranch: nil, paths: ["/home/ci/.stash"], workspace: workspace)
        #expect(caches.clear(repoID: 1).busy.map(\.branch) == ["c"])
        caches.release(inUse, repoID: 1)
        #expect(caches.clear(repoID: nil).removed.map(\.branch) == ["c"])
        #expect(caches.entries().isEmpty)
    }
}

@Suite("ArtifactCollector")
struct ArtifactCollectorTests {
    @Test("globs and directories select files; symlinks are listed as skipped and never followed")
    func selection() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let workspace = directory.url("ws"), destination = directory.url("artifacts")
        try write(workspace.appendingPathComponent("dist/app.tar.gz"), "tarball")
        try write(workspace.appendingPathComponent("dist/sub/readme.txt"), "nested")
        try write(workspace.appendingPathComponent("logs/a.log"), "a")
        try write(workspace.appendingPathComponent("logs/deep/b.log"), "b")
        try write(workspace.appendingPathComponent("src/main.c"), "int main;")
        try write(directory.url("outside/secret"), "secret")
        try FileManager.default.createSymbolicLink(atPath: workspace.appendingPathComponent("dist/secret").path,
                                                   withDestinationPath: directory.url("outside/secret").path)
        try FileManager.default.createSymbolicLink(atPath: workspace.appendingPathComponent("dist/up").path, withDestinationPath: "../..")
        try FileManager.default.createSymbolicLink(atPath: workspace.appendingPathComponent("logs/link.log").path, withDestinationPath: "/etc/shadow")
        let outcome = ArtifactCollector.collect(patterns: ["dist", "logs/**/*.log"], workspace: workspace, destination: destination,
                                                maxBytes: 1 << 20)
        #expect(outcome.files.map(\.path) == ["dist/app.tar.gz", "dist/sub/readme.txt", "logs/a.log", "logs/deep/b.log"])
        #expect(outcome.files.first?.size == 7)
        #expect(read(destination.appendingPathComponent("dist/sub/readme.txt")) == "nested")
        #expect(!FileManager.default.fileExists(atPath: destination.appendingPathComponent("dist/secret").path))
        #expect(!FileManager.default.fileExists(atPath: destination.appendingPathComponent("logs/link.log").path))
        for skipped in ["dist/secret", "dist/up", "logs/link.log"] {
            #expect(outcome.lines.contains("artifacts: skipped \(skipped): a symlink (never followed)"), "\(outcome.lines)")
        }
        #expect(outcome.lines.last?.hasPrefix("artifacts: kept 4 files") == true)
    }

    @Test("files below a cached /workspace path are read from the cache's host directory")
    func cachedWorkspacePath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let workspace = directory.url("ws"), cache = directory.url("cache-d0")
        try write(workspace.appendingPathComponent("README"), "readme")
        try FileManager.default.createDirectory(at: workspace.appendingPathComponent("target"), withIntermediateDirectories: true)
        try write(cache.appendingPathComponent("release/app"), "binary")
        try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent("release/link").path, withDestinationPath: "/etc/passwd")
        let outcome = ArtifactCollector.collect(patterns: ["target/release/*", "README"], workspace: workspace, destination: directory.url("a"),
                                                maxBytes: 1 << 20, mounts: [RunMount(hostPath: cache.path, sandboxPath: "/workspace/target")])
        #expect(outcome.files.map(\.path) == ["README", "target/release/app"])
        #expect(read(directory.url("a/target/release/app")) == "binary")
        #expect(outcome.lines.contains("artifacts: skipped target/release/link: a symlink (never followed)"))
    }

    @Test("a symlinked directory on the way is not entered, even when the pattern names what lies behind it")
    func symlinkedDirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let workspace = directory.url("ws")
        try write(directory.url("host/etc/passwd"), "root:x:0:0")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: workspace.appendingPathComponent("up").path, withDestinationPath: directory.url("host").path)
        let outcome = ArtifactCollector.collect(patterns: ["up/etc/passwd", "**"], workspace: workspace, destination: directory.url("a"), maxBytes: 1 << 20)
        #expect(outcome.files.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory.url("a/up/etc/passwd").path))
    }

    @Test("the size cap stops the copy and says so; nothing matched says so")
    func capAndNothing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let workspace = directory.url("ws")
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        for name in ["a", "b", "c"] { try Data(repeating: 1, count: 400).write(to: workspace.appendingPathComponent(name)) }
        let capped = ArtifactCollector.collect(patterns: ["*"], workspace: workspace, destination: directory.url("a"), maxBytes: 1000)
        #expect(capped.files.map(\.path) == ["a", "b"])
        #expect(capped.lines.contains { $0.contains("skipped c") && $0.contains("artifacts_max") })
        let none = ArtifactCollector.collect(patterns: ["dist/*"], workspace: workspace, destination: directory.url("b"), maxBytes: 1000)
        #expect(none.files.isEmpty && none.lines == ["artifacts: nothing matched dist/*"])
    }
}
