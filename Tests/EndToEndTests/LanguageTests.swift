import Core
import Foundation
import Testing
import TestSupport

/// Zero-configuration projects per language, caches and artifacts, end to end: the real daemon, real
/// pushes, the real language images through the podman service.
@Suite("languages, caches, artifacts", .serialized)
struct LanguageTests {
    /// Every step's log, for a failure message.
    static func logs(_ pushbox: DaemonFixture, _ run: Run) -> String {
        run.steps.map { "--- \($0.name) (\($0.state.rawValue)):\n" + pushbox.log(run: run.id, step: $0.name).suffix(3000) }
            .joined(separator: "\n") + "\n" + (run.message ?? "")
    }

    @Test("a project without .pushbox.yml goes green, then red for a failing test, with counts", arguments: LanguageProject.all)
    func language(_ project: LanguageProject) throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo(project.language)
        try project.write(repo, false)
        let sha = try repo.commit("\(project.language) project")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(900))
        #expect(run.state == .passed, "\(Self.logs(pushbox, run))")
        #expect(run.detected == project.detected)
        #expect(run.image == project.image)
        #expect(run.steps.map(\.name) == project.steps)
        let tests = run.steps.first { $0.name == project.testStep }
        #expect(tests?.testsPassed == 2 && tests?.testsFailed == 0, "\(Self.logs(pushbox, run))")
        let note = try #require(try pushbox.note(repo, sha))
        #expect(note.contains("detected: \(project.detected)"))
        #expect(note.contains("(2 passed, 0 failed)"))

        try project.write(repo, true)
        let broken = try repo.commit("break \(project.language)")
        let id2 = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run2 = try pushbox.waitForRun(id2, timeout: .seconds(900))
        #expect(run2.state == .failed, "\(Self.logs(pushbox, run2))")
        #expect(run2.message?.hasPrefix("step \(project.testStep) failed") == true, "\(run2.message ?? "")")
        let failed = run2.steps.first { $0.name == project.testStep }
        #expect(failed?.testsPassed == 1 && failed?.testsFailed == 1, "\(Self.logs(pushbox, run2))")
        #expect(try pushbox.note(repo, broken)?.contains("(1 passed, 1 failed)") == true)
    }

    @Test("the python project is tested from the checkout when it cannot be installed offline")
    func pythonInstallFallback() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try LanguageProject.python.write(repo, false)
        _ = try repo.commit("hatchling project")
        let id = try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)
        let run = try pushbox.waitForRun(id, timeout: .seconds(300))
        #expect(run.state == .passed, "\(Self.logs(pushbox, run))")
        #expect(run.steps.first?.state == .passed, "a failed install is not an error")
        #expect(pushbox.log(run: id, step: "install").contains("could not be installed offline"))
    }

    @Test("caches: a later run sees what an earlier one kept; other repos never; a branch reuses main's read-only")
    func caches() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let pipeline = """
            cache: [~/.cache/stash, /workspace/target]
            steps:
              - name: use
                run: |
                  echo "stash: $(cat ~/.cache/stash/marker 2>/dev/null || echo none)"
                  echo "target: $(cat target/built 2>/dev/null || echo none)"
                  echo "$MARK" > ~/.cache/stash/marker
                  echo "$MARK" > target/built
                  mkdir -p ~/.cache/other && echo sibling-dirs-writable
            """
        let app = try pushbox.makeRepo("app")
        try app.write(".pushbox.yml", pipeline.replacingOccurrences(of: "steps:", with: "env: {MARK: main-1}\nsteps:"))
        _ = try app.commit("first")
        let first = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try app.push().output).first))
        #expect(first.state == .passed, "\(Self.logs(pushbox, first))")
        #expect(pushbox.log(run: first.id, step: "use").contains("stash: none"))
        #expect(pushbox.log(run: first.id, step: "use").contains("sibling-dirs-writable"))

        try app.write(".pushbox.yml", pipeline.replacingOccurrences(of: "steps:", with: "env: {MARK: main-2}\nsteps:"))
        _ = try app.commit("second")
        let second = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try app.push().output).first))
        #expect(second.state == .passed, "\(Self.logs(pushbox, second))")
        let secondLog = pushbox.log(run: second.id, step: "use")
        #expect(secondLog.contains("stash: main-1"), "\(secondLog)")
        #expect(secondLog.contains("target: main-1"), "\(secondLog)")
        let checkoutLog = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(second.id)/checkout.log"), encoding: .utf8)
        #expect(checkoutLog.contains("cache: reusing the cache of main"), "\(checkoutLog)")

        // Another repository: its own, empty cache.
        let other = try pushbox.makeRepo("other")
        try other.write(".pushbox.yml", pipeline.replacingOccurrences(of: "steps:", with: "env: {MARK: other-1}\nsteps:"))
        _ = try other.commit("other")
        let otherRun = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try other.push().output).first))
        #expect(otherRun.state == .passed)
        #expect(pushbox.log(run: otherRun.id, step: "use").contains("stash: none"))

        // A feature branch starts from a copy of main's cache; what it writes stays its own.
        try app.write(".pushbox.yml", pipeline.replacingOccurrences(of: "steps:", with: "env: {MARK: feature-1}\nsteps:"))
        _ = try app.commit("feature")
        let feature = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try app.push("HEAD:refs/heads/feature").output).first))
        #expect(feature.state == .passed)
        #expect(pushbox.log(run: feature.id, step: "use").contains("stash: main-2"))
        try app.write(".pushbox.yml", pipeline.replacingOccurrences(of: "steps:", with: "env: {MARK: main-3}\nsteps:"))
        _ = try app.commit("third on main")
        let third = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try app.push().output).first))
        #expect(pushbox.log(run: third.id, step: "use").contains("stash: main-2"), "main never sees the branch's writes")
        try app.write(".pushbox.yml", pipeline.replacingOccurrences(of: "steps:", with: "env: {MARK: feature-2}\nsteps:"))
        _ = try app.commit("feature again")
        let featureAgain = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try app.push("HEAD:refs/heads/feature").output).first))
        #expect(pushbox.log(run: featureAgain.id, step: "use").contains("stash: feature-1"), "the branch keeps its own cache")

        // The CLI lists and clears them.
        let list = try pushbox.pushbox(["cache", "list"])
        #expect(list.status == 0, "\(list.stderr)")
        for expected in ["app", "other", "main", "feature", "/home/ci/.cache/stash", "/workspace/target"] {
            #expect(list.stdout.contains(expected), "\(list.stdout)")
        }
        let clear = try pushbox.pushbox(["cache", "clear", "app", "--branch", "feature"])
        #expect(clear.status == 0, "\(clear.stderr)")
        #expect(clear.stdout.contains("feature"))
        let after = try pushbox.pushbox(["cache", "list", "app"]).stdout
        #expect(!after.contains("feature") && after.contains("main"), "\(after)")
        let unknown = try pushbox.pushbox(["cache", "clear", "nosuchrepo"])
        #expect(unknown.status != 0 && unknown.stderr.contains("nosuchrepo"))
    }

    @Test("caches are capped per repository: the least recently used branch goes first")
    func cacheEviction() throws {
        let pushbox = try DaemonFixture()
        try FileManager.default.createDirectory(at: pushbox.home, withIntermediateDirectories: true)
        try "cache_max: 3MB\n".write(to: pushbox.home.appendingPathComponent("pushbox.yml"), atomically: true, encoding: .utf8)
        try pushbox.startDaemon()
        let app = try pushbox.makeRepo()
        try app.write(".pushbox.yml", """
            cache: [~/.stash]
            steps:
              - head -c 2000000 /dev/urandom > ~/.stash/blob-$PUSHBOX_RUN_ID
            """)
        _ = try app.commit("fill")
        let a = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try app.push("HEAD:refs/heads/a").output).first))
        #expect(a.state == .passed)
        let b = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try app.push("HEAD:refs/heads/b").output).first))
        #expect(b.state == .passed)
        let list = try pushbox.pushbox(["cache", "list", "app"]).stdout
        #expect(list.contains(" b ") && !list.contains(" a "), "branch a's cache (least recently used) was evicted:\n\(list)")
        let checkoutLog = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(b.id)/checkout.log"), encoding: .utf8)
        #expect(checkoutLog.contains("removed the cache of a"), "\(checkoutLog)")
    }

    @Test("a detected language caches its package directory by default; cache: [] turns it off")
    func defaultCache() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo("calc")
        try LanguageProject.node.write(repo, false)
        _ = try repo.commit("node")
        let run = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first), timeout: .seconds(300))
        #expect(run.state == .passed, "\(Self.logs(pushbox, run))")
        #expect(try pushbox.pushbox(["cache", "list", "calc"]).stdout.contains("/home/ci/.npm"))
        try pushbox.pushbox(["cache", "clear", "calc"])
        try repo.write(".pushbox.yml", "image: pushbox/node:bookworm\ncache: []\nsteps:\n  - npm test\n")
        _ = try repo.commit("no cache")
        let run2 = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first), timeout: .seconds(300))
        #expect(run2.state == .passed, "\(Self.logs(pushbox, run2))")
        #expect(!(try pushbox.pushbox(["cache", "list", "calc"]).stdout.contains("/home/ci/.npm")))
    }

    @Test("artifacts after a passing and a failing run; a symlink out of the workspace is not followed")
    func artifacts() throws {
        let pushbox = try DaemonFixture()
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        let pipeline = """
            artifacts: [out, "*.log"]
            steps:
              - name: build
                run: |
                  mkdir -p out/sub
                  printf 'binary\\000output' > out/app.bin
                  echo nested > out/sub/deep.txt
                  ln -s /etc/passwd out/passwd
                  ln -s / out/root
                  echo build log > build.log
                  exit ${FAIL:-0}
            """
        try repo.write(".pushbox.yml", pipeline)
        let sha = try repo.commit("artifacts")
        let run = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first))
        #expect(run.state == .passed)
        #expect(run.artifacts.map(\.path) == ["build.log", "out/app.bin", "out/sub/deep.txt"], "\(run.artifacts)")
        let kept = pushbox.home.appendingPathComponent("runs/\(run.id)/artifacts")
        #expect(try Data(contentsOf: kept.appendingPathComponent("out/app.bin")) == Data("binary\0output".utf8))
        #expect(!FileManager.default.fileExists(atPath: kept.appendingPathComponent("out/passwd").path))
        #expect(!FileManager.default.fileExists(atPath: kept.appendingPathComponent("out/root").path))
        let artifactsLog = try String(contentsOf: pushbox.home.appendingPathComponent("runs/\(run.id)/artifacts.log"), encoding: .utf8)
        #expect(artifactsLog.contains("skipped out/passwd: a symlink"), "\(artifactsLog)")
        #expect(try pushbox.note(repo, sha)?.contains("artifacts: 3 files") == true)

        // The CLI lists them and copies them out.
        let list = try pushbox.pushbox(["artifacts", String(run.id)])
        #expect(list.status == 0 && list.stdout.contains("out/sub/deep.txt"), "\(list.stdout)\(list.stderr)")
        let out = pushbox.home.deletingLastPathComponent().appendingPathComponent("downloaded")
        let copy = try pushbox.pushbox(["artifacts", String(run.id), "--out", out.path])
        #expect(copy.status == 0, "\(copy.stderr)")
        #expect(try String(contentsOf: out.appendingPathComponent("out/sub/deep.txt"), encoding: .utf8) == "nested\n")

        // After a failing run too (when: always is the default).
        try repo.write(".pushbox.yml", pipeline.replacingOccurrences(of: "artifacts:", with: "env: {FAIL: \"3\"}\nartifacts:"))
        _ = try repo.commit("failing")
        let failed = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first))
        #expect(failed.state == .failed)
        #expect(failed.artifacts.map(\.path).contains("out/app.bin"))
        #expect(FileManager.default.fileExists(atPath: pushbox.home.appendingPathComponent("runs/\(failed.id)/artifacts/build.log").path))

        // Over HTTP: the list and one file; a path that is not an artifact is a 404.
        let api = "http://127.0.0.1:\(pushbox.port)/api/v1/runs/\(failed.id)/artifacts"
        let listed = try HTTPGet.fetch(api)
        #expect(listed.status == 200 && listed.body.contains("out/app.bin"))
        let file = try HTTPGet.fetch(api + "/out/sub/deep.txt")
        #expect(file.status == 200 && file.body == "nested\n")
        #expect(try HTTPGet.fetch(api + "/out/passwd").status == 404)
        #expect(try HTTPGet.fetch(api + "/../../../etc/passwd").status == 404)
        #expect(try HTTPGet.fetch(api + "/out/%2E%2E/%2E%2E/metadata.json").status == 404)
    }

    @Test("artifacts retention keeps the latest artifacts_keep runs per repository")
    func artifactsRetention() throws {
        let pushbox = try DaemonFixture()
        try FileManager.default.createDirectory(at: pushbox.home, withIntermediateDirectories: true)
        try "artifacts_keep: 2\n".write(to: pushbox.home.appendingPathComponent("pushbox.yml"), atomically: true, encoding: .utf8)
        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        var ids: [Int64] = []
        for n in 1...3 {
            try repo.write(".pushbox.yml", "artifacts: [a.txt]\nsteps:\n  - echo \(n) > a.txt\n")
            _ = try repo.commit("run \(n)")
            ids.append(try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first)).id)
        }
        #expect(!FileManager.default.fileExists(atPath: pushbox.home.appendingPathComponent("runs/\(ids[0])/artifacts").path))
        #expect(FileManager.default.fileExists(atPath: pushbox.home.appendingPathComponent("runs/\(ids[2])/artifacts/a.txt").path))
        let expired = try pushbox.pushbox(["artifacts", String(ids[0]), "--out", pushbox.home.appendingPathComponent("x").path])
        #expect(expired.status != 0 && expired.stderr.contains("artifacts_keep"), "\(expired.stderr)")
    }
}
