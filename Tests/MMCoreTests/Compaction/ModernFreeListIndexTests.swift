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

    /// `__reset_isolation_suitable` with its shortcuts (a pair of blocks whose skip bits are clear passed
    /// once both restart points are set; a block's target check answered from the count of sampled free
    /// heads): on a fragmented machine, with skip bits on two blocks in three, it leaves every skip bit
    /// and every cached and restart pfn as the kernel's loop, which checks every block from both ends,
    /// does.
    @Test func theResetWalkLeavesWhatTheKernelsLoopLeaves() throws {
        func fragmented() throws -> (Machine, ZoneID) {
            let m = try modern(256, seed: 5)
            _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: m.memTotalPages * 9 / 10, tag: "f", keepHandles: Int.max)
            for (i, h) in m.handles(ofTag: "f").enumerated() where i % 4 != 0 || (i / 900) % 4 == 1 { try m.free(h) }
            for _ in 0..<3 { _ = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: [.highuserMovable])) }
            let z = try #require(m.populatedZones.last).id
            var rng = SeededRandom(seed: 9)
            var pfn = m.pageblockStartPfn(m.zones[z].startPfn)
            while pfn < m.zones[z].endPfn {
                if rng.unit() < 0.67 { m.setPageblockSkip(pfn) } else { m.clearPageblockSkip(pfn) }
                pfn += m.pageblockPages
            }
            // The first tenth of the blocks from each end clear: the restart points are then found on
            // blocks whose bits are clear, which must be checked all the same.
            let blocks = (m.zones[z].endPfn.rawValue - m.zones[z].startPfn.rawValue) / m.pageblockPages
            for k in 0..<(blocks / 10) {
                m.clearPageblockSkip(m.pageblockStartPfn(m.zones[z].startPfn) + k * m.pageblockPages)
                m.clearPageblockSkip(m.pageblockStartPfn(m.zones[z].endPfn - 1) - k * m.pageblockPages)
            }
            m.ms.blockskipFlush[z] = true
            return (m, z)
        }
        let (m, z) = try fragmented()
        let (k, _) = try fragmented()
        #expect(m.resetIsolationSuitable(zone: z))
        // The kernel's loop on the twin: both ends' blocks checked, every one.
        k.ms.blockskipFlush[z] = false
        let zone = k.zones[z]
        var migratePfn = zone.startPfn, freePfn = zone.endPfn - 1
        var resetMigrate = freePfn, resetFree = migratePfn
        var sourceSet = false, freeSet = false
        while migratePfn < freePfn {
            if k.resetIsolationPfn(zone: z, pfn: migratePfn, checkSource: true, checkTarget: sourceSet) && migratePfn < resetMigrate {
                sourceSet = true
                resetMigrate = migratePfn
                k.ms.initMigratePfn[z] = resetMigrate
                k.ms.cachedMigratePfn0[z] = resetMigrate
                k.ms.cachedMigratePfn1[z] = resetMigrate
            }
            if k.resetIsolationPfn(zone: z, pfn: freePfn, checkSource: freeSet, checkTarget: true) && freePfn > resetFree {
                freeSet = true
                resetFree = freePfn
                k.ms.initFreePfn[z] = resetFree
                k.ms.cachedFreePfn[z] = resetFree
            }
            migratePfn += k.pageblockPages
            freePfn -= k.pageblockPages
        }
        if resetMigrate >= resetFree {
            k.ms.cachedMigratePfn0[z] = migratePfn
            k.ms.cachedMigratePfn1[z] = migratePfn
            k.ms.cachedFreePfn[z] = freePfn
        }
        #expect(sourceSet && freeSet)
        var pfn = k.pageblockStartPfn(zone.startPfn), cleared = 0, kept = 0
        while pfn < zone.endPfn {
            #expect(m.pageblockSkip(pfn) == k.pageblockSkip(pfn), "block at \(pfn)")
            if k.pageblockSkip(pfn) { kept += 1 } else { cleared += 1 }
            pfn += k.pageblockPages
        }
        #expect(kept > 0 && cleared > 0)
        #expect(m.ms.initMigratePfn[z] == k.ms.initMigratePfn[z] && m.ms.initFreePfn[z] == k.ms.initFreePfn[z])
        #expect(m.ms.cachedMigratePfn0[z] == k.ms.cachedMigratePfn0[z] && m.ms.cachedMigratePfn1[z] == k.ms.cachedMigratePfn1[z])
        #expect(m.ms.cachedFreePfn[z] == k.ms.cachedFreePfn[z])
        #expect(!m.ms.blockskipFlush[z])
    }

    @Test func theSeedsKernelsHaveNoIndex() throws {
        #expect(makeMachine(.x86_64, mib: 64).freeListIndex == nil)
    }
}
