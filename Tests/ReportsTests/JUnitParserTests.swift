import Core
import Foundation
import Reports
import Testing

struct JUnitCase: Sendable, CustomTestStringConvertible {
    var name: String
    var xml: String
    var counts: TestCounts

    init(_ name: String, _ xml: String, passed: Int = 0, failed: Int = 0, skipped: Int = 0) {
        self.name = name
        self.xml = xml
        self.counts = TestCounts(passed: passed, failed: failed, skipped: skipped)
    }

    var testDescription: String { name }
}

struct JUnitRejection: Sendable, CustomTestStringConvertible {
    var name: String
    var xml: Data
    var error: JUnitParseError

    init(_ name: String, _ xml: String, _ error: JUnitParseError) {
        self.init(name, Data(xml.utf8), error)
    }

    init(_ name: String, _ xml: Data, _ error: JUnitParseError) {
        self.name = name
        self.xml = xml
        self.error = error
    }

    var testDescription: String { name }
}

private let billionLaughs = """
    <?xml version="1.0"?>
    <!DOCTYPE lolz [
     <!ENTITY lol "lol">
     <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
     <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
     <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
     <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
     <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
     <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
     <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
     <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
    ]>
    <testsuite name="&lol9;" tests="1"><testcase name="&lol9;"/></testsuite>
    """

@Suite struct JUnitParserTests {
    static let realOutput: [JUnitCase] = [
        JUnitCase("pytest --junitxml", RealOutput.junitPytest, passed: 3, failed: 1, skipped: 2),
        // tests="6" skipped="1" disabled="1": the disabled case has only status="disabled".
        JUnitCase("ctest --output-junit", RealOutput.junitCTest, passed: 3, failed: 1, skipped: 2),
        JUnitCase("node --test junit reporter", RealOutput.junitNode, passed: 3, failed: 1, skipped: 2),
        // Its attributes say failures="0" errors="1".
        JUnitCase("mocha xunit reporter", RealOutput.junitMocha, passed: 3, failed: 1, skipped: 2),
        // Its attributes say tests="4" failures="2": issues, not tests, and the skipped test left out.
        JUnitCase("Swift Testing xunit", RealOutput.junitSwiftTesting, passed: 3, failed: 1, skipped: 1),
        JUnitCase("XCTest xunit", RealOutput.junitXCTest, passed: 4, failed: 1),
    ]

    static let samples: [JUnitCase] = [
        JUnitCase("nested suites count each test case once", """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites tests="99" failures="99">
              <testsuite name="outer" tests="5">
                <testsuite name="outer.inner" tests="3">
                  <testcase classname="inner" name="a"/>
                  <testcase classname="inner" name="b"><failure message="boom" type="AssertionError">trace</failure></testcase>
                  <testcase classname="inner" name="c"><skipped message="later"/></testcase>
                </testsuite>
                <testcase classname="outer" name="d"><error message="crashed">trace</error></testcase>
                <testcase classname="outer" name="e"><system-out>hello</system-out></testcase>
              </testsuite>
            </testsuites>
            """, passed: 2, failed: 2, skipped: 1),
        JUnitCase("failure wins over skipped", """
            <testsuite><testcase name="a"><skipped/><failure/></testcase></testsuite>
            """, failed: 1),
        JUnitCase("two failures in one case are one failed test", """
            <testsuite><testcase name="a"><failure/><failure/><error/></testcase></testsuite>
            """, failed: 1),
        JUnitCase("surefire flaky reruns passed", """
            <testsuite tests="1"><testcase name="a"><flakyFailure message="first try"/></testcase></testsuite>
            """, passed: 1),
        JUnitCase("googletest notrun is skipped", """
            <testsuites><testsuite name="S"><testcase name="DISABLED_x" status="notrun" result="suppressed"/>
            <testcase name="y" status="run" result="completed"/></testsuite></testsuites>
            """, passed: 1, skipped: 1),
        JUnitCase("suite set-up error counts as a failed test", """
            <testsuite name="S" tests="2"><error message="beforeAll failed"/><testcase name="a"/><testcase name="b"/></testsuite>
            """, passed: 2, failed: 1),
        JUnitCase("attributes when there are no test cases", """
            <testsuites tests="10" failures="2" errors="1" skipped="3">
              <testsuite name="a" tests="6" failures="2" errors="0" skipped="1"/>
              <testsuite name="b" tests="4" failures="0" errors="1" skipped="2"/>
            </testsuites>
            """, passed: 4, failed: 3, skipped: 3),
        JUnitCase("attributes of several top-level suites add up", """
            <testsuites>
              <testsuite name="a" tests="6" failures="2" skip="1"><testsuite name="a1" tests="6" failures="2"/></testsuite>
              <testsuite name="b" tests="4" disabled="1"/>
            </testsuites>
            """, passed: 6, failed: 2, skipped: 2),
        JUnitCase("lying attributes are capped", """
            <testsuite tests="2" failures="5" errors="9" skipped="7"/>
            """, failed: 2),
        JUnitCase("empty testsuites", "<testsuites/>"),
        JUnitCase("DOCTYPE inside CDATA is text", """
            <?xml version="1.0" encoding="utf-8"?>
            <!-- produced by a tool; <!ENTITY in a comment is only text -->
            <testsuite><testcase name="renders"><system-out><![CDATA[<!DOCTYPE html><html><!ENTITY x "y"></html>]]></system-out></testcase></testsuite>
            """, passed: 1),
        JUnitCase("UTF-8 BOM", "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?><testsuite><testcase name=\"a\"/></testsuite>",
                  passed: 1),
        JUnitCase("ISO-8859-1", "<?xml version='1.0' encoding='ISO-8859-1'?><testsuite><testcase name=\"caf\"/></testsuite>",
                  passed: 1),
    ]

    @Test(arguments: realOutput + samples)
    func counts(_ testCase: JUnitCase) throws {
        #expect(try JUnitParser.parse(Data(testCase.xml.utf8)) == testCase.counts)
    }

    static var rejections: [JUnitRejection] {
        var utf16 = Data([0xFF, 0xFE])
        utf16.append("<testsuite><testcase name=\"a\"/></testsuite>".data(using: .utf16LittleEndian)!)
        return [
            JUnitRejection("billion laughs", billionLaughs, .doctypeForbidden),
            JUnitRejection("external entity", """
                <?xml version="1.0"?>
                <!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
                <testsuite><testcase name="&xxe;"/></testsuite>
                """, .doctypeForbidden),
            JUnitRejection("external DTD", """
                <!DOCTYPE testsuite SYSTEM "http://127.0.0.1:9/junit.dtd"><testsuite/>
                """, .doctypeForbidden),
            JUnitRejection("DOCTYPE after comments and instructions", """
                <?xml version="1.0"?>
                <!-- a comment -->
                <?xml-stylesheet href="x.xsl"?>
                <!doctype testsuite [<!ENTITY a "b">]><testsuite/>
                """, .doctypeForbidden),
            JUnitRejection("DOCTYPE behind a long comment", "<!--" + String(repeating: "-x", count: 50_000) + "-->"
                + "<!DOCTYPE t [<!ENTITY a \"b\">]><testsuite/>", .doctypeForbidden),
            JUnitRejection("UTF-16", utf16, .unsupportedEncoding("UTF-16 or UTF-32 (it has NUL bytes)")),
            JUnitRejection("UTF-7 declared", "<?xml version=\"1.0\" encoding=\"UTF-7\"?><testsuite/>", .unsupportedEncoding("UTF-7")),
            JUnitRejection("not XML", "Ran 3 tests in 0.001s\nOK\n",
                           .malformed(line: 1, column: 1, reason: "the document does not start with '<'")),
            JUnitRejection("empty", "", .empty),
            JUnitRejection("not JUnit", "<html><body><p>404</p></body></html>", .notJUnit(root: "html")),
        ]
    }

    @Test(arguments: rejections)
    func rejects(_ rejection: JUnitRejection) {
        #expect(throws: rejection.error) { try JUnitParser.parse(rejection.xml) }
    }

    @Test func malformedXMLSaysWhere() throws {
        let xml = "<testsuite>\n  <testcase name=\"a\">\n</testsuite>\n"
        let error = #expect(throws: JUnitParseError.self) { try JUnitParser.parse(Data(xml.utf8)) }
        guard case .malformed(let line, _, let reason)? = error else {
            Issue.record("expected .malformed, got \(String(describing: error))")
            return
        }
        #expect(line == 3)
        #expect(reason == "closing tag does not match the opening tag (libxml2 error 76)")
        #expect(error?.description.hasPrefix("malformed JUnit XML at line 3, column ") == true)
    }

    @Test(arguments: [
        ("truncated file", String(RealOutput.junitPytest.prefix(300))),
        ("undefined entity", "<testsuite><testcase name=\"&nope;\"/></testsuite>"),
        ("two roots", "<testsuite/><testsuite/>"),
        ("unquoted attribute", "<testsuite tests=3><testcase/></testsuite>"),
    ])
    func brokenXMLIsMalformedNotRecovered(_ name: String, _ xml: String) {
        // libxml2's recover mode would otherwise count what it could salvage.
        let error = #expect(throws: JUnitParseError.self, "\(name)") { try JUnitParser.parse(Data(xml.utf8)) }
        guard case .malformed? = error else {
            Issue.record("\(name): expected .malformed, got \(String(describing: error))")
            return
        }
    }

    /// Found by `make fuzz`: Foundation's XMLParser on Linux crashed the process (strlen of NULL) on a
    /// processing instruction without data. Without the check, this test crashes the test run.
    @Test("a processing instruction without data is refused instead of crashing the parser", arguments: [
        "<?xersi?><?xml version=\"1.5\"?>\n\n<testsuites><testsuite name=\"s\" tesamts=\"\u{CA} 3\" f+<ma\"li",
        "<testsuite tests=\"1\"><?x?><testcase name=\"a\"/></testsuite>",
        "<?xml version=\"1.0\"?>\n<testsuite>\n<?target   ?></testsuite>",
        "<testsuite><testcase name=\"a\"><system-out><?x\r\n?></system-out></testcase></testsuite>",
    ])
    func emptyProcessingInstruction(_ xml: String) {
        #expect {
            try JUnitParser.parse(Data(xml.utf8))
        } throws: { error in
            guard case JUnitParseError.emptyProcessingInstruction = error else { return false }
            return "\(error)".contains("processing instruction without data")
        }
    }

    @Test("processing instructions with data still parse")
    func processingInstructionWithData() throws {
        let xml = "<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"a.xsl\"?>\n<testsuite tests=\"1\"><?pi some data?><testcase name=\"a\"/></testsuite>"
        #expect(try JUnitParser.parse(Data(xml.utf8)) == TestCounts(passed: 1, failed: 0, skipped: 0))
        let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/seeds/junit/regression-empty-pi")
        #expect(throws: JUnitParseError.self) { try JUnitParser.parse(try Data(contentsOf: seed)) }
    }

    @Test func tooLargeIsRefusedBeforeParsing() {
        var xml = Data("<testsuite>".utf8)
        xml.append(Data(repeating: UInt8(ascii: " "), count: JUnitParser.maxInputSize))
        #expect(throws: JUnitParseError.tooLarge(size: JUnitParser.maxInputSize + 11, limit: 64 * 1024 * 1024)) {
            try JUnitParser.parse(xml)
        }
    }

    @Test func errorMessagesAreClear() {
        #expect(JUnitParseError.doctypeForbidden.description.contains("DOCTYPE or ENTITY"))
        #expect(JUnitParseError.tooLarge(size: 70_000_000, limit: 67_108_864).description
            == "JUnit XML is 70000000 bytes, over the limit of 67108864 bytes (64 MiB)")
        #expect(JUnitParseError.notJUnit(root: "html").description
            == "not a JUnit report: the root element is <html>, not <testsuites> or <testsuite>")
        #expect((JUnitParseError.empty as any Error).localizedDescription == "JUnit XML is empty")
    }

    @Test func parseFilesSumsAndReportsEachBadFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("junit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pytest = dir.appendingPathComponent("pytest.xml")
        let mocha = dir.appendingPathComponent("mocha.xml")
        let laughs = dir.appendingPathComponent("laughs.xml")
        let missing = dir.appendingPathComponent("missing.xml")
        let huge = dir.appendingPathComponent("huge.xml")
        try Data(RealOutput.junitPytest.utf8).write(to: pytest)
        try Data(RealOutput.junitMocha.utf8).write(to: mocha)
        try Data(billionLaughs.utf8).write(to: laughs)
        // Sparse: 100 MiB long, but no disk used and, if the limit works, never read.
        #expect(FileManager.default.createFile(atPath: huge.path, contents: nil))
        let handle = try FileHandle(forWritingTo: huge)
        try handle.truncate(atOffset: 100 * 1024 * 1024)
        try handle.close()

        let (counts, _, errors) = JUnitParser.parseFiles([pytest, laughs, mocha, missing, huge])

        #expect(counts == TestCounts(passed: 6, failed: 2, skipped: 4))
        #expect(errors.count == 3)
        #expect(errors.first { $0.hasPrefix(laughs.path + ": ") }?.contains("DOCTYPE") == true)
        #expect(errors.first { $0.hasPrefix(missing.path + ": ") }?.contains("cannot read") == true)
        #expect(errors.first { $0.hasPrefix(huge.path + ": ") }?.contains("104857600 bytes, over the limit") == true)
    }

    @Test func parseFilesWithNothing() {
        let (counts, _, errors) = JUnitParser.parseFiles([])
        #expect(counts == TestCounts())
        #expect(errors.isEmpty)
    }
}
