import Foundation

/// Container resource limits of a run (`.pushbox.yml` `resources:`).
package struct Resources: Sendable, Equatable, Codable {
    /// CPUs as a fraction (1.5 = one and a half cores).
    package var cpus: Double
    package var memoryBytes: Int64
    package var pids: Int

    package init(cpus: Double = 2, memoryBytes: Int64 = 2 << 30, pids: Int = 1024) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.pids = pids
    }
}

/// `network: none` (default: only `lo` inside) or `network: egress` (the engine's default network).
package enum NetworkMode: String, Sendable, Equatable, Codable {
    case none, egress
}

/// `.pushbox.yml` `autofix:`.
package struct AutofixSettings: Sendable, Equatable {
    package var enabled: Bool = true
    package var maxAttempts: Int?
    package var protect: [String] = []
    /// `allow_test_edits: true` lets a fix edit test files (never the files that decide what runs, and
    /// every test must still run: `TestIdentity`).
    package var allowTestEdits: Bool = false
    package init() {}
}

/// `.pushbox.yml` `flaky:`: what a run whose failing step passes on its re-run ends as.
package enum FlakyPolicy: String, Sendable, Equatable, CaseIterable {
    /// The run stays `failed`; its note says it was flaky (the default).
    case fail
    /// The run is `passed`; its note says the step failed first.
    case pass
}

/// One entry of `.pushbox.yml` `vms:`.
package struct VMEntry: Sendable, Equatable {
    package var profile: String
    package var run: String?
    package var timeout: Duration?
    package init(profile: String, run: String? = nil, timeout: Duration? = nil) {
        self.profile = profile
        self.run = run
        self.timeout = timeout
    }
}

/// `.pushbox.yml` `artifacts:`: files of the workspace kept with the run after the steps.
package struct ArtifactSettings: Sendable, Equatable {
    /// When artifacts are collected, by the outcome of the steps.
    package enum When: String, Sendable, Equatable, CaseIterable {
        case always, success, failure
    }
    /// Globs relative to the workspace (`dist/*.tar.gz`, `build/**/*.log`).
    package var paths: [String] = []
    package var when: When = .always
    package init(paths: [String] = [], when: When = .always) {
        self.paths = paths
        self.when = when
    }

    /// Whether artifacts are collected after steps that `passed`.
    package func collects(afterPassing passed: Bool) -> Bool {
        switch when {
        case .always: true
        case .success: passed
        case .failure: !passed
        }
    }
}

/// The typed form of a repository's `.pushbox.yml` (or of a detected pipeline).
package struct PipelineSpec: Sendable, Equatable {
    package static let defaultImage = "pushbox/debian:bookworm"
    package static let defaultTimeout: Duration = .seconds(20 * 60)

    package var image: String = PipelineSpec.defaultImage
    /// Globs of branch names (without `refs/heads/`) that trigger runs.
    package var branches: [String] = ["*"]
    package var env: [String: String] = [:]
    /// Names of environment variables of the runner passed to steps and masked in logs.
    package var secrets: [String] = []
    package var timeout: Duration = PipelineSpec.defaultTimeout
    package var resources = Resources()
    package var network: NetworkMode = .none
    package var steps: [Step] = []
    package var autofix = AutofixSettings()
    package var flaky: FlakyPolicy = .fail
    package var vms: [VMEntry] = []
    /// `cache:`: container paths kept between runs (`~/.npm`, `/workspace/target`); nil when the file does
    /// not say, which means the image's language default (`effectiveCache`).
    package var cache: [String]?
    package var artifacts = ArtifactSettings()

    package init(steps: [Step] = []) {
        self.steps = steps
    }

    /// The cached container paths: `cache:` as given, else the language default of the image, with `~`
    /// expanded to the step user's home.
    package var effectiveCache: [String] {
        (cache ?? LanguageImages.defaultCache(image: image)).map { path in
            path == "~" ? Self.home : path.hasPrefix("~/") ? Self.home + path.dropFirst(1) : path
        }
    }

    /// The step user's home directory in every job image.
    package static let home = "/home/ci"

    /// Whether a push to `branch` (short name) triggers a run.
    package func triggers(branch: String) -> Bool {
        branches.contains { Glob.matches($0, branch) }
    }
}

/// Shell-style glob matching for branch filters and file patterns: `*` (any run of characters except
/// `/` when `pathAware`), `**` (anything, `/` included), `?`, and literal characters.
package enum Glob {
    package static func matches(_ pattern: String, _ name: String, pathAware: Bool = false) -> Bool {
        let p = Array(pattern.unicodeScalars), s = Array(name.unicodeScalars)
        // Names and patterns come from pushes; refuse sizes whose table would be large.
        guard p.count <= 1024, s.count <= 4096 else { return false }
        var memo = [Int8](repeating: -1, count: (p.count + 1) * (s.count + 1))
        return match(p, 0, s, 0, pathAware, &memo)
    }

    /// Memoised on (pi, si), so the work is bounded by pattern length × name length.
    private static func match(_ p: [Unicode.Scalar], _ pi: Int, _ s: [Unicode.Scalar], _ si: Int, _ pathAware: Bool,
                              _ memo: inout [Int8]) -> Bool {
        let key = pi * (s.count + 1) + si
        if memo[key] >= 0 { return memo[key] == 1 }
        let result: Bool
        if pi == p.count {
            result = si == s.count
        } else if p[pi] == "*" {
            let doubleStar = pi + 1 < p.count && p[pi + 1] == "*"
            let next = pi + (doubleStar ? 2 : 1)
            if doubleStar, next < p.count, p[next] == "/", match(p, next + 1, s, si, pathAware, &memo) {
                // "**/" also matches zero directories.
                result = true
            } else if match(p, next, s, si, pathAware, &memo) {
                // The star matches nothing.
                result = true
            } else if si < s.count && !(pathAware && !doubleStar && s[si] == "/") {
                // The star takes one more character.
                result = match(p, pi, s, si + 1, pathAware, &memo)
            } else {
                result = false
            }
        } else if si < s.count && (p[pi] == "?" ? !(pathAware && s[si] == "/") : p[pi] == s[si]) {
            result = match(p, pi + 1, s, si + 1, pathAware, &memo)
        } else {
            result = false
        }
        memo[key] = result ? 1 : 0
        return result
    }
}
