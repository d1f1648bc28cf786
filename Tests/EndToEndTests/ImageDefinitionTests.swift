import Core
import Foundation
import Testing
import TestSupport

/// Image definitions of a user's own (`$PUSHBOX_HOME/images/<dir>/`), listed, built offline with the real
/// build script and podman, and used by a pushed `.pushbox.yml`.
@Suite("image definitions", .serialized)
struct ImageDefinitionTests {
    static func define(_ pushbox: DaemonFixture, _ directory: String, _ yaml: String, customize: String? = nil, wheels: String? = nil) throws {
        let folder = pushbox.home.appendingPathComponent("images/\(directory)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(yaml.utf8).write(to: folder.appendingPathComponent("definition.yml"))
        if let customize { try Data(customize.utf8).write(to: folder.appendingPathComponent("customize.sh")) }
        if let wheels { try Data(wheels.utf8).write(to: folder.appendingPathComponent("wheels.txt")) }
    }

    /// A small real wheel from the machine's package index, and its real sha256.
    static let sixWheel = "six-1.16.0-py2.py3-none-any.whl"
    static let sixPin = "six==1.16.0 --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254\n"

    @Test("a user's definition extends the base: listed, built with progress, used by a push, outdated when changed")
    func userImage() throws {
        let pushbox = try DaemonFixture()
        let image = "example/jq-\(UInt32.random(in: 0...UInt32.max)):bookworm"
        defer {
            // Remove the image this test built (and only it).
            _ = try? Command.run(["podman", "rmi", "--ignore", "localhost/" + image])
        }
        // The wheel is fetched on the host by pip (wheels.txt) into a cache that the customize script sees.
        try Self.define(pushbox, "jq", "name: \(image)\nextends: debian-bookworm\npackages: [jq]\n",
                        customize: "#!/bin/sh\nset -e\necho built-by-customize > /etc/pushbox-custom\ngrep -q six== \"$WHEELS\"\nls \"$DOWNLOADS\" >> /etc/pushbox-custom\n",
                        wheels: Self.sixPin)
        let list = try pushbox.pushbox(["image", "list"])
        #expect(list.status == 0, "\(list.stderr)")
        let row = try #require(list.stdout.split(separator: "\n").first { $0.hasPrefix(image) })
        #expect(row.contains(pushbox.home.appendingPathComponent("images/jq").path) && row.contains("not built"), "\(row)")
        for shipped in ["pushbox/debian:bookworm", "pushbox/node:bookworm", "pushbox/go:bookworm", "pushbox/rust:bookworm", "pushbox/java:bookworm"] {
            #expect(list.stdout.contains(shipped))
        }

        let cache = pushbox.home.appendingPathComponent("image-cache")
        let downloads = pushbox.home.appendingPathComponent("build-cache")
        let build = try pushbox.pushbox(["image", "build", "jq", "--cache", cache.path], environment: ["PUSHBOX_CACHE": downloads.path])
        #expect(build.status == 0, "\(build.stdout)\n\(build.stderr)")
        #expect(build.stdout.contains("[build-rootfs] packages ..."), "progress is shown")
        #expect(build.stdout.contains("[build-rootfs] wheels ...") && build.stdout.contains("Saved \(Self.sixWheel)"), "\(build.stdout)")
        #expect(FileManager.default.fileExists(atPath: downloads.appendingPathComponent("build/downloads/\(Self.sixWheel)").path),
                "the wheel is kept in PUSHBOX_CACHE/build/downloads")
        #expect(build.stdout.contains("\(image) is ready"))
        let built = try pushbox.pushbox(["image", "list"]).stdout
        let builtRow = try #require(built.split(separator: "\n").first { $0.hasPrefix(image) })
        #expect(builtRow.hasSuffix("built") && builtRow.contains("MiB"), "\(builtRow)")
        // Up to date: nothing is built again.
        let again = try pushbox.pushbox(["image", "build", image, "--cache", cache.path])
        #expect(again.stdout.contains("is up to date"), "\(again.stdout)")

        try pushbox.startDaemon()
        let repo = try pushbox.makeRepo()
        try repo.write(".pushbox.yml", "image: \(image)\nsteps:\n  - jq --version && cat /etc/pushbox-custom && id -un\n")
        _ = try repo.commit("use my image")
        let run = try pushbox.waitForRun(try #require(DaemonFixture.queuedRunIDs(in: try repo.push().output).first))
        #expect(run.state == .passed, "\(pushbox.log(run: run.id, step: "step1"))")
        let log = pushbox.log(run: run.id, step: "step1")
        #expect(log.contains("jq-1.") && log.contains("built-by-customize") && log.contains(Self.sixWheel) && log.contains("ci"), "\(log)")

        try Self.define(pushbox, "jq", "# changed\nname: \(image)\nextends: debian-bookworm\npackages: [jq]\n")
        let changed = try pushbox.pushbox(["image", "list"]).stdout
        #expect(changed.split(separator: "\n").first { $0.hasPrefix(image) }?.contains("outdated") == true, "\(changed)")
    }

    @Test("a wheel whose sha256 is not the pinned one fails the build before debootstrap, and nothing is imported")
    func wrongWheelPin() throws {
        let pushbox = try DaemonFixture()
        let image = "example/pin-\(UInt32.random(in: 0...UInt32.max)):bookworm"
        defer { _ = try? Command.run(["podman", "rmi", "--ignore", "localhost/" + image]) }
        try Self.define(pushbox, "pin", "name: \(image)\nextends: debian-bookworm\n", customize: "#!/bin/sh\nexit 0\n",
                        wheels: "six==1.16.0 --hash=sha256:" + String(repeating: "0", count: 64) + "\n")
        let cache = pushbox.home.appendingPathComponent("build-cache")
        let build = try pushbox.pushbox(["image", "build", "pin", "--cache", cache.appendingPathComponent("images").path],
                                        environment: ["PUSHBOX_CACHE": cache.path])
        #expect(build.status != 0)
        let output = build.stdout + build.stderr
        #expect(output.contains("DO NOT MATCH THE HASHES") && output.contains("8abb2f1d86890a2d"), "pip names the hash it got: \(output)")
        #expect(output.contains("FAILED during wheels"), "\(output)")
        #expect(!output.contains("debootstrap ..."), "the pin is checked before debootstrap: \(output)")
        #expect(!FileManager.default.fileExists(atPath: cache.appendingPathComponent("build/downloads/\(Self.sixWheel)").path))
        let list = try pushbox.pushbox(["image", "list"]).stdout
        #expect(list.split(separator: "\n").first { $0.hasPrefix(image) }?.contains("not built") == true, "\(list)")
    }

    @Test("definition mistakes are clear errors: unknown extends, a cycle, a name defined twice, no name")
    func mistakes() throws {
        let cases: [(files: [(String, String)], message: String)] = [
            ([("a", "name: x/a:1\nextends: nowhere\n")], "extends nowhere, but no definition has that name"),
            ([("a", "name: x/a:1\nextends: b\n"), ("b", "name: x/b:1\nextends: a\n")], "extends forms a cycle"),
            ([("a", "name: pushbox/debian:bookworm\n")], "both define image pushbox/debian:bookworm"),
            ([("a", "packages: [jq]\n")], "needs `name:`"),
            ([("a", "name: x/a:1\npackage: [jq]\n")], "unknown key \"package\""),
        ]
        for c in cases {
            let pushbox = try DaemonFixture()
            for (directory, yaml) in c.files { try Self.define(pushbox, directory, yaml) }
            let list = try pushbox.pushbox(["image", "list"])
            #expect(list.status != 0)
            #expect(list.stderr.contains(c.message), "\(list.stderr)")
        }
        let pushbox = try DaemonFixture()
        try Self.define(pushbox, "a", "name: x/a:1\n", wheels: Self.sixPin)
        let list = try pushbox.pushbox(["image", "list"])
        #expect(list.status != 0)
        #expect(list.stderr.contains("images/a/wheels.txt needs a customize.sh beside it"), "\(list.stderr)")
    }
}
