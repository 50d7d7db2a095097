import XCTest
@testable import MMCore

/// The pageblock summaries (`pageblockTable`, `pageblockInfo`) and the page-range view
/// (`pageBlockStates`) against references built another way: from the free lists, the per-CPU lists,
/// the handles of every allocation and a compaction's private lists, never from the state bytes the
/// one pass decodes.
final class PageblockSummaryTests: XCTestCase {
    typealias F = PageblockInfo.Field

    /// What each page is, from the owners' side: free-list membership, per-CPU lists, handles, and the
    /// compaction's isolated free pages.
    func reference(_ m: Machine, handles: [PageHandle], isolatedFree: [Int]) -> [F?] {
        var label = [F?](repeating: nil, count: m.totalPages)
        for z in m.populatedZones {
            for o in 0..<m.nrOrders {
                for mt in Migratetype.allCases {
                    for pfn in m.freeListPfns(zone: z.id, order: o, mt: mt) {
                        for i in pfn.rawValue..<(pfn.rawValue + (1 << o)) { XCTAssertNil(label[i]); label[i] = .free }
                    }
                }
            }
            for mt in Migratetype.pcpCases {
                var cur = m.pcp.heads[m.pcp.list(zone: z.id, mt: mt)]
                while cur != NONE {
                    XCTAssertNil(label[Int(cur)])
                    label[Int(cur)] = .pcp
                    cur = m.pages.nextOrOwner[Pfn(link: cur)]
                }
            }
        }
        for h in handles where m.isLive(h) {
            guard let info = try? m.allocationInfo(h) else { continue }
            for i in info.pfn..<(info.pfn + (1 << info.order)) { XCTAssertNil(label[i]); label[i] = .allocated(info.kind) }
        }
        for pfn in isolatedFree { XCTAssertNil(label[pfn]); label[pfn] = .isolatedFree }
        return label
    }

    /// Checks the table against the reference labels: every page labelled, counts per block, mixed.
    func assertMatches(_ m: Machine, _ t: PageblockTable, _ label: [F?], kindOf: [Int: AllocKind], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(t.count, m.pageblockCount, file: file, line: line)
        var mismatches = 0
        for b in 0..<t.count {
            var want = [UInt16](repeating: 0, count: F.count)
            var mixed = false
            let mt = m.migratetype(ofPageblockAt: Pfn(blockIndex: b, order: m.pageblockOrder))
            for pfn in (b << m.pageblockOrder)..<min((b + 1) << m.pageblockOrder, m.totalPages) {
                guard let f = label[pfn] else { XCTFail("pfn \(pfn) has no owner in the reference", file: file, line: line); return }
                want[f.rawValue] += 1
                if let k = kindOf[pfn], k.migratetype != mt { mixed = true }
            }
            let got = t.info(b)
            if got != PageblockInfo(migratetype: mt, mixed: mixed, counts: want) {
                mismatches += 1
                if mismatches <= 5 { XCTFail("block \(b): got \(got), want mt \(mt) mixed \(mixed) \(want)", file: file, line: line) }
            }
            XCTAssertEqual(m.pageblockInfo(pfn: Pfn(blockIndex: b, order: m.pageblockOrder)), got, "block \(b)", file: file, line: line)
        }
    }

    /// A fragmented machine: every kind, orders 0 to 10 (order-10 blocks span two pageblocks), frees
    /// leaving per-CPU pages, kernel and slab pages falling back into movable blocks.
    func fragmented(_ mib: Int = 64) -> (Machine, [PageHandle]) {
        let m = makeMachine(.x86_64, mib: mib, bootMemory: false)
        var hs: [PageHandle] = []
        let plan: [(AllocKind, Int, Int)] = [(.anon, 0, 3000), (.file, 1, 800), (.slab, 0, 900), (.kernel, 2, 300),
                                             (.pinned, 0, 200), (.anon, 10, 2), (.anon, 9, 3), (.kernel, 0, 700), (.file, 0, 2000)]
        for (i, (kind, order, n)) in plan.enumerated() {
            let r = try! m.allocateBulk(AllocRequest(order: order, kind: kind, gfp: .atomic), count: n, tag: "t\(i)", keepHandles: 0)
            XCTAssertGreaterThan(r.succeeded, 0)
            hs += m.handles(ofTag: "t\(i)")
        }
        var rng = SeededRandom(seed: 5)
        var kept: [PageHandle] = []
        for h in hs { if rng.below(3) == 0 { try! m.free(h) } else { kept.append(h) } }
        return (m, kept)
    }

    func kinds(_ m: Machine, _ hs: [PageHandle]) -> [Int: AllocKind] {
        var d: [Int: AllocKind] = [:]
        for h in hs where m.isLive(h) {
            let i = try! m.allocationInfo(h)
            for p in i.pfn..<(i.pfn + (1 << i.order)) { d[p] = i.kind }
        }
        return d
    }

    func testFreshMachineIsAllFreeAndUnmixed() {
        let m = makeMachine(.x86_64, mib: 64, bootMemory: false)
        let t = m.pageblockTable()
        XCTAssertEqual(t.count, 32)
        for b in 0..<t.count {
            let i = t.info(b)
            XCTAssertEqual(i[.free], 512)
            XCTAssertEqual(i.pages, 512)
            XCTAssertFalse(i.mixed)
            XCTAssertEqual(i.migratetype, m.migratetype(ofPageblockAt: Pfn(b * 512)))
        }
        // One RESERVE block per zone (pagetypeinfo: DMA 7 + 1, DMA32 23 + 1).
        XCTAssertEqual((0..<t.count).filter { t.info($0).migratetype == .reserve }.count, 2)
    }

    func testFragmentedMachineMatchesOwners() {
        let (m, hs) = fragmented()
        let g = m.generation
        let t = m.pageblockTable()
        XCTAssertEqual(m.generation, g, "a read must not change the machine")
        XCTAssertGreaterThan(m.pcpPages, 0, "the plan should leave pages on the per-CPU lists")
        assertMatches(m, t, reference(m, handles: hs, isolatedFree: []), kindOf: kinds(m, hs))
        // Totals agree with the machine's own gauges.
        for z in m.populatedZones {
            let blocks = z.startPfn.blockIndex(order: 9)..<z.endPfn.blockIndex(order: 9)
            XCTAssertEqual(blocks.reduce(0) { $0 + t.info($1)[.free] }, m.nrFreePages(zone: z.id))
            for k in AllocKind.allCases {
                XCTAssertEqual(Int64(blocks.reduce(0) { $0 + t.info($1)[.allocated(k)] }), m.zoneCounters.kindPages[z.id, k], "zone \(z.id) \(k)")
            }
        }
        XCTAssertEqual((0..<t.count).reduce(0) { $0 + t.info($1)[.pcp] }, m.pcpPages)
        XCTAssertTrue((0..<t.count).contains { t.info($0).mixed }, "kernel and slab fallbacks should mix some blocks")
        XCTAssertTrue((0..<t.count).contains { !t.info($0).mixed && t.info($0).allocatedPages > 0 })
        assertConsistent(m)
    }

    func testMidCompactionCountsIsolatedPages() throws {
        let (m, hs) = fragmented()
        let run = try m.beginCompaction()
        var sawIsolated = false
        for _ in 0..<200 {
            if m.step(run, maxSteps: 1) { break }
            guard let cc = run.currentControl, !cc.freepages.isEmpty || cc.nrMigratepages > 0 else { continue }
            let t = m.pageblockTable()
            assertMatches(m, t, reference(m, handles: hs, isolatedFree: cc.freepages.map(Int.init)), kindOf: kinds(m, hs))
            XCTAssertEqual((0..<t.count).reduce(0) { $0 + t.info($1)[.isolatedFree] }, cc.freepages.count)
            let isolated = m.pageBlockStates(startPfn: Pfn(0), count: m.totalPages).filter { if case .allocated = $0.state { return $0.isolated } else { return false } }
            XCTAssertEqual(isolated.reduce(0) { $0 + $1.pages }, cc.nrMigratepages)
            if !cc.freepages.isEmpty && cc.nrMigratepages > 0 { sawIsolated = true; break }
        }
        XCTAssertTrue(sawIsolated, "a compaction step should hold isolated pages on both sides")
        m.cancel(run)
        assertConsistent(m)
    }

    func testMixedFlagsFollowTheBlockType() {
        let m = makeMachine(.x86_64, mib: 64, bootMemory: false)
        // A kernel page on a fresh machine: it falls back into a movable block and claims it (the seed
        // steals a whole pageblock for a large enough fallback), so its block is unmovable and unmixed.
        let k = try! m.allocate(AllocRequest(kind: .kernel)).handle!
        let kpfn = Pfn(try! m.pfn(of: k))
        let kb = m.pageblockInfo(pfn: kpfn)
        XCTAssertEqual(kb[.kernel], 1)
        XCTAssertEqual(kb.mixed, kb.migratetype != .unmovable)
        // A movable page placed in that block by hand would mix it: find a block of one type holding
        // an allocation of another by filling the movable blocks until anon spills over.
        _ = try! m.allocateBulk(AllocRequest(kind: .anon, gfp: .atomic), count: m.totalPages, keepHandles: 0)
        let t = m.pageblockTable()
        for b in 0..<t.count {
            let i = t.info(b)
            let foreign = AllocKind.allCases.contains { i[.allocated($0)] > 0 && $0.migratetype != i.migratetype }
            XCTAssertEqual(i.mixed, foreign, "block \(b): \(i)")
        }
        XCTAssertTrue((0..<t.count).contains { t.info($0).mixed }, "anon spilling into the unmovable and reserve blocks mixes them")
    }

    func testPageBlockStatesCoverTheRange() {
        let (m, hs) = fragmented()
        for (start, count) in [(0, 512), (777, 100), (3 * 512 + 5, 1), (m.totalPages - 300, 300), (1000, 4096)] {
            let s = Pfn(start)
            let bs = m.pageBlockStates(startPfn: s, count: count)
            XCTAssertLessThanOrEqual(bs.first!.pfn, s)
            XCTAssertGreaterThan(bs.first!.pfn + bs.first!.pages, s)
            XCTAssertGreaterThanOrEqual(bs.last!.pfn + bs.last!.pages, s + count)
            for (a, b) in zip(bs, bs.dropFirst()) { XCTAssertEqual(a.pfn + a.pages, b.pfn, "blocks are contiguous") }
            for b in bs { XCTAssertTrue(b.pfn.isAligned(order: b.order), "naturally aligned") }
        }
        XCTAssertEqual(m.pageBlockStates(startPfn: Pfn(10), count: 0), [])
        // Allocations read back as their owners see them.
        for h in hs.prefix(500) where m.isLive(h) {
            let i = try! m.allocationInfo(h)
            let b = m.pageBlockStates(startPfn: Pfn(i.pfn) + (1 << i.order) - 1, count: 1)
            XCTAssertEqual(b.count, 1)
            XCTAssertEqual(b[0].pfn, Pfn(i.pfn))
            XCTAssertEqual(b[0].order, i.order)
            XCTAssertEqual(b[0].state, .allocated(i.kind))
            XCTAssertEqual(b[0].migratetype, i.kind.migratetype)
            XCTAssertFalse(b[0].isolated)
        }
        // Free blocks carry the list they are on.
        for z in m.populatedZones {
            for o in 0..<m.nrOrders {
                for mt in Migratetype.allCases {
                    for pfn in m.freeListPfns(zone: z.id, order: o, mt: mt).prefix(20) {
                        let b = m.pageBlockStates(startPfn: pfn, count: 1)[0]
                        XCTAssertEqual(b, PageBlockState(pfn: pfn, order: o, state: .free, migratetype: mt, isolated: false,
                                                         dirty: false, active: false, mlocked: false))
                    }
                }
            }
        }
    }

    func testOtherBlockAndPageblockSizes() {
        // 64 KiB pages with pageblock order 8 = max order 8 and 4 MiB pageblocks over order-10 blocks:
        // the pass must agree with the per-block reading whatever the block/pageblock sizes.
        // A custom kernel with 4-page max-order blocks and 2-page pageblocks: smaller than the pass's
        // eight-page words.
        let tiny = ArchPreset(name: "tiny", pageShift: 12, nrOrders: 3, pageblockOrder: 1, zoneTypes: [.normal, .movable],
                              zoneLimits: [(.normal, UInt64.max)], maxMemoryBytes: 1 << 40)
        for preset in [ArchPreset.ppc64, .x86, tiny] {
            let m = makeMachine(preset, mib: preset == .ppc64 ? 512 : preset == .x86 ? 128 : 16, bootMemory: false)
            var hs: [PageHandle] = []
            for (i, (k, o)) in [(AllocKind.anon, 0), (.kernel, 1), (.slab, 0), (.file, 3)].enumerated() {
                _ = try! m.allocateBulk(AllocRequest(order: min(o, m.nrOrders - 1), kind: k, gfp: .atomic), count: 300, tag: "p\(i)", keepHandles: 0)
                hs += m.handles(ofTag: "p\(i)")
            }
            for h in hs.enumerated() where h.offset % 2 == 0 { try! m.free(h.element) }
            let live = hs.filter { m.isLive($0) }
            assertMatches(m, m.pageblockTable(), reference(m, handles: live, isolatedFree: []), kindOf: kinds(m, live))
        }
    }
}
