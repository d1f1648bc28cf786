import Foundation
import Yams

/// A mistake in a YAML file, located: `.pushbox.yml:4:3: unknown key "stpes" (expected one of: …)`.
package struct SpecError: Error, CustomStringConvertible, Equatable {
    package var file: String
    package var line: Int
    package var column: Int
    package var message: String

    package init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    package var description: String {
        line > 0 ? "\(file):\(line):\(column): \(message)" : "\(file): \(message)"
    }
}

/// Walks a composed YAML tree with positions, so every complaint names file, line and column.
/// Shared by the pipeline file and the runner configuration parsers.
package struct YAMLReader {
    package let file: String

    package init(file: String) { self.file = file }

    /// Composes `text` into a node tree. Sizes are capped before parsing: a pipeline file is small, and
    /// a huge one is an attack or a mistake.
    package func compose(_ text: String, maxBytes: Int = 1 << 20) throws -> Node? {
        guard text.utf8.count <= maxBytes else {
            throw SpecError(file: file, line: 0, column: 0,
                            message: "file is \(text.utf8.count) bytes; the limit is \(maxBytes) bytes")
        }
        let aliases = Self.aliasUses(in: text)
        guard aliases.count <= Self.maxAliases else {
            throw SpecError(file: file, line: 0, column: 0,
                            message: "uses aliases \(aliases.count) times; the limit is \(Self.maxAliases) (anchors and aliases can expand exponentially)")
        }
        if let line = aliases.keyLine {
            // Yams checks keys for duplicates by comparing them expanded: an alias of a nested structure
            // as a key can take forever. Keys are plain names in every pushbox file.
            throw SpecError(file: file, line: line, column: 0, message: "an alias cannot be used as a mapping key")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw locate(error)
        }
        // `---` alone (or only comments) is an empty document, not a null value.
        if case let .scalar(scalar)? = root, scalar.style == .plain, ["", "~", "null"].contains(scalar.string) { return nil }
        return root
    }

    /// More than this many alias uses is refused before parsing: real configuration shares a few blocks,
    /// a "billion laughs" document needs many.
    package static let maxAliases = 100

    /// Counts `*name` tokens that refer to an anchor `&name` defined in the text (a cheap over-estimate:
    /// quoted text that looks like an alias counts too), and finds the first alias used as a key
    /// (`? *name` or `*name :`).
    static func aliasUses(in text: String) -> (count: Int, keyLine: Int?) {
        guard text.contains("&") else { return (0, nil) }
        var anchors = Set<Substring>()
        var uses: [(name: Substring, line: Int, isKey: Bool)] = []
        let bytes = Array(text.utf8)
        let separators = Set(" \t\r\n,[]{}".utf8)
        let tokenStarts = Set(" \t\n[{,:-?".utf8)
        var line = 1
        for (i, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: "\n") { line += 1; continue }
            guard byte == UInt8(ascii: "&") || byte == UInt8(ascii: "*") else { continue }
            // An anchor or alias starts a token: at the beginning or after space or a flow indicator.
            guard i == 0 || tokenStarts.contains(bytes[i - 1]) else { continue }
            var end = i + 1
            while end < bytes.count, !separators.contains(bytes[end]) { end += 1 }
            guard end > i + 1 else { continue }
            let name = Substring(decoding: bytes[(i + 1)..<end], as: UTF8.self)
            if byte == UInt8(ascii: "&") {
                anchors.insert(name)
                continue
            }
            var next = end
            while next < bytes.count, bytes[next] == UInt8(ascii: " ") || bytes[next] == UInt8(ascii: "\t") { next += 1 }
            var previous = i - 1
            while previous >= 0, bytes[previous] == UInt8(ascii: " ") || bytes[previous] == UInt8(ascii: "\t") { previous -= 1 }
            let isKey = (next < bytes.count && bytes[next] == UInt8(ascii: ":")) || (previous >= 0 && bytes[previous] == UInt8(ascii: "?"))
            uses.append((name, line, isKey))
        }
        let real = uses.filter { anchors.contains($0.name) }
        return (real.count, real.first(where: \.isKey)?.line)
    }

    private func locate(_ error: YamlError) -> SpecError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            if problem.contains("Maximum nesting level") {
                // libyaml's own limit (1000 levels), which keeps the composer's recursion off the stack's end.
                return SpecError(file: file, line: mark.line, column: mark.column, message: "YAML nested more than 1000 levels deep")
            }
            let ctx = context.map { "\($0.text) " } ?? ""
            return SpecError(file: file, line: mark.line, column: mark.column, message: "invalid YAML: \(ctx)\(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            return SpecError(file: file, line: context.mark.line, column: context.mark.column,
                             message: "duplicate keys: \(duplicates.joined(separator: ", "))")
        default:
            return SpecError(file: file, line: 0, column: 0, message: "invalid YAML: \(error)")
        }
    }

    package func fail(_ node: Node?, _ message: String) -> SpecError {
        SpecError(file: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0, message: message)
    }

    /// The mapping's entries in file order, after checking every key is one of `allowed`.
    /// The entries of a mapping, in order; `allowed` nil accepts any (string) key.
    package func mapping(_ node: Node, _ what: String, allowed: [String]?) throws -> [(key: String, value: Node, keyNode: Node)] {
        guard case let .mapping(mapping) = node else {
            throw fail(node, "\(what) must be a mapping (key: value), found \(kind(node))")
        }
        var entries: [(key: String, value: Node, keyNode: Node)] = []
        var seen = Set<String>()
        for (keyNode, value) in mapping {
            guard case let .scalar(scalar) = keyNode else { throw fail(keyNode, "\(what): keys must be plain strings") }
            let key = scalar.string
            if let allowed, !allowed.contains(key) {
                var message = "unknown key \"\(key)\" in \(what) (expected one of: \(allowed.joined(separator: ", ")))"
                if let near = allowed.first(where: { editDistance($0, key) <= 2 }) { message += "; did you mean \"\(near)\"?" }
                throw fail(keyNode, message)
            }
            guard seen.insert(key).inserted else { throw fail(keyNode, "duplicate key \"\(key)\" in \(what)") }
            entries.append((key, value, keyNode))
        }
        return entries
    }

    package func string(_ node: Node, _ what: String) throws -> String {
        guard case let .scalar(scalar) = node else {
            throw fail(node, "\(what) must be a string, found \(kind(node))")
        }
        if scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
            throw fail(node, "\(what) must be a string, found nothing (null)")
        }
        return scalar.string
    }

    package func nonEmptyString(_ node: Node, _ what: String) throws -> String {
        let value = try string(node, what)
        guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw fail(node, "\(what) must not be empty") }
        return value
    }

    package func bool(_ node: Node, _ what: String) throws -> Bool {
        guard case let .scalar(scalar) = node, scalar.style == .plain else {
            throw fail(node, "\(what) must be true or false, found \(kind(node))")
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(node, "\(what) must be true or false, found \"\(scalar.string)\"")
        }
    }

    package func int(_ node: Node, _ what: String, range: ClosedRange<Int>) throws -> Int {
        guard case let .scalar(scalar) = node, let value = Int(scalar.string) else {
            throw fail(node, "\(what) must be a whole number, found \(describe(node))")
        }
        guard range.contains(value) else { throw fail(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)") }
        return value
    }

    package func double(_ node: Node, _ what: String, range: ClosedRange<Double>) throws -> Double {
        guard case let .scalar(scalar) = node, let value = Double(scalar.string), value.isFinite else {
            throw fail(node, "\(what) must be a number, found \(describe(node))")
        }
        guard range.contains(value) else { throw fail(node, "\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)") }
        return value
    }

    package func duration(_ node: Node, _ what: String) throws -> Duration {
        let text = try string(node, what)
        guard let value = Units.parseDuration(text), value > .zero else {
            throw fail(node, "\(what) must be a duration like 90s, 20m, 1h30m, found \"\(text)\"")
        }
        return value
    }

    package func bytes(_ node: Node, _ what: String) throws -> Int64 {
        let text = try string(node, what)
        guard let value = Units.parseBytes(text), value > 0 else {
            throw fail(node, "\(what) must be a size like 512m, 2g, 100MB, found \"\(text)\"")
        }
        return value
    }

    package func sequence(_ node: Node, _ what: String, max: Int = 1000) throws -> [Node] {
        guard case let .sequence(sequence) = node else {
            throw fail(node, "\(what) must be a list, found \(kind(node))")
        }
        let items = Array(sequence)
        guard items.count <= max else { throw fail(node, "\(what) has \(items.count) entries; the limit is \(max)") }
        return items
    }

    package func strings(_ node: Node, _ what: String, max: Int = 1000) throws -> [String] {
        // A single string is accepted where a list of strings is expected (`branches: main`).
        if case .scalar = node { return [try nonEmptyString(node, what)] }
        return try sequence(node, what, max: max).map { try nonEmptyString($0, "an entry of \(what)") }
    }

    package func stringMap(_ node: Node, _ what: String) throws -> [String: String] {
        guard case let .mapping(mapping) = node else { throw fail(node, "\(what) must be a mapping, found \(kind(node))") }
        var result: [String: String] = [:]
        for (k, v) in mapping {
            let key = try nonEmptyString(k, "a key of \(what)")
            guard case let .scalar(scalar) = v else { throw fail(v, "\(what).\(key) must be a string, found \(kind(v))") }
            result[key] = scalar.string
        }
        return result
    }

    package func kind(_ node: Node) -> String {
        switch node {
        case .scalar: return "\"\(node.scalar?.string ?? "")\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    private func describe(_ node: Node) -> String { kind(node) }

    private func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}

/// Parsing of the human units used in YAML files.
package enum Units {
    /// "90s", "20m", "1h30m", "500ms", "2d", or a bare number of seconds.
    package static func parseDuration(_ text: String) -> Duration? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let seconds = Int64(text) { return (0...(366 * 86400)).contains(seconds) ? .seconds(seconds) : nil }
        var total: Duration = .zero
        var number = ""
        var index = text.startIndex
        var sawUnit = false
        while index < text.endIndex {
            let c = text[index]
            if c.isNumber || c == "." {
                number.append(c)
                index = text.index(after: index)
                continue
            }
            var unit = String(c)
            let next = text.index(after: index)
            if c == "m", next < text.endIndex, text[next] == "s" { unit = "ms" }
            guard let value = Double(number) else { return nil }
            let seconds: Double
            switch unit {
            case "ms": seconds = value / 1000
            case "s": seconds = value
            case "m": seconds = value * 60
            case "h": seconds = value * 3600
            case "d": seconds = value * 86400
            default: return nil
            }
            // A year is far beyond any sensible timeout; bigger numbers would overflow Int64 milliseconds.
            guard seconds.isFinite, seconds >= 0, seconds <= 366 * 86400 else { return nil }
            total += .milliseconds(Int64((seconds * 1000).rounded()))
            number = ""
            sawUnit = true
            index = text.index(index, offsetBy: unit.count)
        }
        guard number.isEmpty, sawUnit else { return nil }
        return total
    }

    /// "512m", "2g", "2GiB", "100MB", "1024k", or a bare number of bytes. Powers of 1024 throughout.
    package static func parseBytes(_ text: String) -> Int64? {
        var text = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let bytes = Int64(text) { return bytes }
        for suffix in ["ib", "b"] where text.hasSuffix(suffix) && text.count > suffix.count {
            let trimmed = String(text.dropLast(suffix.count))
            if trimmed.last.map({ "kmgt".contains($0) }) == true { text = trimmed; break }
        }
        guard let unit = text.last, let value = Double(text.dropLast()), value >= 0 else { return nil }
        let multiplier: Double
        switch unit {
        case "k": multiplier = 1024
        case "m": multiplier = 1_048_576
        case "g": multiplier = 1_073_741_824
        case "t": multiplier = 1_099_511_627_776
        default: return nil
        }
        let bytes = value * multiplier
        guard bytes < Double(Int64.max) else { return nil }
        return Int64(bytes)
    }

    /// "1.5s", "320ms", "2m05s" for notes and listings.
    package static func format(_ duration: Duration) -> String {
        let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        // Compare after rounding, so 999.6 ms is "1.0s" and 59.96 s is "1m00s".
        if ms.rounded() < 1000 { return "\(Int(ms.rounded()))ms" }
        let seconds = ms / 1000
        if (seconds * 10).rounded() / 10 < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds.rounded())
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, (whole % 3600) / 60)
    }

    /// The duration in seconds, as a `Double` (for JSON and computations).
    package static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// "6.3s" (one decimal), for timings in messages.
    package static func formatSeconds(_ duration: Duration) -> String {
        String(format: "%.1fs", seconds(duration))
    }

    package static func formatBytes(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
