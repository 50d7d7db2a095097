import XCTest
@testable import MMCore

final class MigrateScannerTests: XCTestCase {
    /// A 64 MiB machine whose DMA32 zone holds `anon` order-0 anon pages (on the active list, as 2.6.35
    /// adds new anon pages) and `file` clean page-cache pages (on the inactive list), and a manual
    /// compaction stopped right after it isolated its first batch there.
    func heldBatch(anon: Int, file: Int) throws -> (Machine, CompactionRun, zone: ZoneID) {
        let m = makeMachine(.x86_64, mib: 64)
        let z = m.zoneId(.dma32)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: anon, tag: "a", keepHandles: 0)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: file, tag: "f", keepHandles: 0)
        let run = try m.beginCompaction()
        while run.currentControl?.nrMigratepages ?? 0 == 0 {
            XCTAssertFalse(m.step(run, maxSteps: 1), "the run ended without isolating a batch")
        }
        XCTAssertEqual(run.currentControl?.zone, z)
        return (m, run, z)
    }

    func testTooManyIsolatedComparesWithTheInactiveListsOnly() throws {
        // 2.6.35: isolated (32) > inactive (0), however long the active list is. The 2.6.36 rule
        // (isolated > (active + inactive) / 2) would let compaction go on here.
        let (m, run, z) = try heldBatch(anon: 4000, file: 0)
        XCTAssertEqual(run.currentControl?.nrMigratepages, Machine.compactClusterMax)
        XCTAssertEqual(m.lruPages(zone: z, list: .inactiveAnon) + m.lruPages(zone: z, list: .inactiveFile), 0)
        XCTAssertGreaterThan(m.lruPages(zone: z, list: .activeAnon), 2 * Machine.compactClusterMax)
        XCTAssertTrue(m.tooManyIsolated(zone: z))
        XCTAssertFalse(m.tooManyIsolated(zone: m.zoneId(.dma)))
        m.cancel(run)
        XCTAssertFalse(m.tooManyIsolated(zone: z))
        assertConsistent(m)
    }

    func testInactivePagesAtLeastAsManyAsIsolatedDoNotThrottle() throws {
        // The batch takes the zone's first 32 LRU pages, of either list; 64 page-cache pages leave at
        // least 32 on the inactive list, not fewer than the 32 isolated.
        let (m, run, z) = try heldBatch(anon: 100, file: 2 * Machine.compactClusterMax)
        let isolated = m.zoneCounters.isolated.total(z)
        XCTAssertEqual(isolated, Int64(Machine.compactClusterMax))
        XCTAssertGreaterThanOrEqual(m.lruPages(zone: z, list: .inactiveFile), Machine.compactClusterMax)
        XCTAssertFalse(m.tooManyIsolated(zone: z))
        m.cancel(run)
        assertConsistent(m)
    }

    func testAThrottledScanChargesOneWaitAndDoesNotMove() throws {
        let (m, run, z) = try heldBatch(anon: 4000, file: 0)
        var cc = m.makeCompactControl(zone: z, order: -1, migratetype: .movable)
        let start = cc.migratePfn
        XCTAssertEqual(m.isolateMigratepages(&cc), 0)
        XCTAssertEqual(cc.migratePfn, start)
        XCTAssertEqual(cc.migrateScanned, 0)
        XCTAssertEqual(cc.durationNs, m.costs.congestionWait)
        m.abortCompactZone(&cc)
        m.cancel(run)
        assertConsistent(m)
    }
}
