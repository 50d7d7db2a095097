@testable import CompactServiceKit
@testable import MMCore
import XCTest

/// A machine's stats stream as its HTTP thread drives it.
final class StatsContentTests: XCTestCase {
    /// While the stats document is stale and a worker has yet to render it (it may wait long for a busy
    /// machine's lock), the stream must park until the next tick rather than be due again at once: a
    /// stream that stayed due was produced again and again on its HTTP thread, which then answered
    /// nothing else (60-130 ms stalls of every connection on that thread under the chaos test).
    func testStaleDocumentParksUntilTheNextTick() throws {
        let box = MachineBox(name: "m", machine: try Machine(MachineConfig(preset: .x86_64, memoryMiB: 64, seed: 1)))
        // A stopped pool never renders: the document stays stale for as long as the test looks.
        let pool = WorkerPool(name: "stopped", minThreads: 0, maxThreads: 1)
        pool.stop()
        let sub = StreamSubscription(box: box, intervalMs: 100, categories: [], lastEventID: nil, renderPool: pool)
        let now: UInt64 = 1_000_000_000
        let content = StatsContent(sub, now: now)
        XCTAssertLessThanOrEqual(content.nextDueNs, now, "a new stream owes its first stats event at once")
        var out: [UInt8] = []
        XCTAssertFalse(content.produce(&out, now: now, closing: false))
        XCTAssertTrue(out.isEmpty, "no stats event without a rendered document")
        XCTAssertGreaterThan(content.nextDueNs, now, "the stream must not be due again before the next tick")
        XCTAssertLessThanOrEqual(content.nextDueNs, now + StreamHub.tickNs)
        // Once the document exists, the next look sends it and the cadence resumes.
        _ = try box.document(.stats) { StatsDocument.build(name: box.name, $0) }
        let later = now + StreamHub.tickNs
        XCTAssertFalse(content.produce(&out, now: later, closing: false))
        XCTAssertTrue(String(decoding: out, as: UTF8.self).contains("event: stats"))
        XCTAssertEqual(content.nextDueNs, now + 100_000_000)
    }
}
