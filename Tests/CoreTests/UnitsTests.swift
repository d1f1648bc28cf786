import Core
import Foundation
import Testing

@Suite("Units")
struct UnitsTests {
    @Test("parseDuration accepts", arguments: [
        ("90s", Duration.seconds(90)),
        ("20m", .seconds(1200)),
        ("1h30m", .seconds(5400)),
        ("1h0m5s", .seconds(3605)),
        ("1m30s", .seconds(90)),
        ("500ms", .milliseconds(500)),
        ("250ms", .milliseconds(250)),
        ("1s500ms", .milliseconds(1500)),
        ("2d", .seconds(172_800)),
        ("1.5h", .seconds(5400)),
        ("0.5s", .milliseconds(500)),
        ("1200", .seconds(1200)),
        ("0", .zero),
        (" 20m ", .seconds(1200)),
        ("20M", .seconds(1200)),
        ("1H", .seconds(3600)),
    ])
    func parseDuration(_ text: String, _ expected: Duration) {
        #expect(Units.parseDuration(text) == expected)
    }

    @Test("parseDuration rejects", arguments: [
        "", " ", "20 minutes", "m", "s", "ms", "10x", "1h30", "abc", "1..5s", "-5s", "5 s", "ms5", "1e3s", "20min",
        "1w", "½h", "h1",
    ])
    func parseDurationRejects(_ text: String) {
        #expect(Units.parseDuration(text) == nil)
    }

    @Test("parseDuration does not trap on a number too large for Duration")
    func parseDurationOverflow() async {
        // `Int64((seconds * 1000).rounded())` traps for values beyond Int64.max milliseconds, so a
        // `timeout: 99999999999999999h` in a pushed .pushbox.yml would crash the daemon.
        await #expect(processExitsWith: .success) {
            _ = Units.parseDuration("99999999999999999h")
        }
    }

    static let byteCases: [(String, Int64)] = [
        ("512m", 512 << 20),
        ("2g", 2 << 30),
        ("2G", 2 << 30),
        ("2GiB", 2 << 30),
        ("2gb", 2 << 30),
        ("100MB", 100 << 20),
        ("100MiB", 100 << 20),
        ("1024k", 1 << 20),
        ("10KB", 10 << 10),
        ("10kib", 10 << 10),
        ("1t", 1 << 40),
        ("1.5g", 1_610_612_736),
        ("0.5m", 512 << 10),
        ("1048576", 1_048_576),
        ("0", 0),
        (" 6m ", 6 << 20),
    ]

    @Test("parseBytes accepts", arguments: byteCases)
    func parseBytes(_ text: String, _ expected: Int64) {
        #expect(Units.parseBytes(text) == expected)
    }

    @Test("parseBytes rejects", arguments: [
        "", "lots", "2x", "g", "mb", "kib", "-1g", "1 g", "2gb2", "2 GB", "infg", "nang", "9999999999t", "2p",
    ])
    func parseBytesRejects(_ text: String) {
        #expect(Units.parseBytes(text) == nil)
    }

    @Test("format", arguments: [
        (Duration.zero, "0ms"),
        (.milliseconds(320), "320ms"),
        (.milliseconds(999), "999ms"),
        (.seconds(1), "1.0s"),
        (.milliseconds(1500), "1.5s"),
        (.milliseconds(3140), "3.1s"),
        (.seconds(59), "59.0s"),
        (.seconds(60), "1m00s"),
        (.seconds(125), "2m05s"),
        (.seconds(3599), "59m59s"),
        (.seconds(3600), "1h00m"),
        (.seconds(3725), "1h02m"),
        (.seconds(36_000 + 59 * 60), "10h59m"),
    ])
    func format(_ duration: Duration, _ expected: String) {
        #expect(Units.format(duration) == expected)
    }

    @Test("format rounds up across a unit boundary into the larger unit", arguments: [
        (Duration.microseconds(999_600), "1.0s"),
        (.milliseconds(59_960), "1m00s"),
    ])
    func formatBoundaries(_ duration: Duration, _ expected: String) {
        #expect(Units.format(duration) == expected)
    }

    @Test("formatBytes", arguments: [
        (Int64(0), "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (100 << 20, "100.0 MiB"),
        (2 << 30, "2.0 GiB"),
        (3 << 40, "3.0 TiB"),
        (2048 << 40, "2048.0 TiB"),
    ])
    func formatBytes(_ bytes: Int64, _ expected: String) {
        #expect(Units.formatBytes(bytes) == expected)
    }

    @Test("format output parses back to the same duration", arguments: [
        ("90s", "1m30s"), ("20m", "20m00s"), ("1h30m", "1h30m"), ("500ms", "500ms"), ("2m5s", "2m05s"),
    ])
    func roundTrip(_ text: String, _ formatted: String) throws {
        let duration = try #require(Units.parseDuration(text))
        #expect(Units.format(duration) == formatted)
        #expect(Units.parseDuration(formatted) == duration)
    }
}
