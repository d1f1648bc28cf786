import Core
import Foundation
import Git
import Logging

/// The commit-status APIs of Gitea (also Forgejo), GitHub and GitLab (pure; docs/reports.md):
///
///     gitea   POST {api}/repos/{owner}/{repo}/statuses/{sha}     Authorization: token T
///             {"state": pending|success|failure|error, "target_url", "description", "context"}
///     github  POST {api}/repos/{owner}/{repo}/statuses/{sha}     Authorization: Bearer T
///             Accept: application/vnd.github+json, X-GitHub-Api-Version: 2022-11-28, same body
///     gitlab  POST {api}/projects/{url-encoded path}/statuses/{sha}   PRIVATE-TOKEN: T
///             {"state": pending|running|success|failed|canceled, "target_url", "description", "name"}
package enum ForgeStatus {
    /// The forge's state for a run in `state`.
    package static func state(_ state: RunState, forge: String) -> String {
        switch (forge, state) {
        case ("gitlab", .queued): "pending"
        case ("gitlab", .running): "running"
        case ("gitlab", .passed): "success"
        case ("gitlab", .failed), ("gitlab", .error): "failed"
        case ("gitlab", .canceled): "canceled"
        case (_, .queued), (_, .running): "pending"
        case (_, .passed): "success"
        case (_, .failed): "failure"
        case (_, .error), (_, .canceled): "error"
        }
    }

    package static func endpoint(forge: String, api: String, project: String, sha: String) -> String {
        var base = api
        while base.hasSuffix("/") { base.removeLast() }
        if forge == "gitlab" {
            let encoded = project.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? project
            return "\(base)/projects/\(encoded)/statuses/\(sha)"
        }
        return "\(base)/repos/\(project)/statuses/\(sha)"
    }

    package static func body(forge: String, state: String, targetURL: String, description: String, context: String) -> Data {
        let short = description.count > 140 ? String(description.prefix(137)) + "..." : description
        var fields = ["state": state, "target_url": targetURL, "description": short]
        fields[forge == "gitlab" ? "name" : "context"] = context
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A dictionary of strings always encodes.
        return (try? encoder.encode(fields)) ?? Data("{}".utf8)
    }

    /// The headers that authenticate `token` and ask for the API's current version.
    package static func headers(forge: String, token: String) -> [(name: String, value: String)] {
        switch forge {
        case "github": [("Authorization", "Bearer \(token)"), ("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")]
        case "gitlab": [("PRIVATE-TOKEN", token)]
        default: [("Authorization", "token \(token)")]
        }
    }

    /// `run 12: failed: step test failed (exit 2)`, `run 12: passed (41 passed, 0 failed)`.
    package static func description(_ run: Run) -> String {
        var text = "run \(run.id): \(run.state.rawValue)"
        let tests = run.steps.testTotals
        if let tests { text += " (\(tests.summary))" }
        if run.state != .passed, let message = run.message?.split(separator: "\n").first { text += ": \(message)" }
        return text
    }
}

/// Puts a commit-status delivery in the outbox for each forge entry of `reports:` that maps the run's
/// repository to a project: the pushed commit on every subscribed event (pending, then the outcome), and a
/// passing autofix commit `success` when the run finishes. Sent by `DeliveryOutbox` with the token.
package struct ForgeStatusReporter: RunReporter {
    package let reports: [RunnerConfig.Report]
    package let store: any DeliveryQueue
    package let outbox: DeliveryOutbox?
    package let baseURL: String
    package let logger: Logger

    package init(reports: [RunnerConfig.Report], store: any DeliveryQueue, outbox: DeliveryOutbox?, baseURL: String, logger: Logger) {
        self.reports = reports.filter { $0.type != "webhook" }
        self.store = store
        self.outbox = outbox
        self.baseURL = baseURL
        self.logger = logger
    }

    package func runChanged(_ run: Run, event: RunEvent) async {
        await enqueue(run, event: event, autofixSHA: nil)
    }

    package func runFinished(_ run: Run, repoPath: String) async {
        var fix: String?
        if let line = run.autofix, line.hasPrefix("passed "),
           let branch = line.split(separator: " ").dropFirst().first, branch.hasPrefix("autofix/"),
           let repo = try? Repository.open(at: URL(fileURLWithPath: repoPath)),
           let sha = try? repo.resolve("refs/heads/\(branch)") {
            fix = sha.hex
        }
        await enqueue(run, event: .finished, autofixSHA: fix)
    }

    private func enqueue(_ run: Run, event: RunEvent, autofixSHA: String?) async {
        var added = false
        let target = "\(baseURL)/runs/\(run.id)"
        for report in reports where report.events.map(\.rawValue).contains(event.rawValue) {
            guard let project = report.projects[run.repoName] else { continue }
            var statuses = [(sha: run.sha, state: ForgeStatus.state(run.state, forge: report.type), text: ForgeStatus.description(run))]
            if let autofixSHA { statuses.append((autofixSHA, ForgeStatus.state(.passed, forge: report.type), "autofix of run \(run.id): passed")) }
            for status in statuses {
                let body = ForgeStatus.body(forge: report.type, state: status.state, targetURL: target, description: status.text,
                                            context: report.context)
                do {
                    try store.addDelivery(runID: run.id, event: event, kind: report.type,
                                          url: ForgeStatus.endpoint(forge: report.type, api: report.url, project: project, sha: status.sha),
                                          secretEnv: nil, tokenEnv: report.tokenEnv, payload: body, uuid: UUID().uuidString.lowercased(),
                                          retryFor: report.retryFor, backoff: report.backoff, now: Date())
                    added = true
                } catch {
                    logger.error("cannot queue the commit status", metadata: ["run": "\(run.id)", "forge": "\(report.type)", "error": "\(error)"])
                }
            }
        }
        if added { await outbox?.poke() }
    }
}
