import MMFormat
import XCTest
@testable import MMCore

/// hugetlb's pool allocation path (Hugetlb.swift) and the hugetlb_pool workload step.
final class HugetlbTests: XCTestCase {
    func testPoolPagesAreUnmovableUnlessTreatedAsMovable() throws {
        let m = makeMachine(.x86_64, mib: 256)
        XCTAssertEqual(m.htlbAllocMask, .highuser)
        let o = try m.allocFreshHugePage(order: 9)
        XCTAssertTrue(o.succeeded)
        // GFP_HIGHUSER has no __GFP_MOVABLE: the page was asked for as UNMOVABLE and its block went with it.
        XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(o.pfn)), .unmovable)
        try m.setHugepagesTreatAsMovable(1)
        XCTAssertEqual(m.htlbAllocMask, .highuserMovable)
        let p = try m.allocFreshHugePage(order: 9)
        XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(p.pfn)), .movable)
        XCTAssertEqual(m.counters.htlbBuddyAllocSuccess, 2)
        XCTAssertThrowsError(try m.setHugepagesTreatAsMovable(2))
        assertConsistent(m)
    }

    func testGfpHighuserReachesHighMemButNotMovable() throws {
        let m = makeMachine(.x86, mib: 2048)
        let o = try m.allocFreshHugePage(order: 10)
        XCTAssertEqual(m.zones[o.zone].type, .highmem)
    }

    func testNodesAreTakenRoundRobin() throws {
        let m = makeMachine(.x86_64, mib: 512, nodes: 2)
        let nodes = try (0..<4).map { _ in m.zones[try m.allocFreshHugePage(order: 9).zone].node }
        XCTAssertEqual(nodes.map(\.rawValue), [0, 1, 0, 1])
    }

    func testFailureOnEveryNodeIsCountedOnce() throws {
        let m = makeMachine(.x86_64, mib: 64, nodes: 2)
        // Order 10 is below MAX_ORDER but the pool asks far more than memory holds.
        var fails = 0
        for _ in 0..<40 where !(try m.allocFreshHugePage(order: 9)).succeeded { fails += 1 }
        XCTAssertGreaterThan(fails, 0)
        XCTAssertEqual(m.counters.htlbBuddyAllocFail, UInt64(fails))
        // alloc_fresh_huge_page_node gives up for order >= MAX_ORDER.
        XCTAssertFalse(try m.allocFreshHugePage(order: 11).succeeded)
        assertConsistent(m)
    }

    func testGfpThisnodeTripleFailsWithoutReclaim() throws {
        let m = makeMachine(.x86_64, mib: 64)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: m.memTotalPages, tag: "cache", keepHandles: 0)
        for (i, h) in m.handles(ofTag: "cache").enumerated() where i % 2 == 0 { try m.free(h) }
        let before = m.counters
        let o = try m.allocate(AllocRequest(order: 9, kind: .kernel, gfp: [.kernel, .thisnodeTriple]))
        XCTAssertFalse(o.succeeded)
        XCTAssertFalse(o.stalledInReclaim)
        XCTAssertFalse(o.stalledInCompaction)
        XCTAssertEqual(m.counters.allocstall, before.allocstall)
        XCTAssertEqual(m.counters.kswapdWakeups, before.kswapdWakeups)
    }

    func testPoolStepGrowsInWritesAndCountsTheRequest() throws {
        let m = makeMachine(.x86_64, mib: 256)
        let d = try WorkloadDefinition(json: try JSON.parse("""
            {"steps": [{"fill": {"kind": "kernel", "fraction": 0.5, "tag": "k"}},
                       {"hugetlb_pool": {"fraction": 1.0, "increment_fraction": 0.25}}]}
            """))
        let r = try m.runWorkload(d)
        // 1.0 of MemTotal in huge pages; the request counts them all, whatever was tried.
        XCTAssertEqual(r.requested, m.memTotalPages >> 9)
        XCTAssertGreaterThan(r.highAllocSuccesses, 0)
        XCTAssertLessThan(r.highAllocSuccesses, r.requested)
        XCTAssertEqual(r.requestPercent, 100 * Double(r.highAllocSuccesses) / Double(r.requested))
        // Every write that came up short ended at a call that failed on every node.
        XCTAssertEqual(Int(r.delta(\.htlbBuddyAllocFail)), r.attempts.filter { !$0.success }.count)
        XCTAssertLessThanOrEqual(r.attempts.filter { !$0.success }.count, 4)
        XCTAssertEqual(m.handles(ofTag: "hugepages").count, r.highAllocSuccesses)
        assertConsistent(m)
    }

    func testBadPoolStepFieldsAreNamed() {
        for (json, field) in [(#"{"steps": [{"hugetlb_pool": {"fraction": 2}}]}"#, "fraction"),
                              (#"{"steps": [{"hugetlb_pool": {"count": 3, "order": 9}}]}"#, "order")] {
            do {
                _ = try WorkloadDefinition(json: try JSON.parse(json))
                XCTFail("accepted \(json)")
            } catch { XCTAssertTrue("\(error)".contains(field), "\(error)") }
        }
    }
}
