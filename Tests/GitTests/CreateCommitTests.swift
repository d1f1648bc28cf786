import Foundation
import Git
import Testing
import TestSupport

@Suite struct CreateCommitTests {
    let author = Signature(name: "Pushbox Autofix", email: "autofix@pushbox.invalid",
                           date: Date(timeIntervalSince1970: 1_700_000_000), timeZone: TimeZone(secondsFromGMT: 3600)!)
    let committer = Signature(name: "Pushbox", email: "pushbox@localhost")

    @Test func commitsAnEditedWorkspaceOnTopOfTheParent() throws {
        try withFixture { fixture, directory in
            try fixture.write("a.txt", "old\n")
            try fixture.write("b.txt", "to be deleted\n")
            try fixture.write("keep/k.txt", "keep\n")
            let parent = try objectID(try fixture.commit("broken"))
            #expect(try fixture.push().status == 0)
            let bare = try fixture.openBare()

            let work = directory.url("work")
            _ = try bare.export(parent, to: work)
            let manager = FileManager.default
            try Data("fixed\n".utf8).write(to: work.appendingPathComponent("a.txt"))
            try manager.removeItem(at: work.appendingPathComponent("b.txt"))
            try manager.createDirectory(at: work.appendingPathComponent("bin"), withIntermediateDirectories: true)
            try Data("#!/bin/sh\nexit 0\n".utf8).write(to: work.appendingPathComponent("bin/run.sh"))
            try manager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: work.appendingPathComponent("bin/run.sh").path)
            try manager.createSymbolicLink(atPath: work.appendingPathComponent("latest").path, withDestinationPath: "a.txt")
            try manager.createSymbolicLink(atPath: work.appendingPathComponent("abs").path, withDestinationPath: "/etc/passwd")
            try manager.createDirectory(at: work.appendingPathComponent("empty/also-empty"), withIntermediateDirectories: true)
            try manager.createDirectory(at: work.appendingPathComponent(".git/hooks"), withIntermediateDirectories: true)
            try Data("junk".utf8).write(to: work.appendingPathComponent(".git/HEAD"))
            try manager.createDirectory(at: work.appendingPathComponent("nested/.git"), withIntermediateDirectories: true)
            try Data("x\n".utf8).write(to: work.appendingPathComponent("nested/file"))
            #expect(mkfifo(work.appendingPathComponent("fifo").path, 0o644) == 0)

            let message = "Fix a.txt\n\nPushbox-Run: 7\nPushbox-Fixes: \(parent.hex)"
            let fixed = try bare.createCommit(parent: parent, treeFrom: work, message: message,
                                              author: author, committer: committer)
            #expect(fixed != parent)
            #expect(try bare.references().map(\.name) == ["refs/heads/main"], "createCommit moves no reference")

            let branch = "refs/heads/autofix/main/\(parent.sha8)"
            try bare.setReference(branch, to: fixed, force: false, logMessage: "pushbox autofix")
            let git = { (args: [String]) in try fixture.checked(args, in: fixture.bare) }
            #expect(try git(["log", "--format=%H %P", "-1", branch]) == "\(fixed.hex) \(parent.hex)")
            #expect(try git(["log", "--format=%an <%ae>|%cn <%ce>|%at %ai", "-1", branch])
                == "Pushbox Autofix <autofix@pushbox.invalid>|Pushbox <pushbox@localhost>|1700000000 2023-11-14 23:13:20 +0100")
            #expect(try git(["log", "--format=%B", "-1", branch]) == message + "\n")
            #expect(try git(["show", "\(branch):a.txt"]) == "fixed")
            #expect(try git(["show", "\(branch):keep/k.txt"]) == "keep")
            #expect(try git(["show", "\(branch):nested/file"]) == "x")
            let listing = try git(["ls-tree", "-r", "--format=%(objectmode) %(path)", branch])
            #expect(listing.split(separator: "\n") == [
                "100644 a.txt", "120000 abs", "100755 bin/run.sh", "100644 keep/k.txt", "120000 latest", "100644 nested/file",
            ])
            #expect(try git(["cat-file", "-p", "\(branch):latest"]) == "a.txt")
            #expect(try git(["cat-file", "-p", "\(branch):abs"]) == "/etc/passwd")
            #expect(try fixture.runGit(["fsck", "--strict"], in: fixture.bare).status == 0)
            #expect(try bare.commit(fixed).parents == [parent])
        }
    }

    @Test func anUnchangedExportRoundTripsToTheSameTreeIncludingSubmodules() throws {
        try withFixture { fixture, directory in
            try fixture.write("src/main.c", "int main(void) { return 0; }\n")
            try fixture.write("run.sh", "#!/bin/sh\n", executable: true)
            try fixture.symlink("link", to: "src/main.c")
            let first = try fixture.commit("first")
            try fixture.checked(["update-index", "--add", "--cacheinfo", "160000,\(first),vendor/lib"])
            try fixture.checked(["commit", "-q", "-m", "submodule"])
            let parent = try objectID(try fixture.checked(["rev-parse", "HEAD"]))
            let repository = try Repository.open(at: fixture.clone)

            let work = directory.url("work")
            let report = try repository.export(parent, to: work)
            #expect(report.submodules == ["vendor/lib"])
            let same = try repository.createCommit(parent: parent, treeFrom: work, message: "no change",
                                                   author: author, committer: committer)
            #expect(try repository.commit(same).tree == repository.commit(parent).tree)
            #expect(try fixture.checked(["ls-tree", same.hex, "vendor/lib"]).hasPrefix("160000 commit \(first)"))
        }
    }

    @Test func bigFilesAreStreamedAndStoredByteForByte() throws {
        try withFixture { fixture, directory in
            let parent = try objectID(try fixture.commit("first"))
            let work = directory.url("work")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            var big = Data(count: 9 << 20)
            big.withUnsafeMutableBytes { raw in
                for index in raw.indices { raw[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 12) }
            }
            try big.write(to: work.appendingPathComponent("big.bin"))
            try Data("small\r\n".utf8).write(to: work.appendingPathComponent("crlf.txt"))
            let repository = try Repository.open(at: fixture.clone)
            let commit = try repository.createCommit(parent: parent, treeFrom: work, message: "big",
                                                     author: author, committer: committer)
            let expected = try fixture.checked(["hash-object", work.appendingPathComponent("big.bin").path])
            #expect(try fixture.checked(["rev-parse", "\(commit.hex):big.bin"]) == expected)
            #expect(try fixture.checked(["cat-file", "-s", "\(commit.hex):big.bin"]) == "\(9 << 20)")
            #expect(try repository.readFile("crlf.txt", at: commit) == Data("small\r\n".utf8))
        }
    }

    @Test func namesThatAreNotUTF8SurviveExportAndCommit() throws {
        try withFixture { fixture, directory in
            let crafter = TreeCrafter(fixture: fixture)
            let latin1 = [UInt8]("caf".utf8) + [0xE9] + Array(".txt".utf8)
            let tree = try crafter.tree([
                .init(mode: "100644", nameBytes: latin1, id: try crafter.blob("latin-1 name\n")),
                .init(mode: "40000", nameBytes: [0xFF, 0xFE], id: try crafter.tree([
                    .init(mode: "100755", name: "x", id: try crafter.blob("x\n")),
                ])),
            ])
            let parent = try objectID(try crafter.commit(tree: tree))
            let repository = try Repository.open(at: fixture.clone)
            let work = directory.url("work")
            let report = try repository.export(parent, to: work)
            #expect(report.files == 2)
            #expect(report.refused.isEmpty)
            let again = try repository.createCommit(parent: parent, treeFrom: work, message: "same",
                                                    author: author, committer: committer)
            #expect(try repository.commit(again).tree.hex == tree)
        }
    }

    @Test func directoriesNestedTooDeeplyAreRefused() throws {
        try withFixture { fixture, directory in
            let parent = try objectID(try fixture.commit("first"))
            let work = directory.url("work")
            let deep = (0...Repository.exportMaxDepth).reduce(work) { url, _ in url.appendingPathComponent("d") }
            try FileManager.default.createDirectory(at: deep, withIntermediateDirectories: true)
            try Data("bottom\n".utf8).write(to: deep.appendingPathComponent("f"))
            let error = try #require(throws: GitError.self) {
                try Repository.open(at: fixture.clone).createCommit(parent: parent, treeFrom: work, message: "deep",
                                                                    author: author, committer: committer)
            }
            #expect(error.function == "Repository.createCommit")
            #expect(error.message.contains("deeper than"))
        }
    }

    @Test func anEmptyDirectoryMakesACommitWithTheEmptyTree() throws {
        try withFixture { fixture, directory in
            try fixture.write("a", "a\n")
            let parent = try objectID(try fixture.commit("first"))
            let work = directory.url("empty-work")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let repository = try Repository.open(at: fixture.clone)
            let commit = try repository.createCommit(parent: parent, treeFrom: work, message: "delete all",
                                                     author: author, committer: committer)
            #expect(try repository.commit(commit).tree.hex == "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
        }
    }

    @Test func failuresNameTheFunction() throws {
        try withFixture { fixture, directory in
            let parent = try objectID(try fixture.commit("first"))
            let repository = try Repository.open(at: fixture.clone)
            let missingDirectory = try #require(throws: GitError.self) {
                try repository.createCommit(parent: parent, treeFrom: directory.url("nope"), message: "m",
                                            author: author, committer: committer)
            }
            #expect(missingDirectory.function == "open")
            #expect(missingDirectory.code == ENOENT)
            let missingParent = try #require(throws: GitError.self) {
                try repository.createCommit(parent: .zero, treeFrom: directory.url, message: "m",
                                            author: author, committer: committer)
            }
            #expect(missingParent.function == "git_commit_lookup")
        }
    }
}
