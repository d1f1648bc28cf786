import Core
import Foundation
import Testing

struct DetectCase: Sendable, CustomTestStringConvertible {
    var name: String
    var files: [String: String]
    var kind: String
    var marker: String
    var runs: [String]
    var stepNames: [String]?

    init(_ name: String, _ files: [String: String], _ kind: String, _ marker: String, _ runs: [String], names: [String]? = nil) {
        self.name = name
        self.files = files
        self.kind = kind
        self.marker = marker
        self.runs = runs
        self.stepNames = names
    }

    var testDescription: String { name }
}

private let withTest = "all:\n\tcc -o app main.c\n\ntest: all\n\t./app --selftest\n"
private let withoutTest = "all:\n\tcc -o app main.c\n"
private let withCheck = "all:\n\tcc -o app main.c\ncheck:\n\t./app --check\n"

@Suite("PipelineDetector")
struct PipelineDetectorTests {
    static let markerCases: [DetectCase] = [
        .init("Makefile with a test target", ["Makefile": withTest, "README.md": ""], "make", "Makefile",
              ["make", "make test"], names: ["build", "test"]),
        .init("Makefile without a test target", ["Makefile": withoutTest], "make", "Makefile", ["make"], names: ["build"]),
        .init("Makefile with only a check target", ["Makefile": withCheck], "make", "Makefile",
              ["make", "make check"], names: ["build", "test"]),
        .init("Makefile with both test and check", ["Makefile": withCheck + withTest], "make", "Makefile",
              ["make", "make test"]),
        .init("GNUmakefile", ["GNUmakefile": withTest], "make", "GNUmakefile", ["make", "make test"]),
        .init("lower-case makefile", ["makefile": withoutTest], "make", "makefile", ["make"]),
        .init("GNUmakefile wins over Makefile (as in make)", ["GNUmakefile": withoutTest, "Makefile": withTest],
              "make", "GNUmakefile", ["make"]),
        .init("package.json without a lockfile", ["package.json": "{}"], "node", "package.json",
              ["npm install", "npm test"], names: ["install", "test"]),
        .init("package.json with package-lock.json", ["package.json": "{}", "package-lock.json": "{}"], "node", "package.json",
              ["npm ci", "npm test"]),
        .init("package.json with npm-shrinkwrap.json", ["package.json": "{}", "npm-shrinkwrap.json": "{}"], "node",
              "package.json", ["npm ci", "npm test"]),
        .init("yarn.lock is not an npm lockfile", ["package.json": "{}", "yarn.lock": ""], "node", "package.json",
              ["npm install", "npm test"]),
        .init("Cargo.toml", ["Cargo.toml": ""], "rust", "Cargo.toml", ["cargo build", "cargo test"], names: ["build", "test"]),
        .init("go.mod", ["go.mod": ""], "go", "go.mod", ["go build ./...", "go test -v ./..."]),
        .init("pom.xml", ["pom.xml": ""], "java", "pom.xml", ["mvn -B test"], names: ["test"]),
        .init("CMakeLists.txt", ["CMakeLists.txt": ""], "cmake", "CMakeLists.txt",
              ["cmake -S . -B build", "cmake --build build --parallel", "cd build && ctest --output-on-failure"],
              names: ["configure", "build", "test"]),
    ]

    static let images = ["make": "pushbox/debian:bookworm", "node": "pushbox/node:bookworm", "rust": "pushbox/rust:bookworm",
                         "go": "pushbox/go:bookworm", "java": "pushbox/java:bookworm", "cmake": "pushbox/debian:bookworm",
                         "python": "pushbox/debian:bookworm"]

    @Test("each marker", arguments: markerCases)
    func marker(_ c: DetectCase) throws {
        let detected = try #require(PipelineDetector.detect(topLevel: Set(c.files.keys), read: { c.files[$0] }))
        #expect(detected.kind == c.kind)
        #expect(detected.marker == c.marker)
        #expect(detected.summary == "\(c.kind) (\(c.marker))")
        #expect(detected.spec.steps.map(\.run) == c.runs)
        if let names = c.stepNames { #expect(detected.spec.steps.map(\.name) == names) }
        #expect(detected.spec.image == Self.images[c.kind])
        #expect(detected.spec.branches == ["*"])
        #expect(detected.spec.cache == nil, "a detected pipeline caches its image's default")
        #expect(detected.spec.effectiveCache == LanguageImages.defaultCache(image: detected.spec.image).map {
            $0.replacingOccurrences(of: "~", with: "/home/ci")
        })
        // Detected step names must be valid step names (they become log file names).
        #expect(detected.spec.steps.allSatisfy { PipelineParser.isStepName($0.name) })
    }

    @Test("java reads JUnit from surefire's reports")
    func javaJUnit() throws {
        let detected = try #require(PipelineDetector.detect(topLevel: ["pom.xml"], read: { _ in "" }))
        #expect(detected.spec.steps.last?.junit == "target/surefire-reports/*.xml")
    }

    @Test("python markers", arguments: ["pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "conftest.py", "test_app.py", "app_test.py"])
    func python(_ marker: String) throws {
        let detected = try #require(PipelineDetector.detect(topLevel: [marker, "README.md"], read: { _ in "" }))
        #expect(detected.kind == "python")
        #expect(detected.marker == marker)
        #expect(detected.spec.image == "pushbox/debian:bookworm")
        #expect(detected.spec.steps.map(\.name) == ["install", "test"])
        #expect(detected.spec.steps[1].run.contains("-m pytest"))
        #expect(detected.spec.steps[1].run.contains("$PWD/src"), "src layouts are importable")
        #expect(detected.spec.steps[0].run.contains("--no-index"), "the install never waits for a network it does not have")
        #expect(detected.spec.steps[0].run.contains("testing from the checkout"), "a failed install is not an error")
    }

    @Test("python tests in tests/ or test/ are a marker; other files there are not")
    func pythonTestDirectories() throws {
        let tree = DetectionTree(topLevel: ["tests", "README"], read: { _ in nil }, list: { $0 == "tests" ? ["helpers.py", "test_calc.py"] : nil })
        let detected = try #require(PipelineDetector.detect(tree))
        #expect(detected.summary == "python (tests/test_calc.py)")
        let notTests = DetectionTree(topLevel: ["test", "README"], read: { _ in nil }, list: { _ in ["fixture.json", "helpers.py"] })
        #expect(PipelineDetector.detect(notTests) == nil)
    }

    /// The documented order, first match wins.
    static let priority = ["package.json", "go.mod", "Cargo.toml", "pom.xml", "pyproject.toml", "setup.py", "setup.cfg", "pytest.ini",
                           "conftest.py", "CMakeLists.txt", "Makefile"]
    static let kinds = ["node", "go", "rust", "java", "python", "python", "python", "python", "python", "cmake", "make"]

    @Test("documented priority: with markers from position i on, the i-th wins", arguments: 0..<11)
    func priorityOrder(_ i: Int) throws {
        let names = Set(Self.priority[i...])
        let detected = try #require(PipelineDetector.detect(topLevel: names, read: { _ in withTest }))
        #expect(detected.marker == Self.priority[i])
        #expect(detected.kind == Self.kinds[i])
    }

    @Test("documented priority: the higher marker beats each lower one", arguments: [
        ("package.json", "Makefile"), ("go.mod", "Makefile"), ("Cargo.toml", "CMakeLists.txt"), ("CMakeLists.txt", "Makefile"),
        ("package.json", "pyproject.toml"), ("pyproject.toml", "setup.py"), ("go.mod", "Cargo.toml"), ("Cargo.toml", "pom.xml"),
        ("pom.xml", "pyproject.toml"), ("setup.py", "CMakeLists.txt"), ("test_x.py", "CMakeLists.txt"),
    ])
    func pairwise(_ winner: String, _ loser: String) throws {
        let detected = try #require(PipelineDetector.detect(topLevel: [loser, winner], read: { _ in "" }))
        #expect(detected.marker == winner)
    }

    @Test("nothing detectable gives nil", arguments: [
        Set<String>(), ["README.md"], ["src", "docs", "LICENSE"], ["Makefile.am"], ["makefile.txt"], ["package.json5"],
        ["build.gradle"], ["requirements.txt"], ["Package.swift"], ["test.py"], ["tests"],
    ])
    func nothing(_ names: Set<String>) {
        #expect(PipelineDetector.detect(topLevel: names, read: { _ in "test:\n" }) == nil)
    }

    @Test("an unreadable Makefile still builds, without a test step")
    func unreadableMakefile() throws {
        let detected = try #require(PipelineDetector.detect(topLevel: ["Makefile"], read: { _ in nil }))
        #expect(detected.spec.steps == [Step(name: "build", run: "make")])
    }

    @Test("only the marker file is read")
    func readsOnlyMarker() throws {
        var reads: [String] = []
        _ = PipelineDetector.detect(topLevel: ["Makefile", "README.md"], read: { reads.append($0); return withTest })
        #expect(Set(reads) == ["Makefile"])
        reads = []
        _ = PipelineDetector.detect(topLevel: ["Makefile", "package.json"], read: { reads.append($0); return withTest })
        #expect(reads.isEmpty, "package.json wins without reading anything")
    }

    @Test("the nothing-detected message names every marker and shows a pipeline that parses")
    func nothingMessage() throws {
        let message = PipelineDetector.nothingDetectedMessage
        for marker in Self.priority { #expect(message.contains(marker)) }
        #expect(message.contains("tests/test_*.py"))
        let yaml = String(message[try #require(message.range(of: "such as:\n")).upperBound...])
        let spec = try PipelineParser.parse(yaml)
        #expect(spec.steps.map(\.run) == ["make", "make test"])
    }

    static let targetCases: [(String, String, Bool)] = [
        ("rule with a recipe", "test:\n\tgo test ./...\n", true),
        ("rule with a prerequisite", "test: build\n", true),
        ("space before the colon", "test : build\n", true),
        ("double-colon rule", "test::\n\t./a\n", true),
        ("rule among others", "all: app\napp: main.o\n\tcc\ntest: app\n\t./app -t\n", true),
        ("several targets on one rule line", "check test: app\n\t./app -t\n", true),
        ("CRLF line endings", "all:\r\n\tcc\r\ntest: all\r\n\t./t\r\n", true),
        (".PHONY declaration plus the rule", ".PHONY: all test\nall:\n\tcc\ntest:\n\t./t\n", true),
        (".PHONY declaration alone", ".PHONY: test\nall:\n\tcc\n", false),
        ("immediate assignment :=", "test := value\n", false),
        ("immediate assignment without spaces", "test:=value\n", false),
        ("recursive assignment", "test = value\n", false),
        ("conditional assignment", "test ?= value\n", false),
        ("tab-indented recipe line", "all:\n\ttest: not a rule\n", false),
        ("recipe line that mentions test", "all:\n\t$(MAKE) test\n", false),
        ("longer target starting with test", "testing:\n\t./t\n", false),
        ("target ending with test", "unit-test:\n\t./t\n", false),
        ("target with a suffix", "test.o: test.c\n", false),
        ("only a check target", "check:\n\t./t\n", false),
        ("variable reference", "all: $(test)\n", false),
        ("empty Makefile", "", false),
    ]

    @Test("hasMakeTarget", arguments: targetCases)
    func hasMakeTarget(_ name: String, _ makefile: String, _ expected: Bool) {
        #expect(PipelineDetector.hasMakeTarget("test", in: makefile) == expected, "\(name)")
    }

    static let misdetectedTargets: [(String, String)] = [
        ("a comment line", "# test: runs the whole suite\nall:\n\tcc\n"),
        ("POSIX ::= assignment", "test ::= value\n"),
        ("an assignment whose value has a colon", "test = http://localhost:8080\n"),
    ]

    @Test("hasMakeTarget: lines that are not rules", arguments: misdetectedTargets)
    func notRules(_ name: String, _ makefile: String) {
        #expect(PipelineDetector.hasMakeTarget("test", in: makefile) == false, "\(name)")
    }
}
