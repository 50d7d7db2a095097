import XCTest
@testable import MMCore

final class DirectCompactionTests: XCTestCase {
    /// 256 MiB x86-64 with movable pages in every pageblock: no order-9 block free, plenty of free memory.
    func fragmented(compaction: Bool = true, threshold: Int? = nil) throws -> Machine {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 256, seed: 4, compaction: compaction,
                                          sysctl: SysctlSettings(extfragThreshold: threshold)))
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, tag: "f", keepHandles: 0)
        try m.freeTag("f", pattern: .random(fraction: 0.75, seed: 8))
        return m
    }

    let hugepage = AllocRequest(order: 9, kind: .anon, gfp: [.wait, .io, .fs])

    func testDirectCompactionSatisfiesAHugePageAndStopsEarly() throws {
        let m = try fragmented()
        let z = m.zoneId(.dma32)
        XCTAssertEqual(m.nrFree(zone: z, order: 9) + m.nrFree(zone: z, order: 10), 0)
        let o = try m.allocate(hugepage)
        XCTAssertTrue(o.succeeded)
        XCTAssertTrue(o.stalledInCompaction)
        XCTAssertFalse(o.stalledInReclaim)
        XCTAssertEqual(m.counters.compactStall, 1)
        XCTAssertEqual(m.counters.compactSuccess, 1)
        // It stopped as soon as one order-9 block was possible: far less scanned than a full pass.
        let scannedDirect = m.counters.compactMigrateScanned
        let full = try fragmented()
        try full.compactMemory()
        XCTAssertLessThan(scannedDirect * 4, full.counters.compactMigrateScanned)
        XCTAssertGreaterThan(o.latencyNs, m.costs.allocFastPath)
        assertConsistent(m)
    }

    func testSmallOrdersDoNotCompact() throws {
        let m = try fragmented()
        _ = try m.allocate(AllocRequest(order: 3, kind: .anon, gfp: [.wait, .io, .fs]))
        XCTAssertEqual(m.counters.compactStall, 0)
    }

    func testNoFsOrIoMeansNoCompaction() throws {
        let m = try fragmented()
        let o = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: [.wait, .io]))
        XCTAssertFalse(o.stalledInCompaction)
        XCTAssertEqual(m.counters.compactStall, 0)
    }

    func testExtfragThresholdDecides() throws {
        // Free memory split into many order-0 blocks: the fragmentation index at order 9 is close to 1000.
        let m = try fragmented()
        let z = m.zoneId(.dma32)
        let fi = m.fragmentationIndex(zone: z, order: 9)
        XCTAssertGreaterThan(fi, 900)
        XCTAssertTrue(m.compactionSuitable(zone: z, order: 9).suitable)
        // Threshold 1000: every index in 0...1000 means "lack of memory": never compact.
        let never = try fragmented(threshold: 1000)
        XCTAssertFalse(never.compactionSuitable(zone: z, order: 9).suitable)
        let o = try never.allocate(hugepage)
        XCTAssertEqual(never.counters.compactStall, 1)      // the stall is counted before the zone checks
        XCTAssertEqual(never.counters.compactMigrateScanned, 0)
        XCTAssertTrue(o.stalledInReclaim)
        // Threshold 0: only an index of exactly 0 is refused.
        let always = try fragmented(threshold: 0)
        XCTAssertTrue(always.compactionSuitable(zone: z, order: 9).suitable)
    }

    func testWatermarkGateWithGap() throws {
        // Nearly full: order-0 LOW + 2<<9 does not hold, so compaction is not suitable.
        let m = makeMachine(.x86_64, mib: 64)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, keepHandles: 0)
        let z = m.zoneId(.dma32)
        XCTAssertLessThan(m.nrFreePages(zone: z), m.zones[z].watermark.low + (2 << 9))
        XCTAssertFalse(m.compactionSuitable(zone: z, order: 9).suitable)
    }

    func testDeferralSequence() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let z = m.zoneId(.dma32)
        XCTAssertFalse(m.compactionDeferred(zone: z))
        var pattern: [Bool] = []
        // After k failures the next 2^k - 1 queries are deferred and the one after runs (shift capped at 6).
        for failures in 1...7 {
            m.deferCompaction(zone: z)
            let limit = 1 << min(failures, 6)
            var seen: [Bool] = []
            for _ in 0..<limit { seen.append(m.compactionDeferred(zone: z)) }
            XCTAssertEqual(seen, Array(repeating: true, count: limit - 1) + [false], "after \(failures) failures")
            pattern.append(contentsOf: seen)
        }
        // 1 + 3 + 7 + 15 + 31 + 63 + 63 deferred queries: never more than 63 in a row.
        XCTAssertEqual(pattern.filter { $0 }.count, 1 + 3 + 7 + 15 + 31 + 63 + 63)
        XCTAssertEqual(m.zones[z].compactDeferShift, 6)
        m.resetCompactionDeferral(zone: z)
        XCTAssertFalse(m.compactionDeferred(zone: z))
    }

    func testFailedCompactionDefersTheNextAttempts() throws {
        // All pinned: compaction runs, cannot move anything, the allocation fails: deferral starts.
        let m = makeMachine(.x86_64, mib: 128)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .pinned, gfp: .atomic), count: m.totalPages, tag: "p", keepHandles: 0)
        try m.freeTag("p", pattern: .random(fraction: 0.6, seed: 1))
        let req = AllocRequest(order: 9, kind: .anon, gfp: [.wait, .io, .fs, .noretry])
        XCTAssertFalse(try m.allocate(req).succeeded)
        XCTAssertEqual(m.counters.compactStall, 1)
        XCTAssertEqual(m.counters.compactFail, 1)
        XCTAssertEqual(m.zones[m.zoneId(.dma32)].compactDeferShift, 1)
        // The next attempt is deferred: no new stall.
        XCTAssertFalse(try m.allocate(req).succeeded)
        XCTAssertEqual(m.counters.compactStall, 1)
        assertConsistent(m)
    }

    func testVanillaGoesStraightToReclaim() throws {
        let m = try fragmented(compaction: false)
        let o = try m.allocate(hugepage)
        XCTAssertFalse(o.stalledInCompaction)
        XCTAssertTrue(o.stalledInReclaim)
        XCTAssertEqual(m.counters.compactStall, 0)
        XCTAssertGreaterThan(m.counters.allocstall, 0)
        assertConsistent(m)
    }
}
