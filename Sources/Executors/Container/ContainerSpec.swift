import Core
import Foundation

/// Which engine answers behind the Docker-compatible API. They differ in a few option spellings.
package enum EngineFlavor: String, Sendable, Equatable {
    case docker, podman
}

/// The pure translation from a run to Docker Engine API request bodies (API 1.41, as served by Docker and
/// by `podman system service`). No I/O here; `ContainerSpecTests` pins the JSON.
package enum ContainerSpec {
    /// The workspace mount point and working directory of every step.
    package static let workspacePath = "/workspace"
    /// The image's unprivileged user `ci`.
    package static let user = "1000:1000"
    package static let home = "/home/ci"
    /// PID 1 of the run's container: does nothing, forever, so that steps can be exec'd into it. The engine's
    /// init (`HostConfig.Init`: tini for Docker, catatonit for Podman) reaps what steps leave behind.
    package static let keepAliveCommand = ["sleep", "infinity"]
    /// Every container Pushbox creates carries this label, so a restarted daemon can find leftovers.
    package static let managedLabel = "pushbox.managed"
    package static let runLabel = "pushbox.run"

    /// Labels of the run's container: the run's own, `pushbox.run`, and `pushbox.managed=1`.
    package static func labels(for run: RunSpec) -> [String: String] {
        run.labels.merging([runLabel: String(run.runID), managedLabel: "1"]) { _, pushbox in pushbox }
    }

    /// `POST /containers/create` body for the run's long-lived container. Deterministic (sorted keys).
    /// `none`: only `lo` (autofix containers reach the model proxy through a `LoopbackForwarder` on it);
    /// `egress`: Pushbox's own bridge, firewalled away from the host and link-local addresses (`EgressNetwork`).
    static func networkMode(_ mode: NetworkMode) -> String {
        switch mode {
        case .none: "none"
        case .egress: EgressNetwork.name
        }
    }

    /// An egress container has no IPv6 at all: its network is IPv4 only, and a link-local IPv6 address would
    /// reach the host's services around the firewall (which matches the network's IPv4 subnet).
    static func sysctls(_ mode: NetworkMode) -> [String: String]? {
        mode == .egress ? ["net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"] : nil
    }

    package static func createBody(for run: RunSpec, command: [String] = keepAliveCommand, engine: EngineFlavor) -> Data {
        let memory = run.resources.memoryBytes
        let body = CreateBody(
            image: run.image,
            cmd: command,
            workingDir: workspacePath,
            user: user,
            env: environment(run.environment),
            labels: labels(for: run),
            hostConfig: HostConfig(
                binds: ["\(run.workspace.path):\(workspacePath):rw"]
                    + run.mounts.map { "\($0.hostPath):\($0.sandboxPath):\($0.readOnly ? "ro" : "rw")" },
                networkMode: networkMode(run.network),
                readonlyRootfs: true,
                tmpfs: [
                    "/tmp": "rw,nosuid,nodev,size=\(memory),mode=1777",
                    "/var/tmp": "rw,nosuid,nodev,size=\(memory),mode=1777",
                    home: "rw,nosuid,nodev,size=\(memory),mode=0755," + ownerOption(engine),
                ].merging(homeParents(of: run.mounts).map { ($0, "rw,nosuid,nodev,size=\(memory),mode=0755," + ownerOption(engine)) }) { a, _ in a },
                capDrop: ["ALL"],
                securityOpt: ["no-new-privileges"],
                memory: memory,
                memorySwap: memory,
                nanoCpus: Int64((run.resources.cpus * 1e9).rounded()),
                pidsLimit: Int64(run.resources.pids),
                initProcess: true,
                sysctls: sysctls(run.network)))
        return encode(body)
    }

    /// `POST /containers/{id}/exec` body: the step's command line through `/bin/sh -c`, as the `ci` user in
    /// the workspace, output multiplexed (no TTY). The environment is the container's (set at create).
    package static func execBody(command: String) -> Data {
        encode(ExecBody(cmd: ["/bin/sh", "-c", command], user: user, workingDir: workspacePath))
    }

    /// `KEY=value` lines in key order, for a stable body.
    package static func environment(_ variables: [String: String]) -> [String] {
        variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// The directories between the home and each mount point below it (`~/go`, `~/go/pkg` for
    /// `~/go/pkg/mod`). The engine would create them owned by root on the home's tmpfs, where the `ci` user
    /// could then not add siblings (`~/.cache/pip` next to a mounted `~/.cache/go-build`); a tmpfs of the
    /// `ci` user at each keeps them writable. Mounts under `/workspace` need none: the runner creates their
    /// parents in the host's workspace before handing it over.
    package static func homeParents(of mounts: [RunMount]) -> [String] {
        var parents = Set<String>()
        for mount in mounts where mount.sandboxPath.hasPrefix(home + "/") {
            var parts = mount.sandboxPath.dropFirst(home.count + 1).split(separator: "/").dropLast()
            while !parts.isEmpty {
                parents.insert(home + "/" + parts.joined(separator: "/"))
                parts = parts.dropLast()
            }
        }
        return parents.sorted()
    }

    /// `/home/ci` must belong to the `ci` user. Podman rejects the kernel's `uid=`/`gid=` tmpfs options
    /// ("unknown mount option") and offers `U` (chown to the container user); Docker passes `uid=`/`gid=`
    /// through to the kernel and knows no `U`.
    private static func ownerOption(_ engine: EngineFlavor) -> String {
        switch engine {
        case .podman: "U"
        case .docker: "uid=1000,gid=1000"
        }
    }

    /// The `repo` under which an image named `name` is imported. Podman names API imports `docker.io/…`
    /// but resolves a short name to `localhost/…` first (where `podman import` puts it), so an import
    /// there gets an explicit `localhost/` to stay the image that `name` finds. Docker keeps the name.
    package static func importRepository(for name: String, engine: EngineFlavor) -> String {
        guard engine == .podman else { return name }
        let first = name.split(separator: "/", maxSplits: 1).first.map(String.init) ?? name
        let hasRegistry = name.contains("/") && (first.contains(".") || first.contains(":") || first == "localhost")
        return hasRegistry ? name : "localhost/" + name
    }

    /// `changes` for importing a root filesystem tar as an image.
    package static func importChanges(definitionHash: String) -> [String] {
        [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            #"CMD ["/bin/bash"]"#,
            "LABEL \(ImageDefinition.hashLabel)=\(definitionHash)",
        ]
    }

    private static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value)
        } catch {
            // Strings, integers, booleans, arrays and dictionaries of them always encode.
            preconditionFailure("encoding a request body failed: \(error)")
        }
    }
}

private struct CreateBody: Encodable {
    var image: String
    var cmd: [String]
    var workingDir: String
    var user: String
    var env: [String]
    var labels: [String: String]
    var hostConfig: HostConfig

    enum CodingKeys: String, CodingKey {
        case image = "Image", cmd = "Cmd", workingDir = "WorkingDir", user = "User", env = "Env"
        case labels = "Labels", hostConfig = "HostConfig"
    }
}

private struct HostConfig: Encodable {
    var binds: [String]
    var networkMode: String
    var readonlyRootfs: Bool
    var tmpfs: [String: String]
    var capDrop: [String]
    var securityOpt: [String]
    var memory: Int64
    var memorySwap: Int64
    var nanoCpus: Int64
    var pidsLimit: Int64
    var initProcess: Bool
    var sysctls: [String: String]?

    enum CodingKeys: String, CodingKey {
        case binds = "Binds", networkMode = "NetworkMode", readonlyRootfs = "ReadonlyRootfs", tmpfs = "Tmpfs"
        case capDrop = "CapDrop", securityOpt = "SecurityOpt", memory = "Memory", memorySwap = "MemorySwap"
        case nanoCpus = "NanoCpus", pidsLimit = "PidsLimit", initProcess = "Init", sysctls = "Sysctls"
    }
}

private struct ExecBody: Encodable {
    var cmd: [String]
    var user: String
    var workingDir: String
    var attachStdin = false
    var attachStdout = true
    var attachStderr = true
    var tty = false

    enum CodingKeys: String, CodingKey {
        case cmd = "Cmd", user = "User", workingDir = "WorkingDir", attachStdin = "AttachStdin"
        case attachStdout = "AttachStdout", attachStderr = "AttachStderr", tty = "Tty"
    }
}
