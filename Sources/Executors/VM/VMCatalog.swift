import Core
import Foundation
import Logging

/// The runner's VM profiles (`vm.profiles`, default `<install dir>/vm-profiles`) and images (`vm.images`,
/// default `$PUSHBOX_HOME/vm-images`): what `pushbox vm list|build|check` show and use, and the guests
/// the VM stage of a run asks for (`VMGuests`).
package struct VMCatalog: VMGuests {
    package let profilesDirectory: URL
    package let imagesDirectory: URL
    /// Part of every QEMU guest's name (`pushbox-<tag>-<run>-<profile>`): a restarted runner kills the
    /// guests of its own tag only (`QEMUExecutor.removeOrphans`). See `tag(forHome:)`.
    package let nameTag: String?
    package let tools: VMHostTools

    package init(profilesDirectory: URL, imagesDirectory: URL, nameTag: String? = nil, tools: VMHostTools = VMHostTools()) {
        self.profilesDirectory = profilesDirectory
        self.imagesDirectory = imagesDirectory
        self.nameTag = nameTag
        self.tools = tools
    }

    /// Eight hex digits derived from the runner home's path (FNV-1a; pure): the guests' name tag.
    package static func tag(forHome home: URL) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in home.standardizedFileURL.path.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let digits = String(hash & 0xffff_ffff, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    package func profiles() throws -> [VMProfile] {
        try VMProfile.loadAll(from: profilesDirectory)
    }

    package func profile(named name: String) throws -> VMProfile {
        guard PipelineParser.isStepName(name) else {
            throw SpecError(file: profilesDirectory.path, line: 0, column: 0,
                            message: "\"\(name)\" is not a profile name (letters, digits, '-', '_' and '.')")
        }
        return try VMProfile.load(named: name, from: profilesDirectory)
    }

    /// The executor of `profile`; its guests keep their files in `directory` (console log, `work/`).
    package func executor(for profile: VMProfile, directory: URL? = nil) -> any GuestExecutor {
        switch profile.driver {
        case .qemu:
            var paths: (@Sendable (RunSpec) -> VMRunPaths)?
            if let directory {
                let fixed = VMRunPaths(workDirectory: directory.appendingPathComponent("work"),
                                       consoleLog: directory.appendingPathComponent("console.log"))
                paths = { _ in fixed }
            }
            return QEMUExecutor(profile: profile, images: imagesDirectory, paths: paths, tools: tools, nameTag: nameTag)
        case .virtualbox:
            return VirtualBoxExecutor(profile: profile, images: imagesDirectory, tools: tools, nameTag: nameTag)
        }
    }

    /// What keeps `profile` from running here (missing tools, image not built), with the fix; empty: ready.
    package func problems(of profile: VMProfile) -> [String] {
        switch profile.driver {
        case .qemu: QEMUExecutor(profile: profile, images: imagesDirectory, tools: tools).problems()
        case .virtualbox: VirtualBoxExecutor(profile: profile, images: imagesDirectory, tools: tools).problems()
        }
    }

    /// What keeps `profile`'s driver from working on this host (tools missing), without the image; empty: usable.
    package func driverProblems(of profile: VMProfile) -> [String] {
        switch profile.driver {
        case .qemu: QEMUExecutor(profile: profile, images: imagesDirectory, tools: tools).toolProblems()
        case .virtualbox: VirtualBoxExecutor(profile: profile, images: imagesDirectory, tools: tools).toolProblems()
        }
    }

    package func guest(profile name: String, timeout: Duration?, directory: URL) throws -> VMGuest {
        var profile: VMProfile
        do {
            profile = try self.profile(named: name)
        } catch let error as SpecError {
            throw SandboxError(error.description)
        }
        if let timeout { profile.jobTimeout = timeout }
        if let problem = problems(of: profile).first { throw SandboxError(problem) }
        return VMGuest(executor: executor(for: profile, directory: directory), defaultCommand: profile.run, jobTimeout: profile.jobTimeout)
    }
}

extension QEMUSandbox: GuestSandbox {
    package func runGuest(_ step: Step, log: any LogSink) async throws -> GuestRunReport {
        let report = try await runReporting(step, log: log)
        return GuestRunReport(status: report.status, accel: report.accel.description, bootTime: report.bootTime)
    }
}
