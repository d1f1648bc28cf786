import ArgumentParser
import Core
import Foundation
import Store

/// `pushbox reports RUN`: every report delivery of a run (webhooks) with each attempt, from the store.
struct ReportsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reports", abstract: "Show a run's report deliveries (webhooks) and every attempt: status, latency, answer.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Run id.") var runID: Int64
    @Flag(help: "Print JSON.") var json = false

    struct Entry: Encodable {
        var delivery: Delivery
        var attempts: [DeliveryAttempt]
    }

    func run() async throws {
        try await guarded {
            let store = try Runtime.openStore(options.runnerHome)
            guard try store.records.run(id: runID) != nil else { throw UserError("no run \(runID)") }
            let entries = try store.deliveries.deliveries(runID: runID).map { Entry(delivery: $0.delivery, attempts: $0.attempts) }
            if json { return printOut(try Output.json(["deliveries": entries])) }
            if entries.isEmpty { return printOut("run \(runID): no report deliveries (no `reports:` in the runner configuration, or none subscribed)") }
            for entry in entries {
                let d = entry.delivery
                var state = d.state.rawValue.replacingOccurrences(of: "_", with: " ")
                if d.state == .pending { state += ", next try \(Timestamps.string(d.nextAttemptAt))" }
                printOut("\(d.event.rawValue) → \(d.url)  \(state) after \(d.attempts) attempt\(d.attempts == 1 ? "" : "s")  (delivery \(d.uuid))")
                for a in entry.attempts {
                    let excerpt = a.excerpt.replacingOccurrences(of: "\n", with: " ").prefix(120)
                    printOut("  #\(a.attempt)  \(Timestamps.string(a.at))  \(a.status.map(String.init) ?? "no answer")  \(a.latencyMs) ms  \(excerpt)")
                }
            }
        }
    }
}
