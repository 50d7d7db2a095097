import XCTest
@testable import MMCore

/// The kernel selftest's scenario on an aged machine (kernel-compaction.md §9.2).
final class SelftestScenarioTests: XCTestCase {
    func agedMachine(compaction: Bool) throws -> Machine {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 1024, seed: 21, compaction: compaction))
        try m.age()
        assertConsistent(m, "aged")
        return m
    }

    func testSelftestPassesWithCompaction() throws {
        let m = try agedMachine(compaction: true)
        let r = try m.runCompactionSelftest()
        XCTAssertGreaterThan(r.chunksMapped, 2)
        XCTAssertTrue(r.passed, "index \(r.compactionIndex), \(r.hugepages) huge pages of \(r.memFreeKB) kB free")
        XCTAssertGreaterThan(m.counters.compactStall, 0)
        assertConsistent(m)
        // Every surviving mlocked chunk page still reads what its owner wrote.
        for tag in m.tagCounts.map(\.tag) where tag.hasPrefix("selftest-chunk") {
            assertContentsIntact(m, m.handles(ofTag: tag))
        }
    }

    func testSelftestWithoutCompaction() throws {
        let vanilla = try agedMachine(compaction: false)
        let v = try vanilla.runCompactionSelftest()
        let compacting = try agedMachine(compaction: true)
        let c = try compacting.runCompactionSelftest()
        // The vanilla kernel cannot move mlocked pages; it gets fewer huge pages.
        XCTAssertLessThan(v.hugepages, c.hugepages)
        XCTAssertEqual(vanilla.counters.compactStall, 0)
        // The selftest passes with compaction, and its index (lower is better) is no worse than vanilla's.
        XCTAssertTrue(c.passed, "compaction: \(c.hugepages) huge pages, index \(c.compactionIndex)")
        XCTAssertLessThanOrEqual(c.compactionIndex, v.compactionIndex)
        assertConsistent(vanilla)
    }

    func testFreshMachineProvesNothing() throws {
        // On a fresh machine the freed chunks are already whole free blocks: even vanilla passes.
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 1024, seed: 21, compaction: false))
        XCTAssertTrue(try m.runCompactionSelftest().passed)
    }
}
