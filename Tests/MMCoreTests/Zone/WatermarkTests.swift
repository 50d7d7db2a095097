import XCTest
@testable import MMCore

final class WatermarkTests: XCTestCase {
    func testDefaultMinFreeKbytesFormula() {
        // 4 * sqrt(lowmem kB), clamped to [128, 65536] (seed); without boot reservations present = spanned.
        XCTAssertEqual(makeMachine(.x86_64, mib: 1024, bootMemory: false).minFreeKbytes, 4096)
        XCTAssertEqual(makeMachine(.x86_64, mib: 4096, bootMemory: false).minFreeKbytes, 8192)
        XCTAssertEqual(makeMachine(.x86_64, mib: 16384, bootMemory: false).minFreeKbytes, 16384)
        XCTAssertEqual(makeMachine(.x86_64, mib: 1 << 20, bootMemory: false).minFreeKbytes, 65536)     // clamped
        XCTAssertEqual(makeMachine(.x86_64, mib: 16, bootMemory: false).minFreeKbytes, 512)
        // x86: HighMem does not count towards lowmem: lowmem = 896 MiB.
        XCTAssertEqual(makeMachine(.x86, mib: 2048, bootMemory: false).minFreeKbytes, intSqrt(896 * 1024 * 16))
        // With boot memory, lowmem is the present pages: spanned minus the memmap estimate (56 B a page).
        let present = 262144 - (262144 * 56 + 4095) / 4096
        XCTAssertEqual(makeMachine(.x86_64, mib: 1024).minFreeKbytes, intSqrt(present * 4 * 16))
    }

    func testSeedPerZoneWatermarks() {
        // One 1 GiB zone layout: MIN = 1024, LOW = MIN + MIN/4, HIGH = MIN + MIN/2 (seed formula).
        let m = try! Machine(MachineConfig(preset: .x86_64, memoryMiB: nil, zoneLayout: [[ZoneSpec(type: .dma32, mib: 1024)]],
                                           bootMemory: false))
        XCTAssertEqual(m.minFreeKbytes, 4096)
        let z = m.populatedZones[0]
        XCTAssertEqual(z.watermark.min, 1024)
        XCTAssertEqual(z.watermark.low, 1280)
        XCTAssertEqual(z.watermark.high, 1536)
    }

    func testWatermarksSplitByPresentPagesAndRecomputeOnWrite() throws {
        let m = makeMachine(.x86_64, mib: 8192)
        let pagesMin = m.minFreeKbytes / 4
        let total = m.populatedZones.reduce(0) { $0 + $1.presentPages }
        for z in m.populatedZones {
            XCTAssertEqual(z.watermark.min, pagesMin * z.presentPages / total)
        }
        try m.setMinFreeKbytes(67584)
        let normal = m.zones[m.zoneId(.normal)]
        XCTAssertEqual(normal.watermark.min, 67584 / 4 * normal.presentPages / total)
        // A bigger MIN means two RESERVE blocks now.
        XCTAssertEqual(m.pageblockCounts(zone: normal.id)[Migratetype.reserve], 2)
        XCTAssertThrowsError(try m.setMinFreeKbytes(0))
        assertConsistent(m)
    }

    func testHighmemMinIsClamped() {
        let m = makeMachine(.x86, mib: 4096)
        let hm = m.zones[m.zoneId(.highmem)]
        XCTAssertEqual(hm.watermark.min, min(max(hm.presentPages / 1024, 32), 128))
    }

    func testZoneWatermarkOkOrderLoop() {
        // free 100 pages, mark 10: order 0 ok.
        let nr = [40, 20, 5, 0]       // 40*1 + 20*2 + 5*4 = 100 pages
        XCTAssertTrue(zoneWatermarkOk(freePages: 100, nrFree: { nr[$0] }, order: 0, mark: 10, lowmemReserve: 0))
        // order 2: free = 100 - 4 + 1 = 97 > 10; o=0: 97-40 = 57 > 5; o=1: 57-40 = 17 > 2: ok.
        XCTAssertTrue(zoneWatermarkOk(freePages: 100, nrFree: { nr[$0] }, order: 2, mark: 10, lowmemReserve: 0))
        // order 3: free = 92; o=0: 52 > 5; o=1: 12 > 2; o=2: 12-20 = -8 <= 1: fail (no order-3 block).
        XCTAssertFalse(zoneWatermarkOk(freePages: 100, nrFree: { nr[$0] }, order: 3, mark: 10, lowmemReserve: 0))
        // The lowmem reserve is added to the first test only.
        XCTAssertFalse(zoneWatermarkOk(freePages: 100, nrFree: { nr[$0] }, order: 0, mark: 10, lowmemReserve: 90))
        // ALLOC_HIGH halves the mark, ALLOC_HARDER takes a further quarter.
        XCTAssertFalse(zoneWatermarkOk(freePages: 100, nrFree: { nr[$0] }, order: 0, mark: 100, lowmemReserve: 0))
        XCTAssertTrue(zoneWatermarkOk(freePages: 100, nrFree: { nr[$0] }, order: 0, mark: 100, lowmemReserve: 0, flags: [.high]))
        XCTAssertTrue(zoneWatermarkOk(freePages: 60, nrFree: { nr[$0] }, order: 0, mark: 100, lowmemReserve: 0, flags: [.high, .harder]))
    }

    func testLowmemReserve() {
        let m = makeMachine(.x86_64, mib: 8192)
        let dma = m.zones[m.zoneId(.dma)], dma32 = m.zones[m.zoneId(.dma32)], normal = m.zones[m.zoneId(.normal)]
        XCTAssertEqual(dma.lowmemReserve, [0, dma32.presentPages / 256, (dma32.presentPages + normal.presentPages) / 256,
                                           (dma32.presentPages + normal.presentPages) / 256])
        XCTAssertEqual(dma32.lowmemReserve, [0, 0, normal.presentPages / 256, normal.presentPages / 256])
        XCTAssertEqual(normal.lowmemReserve, [0, 0, 0, 0])
    }

    func testHugeadmRecommendedMinFreeKbytes() {
        // 11 x 2048 kB x 3 populated zones = 67584 kB on x86-64.
        XCTAssertEqual(makeMachine(.x86_64, mib: 8192).recommendedMinFreeKbytes, 67584)
        XCTAssertEqual(makeMachine(.x86_64, mib: 1024).recommendedMinFreeKbytes, 45056)
        XCTAssertEqual(makeMachine(.ppc64, mib: 1024).recommendedMinFreeKbytes, 11 * 16384)
    }
}
