import XCTest
@testable import MMCore

/// Isolation and `unmap_and_move` one page at a time (mm/migrate.c as the seed has it): the owner's
/// handle follows its page, the contents and state move, the old frame is freed, and the isolated
/// counters return to zero.
final class MigrateTests: XCTestCase {
    /// A machine with one anon page of interest and a free order-0 target elsewhere in its zone.
    private func setUp(kind: AllocKind = .anon, mlock: Bool = false) throws -> (Machine, PageHandle, Pfn, Pfn) {
        let m = makeMachine(mib: 64)
        let o = try m.allocate(AllocRequest(order: 0, kind: kind, gfp: .atomic, mlock: mlock))
        let h = try XCTUnwrap(o.handle)
        let pfn = Pfn(try m.allocationInfo(h).pfn)
        // A target: another order-0 page taken and released so it is a known free frame.
        let t = try XCTUnwrap(try m.allocate(AllocRequest(order: 0, kind: .kernel, gfp: .atomic)).handle)
        let target = Pfn(try m.allocationInfo(t).pfn)
        try m.free(t)
        return (m, h, pfn, target)
    }

    func testIsolatedPageMovesWithItsOwnerAndContents() throws {
        let (m, h, pfn, _) = try setUp()
        let z = try m.allocationInfo(h).zone
        let before = try m.readContent(h)
        XCTAssertTrue(m.canIsolateForMigration(pfn: pfn))
        m.isolateLruPage(pfn: pfn, zone: z)
        XCTAssertFalse(m.canIsolateForMigration(pfn: pfn), "an isolated page is not isolated twice")
        // The compactor takes its target off the free lists the way isolate_freepages does.
        var cc = m.makeCompactControl(zone: z, order: -1, migratetype: .movable)
        cc.migratepages = [pfn.entry]
        let (migrated, failed) = m.migratePages(&cc)
        XCTAssertEqual(migrated, 1)
        XCTAssertEqual(failed, 0)
        let after = try m.allocationInfo(h)
        XCTAssertNotEqual(after.pfn, pfn.rawValue, "the handle follows the page to its new frame")
        XCTAssertEqual(try m.readContent(h), before, "contents preserved by migration")
        for p in cc.migratepages { m.putbackLruPage(pfn: Pfn(entry: p), zone: z) }
        cc.migratepages.removeAll()
        m.abortCompactZone(&cc)
        XCTAssertEqual(m.zoneCounters.isolated.total(z), 0)
        assertConsistent(m)
    }

    func testPinnedPagesAreNeverMigrated() throws {
        let (m, h, pfn, target) = try setUp(kind: .pinned)
        XCTAssertTrue(m.migrationBlocked(pfn: pfn))
        let z = try m.allocationInfo(h).zone
        XCTAssertFalse(m.canIsolateForMigration(pfn: pfn) && m.unmapAndMove(pfn: pfn, target: target, zone: z) == .migrated)
        XCTAssertEqual(try m.allocationInfo(h).pfn, pfn.rawValue)
        assertConsistent(m)
    }

    func testMlockedPagesNeedCompactUnevictableAllowed() throws {
        let (m, _, pfn, _) = try setUp(mlock: true)
        try m.setCompactUnevictableAllowed(0)
        XCTAssertFalse(m.canIsolateForMigration(pfn: pfn))
        try m.setCompactUnevictableAllowed(1)
        XCTAssertTrue(m.canIsolateForMigration(pfn: pfn))
    }

    /// A page its owner freed while it sat isolated is freed on putback, never migrated.
    func testPageFreedWhileIsolatedIsFreedOnPutback() throws {
        let (m, h, pfn, _) = try setUp()
        let z = try m.allocationInfo(h).zone
        let freeBefore = m.nrFreePagesTotal + m.pcpPages
        m.isolateLruPage(pfn: pfn, zone: z)
        try m.free(h)
        XCTAssertFalse(m.isLive(h))
        XCTAssertEqual(m.nrFreePagesTotal + m.pcpPages, freeBefore, "the isolation still holds the frame")
        XCTAssertTrue(m.putbackLruPage(pfn: pfn, zone: z))
        XCTAssertEqual(m.nrFreePagesTotal + m.pcpPages, freeBefore + 1)
        assertConsistent(m)
    }
}
