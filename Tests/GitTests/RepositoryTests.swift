import Foundation
import Git
import Testing
import TestSupport

@Suite struct RepositoryTests {
    @Test func libgit2VersionIsTheOneWeBuiltAgainst() {
        #expect(Repository.libgit2Version == "1.5.1")
    }

    @Test func openingAMissingPathNamesTheFailingFunction() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = try #require(throws: GitError.self) {
            _ = try Repository.open(at: directory.url("does-not-exist"))
        }
        #expect(error.function == "git_repository_open")
        #expect(error.code < 0)
        #expect(error.isNotFound)
        #expect(!error.message.isEmpty)
        #expect(String(describing: error).contains("git_repository_open"))
        #expect(String(describing: error).contains(error.message))
    }

    /// The daemon runs as root (for the container engine) and the repositories usually belong to the git
    /// user: pushbox turns libgit2's owner check off (it only opens repositories an administrator registered).
    @Test("a repository owned by another user opens (needs root: tests run as root, like CI)")
    func aRepositoryOfAnotherUserOpens() throws {
        try withFixture { fixture, _ in
            try fixture.write("a.txt", "a\n")
            let head = try fixture.commit("a")
            try fixture.push()
            let chown = try Process.run(URL(fileURLWithPath: "/bin/chown"), arguments: ["-R", "nobody", fixture.bare.path])
            chown.waitUntilExit()
            #expect(chown.terminationStatus == 0)
            let repository = try Repository.open(at: fixture.bare)
            #expect(try repository.resolve("main").hex == head)
        }
    }

    @Test func initBareMakesABareRepositoryGitAgrees() throws {
        try withFixture { fixture, directory in
            let url = directory.url("made/by/libgit2.git")
            let repository = try Repository.initBare(at: url)
            #expect(repository.isBare)
            #expect(repository.path.standardizedFileURL.path == url.standardizedFileURL.path)
            #expect(try fixture.checked(["rev-parse", "--is-bare-repository"], in: url) == "true")
            // Reopening finds the same repository.
            #expect(try Repository.open(at: url).isBare)
        }
    }

    @Test func opensAWorkingCloneToo() throws {
        try withFixture { fixture, _ in
            try fixture.write("a.txt", "a\n")
            let sha = try fixture.commit("first")
            let repository = try Repository.open(at: fixture.clone)
            #expect(!repository.isBare)
            #expect(repository.path.lastPathComponent == ".git")
            #expect(try repository.resolve("HEAD").hex == sha)
        }
    }

    @Test func resolvesBranchesShasTagsAndExpressions() throws {
        try withFixture { fixture, _ in
            try fixture.write("a.txt", "one\n")
            let first = try fixture.commit("first")
            try fixture.write("a.txt", "two\n")
            let second = try fixture.commit("second")
            try fixture.checked(["branch", "feature/x", first])
            try fixture.checked(["tag", "-a", "v1", "-m", "annotated", first])
            try fixture.checked(["tag", "light", second])
            #expect(try fixture.push().status == 0)
            #expect(try fixture.push("refs/heads/feature/x").status == 0)
            #expect(try fixture.push("--tags").status == 0)

            let bare = try fixture.openBare()
            #expect(try bare.resolve("main").hex == second)
            #expect(try bare.resolve("refs/heads/main").hex == second)
            #expect(try bare.resolve("feature/x").hex == first)
            #expect(try bare.resolve(first).hex == first)
            #expect(try bare.resolve(String(first.prefix(10))).hex == first)
            #expect(try bare.resolve("main~1").hex == first)
            #expect(try bare.resolve("HEAD~1").hex == first)
            #expect(try bare.resolve("v1").hex == first, "annotated tags peel to their commit")
            #expect(try bare.resolve("refs/tags/v1").hex == first)
            #expect(try bare.resolve("light").hex == second)

            let missing = try #require(throws: GitError.self) { try bare.resolve("no-such-branch") }
            #expect(missing.function == "git_revparse_single")
            #expect(missing.isNotFound)
            // A tree cannot be peeled to a commit.
            let tree = try fixture.checked(["rev-parse", "HEAD^{tree}"])
            let notCommit = try #require(throws: GitError.self) { try bare.resolve(tree) }
            #expect(notCommit.function == "git_object_peel")
        }
    }

    @Test func commitInfoMatchesWhatGitWrote() throws {
        try withFixture { fixture, _ in
            let before = Date().addingTimeInterval(-5)
            let root = try fixture.commit("Root commit")
            try fixture.write("x", "x\n")
            let child = try fixture.commit("Subject line\n\nBody line one.\nBody line two.")
            let repository = try Repository.open(at: fixture.clone)

            let info = try repository.commit(try objectID(child))
            #expect(info.id.hex == child)
            #expect(info.subject == "Subject line")
            #expect(info.message.hasPrefix("Subject line\n\nBody line one.\nBody line two."))
            #expect(info.authorName == GitFixture.authorName)
            #expect(info.authorEmail == GitFixture.authorEmail)
            #expect(info.committerName == GitFixture.authorName)
            #expect(info.parents.map(\.hex) == [root])
            #expect(info.tree.hex == (try fixture.checked(["rev-parse", "HEAD^{tree}"])))
            #expect(info.time >= before.addingTimeInterval(-1) && info.time <= Date().addingTimeInterval(1))

            #expect(try repository.commit(try objectID(root)).parents.isEmpty)
            let absent = try #require(throws: GitError.self) {
                try repository.commit(try objectID(String(repeating: "1", count: 40)))
            }
            #expect(absent.function == "git_commit_lookup")
            #expect(absent.isNotFound)
        }
    }

    @Test func readFileReturnsContentNilOrThrows() throws {
        try withFixture { fixture, _ in
            try fixture.write(".pushbox.yml", "steps:\n  - {name: build, run: make}\n")
            try fixture.write("dir/nested.txt", "nested\n")
            try fixture.write("run.sh", "#!/bin/sh\n", executable: true)
            try fixture.write("big.bin", data: Data(repeating: 0xAB, count: 10_000))
            try fixture.write("binary.bin", data: Data([0, 1, 2, 255, 254, 0, 10]))
            try fixture.symlink("link", to: "dir/nested.txt")
            let sha = try objectID(try fixture.commit("files"))
            let repository = try Repository.open(at: fixture.clone)

            #expect(try repository.readFile(".pushbox.yml", at: sha) == Data("steps:\n  - {name: build, run: make}\n".utf8))
            #expect(try repository.readFile("dir/nested.txt", at: sha) == Data("nested\n".utf8))
            #expect(try repository.readFile("run.sh", at: sha) == Data("#!/bin/sh\n".utf8))
            #expect(try repository.readFile("binary.bin", at: sha) == Data([0, 1, 2, 255, 254, 0, 10]))
            #expect(try repository.readFile("big.bin", at: sha, maxBytes: 10_000)?.count == 10_000)

            #expect(try repository.readFile("absent.yml", at: sha) == nil)
            #expect(try repository.readFile("no/such/dir.txt", at: sha) == nil)
            #expect(try repository.readFile("dir/absent", at: sha) == nil)

            let tooBig = try #require(throws: GitError.self) { try repository.readFile("big.bin", at: sha, maxBytes: 9_999) }
            #expect(tooBig.function == "Repository.readFile")
            #expect(tooBig.message.contains("10000 bytes"))
            let directory = try #require(throws: GitError.self) { try repository.readFile("dir", at: sha) }
            #expect(directory.message.contains("directory"))
            let link = try #require(throws: GitError.self) { try repository.readFile("link", at: sha) }
            #expect(link.message.contains("symlink"))
        }
    }

    @Test func fileNamesListsTheTopLevelOnly() throws {
        try withFixture { fixture, _ in
            try fixture.write("Package.swift", "// swift-tools-version: 6.0\n")
            try fixture.write("Sources/App/main.swift", "print(1)\n")
            try fixture.write("Makefile", "all:\n")
            try fixture.symlink("README", to: "Makefile")
            let sha = try objectID(try fixture.commit("files"))
            let names = try #require(try Repository.open(at: fixture.clone).fileNames(at: sha))
            #expect(names == ["Makefile", "Package.swift", "README", "Sources"])
        }
    }

    @Test func referencesArePeeledSortedAndFiltered() throws {
        try withFixture { fixture, _ in
            try fixture.write("a", "1\n")
            let first = try fixture.commit("first")
            try fixture.write("a", "2\n")
            let second = try fixture.commit("second")
            try fixture.checked(["branch", "feature/deep/x", first])
            try fixture.checked(["tag", "-a", "v1", "-m", "annotated", first])
            try fixture.checked(["tag", "light", second])
            try fixture.checked(["tag", "tree-tag", "HEAD^{tree}"])
            #expect(try fixture.push().status == 0)
            #expect(try fixture.push("refs/heads/feature/deep/x").status == 0)
            #expect(try fixture.push("--tags").status == 0)
            try fixture.checked(["symbolic-ref", "refs/heads/alias", "refs/heads/main"], in: fixture.bare)
            try fixture.checked(["pack-refs", "--all"], in: fixture.bare)
            try fixture.checked(["update-ref", "refs/heads/loose", second], in: fixture.bare)

            let bare = try fixture.openBare()
            let heads = try bare.references()
            #expect(heads.map(\.name) == ["refs/heads/feature/deep/x", "refs/heads/loose", "refs/heads/main"])
            #expect(heads.map(\.target.hex) == [first, second, second])

            let annotatedTagObject = try fixture.checked(["rev-parse", "refs/tags/v1"])
            #expect(annotatedTagObject != first)
            let tags = try bare.references(prefix: "refs/tags/")
            #expect(tags.map(\.name) == ["refs/tags/light", "refs/tags/v1"])
            #expect(tags.map(\.target.hex) == [second, first])

            let all = try bare.references(prefix: "refs/")
            #expect(all.count == 5)
            #expect(try bare.references(prefix: "refs/notes/").isEmpty)
        }
    }

    @Test func notesAreWrittenOverwrittenAndVisibleToGitLog() throws {
        try withFixture { fixture, _ in
            let first = try fixture.commit("first")
            let second = try fixture.commit("second")
            #expect(try fixture.push().status == 0)
            let bare = try fixture.openBare()
            let firstID = try objectID(first)
            let author = Signature(name: "Pushbox", email: "pushbox@localhost")

            #expect(try bare.note(on: firstID) == nil, "no notes ref yet")
            try bare.writeNote("pushbox: running", on: firstID, author: author)
            #expect(try bare.note(on: firstID) == "pushbox: running\n")
            #expect(try bare.note(on: try objectID(second)) == nil, "the other commit has no note")

            try bare.writeNote("pushbox: passed\nrun: 1 http://127.0.0.1:7070/runs/1\n", on: firstID, author: author)
            #expect(try bare.note(on: firstID) == "pushbox: passed\nrun: 1 http://127.0.0.1:7070/runs/1\n")
            #expect(try bare.note(on: firstID, notesRef: "refs/notes/commits") == nil)

            let log = try fixture.checked(["log", "--notes=pushbox", "--format=%H%n%N", "-1", first], in: fixture.bare)
            #expect(log == "\(first)\npushbox: passed\nrun: 1 http://127.0.0.1:7070/runs/1\n")
            // Two note commits: the first write and the overwrite, both signed by `author`.
            let notesLog = try fixture.checked(["log", "--format=%an <%ae>", "refs/notes/pushbox"], in: fixture.bare)
            #expect(notesLog == "Pushbox <pushbox@localhost>\nPushbox <pushbox@localhost>")
        }
    }

    @Test func concurrentNoteWritersAllLand() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fixture = try GitFixture.make(in: directory)
        var shas: [String] = []
        for index in 0..<12 {
            shas.append(try fixture.commit("commit \(index)"))
        }
        #expect(try fixture.push().status == 0)
        let bare = fixture.bare
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sha in shas {
                group.addTask {
                    let repository = try Repository.open(at: bare)
                    try repository.writeNote("pushbox: passed \(sha)", on: try objectID(sha),
                                             author: Signature(name: "Pushbox", email: "pushbox@localhost"))
                }
            }
            try await group.waitForAll()
        }
        let repository = try Repository.open(at: bare)
        for sha in shas {
            #expect(try repository.note(on: try objectID(sha)) == "pushbox: passed \(sha)\n")
        }
    }

    @Test func diffIsTheUnifiedPatchGitShows() throws {
        try withFixture { fixture, _ in
            try fixture.write("a.txt", "hello\n")
            let first = try fixture.commit("first")
            try fixture.write("a.txt", "hello\nworld\n")
            try fixture.write("b.txt", "new file\n")
            let second = try fixture.commit("second")
            let repository = try Repository.open(at: fixture.clone)
            let firstID = try objectID(first), secondID = try objectID(second)

            let root = try repository.diff(from: nil, to: firstID, maxBytes: 1 << 20)
            #expect(root.contains("diff --git a/a.txt b/a.txt\nnew file mode 100644\n"))
            #expect(root.contains("+++ b/a.txt\n@@ -0,0 +1 @@\n+hello\n"))

            let own = try repository.diff(from: nil, to: secondID, maxBytes: 1 << 20)
            let between = try repository.diff(from: firstID, to: secondID, maxBytes: 1 << 20)
            #expect(own == between)
            #expect(between.contains(" hello\n+world\n"))
            #expect(between.contains("+++ b/b.txt\n@@ -0,0 +1 @@\n+new file\n"))
            let cli = try fixture.checked(["-c", "core.abbrev=7", "diff", first, second]) + "\n"
            #expect(between == cli)

            let truncated = try repository.diff(from: firstID, to: secondID, maxBytes: 60)
            #expect(truncated.hasSuffix("[diff truncated: more than 60 bytes]\n"))
            let kept = truncated.replacingOccurrences(of: "[diff truncated: more than 60 bytes]\n", with: "")
            #expect(kept.utf8.count <= 60)
            #expect(between.hasPrefix(kept))
        }
    }

    @Test func setReferenceRefusesToMoveWithoutForce() throws {
        try withFixture { fixture, _ in
            let first = try objectID(try fixture.commit("first"))
            let second = try objectID(try fixture.commit("second"))
            #expect(try fixture.push().status == 0)
            let bare = try fixture.openBare()
            try bare.setReference("refs/heads/autofix/main/\(first.sha8)", to: first, force: false, logMessage: "autofix")
            #expect(try bare.resolve("autofix/main/\(first.sha8)") == first)

            let conflict = try #require(throws: GitError.self) {
                try bare.setReference("refs/heads/autofix/main/\(first.sha8)", to: second, force: false, logMessage: "again")
            }
            #expect(conflict.function == "git_reference_create")
            #expect(conflict.isConflict)
            #expect(try bare.resolve("autofix/main/\(first.sha8)") == first)

            try bare.setReference("refs/heads/autofix/main/\(first.sha8)", to: second, force: true, logMessage: "forced")
            #expect(try bare.resolve("autofix/main/\(first.sha8)") == second)

            let invalid = try #require(throws: GitError.self) {
                try bare.setReference("refs/heads/bad..name", to: first, force: true, logMessage: "x")
            }
            #expect(invalid.function == "git_reference_create")
        }
    }

    @Test func separateRepositoriesWorkInParallelTasks() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let fixture = try GitFixture.make(in: directory)
        try fixture.write("a", "a\n")
        let sha = try fixture.commit("first")
        #expect(try fixture.push().status == 0)
        let bare = fixture.bare
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    // One repository per task, as Repository's documentation asks.
                    let repository = try Repository.open(at: bare)
                    return try repository.resolve("main").hex
                }
            }
            var all: [String] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results == Array(repeating: sha, count: 8))
    }
}
