@testable import CompactServiceKit
import Foundation
import MMCore
import MMFormat
import XCTest

/// The pageblock snapshots streams cut their events from: which blocks count as changed, and the
/// event's JSON.
final class PageblockTrackerTests: XCTestCase {
    func machine() throws -> Machine { try Machine(MachineConfig(preset: .x86_64, memoryMiB: 64, seed: 1)) }

    func testFirstSnapshotMarksEveryBlockThenOnlyChangedOnes() throws {
        let m = try machine()
        let t = PageblockTracker()
        XCTAssertNil(t.current)
        let s0 = t.update(m)
        XCTAssertEqual(s0.generation, m.generation)
        XCTAssertEqual(s0.changed(since: m.generation - 1).count, 32, "a client older than the first snapshot refetches all")
        XCTAssertTrue(s0.changed(since: s0.generation).isEmpty)
        XCTAssertTrue(t.update(m) === s0, "an unchanged machine keeps its snapshot")

        let h = try m.allocate(AllocRequest(order: 3, kind: .kernel)).handle!
        let pfn = try m.pfn(of: h)
        let s1 = t.update(m)
        XCTAssertGreaterThan(s1.generation, s0.generation)
        let changed = s1.changed(since: s0.generation)
        XCTAssertTrue(changed.contains(pfn >> 9), "the block of the new allocation changed")
        for b in 0..<s1.table.count {
            XCTAssertEqual(changed.contains(b), !s1.table.same(b, as: s0.table), "block \(b)")
        }
        XCTAssertEqual(s1.table, m.pageblockTable())
        // A client that has s0 learns the same from s1's changes as from a new document.
        XCTAssertEqual(Set(s1.changed(since: s0.generation - 1)), Set(0..<32), "older than the first snapshot: everything")
    }

    func testEventJSON() throws {
        let m = try machine()
        let t = PageblockTracker()
        let s0 = t.update(m)
        let h = try m.allocate(AllocRequest(order: 0, kind: .anon)).handle!
        let b = try m.pfn(of: h) >> 9
        let s1 = t.update(m)
        let j = try JSONSerialization.jsonObject(with: Data(PageblockWire.event(s1, since: s0.generation))) as! [String: Any]
        XCTAssertEqual(j["generation"] as? Int, Int(s1.generation))
        XCTAssertEqual(j["since"] as? Int, Int(s0.generation))
        XCTAssertEqual(j["reset"] as? Bool, false)
        let rows = j["blocks"] as! [[Int]]
        let row = try XCTUnwrap(rows.first { $0[0] == b })
        let info = s1.table.info(b)
        XCTAssertEqual(row[1], Int(info.migratetype.rawValue) | (info.mixed ? 8 : 0))
        XCTAssertEqual(Array(row[2...]), info.counts.map(Int.init))
        // More changes than an event carries: reset, no rows.
        let r = try JSONSerialization.jsonObject(with: Data(PageblockWire.event(s1, since: 0, maxBlocks: 4))) as! [String: Any]
        XCTAssertEqual(r["reset"] as? Bool, true)
        XCTAssertEqual((r["blocks"] as! [Any]).count, 0)
    }

    func testRebuildsAreRateLimitedByTheirCost() throws {
        let m = try machine()
        let t = PageblockTracker()
        XCTAssertTrue(t.mayRebuild(now: monotonicNs()))
        let s = t.update(m)
        let end = monotonicNs()
        XCTAssertGreaterThan(s.buildNs, 0)
        XCTAssertFalse(t.mayRebuild(now: end), "right after a build")
        XCTAssertTrue(t.mayRebuild(now: end &+ s.buildNs &* 10 &+ 1_000_000))
    }
}
