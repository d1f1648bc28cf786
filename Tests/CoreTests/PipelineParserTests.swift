import Core
import Foundation
import Testing

// MARK: - The DESIGN §4 example

/// The pipeline file of DESIGN §4, verbatim.
private let designExample = """
    image: pushbox/debian:bookworm
    branches: ["*"]                 # globs of branches that trigger runs
    env: {CI: "true"}
    secrets: [DEPLOY_TOKEN]         # taken from the runner's environment; masked in logs; never sent to the model
    timeout: 20m
    resources: {cpus: 2, memory: 2g, pids: 1024}
    network: none                   # none | egress
    steps:
      - {name: build, run: make}
      - {name: test,  run: make test, junit: "build/test-results/*.xml"}
    autofix: {enabled: true, max_attempts: 3, protect: [".pushbox.yml", "tests/**"]}
    vms:
      - {profile: linux-x86_64,  run: make test}
      - {profile: linux-aarch64, run: make test}
    """

@Suite("PipelineParser: valid files")
struct PipelineParserValidTests {
    @Test("the DESIGN §4 example parses to the documented values")
    func designExampleParses() throws {
        let spec = try PipelineParser.parse(designExample)
        #expect(spec.image == "pushbox/debian:bookworm")
        #expect(spec.branches == ["*"])
        #expect(spec.env == ["CI": "true"])
        #expect(spec.secrets == ["DEPLOY_TOKEN"])
        #expect(spec.timeout == .seconds(1200))
        #expect(spec.resources.cpus == 2)
        #expect(spec.resources.memoryBytes == 2 * 1024 * 1024 * 1024)
        #expect(spec.resources.pids == 1024)
        #expect(spec.network == .none)
        #expect(spec.steps == [
            Step(name: "build", run: "make"),
            Step(name: "test", run: "make test", junit: "build/test-results/*.xml"),
        ])
        #expect(spec.autofix.enabled == true)
        #expect(spec.autofix.maxAttempts == 3)
        #expect(spec.autofix.protect == [".pushbox.yml", "tests/**"])
        #expect(spec.vms == [
            VMEntry(profile: "linux-x86_64", run: "make test"),
            VMEntry(profile: "linux-aarch64", run: "make test"),
        ])
        #expect(spec.triggers(branch: "main"))
        #expect(spec.triggers(branch: "feature/x"))
    }

    @Test("values that differ from every default are all read")
    func nonDefaultValues() throws {
        let spec = try PipelineParser.parse("""
            image: registry.example:5000/team/img@sha256:abc
            branches: main
            env:
              GOFLAGS: -mod=vendor
              _X1: "1"
            secrets: NPM_TOKEN
            timeout: 1h30m
            resources:
              cpus: 1.5
              memory: 512m
              pids: 256
            network: egress
            steps:
              - name: unit.tests-1
                run: |
                  make
                  make test
            autofix: false
            vms:
              - windows-11
              - {profile: linux-aarch64, timeout: 45m}
            """)
        #expect(spec.image == "registry.example:5000/team/img@sha256:abc")
        #expect(spec.branches == ["main"])
        #expect(spec.env == ["GOFLAGS": "-mod=vendor", "_X1": "1"])
        #expect(spec.secrets == ["NPM_TOKEN"])
        #expect(spec.timeout == .seconds(5400))
        #expect(spec.resources == Resources(cpus: 1.5, memoryBytes: 512 << 20, pids: 256))
        #expect(spec.network == .egress)
        #expect(spec.steps == [Step(name: "unit.tests-1", run: "make\nmake test\n")])
        #expect(spec.autofix.enabled == false)
        #expect(spec.autofix.maxAttempts == nil)
        #expect(spec.vms == [VMEntry(profile: "windows-11"), VMEntry(profile: "linux-aarch64", timeout: .seconds(2700))])
        #expect(spec.triggers(branch: "main"))
        #expect(!spec.triggers(branch: "dev"))
    }

    @Test("only `steps:` given: every other field takes its default")
    func defaults() throws {
        let spec = try PipelineParser.parse("steps: [make]\n")
        var expected = PipelineSpec(steps: [Step(name: "step1", run: "make")])
        expected.image = PipelineSpec.defaultImage
        #expect(spec == expected)
        #expect(spec.image == "pushbox/debian:bookworm")
        #expect(spec.timeout == .seconds(20 * 60))
        #expect(spec.branches == ["*"])
        #expect(spec.network == .none)
        #expect(spec.autofix.enabled)
    }

    @Test("cache: paths as given, ~ expanded; absent means the image's language default; [] means none")
    func cache() throws {
        let spec = try PipelineParser.parse("cache: [~/.npm, /workspace/target, /home/ci/.cache/pip]\nsteps: [make]\n")
        #expect(spec.cache == ["~/.npm", "/workspace/target", "/home/ci/.cache/pip"])
        #expect(spec.effectiveCache == ["/home/ci/.npm", "/workspace/target", "/home/ci/.cache/pip"])
        let node = try PipelineParser.parse("image: pushbox/node:bookworm\nsteps: [npm test]\n")
        #expect(node.cache == nil && node.effectiveCache == ["/home/ci/.npm"])
        let rust = try PipelineParser.parse("image: pushbox/rust:bookworm\nsteps: [cargo test]\n")
        #expect(rust.effectiveCache == ["/home/ci/.cargo/registry", "/home/ci/.cargo/git"])
        let off = try PipelineParser.parse("image: pushbox/node:bookworm\ncache: []\nsteps: [npm test]\n")
        #expect(off.cache == [] && off.effectiveCache.isEmpty)
        let foreign = try PipelineParser.parse("image: example/tool:1\nsteps: [x]\n")
        #expect(foreign.effectiveCache.isEmpty, "an image Pushbox does not know has no default cache")
    }

    @Test("artifacts: a list of globs (when: always), or paths with when:")
    func artifacts() throws {
        let list = try PipelineParser.parse("artifacts: [dist, \"build/**/*.log\"]\nsteps: [make]\n")
        #expect(list.artifacts == ArtifactSettings(paths: ["dist", "build/**/*.log"], when: .always))
        let mapping = try PipelineParser.parse("artifacts: {paths: [out/app], when: failure}\nsteps: [make]\n")
        #expect(mapping.artifacts == ArtifactSettings(paths: ["out/app"], when: .failure))
        #expect(mapping.artifacts.collects(afterPassing: false) && !mapping.artifacts.collects(afterPassing: true))
        #expect(ArtifactSettings(paths: ["a"], when: .success).collects(afterPassing: true))
        #expect(ArtifactSettings(paths: ["a"]).collects(afterPassing: false) && ArtifactSettings(paths: ["a"]).collects(afterPassing: true))
        #expect(try PipelineParser.parse("steps: [make]\n").artifacts.paths.isEmpty)
    }

    @Test("scalar steps `- make test` are accepted and named by position")
    func scalarSteps() throws {
        let spec = try PipelineParser.parse("""
            steps:
              - make
              - make test
              - {name: lint, run: make lint}
              - ./scripts/ci.sh --all
            """)
        #expect(spec.steps == [
            Step(name: "step1", run: "make"),
            Step(name: "step2", run: "make test"),
            Step(name: "lint", run: "make lint"),
            Step(name: "step4", run: "./scripts/ci.sh --all"),
        ])
    }

    @Test("a step without a name is named by position")
    func unnamedMappingStep() throws {
        let spec = try PipelineParser.parse("steps:\n  - run: make\n  - {run: make test, junit: out/*.xml}\n")
        #expect(spec.steps == [Step(name: "step1", run: "make"), Step(name: "step2", run: "make test", junit: "out/*.xml")])
    }

    @Test("exactly 100 steps are accepted")
    func hundredSteps() throws {
        let yaml = "steps:\n" + (1...100).map { "  - {name: s\($0), run: echo \($0)}\n" }.joined()
        let spec = try PipelineParser.parse(yaml)
        #expect(spec.steps.count == 100)
        #expect(spec.steps.last == Step(name: "s100", run: "echo 100"))
    }

    @Test("a file exactly at the 1 MiB limit is not rejected for its size")
    func fileAtLimit() throws {
        let head = "steps: [make]\n"
        let padding = String(repeating: "#", count: (1 << 20) - head.utf8.count - 1) + "\n"
        let text = head + padding
        #expect(text.utf8.count == 1 << 20)
        #expect(try PipelineParser.parse(text).steps == [Step(name: "step1", run: "make")])
    }
}

// MARK: - Error cases, each located

struct ParseErrorCase: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var line: Int
    /// Explicit column, or the column where `at` first occurs in `line`.
    var column: Int
    var contains: [String]

    init(_ name: String, _ yaml: String, line: Int, column: Int, _ contains: String...) {
        self.name = name
        self.yaml = yaml
        self.line = line
        self.column = column
        self.contains = contains
    }

    /// Locates the error at the first occurrence of `at` in line `line` (1-based columns).
    init(_ name: String, _ yaml: String, line: Int, at token: String, _ contains: String...) {
        self.name = name
        self.yaml = yaml
        self.line = line
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let text = String(lines[line - 1])
        let range = text.range(of: token)!
        self.column = text.distance(from: text.startIndex, to: range.lowerBound) + 1
        self.contains = contains
    }

    var testDescription: String { name }
}

let parseErrorCases: [ParseErrorCase] = [
    .init("unknown top-level key with a suggestion", """
        image: pushbox/debian:bookworm
        stpes:
          - make
        """, line: 2, column: 1, "unknown key \"stpes\"", "did you mean \"steps\"?", "expected one of: image, branches"),
    .init("unknown top-level key without a near match", "steps: [make]\nservices: {db: postgres}\n",
          line: 2, column: 1, "unknown key \"services\" in the pipeline"),
    .init("cache as a mapping", "steps: [make]\ncache: {paths: [x]}\n", line: 2, column: 8, "cache must be a list, found a mapping"),
    .init("cache outside home and workspace", "steps: [make]\ncache: [/usr/lib]\n", line: 2, column: 8, "\"/usr/lib\" must be a directory below ~/ or /workspace/"),
    .init("cache escaping with ..", "steps: [make]\ncache: [~/../../etc]\n", line: 2, column: 8, "without '.', '..'"),
    .init("cache naming the workspace itself", "steps: [make]\ncache: [/workspace]\n", line: 2, column: 8, "must be a directory below"),
    .init("cache relative", "steps: [make]\ncache: [node_modules]\n", line: 2, column: 8, "must be a directory below"),
    .init("cache with a bind option", "steps: [make]\ncache: [\"~/x:ro\"]\n", line: 2, column: 8, "':'"),
    .init("cache nested", "steps: [make]\ncache: [~/.cargo, ~/.cargo/registry]\n", line: 2, column: 8, "/home/ci/.cargo/registry is inside /home/ci/.cargo"),
    .init("cache twice", "steps: [make]\ncache: [~/.npm, /home/ci/.npm]\n", line: 2, column: 8, "twice"),
    .init("artifacts absolute", "steps: [make]\nartifacts: [/etc/passwd]\n", line: 2, column: 12, "must be a glob relative to the workspace"),
    .init("artifacts escaping", "steps: [make]\nartifacts: [../secrets]\n", line: 2, column: 12, "without '.', '..'"),
    .init("artifacts when unknown", "steps: [make]\nartifacts: {paths: [a], when: sometimes}\n", line: 2, column: 31, "always, success or failure"),
    .init("artifacts mapping without paths", "steps: [make]\nartifacts: {when: always}\n", line: 2, column: 12, "needs paths:"),
    .init("steps as a string", "image: a/b\nsteps: make test\n",
          line: 2, at: "make", "steps must be a list", "found \"make test\""),
    .init("env as a list", "env:\n  - CI=true\nsteps: [make]\n",
          line: 2, at: "-", "env must be a mapping", "found a list"),
    .init("env with an invalid variable name", "env: {\"1ABC\": x}\nsteps: [make]\n",
          line: 1, at: "{", "\"1ABC\" is not a valid environment variable name"),
    .init("secrets with an invalid variable name", "secrets: [GOOD, bad-name]\nsteps: [make]\n",
          line: 1, at: "[", "\"bad-name\" is not a valid environment variable name"),
    .init("bad duration", "steps: [make]\ntimeout: 20 minutes\n",
          line: 2, at: "20", "timeout must be a duration", "found \"20 minutes\""),
    .init("zero duration", "steps: [make]\ntimeout: 0s\n",
          line: 2, at: "0s", "timeout must be a duration", "found \"0s\""),
    .init("bad memory", "steps: [make]\nresources: {cpus: 2, memory: lots, pids: 64}\n",
          line: 2, at: "lots", "resources.memory must be a size", "found \"lots\""),
    .init("memory below the 6m floor", "steps: [make]\nresources:\n  memory: 1m\n",
          line: 3, at: "1m", "resources.memory must be at least 6m"),
    .init("cpus out of range", "steps: [make]\nresources: {cpus: 0}\n",
          line: 2, at: "0}", "resources.cpus must be between 0.01 and 512.0, found 0.0"),
    .init("pids not a number", "steps: [make]\nresources: {pids: many}\n",
          line: 2, at: "many", "resources.pids must be a whole number", "found \"many\""),
    .init("unknown resources key with a suggestion", "steps: [make]\nresources: {cpu: 2}\n",
          line: 2, at: "cpu", "unknown key \"cpu\" in resources", "did you mean \"cpus\"?"),
    .init("bad network value", "steps: [make]\nnetwork: host\n",
          line: 2, at: "host", "network must be none or egress, found \"host\""),
    .init("duplicate step names", """
        steps:
          - {name: build, run: make}
          - {name: build, run: make again}
        """, line: 3, at: "{", "two steps are named \"build\""),
    .init("an explicit name equal to an earlier positional name", """
        steps:
          - make
          - name: step1
            run: make test
        """, line: 3, at: "name", "two steps are named \"step1\""),
    .init("step without run", "steps:\n  - make\n  - {name: test}\n",
          line: 3, at: "{", "step 2 needs `run:`"),
    .init("step with an empty run", "steps:\n  - {name: test, run: \"  \"}\n",
          line: 2, at: "\"  \"", "step 1 run must not be empty"),
    .init("step with an unknown key", "steps:\n  - {name: test, command: make}\n",
          line: 2, at: "command", "unknown key \"command\" in step 1"),
    .init("invalid step name (path)", "steps:\n  - {name: ../etc/passwd, run: make}\n",
          line: 2, at: "{", "step name \"../etc/passwd\" may use only letters, digits"),
    .init("invalid step name (space)", "steps:\n  - {name: unit tests, run: make}\n",
          line: 2, at: "{", "step name \"unit tests\""),
    .init("invalid step name (leading dot)", "steps:\n  - {name: .hidden, run: make}\n",
          line: 2, at: "{", "step name \".hidden\""),
    .init("invalid step name (65 characters)", "steps:\n  - {name: \(String(repeating: "a", count: 65)), run: make}\n",
          line: 2, at: "{", "at most 64"),
    .init("a step that is a list", "steps:\n  - [make, test]\n",
          line: 2, at: "[", "step 1 must be a mapping", "found a list"),
    .init("no steps key", "image: a/b\nnetwork: none\n",
          line: 1, column: 1, "the pipeline has no `steps:`"),
    .init("empty steps list", "steps: []\n",
          line: 1, at: "[", "steps must list at least one step"),
    .init("a list at the top", "- make\n- make test\n",
          line: 1, column: 1, "the pipeline must be a mapping", "found a list"),
    .init("a bare scalar at the top", "make test\n",
          line: 1, column: 1, "the pipeline must be a mapping"),
    .init("invalid image reference", "image: \"not an image!\"\nsteps: [make]\n",
          line: 1, at: "\"", "image \"not an image!\" is not a valid image reference"),
    .init("autofix.max_attempts out of range", "steps: [make]\nautofix: {max_attempts: 11}\n",
          line: 2, at: "11", "autofix.max_attempts must be between 1 and 10, found 11"),
    .init("autofix not a boolean", "steps: [make]\nautofix: sometimes\n",
          line: 2, at: "sometimes", "autofix must be true or false"),
    .init("vms entry without a profile", "steps: [make]\nvms:\n  - {run: make test}\n",
          line: 3, at: "{", "vms entry 1 needs `profile:`"),
    .init("vms profile that is a path", "steps: [make]\nvms:\n  - {profile: ../../etc/passwd}\n",
          line: 3, at: "{", "vms entry 1: \"../../etc/passwd\" is not a profile name"),
    .init("vms scalar profile that is a path", "steps: [make]\nvms: [a/b]\n",
          line: 2, at: "a/b", "vms entry 1: \"a/b\" is not a profile name"),
    .init("vms profile listed twice", "steps: [make]\nvms:\n  - linux-x86_64\n  - {profile: linux-x86_64, run: make check}\n",
          line: 4, at: "{", "two vms entries use profile linux-x86_64"),
    .init("a network mode that does not exist", "network: host-loopback\nsteps: [make]\n",
          line: 1, at: "host-loopback", "network must be none or egress, found \"host-loopback\""),
    .init("null image", "image: ~\nsteps: [make]\n",
          line: 1, at: "~", "image must be a string, found nothing (null)"),
]

@Suite("PipelineParser: errors are located")
struct PipelineParserErrorTests {
    @Test(arguments: parseErrorCases)
    func located(_ c: ParseErrorCase) throws {
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(c.yaml) }
        guard let error else { return }
        #expect(error.file == ".pushbox.yml")
        #expect(error.line == c.line, "\(error)")
        #expect(error.column == c.column, "\(error)")
        for fragment in c.contains {
            #expect(error.message.contains(fragment), "\(error.message) should contain \(fragment)")
        }
        #expect(error.description.hasPrefix(".pushbox.yml:\(c.line):\(c.column): "))
    }

    @Test("more than 100 steps are rejected at the steps list")
    func tooManySteps() throws {
        let yaml = "image: a/b\nsteps:\n" + (1...101).map { "  - echo \($0)\n" }.joined()
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(yaml) }
        #expect(error?.line == 3)
        #expect(error?.column == 3)
        #expect(error?.message == "steps has 101 entries; the limit is 100")
    }

    @Test("the file name passed in is the one reported")
    func fileName() throws {
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse("network: x\nsteps: [a]", file: "repo/.pushbox.yml") }
        #expect(error?.description == "repo/.pushbox.yml:1:10: network must be none or egress, found \"x\"")
    }

    @Test("empty files", arguments: ["", "\n\n", "# only a comment\n", "   \n  \n"])
    func empty(_ text: String) throws {
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(text) }
        #expect(error?.line == 0)
        #expect(error?.message.contains("the file is empty") == true)
        #expect(error?.description == ".pushbox.yml: the file is empty; it needs at least `steps:`")
    }

    @Test("an empty document (`---` and nothing else) is an empty file", arguments: ["---\n", "---\n# all commented out\n"])
    func emptyDocument(_ text: String) throws {
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(text) }
        #expect(error?.message.contains("the file is empty") == true, "\(String(describing: error))")
    }

    @Test("a YAML syntax error (unclosed bracket) is located and says invalid YAML")
    func unclosedBracket() throws {
        let yaml = "image: a/b\nsteps: [make, make test\nnetwork: none\n"
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(yaml) }
        guard let error else { return }
        #expect(error.message.hasPrefix("invalid YAML: "))
        #expect(error.message.contains("flow sequence"), "\(error.message)")
        // libyaml notices the missing `]` when `network:` starts the next mapping entry.
        #expect(error.line == 3, "\(error)")
        #expect(error.column == 8, "\(error)")
    }

    @Test("a YAML syntax error (bad indentation) is located")
    func badIndentation() throws {
        let yaml = "steps:\n  - make\n - make test\n"
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(yaml) }
        #expect(error?.message.hasPrefix("invalid YAML: ") == true)
        #expect(error?.line == 3, "\(String(describing: error))")
    }

    @Test("an undefined alias is located")
    func undefinedAlias() throws {
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse("steps:\n  - *nope\n") }
        #expect(error?.message.contains("undefined alias") == true)
        #expect(error?.line == 2)
        #expect(error?.column == 5)
    }

    @Test("a file over the 1 MiB limit is rejected before parsing")
    func hugeFile() throws {
        let text = "steps: [make]\n" + String(repeating: "# padding padding padding\n", count: 45_000)
        #expect(text.utf8.count > 1 << 20)
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(text) }
        #expect(error?.line == 0)
        #expect(error?.message == "file is \(text.utf8.count) bytes; the limit is 1048576 bytes")
    }

    /// Nine levels of ten aliases each: 10^9 leaves if anything expanded the tree.
    static func aliasBomb(final: String) -> String {
        var lines = ["l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
        for level in 1...8 {
            lines.append("l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ",") + "]")
        }
        lines.append(final)
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("an alias bomb in value position returns an error without expanding", arguments: [
        "steps: *l8",
        "branches: *l8",
        "env: {A: *l8}",
        "vms: *l8",
        "autofix: {protect: *l8}",
    ])
    func aliasBombValue(_ final: String) throws {
        let yaml = Self.aliasBomb(final: final)
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(yaml) }
        #expect(error != nil)
    }

    @Test("an alias bomb where only allowed keys lead to it returns an error without expanding", arguments: [
        "steps: *b8", "env: {A: *b8}", "branches: *b8", "secrets: *b8",
    ])
    func aliasBombAllowedKeys(_ final: String) throws {
        // The anchors hide inside a list of `vms:` entries, so the first top-level key is allowed.
        var lines = ["vms:", "  - &b0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
        for level in 1...8 {
            lines.append("  - &b\(level) [" + Array(repeating: "*b\(level - 1)", count: 10).joined(separator: ",") + "]")
        }
        lines.append(final)
        let yaml = lines.joined(separator: "\n") + "\n"
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(yaml) }
        #expect(error != nil)
    }

    /// Yams checks mapping keys for duplicates by hashing them, and hashing a node walks the whole tree an
    /// alias stands for: a bomb used as a key is expanded. Run in a child process that an alarm stops.
    @Test("an alias bomb used as a mapping key returns an error without expanding")
    func aliasBombKey() async {
        await #expect(processExitsWith: .success) {
            alarm(5)
            var lines = ["l0: &l0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
            for level in 1...8 {
                lines.append("l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ",") + "]")
            }
            lines.append("? *l8\n: x")
            _ = try? PipelineParser.parse(lines.joined(separator: "\n") + "\n")
            exit(0)
        }
    }

    @Test("two top-level keys with the same name are rejected and located")
    func duplicateTopLevelKey() throws {
        let yaml = "steps: [make]\nimage: a/b\nsteps: [make test]\n"
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(yaml) }
        #expect(error?.message.contains("steps") == true)
        #expect(error?.line ?? 0 > 0, "\(String(describing: error))")
    }

    @Test("a positional step name may not collide with an earlier explicit name")
    func positionalNameCollision() throws {
        let yaml = "steps:\n  - {name: step2, run: make}\n  - make test\n"
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(yaml) }
        #expect(error?.message.contains("two steps are named \"step2\"") == true)
    }
}

@Suite("PipelineParser: deep nesting")
struct PipelineParserNestingTests {
    @Test("deeply nested flow and block YAML is an error with a location, not a stack overflow", arguments: [
        "steps: " + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000) + "\n",
        "steps: " + String(repeating: "{a: ", count: 100_000) + "1" + String(repeating: "}", count: 100_000) + "\n",
        (0..<1_200).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " x\n",
    ])
    func deepNesting(text: String) {
        let error = #expect(throws: SpecError.self) { try PipelineParser.parse(text) }
        #expect(error?.message == "YAML nested more than 1000 levels deep", "\(error?.message ?? "")")
        #expect((error?.line ?? 0) >= 1)
    }
}
