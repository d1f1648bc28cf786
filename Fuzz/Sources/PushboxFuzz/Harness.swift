import Agent
import CLibFuzzer
import Core
import Executors
import Foundation
import Pipeline
import Reports
import Server

/// One libFuzzer entry point for every parser that reads untrusted bytes; `PUSHBOX_FUZZ_TARGET` picks which
/// (`make fuzz` runs each in turn). A crash, a trap (overflow, out-of-bounds index) or a sanitizer report
/// is a finding; thrown errors are the parsers' normal answers to bad input.
enum FuzzTarget: String, CaseIterable {
    case postReceive = "post-receive"
    case pipeline
    case dockerLog = "docker-log"
    case junit
    case testSummary = "test-summary"
    case messages
    case sse

    static let selected: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["PUSHBOX_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set PUSHBOX_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }()

    func run(_ data: Data) {
        switch self {
        case .postReceive:
            _ = PostReceiveParser.parse(String(decoding: data, as: UTF8.self))
        case .pipeline:
            _ = try? PipelineParser.parse(String(decoding: data, as: UTF8.self))
        case .dockerLog:
            // Fed whole and in two pieces: the decoder keeps state across feeds.
            var whole = DockerLogDecoder()
            _ = whole.feed(data)
            var split = DockerLogDecoder()
            let cut = data.count / 2
            _ = split.feed(data.prefix(cut))
            _ = split.feed(data.dropFirst(cut))
        case .junit:
            _ = try? JUnitParser.parse(data)
        case .testSummary:
            _ = TestSummaryParser.summary(of: data)
        case .messages:
            _ = try? MessageResponse.decode(data)
        case .sse:
            var encoder = LogEventEncoder()
            let cut = data.count / 3
            _ = encoder.feed(data.prefix(cut))
            _ = encoder.feed(data.dropFirst(cut))
            _ = encoder.finish(state: "passed")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    FuzzTarget.selected.run(Data(bytes: bytes, count: count))
    return 0
}

/// SwiftPM links an executable's entry point as `<Target>_main`; libFuzzer's driver (`LLVMFuzzerRunDriver`,
/// linked in by `-sanitize=fuzzer`) is the real main loop: parse the libFuzzer flags, run the corpus, fuzz.
@_cdecl("PushboxFuzz_main")
public func pushboxFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, length in fuzzOneInput(bytes!, length) }
}
