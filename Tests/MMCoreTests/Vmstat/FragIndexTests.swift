import XCTest
@testable import MMCore

final class FragIndexTests: XCTestCase {
    func testReferenceWorkedExample() {
        // kernel-compaction.md §7.4: order0 x100, order1 x50, order2 x10, r = 9 → index 991, U = 1000, E = 100.
        let info = ContigPageInfo(nrFree: [100, 50, 10, 0, 0, 0, 0, 0, 0, 0, 0], order: 9)
        XCTAssertEqual(info.freePages, 240)
        XCTAssertEqual(info.freeBlocksTotal, 160)
        XCTAssertEqual(fragmentationIndex(order: 9, info), 991)
        XCTAssertEqual(unusableFreeIndex(order: 9, info), 1000)
        XCTAssertEqual(extfragForOrder(order: 9, info), 100)
    }

    func testEdgeCases() {
        let none = ContigPageInfo(nrFree: [0, 0, 0], order: 1)
        XCTAssertEqual(fragmentationIndex(order: 1, none), 0)
        XCTAssertEqual(unusableFreeIndex(order: 1, none), 1000)
        let suitable = ContigPageInfo(nrFree: [3, 0, 1], order: 1)
        XCTAssertEqual(fragmentationIndex(order: 1, suitable), -1000)
        // U = (F - S*2^r)*1000/F: F = 7, S = 2 (one order-2 block = two order-1 units) → (7-4)*1000/7 = 428.
        XCTAssertEqual(unusableFreeIndex(order: 1, suitable), 428)
        // A single free block too small: T = 1 → -floor(1000*F/R).
        let one = ContigPageInfo(nrFree: [0, 1, 0, 0], order: 3)
        XCTAssertEqual(fragmentationIndex(order: 3, one), 1000 - (1000 + 2 * 1000 / 8) / 1)
        // Lack of memory: many tiny blocks vs. fragmentation: index near 1000.
        let frag = ContigPageInfo(nrFree: [1000, 0, 0, 0, 0, 0, 0, 0, 0, 0], order: 9)
        XCTAssertEqual(fragmentationIndex(order: 9, frag), 1000 - (1000 + 1000 * 1000 / 512) / 1000)
    }

    func testMachineIndicesOnFreshMachine() {
        let m = makeMachine(.x86_64, mib: 64)
        let z = m.populatedZones[0].id
        for o in 0..<11 {
            XCTAssertEqual(m.fragmentationIndex(zone: z, order: o), -1000)
            XCTAssertEqual(m.unusableIndex(zone: z, order: o), 0)
        }
    }
}
