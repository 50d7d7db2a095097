import Testing
@testable import MMCore

/// Property tests (Swift Testing): random allocation and free sequences, the consistency checker after
/// every step, and determinism for a seed.
@Suite struct AllocatorPropertyTests {
    static let presets: [ArchPreset] = [.x86_64, .x86, .ppc64]

    /// Drives `steps` random operations and checks the machine after each.
    func drive(_ m: Machine, seed: UInt64, steps: Int, checkEvery: Int = 1) throws -> [PageHandle] {
        var rng = SeededRandom(seed: seed)
        var live: [PageHandle] = []
        for step in 0..<steps {
            if live.isEmpty || rng.below(100) < 60 {
                let order = rng.below(100) < 70 ? 0 : rng.below(m.nrOrders)
                let kind = AllocKind.allCases[rng.below(5)]
                let node = rng.below(m.nodes.count)
                let o = try m.allocate(AllocRequest(order: order, kind: kind, node: node, gfp: rng.below(2) == 0 ? .atomic : .kernel,
                                                    mlock: rng.below(10) == 0, dirty: rng.below(2) == 0))
                if let h = o.handle { live.append(h) }
            } else {
                let i = rng.below(live.count)
                // Reclaim may have dropped page cache or slab since: those handles are dead, and a free is refused.
                if m.isLive(live[i]) { try m.free(live[i]) } else { #expect(throws: MMError.self) { try m.free(live[i]) } }
                live.swapAt(i, live.count - 1)
                live.removeLast()
            }
            if step % checkEvery == 0 {
                let errors = m.checkConsistency()
                #expect(errors.isEmpty, "step \(step): \(errors)")
                if !errors.isEmpty { break }
            }
        }
        return live
    }

    @Test(arguments: presets)
    func randomAllocFreeKeepsEveryInvariant(preset: ArchPreset) throws {
        let mib = preset.name == "ppc64" ? 64 : 32
        let m = try Machine(MachineConfig(preset: preset, memoryMiB: mib, nodes: preset.name == "x86" ? 1 : 2, seed: 42))
        func freeBlocks() -> [[Int]] { m.populatedZones.map { z in (0..<m.nrOrders).map { m.nrFree(zone: z.id, order: $0) } } }
        let fresh = freeBlocks()
        let live = try drive(m, seed: 7, steps: 3000).filter { m.isLive($0) }
        for h in live {
            let info = try m.allocationInfo(h)
            #expect(try m.readContent(h) == m.expectedContent(h, order: info.order))
        }
        for h in live { try m.free(h) }
        #expect(m.checkConsistency().isEmpty)
        #expect(m.allocatedPages == 0)
        // Everything merged back into the blocks a fresh machine has (all max-order ones but beside the
        // memory reserved at boot), once the per-CPU lists are drained.
        m.drainAllPages()
        #expect(freeBlocks() == fresh)
    }

    @Test func heavyFragmentationStaysConsistent() throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 256, seed: 3))
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: 50000, tag: "a")
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .kernel), count: 5000, tag: "k")
        _ = try m.allocateBulk(AllocRequest(order: 1, kind: .slab), count: 3000, tag: "s")
        try m.freeTag("a", pattern: .everyOther)
        try m.freeTag("s", pattern: .random(fraction: 0.7, seed: 1))
        #expect(m.checkConsistency().isEmpty)
        _ = try drive(m, seed: 11, steps: 20000, checkEvery: 500)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func sameSeedSameBytes() throws {
        func run() throws -> String {
            let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 128, nodes: 2, seed: 99))
            _ = try drive(m, seed: 5, steps: 4000, checkEvery: 1000)
            return m.renderBuddyinfo() + m.renderPagetypeinfo() + m.renderVmstat() + m.renderExtfragIndex()
        }
        #expect(try run() == run())
    }
}
