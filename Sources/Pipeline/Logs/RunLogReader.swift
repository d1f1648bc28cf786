import Core
import Foundation

/// Streams a run's step logs from disk as they grow: reads what is there, then waits for the `LogHub` to
/// say something changed. No polling; ends when the step (or the run) is over and the file is drained.
package struct RunLogReader: Sendable {
    package let home: RunnerHome
    package let store: RunStore
    package let hub: LogHub
    static let chunkSize = 64 << 10

    package init(home: RunnerHome, store: RunStore, hub: LogHub) {
        self.home = home
        self.store = store
        self.hub = hub
    }

    /// One step's log from byte `from` on. `emit` receives raw bytes.
    package func streamStep(runID: Int64, step: String, follow: Bool, from: UInt64 = 0, emit: (Data) async throws -> Void) async throws {
        let changes = follow ? await hub.follow(runID: runID) : nil
        var iterator = changes?.makeAsyncIterator()
        var offset: UInt64 = from
        let file = home.run(runID).log(step: step)
        while true {
            // Read the state before the file, so output written just before the step ended is not missed.
            let run = try store.records.run(id: runID)
            let stepState = run?.logSections.first { $0.name == step }?.state
            let done = !follow || run?.state.isFinished != false || (stepState.map { ![.pending, .running].contains($0) } ?? false)
            offset = try await drain(file, from: offset, emit: emit)
            if done { return }
            guard await iterator?.next() != nil else {
                _ = try await drain(file, from: offset, emit: emit)
                return
            }
        }
    }

    /// All steps, then the VM entries, in order, each introduced by a `==> step NAME` (`==> vm PROFILE`) header.
    package func streamRun(runID: Int64, follow: Bool, emit: (Data) async throws -> Void) async throws {
        let changes = follow ? await hub.follow(runID: runID) : nil
        var iterator = changes?.makeAsyncIterator()
        var position = 0
        var offset: UInt64 = 0
        var headerWritten = false
        while true {
            guard let run = try store.records.run(id: runID) else { return }
            let finished = run.state.isFinished
            let sections = run.logSections
            while position < sections.count {
                let step = sections[position]
                if step.state == .pending && !finished { break }
                if !headerWritten {
                    let state = step.state == .skipped || step.state == .pending ? " (skipped)" : ""
                    try await emit(Data("==> \(step.title): \(step.command)\(state)\n".utf8))
                    headerWritten = true
                }
                offset = try await drain(home.run(runID).log(step: step.name), from: offset, emit: emit)
                guard step.state != .running || finished else { break }
                let ended = step.state == .skipped || step.state == .pending ? "" :
                    "==> \(step.title): \(step.state.rawValue)\(step.exitCode.map { " (exit \($0))" } ?? "")\n"
                try await emit(Data(ended.utf8))
                position += 1
                offset = 0
                headerWritten = false
            }
            if finished || !follow {
                if finished, let message = run.message, run.state != .passed {
                    try await emit(Data("==> run \(run.id): \(run.state.rawValue): \(message)\n".utf8))
                } else if finished {
                    try await emit(Data("==> run \(run.id): \(run.state.rawValue)\n".utf8))
                }
                return
            }
            guard await iterator?.next() != nil else { continue }
        }
    }

    private func drain(_ file: URL, from offset: UInt64, emit: (Data) async throws -> Void) async throws -> UInt64 {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return offset }
        defer { try? handle.close() }
        var position = offset
        try handle.seek(toOffset: position)
        while let chunk = try handle.read(upToCount: Self.chunkSize), !chunk.isEmpty {
            try await emit(chunk)
            position += UInt64(chunk.count)
        }
        return position
    }
}
