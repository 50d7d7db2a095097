@testable import CompactServiceKit
@testable import MMCore
import XCTest

/// The per-machine event ring: ids, categories, overflow.
final class MachineEventsTests: XCTestCase {
    func extfrag(_ pfn: Int) -> ExtfragEvent {
        ExtfragEvent(pfn: pfn, allocOrder: 0, fallbackOrder: 10, allocMigratetype: .unmovable,
                     fallbackMigratetype: .movable, fragmenting: false, changeOwnership: true)
    }

    func testRecordsOnlyOnceStarted() {
        let ev = MachineEvents(pageblockOrder: 9, capacity: 8)
        ev.extfrag(extfrag(1))
        XCTAssertEqual(ev.lastID, 0)
        ev.startRecording()
        ev.extfrag(extfrag(2))
        XCTAssertEqual(ev.lastID, 1)
        XCTAssertEqual(ev.latestID(.extfrag), 1)
        XCTAssertEqual(ev.latestID(.compaction), 0)
    }

    func testTakeFiltersByCategoryAndHandsOutGrowingStatsIds() {
        let ev = MachineEvents(pageblockOrder: 9, capacity: 8)
        ev.startRecording()
        ev.extfrag(extfrag(1))
        ev.compactionMigratepages(nrMigrated: 3, nrFailed: 0)
        ev.extfrag(extfrag(2))
        let (b, statsID) = ev.take(after: 0, .extfrag, limit: 10, withStatsID: true)
        XCTAssertEqual(b.events.map(\.id), [1, 3])
        XCTAssertEqual(statsID, 4)
        XCTAssertEqual(b.cursor, 4)
        XCTAssertNil(b.lost)
        let (b2, s2) = ev.take(after: b.cursor, [.extfrag, .compaction], limit: 10, withStatsID: true)
        XCTAssertTrue(b2.events.isEmpty)
        XCTAssertEqual(s2, 5)
    }

    func testOverflowReportsLostIds() {
        let ev = MachineEvents(pageblockOrder: 9, capacity: 4)
        ev.startRecording()
        for i in 1...10 { ev.extfrag(extfrag(i)) }
        let (b, _) = ev.take(after: 2, .extfrag, limit: 100, withStatsID: false)
        XCTAssertEqual(b.lost, 3...6)
        XCTAssertEqual(b.events.map(\.id), [7, 8, 9, 10])
        let (b2, _) = ev.take(after: 0, .extfrag, limit: 2, withStatsID: true)
        XCTAssertEqual(b2.events.map(\.id), [7, 8])
        XCTAssertEqual(b2.cursor, 8, "a full batch stops at its last event")
    }
}

extension MachineEventsTests {
    /// `take` finds the first event after the cursor by bisection over the ring, which wraps: every
    /// cursor, before, inside and past the ring, gives the events a linear walk gives.
    func testTakeFromEveryCursorOfAWrappedRing() {
        let ev = MachineEvents(pageblockOrder: 9, capacity: 5)
        ev.startRecording()
        for i in 1...13 {
            if i % 3 == 0 { ev.compactionMigratepages(nrMigrated: i, nrFailed: 0) } else { ev.extfrag(extfrag(i)) }
        }
        // The ring holds ids 9...13; ids 1...8 fell out.
        for cursor in UInt64(0)...14 {
            let (b, _) = ev.take(after: cursor, .extfrag, limit: 100, withStatsID: false)
            let expected = (UInt64(9)...13).filter { $0 > cursor && $0 % 3 != 0 }
            XCTAssertEqual(b.events.map(\.id), expected, "cursor \(cursor)")
            XCTAssertEqual(b.cursor, max(cursor, 13), "cursor \(cursor)")
            XCTAssertEqual(b.lost, cursor < 8 ? (cursor + 1)...8 : nil, "cursor \(cursor)")
        }
    }
}
