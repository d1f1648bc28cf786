import Foundation
import Logging

/// One tool the model may call.
///
/// Contract: `definition` is sent to the API as is (its `name` must match `^[a-zA-Z0-9_-]{1,128}$` and be
/// unique in a tool set). `run` performs one call with the model's `input` and returns the text for the
/// `tool_result`. A failure the model should hear about (bad input, missing file, refused path, a command
/// that exits non-zero) is reported as `ToolOutput(isError: true)` or thrown as any error: the agent loop
/// turns every thrown error except `CancellationError` into an `is_error` result and carries on. Outputs
/// are masked for secrets by the loop, not by the tool. A tool must stop promptly when its task is
/// cancelled (the loop's wall-time budget cancels it).
package protocol AgentTool: Sendable {
    var definition: ToolDefinition { get }
    func run(_ input: JSONValue, logger: Logger) async throws -> ToolOutput
}

/// What one tool call gives back to the model.
package struct ToolOutput: Sendable, Equatable {
    package var text: String
    package var isError: Bool

    package init(_ text: String, isError: Bool = false) {
        self.text = text
        self.isError = isError
    }
}

extension AgentTool {
    package var name: String { definition.name }
}

/// Reading a tool's input object, with errors the model can act on.
extension JSONValue {
    func requiredString(_ key: String) throws -> String {
        guard let value = self[key] else { throw ToolFailure("missing required input \"\(key)\"") }
        guard let text = value.stringValue else { throw ToolFailure("input \"\(key)\" must be a string") }
        return text
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw ToolFailure("input \"\(key)\" must be a string") }
        return text
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let value = self[key], !value.isNull else { return nil }
        if let number = value.intValue { return number }
        if let text = value.stringValue, let number = Int(text) { return number }
        throw ToolFailure("input \"\(key)\" must be an integer")
    }

    func checkObject() throws {
        guard case .object = self else { throw ToolFailure("the input must be a JSON object") }
    }
}

/// Builds an `input_schema`: an object with `properties` (name → (JSON type, description)) and `required`.
func objectSchema(_ properties: [(String, String, String)], required: [String]) -> JSONValue {
    var members: [String: JSONValue] = [:]
    for (name, type, description) in properties {
        members[name] = .object(["type": .string(type), "description": .string(description)])
    }
    return .object([
        "type": "object",
        "properties": .object(members),
        "required": .array(required.map { .string($0) }),
    ])
}

/// The standard tool set of the `anthropic` backend, all confined to `workspace`:
/// `list_files`, `read_file`, `search`, `edit_file`, `write_file`, `run_command`.
package enum AgentTools {
    package static func standard(workspace: Workspace, runner: any CommandRunner,
                                 limits: ToolLimits = ToolLimits()) -> [any AgentTool] {
        [
            ListFilesTool(workspace: workspace, limits: limits),
            ReadFileTool(workspace: workspace, limits: limits),
            SearchTool(workspace: workspace, limits: limits),
            EditFileTool(workspace: workspace),
            WriteFileTool(workspace: workspace, limits: limits),
            RunCommandTool(runner: runner, limits: limits),
        ]
    }
}

/// Bounds on what the tools read and return, so one call cannot flood the context.
package struct ToolLimits: Sendable, Equatable {
    /// list_files: entries listed.
    package var maxListEntries = 500
    /// read_file: bytes read from one file, and lines returned per call.
    package var maxReadBytes = 1 << 20
    package var maxReadLines = 2000
    /// read_file/search: characters of one line shown.
    package var maxLineLength = 2000
    /// search: matching lines returned, files larger than this skipped.
    package var maxSearchResults = 200
    package var maxSearchFileBytes = 1 << 20
    /// write_file: bytes written.
    package var maxWriteBytes = 4 << 20
    /// run_command: default and maximum timeout, and the bytes of output (the tail) returned.
    package var defaultCommandTimeout: Duration = .seconds(300)
    package var maxCommandTimeout: Duration = .seconds(1800)
    package var commandOutputTail = 16 << 10

    package init() {}
}
