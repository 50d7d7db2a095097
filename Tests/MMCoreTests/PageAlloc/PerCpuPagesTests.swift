import XCTest
@testable import MMCore

/// The per-CPU page lists (2.6.35 `per_cpu_pages`): batch sizes, refill, hot/cold order, the drain at
/// `high`, and that the buddy allocator does not see the pages until they are drained.
final class PerCpuPagesTests: XCTestCase {
    func testZoneBatchsizeMatchesTheKernelFormula() {
        // 1 GiB of 4 KiB pages: 262144/1024 = 256 pages = 1 MiB > 512 KiB → 128; /4 = 32; 2^5 - 1 = 31.
        XCTAssertEqual(zoneBatchsize(presentPages: 262_144, pageSize: 4096), 31)
        // 256 MiB: 64; /4 = 16; rounddown_pow_of_two(24) - 1 = 15.
        XCTAssertEqual(zoneBatchsize(presentPages: 65_536, pageSize: 4096), 15)
        // A 16 MiB DMA zone: 3 → 0 → 1; rounddown_pow_of_two(1) - 1 = 0 (so high 0, batch 1).
        XCTAssertEqual(zoneBatchsize(presentPages: 3_999, pageSize: 4096), 0)
        // 1 GiB of 64 KiB pages: 16 pages = 1 MiB → 512 KiB / 64 KiB = 8; /4 = 2; rounddown(3) - 1 = 1.
        XCTAssertEqual(zoneBatchsize(presentPages: 16_384, pageSize: 65_536), 1)
    }

    func testPagesetsOfEveryZone() {
        let m = makeMachine(.x86_64, mib: 1024)
        let dma = m.zoneId(.dma), dma32 = m.zoneId(.dma32)
        XCTAssertEqual(m.pageset(zone: dma).high, 0)
        XCTAssertEqual(m.pageset(zone: dma).batch, 1)
        let b = zoneBatchsize(presentPages: m.zones[dma32].presentPages, pageSize: 4096)
        XCTAssertEqual(m.pageset(zone: dma32).batch, b)
        XCTAssertEqual(m.pageset(zone: dma32).high, 6 * b)
        let text = m.renderZoneinfo()
        XCTAssertTrue(text.contains("\n  pagesets\n    cpu: 0\n              count: 0\n              high:  \(6 * b)\n              batch: \(b)\n  vm stats threshold: "), text)
    }

    func testOrderZeroRefillsABatchAndFreesGoToTheHotEnd() throws {
        let m = makeMachine(.x86_64, mib: 1024)
        let z = m.zoneId(.dma32)
        let batch = m.pageset(zone: z).batch
        let freeBefore = m.nrFreePages(zone: z)
        let a = try m.allocate(AllocRequest(order: 0, kind: .anon))
        XCTAssertEqual(a.zone, z.rawValue)
        // rmqueue_bulk took a whole batch off the buddy lists; one of it was handed out.
        XCTAssertEqual(m.nrFreePages(zone: z), freeBefore - batch)
        XCTAssertEqual(m.pageset(zone: z).count, batch - 1)
        XCTAssertEqual(m.pcpListPfns(zone: z, mt: .movable).count, batch - 1)
        XCTAssertEqual(m.pcpListPfns(zone: z, mt: .movable).first, Pfn(a.pfn) + 1, "the batch keeps free-list order")
        assertConsistent(m)
        try m.free(a.handle!)
        // The freed page waits at the head of the list; NR_FREE_PAGES does not see it.
        XCTAssertEqual(m.nrFreePages(zone: z), freeBefore - batch)
        XCTAssertEqual(m.pcpListPfns(zone: z, mt: .movable).first, Pfn(a.pfn))
        let again = try m.allocate(AllocRequest(order: 0, kind: .anon))
        XCTAssertEqual(again.pfn, a.pfn, "a hot page is reused first")
        try m.free(again.handle!)
        assertConsistent(m)
        m.drainAllPages()
        XCTAssertEqual(m.pageset(zone: z).count, 0)
        XCTAssertEqual(m.nrFreePages(zone: z), freeBefore)
        XCTAssertEqual(m.renderBuddyinfo(), makeMachine(.x86_64, mib: 1024).renderBuddyinfo(), "drained pages merge back")
        assertConsistent(m)
    }

    func testReachingHighGivesBackABatchFromTheColdEnd() throws {
        let m = makeMachine(.x86_64, mib: 1024)
        let z = m.zoneId(.dma32)
        let (high, batch) = (m.pageset(zone: z).high, m.pageset(zone: z).batch)
        var hs: [PageHandle] = [], pfns: [Pfn] = []
        for _ in 0..<(high + batch) {
            let o = try m.allocate(AllocRequest(order: 0, kind: .kernel))
            hs.append(o.handle!)
            pfns.append(Pfn(o.pfn))
        }
        let freeAfterAlloc = m.nrFreePages(zone: z)
        let countAfterAlloc = m.pageset(zone: z).count
        var freed = 0
        for h in hs {
            try m.free(h)
            freed += 1
            let count = m.pageset(zone: z).count
            XCTAssertLessThan(count, high, "count stays below high after each free")
            if countAfterAlloc + freed < high {
                XCTAssertEqual(count, countAfterAlloc + freed)
                XCTAssertEqual(m.nrFreePages(zone: z), freeAfterAlloc)
            }
        }
        // Drains take the cold end: the page freed last is still at the head, the one freed first is gone.
        let list = m.pcpListPfns(zone: z, mt: .unmovable)
        XCTAssertEqual(list.first, pfns.last)
        XCTAssertFalse(list.contains(pfns[0]))
        // Every drain returned exactly `batch` pages.
        let returned = m.nrFreePages(zone: z) - freeAfterAlloc
        XCTAssertEqual(returned % batch, 0)
        XCTAssertEqual(m.pageset(zone: z).count + returned, countAfterAlloc + hs.count)
        assertConsistent(m)
    }

    func testReclaimFreesColdAndPageblockTypeDecidesTheList() throws {
        let m = makeMachine(.x86_64, mib: 1024)
        let z = m.zoneId(.dma32)
        let a = try m.allocate(AllocRequest(order: 0, kind: .kernel))
        let b = try m.allocate(AllocRequest(order: 0, kind: .kernel))
        // The unmovable allocations stole a pageblock: their pages go back to the UNMOVABLE list.
        XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(a.pfn)), .unmovable)
        try m.free(a.handle!)
        // What reclaim does with a page it dropped: the owner is gone, the frame is freed cold.
        m.handles.release(slot: m.handles.slot(of: b.handle!))
        m.pages.nextOrOwner[Pfn(b.pfn)] = NONE
        m.releaseFrame(pfn: Pfn(b.pfn), zone: z, cold: true)
        let list = m.pcpListPfns(zone: z, mt: .unmovable)
        XCTAssertEqual(list.first, Pfn(a.pfn), "hot free at the head")
        XCTAssertEqual(list.last, Pfn(b.pfn), "cold free at the tail")
        assertConsistent(m)
    }
}
