import CLibGit2
import Foundation

extension Repository {
    /// The unified patch (`git diff` text) from `old` to `new`; with `old` nil, the patch `new` itself
    /// introduced: against its first parent, or against the empty tree for a root commit. Renames are
    /// detected as `git diff` does by default. Stops at a line boundary before `maxBytes` and then ends with
    /// a line `[diff truncated: more than N bytes]`.
    package func diff(from old: ObjectID?, to new: ObjectID, maxBytes: Int) throws -> String {
        let newCommit = try lookupCommit(new)
        let newTree = try Owned<GitTree>.make("git_commit_tree") { git_commit_tree(&$0, newCommit.pointer) }
        var oldTree: Owned<GitTree>?
        if let old {
            oldTree = try rootTree(of: old)
        } else if git_commit_parentcount(newCommit.pointer) > 0 {
            oldTree = try rootTree(of: ObjectID(git_commit_parent_id(newCommit.pointer, 0)))
        }
        var options = git_diff_options()
        try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "git_diff_options_init")
        let diff = try withExtendedLifetime((oldTree, newTree)) {
            try Owned<GitDiff>.make("git_diff_tree_to_tree") {
                git_diff_tree_to_tree(&$0, pointer, oldTree?.pointer, newTree.pointer, &options)
            }
        }
        try check(git_diff_find_similar(diff.pointer, nil), "git_diff_find_similar")

        let collector = PatchCollector(limit: maxBytes)
        let code = withExtendedLifetime(collector) {
            git_diff_print(diff.pointer, GIT_DIFF_FORMAT_PATCH, { _, _, line, payload in
                guard let line, let payload else { return 0 }
                let collector = Unmanaged<PatchCollector>.fromOpaque(payload).takeUnretainedValue()
                return collector.append(line.pointee)
            }, Unmanaged.passUnretained(collector).toOpaque())
        }
        if collector.truncated {
            git_error_clear()
            return String(decoding: collector.bytes, as: UTF8.self) + "[diff truncated: more than \(maxBytes) bytes]\n"
        }
        try check(code, "git_diff_print")
        return String(decoding: collector.bytes, as: UTF8.self)
    }
}

/// Gathers the lines `git_diff_print` hands out, up to a limit.
private final class PatchCollector {
    let limit: Int
    var bytes: [UInt8] = []
    var truncated = false

    init(limit: Int) {
        self.limit = limit
    }

    /// Returns 0 to go on, `GIT_EUSER` to stop the walk when the limit is reached.
    func append(_ line: git_diff_line) -> Int32 {
        let origin = UInt8(bitPattern: line.origin)
        let prefixed = origin == UInt8(ascii: " ") || origin == UInt8(ascii: "+") || origin == UInt8(ascii: "-")
        let length = line.content_len + (prefixed ? 1 : 0)
        guard bytes.count + length <= limit else {
            truncated = true
            return GIT_EUSER.rawValue
        }
        if prefixed {
            bytes.append(origin)
        }
        if line.content_len > 0, let content = line.content {
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: content, count: line.content_len))
        }
        return 0
    }
}
