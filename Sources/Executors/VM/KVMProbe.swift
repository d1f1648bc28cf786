import Core
import Foundation
import Logging

/// Which accelerator a guest gets, and why (printed, so that "it is slow" has an answer).
package struct AccelChoice: Sendable, Equatable, CustomStringConvertible {
    package var accel: QEMUAccel
    package var reason: String

    package init(accel: QEMUAccel, reason: String) {
        self.accel = accel
        self.reason = reason
    }

    package var description: String { "\(accel.rawValue) (\(reason))" }
}

/// Finds out whether KVM really works here by booting a tiny guest with it — never from the presence of
/// `/dev/kvm`: on nested hosts without VT-x the device opens and VMs are created, and then guests crawl
/// and die with "emulation failure" (docs/vms.md). The probe boots the profile's kernel and initrd with
/// `pushbox.probe=1`; the init prints a sentinel before loading anything and powers off. No answer within
/// the timeout means no KVM.
///
/// Results are cached in memory per QEMU binary and, when a cache file is given, on disk until the host
/// reboots (keyed by the kernel's boot id), so each runner process pays for at most one probe.
package actor KVMProbe {
    package static let shared = KVMProbe()

    package struct Result: Sendable, Equatable, Codable {
        package var works: Bool
        package var detail: String
        package var bootID: String?
        package var qemu: String?

        package init(works: Bool, detail: String, bootID: String? = nil, qemu: String? = nil) {
            self.works = works
            self.detail = detail
            self.bootID = bootID
            self.qemu = qemu
        }
    }

    private var inFlight: [String: Task<Result, Never>] = [:]

    package init() {}

    /// Decides the accelerator for `profile`. `probe` runs only for `accel: auto` on a host of the guest's
    /// architecture with a `/dev/kvm` that opens.
    package static func choose(profile: VMProfile, hostArch: VMProfile.Arch = VMProfile.hostArch, kvmDeviceOpens: Bool,
                               probe: () async -> Result) async -> AccelChoice {
        switch profile.accel {
        case .tcg: return AccelChoice(accel: .tcg, reason: "accel: tcg in the profile")
        case .kvm: return AccelChoice(accel: .kvm, reason: "accel: kvm in the profile")
        case .auto:
            guard profile.arch == hostArch else {
                return AccelChoice(accel: .tcg, reason: "KVM cannot run an \(profile.arch.rawValue) guest on an \(hostArch.rawValue) host")
            }
            guard kvmDeviceOpens else { return AccelChoice(accel: .tcg, reason: "no usable /dev/kvm") }
            let result = await probe()
            return result.works
                ? AccelChoice(accel: .kvm, reason: "KVM probe: \(result.detail)")
                : AccelChoice(accel: .tcg, reason: "KVM probe failed: \(result.detail)")
        }
    }

    /// Whether `/dev/kvm` can be opened for reading and writing (necessary, far from sufficient).
    package static func kvmDeviceOpens(path: String = "/dev/kvm") -> Bool {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    /// The kernel's boot id: a cached probe result is trusted until the host reboots.
    package static func bootID() -> String? {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Boots the probe guest with KVM (once per QEMU binary and process, or per boot with `cacheFile`).
    package func kvmWorks(qemu: String, profile: VMProfile, kernel: URL, initrd: URL, timeout: Duration,
                          cacheFile: URL?, logger: Logger) async -> Result {
        if let task = inFlight[qemu] { return await task.value }
        if let cacheFile, let data = try? Data(contentsOf: cacheFile),
           let cached = try? JSONDecoder().decode(Result.self, from: data),
           cached.bootID != nil, cached.bootID == Self.bootID(), cached.qemu == qemu {
            logger.debug("KVM probe result from cache", metadata: ["works": "\(cached.works)", "file": "\(cacheFile.path)"])
            return cached
        }
        let task = Task {
            var result = await Self.probe(qemu: qemu, profile: profile, kernel: kernel, initrd: initrd, timeout: timeout, logger: logger)
            result.bootID = Self.bootID()
            result.qemu = qemu
            if let cacheFile, let data = try? JSONEncoder().encode(result) {
                try? data.write(to: cacheFile, options: .atomic)
            }
            return result
        }
        inFlight[qemu] = task
        return await task.value
    }

    /// One probe boot, uncached.
    package static func probe(qemu: String, profile: VMProfile, kernel: URL, initrd: URL, timeout: Duration,
                              logger: Logger) async -> Result {
        let launch = QEMULaunch(accel: .kvm, kernel: kernel.path, initrd: initrd.path, root: nil, workspace: .none,
                                console: .stdio, name: "pushbox-kvm-probe", extraKernelArguments: ["pushbox.probe=1"])
        var probeProfile = profile
        probeProfile.memoryMiB = min(profile.memoryMiB, 512)
        probeProfile.cpus = 1
        let arguments = QEMUCommandLine.arguments(profile: probeProfile, launch: launch)
        let clock = ContinuousClock()
        let started = clock.now
        let child: SpawnedChild
        do {
            child = try SpawnedChild.spawn(qemu, arguments)
        } catch {
            return Result(works: false, detail: "\(error)")
        }
        let watchdog = Task {
            try? await Task.sleep(for: timeout)
            child.signalGroup(SIGKILL)
        }
        var tail = ConsoleTail(limit: 5)
        var seen = Data()
        var works = false
        for await chunk in child.output {
            tail.append(chunk)
            seen.append(chunk)
            if seen.count > 1 << 16 { seen.removeFirst(seen.count - 64) }
            if String(decoding: seen, as: UTF8.self).contains(GuestJob.probeSentinel) {
                works = true
                break
            }
        }
        let elapsed = clock.now - started
        watchdog.cancel()
        await child.killGroupAndWait()
        logger.info("KVM probe", metadata: ["works": "\(works)", "elapsed": "\(elapsed)"])
        if works { return Result(works: true, detail: "a guest booted in \(Units.formatSeconds(elapsed))") }
        if elapsed >= timeout {
            return Result(works: false, detail: "no guest output within \(Units.formatSeconds(timeout)) (KVM is present but does not run guests here)")
        }
        let last = tail.lastLines.last ?? "no output"
        return Result(works: false, detail: "QEMU stopped after \(Units.formatSeconds(elapsed)): \(last)")
    }
}
