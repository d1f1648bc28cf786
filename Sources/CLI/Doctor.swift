import ArgumentParser
import Core
import Executors
import Foundation
import Git
import Logging
import Pipeline
import Workspace

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what works on this host, what is missing, and how to fix it.")
    @OptionGroup var options: HomeOptions

    func run() async throws {
        try await guarded {
            let home = options.runnerHome
            var problems = 0
            func line(_ ok: Bool?, _ what: String, _ detail: String) {
                let mark = ok == nil ? "-- " : ok! ? "ok " : "!! "
                if ok == false { problems += 1 }
                printOut("\(mark) \(what.padding(toLength: 18, withPad: " ", startingAt: 0)) \(detail)")
            }
            line(true, "pushbox", "\(PushboxCommand.version) at \(Install.executable().path)")
            line(true, "libgit2", Repository.libgit2Version)
            let config: RunnerConfig
            do {
                config = try home.loadConfig()
                line(true, "runner home", FileManager.default.fileExists(atPath: home.config.path) ? home.root.path : "\(home.root.path) (not created: run `pushbox init`)")
            } catch {
                line(false, "runner config", "\(error)")
                config = RunnerConfig()
            }
            var logger = Logger(label: "pushbox")
            logger.logLevel = .critical
            do {
                let engine = try await EngineDiscovery.resolve(setting: config.engine, serviceDirectory: home.root, logger: logger)
                let version = try? await engine.client.version()
                line(true, "container engine", "\(engine.flavor) \(version?.version ?? "?") (API \(version?.apiVersion ?? "?")) at \(engine.endpoint)\(engine.service != nil ? " (private podman service)" : "")")
                if let image = try? await engine.client.inspectImage(PipelineSpec.defaultImage) {
                    line(true, "default image", "\(PipelineSpec.defaultImage) \(image.id.prefix(19))")
                } else {
                    line(false, "default image", "\(PipelineSpec.defaultImage) is missing: run `pushbox image build` (or `make image`)")
                }
                await engine.service?.stop()
            } catch {
                line(false, "container engine", "\(error) — run scripts/setup (installs podman) or set DOCKER_HOST")
            }
            if let quota = config.workspaceQuota {
                let probeDirectory = FileManager.default.fileExists(atPath: home.runs.path) ? home.runs : FileManager.default.temporaryDirectory
                if let problem = WorkspaceVolume.probe(in: probeDirectory) {
                    line(false, "workspace quota", "\(Units.formatBytes(quota)) cannot be enforced: \(problem) (or set workspace_quota: none)")
                } else {
                    line(true, "workspace quota", "\(Units.formatBytes(quota)) per run (its own loop-mounted file system)")
                }
            } else {
                line(nil, "workspace quota", "none (workspace_quota: none): a job can fill the disk of \(home.root.path)")
            }
            let nft = EgressNetwork.nftPath != nil, firewall = nft && geteuid() == 0
            line(firewall, "egress firewall",
                 firewall ? "nft present: network: egress jobs are kept from the host and link-local addresses"
                          : "network: egress jobs are refused: \(nft ? "not root" : "nft missing (apt-get install nftables)")")
            let daemon = await DaemonClient(home: home).isRunning()
            line(daemon ? true : nil, "daemon", daemon ? "running on \(home.socket.path)" : "not running (pushbox serve)")
            line(nil, "KVM", FileManager.default.fileExists(atPath: "/dev/kvm")
                 ? "/dev/kvm exists; whether guests really run with it is found out by booting a probe guest (accel: auto)"
                 : "no /dev/kvm: VM guests run under TCG")
            do {
                let catalog = try Runtime.vmCatalog(home: home, config: config)
                for profile in try catalog.profiles() {
                    let problems = catalog.problems(of: profile)
                    // Optional profiles: a VM that cannot run here only matters to pushes that name it.
                    line(problems.isEmpty ? true : nil, "vm \(profile.name)",
                         problems.isEmpty ? "ready (\(profile.driver.rawValue), \(profile.arch.rawValue), image in \(catalog.imagesDirectory.path))"
                                          : problems.joined(separator: "; "))
                }
            } catch {
                line(false, "vm profiles", "\(error)")
            }
            if config.autofix.backend.usesModelProxy {
                let missing = LoopbackForwarder.missingRequirements()
                line(missing.isEmpty, "model proxy route", missing.isEmpty
                     ? "nsenter, socat, root: \(config.autofix.backend.rawValue) containers reach only the model proxy"
                     : "missing \(missing.joined(separator: ", ")) (scripts/setup): \(config.autofix.backend.rawValue) attempts with a key fail")
            }
            let keyName = config.autofix.apiKeyEnv
            line(nil, keyName, ProcessInfo.processInfo.environment[keyName].map { _ in "set (value not shown)" } ?? "not set (autofix with the anthropic backend is skipped)")
            if problems > 0 {
                printOut("\(problems) problem(s) found")
                throw ExitCode(1)
            }
        }
    }

}
