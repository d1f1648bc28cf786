import Core
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Why a JUnit file gave no counts. `description` is the message shown to the user.
package enum JUnitParseError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case empty
    case tooLarge(size: Int, limit: Int)
    /// A `<!DOCTYPE` (and so possibly `<!ENTITY`) before the root element: refused before parsing.
    case doctypeForbidden
    case unsupportedEncoding(String)
    case malformed(line: Int, column: Int, reason: String)
    case notJUnit(root: String)
    case unreadable(reason: String)
    /// `<?target?>` with no data: swift-corelibs-foundation's XMLParser crashes on it (strlen of NULL).
    case emptyProcessingInstruction(line: Int)

    package var description: String {
        switch self {
        case .empty:
            return "JUnit XML is empty"
        case .tooLarge(let size, let limit):
            return "JUnit XML is \(size) bytes, over the limit of \(limit) bytes (\(limit / (1024 * 1024)) MiB)"
        case .doctypeForbidden:
            return "JUnit XML with a DOCTYPE or ENTITY declaration is refused: entity expansion and external "
                + "entities are unsafe, and JUnit reports never need them"
        case .unsupportedEncoding(let encoding):
            return "JUnit XML must be UTF-8 (or another ASCII-compatible encoding); this one is \(encoding)"
        case .malformed(let line, let column, let reason):
            return "malformed JUnit XML at line \(line), column \(column): \(reason)"
        case .notJUnit(let root):
            return "not a JUnit report: the root element is <\(root)>, not <testsuites> or <testsuite>"
        case .unreadable(let reason):
            return "cannot read the JUnit file: \(reason)"
        case .emptyProcessingInstruction(let line):
            return "JUnit XML with a processing instruction without data (line \(line)) is refused: the XML parser "
                + "cannot handle it, and JUnit reports never need one"
        }
    }

    package var errorDescription: String? { description }
}

/// Counts the tests in JUnit XML reports (`<testsuites>` / `<testsuite>` / `<testcase>`).
///
/// Counting is by `<testcase>` element, because the totals in the suite attributes are often wrong
/// (mocha's xunit reporter files failures under `errors`, Swift Testing counts issues as `failures`,
/// ctest counts disabled tests in `tests`, and nested suites repeat their children's totals). A test case
/// with a `<failure>` or `<error>` child failed; otherwise one with `<skipped>`, or with
/// `status="notrun|disabled|skipped"` (ctest, GoogleTest), was skipped; otherwise it passed. A `<failure>`
/// or `<error>` directly inside a suite (a suite that failed to set up) counts as one failed test.
/// Only a file with no `<testcase>` at all falls back to the attributes of its outermost suites:
/// `tests` minus `failures`, `errors`, `skipped` (or `skip`) and `disabled`.
///
/// Hostile input is refused before parsing: more than ``maxInputSize`` bytes; a DOCTYPE (which is where
/// `<!ENTITY` declarations live: "billion laughs", external entities) anywhere before the root element;
/// an encoding that is not ASCII-compatible (the DOCTYPE check reads bytes). A DOCTYPE after the root
/// element is either inside CDATA or a comment (harmless text, e.g. captured HTML) or malformed XML, which
/// the parser rejects. The check must come first: swift-corelibs-foundation's `XMLParser` always runs
/// libxml2 with `XML_PARSE_NOENT` (substitute entities) and `XML_PARSE_RECOVER`, whatever
/// `shouldResolveExternalEntities` says. Recovery also means `parse()` succeeds on broken XML, so errors
/// are taken from `parseErrorOccurred`. The delegate also aborts on any DTD event it is told about.
package enum JUnitParser {
    package static let maxInputSize = 64 * 1024 * 1024

    package static func parse(_ xml: Data) throws -> TestCounts {
        try parseReport(xml).counts
    }

    /// The counts and the `<testcase>` elements (`classname.name`, or `name` alone) with their outcomes.
    package static func parseReport(_ xml: Data) throws -> (counts: TestCounts, cases: [TestCase]) {
        guard !xml.isEmpty else { throw JUnitParseError.empty }
        guard xml.count <= maxInputSize else { throw JUnitParseError.tooLarge(size: xml.count, limit: maxInputSize) }
        try checkProlog(xml)
        try checkProcessingInstructions(xml)

        let counter = JUnitCounter()
        let parser = XMLParser(data: xml)
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.shouldReportNamespacePrefixes = false
        parser.delegate = counter  // weak: `counter` stays alive in this scope
        let parsed = parser.parse()
        if let failure = counter.failure { throw failure }
        guard parsed else {
            let message = parser.parserError.map { reason(code: ($0 as NSError).code) } ?? "unknown parser error"
            throw JUnitParseError.malformed(line: parser.lineNumber, column: parser.columnNumber, reason: message)
        }
        guard counter.rootName != nil else { throw JUnitParseError.malformed(line: 1, column: 1, reason: "no root element") }
        return (counter.result, counter.cases)
    }

    /// Reads each file once: the sum of the counts and the test cases in file order; a file that cannot be
    /// read or parsed is left out of both and reported as `<path>: <reason>`.
    package static func parseFiles(_ urls: [URL]) -> (counts: TestCounts, cases: [TestCase], errors: [String]) {
        var counts = TestCounts()
        var cases: [TestCase] = []
        var errors: [String] = []
        for url in urls {
            do {
                let report = try parseReport(read(url))
                counts = counts + report.counts
                cases += report.cases
            } catch {
                errors.append("\(url.path): \(error)")
            }
        }
        return (counts, cases, errors)
    }

    /// Reads at most one byte more than the limit, so a huge file is refused without loading it.
    static func read(_ url: URL) throws -> Data {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw JUnitParseError.unreadable(reason: describe(error))
        }
        defer { try? handle.close() }
        if let size = try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int, size > maxInputSize {
            throw JUnitParseError.tooLarge(size: size, limit: maxInputSize)
        }
        do {
            return try handle.read(upToCount: maxInputSize + 1) ?? Data()
        } catch {
            throw JUnitParseError.unreadable(reason: describe(error))
        }
    }

    // MARK: - Before parsing

    /// Walks the prolog (BOM, white space, XML declaration, processing instructions, comments) up to the
    /// root element and refuses any markup declaration (`<!DOCTYPE`, `<!ENTITY`, …) found there.
    /// Refuses `<?target?>` (a processing instruction whose data is empty or only white space) anywhere:
    /// libxml2 reports its data as NULL and Foundation's XMLParser on Linux passes that to `strlen`,
    /// crashing the process that parses the file (found by `make fuzz`). Also inside CDATA and comments,
    /// where it is harmless: the scan stays byte-simple, and a report that contains one is rare.
    static func checkProcessingInstructions(_ xml: Data) throws {
        try xml.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var line = 1
            var i = 0
            let count = bytes.count
            func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
            while i < count {
                let byte = bytes[i]
                if byte == 0x0A { line += 1 }
                if byte == UInt8(ascii: "<"), i + 1 < count, bytes[i + 1] == UInt8(ascii: "?") {
                    var j = i + 2
                    // The target: everything up to white space or `?>`.
                    while j < count, !isSpace(bytes[j]), !(bytes[j] == UInt8(ascii: "?") && j + 1 < count && bytes[j + 1] == UInt8(ascii: ">")) { j += 1 }
                    while j < count, isSpace(bytes[j]) { j += 1 }
                    if j + 1 < count, bytes[j] == UInt8(ascii: "?"), bytes[j + 1] == UInt8(ascii: ">") {
                        throw JUnitParseError.emptyProcessingInstruction(line: line)
                    }
                }
                i += 1
            }
        }
    }

    static func checkProlog(_ xml: Data) throws {
        // NUL never occurs in UTF-8 XML; it does in UTF-16 and UTF-32, where the byte checks below would be blind.
        if xml.contains(0) { throw JUnitParseError.unsupportedEncoding("UTF-16 or UTF-32 (it has NUL bytes)") }
        try xml.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            var index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
            func at(_ text: String) -> Bool { bytes[index...].starts(with: text.utf8) }
            /// Moves past the next `terminator`; false when there is none (the parser will reject the rest).
            func skip(past terminator: String) -> Bool {
                let end = Array(terminator.utf8)
                var probe = index
                while probe + end.count <= bytes.count {
                    if bytes[probe..<probe + end.count].elementsEqual(end) { index = probe + end.count; return true }
                    probe += 1
                }
                return false
            }
            while true {
                while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
                guard index < bytes.count else { return }  // no root element: the parser says so
                guard bytes[index] == UInt8(ascii: "<") else {
                    throw JUnitParseError.malformed(line: 1, column: 1, reason: "the document does not start with '<'")
                }
                if at("<?") {
                    let start = index
                    guard skip(past: "?>") else { return }
                    let declaration = String(decoding: bytes[start..<index], as: UTF8.self)
                    if declaration.hasPrefix("<?xml"), let encoding = declaredEncoding(declaration), !isASCIICompatible(encoding) {
                        throw JUnitParseError.unsupportedEncoding(encoding)
                    }
                } else if at("<!--") {
                    guard skip(past: "-->") else { return }
                } else if at("<!") {
                    throw JUnitParseError.doctypeForbidden
                } else {
                    return  // the root element
                }
            }
        }
    }

    static func declaredEncoding(_ declaration: String) -> String? {
        guard let match = declaration.firstMatch(of: /encoding\s*=\s*["']([^"']*)["']/) else { return nil }
        return String(match.1)
    }

    static func isASCIICompatible(_ encoding: String) -> Bool {
        let name = encoding.lowercased()
        return ["utf-8", "utf8", "us-ascii", "ascii", "latin1", "latin-1"].contains(name)
            || name.hasPrefix("iso-8859-") || name.hasPrefix("iso8859-") || name.hasPrefix("windows-125")
    }

    /// `closing tag does not match the opening tag (libxml2 error 76)`. On Linux the NSError carries only
    /// libxml2's code (xmlerror.h), and `XMLParser.ErrorCode`'s names do not all match those numbers.
    static func reason(code: Int) -> String {
        let known: [Int: String] = [
            4: "the document is empty",
            5: "extra content after the root element",
            9: "invalid character",
            23: "entity reference without ';'",
            26: "undefined entity",
            38: "'<' in an attribute value",
            39: "attribute value not quoted",
            40: "unterminated attribute value",
            41: "attribute without a value",
            42: "attribute given twice",
            45: "unterminated comment",
            63: "unterminated CDATA section",
            68: "a name was expected",
            73: "'>' expected",
            76: "closing tag does not match the opening tag",
            77: "the document ends inside an element (truncated?)",
            85: "elements not well balanced",
            86: "extra content at the end of the document",
            89: "entity reference loop",
        ]
        return "\(known[code] ?? "XML error") (libxml2 error \(code))"
    }

    static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        let text = nsError.localizedDescription
        return text.isEmpty ? "\(nsError.domain) error \(nsError.code)" : text
    }
}

/// SAX delegate that counts test cases (and, for the fallback, the outermost suites' attributes).
private final class JUnitCounter: NSObject, XMLParserDelegate {
    private(set) var rootName: String?
    private(set) var failure: JUnitParseError?

    private var depth = 0
    private var elementCounts = TestCounts()
    private var testcases = 0
    private var orphanFailures = 0
    /// Open `<testcase>` elements, innermost last: (name, failed, skipped).
    private var openCases: [(name: String, failed: Bool, skipped: Bool)] = []
    /// Every closed `<testcase>`, in document order.
    private(set) var cases: [TestCase] = []
    /// Depth of the suite elements, innermost last.
    private var suiteDepths: [Int] = []
    private var attributeCounts = TestCounts()
    /// Depth of the suite whose attributes are being used; its nested suites repeat its totals.
    private var attributeSuiteDepth: Int?

    var result: TestCounts {
        if testcases > 0 { return elementCounts + TestCounts(failed: orphanFailures) }
        return attributeCounts + TestCounts(failed: orphanFailures)
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes: [String: String] = [:]) {
        defer { depth += 1 }
        if rootName == nil {
            rootName = elementName
            guard elementName == "testsuites" || elementName == "testsuite" else {
                stop(parser, .notJUnit(root: elementName))
                return
            }
        }
        switch elementName {
        case "testsuites", "testsuite":
            suiteDepths.append(depth)
            if attributeSuiteDepth == nil, let tests = attributes["tests"].flatMap(Self.number) {
                let value = { (key: String) in attributes[key].flatMap(Self.number) ?? 0 }
                let failed = min(value("failures") + value("errors"), tests)
                let skipped = min((attributes["skipped"].flatMap(Self.number) ?? value("skip")) + value("disabled"), tests - failed)
                attributeCounts = attributeCounts + TestCounts(passed: tests - failed - skipped, failed: failed, skipped: skipped)
                attributeSuiteDepth = depth
            }
        case "testcase":
            let status = attributes["status"]?.lowercased() ?? ""
            let name = [attributes["classname"], attributes["name"]].compactMap { $0?.isEmpty == false ? $0 : nil }.joined(separator: ".")
            openCases.append((name: name, failed: false, skipped: ["notrun", "disabled", "skipped"].contains(status)))
        case "failure", "error":
            if !openCases.isEmpty {
                openCases[openCases.count - 1].failed = true
            } else if suiteDepths.last == depth - 1 {
                orphanFailures += 1
            }
        case "skipped":
            if !openCases.isEmpty { openCases[openCases.count - 1].skipped = true }
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        depth -= 1
        switch elementName {
        case "testsuites", "testsuite":
            suiteDepths.removeLast()
            if attributeSuiteDepth == depth { attributeSuiteDepth = nil }
        case "testcase":
            guard let testcase = openCases.popLast() else { return }
            testcases += 1
            let outcome: TestCase.Outcome
            if testcase.failed {
                elementCounts.failed += 1
                outcome = .failed
            } else if testcase.skipped {
                elementCounts.skipped += 1
                outcome = .skipped
            } else {
                elementCounts.passed += 1
                outcome = .passed
            }
            if cases.count < Self.maxCases { cases.append(TestCase(name: testcase.name, outcome: outcome)) }
        default:
            break
        }
    }

    /// swift-corelibs-foundation parses in libxml2's recover mode, so `parse()` succeeds on broken XML
    /// (an unclosed tag, a truncated file); its errors only arrive here. Warnings do too: they are let pass.
    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
        let code = (parseError as NSError).code
        guard !Self.libxml2WarningCodes.contains(code) else { return }
        stop(parser, .malformed(line: parser.lineNumber, column: parser.columnNumber, reason: JUnitParser.reason(code: code)))
    }

    /// libxml2's `XML_WAR_*` codes (xmlerror.h): UNDECLARED_ENTITY, CATALOG_PI, UNKNOWN_VERSION, LANG_VALUE,
    /// NS_URI, NS_URI_RELATIVE, SPACE_VALUE, NS_COLUMN, ENTITY_REDEFINED.
    private static let libxml2WarningCodes: Set<Int> = [27, 93, 97, 98, 99, 100, 102, 106, 107]

    // Any DTD event means a DOCTYPE got past `checkProlog`: stop rather than expand anything.
    func parser(_ parser: XMLParser, foundInternalEntityDeclarationWithName name: String, value: String?) {
        stop(parser, .doctypeForbidden)
    }

    func parser(_ parser: XMLParser, foundExternalEntityDeclarationWithName name: String, publicID: String?, systemID: String?) {
        stop(parser, .doctypeForbidden)
    }

    func parser(_ parser: XMLParser, foundUnparsedEntityDeclarationWithName name: String, publicID: String?,
                systemID: String?, notationName: String?) {
        stop(parser, .doctypeForbidden)
    }

    func parser(_ parser: XMLParser, foundNotationDeclarationWithName name: String, publicID: String?, systemID: String?) {
        stop(parser, .doctypeForbidden)
    }

    func parser(_ parser: XMLParser, foundElementDeclarationWithName elementName: String, model: String) {
        stop(parser, .doctypeForbidden)
    }

    func parser(_ parser: XMLParser, foundAttributeDeclarationWithName attributeName: String, forElement elementName: String,
                type: String?, defaultValue: String?) {
        stop(parser, .doctypeForbidden)
    }

    /// Asked for any entity reference that is neither predefined nor declared (there is no DTD).
    func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
        stop(parser, .malformed(line: parser.lineNumber, column: parser.columnNumber, reason: "undefined entity &\(name);"))
        return nil
    }

    private func stop(_ parser: XMLParser, _ error: JUnitParseError) {
        if failure == nil { failure = error }
        parser.abortParsing()
    }

    /// Test cases kept per file for identity checks (counts go on beyond it).
    static let maxCases = 100_000

    /// Counts in attributes: at most 9 digits, so sums never overflow.
    private static func number(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count <= 9, trimmed.allSatisfy(\.isASCII) else { return nil }
        return Int(trimmed).map { max($0, 0) }
    }
}
