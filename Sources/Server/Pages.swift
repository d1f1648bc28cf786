import Core
import Foundation

/// Plain server-rendered pages: the list of runs and one run with its step logs. No scripts beyond a
/// refresh while a run is live, no assets from elsewhere.
enum Pages {
    static func index(runs: [Run]) -> String {
        let rows = runs.map { run in
            """
            <tr class="\(run.state.rawValue)"><td><a href="/runs/\(run.id)">#\(run.id)</a></td><td>\(escape(run.repoName))</td>\
            <td>\(escape(run.shortRef))</td><td><code>\(run.sha.prefix(8))</code></td><td>\(run.state.rawValue)</td>\
            <td>\(run.duration.map(Units.format) ?? "")</td><td>\(escape(run.message ?? ""))</td></tr>
            """
        }.joined(separator: "\n")
        let live = runs.contains { !$0.state.isFinished }
        return page(title: "pushbox", refresh: live, body: """
            <h1>pushbox</h1>
            <table><tr><th>run</th><th>repo</th><th>ref</th><th>commit</th><th>status</th><th>duration</th><th></th></tr>
            \(rows)
            </table>
            """)
    }

    static func run(_ run: Run, home: RunnerHome, attempts: [FixAttemptSummary] = []) -> String {
        var body = """
            <p><a href="/">all runs</a></p>
            <h1 class="\(run.state.rawValue)">run #\(run.id): \(run.state.rawValue)</h1>
            <p>\(escape(run.repoName)) \(escape(run.ref)) <code>\(run.sha)</code>\(run.detected.map { " · detected: \(escape($0))" } ?? "")</p>
            """
        if let message = run.message { body += "<pre class=\"message\">\(escape(message))</pre>" }
        if let autofix = run.autofix { body += "<p class=\"autofix\">autofix: \(escape(autofix))</p>" }
        if !attempts.isEmpty {
            let rows = attempts.map { a in
                let outcome = a.passed ? "passed" : "failed: \(a.rejection ?? a.verification ?? a.stop)"
                return "<tr class=\"\(a.passed ? "passed" : "failed")\"><td>\(a.attempt)</td><td>\(escape(a.backend))</td><td>\(escape(a.model))</td>"
                    + "<td>\(escape(outcome))</td><td>\(a.turns)</td><td>\(a.toolCalls)</td><td>\(a.inputTokens) / \(a.outputTokens)</td>"
                    + "<td>\(String(format: "$%.2f", a.costUSD))</td><td>\(a.durationSeconds.map { String(format: "%.1fs", $0) } ?? "")</td></tr>"
                    + (a.diff.isEmpty ? "" : "<tr><td></td><td colspan=\"8\"><details><summary>diff</summary><pre>\(escape(a.diff))</pre></details></td></tr>")
            }.joined(separator: "\n")
            body += """
                <h2>autofix attempts</h2>
                <table><tr><th>#</th><th>backend</th><th>model</th><th>outcome</th><th>turns</th><th>tool calls</th><th>tokens in / out</th><th>cost</th><th>time</th></tr>
                \(rows)
                </table>
                """
        }
        for step in run.steps {
            var title = "\(escape(step.name)): \(step.state.rawValue)"
            if let duration = step.duration { title += " in \(Units.format(duration))" }
            if let passed = step.testsPassed { title += " (\(passed) passed, \(step.testsFailed ?? 0) failed)" }
            body += section(run: run, home: home, log: step.name, state: step.state, title: title, command: step.command)
        }
        for vm in run.vms {
            var title = "vm \(escape(vm.profile))\(vm.tree == .autofix ? " (autofix tree)" : ""): \(vm.state.rawValue)"
            if let duration = vm.duration { title += " in \(Units.format(duration))" }
            if let boot = vm.bootSeconds { title += String(format: " (boot %.1fs)", boot) }
            if let tests = vm.tests { title += " (\(tests.summary))" }
            var detail = vm.accel.map { " · accel \(escape($0))" } ?? ""
            if let message = vm.message, vm.state == .error || vm.state == .skipped { detail += " · \(escape(message))" }
            body += section(run: run, home: home, log: vm.logName, state: vm.state, title: title, command: vm.command, detail: detail)
        }
        return page(title: "run #\(run.id)", refresh: !run.state.isFinished, body: body)
    }

    /// `title` and `detail` are HTML already; `command` is text.
    private static func section(run: Run, home: RunnerHome, log: String, state: StepState, title: String, command: String,
                                detail: String = "") -> String {
        let text = tail(of: home.run(run.id).log(step: log), bytes: 256 << 10)
        return """
            <h2 class="\(state.rawValue)">\(title)</h2>
            <p><code>\(escape(command))</code>\(detail) · <a href="/api/v1/runs/\(run.id)/logs/\(log)">raw log</a></p>
            <pre>\(escape(text))</pre>
            """
    }

    private static func tail(of url: URL, bytes: Int) -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return "" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(bytes) ? size - UInt64(bytes) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return (size > UInt64(bytes) ? "[… earlier output in the raw log]\n" : "") + String(decoding: data, as: UTF8.self)
    }

    private static func page(title: String, refresh: Bool, body: String) -> String {
        """
        <!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        \(refresh ? "<meta http-equiv=\"refresh\" content=\"2\">" : "")<title>\(escape(title))</title>
        <style>body{font:14px system-ui,sans-serif;margin:1.5em;max-width:80em}pre{background:#111;color:#ddd;padding:.8em;overflow:auto}
        .passed{color:#1a7f37}.failed,.error{color:#cf222e}.running,.queued{color:#9a6700}table{border-collapse:collapse}
        td,th{padding:.2em .8em;text-align:left}@media(prefers-color-scheme:dark){body{background:#0d1117;color:#c9d1d9}a{color:#58a6ff}}</style>
        </head><body>\(body)</body></html>
        """
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
