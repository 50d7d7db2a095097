import XCTest
@testable import MMCore

final class FallbackTests: XCTestCase {
    func testUnmovableFallbackStealsWholePageblockFromLargeBlock() throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: nil, zoneLayout: [[ZoneSpec(type: .dma, mib: 16)]],
                                          sysctl: SysctlSettings(minFreeKbytes: 128)))
        let before = m.counters.extfragEvents
        let o = try m.allocate(AllocRequest(order: 0, kind: .kernel, gfp: .atomic))
        XCTAssertTrue(o.succeeded)
        // No UNMOVABLE or RECLAIMABLE free pages existed: the largest MOVABLE block was broken, its
        // pageblock moved to UNMOVABLE (all of it was free) and the block covering two pageblocks claimed.
        XCTAssertEqual(m.counters.extfragEvents, before + 1)
        XCTAssertEqual(m.counters.extfragFragmenting, 0)   // found order 10 >= pageblock order
        XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(o.pfn)), .unmovable)
        XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(o.pfn) + 512), .unmovable)
        // The split halves went to the UNMOVABLE lists.
        XCTAssertEqual(m.freeListLength(zone: ZoneID(0), order: 9, mt: .unmovable), 1)
        XCTAssertEqual(m.freeListLength(zone: ZoneID(0), order: 0, mt: .unmovable), 1)
        // The next unmovable allocation comes from its own list, no new event.
        _ = try m.allocate(AllocRequest(order: 0, kind: .kernel, gfp: .atomic))
        XCTAssertEqual(m.counters.extfragEvents, before + 1)
        assertConsistent(m)
    }

    func testSmallFallbackDoesNotClaimPageblock() throws {
        // Use up every MOVABLE free block, then free every other page: only order-0 MOVABLE holes remain
        // (the RESERVE pageblock is untouched). An unmovable request then falls back to an order-0
        // MOVABLE block, below pageblock_order/2: nothing is moved and the pageblock keeps its type.
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: nil, zoneLayout: [[ZoneSpec(type: .dma, mib: 16)]],
                                          sysctl: SysctlSettings(minFreeKbytes: 128)))
        func movableFree() -> Int { (0..<11).reduce(0) { $0 + m.freeListLength(zone: ZoneID(0), order: $1, mt: .movable) } }
        var hs: [PageHandle] = []
        while movableFree() > 0 {
            hs.append(try m.allocate(AllocRequest(order: 0, kind: .anon, gfp: .atomic)).handle!)
        }
        for (i, h) in hs.enumerated() where i % 2 == 0 { try m.free(h) }
        XCTAssertEqual(m.freeListLength(zone: ZoneID(0), order: 0, mt: .movable), hs.count / 2)
        XCTAssertEqual(movableFree(), hs.count / 2)
        let events = m.counters.extfragEvents
        let o = try m.allocate(AllocRequest(order: 0, kind: .kernel, gfp: .atomic))
        XCTAssertTrue(o.succeeded)
        XCTAssertEqual(m.counters.extfragEvents, events + 1)
        XCTAssertEqual(m.counters.extfragFragmenting, 1)
        XCTAssertEqual(m.counters.extfragChangeOwnership, 0)
        XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(o.pfn)), .movable)
        assertConsistent(m)
    }

    func testReclaimableFallbackMovesFreePagesOfTheBlock() throws {
        // A reclaimable request always moves the free pages of the block it falls back into.
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: nil, zoneLayout: [[ZoneSpec(type: .dma, mib: 16)]],
                                          sysctl: SysctlSettings(minFreeKbytes: 128)))
        let o = try m.allocate(AllocRequest(order: 0, kind: .slab, gfp: .atomic))
        XCTAssertTrue(o.succeeded)
        XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(o.pfn)), .reclaimable)
        XCTAssertEqual(m.counters.extfragChangeOwnership, 1)
        assertConsistent(m)
    }

    func testReservePageblocksAreSetUpAndUsedLast() throws {
        let m = makeMachine(.x86_64, mib: 1024)
        // MIN watermark of the DMA32 zone rounds up to at least one pageblock: 1 or 2 RESERVE blocks.
        for z in m.populatedZones {
            let counts = m.pageblockCounts(zone: z.id)
            let expected = min(2, (z.watermark.min + 511) / 512)
            XCTAssertEqual(counts[Migratetype.reserve], expected, "zone \(z.name)")
            // They are the first MOVABLE blocks of the zone whose first page is not PageReserved.
            let first = stride(from: z.startPfn, to: z.endPfn, by: m.pageblockPages).first { !m.isReservedPage($0) }!
            if expected > 0 { XCTAssertEqual(m.migratetype(ofPageblockAt: first), .reserve) }
            if first != z.startPfn { XCTAssertEqual(m.migratetype(ofPageblockAt: z.startPfn), .movable) }
        }
        assertConsistent(m)
    }

    func testGroupingByMobilityDisabledOnTinyMachine() throws {
        // Fewer pages than pageblock_nr_pages * MIGRATE_TYPES: everything is UNMOVABLE.
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 8, sysctl: SysctlSettings(minFreeKbytes: 128)))
        XCTAssertTrue(m.mobilityGroupingDisabled)
        let o = try m.allocate(AllocRequest(order: 0, kind: .anon, gfp: .atomic))
        XCTAssertTrue(o.succeeded)
        XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(o.pfn)), .unmovable)
        assertConsistent(m)
    }
}
