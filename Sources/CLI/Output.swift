import API
import Core
import Foundation

/// Formatting for listings: the same JSON as the HTTP API, and aligned text tables.
enum Output {
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = APIJSON.encoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func table(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func runRow(_ run: Run) -> [String] {
        let tests = run.steps.testTotals
        return [String(run.id), run.state.rawValue, run.repoName, run.shortRef, String(run.sha.prefix(8)),
                run.duration.map(Units.format) ?? "-", tests?.summary ?? "", run.message?.split(separator: "\n").first.map(String.init) ?? ""]
    }

    /// `attempt 1 (anthropic, claude-sonnet-5-5): failed: step test failed (exit 2); 3 turns, 5 tool calls, 1200 in / 300 out tokens, $0.01`
    static func describe(_ attempt: FixAttemptSummary) -> String {
        let outcome = attempt.passed ? "passed" : "failed: \(attempt.rejection ?? attempt.verification ?? attempt.stop)"
        var line = "attempt \(attempt.attempt) (\(attempt.backend)\(attempt.model.isEmpty ? "" : ", \(attempt.model)")): \(outcome)"
        line += "; \(attempt.turns) turns, \(attempt.toolCalls) tool calls, \(attempt.inputTokens) in / \(attempt.outputTokens) out tokens"
        line += String(format: ", $%.2f", attempt.costUSD)
        return line
    }

    static func describe(_ run: Run, url: String) -> String {
        var lines = ["run \(run.id): \(run.state.rawValue)   \(url)/runs/\(run.id)",
                     "repo: \(run.repoName)  ref: \(run.ref)  commit: \(run.sha)"]
        if let detected = run.detected { lines.append("detected: \(detected)") }
        if let image = run.image { lines.append("image: \(image)\(run.sandboxID.map { "  container: \($0.prefix(12))" } ?? "")") }
        if let duration = run.duration { lines.append("duration: \(Units.format(duration))") }
        for step in run.steps {
            var line = "  step \(step.name): \(step.state.rawValue)"
            if let duration = step.duration { line += " \(Units.format(duration))" }
            if let code = step.exitCode, code != 0 { line += step.timedOut ? " (timed out)" : " (\(ExitStatus(code: code).summary))" }
            if let tests = step.tests { line += " (\(tests.summary))" }
            if step.truncated { line += " [log truncated]" }
            lines.append(line)
        }
        for vm in run.vms {
            lines.append("  \(vm.noteLine)\(vm.accel.map { " [accel \($0.split(separator: " ").first ?? "")]" } ?? "")")
        }
        if let autofix = run.autofix { lines.append("autofix: \(autofix)") }
        if let message = run.message { lines.append("message: \(message)") }
        return lines.joined(separator: "\n")
    }
}
