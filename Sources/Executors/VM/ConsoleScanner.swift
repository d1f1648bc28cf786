import Foundation

/// What the serial console of a one-shot guest says, as far as the runner cares.
package enum ConsoleEvent: Sendable, Equatable {
    /// The start sentinel: the guest is ready and the job begins.
    case started
    /// Bytes the job wrote (stdout and stderr share the console).
    case output(Data)
    /// The exit sentinel with the job's exit code.
    case exited(Int32)
    /// The guest init could not reach the job (it printed why just before).
    case failed
}

/// Splits a guest's serial console stream into the job's output and the sentinels around it (pure).
///
/// The stream is normalised first: the serial line discipline turns `\n` into `\r\n`, which becomes `\n`
/// again (a `\r` at the end of a chunk waits for the next). Sentinels may arrive split across chunks;
/// bytes that could be the start of one are held back until it is clear. A sentinel carries the boot's
/// nonce, so a job that prints sentinel-like text (or a test of this code) cannot end its own run.
package struct ConsoleScanner {
    private enum Phase { case booting, running, finished }

    private let start: [UInt8]
    private let exitPrefix: [UInt8]
    private let failed: [UInt8]
    private var phase = Phase.booting
    private var pendingCR = false
    private var buffer: [UInt8] = []
    /// The newline that ends the start sentinel's line is not the job's.
    private var skipNewline = false

    package init(nonce: String) {
        start = Array(GuestJob.startSentinel(nonce: nonce).utf8)
        exitPrefix = Array(GuestJob.exitSentinelPrefix(nonce: nonce).utf8)
        failed = Array(GuestJob.failedSentinel.utf8)
    }

    /// Feeds raw console bytes. Returns them normalised (for the console log) and the events they complete.
    package mutating func feed(_ data: Data) -> (text: Data, events: [ConsoleEvent]) {
        var text: [UInt8] = []
        text.reserveCapacity(data.count)
        for byte in data {
            if pendingCR {
                pendingCR = false
                if byte == UInt8(ascii: "\n") { text.append(byte); continue }
                text.append(UInt8(ascii: "\r"))
            }
            if byte == UInt8(ascii: "\r") { pendingCR = true } else { text.append(byte) }
        }
        buffer += text
        return (Data(text), scan(final: false))
    }

    /// End of the stream: whatever was held back.
    package mutating func finish() -> (text: Data, events: [ConsoleEvent]) {
        var text = Data()
        if pendingCR {
            pendingCR = false
            text.append(UInt8(ascii: "\r"))
            buffer.append(UInt8(ascii: "\r"))
        }
        return (text, scan(final: true))
    }

    private mutating func scan(final: Bool) -> [ConsoleEvent] {
        var events: [ConsoleEvent] = []
        while true {
            switch phase {
            case .booting:
                if let range = find(start) {
                    buffer.removeSubrange(..<range.upperBound)
                    events.append(.started)
                    phase = .running
                    skipNewline = true
                    continue
                }
                if find(failed) != nil {
                    events.append(.failed)
                    phase = .finished
                    buffer.removeAll()
                    return events
                }
                // Keep only what could still become a sentinel.
                let keep = final ? 0 : max(start.count, failed.count) - 1
                if buffer.count > keep { buffer.removeFirst(buffer.count - keep) }
                return events
            case .running:
                if skipNewline, let first = buffer.first {
                    skipNewline = false
                    if first == UInt8(ascii: "\n") { buffer.removeFirst() }
                }
                if let range = find(exitPrefix) {
                    if range.lowerBound > 0 { events.append(.output(Data(buffer[..<range.lowerBound]))) }
                    buffer.removeSubrange(..<range.lowerBound)
                    // "<digits>@@" follows the prefix.
                    var index = exitPrefix.count
                    var digits: [UInt8] = []
                    while index < buffer.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(buffer[index]), digits.count < 10 {
                        digits.append(buffer[index])
                        index += 1
                    }
                    let complete = index + 1 < buffer.count
                    if !complete && !final && digits.count < 10 { return events }   // wait for the rest
                    if !digits.isEmpty, complete, buffer[index] == UInt8(ascii: "@"), buffer[index + 1] == UInt8(ascii: "@"),
                       let code = Int32(String(decoding: digits, as: UTF8.self)) {
                        events.append(.exited(code))
                        phase = .finished
                        buffer.removeAll()
                        return events
                    }
                    // Not a sentinel after all: it is output.
                    events.append(.output(Data(buffer[..<exitPrefix.count])))
                    buffer.removeFirst(exitPrefix.count)
                    continue
                }
                let hold = final ? 0 : heldBack(exitPrefix)
                if buffer.count > hold {
                    events.append(.output(Data(buffer[..<(buffer.count - hold)])))
                    buffer.removeFirst(buffer.count - hold)
                }
                return events
            case .finished:
                buffer.removeAll()
                return events
            }
        }
    }

    private func find(_ needle: [UInt8]) -> Range<Int>? {
        guard buffer.count >= needle.count, let first = needle.first else { return nil }
        var index = 0
        while index + needle.count <= buffer.count {
            if buffer[index] == first, buffer[index..<(index + needle.count)].elementsEqual(needle) {
                return index..<(index + needle.count)
            }
            index += 1
        }
        return nil
    }

    /// The length of the longest end of the buffer that is a beginning of `needle`.
    private func heldBack(_ needle: [UInt8]) -> Int {
        var length = min(needle.count - 1, buffer.count)
        while length > 0 {
            if buffer[(buffer.count - length)...].elementsEqual(needle[..<length]) { return length }
            length -= 1
        }
        return 0
    }
}

/// The last lines of a console, for error messages about a guest that did not boot (pure).
package struct ConsoleTail {
    package let limit: Int
    private var lines: [String] = []
    private var partial: [UInt8] = []

    package init(limit: Int = 20) { self.limit = limit }

    package mutating func append(_ text: Data) {
        for byte in text {
            if byte == UInt8(ascii: "\n") {
                push(partial)
                partial.removeAll()
            } else if partial.count < 4096 {
                partial.append(byte)
            }
        }
    }

    /// Non-empty lines, oldest first, without terminal escape sequences.
    package var lastLines: [String] {
        var result = lines
        if !partial.isEmpty, let line = Self.clean(partial) { result.append(line) }
        return Array(result.suffix(limit))
    }

    private mutating func push(_ bytes: [UInt8]) {
        guard let line = Self.clean(bytes) else { return }
        lines.append(line)
        if lines.count > limit * 2 { lines.removeFirst(lines.count - limit) }
    }

    /// Drops ANSI escape sequences (SeaBIOS clears the screen) and control characters.
    static func clean(_ bytes: [UInt8]) -> String? {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x1b {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "[") {
                    index += 1
                    while index < bytes.count, !(0x40...0x7e).contains(bytes[index]) { index += 1 }
                }
                index += 1
                continue
            }
            if byte >= 0x20 || byte == 0x09 { out.append(byte) }
            index += 1
        }
        let line = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        return line.isEmpty ? nil : line
    }
}
