import MMFormat
import Testing
@testable import MMCore

/// The 6.6 profile's free-list index (Compaction/ModernFreeListIndex.swift): it follows every list
/// operation, keeps its rules after each, and changes no result of `fast_isolate_freepages`.
@Suite struct ModernFreeListIndexTests {
    func modern(_ mib: Int, seed: UInt64 = 1, index: Bool = true) throws -> Machine {
        try Machine(MachineConfig(preset: .x86_64, memoryMiB: mib, seed: seed, kernel: .v6_6), indexFreeLists: index)
    }

    /// What a run leaves that the fast search decides: the documents and every counter.
    func fingerprint(_ m: Machine) -> String {
        m.renderVmstat() + m.renderBuddyinfo() + m.renderPagetypeinfo() + m.renderZoneinfo()
    }

    @Test(arguments: ["proactive-gupta", "thpcompact", "seed-highalloc-stress"])
    func aPresetGivesTheSameMachineWithAndWithoutTheIndex(_ preset: String) throws {
        let def = try #require(WorkloadPresets.definition(named: preset))
        let with = try modern(128), without = try modern(128, index: false)
        #expect(with.freeListIndex != nil && without.freeListIndex == nil)
        let a = try with.runWorkload(def), b = try without.runWorkload(def)
        #expect(a.highAllocSuccesses == b.highAllocSuccesses)
        #expect(a.attempts.map(\.latencyNs) == b.attempts.map(\.latencyNs))
        #expect(fingerprint(with) == fingerprint(without))
        // Gupta's pattern uses the walk (the counter is the entries it passed, one by one or a segment
        // at a time); the others at this size may not.
        if preset == "proactive-gupta" { #expect(with.counters.modern.compactFastFreeScanned > 0) }
        #expect(with.checkConsistency().isEmpty)
    }

    @Test func theIndexKeepsItsRulesThroughFragmentationAndCompaction() throws {
        let m = try modern(64, seed: 7)
        // Fill, free three pages of every four (Gupta's pattern), then allocate huge pages, checking the
        // index (with every other invariant) after each step.
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: m.memTotalPages * 9 / 10, tag: "f", keepHandles: Int.max)
        for (i, h) in m.handles(ofTag: "f").enumerated() where i % 4 != 0 { try m.free(h) }
        #expect(m.checkConsistency().isEmpty)
        let ix = try #require(m.freeListIndex)
        #expect(ix.used > 0)
        for k in 0..<40 {
            _ = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: [.highuserMovable]))
            let errors = m.checkConsistency()
            #expect(errors.isEmpty, "after attempt \(k): \(errors)")
            if !errors.isEmpty { break }
        }
        #expect(m.counters.modern.compactFastFreeScanned > 0)
    }

    @Test func aRestoredMachineRebuildsTheIndex() throws {
        let m = try modern(64, seed: 3)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: m.memTotalPages / 2, tag: "f", keepHandles: Int.max)
        for (i, h) in m.handles(ofTag: "f").enumerated() where i % 3 == 0 { try m.free(h) }
        let copy = try Machine(m.config, restoring: m.exportState())
        #expect(copy.freeListIndex != nil)
        #expect(copy.checkConsistency().isEmpty)
        // Both go on alike.
        for _ in 0..<10 {
            let a = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: [.highuserMovable]))
            let b = try copy.allocate(AllocRequest(order: 9, kind: .anon, gfp: [.highuserMovable]))
            #expect(a.pfn == b.pfn)
        }
        #expect(fingerprint(m) == fingerprint(copy))
        #expect(copy.checkConsistency().isEmpty)
    }

    /// `__reset_isolation_pfn` reads the count of sampled free heads instead of the samples where a block
    /// lies wholly in its zone: on a fragmented machine, for every block and every kind of check, it
    /// answers as reading the samples does and leaves the same skip bit.
    @Test func theResetWalkAnswersFromTheCountAsFromTheSamples() throws {
        let m = try modern(256, seed: 11)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: m.memTotalPages * 9 / 10, tag: "f", keepHandles: Int.max)
        // Free three pages of every four, and whole runs here and there, so blocks differ in what their
        // samples (every eighth page) hold: kept anon pages, free heads of several orders, or both.
        for (i, h) in m.handles(ofTag: "f").enumerated() where i % 4 != 0 || (i / 700) % 3 == 1 { try m.free(h) }
        for _ in 0..<2 { _ = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: [.highuserMovable])) }
        #expect(m.checkConsistency().isEmpty)
        let z = try #require(m.populatedZones.last).id
        let zone = m.zones[z]
        var pfn = m.pageblockStartPfn(zone.startPfn)
        var sampled = 0, withFreeHeads = 0
        while pfn < zone.endPfn {
            for (source, target) in [(true, false), (false, true), (true, true)] {
                // What reading the samples answers (the kernel's loop), before anything is changed.
                var expected = false
                if zone.contains(pfn: pfn) && !m.pageblockSkipPersistent(pfn)
                    && (source || m.pageblockMigratetype(pfn) == .movable) {
                    var p = max(pfn, zone.startPfn)
                    let end = min(m.pageblockEndPfn(p) - 1, zone.endPfn - 1)
                    while p <= end && !expected {
                        expected = (source && m.currentLruIfAllocated(p)) || (target && m.isBuddy(p))
                        p += 1 << Machine.pageAllocCostlyOrder
                    }
                }
                m.setPageblockSkip(pfn)
                let got = m.resetIsolationPfn(zone: z, pfn: pfn, checkSource: source, checkTarget: target)
                #expect(got == expected, "block at \(pfn), source \(source), target \(target)")
                #expect(m.pageblockSkip(pfn) == !expected, "block at \(pfn): skip bit")
                sampled += 1
            }
            if m.freeListIndex!.sampledBuddyHeads[pfn.blockIndex(order: m.pageblockOrder)] != 0 { withFreeHeads += 1 }
            pfn += m.pageblockPages
        }
        #expect(sampled > 0 && withFreeHeads > 0 && withFreeHeads < sampled / 3)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func theSeedsKernelsHaveNoIndex() throws {
        #expect(makeMachine(.x86_64, mib: 64).freeListIndex == nil)
    }
}
