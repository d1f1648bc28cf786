// swift-tools-version: 6.0
import PackageDescription

// Module boundaries are those of docs/architecture.md (shared/DESIGN.md §2). The build runs with
// `--explicit-target-dependency-import-check error`, so an import not listed here fails to compile.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "pushbox",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pushbox", targets: ["pushbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CLibGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        .target(name: "Core", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),
        .target(name: "Git", dependencies: ["CLibGit2"], swiftSettings: swiftSettings),
        .target(name: "HTTP", dependencies: ["CCurl"], swiftSettings: swiftSettings),
        .target(name: "Store", dependencies: [
            "Core",
            .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: swiftSettings),
        .target(name: "Executors", dependencies: [
            "Core", "HTTP", "Workspace",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "Agent", dependencies: [
            "Core", "HTTP",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // The key-injecting proxy for the Messages API that autofix containers reach (an HTTP server, so
        // Hummingbird; the forwarding client is HTTP's).
        .target(name: "ModelProxy", dependencies: [
            "Agent", "HTTP",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "Reports", dependencies: [
            "Core", "Git", "HTTP", "COpenSSL",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        // What touches the host's file systems: workspace volumes and files, caches, artifacts, JUnit files,
        // and the one posix_spawn helper (Executors' children use it too).
        .target(name: "Workspace", dependencies: ["Core"], swiftSettings: swiftSettings),
        // The wire types the hook, the CLI and the server share (JSON of the HTTP API, push-output lines).
        .target(name: "API", dependencies: ["Core"], swiftSettings: swiftSettings),
        .target(name: "Pipeline", dependencies: [
            "Core", "Git", "API", "Workspace",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "Server", dependencies: [
            "Core", "API", "Pipeline",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .target(name: "CLI", dependencies: [
            "Core", "API", "Git", "HTTP", "Store", "Workspace", "Executors", "Reports", "Pipeline", "Server", "Agent", "ModelProxy",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "pushbox", dependencies: ["CLI"], swiftSettings: swiftSettings),
        // TestSupport also hosts the fake Anthropic API server, which is an HTTP server (Hummingbird).
        .target(name: "TestSupport", dependencies: [
            "Core", "Git", "Workspace",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ], swiftSettings: swiftSettings),

        .testTarget(name: "CoreTests", dependencies: ["Core"], swiftSettings: swiftSettings),
        .testTarget(name: "GitTests", dependencies: ["Git", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP"], swiftSettings: swiftSettings),
        .testTarget(name: "StoreTests", dependencies: [
            "Store", "Core", .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "ExecutorsTests", dependencies: [
            "Executors", "Core", "HTTP", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "AgentTests", dependencies: [
            "Agent", "Core", "HTTP", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "ModelProxyTests", dependencies: [
            "ModelProxy", "Agent", "Core", "HTTP", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "ServerTests", dependencies: [
            "Server", "API", "Pipeline", "Store", "Core", "TestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "CLITests", dependencies: [
            "CLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Core"], swiftSettings: swiftSettings),
        .testTarget(name: "WorkspaceTests", dependencies: ["Workspace", "Core", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "PipelineTests", dependencies: [
            "Pipeline", "API", "Core", "Store", "Git", "TestSupport", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),
        .testTarget(name: "EndToEndTests", dependencies: [
            "Core", "Git", "TestSupport",
        ], swiftSettings: swiftSettings),
    ]
)

// libFuzzer harnesses (`make fuzz`): only when PUSHBOX_FUZZ=1, because the target has no `main` of its own
// (libFuzzer's comes in with `-sanitize=fuzzer`) and would not link in a normal build.
if Context.environment["PUSHBOX_FUZZ"] == "1" {
    package.products.append(.executable(name: "pushbox-fuzz", targets: ["PushboxFuzz"]))
    package.targets.append(.systemLibrary(name: "CLibFuzzer", path: "Fuzz/Sources/CLibFuzzer"))
    package.targets.append(.executableTarget(
        name: "PushboxFuzz", dependencies: ["CLibFuzzer", "Core", "Pipeline", "Executors", "Reports", "Agent", "Server"],
        path: "Fuzz/Sources/PushboxFuzz", swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]))
}

