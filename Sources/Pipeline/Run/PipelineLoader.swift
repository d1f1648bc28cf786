import Core
import Foundation
import Git
import Synchronization

/// `.pushbox.yml` (or the detected pipeline) of a commit, read and parsed once: the scheduler reads it at
/// the push (branch filters) and the run's checkout stage uses the same parse. The pipeline of a commit
/// never changes, so what was read is kept for the newest `capacity` commits (a failure too: it is the
/// run's `error`).
package final class PipelineLoader: Sendable {
    private struct Key: Hashable {
        var gitDirectory: String
        var commit: ObjectID
    }
    private struct Entries {
        var results: [Key: Result<RunDriver.LoadedPipeline, RunAbort>] = [:]
        var order: [Key] = []
        var parses = 0
    }
    private let entries = Mutex(Entries())
    private let capacity: Int

    package init(capacity: Int = 256) { self.capacity = capacity }

    /// The pipeline at `commit` of `repo` (known by its git directory).
    func load(_ repo: Repository, commit: ObjectID) throws(RunAbort) -> RunDriver.LoadedPipeline {
        let key = Key(gitDirectory: repo.path.path, commit: commit)
        if let known = entries.withLock({ $0.results[key] }) { return try known.get() }
        let result: Result<RunDriver.LoadedPipeline, RunAbort>
        do {
            result = .success(try RunDriver.loadPipeline(repo: repo, commit: commit))
        } catch let abort as RunAbort {
            result = .failure(abort)
        } catch {
            result = .failure(RunAbort(cause: .other, message: "\(error)"))
        }
        entries.withLock { entries in
            entries.parses += 1
            if entries.results.updateValue(result, forKey: key) == nil { entries.order.append(key) }
            while entries.order.count > capacity { entries.results[entries.order.removeFirst()] = nil }
        }
        return try result.get()
    }

    /// How many times a pipeline was read and parsed (each commit once while it is kept).
    package var parses: Int { entries.withLock { $0.parses } }
}
