import API
import Core
import Foundation

/// Server-rendered pages: the list of runs (refreshing while runs are live) and one run with its stages,
/// logs (ANSI colours, line anchors, raw download), autofix attempts and VM results; a little inline
/// JavaScript follows live logs over server-sent events and sends Cancel/Retry. No assets from elsewhere.
enum Pages {
    static func index(runs: [Run], repos: [Repo] = [], flaky: [FlakyTest] = []) -> String {
        let rows = runs.map { run in
            """
            <tr class="\(run.state.rawValue)"><td><a href="/runs/\(run.id)">#\(run.id)</a></td><td>\(escape(run.repoName))</td>\
            <td>\(escape(run.shortRef))</td><td><code>\(run.sha.prefix(8))</code></td><td><span class="badge \(run.state.rawValue)">\(run.state.rawValue)</span></td>\
            <td>\(run.duration.map(Units.format) ?? "")</td><td>\(tests(run).map { escape($0.summary) } ?? "")</td>\
            <td>\(escape(run.subject ?? ""))</td><td>\(badges(run))\(escape(run.message?.split(separator: "\n").first.map(String.init) ?? ""))</td></tr>
            """
        }.joined(separator: "\n")
        let live = runs.contains { !$0.state.isFinished }
        // Each repository with its latest run (among those listed).
        let repoRows = repos.map { repo -> String in
            let latest = runs.first { $0.repoID == repo.id }
            let state = latest.map { "<a href=\"/runs/\($0.id)\"><span class=\"badge \($0.state.rawValue)\">\($0.state.rawValue)</span></a> \(escape($0.shortRef))" } ?? "no runs yet"
            return "<tr><td>\(escape(repo.name))</td><td><code>\(escape(repo.path))</code></td><td>\(state)</td></tr>"
        }.joined(separator: "\n")
        let repoTable = repos.isEmpty ? "<p class=\"note\">No repository registered yet: <code>pushbox repo add /srv/git/app.git</code></p>"
            : "<table><tr><th>repository</th><th>path</th><th>latest run</th></tr>\(repoRows)</table><h2>recent runs</h2>"
        // Tests that failed and then passed on a re-run of the same commit (autofix's flake triage).
        let flakyRows = flaky.prefix(Self.flakyRowsShown).map { test in
            "<tr><td>\(escape(test.repo))</td><td><code>\(escape(test.name))</code></td><td>\(test.times)</td>"
                + "<td><a href=\"/runs/\(test.lastRunID)\">#\(test.lastRunID)</a></td></tr>"
        }.joined(separator: "\n")
        let flakyTable = flaky.isEmpty ? "" : """
            <h2 id="flaky">flaky tests</h2>
            <table class="flaky"><tr><th>repository</th><th>test</th><th>times</th><th>last run</th></tr>\(flakyRows)</table>
            """
        return page(title: "pushbox", refresh: live ? 2 : 10, body: """
            <h1>pushbox</h1>
            \(repoTable)
            <table><tr><th>run</th><th>repo</th><th>ref</th><th>commit</th><th>status</th><th>duration</th><th>tests</th><th>commit subject</th><th></th></tr>
            \(rows)
            </table>
            \(flakyTable)
            """)
    }

    /// How many flaky tests the runs list shows (all of them: `pushbox flaky`, `GET /api/v1/flaky`).
    static let flakyRowsShown = 50

    /// Test counts over the steps that reported some.
    static func tests(_ run: Run) -> TestCounts? {
        run.steps.testTotals
    }

    /// `autofix` and `vm` badges of a run, coloured by outcome.
    static func badges(_ run: Run) -> String {
        var out = ""
        if let flaky = run.flaky {
            out += "<span class=\"badge skipped\" title=\"\(escape(flaky))\">flaky</span> "
        }
        if let autofix = run.autofix {
            let state = autofix.hasPrefix("passed") ? "passed" : autofix.hasPrefix("skipped") ? "skipped" : "failed"
            out += "<span class=\"badge \(state)\" title=\"\(escape(autofix))\">autofix</span> "
        }
        for vm in run.vms {
            out += "<span class=\"badge \(vm.state.rawValue)\" title=\"\(escape(vm.noteLine))\">\(escape(vm.profile))</span> "
        }
        return out
    }

    /// What the page's script compares with `GET /api/v1/runs/<id>` to know that the page is stale:
    /// the run's state and every step's and VM entry's (the same expression as in `script`).
    static func stageKey(_ run: Run) -> String {
        "\(run.state.rawValue)|\(run.steps.map(\.state.rawValue).joined(separator: ","))|\(run.vms.map(\.state.rawValue).joined(separator: ","))"
    }

    static func run(_ run: Run, home: RunnerHome, attempts: [FixAttemptSummary] = [],
                    deliveries: [(delivery: Delivery, attempts: [DeliveryAttempt])] = []) -> String {
        let live = !run.state.isFinished
        var body = """
            <p><a href="/">all runs</a></p>
            <h1>run #\(run.id) <span class="badge \(run.state.rawValue)" id="state" data-key="\(stageKey(run))">\(run.state.rawValue)</span>\
            \(live ? "<button data-action=\"cancel\">Cancel</button>" : "<button data-action=\"retry\">Retry</button>")</h1>
            \(run.subject.map { "<p><b>\(escape($0))</b></p>" } ?? "")
            <p>\(escape(run.repoName)) \(escape(run.ref)) <code>\(run.sha)</code>\(run.detected.map { " · detected: \(escape($0))" } ?? "")\
            \(run.duration.map { " · \(Units.format($0))" } ?? "")\(tests(run).map { " · \(escape($0.summary))" } ?? "")</p>
            <p id="action-result" class="message"></p>
            """
        if let message = run.message { body += "<pre class=\"message\">\(escape(message))</pre>" }
        if let flaky = run.flaky {
            body += "<p class=\"flaky\">flaky: \(escape(flaky)) (no model was called; <code>pushbox flaky \(escape(run.repoName))</code>)</p>"
        }
        if let autofix = run.autofix {
            body += "<p class=\"autofix\">autofix: \(escape(autofix))</p>"
            if autofix.hasPrefix("passed "), let branch = autofix.split(separator: " ").dropFirst().first {
                body += "<p>review: <code>git diff \(run.sha.prefix(7))..\(escape(String(branch)))</code></p>"
            }
        }
        // Stages at a glance: each step and VM entry with its state and time.
        var stages = run.steps.map { step in
            "<tr class=\"\(step.state.rawValue)\"><td><a href=\"#log-\(step.name)\">step \(escape(step.name))</a></td><td>\(step.state.rawValue)</td><td>\(step.duration.map(Units.format) ?? "")</td></tr>"
        }
        stages += run.vms.map { vm in
            "<tr class=\"\(vm.state.rawValue)\"><td><a href=\"#log-\(vm.logName)\">vm \(escape(vm.profile))\(vm.tree == .autofix ? " (autofix)" : "")</a></td><td>\(vm.state.rawValue)</td><td>\(vm.duration.map(Units.format) ?? "")</td></tr>"
        }
        if let times = stageTimes(home.run(run.id).metadata) {
            stages.insert("<tr class=\"passed\"><td>checkout</td><td>passed</td><td>\(Units.format(times.checkout))</td></tr>"
                          + (times.sandbox.map { "<tr class=\"passed\"><td>container start</td><td>passed</td><td>\(Units.format($0))</td></tr>" } ?? ""),
                          at: 0)
        }
        if !stages.isEmpty { body += "<table class=\"stages\">\(stages.joined())</table>" }
        if !run.artifacts.isEmpty {
            if run.artifactsRemovedAt != nil {
                body += "<h2>artifacts</h2><p class=\"message\">\(run.artifacts.count) files, removed by retention (artifacts_keep)</p>"
            } else {
                let rows = run.artifacts.map { file in
                    "<tr><td><a href=\"\(escape(ArtifactList.url(run: run.id, path: file.path)))\" download>\(escape(file.path))</a></td><td>\(Units.formatBytes(file.size))</td></tr>"
                }
                body += "<h2>artifacts</h2><table class=\"artifacts\">\(rows.joined())</table>"
            }
        }
        if !attempts.isEmpty {
            let rows = attempts.map { a in
                let outcome = a.passed ? "passed" : "failed: \(a.rejection ?? a.verification ?? a.stop)"
                return "<tr class=\"\(a.passed ? "passed" : "failed")\"><td>\(a.attempt)</td><td>\(escape(a.backend))</td><td>\(escape(a.model))</td>"
                    + "<td>\(escape(outcome))</td><td>\(a.turns)</td><td>\(a.toolCalls)</td><td>\(a.inputTokens) / \(a.outputTokens)</td>"
                    + "<td>\(String(format: "$%.2f", a.costUSD))</td><td>\(a.durationSeconds.map { String(format: "%.1fs", $0) } ?? "")</td></tr>"
                    + (a.diff.isEmpty ? "" : "<tr><td></td><td colspan=\"8\"><details\(a.passed ? " open" : "")><summary>diff</summary><pre class=\"diff\">\(diffHTML(a.diff))</pre></details></td></tr>")
            }.joined(separator: "\n")
            body += """
                <h2>autofix attempts</h2>
                <table><tr><th>#</th><th>backend</th><th>model</th><th>outcome</th><th>turns</th><th>tool calls</th><th>tokens in / out</th><th>cost</th><th>time</th></tr>
                \(rows)
                </table>
                """
        }
        if !deliveries.isEmpty {
            let rows = deliveries.map { entry in
                let d = entry.delivery
                let tries = entry.attempts.map { a in
                    "\(a.status.map(String.init) ?? "no answer") in \(a.latencyMs) ms"
                }.joined(separator: ", ")
                let state = d.state == .pending ? "pending, next try \(Timestamps.string(d.nextAttemptAt))" : d.state.rawValue.replacingOccurrences(of: "_", with: " ")
                return "<tr class=\"\(d.state == .delivered ? "passed" : d.state == .pending ? "running" : "failed")\"><td>\(escape(d.kind))</td><td>\(d.event.rawValue)</td>"
                    + "<td>\(escape(d.url))</td><td>\(escape(state))</td><td>\(escape(tries))</td><td>\(escape(d.lastError ?? ""))</td></tr>"
            }.joined(separator: "\n")
            body += """
                <h2>reports</h2>
                <table><tr><th>kind</th><th>event</th><th>to</th><th>state</th><th>attempts</th><th>last error</th></tr>
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
        return page(title: "run #\(run.id)", refresh: nil, body: body + (live ? "<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>" : ""))
    }

    /// `title` and `detail` are HTML already; `command` is text. The log's last 256 KiB with numbered,
    /// linkable lines and ANSI colours; a step still running is followed live by the page's script
    /// (server-sent events from the byte and line where this rendering stopped).
    private static func section(run: Run, home: RunnerHome, log: String, state: StepState, title: String, command: String,
                                detail: String = "") -> String {
        let file = home.run(run.id).log(step: log)
        let live = state == .running || (state == .pending && !run.state.isFinished)
        let rendered = LogTail.read(file, bytes: 256 << 10, completeLinesOnly: live)
        var lines = ""
        for (index, line) in rendered.lines.enumerated() {
            let number = rendered.firstLine + index
            lines += "<span class=\"l\" id=\"\(log)-L\(number)\"><a class=\"n\" href=\"#\(log)-L\(number)\">\(number)</a>\(ANSIRenderer.html(TerminalText.collapse(Substring(line))))\n</span>"
        }
        let earlier = rendered.skippedBytes > 0
            ? "<p class=\"note\">\(Units.formatBytes(Int64(rendered.skippedBytes))) earlier in the <a href=\"/api/v1/runs/\(run.id)/logs/\(log)\">raw log</a></p>" : ""
        return """
            <h2 class="\(state.rawValue)" id="log-\(log)">\(title)</h2>
            <p><code>\(escape(command))</code>\(detail) · <a href="/api/v1/runs/\(run.id)/logs/\(log)" download="run-\(run.id)-\(log).log">raw log</a></p>
            \(earlier)<pre class="log" data-run="\(run.id)" data-log="\(log)" data-offset="\(rendered.endOffset)" data-line="\(rendered.firstLine + rendered.lines.count)" data-live="\(live ? 1 : 0)">\(lines)</pre>
            """
    }

    /// `refresh`: seconds between reloads (nil: none).
    private static func page(title: String, refresh: Int?, body: String) -> String {
        """
        <!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        \(refresh.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? "")<title>\(escape(title))</title>
        <style>\(css)</style>
        </head><body>\(body)<script>\(script)</script></body></html>
        """
    }

    /// Light and dark; the 16 ANSI colours as `f0…f15` / `g0…g15`.
    static let css = """
        :root{--bg:#fff;--fg:#1f2328;--muted:#656d76;--code:#f6f8fa;--logbg:#0d1117;--logfg:#e6edf3;--link:#0969da}
        @media(prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;--code:#161b22;--link:#58a6ff}}
        body{font:14px system-ui,sans-serif;margin:1em auto;padding:0 1em;max-width:90em;background:var(--bg);color:var(--fg)}
        a{color:var(--link)}code{background:var(--code);padding:0 .3em;border-radius:4px;word-break:break-all}
        table{border-collapse:collapse;width:100%}td,th{padding:.25em .6em;text-align:left;border-bottom:1px solid var(--code)}
        .badge{display:inline-block;padding:0 .5em;border-radius:1em;font-size:.85em;color:#fff;background:#6e7781}
        .badge.passed{background:#1a7f37}.badge.failed,.badge.error{background:#cf222e}.badge.running,.badge.queued,.badge.pending{background:#9a6700}
        h2.passed{color:#1a7f37}h2.failed,h2.error{color:#cf222e}h2.running{color:#9a6700}
        pre.log{background:var(--logbg);color:var(--logfg);padding:.6em;overflow:auto;max-height:70vh;font:12px/1.45 ui-monospace,monospace}
        pre.log .l{display:block;white-space:pre-wrap;word-break:break-all}pre.log .l:target{background:#3b2e00}
        pre.log .n{display:inline-block;width:4.5em;margin-right:.8em;text-align:right;color:#6e7681;text-decoration:none;user-select:none}
        .message{white-space:pre-wrap}.note{color:var(--muted)}button{margin-left:.6em;font-size:.6em}
        pre.diff{background:var(--code);padding:.6em;overflow:auto}.diff .add{color:#1a7f37}.diff .del{color:#cf222e}.diff .hunk{color:#8250df}.diff .file{font-weight:bold}
        .b{font-weight:bold}.i{font-style:italic}.u{text-decoration:underline}
        .f0{color:#484f58}.f1{color:#ff7b72}.f2{color:#3fb950}.f3{color:#d29922}.f4{color:#58a6ff}.f5{color:#bc8cff}.f6{color:#39c5cf}.f7{color:#b1bac4}
        .f8{color:#6e7681}.f9{color:#ffa198}.f10{color:#56d364}.f11{color:#e3b341}.f12{color:#79c0ff}.f13{color:#d2a8ff}.f14{color:#56d4dd}.f15{color:#fff}
        .g0{background:#484f58}.g1{background:#8e1519}.g2{background:#1a4721}.g3{background:#6c4a00}.g4{background:#0c2d6b}.g5{background:#3c1e70}.g6{background:#0a3a3f}.g7{background:#6e7681}
        .g8{background:#6e7681}.g9{background:#a40e26}.g10{background:#2ea043}.g11{background:#9e6a03}.g12{background:#1f6feb}.g13{background:#8957e5}.g14{background:#1b7c83}.g15{background:#b1bac4}
        @media(max-width:600px){pre.log .n{width:3em;margin-right:.4em}td,th{padding:.2em .3em}}
        """

    /// Follows running steps over server-sent events (new lines appear without a reload), reloads when
    /// the run's stages change, and sends Cancel/Retry with the API token (asked once, kept in this
    /// browser's localStorage). Plain JavaScript, served inline: no build step, nothing from elsewhere.
    static let script = #"""
        (function(){
        var esc=function(t){return t.replace(/&/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;').replace(/"/g,'&quot;')};
        function ansi(text){var out='',st={},open=false,re=/\x1b\[([0-9;]*)([@-~])|\x1b\][^\x07]*\x07?/g,last=0,m;
          function cls(){var c=[];if(st.b)c.push('b');if(st.i)c.push('i');if(st.u)c.push('u');if(st.f!=null)c.push('f'+st.f);if(st.g!=null)c.push('g'+st.g);return c.join(' ')}
          while((m=re.exec(text))){out+=esc(text.slice(last,m.index));last=re.lastIndex;if(m[2]!=='m')continue;
            if(open){out+='</span>';open=false}var codes=m[1]===''?[0]:m[1].split(';').map(Number);
            for(var k=0;k<codes.length;k++){var c=codes[k];if(c===0)st={};else if(c===1)st.b=1;else if(c===3)st.i=1;else if(c===4)st.u=1;
              else if(c===22)st.b=0;else if(c===23)st.i=0;else if(c===24)st.u=0;else if(c>=30&&c<=37)st.f=c-30;else if(c===39)st.f=null;
              else if(c>=40&&c<=47)st.g=c-40;else if(c===49)st.g=null;else if(c>=90&&c<=97)st.f=c-82;else if(c>=100&&c<=107)st.g=c-92;
              else if((c===38||c===48)&&codes[k+1]===5){var n=codes[k+2]<16?codes[k+2]:null;if(c===38)st.f=n;else st.g=n;k+=2}
              else if((c===38||c===48)&&codes[k+1]===2){if(c===38)st.f=null;else st.g=null;k+=4}}
            var cl=cls();if(cl){out+='<span class="'+cl+'">';open=true}}
          out+=esc(text.slice(last));if(open)out+='</span>';return out}
        var reloadSoon=function(){setTimeout(function(){location.reload()},300)};
        document.querySelectorAll('pre.log[data-live="1"]').forEach(function(pre){
          var name=pre.dataset.log,u='/api/v1/runs/'+pre.dataset.run+'/logs/'+encodeURIComponent(name)+'?follow=1&from='+pre.dataset.offset+'&line='+pre.dataset.line;
          var es=new EventSource(u);
          es.addEventListener('line',function(e){var n=e.lastEventId,s=document.createElement('span');s.className='l';s.id=name+'-L'+n;
            s.innerHTML='<a class="n" href="#'+name+'-L'+n+'">'+n+'</a>'+ansi(e.data)+'\n';
            var atEnd=pre.scrollTop+pre.clientHeight>=pre.scrollHeight-4;pre.appendChild(s);if(atEnd)pre.scrollTop=pre.scrollHeight});
          es.addEventListener('end',function(){es.close();reloadSoon()});
          es.onerror=function(){es.close()}});
        var state=document.getElementById('state');
        if(state&&/queued|running/.test(state.textContent)){var runID=location.pathname.split('/').pop(),seen=state.dataset.key;
          setInterval(function(){fetch('/api/v1/runs/'+runID).then(function(r){return r.json()}).then(function(run){
            var key=run.state+'|'+run.steps.map(function(s){return s.state}).join()+'|'+(run.vms||[]).map(function(v){return v.state}).join();
            if(key!==seen){seen=key;reloadSoon()}})},1000)}
        document.querySelectorAll('button[data-action]').forEach(function(b){b.addEventListener('click',function(){
          var act=b.dataset.action,runID=location.pathname.split('/').pop(),out=document.getElementById('action-result');
          function send(){return fetch('/api/v1/runs/'+runID+'/'+act,{method:'POST',headers:{'Authorization':'Bearer '+(localStorage.getItem('pushboxToken')||'')}})}
          send().then(function(r){if(r.status===401){var t=prompt('API token (pushbox token):');if(!t)return null;localStorage.setItem('pushboxToken',t);return send()}return r})
            .then(function(r){if(!r)return;return r.json().then(function(j){out.textContent=act+': '+(j.outcome||j.error||r.status);
              if(j.new_run_id)location.href='/runs/'+j.new_run_id;else reloadSoon()})})})});
        })();
        """#

    /// Checkout and container-start durations from `metadata.json` (written when the run ends).
    static func stageTimes(_ metadata: URL) -> (checkout: Duration, sandbox: Duration?)? {
        guard let data = FileManager.default.contents(atPath: metadata.path),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let timings = object["timings"] as? [String: Any],
              let claimed = (timings["claimed_at"] as? String).flatMap(Timestamps.date),
              let checkedOut = (timings["checked_out_at"] as? String).flatMap(Timestamps.date) else { return nil }
        let ms = { (from: Date, to: Date) in Duration.milliseconds(Int64((to.timeIntervalSince(from) * 1000).rounded())) }
        let requested = (timings["sandbox_requested_at"] as? String).flatMap(Timestamps.date)
        let ready = (timings["sandbox_ready_at"] as? String).flatMap(Timestamps.date)
        return (ms(claimed, checkedOut), requested.flatMap { start in ready.map { ms(start, $0) } })
    }

    /// A unified diff with added, removed and hunk lines marked (`.add`, `.del`, `.hunk`).
    static func diffHTML(_ diff: String) -> String {
        diff.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let text = escape(String(line))
            if line.hasPrefix("+++") || line.hasPrefix("---") { return "<span class=\"file\">\(text)</span>" }
            if line.hasPrefix("+") { return "<span class=\"add\">\(text)</span>" }
            if line.hasPrefix("-") { return "<span class=\"del\">\(text)</span>" }
            if line.hasPrefix("@@") { return "<span class=\"hunk\">\(text)</span>" }
            return text
        }.joined(separator: "\n")
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
