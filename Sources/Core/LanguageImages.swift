/// The shipped job images (`sandbox/<dir>/definition.yml`) and the package caches of each: what a pipeline
/// caches when its `.pushbox.yml` has no `cache:` (or it was detected). Pure data.
package enum LanguageImages {
    package static let base = "pushbox/debian:bookworm"
    package static let node = "pushbox/node:bookworm"
    package static let go = "pushbox/go:bookworm"
    package static let rust = "pushbox/rust:bookworm"
    package static let java = "pushbox/java:bookworm"

    /// Container paths (`~` is the step user's home, /home/ci) kept between runs of a repository by default.
    package static func defaultCache(image: String) -> [String] {
        switch image {
        case base: ["~/.cache/pip"]
        case node: ["~/.npm"]
        case go: ["~/go/pkg/mod", "~/.cache/go-build"]
        case rust: ["~/.cargo/registry", "~/.cargo/git"]
        case java: ["~/.m2/repository"]
        default: []
        }
    }

    /// The definition directory of a shipped image (`pushbox image build <dir>`), for messages.
    package static func definitionDirectory(image: String) -> String? {
        switch image {
        case base: "debian-bookworm"
        case node: "node-bookworm"
        case go: "go-bookworm"
        case rust: "rust-bookworm"
        case java: "java-bookworm"
        case "pushbox/claude:bookworm": "claude"
        default: nil
        }
    }
}
