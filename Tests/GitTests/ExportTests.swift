import Foundation
import Git
import Testing
import TestSupport

@Suite struct ExportTests {
    @Test func writesFilesWithModesAndNestedDirectories() throws {
        try withFixture { fixture, directory in
            try fixture.write("README.md", "# hi\n")
            try fixture.write("scripts/build.sh", "#!/bin/sh\necho build\n", executable: true)
            try fixture.write("src/a/b/c/deep.txt", "deep\n")
            try fixture.write("empty", "")
            let sha = try objectID(try fixture.commit("files"))
            let out = directory.url("export")

            let report = try Repository.open(at: fixture.clone).export(sha, to: out)
            #expect(report.files == 4)
            #expect(report.symlinks == 0)
            #expect(report.refused.isEmpty)
            #expect(report.unsafeSymlinks.isEmpty)
            #expect(fileKind(out.appendingPathComponent("README.md")) == .file(mode: 0o644))
            #expect(fileKind(out.appendingPathComponent("scripts/build.sh")) == .file(mode: 0o755))
            #expect(fileKind(out.appendingPathComponent("src/a/b/c")) == .directory(mode: 0o755))
            #expect(fileKind(out.appendingPathComponent("empty")) == .file(mode: 0o644))
            #expect(try contents(out.appendingPathComponent("src/a/b/c/deep.txt")) == "deep\n")
            #expect(try contents(out.appendingPathComponent("scripts/build.sh")) == "#!/bin/sh\necho build\n")
            #expect(try contents(out.appendingPathComponent("empty")) == "")
            #expect(fileKind(out.appendingPathComponent(".git")) == .missing)
        }
    }

    @Test func refusesANonEmptyDirectory() throws {
        try withFixture { fixture, directory in
            try fixture.write("a", "a\n")
            let sha = try objectID(try fixture.commit("files"))
            let out = directory.url("export")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: out.appendingPathComponent("already-here"))
            let error = try #require(throws: GitError.self) { try Repository.open(at: fixture.clone).export(sha, to: out) }
            #expect(error.function == "Repository.export")
            #expect(fileKind(out.appendingPathComponent("a")) == .missing)
        }
    }

    @Test func symlinksAreWrittenLiterallyAndEscapesReported() throws {
        try withFixture { fixture, directory in
            let outside = directory.url("outside")
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            try Data("secret\n".utf8).write(to: outside.appendingPathComponent("secret.txt"))

            try fixture.write("dir/file.txt", "inside\n")
            try fixture.symlink("inside-link", to: "dir/file.txt")
            try fixture.symlink("dir/up-but-inside", to: "../dir/file.txt")
            try fixture.symlink("passwd", to: "/etc/passwd")
            try fixture.symlink("climb", to: "../outside/secret.txt")
            try fixture.symlink("dir/climb-twice", to: "../../outside")
            try fixture.symlink("dir-link", to: "dir")
            // Each link looks harmless alone; together `chain` leaves the workspace: a/up is the root, then `..`.
            try fixture.symlink("a/up", to: "..")
            try fixture.symlink("chain", to: "a/up/../outside/secret.txt")
            try fixture.symlink("loop1", to: "loop2")
            try fixture.symlink("loop2", to: "loop1")
            let sha = try objectID(try fixture.commit("links"))
            let out = directory.url("export")

            let report = try Repository.open(at: fixture.clone).export(sha, to: out)
            #expect(report.files == 1)
            #expect(report.symlinks == 10)
            #expect(report.refused.isEmpty)
            #expect(Set(report.unsafeSymlinks) == ["passwd", "climb", "dir/climb-twice", "chain", "loop1", "loop2"])

            #expect(fileKind(out.appendingPathComponent("passwd")) == .symlink(target: "/etc/passwd"))
            #expect(fileKind(out.appendingPathComponent("climb")) == .symlink(target: "../outside/secret.txt"))
            #expect(fileKind(out.appendingPathComponent("inside-link")) == .symlink(target: "dir/file.txt"))
            #expect(fileKind(out.appendingPathComponent("dir-link")) == .symlink(target: "dir"))
            #expect(fileKind(out.appendingPathComponent("a/up")) == .symlink(target: ".."))
            #expect(try contents(out.appendingPathComponent("inside-link")) == "inside\n")
            // Nothing outside changed.
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path) == ["secret.txt"])
            #expect(try contents(outside.appendingPathComponent("secret.txt")) == "secret\n")
        }
    }

    @Test func aFileNamedLikeAnEarlierSymlinkIsNotWrittenThroughIt() throws {
        try withFixture { fixture, directory in
            let outside = directory.url("outside")
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            let victim = outside.appendingPathComponent("victim.txt")
            try Data("original\n".utf8).write(to: victim)

            let crafter = TreeCrafter(fixture: fixture)
            let tree = try crafter.tree([
                .init(mode: "120000", name: "evil", id: try crafter.blob(victim.path)),
                .init(mode: "100644", name: "evil", id: try crafter.blob("overwritten!\n")),
                .init(mode: "100644", name: "fine", id: try crafter.blob("fine\n")),
            ])
            let sha = try objectID(try crafter.commit(tree: tree))
            let out = directory.url("export")

            let report = try Repository.open(at: fixture.clone).export(sha, to: out)
            #expect(try contents(victim) == "original\n")
            #expect(fileKind(out.appendingPathComponent("evil")) == .symlink(target: victim.path))
            #expect(report.refused.map(\.path) == ["evil"])
            #expect(report.unsafeSymlinks == ["evil"])
            #expect(report.files == 1)
        }
    }

    @Test(arguments: [true, false])
    func aPathThroughASymlinkedDirectoryIsRefused(absoluteTarget: Bool) throws {
        try withFixture { fixture, directory in
            let outside = directory.url("x-outside")
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)

            // Git will not build this tree itself: `a` is both a symlink (to a directory outside the
            // workspace) and a directory holding `b`. A naive exporter would create `a` then write `a/b`
            // through the link.
            let crafter = TreeCrafter(fixture: fixture)
            let inner = try crafter.tree([
                .init(mode: "100644", name: "b", id: try crafter.blob("pwned\n")),
                .init(mode: "40000", name: "c", id: try crafter.tree([
                    .init(mode: "100755", name: "d", id: try crafter.blob("#!/bin/sh\n")),
                ])),
            ])
            let target = absoluteTarget ? outside.path : "../x-outside"
            let tree = try crafter.tree([
                .init(mode: "120000", name: "a", id: try crafter.blob(target)),
                .init(mode: "40000", name: "a", id: inner),
                .init(mode: "100644", name: "z", id: try crafter.blob("after\n")),
            ])
            let sha = try objectID(try crafter.commit(tree: tree))
            #expect(try fixture.runGit(["fsck", "--strict"]).status != 0, "git itself calls this tree broken")
            let out = directory.url("export")

            let report = try Repository.open(at: fixture.clone).export(sha, to: out)
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path).isEmpty)
            #expect(fileKind(outside.appendingPathComponent("b")) == .missing)
            #expect(fileKind(out.appendingPathComponent("a")) == .symlink(target: target))
            #expect(report.refused.map(\.path) == ["a"])
            #expect(report.refused.first?.reason.contains("symlink") == true)
            #expect(report.unsafeSymlinks == ["a"])
            #expect(try contents(out.appendingPathComponent("z")) == "after\n", "the export goes on after a refusal")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url.path).sorted()
                == ["bare.git", "clone", "export", "git-home", "x-outside"])
        }
    }

    @Test func aDirectoryNamedLikeAnEarlierFileIsRefused() throws {
        try withFixture { fixture, directory in
            let crafter = TreeCrafter(fixture: fixture)
            let tree = try crafter.tree([
                .init(mode: "100644", name: "a", id: try crafter.blob("file\n")),
                .init(mode: "40000", name: "a", id: try crafter.tree([
                    .init(mode: "100644", name: "b", id: try crafter.blob("b\n")),
                ])),
            ])
            let sha = try objectID(try crafter.commit(tree: tree))
            let out = directory.url("export")
            let report = try Repository.open(at: fixture.clone).export(sha, to: out)
            #expect(report.refused.map(\.path) == ["a"])
            #expect(try contents(out.appendingPathComponent("a")) == "file\n")
        }
    }

    @Test func traversalAndGitNamesAreRefused() throws {
        try withFixture { fixture, directory in
            let crafter = TreeCrafter(fixture: fixture)
            let payload = try crafter.tree([.init(mode: "100644", name: "escaped", id: try crafter.blob("pwned\n"))])
            let tree = try crafter.tree([
                .init(mode: "40000", name: "..", id: payload),
                .init(mode: "40000", name: ".", id: payload),
                .init(mode: "40000", name: ".git", id: try crafter.tree([
                    .init(mode: "100644", name: "config", id: try crafter.blob("[core]\n\tfsmonitor = touch /tmp/pwned\n")),
                ])),
                .init(mode: "40000", name: ".GIT", id: payload),
                .init(mode: "100644", name: "../../escaped-file", id: try crafter.blob("pwned\n")),
                .init(mode: "100644", name: "/tmp/absolute-escape", id: try crafter.blob("pwned\n")),
                .init(mode: "100644", name: "ok.txt", id: try crafter.blob("ok\n")),
            ])
            let sha = try objectID(try crafter.commit(tree: tree))
            let out = directory.url("work/export")

            let report = try Repository.open(at: fixture.clone).export(sha, to: out)
            #expect(Set(report.refused.map(\.path))
                == ["..", ".", ".git", ".GIT", "../../escaped-file", "/tmp/absolute-escape"])
            #expect(report.files == 1)
            #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == ["ok.txt"])
            #expect(fileKind(directory.url("work/escaped")) == .missing)
            #expect(fileKind(directory.url("escaped-file")) == .missing)
            #expect(fileKind(URL(fileURLWithPath: "/tmp/absolute-escape")) == .missing)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.url("work").path) == ["export"])
        }
    }

    @Test func submodulesBecomeEmptyDirectories() throws {
        try withFixture { fixture, directory in
            try fixture.write("main.c", "int main(void) { return 0; }\n")
            let other = try fixture.commit("first")
            try fixture.checked(["update-index", "--add", "--cacheinfo", "160000,\(other),vendor/lib"])
            try fixture.write(".gitmodules", "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n")
            try fixture.checked(["add", ".gitmodules"])
            try fixture.checked(["commit", "-q", "-m", "add submodule"])
            let sha = try objectID(try fixture.checked(["rev-parse", "HEAD"]))
            #expect(try fixture.checked(["ls-tree", "HEAD", "vendor/lib"]).hasPrefix("160000 commit \(other)"))
            let out = directory.url("export")

            let report = try Repository.open(at: fixture.clone).export(sha, to: out)
            #expect(report.submodules == ["vendor/lib"])
            #expect(report.files == 2)
            #expect(fileKind(out.appendingPathComponent("vendor/lib")) == .directory(mode: 0o755))
            #expect(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("vendor/lib").path).isEmpty)
        }
    }

    @Test func treesDeeperThanTheLimitAreRefusedNotCrashed() throws {
        try withFixture { fixture, directory in
            let crafter = TreeCrafter(fixture: fixture)
            var tree = try crafter.tree([.init(mode: "100644", name: "bottom", id: try crafter.blob("x\n"))])
            for _ in 0..<(Repository.exportMaxDepth + 5) {
                tree = try crafter.tree([.init(mode: "40000", name: "d", id: tree)])
            }
            let sha = try objectID(try crafter.commit(tree: tree))
            let report = try Repository.open(at: fixture.clone).export(sha, to: directory.url("export"))
            #expect(report.files == 0)
            #expect(report.refused.count == 1)
            #expect(report.refused.first?.path.split(separator: "/").count == Repository.exportMaxDepth + 1)
        }
    }

    @Test func exportsThousandsOfFiles() throws {
        try withFixture { fixture, directory in
            for dir in 0..<50 {
                for file in 0..<60 {
                    try fixture.write("d\(dir)/f\(file).txt", "\(dir)/\(file)\n", executable: file == 0)
                }
            }
            let sha = try objectID(try fixture.commit("many"))
            let out = directory.url("export")
            let clock = ContinuousClock()
            let start = clock.now
            let report = try Repository.open(at: fixture.clone).export(sha, to: out)
            let elapsed = clock.now - start
            #expect(report.files == 3000)
            #expect(elapsed < .seconds(60))  // a guard against a hang, not a speed target
            #expect(try contents(out.appendingPathComponent("d49/f59.txt")) == "49/59\n")
            #expect(fileKind(out.appendingPathComponent("d7/f0.txt")) == .file(mode: 0o755))
        }
    }

    @Test func removingTheTemporaryDirectoryDoesNotFollowExportedLinks() throws {
        let keep = try TemporaryDirectory(prefix: "pushbox-keep")
        defer { keep.remove() }
        try Data("keep\n".utf8).write(to: keep.url("precious.txt"))
        try withFixture { fixture, directory in
            try fixture.symlink("to-keep", to: keep.url.path)
            let sha = try objectID(try fixture.commit("link"))
            let report = try Repository.open(at: fixture.clone).export(sha, to: directory.url("export"))
            #expect(report.unsafeSymlinks == ["to-keep"])
        }
        #expect(try contents(keep.url("precious.txt")) == "keep\n")
    }
}
