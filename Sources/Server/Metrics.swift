import Core
import Foundation
import Prometheus

/// The daemon's Prometheus metrics (`GET /metrics`, text format, swift-prometheus). Counters and histograms
/// are fed as runs finish (this is a `RunReporter`) and as report deliveries are tried; the gauges (queue,
/// running) are read from the store when scraped. Counters start at zero with each daemon.
///
///     pushbox_runs_total{state}                      runs that reached a final state
///     pushbox_run_duration_seconds                   started → finished (histogram)
///     pushbox_step_duration_seconds                  each step (histogram)
///     pushbox_runs_queued, pushbox_runs_running      now
///     pushbox_autofix_attempts_total, pushbox_autofix_cost_usd_total
///     pushbox_vm_entries_total{state}, pushbox_vm_boot_seconds (histogram)
///     pushbox_report_deliveries_total{kind,result}   result: delivered | retry | gave_up
package final class PushboxMetrics: RunReporter {
    private let registry = PrometheusCollectorRegistry()
    private let store: RunStore
    private let runDuration: DurationHistogram
    private let stepDuration: DurationHistogram
    private let vmBoot: DurationHistogram
    private let autofixAttempts: Counter
    private let autofixCost: Counter
    private let queued: Gauge
    private let running: Gauge
    static let durationBuckets: [Duration] = [.seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(120),
                                              .seconds(300), .seconds(600), .seconds(1200), .seconds(3600)]

    package init(store: RunStore) {
        self.store = store
        runDuration = registry.makeDurationHistogram(descriptor: Self.name("run_duration", "seconds", "Runs from start to final state"),
                                                     buckets: Self.durationBuckets)
        stepDuration = registry.makeDurationHistogram(descriptor: Self.name("step_duration", "seconds", "Steps from start to end"),
                                                      buckets: Self.durationBuckets)
        vmBoot = registry.makeDurationHistogram(descriptor: Self.name("vm_boot", "seconds", "VM guests from start to the job's first command"),
                                                buckets: [.seconds(2), .seconds(4), .seconds(6), .seconds(8), .seconds(12), .seconds(20),
                                                          .seconds(30), .seconds(60)])
        autofixAttempts = registry.makeCounter(descriptor: Self.name("autofix_attempts", "total", "Autofix attempts made"))
        autofixCost = registry.makeCounter(descriptor: Self.name("autofix_cost_usd", "total", "Model cost of autofix, US dollars"))
        queued = registry.makeGauge(descriptor: Self.name("runs", "queued", "Runs waiting in the queue"))
        running = registry.makeGauge(descriptor: Self.name("runs", "running", "Runs in progress"))
        // Every state appears from the first scrape, at zero.
        for state in [RunState.passed, .failed, .error, .canceled] { _ = runsTotal(state) }
    }

    /// `pushbox_<name>_<unit>`.
    static func name(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "pushbox", metricName: name, unitName: unit, helpText: help)
    }

    private func runsTotal(_ state: RunState) -> Counter {
        registry.makeCounter(descriptor: Self.name("runs", "total", "Runs that reached a final state"), labels: [("state", state.rawValue)])
    }

    package func runFinished(_ run: Run, repoPath: String) async {
        runsTotal(run.state).increment()
        if let duration = run.duration { runDuration.record(duration) }
        for step in run.steps { if let duration = step.duration { stepDuration.record(duration) } }
        for vm in run.vms {
            registry.makeCounter(descriptor: Self.name("vm_entries", "total", "VM entries by final state"),
                                 labels: [("state", vm.state.rawValue)]).increment()
            if let boot = vm.bootSeconds { vmBoot.record(.milliseconds(Int64(boot * 1000))) }
        }
        if let attempts = try? store.records.fixAttempts(runID: run.id), !attempts.isEmpty {
            autofixAttempts.increment(by: Int64(attempts.count))
            autofixCost.increment(by: attempts.reduce(0) { $0 + $1.costUSD })
        }
    }

    /// One report delivery was tried: `delivered`, `retry` or `gave_up` (the outbox's `onAttempt`).
    package func deliveryTried(kind: String, result: String) {
        registry.makeCounter(descriptor: Self.name("report_deliveries", "total", "Report delivery attempts by result"),
                             labels: [("kind", kind), ("result", result)]).increment()
    }

    /// The text exposition, with the gauges read from the store now.
    package func exposition() -> String {
        if let counts = try? store.records.counts() {
            queued.set(Double(counts[.queued] ?? 0))
            running.set(Double(counts[.running] ?? 0))
        }
        return registry.emitToString()
    }
}
