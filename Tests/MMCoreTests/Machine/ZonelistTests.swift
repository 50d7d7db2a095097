import XCTest
@testable import MMCore

final class ZonelistTests: XCTestCase {
    func testTwoNodeZonelistsRunLocalZonesDownThenRemote() {
        let m = makeMachine(.x86_64, mib: 16384, nodes: 2)
        let dma = m.zoneId(node: 0, .dma), dma32 = m.zoneId(node: 0, .dma32)
        let n0 = m.zoneId(node: 0, .normal), n1 = m.zoneId(node: 1, .normal)
        let movableIdx = 3, normalIdx = 2, dma32Idx = 1
        XCTAssertEqual(m.zonelist(node: NodeID(0), highestZoneIdx: movableIdx), [n0, dma32, dma, n1])
        XCTAssertEqual(m.zonelist(node: NodeID(1), highestZoneIdx: normalIdx), [n1, n0, dma32, dma])
        XCTAssertEqual(m.zonelist(node: NodeID(1), highestZoneIdx: dma32Idx), [dma32, dma])
    }

    func testFourNodesOrderedByDistance() throws {
        let d = [[10, 30, 20, 40], [30, 10, 40, 20], [20, 40, 10, 30], [40, 20, 30, 10]]
        let m = try Machine(MachineConfig(preset: .ppc64, memoryMiB: 4096, nodes: 4, distances: d))
        let order = m.zonelist(node: NodeID(0), highestZoneIdx: 0).map { m.zones[$0].node.rawValue }
        XCTAssertEqual(order, [0, 2, 1, 3])
    }

    func testAllocationFallsBackToRemoteNodeWhenLocalIsFull() throws {
        let m = makeMachine(.x86_64, mib: 256, nodes: 2)
        var remote = 0
        for _ in 0..<40000 {
            let o = try m.allocate(AllocRequest(order: 0, kind: .anon, node: 1, gfp: .atomic))
            if o.succeeded && m.zones[o.zone].node == NodeID(0) { remote += 1 }
        }
        XCTAssertGreaterThan(remote, 0)
        XCTAssertEqual(m.counters.numaMiss, UInt64(remote))
        assertConsistent(m)
    }
}
