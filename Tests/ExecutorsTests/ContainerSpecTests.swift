import Core
import Executors
import Foundation
import Testing

@Suite("ContainerSpec: the create-container and exec bodies")
struct ContainerSpecTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var run: RunSpec
        var engine: EngineFlavor
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "defaults, podman",
            run: RunSpec(runID: 12, image: "pushbox/debian:bookworm", workspace: URL(fileURLWithPath: "/home/u/.pushbox/runs/12/workspace")),
            engine: .podman,
            expected: #"""
            {"Cmd":["sleep","infinity"],"Env":[],"HostConfig":{"Binds":["/home/u/.pushbox/runs/12/workspace:/workspace:rw"],\#
            "CapDrop":["ALL"],"Init":true,"Memory":2147483648,"MemorySwap":2147483648,"NanoCpus":2000000000,\#
            "NetworkMode":"none","PidsLimit":1024,"ReadonlyRootfs":true,"SecurityOpt":["no-new-privileges"],\#
            "Tmpfs":{"/home/ci":"rw,nosuid,nodev,size=2147483648,mode=0755,U",\#
            "/tmp":"rw,nosuid,nodev,size=2147483648,mode=1777","/var/tmp":"rw,nosuid,nodev,size=2147483648,mode=1777"}},\#
            "Image":"pushbox/debian:bookworm","Labels":{"pushbox.managed":"1","pushbox.run":"12"},\#
            "User":"1000:1000","WorkingDir":"/workspace"}
            """#),
        Case(
            name: "egress, limits, env and labels, docker",
            run: RunSpec(
                runID: 7, image: "example/img:1", workspace: URL(fileURLWithPath: "/w"),
                environment: ["CI": "true", "A_TOKEN": "x=y", "PATH_EXTRA": "/opt/bin"],
                resources: Resources(cpus: 1.5, memoryBytes: 64 << 20, pids: 64), network: .egress,
                labels: ["pushbox.home": "/root/.pushbox", "pushbox.run": "spoofed"]),
            engine: .docker,
            expected: #"""
            {"Cmd":["sleep","infinity"],"Env":["A_TOKEN=x=y","CI=true","PATH_EXTRA=/opt/bin"],\#
            "HostConfig":{"Binds":["/w:/workspace:rw"],"CapDrop":["ALL"],"Init":true,"Memory":67108864,\#
            "MemorySwap":67108864,"NanoCpus":1500000000,"NetworkMode":"pushbox-egress","PidsLimit":64,"ReadonlyRootfs":true,\#
            "SecurityOpt":["no-new-privileges"],"Sysctls":{"net.ipv6.conf.all.disable_ipv6":"1","net.ipv6.conf.default.disable_ipv6":"1"},\#
            "Tmpfs":{"/home/ci":"rw,nosuid,nodev,size=67108864,mode=0755,uid=1000,gid=1000",\#
            "/tmp":"rw,nosuid,nodev,size=67108864,mode=1777","/var/tmp":"rw,nosuid,nodev,size=67108864,mode=1777"}},\#
            "Image":"example/img:1","Labels":{"pushbox.home":"/root/.pushbox","pushbox.managed":"1","pushbox.run":"7"},\#
            "User":"1000:1000","WorkingDir":"/workspace"}
            """#),
    ]

    @Test("createBody is deterministic JSON", arguments: cases)
    func createBody(_ testCase: Case) {
        let body = String(decoding: ContainerSpec.createBody(for: testCase.run, engine: testCase.engine), as: UTF8.self)
        #expect(body == testCase.expected)
        // Deterministic: the same input gives the same bytes.
        #expect(ContainerSpec.createBody(for: testCase.run, engine: testCase.engine)
            == ContainerSpec.createBody(for: testCase.run, engine: testCase.engine))
    }

    @Test("network modes: none and pushbox-egress (no mode reaches the host's loopback)", arguments: [
        (NetworkMode.none, "\"NetworkMode\":\"none\""),
        (.egress, "\"NetworkMode\":\"pushbox-egress\""),
    ])
    func networkModes(_ mode: NetworkMode, _ fragment: String) {
        let run = RunSpec(runID: 1, image: "pushbox/claude:bookworm", workspace: URL(fileURLWithPath: "/w"), network: mode)
        #expect(String(decoding: ContainerSpec.createBody(for: run, engine: .podman), as: UTF8.self).contains(fragment))
    }

    @Test("cache mounts: binds after the workspace; a tmpfs of the step user at each parent below the home")
    func cacheMounts() throws {
        var run = RunSpec(runID: 1, image: "i", workspace: URL(fileURLWithPath: "/w"))
        run.mounts = [RunMount(hostPath: "/c/d0", sandboxPath: "/home/ci/go/pkg/mod"),
                      RunMount(hostPath: "/c/d1", sandboxPath: "/home/ci/.npm"),
                      RunMount(hostPath: "/c/d2", sandboxPath: "/workspace/target", readOnly: true)]
        let object = try #require(try JSONSerialization.jsonObject(with: ContainerSpec.createBody(for: run, engine: .podman)) as? [String: Any])
        let host = try #require(object["HostConfig"] as? [String: Any])
        #expect(host["Binds"] as? [String] == ["/w:/workspace:rw", "/c/d0:/home/ci/go/pkg/mod:rw", "/c/d1:/home/ci/.npm:rw",
                                                "/c/d2:/workspace/target:ro"])
        let tmpfs = try #require(host["Tmpfs"] as? [String: String])
        #expect(Set(tmpfs.keys) == ["/tmp", "/var/tmp", "/home/ci", "/home/ci/go", "/home/ci/go/pkg"])
        #expect(tmpfs["/home/ci/go"]?.hasSuffix(",U") == true)
        #expect(ContainerSpec.homeParents(of: [RunMount(hostPath: "/x", sandboxPath: "/home/ci/.cache/pip")]) == ["/home/ci/.cache"])
        #expect(ContainerSpec.homeParents(of: [RunMount(hostPath: "/x", sandboxPath: "/workspace/a/b")]).isEmpty)
    }

    @Test("a custom command replaces the keep-alive command")
    func customCommand() throws {
        let run = RunSpec(runID: 1, image: "i", workspace: URL(fileURLWithPath: "/w"))
        let body = ContainerSpec.createBody(for: run, command: ["true"], engine: .podman)
        let object = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(object["Cmd"] as? [String] == ["true"])
    }

    @Test("execBody runs the step with /bin/sh -c as uid 1000 in /workspace without a TTY")
    func execBody() {
        let body = String(decoding: ContainerSpec.execBody(command: #"echo "a b" | tr a-z A-Z"#), as: UTF8.self)
        #expect(body == #"""
        {"AttachStderr":true,"AttachStdin":false,"AttachStdout":true,"Cmd":["/bin/sh","-c","echo \"a b\" | tr a-z A-Z"],\#
        "Tty":false,"User":"1000:1000","WorkingDir":"/workspace"}
        """#)
    }

    @Test("import repository keeps short names local on podman", arguments: [
        ("pushbox/debian:bookworm", EngineFlavor.podman, "localhost/pushbox/debian:bookworm"),
        ("debian:bookworm", .podman, "localhost/debian:bookworm"),
        ("localhost/pushbox/debian:bookworm", .podman, "localhost/pushbox/debian:bookworm"),
        ("registry.example:5000/pushbox/debian:1", .podman, "registry.example:5000/pushbox/debian:1"),
        ("quay.io/x/y:z", .podman, "quay.io/x/y:z"),
        ("pushbox/debian:bookworm", .docker, "pushbox/debian:bookworm"),
    ])
    func importRepository(_ name: String, _ engine: EngineFlavor, _ expected: String) {
        #expect(ContainerSpec.importRepository(for: name, engine: engine) == expected)
    }

    @Test("import changes set PATH, the default command and the definition label")
    func importChanges() {
        #expect(ContainerSpec.importChanges(definitionHash: "abc") == [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            #"CMD ["/bin/bash"]"#,
            "LABEL pushbox.definition=abc",
        ])
    }
}

@Suite("EngineDiscovery: which engine an explicit setting names")
struct EngineDiscoveryTests {
    @Test("explicit endpoints", arguments: [
        ("auto", [:], nil),
        ("", [:], nil),
        ("auto", ["DOCKER_HOST": "unix:///run/user/1000/docker.sock"], "/run/user/1000/docker.sock"),
        ("unix:///srv/engine.sock", ["DOCKER_HOST": "unix:///other.sock"], "/srv/engine.sock"),
        ("auto", ["DOCKER_HOST": ""], nil),
    ] as [(String, [String: String], String?)])
    func explicit(_ setting: String, _ environment: [String: String], _ expected: String?) throws {
        let found = try EngineDiscovery.explicitEndpoint(setting: setting, environment: environment)
        #expect(found?.endpoint.socketPath == expected)
    }

    @Test("tcp DOCKER_HOST and odd settings are refused with a hint")
    func refused() {
        #expect(throws: EngineDiscoveryError.self) {
            try EngineDiscovery.explicitEndpoint(setting: "auto", environment: ["DOCKER_HOST": "tcp://10.0.0.1:2375"])
        }
        let error = #expect(throws: EngineDiscoveryError.self) {
            try EngineDiscovery.explicitEndpoint(setting: "http://x", environment: [:])
        }
        #expect(error?.message.contains("unix:///") == true)
    }
}

@Suite("ImageDefinition and SHA256")
struct ImageDefinitionTests {
    @Test("SHA-256 test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (String(repeating: "a", count: 1000), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"),
    ])
    func vectors(_ input: String, _ digest: String) {
        #expect(SHA256.hex(Array(input.utf8)) == digest)
    }

    @Test("the definition hash depends on names and contents, not on order")
    func hash() {
        let a = (name: "definition.yml", contents: Data("suite: bookworm\n".utf8))
        let b = (name: "build-rootfs", contents: Data("#!/bin/sh\n".utf8))
        #expect(ImageDefinition.hash(files: [a, b]) == ImageDefinition.hash(files: [b, a]))
        #expect(ImageDefinition.hash(files: [a, b]) != ImageDefinition.hash(files: [a]))
        #expect(ImageDefinition.hash(files: [a, b]) != ImageDefinition.hash(files: [a, (name: "build-rootfs", contents: Data("#!/bin/bash\n".utf8))]))
        // Moving bytes from one file to the next changes the hash.
        #expect(ImageDefinition.hash(files: [(name: "a", contents: Data("xy".utf8)), (name: "b", contents: Data())])
            != ImageDefinition.hash(files: [(name: "a", contents: Data("x".utf8)), (name: "b", contents: Data("y".utf8))]))
        #expect(ImageDefinition.hash(files: [a]).count == 64)
    }

    @Test("the cache file name is safe and carries the hash")
    func cacheFileName() {
        let definition = ImageDefinition(name: "pushbox/debian:bookworm", suite: "bookworm",
                                         definitionHash: "0123456789abcdef0123456789abcdef")
        #expect(definition.cacheFileName() == "pushbox_debian_bookworm-0123456789abcdef.tar")
    }
}

@Suite("EgressNetwork: the firewall rules (pure)")
struct EgressRulesTests {
    @Test("per subnet: DNS to the gateway, nothing else to the host; loopback, link-local and special destinations dropped")
    func rules() {
        let text = EgressNetwork.firewallRules(subnets: [.init(subnet: "10.89.0.0/24", gateway: "10.89.0.1"),
                                                         .init(subnet: "fd00:1::/64", gateway: nil)])
        #expect(text.hasPrefix("table inet pushbox_egress\nflush table inet pushbox_egress\n"), "idempotent: made, emptied, refilled")
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains("ip saddr 10.89.0.0/24 ip daddr 10.89.0.1 udp dport 53 accept"))
        #expect(lines.contains("ip saddr 10.89.0.0/24 drop"))
        #expect(lines.contains("ip saddr 10.89.0.0/24 ip daddr { 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, 240.0.0.0/4 } drop"))
        #expect(lines.contains("ip6 saddr fd00:1::/64 drop"))
        #expect(lines.contains("ip6 saddr fd00:1::/64 ip6 daddr { ::1/128, fe80::/10, fd00:ec2::254/128, ff00::/8 } drop"))
        #expect(lines.contains("ip saddr 10.89.0.0/24 ct status dnat drop"), "no way through a port the host publishes")
        #expect(text.contains("table bridge pushbox_egress {"), "the bridge forwards nothing between egress jobs")
        #expect(lines.contains("ip saddr 10.89.0.0/24 ip daddr 10.89.0.0/24 drop"))
        #expect(!lines.contains { $0.contains("fd00:1::/64") && $0.contains("dport 53") }, "no gateway, no DNS exception")
        // The accept for DNS comes before the drop of everything else from that subnet.
        let accept = lines.firstIndex(of: "ip saddr 10.89.0.0/24 ip daddr 10.89.0.1 tcp dport 53 accept") ?? .max
        #expect(accept < (lines.firstIndex(of: "ip saddr 10.89.0.0/24 drop") ?? 0))
        #expect(lines.contains("type filter hook input priority filter - 10; policy accept;"))
        #expect(lines.contains("type filter hook forward priority filter - 10; policy accept;"))
    }
}
