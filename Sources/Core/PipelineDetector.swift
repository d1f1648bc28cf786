/// A pipeline chosen from the files of a tree that has no `.pushbox.yml`.
package struct DetectedPipeline: Sendable, Equatable {
    /// Short name of what was recognised ("node", "go", "python", "make", …).
    package var kind: String
    /// The file that made the choice (`package.json`, `tests/test_app.py`).
    package var marker: String
    package var spec: PipelineSpec

    /// For the note: `detected: node (package.json)`.
    package var summary: String { "\(kind) (\(marker))" }
}

/// What detection may look at in the pushed tree. Pure: the caller backs it with the commit's tree.
package struct DetectionTree {
    /// The names of the entries of the top level.
    package var topLevel: Set<String>
    /// The content of a small file (nil when absent, unreadable or too big).
    package var read: (String) -> String?
    /// The entry names of a directory (nil when it is not a directory).
    package var list: (String) -> [String]?

    package init(topLevel: Set<String>, read: @escaping (String) -> String?, list: @escaping (String) -> [String]? = { _ in nil }) {
        self.topLevel = topLevel
        self.read = read
        self.list = list
    }
}

/// Chooses image and steps for a tree without `.pushbox.yml`. Markers are checked in this documented
/// order, first match wins (docs/configuration.md, "Detection"):
///
/// 1. `package.json` → node: `npm ci` with a lockfile (`package-lock.json`, `npm-shrinkwrap.json`), else
///    `npm install`; then `npm test`.
/// 2. `go.mod` → go: `go build ./...`, `go test -v ./...` (`-v`: the log then has per-test counts).
/// 3. `Cargo.toml` → rust: `cargo build`, `cargo test` (offline: no network by default).
/// 4. `pom.xml` → java: `mvn -B test` (the java image resolves from Debian's packaged Maven repository, so
///    this works without network), JUnit from `target/surefire-reports/`.
/// 5. `pyproject.toml`, `setup.py`, `setup.cfg`, `pytest.ini`, `conftest.py`, top-level `test_*.py` or
///    `*_test.py`, or such files in `tests/` or `test/` → python on the base image: the project is
///    installed into a venv only when that works offline (a failure is reported and testing goes on from
///    the checkout), then `python -m pytest` with `src/` and the checkout on `PYTHONPATH`.
/// 6. `CMakeLists.txt` → cmake on the base image: configure, build, `ctest`.
/// 7. `GNUmakefile`, `Makefile` or `makefile` → make on the base image: `make`, and `make test` (or
///    `make check`) when the Makefile has that target.
///
/// Language markers come before Makefile: a language project's Makefile usually calls that language's
/// tools, which only the language's image has. A detected pipeline caches its language's package
/// directory (`LanguageImages.defaultCache`).
package enum PipelineDetector {
    /// The markers in priority order, as the nothing-detected message lists them.
    package static let markers = ["package.json", "go.mod", "Cargo.toml", "pom.xml", "pyproject.toml", "setup.py", "setup.cfg",
                                  "pytest.ini", "conftest.py", "tests/test_*.py", "CMakeLists.txt", "Makefile"]

    package static func detect(topLevel names: Set<String>, read: @escaping (String) -> String?) -> DetectedPipeline? {
        detect(DetectionTree(topLevel: names, read: read))
    }

    package static func detect(_ tree: DetectionTree) -> DetectedPipeline? {
        let names = tree.topLevel
        func pipeline(_ kind: String, _ marker: String, image: String, env: [String: String] = [:], _ steps: [Step]) -> DetectedPipeline {
            var spec = PipelineSpec(steps: steps)
            spec.image = image
            spec.env = env
            return DetectedPipeline(kind: kind, marker: marker, spec: spec)
        }
        if names.contains("package.json") {
            let install = names.contains("package-lock.json") || names.contains("npm-shrinkwrap.json") ? "npm ci" : "npm install"
            // No audit, funding or update checks: they need the registry, which a run without network lacks.
            let env = ["NPM_CONFIG_AUDIT": "false", "NPM_CONFIG_FUND": "false", "NPM_CONFIG_UPDATE_NOTIFIER": "false",
                       "NPM_CONFIG_PREFER_OFFLINE": "true"]
            return pipeline("node", "package.json", image: LanguageImages.node, env: env,
                            [Step(name: "install", run: install), Step(name: "test", run: "npm test")])
        }
        if names.contains("go.mod") {
            return pipeline("go", "go.mod", image: LanguageImages.go, env: ["GOTOOLCHAIN": "local"],
                            [Step(name: "build", run: "go build ./..."), Step(name: "test", run: "go test -v ./...")])
        }
        if names.contains("Cargo.toml") {
            return pipeline("rust", "Cargo.toml", image: LanguageImages.rust, env: ["CARGO_NET_OFFLINE": "true", "CARGO_TERM_COLOR": "always"],
                            [Step(name: "build", run: "cargo build"), Step(name: "test", run: "cargo test")])
        }
        if names.contains("pom.xml") {
            return pipeline("java", "pom.xml", image: LanguageImages.java,
                            [Step(name: "test", run: "mvn -B test", junit: "target/surefire-reports/*.xml")])
        }
        if let marker = pythonMarker(tree) {
            return pipeline("python", marker, image: LanguageImages.base, env: ["PIP_DISABLE_PIP_VERSION_CHECK": "1"], pythonSteps)
        }
        if names.contains("CMakeLists.txt") {
            return pipeline("cmake", "CMakeLists.txt", image: LanguageImages.base, [
                Step(name: "configure", run: "cmake -S . -B build"),
                Step(name: "build", run: "cmake --build build --parallel"),
                Step(name: "test", run: "cd build && ctest --output-on-failure"),
            ])
        }
        for makefile in ["GNUmakefile", "Makefile", "makefile"] where names.contains(makefile) {
            var steps = [Step(name: "build", run: "make")]
            if let text = tree.read(makefile), hasMakeTarget("test", in: text) {
                steps.append(Step(name: "test", run: "make test"))
            } else if let text = tree.read(makefile), hasMakeTarget("check", in: text) {
                steps.append(Step(name: "test", run: "make check"))
            }
            return pipeline("make", makefile, image: LanguageImages.base, steps)
        }
        return nil
    }

    /// The file that makes a tree a Python project, if any (only `tests/` and `test/` are listed).
    private static func pythonMarker(_ tree: DetectionTree) -> String? {
        for marker in ["pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "conftest.py"] where tree.topLevel.contains(marker) {
            return marker
        }
        if let file = tree.topLevel.sorted().first(where: isPytestFile) { return file }
        for directory in ["tests", "test"] where tree.topLevel.contains(directory) {
            if let file = tree.list(directory)?.sorted().first(where: isPytestFile) { return "\(directory)/\(file)" }
        }
        return nil
    }

    /// pytest's default file patterns: `test_*.py` and `*_test.py`.
    private static func isPytestFile(_ name: String) -> Bool {
        name.hasSuffix(".py") && (name.hasPrefix("test_") || name.hasSuffix("_test.py"))
    }

    /// Install into a venv that sees Debian's pytest, without an index (no network by default) and without
    /// build isolation (the image's setuptools builds it); a project that cannot be installed that way is
    /// tested from the checkout instead of turning the run into an error.
    static let pythonSteps = [
        Step(name: "install", run: """
            python3 -m venv --system-site-packages "$HOME/.venv" && \
            if [ -f pyproject.toml ] || [ -f setup.py ]; then \
            "$HOME/.venv/bin/python" -m pip install --no-index --no-build-isolation --no-deps . \
            || echo "pushbox: the project could not be installed offline (see above); testing from the checkout"; fi
            """),
        Step(name: "test", run: """
            PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" "$HOME/.venv/bin/python" -m pytest
            """),
    ]

    /// The message of an `error` run whose tree has neither `.pushbox.yml` nor a known marker.
    package static let nothingDetectedMessage = """
        no .pushbox.yml and nothing to detect (looked for \(markers.joined(separator: ", "))); \
        add a .pushbox.yml such as:
          image: pushbox/debian:bookworm
          steps:
            - {name: build, run: make}
            - {name: test, run: make test}
        """

    /// Whether a Makefile defines `target` as a rule: `test:`, `test: deps`, `all test:`, `test::`, but not
    /// a variable (`test := x`, `test ::= x`, `test = a:b`), a comment, or a recipe line (tab-indented).
    package static func hasMakeTarget(_ target: String, in makefile: String) -> Bool {
        for raw in makefile.split(whereSeparator: \.isNewline) {
            guard !raw.hasPrefix("\t") else { continue }
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard let colon = line.firstIndex(of: ":") else { continue }
            let before = line[..<colon]
            let after = line[line.index(after: colon)...]
            if before.contains("=") || after.hasPrefix("=") || after.hasPrefix(":=") { continue }
            if before.split(whereSeparator: { $0 == " " || $0 == "\t" }).contains(where: { $0 == target }) { return true }
        }
        return false
    }
}
