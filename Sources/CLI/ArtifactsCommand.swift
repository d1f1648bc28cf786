import ArgumentParser
import Core
import Foundation
import Store

/// `pushbox artifacts RUN [--out DIR]`: list a run's artifacts, or copy them out.
struct ArtifactsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifacts", abstract: "List a run's artifacts (.pushbox.yml artifacts:), or copy them into a directory with --out.")
    @OptionGroup var options: HomeOptions
    @Argument(help: "Run id.") var runID: Int64
    @Option(help: "Copy the artifacts here, keeping their paths (the directory is created).") var out: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await guarded {
            let home = options.runnerHome
            let store = try Runtime.openStore(home)
            guard let run = try store.records.run(id: runID) else { throw UserError("no run \(runID)") }
            if json, out == nil { return printOut(try Output.json(["artifacts": run.artifacts])) }
            guard !run.artifacts.isEmpty else {
                let config = run.state.isFinished ? "" : " yet (the run is \(run.state.rawValue))"
                throw UserError("run \(runID) has no artifacts\(config); .pushbox.yml lists the files to keep under artifacts:")
            }
            if let removed = run.artifactsRemovedAt {
                throw UserError("the artifacts of run \(runID) were removed on \(Timestamps.string(removed)): the runner keeps those of the latest \(try Runtime.loadConfig(home).artifactsKeep) runs of a repository (artifacts_keep)")
            }
            let source = home.run(runID).artifacts
            guard let out else {
                var rows = [["PATH", "SIZE"]]
                for file in run.artifacts { rows.append([file.path, Units.formatBytes(file.size)]) }
                printOut(Output.table(rows))
                printOut("\(ArtifactFile.noteSummary(run.artifacts).split(separator: ":").first ?? ""); copy them with --out DIR")
                return
            }
            let destination = URL(fileURLWithPath: out).standardizedFileURL
            let fm = FileManager.default
            for file in run.artifacts {
                let target = destination.appendingPathComponent(file.path)
                try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
                do {
                    try fm.copyItem(at: source.appendingPathComponent(file.path), to: target)
                } catch {
                    throw UserError("cannot copy \(file.path) to \(target.path): \(error.localizedDescription)")
                }
            }
            printOut("copied \(ArtifactFile.noteSummary(run.artifacts).split(separator: ":").first ?? "") to \(destination.path)")
        }
    }
}
