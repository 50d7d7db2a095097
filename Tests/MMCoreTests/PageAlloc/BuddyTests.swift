import XCTest
@testable import MMCore

final class BuddyTests: XCTestCase {
    /// A 16 MiB single-zone x86-64 layout: 4096 pages, four order-10 blocks.
    func tinyMachine() throws -> Machine {
        try Machine(MachineConfig(preset: .x86_64, memoryMiB: nil, zoneLayout: [[ZoneSpec(type: .dma, mib: 16)]],
                                  sysctl: SysctlSettings(minFreeKbytes: 128), bootMemory: false))
    }

    func testSplitGivesLowestPagesAndUpperHalvesToLowerLists() throws {
        let m = try tinyMachine()
        // Boot frees blocks lowest first onto the list head, so the highest block is taken first.
        let headBefore = m.freeListPfns(zone: ZoneID(0), order: 10, mt: .movable).first!
        let o = try m.allocate(AllocRequest(order: 0, kind: .anon, gfp: .atomic))
        XCTAssertEqual(o.pfn, headBefore.rawValue)
        for order in 0..<10 {
            XCTAssertEqual(m.freeListPfns(zone: ZoneID(0), order: order, mt: .movable), [headBefore + (1 << order)], "order \(order)")
        }
        assertConsistent(m)
        try m.free(o.handle!)
        XCTAssertEqual(m.nrFreeByOrder(zone: ZoneID(0)), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4])
        assertConsistent(m)
    }

    func testMergeOnlyWithFreeBuddyOfSameOrder() throws {
        let m = try tinyMachine()
        let a = try m.allocate(AllocRequest(order: 0, kind: .kernel, gfp: .atomic))
        let b = try m.allocate(AllocRequest(order: 0, kind: .kernel, gfp: .atomic))
        XCTAssertEqual(b.pfn, a.pfn + 1)
        try m.free(a.handle!)           // buddy b is allocated: stays order 0
        XCTAssertEqual(m.nrFree(zone: ZoneID(0), order: 0), 1)
        try m.free(b.handle!)           // now both merge up to order 10
        XCTAssertEqual(m.nrFree(zone: ZoneID(0), order: 0), 0)
        XCTAssertEqual(m.nrFree(zone: ZoneID(0), order: 10), 4)
        assertConsistent(m)
    }

    func testDoubleFreeAndUnknownHandlesAreRejectedWithoutChange() throws {
        let m = try tinyMachine()
        let h = try m.allocate(AllocRequest(order: 3, kind: .anon, gfp: .atomic)).handle!
        try m.free(h)
        let before = m.renderBuddyinfo()
        XCTAssertThrowsError(try m.free(h)) { XCTAssertEqual($0 as? MMError, .unknownHandle(h.raw)) }
        XCTAssertThrowsError(try m.free(PageHandle(raw: 12345)))
        XCTAssertThrowsError(try m.free(PageHandle(raw: 1 << 60)))
        XCTAssertEqual(m.renderBuddyinfo(), before)
        // A reused slot gets a new generation: the stale handle still does not resolve.
        let h2 = try m.allocate(AllocRequest(order: 0, kind: .anon, gfp: .atomic)).handle!
        XCTAssertEqual(m.handles.slot(of: h2), m.handles.slot(of: h))
        XCTAssertNotEqual(h2, h)
        XCTAssertFalse(m.isLive(h))
    }

    func testOrderOutOfRangeIsRejected() throws {
        let m = try tinyMachine()
        XCTAssertThrowsError(try m.allocate(AllocRequest(order: 11))) {
            XCTAssertEqual($0 as? MMError, .orderOutOfRange(field: FieldPath("order"), order: 11, max: 10))
        }
        XCTAssertThrowsError(try m.allocate(AllocRequest(order: -1)))
        XCTAssertThrowsError(try m.allocate(AllocRequest(order: 0, node: 1)))
        assertConsistent(m)
    }

    func testContentWordsReadBackThroughHandles() throws {
        let m = try tinyMachine()
        let r = try m.allocateBulk(AllocRequest(order: 2, kind: .file, gfp: .atomic), count: 50, tag: "t")
        XCTAssertEqual(r.succeeded, 50)
        assertContentsIntact(m, r.handles)
        XCTAssertEqual(Set(r.handles.map { try! m.readContent($0)[0] }).count, 50)
    }

    func testBulkFreePatterns() throws {
        let m = try tinyMachine()
        let hs = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: 100, tag: "x").handles
        XCTAssertEqual(try m.freeTag("x", pattern: .everyOther), 50)
        XCTAssertEqual(m.handles(ofTag: "x"), stride(from: 1, to: 100, by: 2).map { hs[$0] })
        let freed = try m.freeTag("x", pattern: .random(fraction: 0.5, seed: 9))
        XCTAssertGreaterThan(freed, 10)
        XCTAssertLessThan(freed, 40)
        XCTAssertEqual(try m.freeTag("x", pattern: .all), 50 - freed)
        XCTAssertThrowsError(try m.freeTag("x", pattern: .all)) { XCTAssertEqual($0 as? MMError, .unknownTag("x")) }
        XCTAssertThrowsError(try m.freeTag("y", pattern: .random(fraction: 1.5, seed: 1)))
        assertConsistent(m)
        XCTAssertEqual(m.nrFree(zone: ZoneID(0), order: 10), 4)
    }

    func testAllocationFailsCleanlyWhenMemoryIsExhausted() throws {
        let m = try tinyMachine()
        let r = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: 5000)
        XCTAssertGreaterThan(r.failed, 0)
        XCTAssertLessThan(r.succeeded, 4096)
        // The MIN watermark (reduced for atomic) is what stops it.
        XCTAssertGreaterThan(m.nrFreePages(zone: ZoneID(0)), 0)
        assertConsistent(m)
    }
}
