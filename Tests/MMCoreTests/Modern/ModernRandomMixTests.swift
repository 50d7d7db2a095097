import Foundation
import XCTest
@testable import MMCore

/// Issue 12: "the consistency checker after every step of randomized runs on the modern profile".
/// Random mixes of everything a 6.6 machine does — allocations of every order, kind and GFP shape (THP
/// masks of every `defrag` setting, hugetlb's, atomic high-order ones that reserve HIGHATOMIC blocks),
/// frees, tag frees, page-cache fills, THP fault series, hugetlb pool growth, manual compaction run
/// whole or stepped with other work between its steps (kcompactd's stepped runs among it), idle time
/// (kswapd, kcompactd, proactive compaction), the 6.6 sysctls and min_free_kbytes, per-CPU drains, a
/// state growth gate (as the service installs) and a round trip through the machine state image —
/// and `checkConsistency` after every step. Seeded: a failure names the seed, the machine and the step.
final class ModernRandomMixTests: XCTestCase {
    func testRandomMixesStayConsistentEveryStep() throws {
        // MM_RANDOM_MIX_SEEDS=a-b runs a longer exploration over those seeds.
        var seeds = 1...6
        if let r = ProcessInfo.processInfo.environment["MM_RANDOM_MIX_SEEDS"]?.split(separator: "-").compactMap({ Int($0) }), r.count == 2 {
            seeds = r[0]...r[1]
        }
        for seed in seeds { try Self.runMix(seed: UInt64(seed), machines: 3, steps: 90) }
    }

    /// One seed's run: `machines` random 6.6 machines, `steps` random operations each.
    static func runMix(seed: UInt64, machines: Int, steps: Int) throws {
        var rng = SeededRandom(seed: 1200 + seed)
        for n in 0..<machines {
            let nodes = [1, 1, 2][rng.below(3)]
            let mib = [64, 96, 128][rng.below(3)] * nodes
            var s = SysctlSettings(extfragThreshold: rng.below(2) == 0 ? nil : rng.below(1001))
            s.modern.compactionProactiveness = [0, 20, 60, 100][rng.below(4)]
            s.modern.watermarkBoostFactor = [0, 15000, 30000][rng.below(3)]
            s.modern.watermarkScaleFactor = [10, 100, 1000][rng.below(3)]
            let thp = TransparentHugepageSettings(enabled: THPEnabled.allCases[rng.below(3)], defrag: THPDefrag.allCases[rng.below(5)])
            let cfg = MachineConfig(preset: .x86_64, memoryMiB: mib, nodes: nodes, seed: seed * 100 + UInt64(n), kernel: .v6_6,
                                    swapMiB: [0, 0, 16][rng.below(3)], sysctl: s, transparentHugepage: thp)
            var m = try Machine(cfg)
            var live: [PageHandle] = []
            func check(_ what: String, _ step: Int) -> Bool {
                let e = m.checkConsistency()
                if e.isEmpty { return true }
                XCTFail("seed \(seed) machine \(n) (\(mib) MiB, \(nodes) nodes) step \(step) after \(what): \(e)")
                if ProcessInfo.processInfo.environment["MM_DEBUG_PB"] != nil {
                    for pb in 0..<(m.totalPages >> m.pageblockOrder) { print("pb \(pb) mt \(m.migratetype(ofPageblockAt: Pfn(blockIndex: pb, order: m.pageblockOrder))) skip \(m.pageblockSkip(Pfn(blockIndex: pb, order: m.pageblockOrder)))") }
                    for z in m.zones { print(m.modernCompactionState(zone: z.id) as Any) }
                }
                return false
            }
            for step in 0..<steps {
                let op = rng.below(16)
                var what = "op \(op)"
                switch op {
                case 0..<4:
                    let gfps: [GFPFlags] = [.kernel, .atomic, .nowait, [.wait, .io, .fs, .repeat], [.wait, .io, .fs, .noretry, .thisnode],
                                            m.thpGfpMask(madvised: true), m.thpGfpMask(madvised: false), [.high]]
                    let order = rng.below(3) == 0 ? rng.below(m.nrOrders) : (rng.below(2) == 0 ? 0 : 1 + rng.below(3))
                    let g = gfps[rng.below(gfps.count)]
                    let r = AllocRequest(order: order, kind: AllocKind.allCases[rng.below(AllocKind.count)], node: rng.below(m.nodes.count),
                                         gfp: g, mlock: rng.below(6) == 0, dirty: rng.below(2) == 0)
                    what = "allocating \(r)"
                    let bulk = try m.allocateBulk(r, count: 1 + rng.below(order > 0 ? 12 : 600), tag: "t\(rng.below(4))", keepHandles: 600)
                    live += bulk.handles
                case 4, 5:
                    what = "freeing"
                    if !live.isEmpty { for _ in 0..<rng.below(300) { _ = m.freeIfLive(live[rng.below(live.count)]) } }
                case 6:
                    what = "freeing a tag"
                    _ = try? m.freeTag("t\(rng.below(4))", pattern: rng.below(2) == 0 ? .everyOther : .random(fraction: 0.6, seed: UInt64(step)))
                case 7:
                    // Manual compaction, whole or stepped with frees, allocations and idle time (kcompactd
                    // and kswapd runs) between its steps.
                    let stepped = rng.below(2) == 0
                    what = stepped ? "stepped compaction" : "compaction"
                    let run = try m.beginCompaction(node: rng.below(2) == 0 ? nil : NodeID(rng.below(m.nodes.count)))
                    if !stepped { m.compactToEnd(run); break }
                    var guardSteps = 0
                    while !m.step(run, maxSteps: 1 + rng.below(4)) && guardSteps < 100_000 {
                        guardSteps += 1
                        switch rng.below(8) {
                        case 0: if !live.isEmpty { _ = m.freeIfLive(live[rng.below(live.count)]) }
                        case 1: m.idle(ns: UInt64(rng.below(300_000_000)))
                        case 2:
                            let r = AllocRequest(order: rng.below(4) == 0 ? 9 : 0, kind: .anon, gfp: rng.below(2) == 0 ? .kernel : m.thpGfpMask(madvised: true))
                            if let h = (try? m.allocate(r))?.handle { live.append(h) }
                        case 3: m.drainAllPages()
                        default: break
                        }
                        if guardSteps % 16 == 0, !check("a compaction step", step) { return }
                    }
                    if rng.below(3) == 0 { m.cancel(run) }
                case 8:
                    switch rng.below(7) {
                    case 0: what = "proactiveness"; try m.setCompactionProactiveness(rng.below(101))
                    case 1: what = "watermark_scale_factor"; try m.setWatermarkScaleFactor(1 + rng.below(3000))
                    case 2: what = "watermark_boost_factor"; try m.setWatermarkBoostFactor(rng.below(40000))
                    case 3: what = "defrag"; try m.setTHPDefrag(THPDefrag.allCases[rng.below(5)])
                    case 4: what = "min_free_kbytes"; try m.setMinFreeKbytes(128 + rng.below(16384))
                    case 5: what = "compact_unevictable_allowed"; try m.setCompactUnevictableAllowed(rng.below(2))
                    default: what = "extfrag_threshold"; try m.setExtfragThreshold(rng.below(1001))
                    }
                case 9:
                    what = "drain"
                    m.drainAllPages()
                case 10:
                    what = "idle"
                    m.idle(ns: UInt64(rng.below(3_000_000_000)))
                case 11:
                    // A workload stepped in small slices: page cache, a THP fault series, hugetlb pool
                    // growth, 3/4 of every huge-page chunk freed, kernel builds running.
                    let tag = "w\(step)"
                    let steps: [WorkloadStep]
                    switch rng.below(4) {
                    case 0:
                        steps = [.fill(kind: .file, amount: .fraction(0.1 + Double(rng.below(4)) / 10), chunkPages: 16, writers: 4, tag: tag,
                                       order: 0, dirtyFraction: 0.2, mlock: false, filePages: 32, blockSize: 4096),
                                 .free(tag: tag, pattern: .everyOther, unit: 1)]
                    case 1:
                        var h = HighAllocSpec(order: m.pageblockOrder, total: .count(8 + rng.below(40)))
                        h.thp = THPFaultSpec(madvise: rng.below(2) == 0)
                        h.stopOnFailure = false
                        h.tag = tag
                        steps = [.highAlloc(h)]
                    case 2:
                        var p = HugetlbPoolSpec(total: .fraction(0.05 + Double(rng.below(3)) / 10), incrementFraction: 0.05)
                        p.tag = tag
                        steps = [.hugetlbPool(p), .free(tag: tag, pattern: .random(fraction: 0.5, seed: 3), unit: 1)]
                    default:
                        steps = [.fill(kind: .anon, amount: .fraction(0.3), chunkPages: 64, writers: 1, tag: tag, order: 0, dirtyFraction: 0, mlock: false),
                                 .keepOneIn(tag: tag, period: 4), .run(ms: 200)]
                    }
                    what = "workload \(steps)"
                    let run = try m.beginWorkload(WorkloadDefinition(name: "mix", seed: seed, steps: steps))
                    var slices = 0
                    while !m.step(run, maxEvents: 64 + rng.below(512)) {
                        slices += 1
                        if slices % 8 == 0, !check(what, step) { return }
                    }
                    live += m.handles(ofTag: tag)
                case 12:
                    what = "hugetlb page"
                    if let h = (try? m.allocFreshHugePage(order: m.pageblockOrder))?.handle { live.append(h) }
                case 13:
                    // The service's state growth gate: the handle table then grows a granule at a time.
                    what = "state gate"
                    m.stateGrowthGate = rng.below(3) == 0 ? nil : { _ in true }
                case 14:
                    // Durable state: the machine continues from its own state image.
                    what = "restore"
                    if m.canExportState { m = try Machine(cfg, restoring: m.exportState()) }
                default:
                    what = "atomic high-order"
                    let r = AllocRequest(order: 1 + rng.below(m.pageblockOrder), kind: AllocKind.allCases[rng.below(AllocKind.count)], gfp: .atomic)
                    if let h = (try? m.allocate(r))?.handle { live.append(h) }
                }
                if !check(what, step) { return }
            }
        }
    }
}
