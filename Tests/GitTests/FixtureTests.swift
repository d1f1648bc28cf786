import Foundation
import Git
import Testing
import TestSupport

@Suite struct FixtureTests {
    @Test func temporaryDirectoryExistsUntilRemoved() throws {
        let directory = try TemporaryDirectory(prefix: "pushbox-fixture")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: directory.url.path, isDirectory: &isDirectory))
        #expect(isDirectory.boolValue)
        #expect(directory.url.lastPathComponent.hasPrefix("pushbox-fixture."))
        let other = try TemporaryDirectory(prefix: "pushbox-fixture")
        defer { other.remove() }
        #expect(other.url != directory.url)
        try Data("x".utf8).write(to: directory.url("file"))
        directory.remove()
        #expect(!FileManager.default.fileExists(atPath: directory.url.path))
    }

    @Test func gitRunsHermeticallyWithTheFixedIdentity() throws {
        try withFixture { fixture, directory in
            #expect(try fixture.checked(["config", "user.name"]) == GitFixture.authorName)
            #expect(try fixture.checked(["config", "init.defaultBranch"]) == "main")
            #expect(try fixture.checked(["rev-parse", "--is-bare-repository"], in: fixture.bare) == "true")
            let origin = try fixture.checked(["config", "remote.origin.url"])
            #expect(origin == fixture.bare.path)
            #expect(fixture.environment["HOME"] == directory.url("git-home").path)
            #expect(fixture.environment["GIT_CONFIG_NOSYSTEM"] == "1")
            #expect(fixture.environment["GIT_DIR"] == nil)
            let failed = try fixture.runGit(["rev-parse", "no-such-revision"])
            #expect(failed.status != 0)
            #expect(failed.output.contains("no-such-revision"), "runGit captures stderr")
            let error = try #require(throws: GitFixtureError.self) { try fixture.checked(["rev-parse", "nope"]) }
            #expect(error.status != 0)
        }
    }

    @Test func pushRunsTheBareRepositoryHooksAndShowsTheirOutput() throws {
        try withFixture { fixture, _ in
            try fixture.installHook("post-receive", script: """
                #!/bin/sh
                while read old new ref; do echo "pushbox: saw $ref $new" >&2; done
                """)
            try fixture.write("a.txt", "a\n")
            try fixture.write("tool", "#!/bin/sh\n", executable: true)
            try fixture.symlink("link", to: "a.txt")
            let sha = try fixture.commit("first")
            let pushed = try fixture.push()
            #expect(pushed.status == 0)
            #expect(pushed.output.contains("remote: pushbox: saw refs/heads/main \(sha)"))
            #expect(try fixture.checked(["rev-parse", "main"], in: fixture.bare) == sha)
            let modes = try fixture.checked(["ls-tree", "--format=%(objectmode) %(path)", "main"], in: fixture.bare)
            #expect(modes == "100644 a.txt\n120000 link\n100755 tool")

            try fixture.installHook("pre-receive", script: "#!/bin/sh\necho rejected by test >&2\nexit 1\n")
            try fixture.commit("second")
            let rejected = try fixture.push()
            #expect(rejected.status != 0)
            #expect(rejected.output.contains("remote: rejected by test"))
            #expect(try fixture.checked(["rev-parse", "main"], in: fixture.bare) == sha)
        }
    }
}
