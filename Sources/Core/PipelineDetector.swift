/// A pipeline chosen from the files of a tree that has no `.pushbox.yml`.
package struct DetectedPipeline: Sendable, Equatable {
    /// Short name of what was recognised ("make", "python", "node", …).
    package var kind: String
    /// The file that made the choice.
    package var marker: String
    package var spec: PipelineSpec

    /// For the note: `detected: make (Makefile)`.
    package var summary: String { "\(kind) (\(marker))" }
}

/// Chooses steps for a tree without `.pushbox.yml`. Markers are checked in this documented order, first
/// match wins: Makefile, package.json, pyproject.toml / setup.py, Cargo.toml, go.mod, Package.swift,
/// CMakeLists.txt. A Makefile comes first because a project that has one usually wraps its own tool
/// chain in it. Pure: the caller passes the top-level names and a way to read a small file.
package enum PipelineDetector {
    package static func detect(topLevel names: Set<String>, read: (String) -> String?) -> DetectedPipeline? {
        func pipeline(_ kind: String, _ marker: String, _ steps: [Step]) -> DetectedPipeline {
            DetectedPipeline(kind: kind, marker: marker, spec: PipelineSpec(steps: steps))
        }
        for makefile in ["GNUmakefile", "Makefile", "makefile"] where names.contains(makefile) {
            var steps = [Step(name: "build", run: "make")]
            if let text = read(makefile), hasMakeTarget("test", in: text) {
                steps.append(Step(name: "test", run: "make test"))
            } else if let text = read(makefile), hasMakeTarget("check", in: text) {
                steps.append(Step(name: "test", run: "make check"))
            }
            return pipeline("make", makefile, steps)
        }
        if names.contains("package.json") {
            let install = names.contains("package-lock.json") || names.contains("npm-shrinkwrap.json") ? "npm ci" : "npm install"
            return pipeline("node", "package.json", [Step(name: "install", run: install), Step(name: "test", run: "npm test")])
        }
        for marker in ["pyproject.toml", "setup.py"] where names.contains(marker) {
            return pipeline("python", marker, [
                Step(name: "install", run: "python3 -m pip install --user --no-build-isolation . || echo 'pushbox: install failed; testing from the checkout'"),
                Step(name: "test", run: "PYTHONPATH=\"$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}\" python3 -m pytest"),
            ])
        }
        if names.contains("Cargo.toml") {
            return pipeline("rust", "Cargo.toml", [Step(name: "build", run: "cargo build"), Step(name: "test", run: "cargo test")])
        }
        if names.contains("go.mod") {
            return pipeline("go", "go.mod", [Step(name: "build", run: "go build ./..."), Step(name: "test", run: "go test ./...")])
        }
        if names.contains("Package.swift") {
            return pipeline("swift", "Package.swift", [Step(name: "build", run: "swift build"), Step(name: "test", run: "swift test")])
        }
        if names.contains("CMakeLists.txt") {
            return pipeline("cmake", "CMakeLists.txt", [
                Step(name: "configure", run: "cmake -S . -B build"),
                Step(name: "build", run: "cmake --build build"),
                Step(name: "test", run: "cd build && ctest --output-on-failure"),
            ])
        }
        return nil
    }

    /// The message of an `error` run whose tree has neither `.pushbox.yml` nor a known marker.
    package static let nothingDetectedMessage = """
        no .pushbox.yml and nothing to detect (looked for Makefile, package.json, pyproject.toml, setup.py, \
        Cargo.toml, go.mod, Package.swift, CMakeLists.txt); add a .pushbox.yml such as:
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
