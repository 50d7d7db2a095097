import XCTest
@testable import MMCore

/// The consistency checker finds what it promises to: each corruption below is one a bug could make,
/// and the checker must name it (and, once it is undone, find nothing).
final class InvariantsTests: XCTestCase {
    private func machine() throws -> (Machine, [PageHandle]) {
        let m = makeMachine(mib: 64)
        let r = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: 64, tag: "a", keepHandles: 64)
        _ = try m.allocateBulk(AllocRequest(order: 2, kind: .kernel, gfp: .atomic), count: 8, tag: "k", keepHandles: 8)
        assertConsistent(m)
        return (m, r.handles)
    }

    /// Applies `corrupt`, expects a violation containing `expected`, then `repair` and a clean report.
    private func expectCaught(_ expected: String, _ corrupt: (Machine) throws -> Void, repair: (Machine) -> Void,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let (m, _) = try machine()
        try corrupt(m)
        let errors = m.checkConsistency()
        XCTAssertTrue(errors.contains { $0.contains(expected) }, "expected '\(expected)' in \(errors)", file: file, line: line)
        repair(m)
        XCTAssertEqual(m.checkConsistency(), [], file: file, line: line)
    }

    func testFreeCountDrift() throws {
        let z = makeMachine(mib: 64).populatedZones[0].id
        try expectCaught("NR_FREE_PAGES", { $0.zoneCounters.freePages[z] += 1 }, repair: { $0.zoneCounters.freePages[z] -= 1 })
    }

    func testKindGaugeDrift() throws {
        let (m0, hs) = try machine()
        let z = try m0.allocationInfo(hs[0]).zone
        try expectCaught("gauge", { $0.zoneCounters.kindPages[z, .anon] += 3 },
                         repair: { $0.zoneCounters.kindPages[z, .anon] -= 3 })
    }

    func testIsolatedCountDrift() throws {
        let (m0, hs) = try machine()
        let z = try m0.allocationInfo(hs[0]).zone
        try expectCaught("nr_isolated_anon", { $0.zoneCounters.isolated[z, .anon] += 1 }, repair: { $0.zoneCounters.isolated[z, .anon] -= 1 })
    }

    func testHandleThatDoesNotPointBack() throws {
        var saved: UInt32 = 0
        var slot = 0
        try expectCaught("does not point back", { m in
            let h = m.handles(ofTag: "a")[0]
            let pfn = Pfn(try m.allocationInfo(h).pfn)
            slot = Int(m.pages.nextOrOwner[pfn])
            saved = m.handles.pfn[slot]
            m.handles.pfn[slot] = saved &+ 1
        }, repair: { m in m.handles.pfn[slot] = saved })
    }

    func testTailWhereAHeadWasExpected() throws {
        var pfn = Pfn(0)
        var saved: UInt8 = 0
        try expectCaught("overlap", { m in
            // The second page of an order-2 kernel block made to look like a head.
            let h = m.handles(ofTag: "k")[0]
            pfn = Pfn(try m.allocationInfo(h).pfn) + 1
            saved = m.pages.state[pfn]
            m.pages.state[pfn] = m.pages.state[pfn - 1]
        }, repair: { m in m.pages.state[pfn] = saved })
    }
}
