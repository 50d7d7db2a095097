import MMFormat
import XCTest
@testable import MMCore

/// Boot-time reservations (BootMemory.swift): memmap, kernel image, boot hashes.
final class BootMemoryTests: XCTestCase {
    func testX86_64MemmapKernelAndHashesOfOneGiB() {
        let m = makeMachine(.x86_64, mib: 1024)
        // 262144 pages × 56 B = 14 MiB of struct page, already a multiple of the 2 MiB vmemmap block.
        XCTAssertEqual(m.bootMemory.memmapPages, [3584])
        XCTAssertEqual(m.bootMemory.kernelPages, 3072)          // 12 MiB default
        // nr_kernel_pages = 258560 present: dentry hash 129280 → 2^17 × 8 B = 1 MiB, inode hash 64640 →
        // 2^16 × 8 B = 512 KiB.
        XCTAssertEqual(m.bootMemory.hashPages, 256 + 128)
        XCTAssertEqual(m.memTotalPages, 262144 - 3584 - 3072 - 384)
        // The kernel is loaded at 16 MiB: the DMA zone keeps all its pages, DMA32 loses the reservations.
        let dma = m.zones[m.zoneId(.dma)], dma32 = m.zones[m.zoneId(.dma32)]
        XCTAssertEqual(dma.managedPages, dma.spannedPages)
        XCTAssertEqual(m.reservedPages(zone: dma32.id), 3584 + 3072 + 384)
        XCTAssertEqual(m.bootMemory.ranges.first?.start, Pfn(4096))
        // present = spanned − PAGE_ALIGN(spanned × 56) / 4096, in every zone (free_area_init_core).
        XCTAssertEqual(dma.presentPages, 4096 - 56)
        XCTAssertEqual(dma32.presentPages, 258048 - (258048 * 56 + 4095) / 4096)
        XCTAssertEqual(m.nrFreePagesTotal, m.memTotalPages)
        assertConsistent(m)
    }

    func testPpc64MemmapIsWholeSixteenMiBPagesPerNode() {
        let m = makeMachine(.ppc64, mib: 4096, nodes: 2)
        // 2 GiB a node: 32768 pages × 56 B = 1.75 MiB, allocated as one 16 MiB backing page (256 pages).
        XCTAssertEqual(m.bootMemory.memmapPages, [256, 256])
        XCTAssertEqual(m.bootMemory.ranges.count, 2)
        XCTAssertEqual(m.bootMemory.ranges[1].start, m.nodes[1].startPfn)
        XCTAssertEqual(m.bootMemory.ranges[0].start, Pfn(0), "ppc64 loads its kernel at 0")
        assertConsistent(m)
    }

    func testX86MemmapIsThirtyTwoBytesAPageInLowmem() {
        let m = makeMachine(.x86, mib: 2048)
        XCTAssertEqual(m.bootMemory.memmapPages, [524288 * 32 / 4096])
        // All of it lies below HighMem.
        let normal = m.zones[m.zoneId(.normal)]
        for r in m.bootMemory.ranges { XCTAssertLessThanOrEqual(r.start + r.pages, normal.endPfn) }
        XCTAssertEqual(m.reservedPages(zone: m.zoneId(.highmem)), 0)
        // x86 hashes have 4-byte buckets and count only lowmem.
        XCTAssertLessThan(m.bootMemory.hashPages, 512)
        assertConsistent(m)
    }

    func testKernelReservedKiBIsAConfigField() throws {
        let j = try JSON.parse(#"{"preset": "x86_64", "memory_mib": 512, "kernel_reserved_kib": 4096}"#)
        let c = try MachineConfig(json: j)
        XCTAssertEqual(c.kernelReservedKiB, 4096)
        XCTAssertEqual(try Machine(c).bootMemory.kernelPages, 1024)
        XCTAssertEqual(try MachineConfig(json: c.json), c)
        let off = try MachineConfig(json: try JSON.parse(#"{"memory_mib": 512, "boot_memory": false}"#))
        let m = try Machine(off)
        XCTAssertEqual(m.memTotalPages, m.totalPages)
        XCTAssertEqual(m.zones.map(\.presentPages), m.zones.map(\.spannedPages))
        do {
            _ = try MachineConfig(json: try JSON.parse(#"{"memory_mib": 512, "kernel_reserved_kib": -1}"#))
            XCTFail("accepted")
        } catch { XCTAssertTrue("\(error)".contains("kernel_reserved_kib"), "\(error)") }
    }

    func testReservedPagesAreNeverAllocatedMovedOrReclaimed() throws {
        let m = makeMachine(.x86_64, mib: 128)
        let reserved = m.bootMemory.ranges.flatMap { Array($0.start..<($0.start + $0.pages)) }
        XCTAssertFalse(reserved.isEmpty)
        // Fill everything with atomic anon pages, free every other one, compact: reserved pages stay put.
        let r = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, tag: "fill", keepHandles: 0)
        XCTAssertLessThanOrEqual(r.succeeded, m.memTotalPages)
        for (i, h) in m.handles(ofTag: "fill").enumerated() where i % 2 == 0 { try m.free(h) }
        _ = try m.compactMemory()
        for pfn in reserved { XCTAssertTrue(m.isReservedPage(pfn), "pfn \(pfn)") }
        XCTAssertFalse(reserved.contains { m.canIsolateForMigration(pfn: $0) })
        assertConsistent(m)
    }

    func testMigrateReserveSkipsBlocksStartingWithAReservedPage() {
        let m = makeMachine(.x86_64, mib: 1024)
        let z = m.zoneId(.dma32)
        XCTAssertTrue(m.isReservedPage(m.zones[z].startPfn))
        XCTAssertNotEqual(m.migratetype(ofPageblockAt: m.zones[z].startPfn), .reserve)
    }

    func testZoneinfoPrintsPresentBelowSpannedAndNoManagedLine() {
        let m = makeMachine(.x86_64, mib: 64)
        let text = m.renderZoneinfo()
        XCTAssertTrue(text.contains("\n        spanned  4096\n        present  4040\n"), text)
        XCTAssertFalse(text.contains("managed"))
    }

    func testConsistencyCheckerCatchesAFreedReservedPage() {
        let m = makeMachine(.x86_64, mib: 64)
        let pfn = m.bootMemory.ranges[0].start
        m.pages.state[pfn] = PageState.allocatedHead(kind: .kernel)
        XCTAssertFalse(m.checkConsistency().isEmpty)
    }
}
