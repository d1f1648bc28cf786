import Pipeline
import Testing

@Suite("CancelReason")
struct CancelReasonTests {
    @Test("the first reason recorded stands", arguments: [
        (CancelReason.user, CancelReason.superseded(by: 7)),
        (.superseded(by: 7), .user),
        (.superseded(by: 7), .superseded(by: 9)),
        (.user, .shutdown),
        (.superseded(by: 7), .shutdown),
    ])
    func firstStands(_ earlier: CancelReason, _ later: CancelReason) {
        #expect(later.recorded(over: earlier) == earlier)
    }

    @Test("a shutdown gives way to any other reason, so a superseded or canceled run is never re-queued",
          arguments: [CancelReason.user, .superseded(by: 7), .shutdown])
    func shutdownGivesWay(_ later: CancelReason) {
        #expect(later.recorded(over: .shutdown) == later)
        #expect(later.recorded(over: nil) == later)
    }
}
