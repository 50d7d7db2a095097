import XCTest
@testable import MMCore

/// Random machine shapes (presets with random orders, pageblock orders, page sizes, nodes, swap,
/// thresholds, vanilla or not) under random allocation, free, compaction, tag frees and idle time; the
/// consistency checker every 100 steps and every renderer at the end. (A longer run of the same, 215
/// machines, found nothing either.)
final class RandomMachineTests: XCTestCase {
    func testRandomShapesAndOperations() throws {
        var rng = SeededRandom(seed: 77)
        var built = 0, refused = 0
        defer { XCTAssertGreaterThanOrEqual(built, 16, "only \(built) of 24 random shapes built (\(refused) refused)") }
        for n in 1...24 {
            var p = [ArchPreset.x86_64, .x86, .ppc64][rng.below(3)]
            if rng.below(2) == 0 { p.nrOrders = 1 + rng.below(12) }
            if rng.below(2) == 0 { p.pageblockOrder = rng.below(p.nrOrders) } else { p.pageblockOrder = min(p.pageblockOrder, p.nrOrders - 1) }
            if rng.below(4) == 0 { p.pageShift = 12 + rng.below(5) }
            let nodes = [1, 1, 2, 3][rng.below(4)]
            let mib = [8, 16, 32, 48, 64, 96, 128][rng.below(7)] * nodes
            let cfg = MachineConfig(preset: p, memoryMiB: mib, nodes: nodes, seed: UInt64(n), compaction: rng.below(4) != 0,
                                    swapMiB: [0, 0, 8, 32][rng.below(4)], sysctl: SysctlSettings(extfragThreshold: rng.below(1001)))
            // A random shape may be one the simulator refuses (memory not a whole number of max-order
            // blocks per node, …): that must be a typed configuration error naming a field, and most
            // shapes must build, or the test would pass while testing nothing.
            let m: Machine
            do { m = try Machine(cfg) } catch let e as MMError {
                guard case .invalidConfig = e else { throw e }
                refused += 1
                continue
            }
            built += 1
            var live: [PageHandle] = []
            for step in 0..<200 {
                switch rng.below(10) {
                case 0..<5:
                    let r = AllocRequest(order: rng.below(3) == 0 ? rng.below(m.nrOrders) : 0, kind: AllocKind.allCases[rng.below(5)],
                                         node: rng.below(m.nodes.count), gfp: [GFPFlags.kernel, .atomic, [.wait, .io, .fs, .repeat], [.wait, .io, .fs, .noretry, .thisnode]][rng.below(4)],
                                         mlock: rng.below(6) == 0, dirty: rng.below(2) == 0)
                    let bulk = try m.allocateBulk(r, count: 1 + rng.below(300), tag: "t\(rng.below(4))", keepHandles: 300)
                    live += bulk.handles
                case 5..<8:
                    if !live.isEmpty { for _ in 0..<rng.below(100) { let i = rng.below(live.count); _ = m.freeIfLive(live[i]) } }
                case 8:
                    if m.compactionEnabled {
                        let run = try m.beginCompaction(node: rng.below(2) == 0 ? nil : NodeID(rng.below(m.nodes.count)))
                        while !m.step(run, maxSteps: 3) { if rng.below(5) == 0, !live.isEmpty { _ = m.freeIfLive(live[rng.below(live.count)]) } }
                    }
                default:
                    if let t = ["t0", "t1", "t2", "t3"].randomElement(using: &rng) { _ = try? m.freeTag(t, pattern: .random(fraction: 0.5, seed: 1)) }
                    m.idle(ns: UInt64(rng.below(1_000_000_000)))
                }
                if step % 100 == 99 {
                    let e = m.checkConsistency()
                    if !e.isEmpty { XCTFail("\(cfg) step \(step): \(e)"); return }
                }
            }
            _ = m.renderPagetypeinfo() + m.renderZoneinfo() + m.renderVmstat() + m.renderExtfragIndex() + m.renderUnusableIndex()
        }
    }
}
