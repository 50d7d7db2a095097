import Testing
@testable import MMCore

/// Randomized: compaction runs step by step while owners allocate and free between steps (including
/// pages the compactor holds isolated); after every step the machine is consistent and every live
/// owner reads back what it wrote.
@Suite struct CompactionPropertyTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func interleavedCompactionKeepsEverythingIntact(seed: UInt64) throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 32, seed: seed, swapMiB: 8))
        var rng = SeededRandom(seed: seed)
        let kinds: [AllocKind] = [.anon, .anon, .file, .pinned, .kernel, .slab]
        var live: [PageHandle] = []
        for _ in 0..<7000 {
            let k = kinds[rng.below(kinds.count)]
            if let h = try m.allocate(AllocRequest(order: rng.below(10) == 0 ? 1 : 0, kind: k, gfp: .atomic,
                                                   mlock: rng.below(8) == 0, dirty: rng.below(3) == 0)).handle {
                live.append(h)
            }
        }
        for h in live where rng.below(3) != 0 { _ = m.freeIfLive(h) }
        live = live.filter { m.isLive($0) }
        let run = try m.beginCompaction()
        var steps = 0
        while !m.step(run, maxSteps: 1) {
            steps += 1
            // Between steps: owners free pages (possibly ones isolated right now) and allocate new ones.
            for _ in 0..<rng.below(4) {
                if !live.isEmpty && rng.below(2) == 0 {
                    let i = rng.below(live.count)
                    _ = m.freeIfLive(live[i])
                    live.swapAt(i, live.count - 1)
                    live.removeLast()
                } else if let h = try m.allocate(AllocRequest(order: 0, kind: kinds[rng.below(kinds.count)], gfp: .atomic)).handle {
                    live.append(h)
                }
            }
            let errors = m.checkConsistency()
            #expect(errors.isEmpty, "step \(steps): \(errors)")
            if !errors.isEmpty { return }
            for h in live where m.isLive(h) {
                let info = try m.allocationInfo(h)
                #expect(try m.readContent(h) == m.expectedContent(h, order: info.order), "step \(steps) handle \(h)")
            }
        }
        #expect(run.results.allSatisfy { $0.result == .complete })
        #expect(steps > 10)
        #expect(m.checkConsistency().isEmpty)
    }
}
