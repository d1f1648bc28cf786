import Core
import Foundation

// The JSON the daemon, the hook and the CLI exchange (docs/api.md, `GET /api/v1/openapi.json`).

/// Body of `POST /api/v1/hooks/post-receive`.
package struct PostReceiveRequest: Codable, Sendable {
    enum CodingKeys: String, CodingKey {
        case repoPath = "repo_path"
        case updates
    }

    package var repoPath: String
    package var updates: [RefUpdate]

    package init(repoPath: String, updates: [RefUpdate]) {
        self.repoPath = repoPath
        self.updates = updates
    }
}

package struct PostReceiveResponse: Codable, Sendable {
    package var results: [SubmitResult]
    package init(results: [SubmitResult]) { self.results = results }
}

package struct RunList: Codable, Sendable {
    package var runs: [Run]
    package init(runs: [Run]) { self.runs = runs }
}

/// `GET /api/v1/runs/<id>/attempts`.
package struct AttemptList: Codable, Sendable {
    package var attempts: [FixAttemptSummary]
    package init(attempts: [FixAttemptSummary]) { self.attempts = attempts }
}

/// `GET /api/v1/runs/<id>/artifacts`: the kept files and where to download each.
package struct ArtifactList: Codable, Sendable {
    enum CodingKeys: String, CodingKey {
        case runID = "run_id", artifacts, removedAt = "removed_at"
    }

    package struct Entry: Codable, Sendable {
        package var path: String
        package var size: Int64
        /// Relative to the listener: `/api/v1/runs/<id>/artifacts/<path>` (path segments percent-encoded).
        package var url: String
    }

    package var runID: Int64
    package var artifacts: [Entry]
    /// When retention removed the files (the list stays); nil while they are there.
    package var removedAt: Date?

    package init(run: Run) {
        runID = run.id
        removedAt = run.artifactsRemovedAt
        artifacts = run.artifacts.map { file in
            Entry(path: file.path, size: file.size, url: Self.url(run: run.id, path: file.path))
        }
    }

    package static func url(run: Int64, path: String) -> String {
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#;"))
        return "/api/v1/runs/\(run)/artifacts/" + path.split(separator: "/").map {
            String($0).addingPercentEncoding(withAllowedCharacters: allowed) ?? String($0)
        }.joined(separator: "/")
    }
}

package struct DaemonStatus: Codable, Sendable {
    enum CodingKeys: String, CodingKey {
        case version
        case pid
        case home
        case running
        case queued
        case url
    }

    package var version: String
    package var pid: Int32
    package var home: String
    package var running: Int
    package var queued: Int
    package var url: String

    package init(version: String, pid: Int32, home: String, running: Int, queued: Int, url: String) {
        self.version = version
        self.pid = pid
        self.home = home
        self.running = running
        self.queued = queued
        self.url = url
    }
}

package struct ActionResponse: Codable, Sendable {
    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case outcome
        case newRunID = "new_run_id"
    }

    package var runID: Int64
    package var outcome: String
    package var newRunID: Int64?

    package init(runID: Int64, outcome: String, newRunID: Int64? = nil) {
        self.runID = runID
        self.outcome = outcome
        self.newRunID = newRunID
    }
}

package struct APIError: Codable, Sendable {
    package var error: String
    package init(error: String) { self.error = error }
}

/// JSON with the API's conventions: snake_case keys (spelled out in each type's CodingKeys), ISO 8601
/// dates, sorted keys.
package enum APIJSON {
    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = Timestamps.encoding
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    package static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = Timestamps.decoding
        return decoder
    }
}
