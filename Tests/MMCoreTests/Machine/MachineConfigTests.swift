import XCTest
@testable import MMCore
import MMFormat

final class MachineConfigTests: XCTestCase {
    func testX86_64ZonesFollowPhysicalBoundaries() throws {
        let m = makeMachine(.x86_64, mib: 8192)
        let populated = m.populatedZones.map { ($0.type, $0.startPfn.rawValue, $0.spannedPages) }
        XCTAssertEqual(populated.map(\.0), [.dma, .dma32, .normal])
        XCTAssertEqual(populated[0].1, 0)
        XCTAssertEqual(populated[0].2, 4096)                 // 16 MiB of 4 KiB pages
        XCTAssertEqual(populated[1].2, (4 << 30) / 4096 - 4096)
        XCTAssertEqual(populated[2].2, (4 << 30) / 4096)
        XCTAssertEqual(m.nrOrders, 11)
        XCTAssertEqual(m.pageblockOrder, 9)
        assertConsistent(m)
    }

    func testX86HasHighMemAndPageblockOrder10() {
        let m = makeMachine(.x86, mib: 2048)
        XCTAssertEqual(m.populatedZones.map(\.type), [.dma, .normal, .highmem])
        XCTAssertEqual(m.populatedZones[1].spannedPages, (896 - 16) * 256)
        XCTAssertEqual(m.pageblockPages, 1024)
        assertConsistent(m)
    }

    func testPpc64Uses64KPagesInOneDMAZone() {
        let m = makeMachine(.ppc64, mib: 1024, bootMemory: false)
        XCTAssertEqual(m.populatedZones.map(\.type), [.dma])
        XCTAssertEqual(m.totalPages, 1024 * 16)
        XCTAssertEqual(m.nrOrders, 9)
        XCTAssertEqual(m.pageblockPages, 256)
        XCTAssertEqual(m.nrFree(zone: ZoneID(0), order: 8), 64)   // 64 blocks of 16 MiB
    }

    func testTwoNodesSplitMemoryEvenly() {
        let m = makeMachine(.x86_64, mib: 16384, nodes: 2)
        XCTAssertEqual(m.nodes.map(\.pages), [2 << 20, 2 << 20])
        XCTAssertEqual(m.nodes[1].zoneIds.filter { m.zones[$0].populated }.map { m.zones[$0].type }, [.normal])
        XCTAssertEqual(m.nodes[0].distances, [10, 20])
    }

    func testExplicitZoneLayout() throws {
        let cfg = MachineConfig(preset: .x86_64, memoryMiB: nil, nodes: 2,
                                zoneLayout: [[ZoneSpec(type: .dma, mib: 16), ZoneSpec(type: .dma32, mib: 1008)],
                                             [ZoneSpec(type: .dma32, mib: 1024), ZoneSpec(type: .movable, mib: 512)]])
        let m = try Machine(cfg)
        XCTAssertEqual(m.populatedZones.map(\.type), [.dma, .dma32, .dma32, .movable])
        XCTAssertEqual(m.totalPages, (2560 << 20) / 4096)
        assertConsistent(m)
    }

    func testImpossibleConfigurationsNameTheField() {
        func field(_ cfg: MachineConfig) -> String? {
            do { _ = try Machine(cfg); return nil } catch { return error.jsonField }
        }
        XCTAssertEqual(field(MachineConfig(memoryMiB: 0)), "memory_mib")
        XCTAssertEqual(field(MachineConfig(memoryMiB: 6)), "memory_mib")          // not a multiple of 4 MiB
        XCTAssertEqual(field(MachineConfig(preset: .x86, memoryMiB: 8192)), "memory_mib")  // beyond 4 GiB
        XCTAssertEqual(field(MachineConfig(memoryMiB: 1024, nodes: 0)), "nodes")
        XCTAssertEqual(field(MachineConfig(memoryMiB: 1024, nodes: 3)), "memory_mib")
        var p = ArchPreset.x86_64
        p.pageblockOrder = 11
        XCTAssertEqual(field(MachineConfig(preset: p, memoryMiB: 1024)), "pageblock_order")
        XCTAssertEqual(field(MachineConfig(preset: .x86_64, memoryMiB: nil, zoneLayout: [[ZoneSpec(type: .highmem, mib: 64)]])), "zones[0][0].type")
        XCTAssertEqual(field(MachineConfig(preset: .x86_64, memoryMiB: nil, zoneLayout: [[ZoneSpec(type: .dma, mib: 32)]])), "zones[0][0].mib")
        XCTAssertEqual(field(MachineConfig(memoryMiB: 1024, sysctl: SysctlSettings(extfragThreshold: 1001))), "sysctl.extfrag_threshold")
        XCTAssertEqual(field(MachineConfig(memoryMiB: 1024, nodes: 2, distances: [[10, 5], [5, 10]])), "distances[0][1]")
    }

    func testOneTebibyteMachineIsCheap() {
        let m = makeMachine(.x86_64, mib: 1 << 20, bootMemory: false)
        XCTAssertEqual(m.totalPages, 1 << 28)
        XCTAssertLessThanOrEqual(Double(m.stateBytes) / Double(m.totalPages), 16)
        XCTAssertEqual(m.nrFree(zone: m.zoneId(.normal), order: 10), (1 << 28 - 1 << 20) >> 10)
    }
}
