import XCTest
@testable import MMCore

/// kcompactd and proactive compaction on kernel 6.6 (mm/compaction.c `kcompactd`, `kcompactd_do_work`,
/// `wakeup_kcompactd`, `fragmentation_score_*`, `proactive_compact_node`).
final class KcompactdTests: XCTestCase {
    func testScoreThresholdsOnWorkedNumbers() {
        // fragmentation_score_wmark: low = max(100 - p, 5), high = min(low + 10, 100).
        XCTAssertEqual(Machine.fragmentationScoreWmark(proactiveness: 20, low: true), 80)
        XCTAssertEqual(Machine.fragmentationScoreWmark(proactiveness: 20, low: false), 90)
        XCTAssertEqual(Machine.fragmentationScoreWmark(proactiveness: 0, low: true), 100)
        XCTAssertEqual(Machine.fragmentationScoreWmark(proactiveness: 0, low: false), 100)
        XCTAssertEqual(Machine.fragmentationScoreWmark(proactiveness: 97, low: true), 5)
        XCTAssertEqual(Machine.fragmentationScoreWmark(proactiveness: 97, low: false), 15)
        XCTAssertEqual(Machine.fragmentationScoreWmark(proactiveness: 100, low: true), 5)
        // extfrag_for_order at order 9: free lists order0×100, order1×50, order2×10 → F = 240, S = 0: 100.
        XCTAssertEqual(extfragForOrder(order: 9, ContigPageInfo(nrFree: [100, 50, 10, 0, 0, 0, 0, 0, 0, 0, 0], order: 9)), 100)
        // One order-9 block and 512 order-0 pages: F = 1024, S×2^9 = 512: 50.
        XCTAssertEqual(extfragForOrder(order: 9, ContigPageInfo(nrFree: [512, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], order: 9)), 50)
        // Three order-10 blocks, 1000 order-0 pages: F = 4072, S = 6 (units of 512): (4072 - 3072) × 100 / 4072 = 24.
        XCTAssertEqual(extfragForOrder(order: 9, ContigPageInfo(nrFree: [1000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3], order: 9)), 24)
    }

    func testNodeScoreWeightsZonesByPresentPages() throws {
        let m = try ModernCompactionTests.fragmented(256)
        // fragmentation_score_node = Σ present(z) × score(z) / (node present + 1).
        let ids = m.nodes[0].zoneIds.filter { m.zones[$0].populated }
        let nodePresent = ids.reduce(0) { $0 + m.zones[$1].presentPages }
        var expected = 0
        for z in ids { expected += m.zones[z].presentPages * m.fragmentationScoreZone(z) / (nodePresent + 1) }
        XCTAssertEqual(m.fragmentationScoreNode(NodeID(0)), expected)
        // The fragmented machine: every free page in small blocks, DMA32 holds nearly all pages.
        XCTAssertEqual(m.fragmentationScoreZone(m.zoneId(.dma32)), 100)
        XCTAssertGreaterThan(m.fragmentationScoreNode(NodeID(0)), 90)
        // A fresh machine: all free memory in max-order blocks: score 0.
        let fresh = try ModernCompactionTests.modern(256)
        XCTAssertEqual(fresh.fragmentationScoreNode(NodeID(0)), 0)
        XCTAssertFalse(fresh.shouldProactiveCompactNode(NodeID(0)))
    }

    func testProactiveCompactionRunsInTheBackgroundToTheLowMark() throws {
        var s = SysctlSettings()
        s.modern.compactionProactiveness = 20
        let m = try ModernCompactionTests.fragmented(256, sysctl: s)
        // fragmented() turned proactiveness off; switch it on as `echo 20 >` would: the trigger wakes kcompactd.
        try m.setCompactionProactiveness(20)
        XCTAssertTrue(m.shouldProactiveCompactNode(NodeID(0)))
        let clock0 = m.clockNs
        m.idle(ns: 2_000_000_000)
        let c = m.counters
        XCTAssertGreaterThanOrEqual(c.compactProactiveRuns, 1)
        XCTAssertGreaterThan(c.compactDaemonMigrateScanned, 0)
        XCTAssertGreaterThan(c.compactDaemonFreeScanned, 0)
        XCTAssertEqual(c.compactDaemonWake, 0, "a proactive run is not kcompactd_do_work")
        // The zones compacted until their score fell to the low mark (80) or below.
        XCTAssertLessThanOrEqual(m.fragmentationScoreZone(m.zoneId(.dma32)), 80)
        XCTAssertFalse(m.shouldProactiveCompactNode(NodeID(0)))
        // kcompactd's work is not the machine's time: idling 2 s moved the clock by exactly 2 s.
        XCTAssertEqual(m.clockNs - clock0, 2_000_000_000)
        assertConsistent(m)
    }

    func testProactivenessZeroMeansNoBackgroundCompaction() throws {
        let m = try ModernCompactionTests.fragmented(256)   // proactiveness 0
        m.idle(ns: 5_000_000_000)
        XCTAssertEqual(m.counters.compactProactiveRuns, 0)
        XCTAssertEqual(m.counters.compactDaemonMigrateScanned, 0)
        XCTAssertEqual(m.kcompactdStatus(node: NodeID(0))?.timeoutMs, 500)
    }

    func testBackOffWhenTheScoreDoesNotFall() throws {
        // Only unmovable pages in the way: proactive compaction cannot lower the score, so the next
        // check waits 500 ms << 6 = 32 s.
        var s = SysctlSettings(minFreeKbytes: 2048)
        s.modern.compactionProactiveness = 20
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 128, seed: 2, kernel: .v6_6, sysctl: s))
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .kernel, gfp: .atomic), count: m.totalPages, tag: "k", keepHandles: 0)
        try m.freeTag("k", pattern: .everyOther)
        m.drainAllPages()
        XCTAssertTrue(m.shouldProactiveCompactNode(NodeID(0)))
        m.idle(ns: 1_000_000_000)
        XCTAssertGreaterThanOrEqual(m.counters.compactProactiveRuns, 1)
        XCTAssertEqual(m.kcompactdStatus(node: NodeID(0))?.timeoutMs, 32_000)
        let runs = m.counters.compactProactiveRuns
        m.idle(ns: 20_000_000_000)
        XCTAssertEqual(m.counters.compactProactiveRuns, runs, "no check within the 32 s back-off")
        m.idle(ns: 20_000_000_000)
        XCTAssertEqual(m.counters.compactProactiveRuns, runs + 1)
        assertConsistent(m)
    }

    func testWakeupKcompactdRunsDoWorkForTheOrder() throws {
        let m = try ModernCompactionTests.fragmented(256)
        XCTAssertEqual(m.kcompactdStatus(node: NodeID(0))?.phase, "sleeping")
        m.wakeupKcompactd(node: NodeID(0), order: 9, highestZoneidx: 3)
        XCTAssertEqual(m.ms.kcompactd[0].maxOrder, 9)
        m.idle(ns: 200_000_000)
        let c = m.counters
        XCTAssertEqual(c.compactDaemonWake, 1)
        XCTAssertGreaterThan(c.compactDaemonMigrateScanned, 0)
        // kcompactd_do_work stops a zone once an order-9 page is free (COMPACT_SUCCESS): one exists now.
        XCTAssertGreaterThan(m.nrFree(zone: m.zoneId(.dma32), order: 9) + m.nrFree(zone: m.zoneId(.dma32), order: 10), 0)
        XCTAssertEqual(m.ms.kcompactd[0].maxOrder, 0, "the order asked for is forgotten after the work")
        // Order 0 never wakes it; a node without need (an order-9 block free) is not woken either.
        m.wakeupKcompactd(node: NodeID(0), order: 0, highestZoneidx: 3)
        XCTAssertNil(m.ms.kcompactd[0].wokenAt)
        assertConsistent(m)
    }

    func testFailingNoReclaimAllocationWakesKcompactd() throws {
        // defrag=defer: a THP fault neither reclaims nor compacts; it wakes kswapd, which (the node being
        // balanced) wakes kcompactd instead (wakeup_kswapd).
        let m = try ModernCompactionTests.fragmented(256)
        try m.setTHPDefrag(.defer)
        let gfp = m.thpGfpMask(madvised: true)
        XCTAssertFalse(gfp.contains(.wait))
        XCTAssertFalse(gfp.contains(.noKswapd))
        let o = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: gfp))
        XCTAssertFalse(o.succeeded)
        XCTAssertFalse(o.stalledInCompaction)
        XCTAssertEqual(m.counters.compactStall, 0)
        // The wake-up happened; kcompactd ran when the slow path ended.
        XCTAssertEqual(m.counters.compactDaemonWake, 1)
        assertConsistent(m)
    }

    func testKswapdWakesKcompactdAsItGoesToSleep() throws {
        // A high-order allocation that finds the node below its watermarks wakes kswapd for the order;
        // once kswapd has balanced, it resets the skip hints and wakes kcompactd for that order.
        var s = SysctlSettings(minFreeKbytes: 8192)
        s.modern.compactionProactiveness = 0
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 128, seed: 3, kernel: .v6_6, swapMiB: 0, sysctl: s))
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: m.totalPages, tag: "f", keepHandles: 0)
        // kswapd woken for order 9 balances for it until it has reclaimed compact_gap(9) = 1024 pages,
        // then for order 0 (kswapd_shrink_node); asleep again, it wakes kcompactd for order 9.
        m.ms.kswapdAllocOrder[0] = 9
        m.ms.kswapdReclaimed[0] = 0
        m.kswapdPending[0] = 9
        m.modernKswapdRan(node: NodeID(0), order: 9, finished: false, reclaimed: 1000)
        XCTAssertEqual(m.kswapdPending[0], 9)
        m.modernKswapdRan(node: NodeID(0), order: 9, finished: false, reclaimed: 100)
        XCTAssertEqual(m.kswapdPending[0], 0)
        m.kswapdPending[0] = -1
        m.ms.blockskipFlush[m.zoneId(.dma32)] = true
        m.modernKswapdRan(node: NodeID(0), order: 0, finished: true, reclaimed: 0)
        XCTAssertEqual(m.ms.kcompactd[0].maxOrder, 9)
        XCTAssertFalse(m.ms.blockskipFlush[m.zoneId(.dma32)], "reset_isolation_suitable as kswapd sleeps")
        XCTAssertEqual(m.ms.kswapdAllocOrder[0], -1)
        assertConsistent(m)
    }
}
