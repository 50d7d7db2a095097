import XCTest
@testable import MMCore
import MMFormat

/// The modern profile under random operations: the consistency checker (with its 6.6 part) after every
/// step; determinism byte for byte; the renderers of that release.
final class ModernRandomTests: XCTestCase {
    /// Random allocations (every kind, orders up to the maximum, every GFP shape including THP masks),
    /// frees, manual compactions stepped with frees in between, sysctl changes and idle time (kswapd and
    /// kcompactd, proactive compaction) on 6.6 machines of random shapes.
    func testRandomRunsStayConsistentEveryStep() throws {
        var rng = SeededRandom(seed: 606)
        var built = 0
        for n in 1...10 {
            let nodes = [1, 1, 2][rng.below(3)]
            let mib = [64, 96, 128, 192][rng.below(4)] * nodes
            var s = SysctlSettings(extfragThreshold: rng.below(2) == 0 ? nil : rng.below(1001))
            s.modern.compactionProactiveness = [0, 20, 60, 100][rng.below(4)]
            s.modern.watermarkBoostFactor = [0, 15000, 30000][rng.below(3)]
            s.modern.watermarkScaleFactor = [10, 100, 1000][rng.below(3)]
            let thp = TransparentHugepageSettings(enabled: THPEnabled.allCases[rng.below(3)], defrag: THPDefrag.allCases[rng.below(5)])
            let cfg = MachineConfig(preset: .x86_64, memoryMiB: mib, nodes: nodes, seed: UInt64(n), kernel: .v6_6,
                                    swapMiB: [0, 0, 16][rng.below(3)], sysctl: s, transparentHugepage: thp)
            let m = try Machine(cfg)
            built += 1
            var live: [PageHandle] = []
            for step in 0..<120 {
                switch rng.below(12) {
                case 0..<5:
                    let gfps: [GFPFlags] = [.kernel, .atomic, [.wait, .io, .fs, .repeat], [.wait, .io, .fs, .noretry, .thisnode],
                                            m.thpGfpMask(madvised: true), m.thpGfpMask(madvised: false), .nowait]
                    let order = rng.below(3) == 0 ? rng.below(m.nrOrders) : 0
                    let r = AllocRequest(order: order, kind: AllocKind.allCases[rng.below(5)], node: rng.below(m.nodes.count),
                                         gfp: gfps[rng.below(gfps.count)], mlock: rng.below(6) == 0, dirty: rng.below(2) == 0)
                    let bulk = try m.allocateBulk(r, count: 1 + rng.below(order > 0 ? 8 : 400), tag: "t\(rng.below(4))", keepHandles: 400)
                    live += bulk.handles
                case 5..<8:
                    if !live.isEmpty { for _ in 0..<rng.below(200) { let i = rng.below(live.count); _ = m.freeIfLive(live[i]) } }
                case 8:
                    let run = try m.beginCompaction(node: rng.below(2) == 0 ? nil : NodeID(rng.below(m.nodes.count)))
                    while !m.step(run, maxSteps: 3) {
                        if rng.below(5) == 0, !live.isEmpty { _ = m.freeIfLive(live[rng.below(live.count)]) }
                        if rng.below(7) == 0 { m.idle(ns: UInt64(rng.below(100_000_000))) }
                    }
                case 9:
                    switch rng.below(4) {
                    case 0: try m.setCompactionProactiveness(rng.below(101))
                    case 1: try m.setWatermarkScaleFactor(1 + rng.below(3000))
                    case 2: try m.setWatermarkBoostFactor(rng.below(40000))
                    default: try m.setTHPDefrag(THPDefrag.allCases[rng.below(5)])
                    }
                default:
                    if let t = ["t0", "t1", "t2", "t3"].randomElement(using: &rng) { _ = try? m.freeTag(t, pattern: .random(fraction: 0.5, seed: 1)) }
                    m.idle(ns: UInt64(rng.below(2_000_000_000)))
                }
                let e = m.checkConsistency()
                if !e.isEmpty { XCTFail("\(cfg) step \(step): \(e)"); return }
            }
            _ = m.renderPagetypeinfo() + m.renderZoneinfo() + m.renderVmstat() + m.renderExtfragIndex() + m.renderUnusableIndex()
        }
        XCTAssertEqual(built, 10)
    }

    /// The same workload on two 6.6 machines of the same seed: the same text, byte for byte.
    func testDeterministic() throws {
        func run() throws -> String {
            let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 256, seed: 9, kernel: .v6_6))
            let r = try m.runWorkload(WorkloadPresets.definition(named: "proactive-frag")!)
            let r2 = try m.runWorkload(WorkloadPresets.definition(named: "thpcompact")!)
            return r.json.encoded + r2.json.encoded + m.renderVmstat() + m.renderPagetypeinfo() + m.renderZoneinfo() + m.renderExtfragIndex()
        }
        let a = try run(), b = try run()
        XCTAssertEqual(a, b)
        XCTAssertTrue(a.contains("compact_daemon_wake"))
    }

    func testModernProcText() throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 256, seed: 1, kernel: .v6_6))
        let pti = m.renderPagetypeinfo()
        XCTAssertTrue(pti.contains("Node    0, zone    DMA32, type      Movable "))
        XCTAssertTrue(pti.contains("Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic          CMA      Isolate "), pti)
        let zi = m.renderZoneinfo()
        XCTAssertTrue(zi.contains("\n        boost    0\n"))
        XCTAssertTrue(zi.contains("Node 0, zone   Normal\n        pages free     0") || zi.contains("zone   Normal"))
        let vm = m.renderVmstat()
        for name in ["compact_daemon_wake 0", "compact_daemon_migrate_scanned 0", "compact_daemon_free_scanned 0", "thp_fault_alloc 0"] {
            XCTAssertTrue(vm.contains("\n" + name + "\n"), name)
        }
        XCTAssertFalse(vm.contains("compact_blocks_moved"))
        // The 2021 extfrag_index format: "%2d.%03d ".
        XCTAssertTrue(m.renderExtfragIndex().contains("-1.000 "))
        XCTAssertTrue(m.renderExtfragIndex().contains(" 0.000 ") || m.renderExtfragIndex().contains("-1.000"))
    }
}
