import ArgumentParser
import Core
import Executors
import Foundation
import Logging

/// `pushbox vm list|build|check`: the VM profiles of `vm.profiles`, their images in `vm.images`.
struct VMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "VM profiles for cross-OS validation: list them, build their images, boot one.",
        subcommands: [List.self, Build.self, Check.self])

    /// One row of `vm list` (also its JSON).
    struct ProfileRow: Encodable {
        var name: String
        var driver: String
        var arch: String
        var os: String
        var transport: String
        var imageBuilt: Bool
        var driverUsable: Bool
        /// What to do before the profile can run here; empty when it can.
        var problems: [String]

        enum CodingKeys: String, CodingKey {
            case name, driver, arch, os, transport, problems
            case imageBuilt = "image_built"
            case driverUsable = "driver_usable"
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the VM profiles, whether each image is built and whether its driver works on this host.")
        @OptionGroup var options: HomeOptions
        @OptionGroup var location: VMLocationOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let catalog = try location.catalog(home: home)
                let profiles: [VMProfile]
                do {
                    profiles = try catalog.profiles()
                } catch {
                    throw UserError("cannot read the VM profiles in \(catalog.profilesDirectory.path): \(error)")
                }
                let rows = profiles.map { profile in
                    ProfileRow(name: profile.name, driver: profile.driver.rawValue, arch: profile.arch.rawValue, os: profile.os.rawValue,
                               transport: profile.transport.rawValue,
                               imageBuilt: profile.missingImageFiles(in: catalog.imagesDirectory).isEmpty,
                               driverUsable: catalog.driverProblems(of: profile).isEmpty, problems: catalog.problems(of: profile))
                }
                if json { return printOut(try Output.json(["profiles": rows])) }
                var table = [["PROFILE", "DRIVER", "ARCH", "OS", "TRANSPORT", "IMAGE", "DRIVER HERE"]]
                for row in rows {
                    table.append([row.name, row.driver, row.arch, row.os, row.transport, row.imageBuilt ? "built" : "not built",
                                  row.driverUsable ? "usable" : "not usable"])
                }
                printOut(Output.table(table))
                printOut("profiles: \(catalog.profilesDirectory.path)   images: \(catalog.imagesDirectory.path)")
                for row in rows { for problem in row.problems { printOut("  \(row.name): \(problem)") } }
            }
        }
    }

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a profile's guest image offline from Debian packages (cached; a no-op when up to date).")
        @OptionGroup var options: HomeOptions
        @OptionGroup var location: VMLocationOptions
        @Argument(help: "Profile name (a file of vm-profiles/ without .yml).") var profile: String
        @Flag(help: "Rebuild even when the image is up to date.") var force = false

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let catalog = try location.catalog(home: home)
                let profile = try VMCommand.load(profile, from: catalog)
                var logger = Logger(label: "pushbox")
                logger.logLevel = .warning
                let builder = VMImageBuilder(profilesDirectory: catalog.profilesDirectory, imagesDirectory: catalog.imagesDirectory)
                let started = ContinuousClock.now
                printOut("[vm build] \(profile.name) → \(catalog.imagesDirectory.path)")
                do {
                    try await builder.build(profile, force: force, logger: logger) { line in printOut("[vm build] \(line)") }
                } catch {
                    throw UserError("building the image of \(profile.name) failed: \(error)")
                }
                printOut("[vm build] \(profile.name): ready in \(Units.format(ContinuousClock.now - started))")
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Boot a profile's guest once, run `uname -a` (`$PSVersionTable` on Windows) and print the timings.")
        @OptionGroup var options: HomeOptions
        @OptionGroup var location: VMLocationOptions
        @Argument(help: "Profile name.") var profile: String
        @Option(help: "Command to run instead.") var run: String?

        func run() async throws {
            try await guarded {
                let home = options.runnerHome
                let catalog = try location.catalog(home: home)
                let profile = try VMCommand.load(profile, from: catalog)
                let problems = catalog.problems(of: profile)
                guard problems.isEmpty else { throw UserError("\(profile.name) cannot run here: \(problems.joined(separator: "; "))") }
                var logger = Logger(label: "pushbox")
                logger.logLevel = .warning
                let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-vm-check-\(getpid())")
                try? FileManager.default.removeItem(at: scratch)
                try FileManager.default.createDirectory(at: scratch.appendingPathComponent("workspace"), withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: scratch) }
                let command = run ?? (profile.os == .windows ? "$PSVersionTable | Format-Table -AutoSize" : "uname -a")
                let spec = RunSpec(runID: 0, image: "", workspace: scratch.appendingPathComponent("workspace"))
                let executor = catalog.executor(for: profile, directory: scratch.appendingPathComponent("guest"))
                let clock = ContinuousClock()
                let started = clock.now
                printOut("[vm check] \(profile.name): \(profile.driver.rawValue) \(profile.arch.rawValue) \(profile.os.rawValue), booting…")
                let sandbox: any GuestSandbox
                do {
                    sandbox = try await executor.makeGuestSandbox(for: spec, logger: logger)
                } catch let error as SandboxError {
                    throw UserError("\(profile.name): \(error.message)")
                }
                let prepared = clock.now - started
                let report: GuestRunReport
                do {
                    let step = Step(name: "check", run: command)
                    let sink = PrintingSink()
                    report = try await sandbox.runGuest(step, log: sink)
                } catch {
                    let console = scratch.appendingPathComponent("guest/console.log")
                    let kept = FileManager.default.temporaryDirectory.appendingPathComponent("pushbox-vm-check-\(profile.name).console.log")
                    try? FileManager.default.removeItem(at: kept)
                    try? FileManager.default.copyItem(at: console, to: kept)
                    await sandbox.destroy()
                    throw UserError("\(profile.name): \(error)\(FileManager.default.fileExists(atPath: kept.path) ? "\n(console log kept in \(kept.path))" : "")")
                }
                await sandbox.destroy()
                var timings = ["prepare \(Units.format(prepared))"]
                if let qemu = sandbox as? QEMUSandbox { timings.append("overlay \(Units.format(qemu.overlayTime))") }
                if let accel = report.accel { timings.insert("accel \(accel)", at: 0) }
                if let boot = report.bootTime { timings.append("boot → first command \(Units.formatSeconds(boot))") }
                timings.append("total \(Units.formatSeconds(clock.now - started))")
                printOut("[vm check] \(profile.name): \(report.status.succeeded ? "passed" : "failed (\(report.status.summary))"); \(timings.joined(separator: ", "))")
                if !report.status.succeeded { throw ExitCode(1) }
            }
        }
    }

    /// Overrides of runner config `vm.profiles` and `vm.images` for one command.
    struct VMLocationOptions: ParsableArguments {
        @Option(help: "Directory of the VM profiles (default: runner config vm.profiles).") var profiles: String?
        @Option(help: "Directory of the guest images (default: runner config vm.images, else $PUSHBOX_HOME/vm-images).") var images: String?

        func catalog(home: RunnerHome) throws -> VMCatalog {
            var config = try Runtime.loadConfig(home)
            if let profiles { config.vm.profiles = profiles }
            if let images { config.vm.images = images }
            return try Runtime.vmCatalog(home: home, config: config)
        }
    }

    static func load(_ name: String, from catalog: VMCatalog) throws -> VMProfile {
        do {
            return try catalog.profile(named: name)
        } catch {
            throw UserError("\(error)")
        }
    }
}

/// Prints a guest's output as it arrives.
private struct PrintingSink: LogSink {
    func write(_ bytes: Data, from stream: LogStream) async {
        (stream == .stderr ? FileHandle.standardError : FileHandle.standardOutput).write(bytes)
    }
}
