import Testing
@testable import MMCore

/// Kernel 6.6's hugetlb pool path (Hugetlb.swift): `htlb_alloc_mask` from `hugepage_movable_supported`
/// instead of a sysctl, and `alloc_buddy_hugetlb_folio`'s try-hard rule (`node_alloc_noretry`).
@Suite struct ModernHugetlbTests {
    static func machine(_ preset: ArchPreset, mib: Int, nodes: Int = 1, kernel: KernelRelease = .v6_6) throws -> Machine {
        try Machine(MachineConfig(preset: preset, memoryMiB: mib, nodes: nodes, seed: 1, kernel: kernel))
    }

    /// On x86_64 (and ppc64) 6.6 asks for GFP_HIGHUSER_MOVABLE, so a pool page comes from a MOVABLE
    /// pageblock; on 32-bit x86, which cannot migrate huge pages, GFP_HIGHUSER as 2.6.35 does.
    @Test func poolPagesAreMovableWhereHugePagesCanMigrate() throws {
        let m = try ModernHugetlbTests.machine(.x86_64, mib: 256)
        #expect(m.htlbAllocMask == .highuserMovable)
        let o = try m.allocFreshHugePage(order: 9)
        #expect(o.succeeded)
        #expect(m.migratetype(ofPageblockAt: Pfn(o.pfn)) == .movable)
        #expect(try ModernHugetlbTests.machine(.ppc64, mib: 1024).htlbAllocMask == .highuserMovable)
        #expect(try ModernHugetlbTests.machine(.x86, mib: 256).htlbAllocMask == .highuser)
        #expect(try ModernHugetlbTests.machine(.x86_64, mib: 256, kernel: .v2_6_35).htlbAllocMask == .highuser)
        #expect(m.checkConsistency() == [])
    }

    /// 6.6 has no vm.hugepages_treat_as_movable: a machine, a write and a workload step are refused, naming it.
    @Test func theSysctlIsRefused() throws {
        let m = try ModernHugetlbTests.machine(.x86_64, mib: 64)
        #expect(throws: MMError.self) { try m.setHugepagesTreatAsMovable(1) }
        #expect(m.hugepagesTreatAsMovable == 0)
        let config = MachineConfig(preset: .x86_64, memoryMiB: 64, kernel: .v6_6, sysctl: SysctlSettings(hugepagesTreatAsMovable: 1))
        #expect(throws: MMError.invalidConfig(field: FieldPath("sysctl", "hugepages_treat_as_movable"), value: "1",
                                              reason: "kernel 6.6 has no such setting (only 2.6.34 and 2.6.35 have)")) {
            try config.validate()
        }
        // A 6.6 machine saved with the setting (before 6.6 refused it) still loads, without it.
        let copy = try Machine(config, restoring: m.exportState())
        #expect(copy.config.sysctl.hugepagesTreatAsMovable == nil && copy.htlbAllocMask == .highuserMovable)
        let step = WorkloadDefinition(name: "s", steps: [.sysctl(name: "hugepages_treat_as_movable", value: 1)])
        #expect(throws: MMError.self) { try step.validate(for: MachineConfig(memoryMiB: 64, kernel: .v6_6)) }
        try step.validate(for: MachineConfig(memoryMiB: 64))
    }

    /// Records the GFP of every `mm_compaction_try_to_compact_pages`.
    final class CompactTracer: MachineTracer {
        var gfps: [String] = []
        func modern(_ e: ModernTraceEvent) { if case .tryToCompactPages(_, let gfp, _) = e { gfps.append(gfp) } }
    }

    /// `node_alloc_noretry`: a node whose try-hard allocation failed is marked and tried without
    /// __GFP_RETRY_MAYFAIL until an allocation there succeeds, which clears the mark (6.6). 2.6.35 marks
    /// nothing (it has no such rule: every try is __GFP_REPEAT).
    @Test func aNodeThatFailedIsNotTriedHardAgainUntilItSucceeds() throws {
        for kernel in [KernelRelease.v6_6, .v2_6_35] {
            let m = try ModernHugetlbTests.machine(.x86_64, mib: 256, nodes: 2, kernel: kernel)
            let tracer = CompactTracer()
            m.tracer = tracer
            // Node 0 full of kernel memory: neither reclaim nor compaction can make a huge page there.
            _ = try m.allocateBulk(AllocRequest(order: 0, kind: .kernel, node: 0, gfp: [.thisnode]), count: m.totalPages,
                                   tag: "pinned", keepHandles: Int.max, stopAfterFailures: 1)
            var noretry: UInt64 = 0
            let first = try m.allocFreshHugePage(order: 9, noretry: &noretry)
            #expect(first.succeeded && m.zones[first.zone].node.rawValue == 1)
            #expect(noretry == (kernel.isModern ? 1 : 0))
            let second = try m.allocFreshHugePage(order: 9, noretry: &noretry)
            #expect(second.succeeded && m.zones[second.zone].node.rawValue == 1)
            if kernel.isModern {
                // Node 0's compactions: the first call's tried hard, the second's did not.
                #expect(!tracer.gfps.isEmpty && tracer.gfps.allSatisfy { $0.contains("__GFP_THISNODE") })
                let hard = tracer.gfps.filter { $0.contains("__GFP_RETRY_MAYFAIL") }.count
                #expect(hard >= 1 && hard < tracer.gfps.count, "\(tracer.gfps)")
                #expect(!tracer.gfps.last!.contains("__GFP_RETRY_MAYFAIL"))
                #expect(noretry == 1)
            }
            // Room on node 0 again: the allocation there succeeds and clears the mark.
            for h in m.handles(ofTag: "pinned") { try m.free(h) }
            let third = try m.allocFreshHugePage(order: 9, noretry: &noretry)
            #expect(third.succeeded && m.zones[third.zone].node.rawValue == 0)
            #expect(noretry == 0)
            #expect(m.checkConsistency() == [])
        }
    }
}
