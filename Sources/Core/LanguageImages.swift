/// The shipped job images (`sandbox/<dir>/definition.yml`) and the package caches of each: what a pipeline
/// caches when its `.pushbox.yml` has no `cache:` (or it was detected). Pure data.
package enum LanguageImages {
    package static let base = PipelineSpec.defaultImage
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
}
