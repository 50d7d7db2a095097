import XCTest
@testable import MMCore

final class ReclaimTests: XCTestCase {
    func testCleanPageCacheIsReclaimedForOrderZero() throws {
        let m = makeMachine(.x86_64, mib: 64, compaction: false)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: m.totalPages, tag: "cache", keepHandles: 0)
        let cache = m.handles(ofTag: "cache").count
        // Ask for more: direct reclaim drops page cache.
        let r = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .kernel), count: 2000, tag: "anon", keepHandles: 0)
        XCTAssertEqual(r.succeeded, 2000)
        XCTAssertGreaterThan(r.reclaimStalls, 0)
        XCTAssertLessThan(m.handles(ofTag: "cache").count, cache)
        let c = m.counters
        XCTAssertGreaterThan(c.pgstealDirect + c.pgstealKswapd, 0)
        XCTAssertGreaterThanOrEqual(c.pgscanDirect + c.pgscanKswapd, c.pgstealDirect + c.pgstealKswapd)
        XCTAssertGreaterThan(c.allocstall, 0)
        XCTAssertEqual(c.pagesReclaimed, c.pgstealDirect + c.pgstealKswapd)
        assertConsistent(m)
    }

    func testKernelAndPinnedPagesAreNeverReclaimed() throws {
        let m = makeMachine(.x86_64, mib: 64, compaction: false, swapMiB: 64)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .kernel, gfp: .atomic), count: m.totalPages / 2, tag: "k", keepHandles: 0)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .pinned, gfp: .atomic), count: m.totalPages, tag: "p", keepHandles: 0)
        let k = m.handles(ofTag: "k"), p = m.handles(ofTag: "p")
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .kernel), count: 500, keepHandles: 0)
        XCTAssertEqual(m.handles(ofTag: "k"), k)
        XCTAssertEqual(m.handles(ofTag: "p"), p)
        XCTAssertTrue(p.allSatisfy { (try? m.pfn(of: $0)) ?? -1 >= 0 })
        XCTAssertEqual(m.counters.pswpout, 0)
        assertConsistent(m)
    }

    func testAnonIsSwappedOnlyWithSwapAndContentSurvives() throws {
        let m = makeMachine(.x86_64, mib: 64, compaction: false, swapMiB: 32)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, tag: "a", keepHandles: 0)
        let anon = m.handles(ofTag: "a")
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .kernel, gfp: .kernel), count: 3000, keepHandles: 0)
        XCTAssertGreaterThan(m.counters.pswpout, 0)
        XCTAssertGreaterThan(m.swapUsed, 0)
        XCTAssertLessThanOrEqual(m.swapUsed, m.swapPages)
        // Swapped pages are still owned: their content reads back; freeing releases swap.
        let swapped = anon.filter { try! m.pfn(of: $0) < 0 }
        XCTAssertEqual(swapped.count, m.swapUsed)
        assertContentsIntact(m, anon)
        try m.free(swapped[0])
        XCTAssertEqual(m.swapUsed, swapped.count - 1)
        assertConsistent(m)
        // Without swap, anon memory is never reclaimed.
        let n = makeMachine(.x86_64, mib: 64, compaction: false)
        _ = try n.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: n.totalPages, tag: "a", keepHandles: 0)
        let before = n.handles(ofTag: "a").count
        _ = try n.allocateBulk(AllocRequest(order: 0, kind: .kernel, gfp: .kernel), count: 100, keepHandles: 0)
        XCTAssertEqual(n.handles(ofTag: "a").count, before)
        XCTAssertEqual(n.counters.pswpout, 0)
    }

    func testDirtyPagesAreWrittenBeforeTheyAreDropped() throws {
        // Dirty pages at the LRU's tail (below the background threshold: no writer is throttled and the
        // flusher has nothing to do), clean ones above them.
        let m = makeMachine(.x86_64, mib: 64, compaction: false)
        let dirty = m.dirtyLimits().background * 3 / 4
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic, dirty: true), count: dirty, tag: "d", keepHandles: 0)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: m.totalPages, tag: "c", keepHandles: 0)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .kernel), count: 1000, keepHandles: 0)
        let c = m.counters
        XCTAssertGreaterThan(c.nrVmscanWrite, 0)
        // Every dirty page that went was written first (by pageout or the flusher reclaim woke).
        let dropped = UInt64(dirty - m.handles(ofTag: "d").filter { m.isLive($0) }.count)
        XCTAssertGreaterThanOrEqual(c.pgpgout / 4, dropped)
        assertConsistent(m)
    }

    func testLumpyReclaimFreesTheAlignedBlockAroundATailPage() throws {
        // Page cache everywhere; a huge page request without compaction: lumpy reclaim takes the
        // naturally aligned order-9 block around LRU tail pages, regardless of their age.
        let m = makeMachine(.x86_64, mib: 128, compaction: false)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: m.totalPages, tag: "c", keepHandles: 0)
        // With __GFP_REPEAT (hugetlb) it retries until the zone also has enough free memory overall.
        let o = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: [.wait, .io, .fs, .repeat]))
        XCTAssertTrue(o.succeeded)
        XCTAssertTrue(o.stalledInReclaim)
        XCTAssertGreaterThanOrEqual(o.pagesReclaimed, 32)
        XCTAssertTrue(m.lumpyReclaim(order: 9, priority: 12))
        XCTAssertTrue(m.lumpyReclaim(order: 2, priority: 9))
        XCTAssertFalse(m.lumpyReclaim(order: 2, priority: 10))
        XCTAssertFalse(m.lumpyReclaim(order: 0, priority: 0))
        assertConsistent(m)
    }

    func testSlabShrinksUnderPressure() throws {
        let m = makeMachine(.x86_64, mib: 64, compaction: false)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .slab, gfp: .atomic), count: m.totalPages / 2, tag: "s", keepHandles: 0)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: m.totalPages, tag: "f", keepHandles: 0)
        let slab = m.handles(ofTag: "s").count
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .kernel), count: 3000, keepHandles: 0)
        XCTAssertLessThan(m.handles(ofTag: "s").count, slab)
        XCTAssertGreaterThan(m.counters.slabsScanned, 0)
        assertConsistent(m)
    }

    func testKswapdReclaimsToHighWatermark() throws {
        let m = makeMachine(.x86_64, mib: 64, compaction: false)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: m.totalPages, tag: "c", keepHandles: 0)
        // An atomic allocation can't reclaim, but it wakes kswapd, which works as simulated time passes.
        _ = try m.allocate(AllocRequest(order: 0, kind: .kernel, gfp: .atomic))
        m.idle(ns: 1_000_000_000)
        XCTAssertGreaterThan(m.counters.kswapdWakeups, 0)
        XCTAssertGreaterThan(m.counters.pgstealKswapd, 0)
        for z in m.populatedZones {
            XCTAssertGreaterThan(m.nrFreePages(zone: z.id), z.watermark.high, z.name)
        }
        XCTAssertGreaterThan(m.kswapdNs, 0)
        assertConsistent(m)
    }
}
