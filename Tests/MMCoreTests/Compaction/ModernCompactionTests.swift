import XCTest
@testable import MMCore

/// The modern profile's compaction (kernel 6.6): skip bits, cached pfns, async source filtering, the fast
/// searches, capture, deferral, results; each against the kernel's rule (mm/compaction.c of 6.6).
final class ModernCompactionTests: XCTestCase {
    static func modern(_ mib: Int = 256, seed: UInt64 = 4, sysctl: SysctlSettings = SysctlSettings(),
                       thp: TransparentHugepageSettings? = nil) throws -> Machine {
        // Without boot reservations: these tests lay out pageblocks by hand (as the allocator-mechanics tests do).
        try Machine(MachineConfig(preset: .x86_64, memoryMiB: mib, seed: seed, kernel: .v6_6, sysctl: sysctl, bootMemory: false,
                                  transparentHugepage: thp))
    }

    /// Every page allocated as anon order-0, then 3/4 freed at random: no free order-9 block, memory free.
    static func fragmented(_ mib: Int = 256, seed: UInt64 = 4, sysctl: SysctlSettings = SysctlSettings()) throws -> Machine {
        var s = sysctl
        if s.modern.compactionProactiveness == nil { s.modern.compactionProactiveness = 0 }
        // The seed's default reserve (THP's recommendation would keep whole free pageblocks back).
        if s.minFreeKbytes == nil { s.minFreeKbytes = 2048 }
        let m = try modern(mib, seed: seed, sysctl: s)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, tag: "f", keepHandles: 0)
        try m.freeTag("f", pattern: .random(fraction: 0.75, seed: 8))
        m.drainAllPages()
        return m
    }

    let hugepage = AllocRequest(order: 9, kind: .anon, gfp: [.wait, .io, .fs])

    func testMachineRunsTheModernProfile() throws {
        let m = try Self.modern()
        XCTAssertEqual(m.kernel, .v6_6)
        XCTAssertTrue(m.isModernKernel)
        XCTAssertEqual(m.compactionProactiveness, 20)
        XCTAssertEqual(m.watermarkBoostFactor, 15000)
        XCTAssertEqual(m.watermarkScaleFactor, 10)
        // No MIGRATE_RESERVE pageblocks on 6.6; the HighAtomic column is the enum's fourth.
        for z in m.populatedZones { XCTAssertEqual(m.pageblockCounts(zone: z.id)[Migratetype.reserve], 0) }
        XCTAssertTrue(m.renderPagetypeinfo().contains("   HighAtomic "))
        XCTAssertFalse(m.renderPagetypeinfo().contains("Reserve"))
        assertConsistent(m)
        let seed = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 256, seed: 4))
        XCTAssertFalse(seed.isModernKernel)
        XCTAssertNil(seed.compactionProactiveness)
    }

    func testWatermarksFollowWatermarkScaleFactor() throws {
        // __setup_per_zone_wmarks: gap = max(MIN/4, managed × wsf / 10000).
        let m = try Self.modern(1024, sysctl: SysctlSettings(minFreeKbytes: 4096))
        let z = m.zoneId(.dma32)
        let managed = m.zones[z].managedPages
        let lowmem = m.zones.filter { $0.type != .highmem && $0.type != .movable }.reduce(0) { $0 + $1.managedPages }
        let minMark = 1024 * managed / lowmem
        let gap = max(minMark / 4, managed * 10 / 10000)
        XCTAssertEqual(m.wmarkPages(zone: z, .min), minMark)
        XCTAssertEqual(m.wmarkPages(zone: z, .low), minMark + gap)
        XCTAssertEqual(m.wmarkPages(zone: z, .high), minMark + 2 * gap)
        try m.setWatermarkScaleFactor(200)
        let gap2 = max(minMark / 4, managed * 200 / 10000)
        XCTAssertEqual(m.wmarkPages(zone: z, .high), minMark + 2 * gap2)
        assertConsistent(m)
    }

    func testSkipBitSetWhenAScanFindsNothingAndResetAfterAFullDirectCompaction() throws {
        let m = try Self.fragmented()
        let z = m.zoneId(.dma32)
        let zone = m.zones[z]
        // A pageblock of only unmovable kernel pages: nothing to isolate there.
        let block = zone.startPfn + 8 * m.pageblockPages
        var cc = m.makeModernCompactControl(zone: z, order: 9, migratetype: .movable,
                                            fields: Machine.modernFields(mode: .syncLight, direct: true, highestZoneidx: 3, order: 9))
        XCTAssertFalse(m.pageblockSkip(block))
        // Make the block's pages non-LRU (pinned would still be LRU pages): free them all, then fill the
        // block's free pages with kernel allocations.
        for pfn in block..<(block + m.pageblockPages) where m.pages.state[pfn] & PageState.codeMask == PageState.allocated {
            let slot = Int(m.pages.nextOrOwner[pfn])
            if slot != Int(NONE) { m.freeAllocation(slot: slot) }
        }
        m.drainAllPages()
        cc.migratePfn = block
        cc.freePfn = m.pageblockStartPfn(zone.endPfn - 1)
        _ = m.isolateMigratepagesBlock(&cc, low: block, end: block + m.pageblockPages)
        XCTAssertTrue(cc.migratepages.isEmpty)
        XCTAssertTrue(m.pageblockSkip(block), "a block scanned to its end without isolating anything is marked skip")
        // update_cached_migrate: the cached position moved past the block (pageblock_end_pfn of its end).
        XCTAssertEqual(m.modernCompactionState(zone: z)!.cachedMigratePfnSync, block + 2 * m.pageblockPages)
        // A second scan of a skipped block stops at its first pfn.
        var cc2 = cc
        cc2.migrateScanned = 0
        _ = m.isolateMigratepagesBlock(&cc2, low: block, end: block + m.pageblockPages)
        XCTAssertEqual(cc2.migrateScanned, 1)
        // The block is all free now (an LRU-less target for the reset's free side): a full direct
        // compaction sets compact_blockskip_flush; kswapd going to sleep clears the hints.
        m.ms.blockskipFlush[z] = true
        XCTAssertTrue(m.resetIsolationSuitable(zone: z))
        XCTAssertFalse(m.pageblockSkip(block), "__reset_isolation_suitable clears a block holding free pages")
        XCTAssertFalse(m.ms.blockskipFlush[z])
        // Without the flush flag nothing is reset.
        m.setPageblockSkip(block)
        XCTAssertFalse(m.resetIsolationSuitable(zone: z))
        XCTAssertTrue(m.pageblockSkip(block))
        assertConsistent(m)
    }

    func testAsyncDirectCompactionTakesOnlyMovableSourceBlocks() throws {
        let m = try Self.fragmented()
        let z = m.zoneId(.dma32)
        let zone = m.zones[z]
        let block = zone.startPfn + 4 * m.pageblockPages
        m.setPageblockMigratetype(block, .unmovable)
        func control(_ mode: MigrateMode) -> CompactControl {
            var cc = m.makeModernCompactControl(zone: z, order: 9, migratetype: .movable,
                                                fields: Machine.modernFields(mode: mode, direct: true, highestZoneidx: 3, order: 9))
            cc.migratePfn = block
            cc.freePfn = m.pageblockStartPfn(zone.endPfn - 1)
            cc.modern!.fastSearchFail = 100   // no fast search: start the linear scan at the block
            return cc
        }
        XCTAssertFalse(m.suitableMigrationSource(control(.async), block))
        XCTAssertTrue(m.suitableMigrationSource(control(.syncLight), block))
        var cc = control(.async)
        cc.modern!.ignoreSkipHint = true
        let r = m.modernIsolateMigratepages(&cc)
        XCTAssertEqual(r, .success)
        // Nothing came from the UNMOVABLE block: every isolated page lies above it.
        XCTAssertFalse(cc.migratepages.isEmpty)
        XCTAssertTrue(cc.migratepages.allSatisfy { Pfn(entry: $0) >= block + m.pageblockPages })
        for pfn in cc.migratepages { m.putbackLruPage(pfn: Pfn(entry: pfn), zone: z) }
        cc.migratepages.removeAll()
        // The same scan in SYNC_LIGHT mode takes pages from it.
        var sync = control(.syncLight)
        sync.modern!.ignoreSkipHint = true
        _ = m.modernIsolateMigratepages(&sync)
        XCTAssertTrue(sync.migratepages.contains { Pfn(entry: $0) >= block && Pfn(entry: $0) < block + m.pageblockPages })
        for pfn in sync.migratepages { m.putbackLruPage(pfn: Pfn(entry: pfn), zone: z) }
        assertConsistent(m)
    }

    func testCachedPositionsMoveOnAndResetWhenTheScannersMeet() throws {
        let m = try Self.fragmented()
        let z = m.zoneId(.dma32)
        let zone = m.zones[z]
        // The kernel leaves the caches zero until the first run; compact_zone resets them to the zone.
        XCTAssertEqual(m.modernCompactionState(zone: z)!.cachedFreePfn, Pfn(0))
        var cc = m.makeModernCompactControl(zone: z, order: 9, migratetype: .movable,
                                            fields: Machine.modernFields(mode: .async, direct: true, highestZoneidx: 3, order: 9))
        XCTAssertNil(m.modernCompactZoneBegin(&cc))
        XCTAssertEqual(cc.migratePfn, zone.startPfn)
        XCTAssertEqual(cc.freePfn, m.pageblockStartPfn(zone.endPfn - 1))
        XCTAssertEqual(m.modernCompactionState(zone: z)!.cachedFreePfn, m.pageblockStartPfn(zone.endPfn - 1))
        // A few steps: the async cache moves forward, never back.
        var last = m.modernCompactionState(zone: z)!.cachedMigratePfnAsync
        for _ in 0..<20 where cc.result == nil {
            _ = m.modernCompactZoneStep(&cc)
            let now = m.modernCompactionState(zone: z)!.cachedMigratePfnAsync
            XCTAssertGreaterThanOrEqual(now, last)
            last = now
        }
        if cc.result == nil { m.modernEndStalled(&cc) }
        // A full run to the end: the scanners meet, the caches go back to the zone's ends.
        var full = m.makeModernCompactControl(zone: z, order: -1, migratetype: .unmovable,
                                              fields: Machine.modernFields(mode: .sync, wholeZone: true, ignoreSkipHint: true, highestZoneidx: 3, order: -1))
        let r = m.modernCompactZoneToEnd(&full)
        XCTAssertEqual(r, .complete)
        let st = m.modernCompactionState(zone: z)!
        XCTAssertEqual(st.cachedMigratePfnAsync, zone.startPfn)
        XCTAssertEqual(st.cachedMigratePfnSync, zone.startPfn)
        // compact_zone's `out:` moves the free cache up to the highest page it gave back.
        XCTAssertGreaterThanOrEqual(st.cachedFreePfn, m.pageblockStartPfn(zone.endPfn - 1) - m.pageblockPages)
        assertConsistent(m)
    }

    func testDirectCompactionCapturesTheFreedBlock() throws {
        let m = try Self.fragmented()
        for z in m.populatedZones where z.type == .dma32 { XCTAssertEqual(m.nrFree(zone: z.id, order: 9) + m.nrFree(zone: z.id, order: 10), 0) }
        let before = m.counters
        let o = try m.allocate(hugepage)
        XCTAssertTrue(o.succeeded)
        XCTAssertTrue(o.stalledInCompaction)
        let c = m.counters
        XCTAssertEqual(c.compactStall - before.compactStall, 1)
        XCTAssertEqual(c.compactSuccess - before.compactSuccess, 1)
        // The block came to the allocation straight from the free path (compaction_capture), or from
        // the free lists: either way the allocation succeeded after compaction.
        XCTAssertGreaterThanOrEqual(c.compactCaptured, 0)
        assertConsistent(m)
    }

    func testCaptureRules() throws {
        let m = try Self.modern(64)
        // compaction_capture: never an isolated pageblock; a MOVABLE block below pageblock_order merges on.
        XCTAssertFalse(m.compactionCapture(order: 3, mt: .movable))
        XCTAssertTrue(m.compactionCapture(order: 3, mt: .unmovable))
        XCTAssertTrue(m.compactionCapture(order: 9, mt: .movable))
        XCTAssertFalse(m.compactionCapture(order: 9, mt: .isolate))
        // A free that completes a block of the compactor's order in its zone is captured, not listed.
        let z = m.zoneId(.dma32)
        let h = try m.allocate(AllocRequest(order: 9, kind: .kernel, gfp: .atomic)).handle!
        let pfn = Pfn(try m.pfn(of: h))
        let zh = try m.allocationInfo(h).zone
        let free = m.nrFreePages(zone: zh)
        m.ms.captureZone = zh
        m.ms.captureOrder = 9
        m.ms.capturedPfn = nil
        try m.free(h)
        XCTAssertEqual(m.ms.capturedPfn, pfn)
        XCTAssertEqual(m.nrFreePages(zone: zh), free, "a captured block is not free")
        // Hand it back as the allocator would after prep_new_page: here simply freed again without capture.
        m.ms.captureZone = nil
        m.ms.capturedPfn = nil
        m.freeOnePage(pfn, zone: zh, order: 9, mt: m.pageblockMigratetype(pfn))
        _ = z
        assertConsistent(m)
    }

    func testDeferralFollowsCompactOrderFailed() throws {
        let m = try Self.modern(64)
        let z = m.zoneId(.dma32)
        // compact_order_failed starts at 0: every order is subject to deferral until a success.
        XCTAssertFalse(m.modernCompactionDeferred(zone: z, order: 9), "shift 0: limit 1, never deferred")
        m.modernDeferCompaction(zone: z, order: 9)       // shift 1, order_failed stays 0 (9 >= 0)
        XCTAssertEqual(m.ms.orderFailed[z], 0)
        XCTAssertTrue(m.modernCompactionDeferred(zone: z, order: 9))   // considered 1 < 2
        XCTAssertFalse(m.modernCompactionDeferred(zone: z, order: 9))  // considered 2 >= 2
        // A success (without allocation) at order 9 raises order_failed to 10: order 9 is never deferred now.
        m.modernCompactionDeferReset(zone: z, order: 9, allocSuccess: false)
        XCTAssertEqual(m.ms.orderFailed[z], 10)
        m.modernDeferCompaction(zone: z, order: 10)   // a failure at order 10 keeps order_failed at 10
        XCTAssertEqual(m.ms.orderFailed[z], 10)
        XCTAssertFalse(m.modernCompactionDeferred(zone: z, order: 9))
        XCTAssertTrue(m.modernCompactionDeferred(zone: z, order: 10))
        // A failure at a lower order lowers it.
        m.modernDeferCompaction(zone: z, order: 4)
        XCTAssertEqual(m.ms.orderFailed[z], 4)
        // The shift stops at 6; compaction_restarting once 64 attempts were considered.
        for _ in 0..<10 { m.modernDeferCompaction(zone: z, order: 4) }
        XCTAssertEqual(m.zones[z].compactDeferShift, 6)
        for _ in 0..<63 { XCTAssertTrue(m.modernCompactionDeferred(zone: z, order: 5)) }
        XCTAssertFalse(m.modernCompactionDeferred(zone: z, order: 5))
        XCTAssertTrue(m.compactionRestarting(zone: z, order: 5))
        XCTAssertFalse(m.compactionRestarting(zone: z, order: 3))
        // An allocation success resets the counters.
        m.modernCompactionDeferReset(zone: z, order: 5, allocSuccess: true)
        XCTAssertEqual(m.zones[z].compactDeferShift, 0)
        XCTAssertEqual(m.zones[z].compactConsidered, 0)
    }

    func testCompactionResultsOfThePrologue() throws {
        let m = try Self.modern(256)
        let z = m.zoneId(.dma32)
        // A fresh zone: an order-9 allocation could already succeed: SUCCESS before any scan.
        var cc = m.makeModernCompactControl(zone: z, order: 9, migratetype: .movable,
                                            fields: Machine.modernFields(mode: .async, direct: true, highestZoneidx: 3, allocFlags: .wmarkMin, order: 9))
        XCTAssertEqual(m.modernCompactZoneBegin(&cc), .success)
        XCTAssertEqual(cc.result, .success)
        XCTAssertEqual(cc.migrateScanned, 0)
        // A zone below its order-0 watermark plus compact_gap: SKIPPED.
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .kernel, gfp: .atomic), count: m.totalPages, keepHandles: 0)
        var cc2 = m.makeModernCompactControl(zone: z, order: 9, migratetype: .movable,
                                             fields: Machine.modernFields(mode: .async, direct: true, highestZoneidx: 3, allocFlags: .wmarkMin, order: 9))
        XCTAssertEqual(m.modernCompactZoneBegin(&cc2), .skipped)
        XCTAssertEqual(cc2.result?.kernelName, "COMPACT_SKIPPED")
    }

    func testModernScansFarLessThanTheSeedForTheSameHugePages() throws {
        // The same fragmented machine on 2.6.35 and 6.6, 40 huge pages each: the modern compactor
        // restarts where it left off and skips blocks it found useless, the seed scans from the zone
        // ends every time.
        func run(_ k: KernelRelease) throws -> (ok: Int, migrate: UInt64, free: UInt64) {
            var s = SysctlSettings()
            if k.isModern { s.modern.compactionProactiveness = 0 }
            let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 256, seed: 4, kernel: k, sysctl: s))
            _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, tag: "f", keepHandles: 0)
            try m.freeTag("f", pattern: .random(fraction: 0.75, seed: 8))
            var ok = 0
            for _ in 0..<40 where try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: [.wait, .io, .fs, .noretry])).succeeded { ok += 1 }
            assertConsistent(m, k.name)
            return (ok, m.counters.compactMigrateScanned, m.counters.compactFreeScanned)
        }
        let seed = try run(.v2_6_35), modern = try run(.v6_6)
        XCTAssertGreaterThan(modern.ok, 0)
        XCTAssertLessThan(modern.free, seed.free)
    }

    func testManualCompactionOnModernUsesSyncAndAcceptsOnlyOne() throws {
        let m = try Self.fragmented()
        XCTAssertFalse(m.compactMemoryAccepts(2))
        XCTAssertTrue(m.compactMemoryAccepts(1))
        let r = try m.compactMemory()
        XCTAssertTrue(r.zones.allSatisfy { $0.result == .complete })
        XCTAssertGreaterThan(m.nrFree(zone: m.zoneId(.dma32), order: 9) + m.nrFree(zone: m.zoneId(.dma32), order: 10), 10)
        assertConsistent(m)
    }
}
