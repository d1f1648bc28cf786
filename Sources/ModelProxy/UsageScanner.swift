import Agent
import Foundation

/// What the proxy learns from one answer of `POST /v1/messages`.
package struct ScannedMessage: Sendable, Equatable {
    package var id: String = ""
    package var model: String = ""
    package var stopReason: String = ""
    package var usage = Usage()

    package init(id: String = "", model: String = "", stopReason: String = "", usage: Usage = Usage()) {
        self.id = id
        self.model = model
        self.stopReason = stopReason
        self.usage = usage
    }
}

/// Reads the usage out of an answer while its bytes pass through, without holding a stream: server-sent
/// events (notes §8: `message_start` carries the input and cache tokens, each `message_delta` the
/// cumulative output tokens and the stop reason) line by line, or a JSON message (notes §4), kept up to
/// `maxJSONBytes`. Pure: fed bytes, asked for the result.
package struct UsageScanner: Sendable {
    package enum Format: Sendable, Equatable { case events, json }

    package static let maxJSONBytes = 8 << 20
    package let format: Format
    private var pending = Data()
    private var message = ScannedMessage()
    private var sawMessage = false

    package init(format: Format) {
        self.format = format
    }

    /// The format of an answer with this `content-type`.
    package init(contentType: String?) {
        self.init(format: (contentType ?? "").lowercased().hasPrefix("text/event-stream") ? .events : .json)
    }

    package mutating func feed(_ chunk: Data) {
        switch format {
        case .json:
            if pending.count + chunk.count <= Self.maxJSONBytes { pending.append(chunk) }
        case .events:
            pending.append(chunk)
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                scanEventLine(pending[start..<newline])
                start = pending.index(after: newline)
            }
            pending.removeSubrange(pending.startIndex..<start)
        }
    }

    /// The message seen, nil when the answer held none (an error, a cut stream before `message_start`).
    package mutating func finish() -> ScannedMessage? {
        switch format {
        case .json:
            if let object = (try? JSONSerialization.jsonObject(with: pending)) as? [String: Any], object["type"] as? String == "message" {
                apply(message: object)
            }
        case .events:
            if !pending.isEmpty { scanEventLine(pending[...]) }
        }
        pending = Data()
        return sawMessage ? message : nil
    }

    private mutating func scanEventLine(_ line: Data.SubSequence) {
        var text = Substring(String(decoding: line, as: UTF8.self))
        if text.hasSuffix("\r") { text = text.dropLast() }
        guard text.hasPrefix("data:") else { return }
        let payload = text.dropFirst(5).drop { $0 == " " }
        guard let event = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] else { return }
        switch event["type"] as? String {
        case "message_start":
            if let start = event["message"] as? [String: Any] { apply(message: start) }
        case "message_delta":
            if let usage = event["usage"] as? [String: Any] { message.usage = merged(message.usage, usage) }
            if let stop = (event["delta"] as? [String: Any])?["stop_reason"] as? String { message.stopReason = stop }
        default:
            break
        }
    }

    private mutating func apply(message object: [String: Any]) {
        sawMessage = true
        message.id = object["id"] as? String ?? message.id
        message.model = object["model"] as? String ?? message.model
        if let stop = object["stop_reason"] as? String { message.stopReason = stop }
        if let usage = object["usage"] as? [String: Any] { message.usage = merged(message.usage, usage) }
    }

    /// `usage` fields present in `object` replace those of `base` (the API's counts are cumulative).
    private func merged(_ base: Usage, _ object: [String: Any]) -> Usage {
        func count(_ key: String) -> Int? { (object[key] as? NSNumber)?.intValue }
        return Usage(inputTokens: count("input_tokens") ?? base.inputTokens,
                     outputTokens: count("output_tokens") ?? base.outputTokens,
                     cacheCreationInputTokens: count("cache_creation_input_tokens") ?? base.cacheCreationInputTokens,
                     cacheReadInputTokens: count("cache_read_input_tokens") ?? base.cacheReadInputTokens)
    }
}
