import Foundation

/// Which stream of a process a chunk of output came from.
package enum LogStream: UInt8, Sendable {
    case stdout = 1
    case stderr = 2
}

/// Receives the raw output of a step as it arrives. Bytes are passed as they are (not necessarily UTF-8,
/// not necessarily whole lines). Implementations must tolerate being called from any task, in order.
package protocol LogSink: Sendable {
    func write(_ bytes: Data, from stream: LogStream) async
}
