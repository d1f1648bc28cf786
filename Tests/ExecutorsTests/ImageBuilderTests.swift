import Core
import Executors
import Foundation
import Logging
import Synchronization
import Testing

extension RealEngineTests {
    /// `ImageBuilder` against the real engine, with a stand-in for `sandbox/build-rootfs` that tars a tiny tree.
    @Suite("ImageBuilder")
    struct ImageBuilderTests {
        let fixture: EngineFixture
        let logger = EngineFixture.logger

        init() throws { fixture = try EngineFixture.require() }

        static let fakeBuildScript = """
        #!/bin/bash
        # Stand-in for sandbox/build-rootfs: same contract, tiny output.
        set -euo pipefail
        out="$1"
        echo "build-rootfs: SUITE=$SUITE VARIANT=$VARIANT PACKAGES=$PACKAGES CUSTOMIZE=${CUSTOMIZE:-} MIRROR=${MIRROR:-}" >&2
        root=$(mktemp -d)
        trap 'rm -rf "$root"' EXIT
        mkdir -p "$root/etc"
        echo "$SUITE $PACKAGES" > "$root/etc/pushbox-build"
        echo "build-rootfs: packing" >&2
        tar -C "$root" -cf "$out.tmp" .
        mv "$out.tmp" "$out"
        echo "build-rootfs: done"
        """

        static let failingBuildScript = """
        #!/bin/sh
        echo "build-rootfs: debootstrap bookworm" >&2
        echo "E: Failed getting release file http://deb.debian.org/debian/dists/bookworm/Release" >&2
        exit 1
        """

        func makeScript(_ text: String, in directory: URL) throws -> URL {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let url = directory.appendingPathComponent("build-rootfs")
            try Data(text.utf8).write(to: url)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
            return url
        }

        @Test("build, up to date, import from cache, rebuild on a new definition, previous image removed")
        func lifecycle() async throws {
            let directory = fixture.directory.appendingPathComponent("images-\(UUID().uuidString.prefix(8))")
            let script = try makeScript(Self.fakeBuildScript, in: directory)
            let cache = directory.appendingPathComponent("cache")
            let builder = ImageBuilder(engine: fixture.client, flavor: .podman, buildScript: script, cacheDirectory: cache,
                                       mirror: "http://mirror.invalid/debian")
            let name = "pushbox-test/tiny-\(UUID().uuidString.prefix(8).lowercased()):v1"
            let hash1 = ImageDefinition.hash(files: [(name: "definition.yml", contents: Data("one".utf8)),
                                                     (name: "build-rootfs", contents: Data(Self.fakeBuildScript.utf8))])
            var definition = ImageDefinition(name: name, suite: "bookworm", packages: ["git", "ca-certificates"], definitionHash: hash1)
            defer { try? FileManager.default.removeItem(at: directory) }

            let lines = Lines()
            let built = try await builder.build(definition, logger: logger, progress: lines.add)
            guard case .built(let firstID) = built else { Issue.record("expected a build, got \(built)"); return }
            #expect(lines.all.contains("build-rootfs: SUITE=bookworm VARIANT=minbase PACKAGES=git,ca-certificates CUSTOMIZE= MIRROR=http://mirror.invalid/debian"))
            #expect(lines.all.contains("build-rootfs: done"))
            let image = try #require(try await fixture.client.inspectImage(name))
            #expect(image.labels["pushbox.definition"] == hash1)
            #expect(image.tags.contains("localhost/\(name)"))
            #expect(FileManager.default.fileExists(atPath: cache.appendingPathComponent(definition.cacheFileName()).path))

            #expect(try await builder.build(definition, logger: logger, progress: { _ in }) == .upToDate(imageID: firstID))

            try await fixture.client.removeImage(firstID)
            let again = try await builder.build(definition, logger: logger, progress: { _ in })
            guard case .importedFromCache(let secondID) = again else { Issue.record("expected the cache, got \(again)"); return }

            definition.definitionHash = ImageDefinition.hash(files: [(name: "definition.yml", contents: Data("two".utf8))])
            definition.packages = ["git"]
            let rebuilt = try await builder.build(definition, logger: logger, progress: { _ in })
            guard case .built(let thirdID) = rebuilt else { Issue.record("expected a rebuild, got \(rebuilt)"); return }
            #expect(thirdID != secondID)
            #expect(try await fixture.client.inspectImage(secondID) == nil, "the previous build was kept")
            #expect(try await fixture.client.inspectImage(name)?.labels["pushbox.definition"] == definition.definitionHash)
            let tars = try FileManager.default.contentsOfDirectory(atPath: cache.path)
            #expect(tars == [definition.cacheFileName()], "old cached tars are pruned")

            try await fixture.client.removeImage(name, force: true)
        }

        @Test("a failing build script is an error carrying its last line; nothing is imported")
        func failingScript() async throws {
            let directory = fixture.directory.appendingPathComponent("images-\(UUID().uuidString.prefix(8))")
            defer { try? FileManager.default.removeItem(at: directory) }
            let script = try makeScript(Self.failingBuildScript, in: directory)
            let builder = ImageBuilder(engine: fixture.client, flavor: .podman, buildScript: script,
                                       cacheDirectory: directory.appendingPathComponent("cache"))
            let name = "pushbox-test/broken-\(UUID().uuidString.prefix(8).lowercased()):v1"
            let definition = ImageDefinition(name: name, suite: "bookworm", definitionHash: "deadbeef")
            let lines = Lines()
            let error = await #expect(throws: ImageBuildError.self) {
                _ = try await builder.build(definition, logger: logger, progress: lines.add)
            }
            #expect(error?.message.contains("failed with exit 1: E: Failed getting release file") == true)
            #expect(lines.all.contains("build-rootfs: debootstrap bookworm"))
            #expect(try await fixture.client.inspectImage(name) == nil)
        }
    }
}

/// Collects progress lines from any thread.
final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    @Sendable func add(_ line: String) { lines.withLock { $0.append(line) } }
}
