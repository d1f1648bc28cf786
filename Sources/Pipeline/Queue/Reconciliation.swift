import API
import Core
import Foundation
import Git
import Logging
import Workspace

/// The scheduler's reconciliation, every `reconcile_every` and at start: pushes the hook could not deliver
/// (the spool), heads no hook announced (the scan), finished runs whose reporters were never told, and the
/// one automatic retry of a run that the engine's loss or a full runner disk ended.
extension Scheduler {
    /// Drains the spool, scans every repository for heads without runs, retries runs the engine's loss
    /// ended (once it answers), and fills free slots.
    package func reconcile() async {
        drainSpool()
        for repo in (try? store.repositories.repos()) ?? [] { scan(repo) }
        reportUnreported()
        await retryAfterEngineLoss()
        retryAfterDiskFull()
        pump()
    }

    /// Runs that ended `error: container engine unavailable` go again, once each, when the engine answers
    /// — unless their ref has had a newer run since. The list is read after the engine check, with no
    /// suspension before the runs are queued, so two reconciliations cannot both retry a run.
    package func retryAfterEngineLoss() async {
        guard await environment.executor.isAvailable() else { return }
        retryOnce(after: .engineUnavailable, why: "the container engine answers again")
    }

    /// Runs that ended `error: runner disk full` (their workspace could not be made) go again, once each, when
    /// the runner home has space again (`retrySpace` free) — unless their ref has had a newer run since.
    package func retryAfterDiskFull() {
        guard WorkspaceVolume.freeBytes(environment.home.root) >= Self.retrySpace else { return }
        retryOnce(after: .runnerDiskFull, why: "the runner home has space again")
    }

    static let retrySpace: Int64 = 16 << 20

    /// Each `error` run of `cause` awaiting its automatic retry goes again, as `RunSource.automaticRetry(after:)`.
    func retryOnce(after cause: RunErrorCause, why: String) {
        guard let source = RunSource.automaticRetry(after: cause), let ids = try? store.queue.runsAwaitingRetry(after: cause) else { return }
        for id in ids {
            do {
                guard let run = try store.records.run(id: id),
                      let latest = try store.queue.latestRun(repoID: run.repoID, ref: run.ref), latest.id == id else { continue }
                let retry = try retry(runID: id, source: source)
                logger.notice("\(why): run queued once more", metadata: ["run": "\(retry.id)", "retry_of": "\(id)"])
            } catch {
                logger.error("cannot retry run \(id): \(error)")
            }
        }
    }

    func drainSpool() {
        let spool = Spool(directory: environment.home.spool)
        for (file, event) in spool.pending() {
            switch event {
            case let .success(event):
                do {
                    let results = try submit(repoPath: event.repoPath, updates: event.updates, source: .spool,
                                             pushedAt: event.receivedAt)
                    logger.notice("drained spooled push", metadata: ["file": "\(file.lastPathComponent)", "runs": "\(results.compactMap(\.runID))"])
                    spool.remove(file)
                } catch let error as StoreError {
                    // Repository no longer registered: the event can never be run; keep a record in the log.
                    logger.error("dropping spooled push \(file.lastPathComponent): \(error)")
                    spool.remove(file)
                } catch {
                    logger.error("cannot drain \(file.lastPathComponent), will retry: \(error)")
                    return
                }
            case let .failure(error):
                logger.error("\(error)")
            }
        }
    }

    /// Queues runs for branch heads the runner has not seen (pushed while no hook or daemon was there).
    func scan(_ repo: Repo) {
        let heads: [(name: String, target: ObjectID)]
        do {
            heads = try Repository.open(at: URL(fileURLWithPath: repo.path)).references(prefix: "refs/heads/")
        } catch {
            logger.warning("cannot scan \(repo.path): \(error)")
            return
        }
        guard let known = try? store.queue.knownHeads(repoID: repo.id) else { return }
        var seen: [String: String] = [:]
        for head in heads where known[head.name] != head.target.hex {
            if head.name.hasPrefix("refs/heads/autofix/") { seen[head.name] = head.target.hex; continue }
            let update = RefUpdate(oldSHA: known[head.name] ?? RefUpdate.zeroSHA, newSHA: head.target.hex, ref: head.name)
            do {
                if try store.queue.hasRun(repoID: repo.id, sha: head.target.hex) {
                    seen[head.name] = head.target.hex
                } else {
                    let result = try submit(repo: repo, update: update, source: .scan, pushedAt: nil)
                    logger.notice("scan found an unseen head", metadata: ["repo": "\(repo.name)", "ref": "\(head.name)", "status": "\(result.status.rawValue)"])
                }
            } catch {
                logger.error("cannot queue \(head.name) of \(repo.name): \(error)")
            }
        }
        try? store.queue.rememberHeads(repoID: repo.id, seen)
    }
}
