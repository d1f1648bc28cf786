import Core
import Foundation
import Git
import Logging
import Workspace

/// Stage 1 of a run: the pipeline definition at the pushed commit, its tree exported into the run's
/// workspace, and its caches.
extension RunDriver {
    func repository(of run: Run) throws -> Repository {
        guard let repo = try store.repositories.repo(id: run.repoID) else {
            throw RunAbort(cause: .repository, message: "repository \(run.repoName) is no longer registered")
        }
        do {
            return try Repository.open(at: URL(fileURLWithPath: repo.path))
        } catch {
            throw RunAbort(cause: .repository, message: "cannot open \(repo.path): \(error)")
        }
    }

    /// `.pushbox.yml` at the pushed commit, or a detected pipeline.
    package struct LoadedPipeline: Sendable {
        package var spec: PipelineSpec
        package var detected: String?
    }

    package static func loadPipeline(repo: Repository, commit: ObjectID) throws -> LoadedPipeline {
        let data: Data?
        do {
            data = try repo.readFile(PipelineParser.fileName, at: commit, maxBytes: 1 << 20)
        } catch {
            throw RunAbort(cause: .configuration, message: "cannot read \(PipelineParser.fileName): \(error)")
        }
        if let data {
            guard let text = String(data: data, encoding: .utf8) else {
                throw RunAbort(cause: .configuration, message: "\(PipelineParser.fileName) is not UTF-8 text")
            }
            do {
                return LoadedPipeline(spec: try PipelineParser.parse(text), detected: nil)
            } catch let error as SpecError {
                throw RunAbort(cause: .configuration, message: error.description)
            }
        }
        let tree = DetectionTree(
            topLevel: Set(try repo.fileNames(at: commit) ?? []),
            read: { name in
                (try? repo.readFile(name, at: commit, maxBytes: 256 << 10)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }
            },
            list: { directory in (try? repo.fileNames(at: commit, in: directory)) ?? nil })
        let detected = PipelineDetector.detect(tree)
        guard let detected else { throw RunAbort(cause: .configuration, message: PipelineDetector.nothingDetectedMessage) }
        return LoadedPipeline(spec: detected.spec, detected: detected.summary)
    }

    func loadPipeline(_ run: Run, repo: Repository) throws -> LoadedPipeline {
        guard let commit = ObjectID(hex: run.sha) else { throw RunAbort(cause: .repository, message: "\(run.sha) is not an object id") }
        do {
            let info = try repo.commit(commit)
            try? store.records.update(runID: run.id, subject: String(info.subject.prefix(200)))
        } catch {
            throw RunAbort(cause: .repository, message: "commit \(run.sha) is not in the repository (\(error))")
        }
        return try environment.pipelines.load(repo, commit: commit)
    }

    /// Exports the commit's tree into a fresh `workspace/` (the executor hands it to its sandbox user): a
    /// `WorkspaceVolume` of `workspaceQuota` bytes when set, else a plain directory.
    func checkout(_ run: Run, repo: Repository, into files: RunFiles) throws -> WorkspaceVolume? {
        let fm = FileManager.default
        var volume: WorkspaceVolume?
        if let quota = environment.workspaceQuota {
            do {
                volume = try WorkspaceVolume.create(at: files.workspace, image: files.workspaceImage, bytes: quota)
            } catch {
                throw RunAbort(cause: Self.isDiskFull(error) ? .runnerDiskFull : .sandbox,
                               message: Self.diskFullPrefix(error) + "cannot create the workspace (workspace_quota \(Units.formatBytes(quota))): \(error)")
            }
        } else {
            WorkspaceVolume.workspace(of: files).release()
        }
        try? fm.removeItem(at: files.logs)
        try fm.createDirectory(at: files.logs, withIntermediateDirectories: true)
        let started = ContinuousClock.now
        let report: ExportReport
        do {
            // Object id validity was checked by loadPipeline.
            report = try repo.export(ObjectID(hex: run.sha)!, to: files.workspace)
        } catch {
            if let volume, Self.isDiskFull(error) {
                throw RunAbort(cause: .workspaceFull, message: "checkout failed: the tree does not fit in the workspace (workspace_quota \(Units.formatBytes(volume.bytes))): \(error)")
            }
            throw RunAbort(cause: Self.isDiskFull(error) ? .runnerDiskFull : .repository, message: Self.diskFullPrefix(error) + "checkout failed: \(error)")
        }
        var lines = ["checkout \(run.sha) (\(run.ref)): \(report.files) files, \(report.symlinks) symlinks in \(Units.format(ContinuousClock.now - started))"]
        if !report.unsafeSymlinks.isEmpty {
            lines.append("symlinks pointing outside the workspace (kept as links, never followed by the runner): \(report.unsafeSymlinks.joined(separator: ", "))")
        }
        if !report.submodules.isEmpty {
            lines.append("submodules are not supported; left empty: \(report.submodules.joined(separator: ", "))")
        }
        if !report.refused.isEmpty {
            lines.append("entries refused: \(report.refused.map(\.description).joined(separator: "; "))")
        }
        if let volume { lines.append("workspace: its own file system of \(Units.formatBytes(volume.bytes)) (workspace_quota)") }
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: files.root.appendingPathComponent("checkout.log"))
        return volume
    }

    /// `runner disk full: ` when `error` is the runner's own disk being full (the run is then retried once
    /// there is space again, see `Scheduler.retryAfterDiskFull`), else nothing. A checkout that fills its
    /// own workspace volume (a tree bigger than the quota) is the push's doing and says so instead.
    static func diskFullPrefix(_ error: any Error) -> String {
        isDiskFull(error) ? RunState.runnerDiskFullPrefix + ": " : ""
    }

    /// Whether `error` is a file system out of space (`ENOSPC`, as the POSIX, Foundation and libgit2 errors
    /// along the checkout carry it).
    static func isDiskFull(_ error: any Error) -> Bool {
        switch error {
        case let error as POSIXError: return error.code == .ENOSPC
        case let error as CocoaError:
            return (error.userInfo[NSUnderlyingErrorKey] as? POSIXError)?.code == .ENOSPC || error.code == .fileWriteOutOfSpace
        case let error as VolumeError: return error.outOfSpace
        case let error as GitError: return error.isOutOfSpace
        default: return false
        }
    }

    /// Mounts for the pipeline's `cache:` paths (or its image's default), keyed by repository and branch.
    /// A cache that cannot be prepared is logged and left out: the run goes on without it.
    func prepareCaches(_ run: Run, spec: PipelineSpec, repo: Repository, files: RunFiles, logger: Logger) -> PreparedCaches? {
        let paths = spec.effectiveCache
        guard !paths.isEmpty else { return nil }
        let branch = RefUpdate(oldSHA: "", newSHA: run.sha, ref: run.ref).branch ?? run.ref
        do {
            let prepared = try environment.caches.prepare(
                repoID: run.repoID, repoName: run.repoName, branch: branch, defaultBranch: repo.headBranch(),
                paths: paths, workspace: files.workspace)
            appendLines(prepared.lines, to: files.root.appendingPathComponent("checkout.log"))
            return prepared
        } catch {
            logger.warning("cache not prepared", metadata: ["error": "\(error)"])
            appendLines(["cache: not used this run: \(error)"], to: files.root.appendingPathComponent("checkout.log"))
            return nil
        }
    }

    func releaseCaches(_ prepared: PreparedCaches, run: Run, files: RunFiles, logger: Logger) {
        let lines = environment.caches.release(prepared, repoID: run.repoID)
        for line in lines { logger.notice("\(line)") }
        appendLines(lines, to: files.root.appendingPathComponent("checkout.log"))
    }
}
