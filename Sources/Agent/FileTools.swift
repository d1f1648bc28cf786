import Foundation
import Logging

/// Directories that `list_files` shows but does not expand and `search` skips, unless asked for by path.
let unexpandedDirectories: Set<String> = [".git", "node_modules", ".build", "__pycache__", ".venv", ".gradle"]

/// Whether `data` looks binary: a NUL byte in its first 8000 bytes (git's rule).
func looksBinary(_ data: Data) -> Bool {
    data.prefix(8000).contains(0)
}

/// `list_files {path?}`: the files and directories under `path` (default: the root), recursively,
/// directories with a trailing `/`, sorted, bounded.
package struct ListFilesTool: AgentTool {
    let workspace: Workspace
    let limits: ToolLimits

    package init(workspace: Workspace, limits: ToolLimits = ToolLimits()) {
        self.workspace = workspace
        self.limits = limits
    }

    package var definition: ToolDefinition {
        ToolDefinition(
            name: "list_files",
            description: "List the files and directories under a directory of the workspace, recursively (directories end with '/'; .git, node_modules and build directories are not expanded). Paths are relative to the workspace root.",
            inputSchema: objectSchema([("path", "string", "Directory relative to the workspace root; default: the root.")], required: []))
    }

    package func run(_ input: JSONValue, logger: Logger) async throws -> ToolOutput {
        try input.checkObject()
        let requested = try input.optionalString("path") ?? "."
        let start = try workspace.resolve(requested.isEmpty ? "." : requested)
        switch try workspace.kind(of: start) {
        case .directory: break
        case .file: return ToolOutput(start.relative)
        default: throw ToolFailure("\(requested) is not a directory")
        }
        var lines: [String] = []
        var truncated = false
        func walk(_ directory: WorkspacePath) throws {
            for entry in try workspace.entries(of: directory) {
                if lines.count >= limits.maxListEntries {
                    truncated = true
                    return
                }
                let path = WorkspacePath(components: directory.components + [entry.name])
                switch entry.kind {
                case .directory:
                    if unexpandedDirectories.contains(entry.name) {
                        lines.append(path.relative + "/ (not expanded)")
                    } else {
                        lines.append(path.relative + "/")
                        try walk(path)
                    }
                case .symlink: lines.append(path.relative + " (symlink)")
                case .file, .other: lines.append(path.relative)
                }
            }
        }
        try walk(start)
        if lines.isEmpty { return ToolOutput("(\(start.relative) is empty)") }
        if truncated {
            lines.append("[listing stopped at \(limits.maxListEntries) entries; list a subdirectory to see more]")
        }
        return ToolOutput(lines.joined(separator: "\n"))
    }
}

/// `read_file {path, start_line?, end_line?}`: the file's lines numbered like `cat -n`, bounded.
package struct ReadFileTool: AgentTool {
    let workspace: Workspace
    let limits: ToolLimits

    package init(workspace: Workspace, limits: ToolLimits = ToolLimits()) {
        self.workspace = workspace
        self.limits = limits
    }

    package var definition: ToolDefinition {
        ToolDefinition(
            name: "read_file",
            description: "Read a text file of the workspace. Lines are numbered from 1 (number, tab, text). Use start_line and end_line (inclusive) for a part of a long file; at most \(limits.maxReadLines) lines are returned per call.",
            inputSchema: objectSchema([
                ("path", "string", "File path relative to the workspace root."),
                ("start_line", "integer", "First line to return (1-based); default 1."),
                ("end_line", "integer", "Last line to return (inclusive); default: the end of the file."),
            ], required: ["path"]))
    }

    package func run(_ input: JSONValue, logger: Logger) async throws -> ToolOutput {
        try input.checkObject()
        let requested = try input.requiredString("path")
        let startLine = try input.optionalInt("start_line") ?? 1
        let endLine = try input.optionalInt("end_line")
        guard startLine >= 1 else { throw ToolFailure("start_line must be 1 or more") }
        if let endLine, endLine < startLine { throw ToolFailure("end_line (\(endLine)) is before start_line (\(startLine))") }
        let path = try workspace.resolve(requested)
        let (data, size) = try workspace.readFile(path, limit: limits.maxReadBytes)
        if looksBinary(data) { throw ToolFailure("\(path.relative) is a binary file (\(size) bytes); not shown") }
        if size == 0 { return ToolOutput("(\(path.relative) is empty)") }
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        let total = lines.count
        guard startLine <= total else {
            throw ToolFailure("start_line \(startLine) is past the end of \(path.relative) (\(total) lines)")
        }
        let last = min(endLine ?? total, total, startLine + limits.maxReadLines - 1)
        var output = ""
        for number in startLine...last {
            var line = lines[number - 1]
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.count > limits.maxLineLength { line = line.prefix(limits.maxLineLength) + "… [line cut]" }
            output += String(number).leftPadded(to: 6) + "\t" + line + "\n"
        }
        var notes: [String] = []
        if last < (endLine.map { min($0, total) } ?? total) {
            notes.append("[lines \(startLine)-\(last) of \(total) shown; pass start_line/end_line for more]")
        }
        if size > data.count {
            notes.append("[the file has \(size) bytes; only the first \(data.count) are readable with read_file — use search or run_command for the rest]")
        }
        return ToolOutput(output + notes.joined(separator: "\n"))
    }
}

/// `search {pattern, path?}`: lines matching a regular expression (NSRegularExpression syntax) in the text
/// files under `path`, as `path:line: text`, bounded; binary files, large files and .git are skipped.
package struct SearchTool: AgentTool {
    let workspace: Workspace
    let limits: ToolLimits

    package init(workspace: Workspace, limits: ToolLimits = ToolLimits()) {
        self.workspace = workspace
        self.limits = limits
    }

    package var definition: ToolDefinition {
        ToolDefinition(
            name: "search",
            description: "Search the text files of the workspace for a regular expression (ICU syntax, case-sensitive; use (?i) for case-insensitive). Returns matching lines as path:line: text, at most \(limits.maxSearchResults). Binary files, files over \(limits.maxSearchFileBytes >> 10) KiB and .git are skipped.",
            inputSchema: objectSchema([
                ("pattern", "string", "Regular expression to look for, matched against each line."),
                ("path", "string", "File or directory to search, relative to the workspace root; default: the root."),
            ], required: ["pattern"]))
    }

    package func run(_ input: JSONValue, logger: Logger) async throws -> ToolOutput {
        try input.checkObject()
        let pattern = try input.requiredString("pattern")
        guard !pattern.isEmpty else { throw ToolFailure("pattern must not be empty") }
        let regex: NSRegularExpression
        do {
            regex = try NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])
        } catch {
            throw ToolFailure("invalid regular expression \(pattern): \(error.localizedDescription)")
        }
        let requested = try input.optionalString("path") ?? "."
        let start = try workspace.resolve(requested.isEmpty ? "." : requested)
        var results: [String] = []
        var skipped = 0
        var full = false

        func searchFile(_ path: WorkspacePath) throws {
            let data: Data, size: Int
            do {
                (data, size) = try workspace.readFile(path, limit: limits.maxSearchFileBytes)
            } catch is ToolFailure {
                skipped += 1
                return
            }
            if size > data.count || looksBinary(data) {
                skipped += 1
                return
            }
            let text = String(decoding: data, as: UTF8.self)
            var number = 0
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                number += 1
                let string = String(line)
                let range = NSRange(string.startIndex..., in: string)
                guard regex.firstMatch(in: string, options: [], range: range) != nil else { continue }
                guard results.count < limits.maxSearchResults else {
                    full = true
                    return
                }
                var shown = string.hasSuffix("\r") ? String(string.dropLast()) : string
                if shown.count > limits.maxLineLength { shown = shown.prefix(limits.maxLineLength) + "… [line cut]" }
                results.append("\(path.relative):\(number): \(shown)")
            }
        }

        func walk(_ directory: WorkspacePath) throws {
            for entry in try workspace.entries(of: directory) {
                if full { return }
                try Task.checkCancellation()
                let path = WorkspacePath(components: directory.components + [entry.name])
                switch entry.kind {
                case .directory where !unexpandedDirectories.contains(entry.name): try walk(path)
                case .file: try searchFile(path)
                default: continue
                }
            }
        }

        switch try workspace.kind(of: start) {
        case .directory: try walk(start)
        case .file: try searchFile(start)
        default: throw ToolFailure("\(requested) is neither a file nor a directory")
        }
        if results.isEmpty {
            return ToolOutput("no matches for \(pattern) in \(start.relative)" + (skipped > 0 ? " (\(skipped) binary or large files skipped)" : ""))
        }
        if full { results.append("[stopped at \(limits.maxSearchResults) matches; narrow the pattern or the path]") }
        return ToolOutput(results.joined(separator: "\n"))
    }
}

/// `edit_file {path, old_text, new_text}`: replaces the one exact occurrence of `old_text`.
package struct EditFileTool: AgentTool {
    let workspace: Workspace
    /// Larger files are refused (edits go through memory).
    let maxFileBytes: Int

    package init(workspace: Workspace, maxFileBytes: Int = 8 << 20) {
        self.workspace = workspace
        self.maxFileBytes = maxFileBytes
    }

    package var definition: ToolDefinition {
        ToolDefinition(
            name: "edit_file",
            description: "Replace text in a file of the workspace. old_text must occur exactly once in the file, character for character (whitespace and indentation included; no line numbers); include enough surrounding lines to make it unique. Protected files (the pipeline file, tests) cannot be edited.",
            inputSchema: objectSchema([
                ("path", "string", "File path relative to the workspace root."),
                ("old_text", "string", "The exact text to replace; must occur exactly once."),
                ("new_text", "string", "The replacement text."),
            ], required: ["path", "old_text", "new_text"]))
    }

    package func run(_ input: JSONValue, logger: Logger) async throws -> ToolOutput {
        try input.checkObject()
        let requested = try input.requiredString("path")
        let oldText = try input.requiredString("old_text")
        let newText = try input.requiredString("new_text")
        guard !oldText.isEmpty else { throw ToolFailure("old_text must not be empty (use write_file to create a file)") }
        guard oldText != newText else { throw ToolFailure("old_text and new_text are identical; nothing to change") }
        let path = try workspace.resolve(requested)
        try workspace.checkWritable(path, requested: requested)
        let (data, size) = try workspace.readFile(path, limit: maxFileBytes)
        guard size <= data.count else { throw ToolFailure("\(path.relative) is too large to edit (\(size) bytes); use write_file or run_command") }
        if looksBinary(data) { throw ToolFailure("\(path.relative) is a binary file") }
        let haystack = [UInt8](data), needle = [UInt8](oldText.utf8)
        let positions = Self.occurrences(of: needle, in: haystack, limit: 20)
        switch positions.count {
        case 0:
            var hint = ""
            let trimmed = oldText.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty, !Self.occurrences(of: [UInt8](trimmed.utf8), in: haystack, limit: 1).isEmpty {
                hint = " (it does occur without its leading/trailing whitespace: check indentation and line ends)"
            }
            throw ToolFailure("old_text was not found in \(path.relative)\(hint). Read the file again and copy the text exactly.")
        case 1:
            let start = positions[0]
            let result = Data(haystack[..<start]) + Data(newText.utf8) + Data(haystack[(start + needle.count)...])
            try workspace.writeFile(path, result, requested: requested)
            let line = haystack[..<start].reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            let oldLines = oldText.split(separator: "\n", omittingEmptySubsequences: false).count
            let newLines = newText.split(separator: "\n", omittingEmptySubsequences: false).count
            return ToolOutput("edited \(path.relative): replaced \(oldLines) line(s) at line \(line) with \(newLines) line(s)")
        default:
            let lines = positions.map { start in haystack[..<start].reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } }
            let count = positions.count >= 20 ? "20 or more" : "\(positions.count)"
            throw ToolFailure("old_text occurs \(count) times in \(path.relative) (at lines \(lines.map(String.init).joined(separator: ", "))); include more surrounding text so that it matches exactly once")
        }
    }

    /// Start offsets of every occurrence (overlapping ones too), at most `limit`.
    static func occurrences(of needle: [UInt8], in haystack: [UInt8], limit: Int) -> [Int] {
        guard !needle.isEmpty, needle.count <= haystack.count else { return [] }
        var found: [Int] = []
        let first = needle[0]
        var offset = 0
        // glibc's memmem needs _GNU_SOURCE, which Swift does not define: find the first byte, then compare.
        while offset + needle.count <= haystack.count, found.count < limit {
            guard let candidate = haystack[offset...(haystack.count - needle.count)].firstIndex(of: first) else { break }
            if haystack[candidate..<(candidate + needle.count)].elementsEqual(needle) { found.append(candidate) }
            offset = candidate + 1
        }
        return found
    }
}

/// `write_file {path, content}`: creates or replaces a file (missing directories are created).
package struct WriteFileTool: AgentTool {
    let workspace: Workspace
    let limits: ToolLimits

    package init(workspace: Workspace, limits: ToolLimits = ToolLimits()) {
        self.workspace = workspace
        self.limits = limits
    }

    package var definition: ToolDefinition {
        ToolDefinition(
            name: "write_file",
            description: "Create a file of the workspace, or replace its whole content. Prefer edit_file for changes to an existing file. Protected files (the pipeline file, tests) cannot be written.",
            inputSchema: objectSchema([
                ("path", "string", "File path relative to the workspace root; missing directories are created."),
                ("content", "string", "The complete new content of the file."),
            ], required: ["path", "content"]))
    }

    package func run(_ input: JSONValue, logger: Logger) async throws -> ToolOutput {
        try input.checkObject()
        let requested = try input.requiredString("path")
        let content = try input.requiredString("content")
        let data = Data(content.utf8)
        guard data.count <= limits.maxWriteBytes else {
            throw ToolFailure("content is \(data.count) bytes; at most \(limits.maxWriteBytes) can be written")
        }
        let path = try workspace.resolve(requested, mustExist: false)
        // Missing parent directories mean a new file (they are created by the write).
        let existing = (try? workspace.kind(of: path)) ?? nil
        if existing == .directory { throw ToolFailure("\(path.relative) is a directory") }
        try workspace.writeFile(path, data, requested: requested)
        return ToolOutput("\(existing == nil ? "created" : "replaced") \(path.relative) (\(data.count) bytes)")
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
