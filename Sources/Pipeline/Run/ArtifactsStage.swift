import Core
import Foundation
import Git
import Logging
import Workspace

/// After the steps: the files `artifacts:` keeps from the workspace.
extension RunDriver {
    /// Copies `artifacts:` out of the workspace (when `when:` says so), records them, and applies the
    /// repository's retention (`artifacts_keep`). Lines go to `runs/<id>/artifacts.log`.
    func collectArtifacts(_ run: Run, spec: PipelineSpec, passed: Bool, files: RunFiles, mounts: [RunMount], logger: Logger) {
        let settings = spec.artifacts
        guard !settings.paths.isEmpty else { return }
        let log = files.root.appendingPathComponent("artifacts.log")
        guard settings.collects(afterPassing: passed) else {
            appendLines(["artifacts: not collected: the steps \(passed ? "passed" : "failed") and artifacts.when is \(settings.when.rawValue)"], to: log)
            return
        }
        try? FileManager.default.removeItem(at: files.artifacts)
        let outcome = ArtifactCollector.collect(patterns: settings.paths, workspace: files.workspace, destination: files.artifacts,
                                                maxBytes: environment.config.artifactsMax, mounts: mounts)
        appendLines(outcome.lines, to: log)
        do {
            try store.records.setArtifacts(runID: run.id, outcome.files)
            for expired in try store.records.runsWithExpiredArtifacts(repoID: run.repoID, keep: environment.config.artifactsKeep) {
                try? FileManager.default.removeItem(at: environment.home.run(expired).artifacts)
                try store.records.markArtifactsRemoved(runID: expired)
                logger.info("artifacts removed by retention", metadata: ["expired_run": "\(expired)", "keep": "\(environment.config.artifactsKeep)"])
            }
        } catch {
            logger.error("cannot record the artifacts: \(error)")
        }
    }

    func appendLines(_ lines: [String], to file: URL) {
        guard !lines.isEmpty else { return }
        let data = Data((lines.joined(separator: "\n") + "\n").utf8)
        if let handle = try? FileHandle(forWritingTo: file) {
            _ = try? handle.seekToEnd()
            try? handle.write(contentsOf: data)
            try? handle.close()
        } else {
            try? data.write(to: file)
        }
    }
}
