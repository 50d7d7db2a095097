import Testing
@testable import MMCore

/// Compaction and allocation on unusual but valid configurations (explicit orders and pageblock orders).
@Suite struct OddConfigTests {
    static let shapes: [(pageShift: Int, nrOrders: Int, pageblockOrder: Int, mib: Int)] = [
        (12, 1, 0, 8), (12, 2, 0, 8), (12, 2, 1, 8), (12, 11, 0, 16), (12, 11, 10, 16), (12, 5, 4, 8), (16, 9, 8, 32), (13, 3, 2, 8),
    ]

    @Test(arguments: shapes.indices)
    func compactionOnOddShapes(_ i: Int) throws {
        let s = OddConfigTests.shapes[i]
        var p = ArchPreset.x86_64
        p.pageShift = s.pageShift
        p.nrOrders = s.nrOrders
        p.pageblockOrder = s.pageblockOrder
        let m = try Machine(MachineConfig(preset: p, memoryMiB: s.mib, seed: 3))
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, tag: "a", keepHandles: 0)
        try m.freeTag("a", pattern: .random(fraction: 0.6, seed: 2))
        try m.compactMemory()
        #expect(m.checkConsistency().isEmpty)
        _ = try m.allocate(AllocRequest(order: s.nrOrders - 1, kind: .anon, gfp: [.wait, .io, .fs, .repeat]))
        #expect(m.checkConsistency().isEmpty)
        _ = m.renderPagetypeinfo() + m.renderExtfragIndex() + m.renderZoneinfo()
    }
}
