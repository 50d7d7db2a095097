import Testing
@testable import MMCore

/// An actor's demand in bytes (`ActorAlloc.unitBytes`) and its page cache as whole files
/// (`ActorAlloc.fileSizes`): the same events take fewer pages of 64 KiB than of 4 KiB.
@Suite struct ActorUnitTests {
    /// Runs one actor of one mix entry (no lifetime, so everything it allocates stays on its live list)
    /// for `ms` at 10 events a ms, on a machine large enough that nothing is reclaimed; returns the machine and the run.
    static func run(_ preset: ArchPreset, _ entry: ActorAlloc, ms: Double = 100, mib: Int = 256) throws -> (Machine, WorkloadRun) {
        let m = try Machine(MachineConfig(preset: preset, memoryMiB: mib, seed: 1))
        let d = WorkloadDefinition(name: "unit", seed: 7, steps: [
            .startActor(ActorSpec(name: "a", ratePerMs: 10, mix: [entry])), .run(ms: ms)])
        let run = try m.beginWorkload(d)
        while !m.step(run, maxEvents: 1 << 20) {}
        #expect(run.failure == nil)
        #expect(m.checkConsistency() == [])
        return (m, run)
    }

    static func entry(_ kind: AllocKind, unitKiB: Int?, files: FileSizes? = nil) -> ActorAlloc {
        var a = ActorAlloc(kind: kind)
        a.unitBytes = unitKiB.map { $0 << 10 }
        a.fileSizes = files
        return a
    }

    /// With 4 KiB pages and a 4 KiB unit every event allocates one page, as without a unit: the same
    /// pages in the same places, packed or as files (the file sizes have a stream of their own).
    @Test func aPageSizedUnitChangesNothing() throws {
        for kind in [AllocKind.slab, .file] {
            let (m0, r0) = try ActorUnitTests.run(.x86_64, ActorUnitTests.entry(kind, unitKiB: nil))
            let (m1, r1) = try ActorUnitTests.run(.x86_64, ActorUnitTests.entry(kind, unitKiB: 4))
            let (m2, r2) = try ActorUnitTests.run(.x86_64, ActorUnitTests.entry(kind, unitKiB: 4, files: kind == .file ? .linux2635 : nil))
            #expect(r0.actors[0].pages > 900)
            for (m, r) in [(m1, r1), (m2, r2)] {
                #expect(r.actors[0].pages == r0.actors[0].pages)
                #expect(r.actors[0].live.map { m.handles.resolve($0) } == r0.actors[0].live.map { m0.handles.resolve($0) })
                #expect(m.nrFreePagesTotal == m0.nrFreePagesTotal)
            }
        }
    }

    /// Packed bytes on 64 KiB pages: one page every 16 events of 4 KiB (and one every 4 of 16 KiB).
    @Test func packedBytesFillSixtyFourKiBPagesSixteenEventsEach() throws {
        let (_, perEvent) = try ActorUnitTests.run(.ppc64, ActorUnitTests.entry(.slab, unitKiB: nil))
        let events = perEvent.actors[0].pages
        #expect(events > 900)
        let (_, r4) = try ActorUnitTests.run(.ppc64, ActorUnitTests.entry(.slab, unitKiB: 4))
        #expect(r4.actors[0].pages == events / 16)
        let (_, r16) = try ActorUnitTests.run(.ppc64, ActorUnitTests.entry(.anon, unitKiB: 16))
        #expect(r16.actors[0].pages == events / 4)
    }

    /// Files on 64 KiB pages: a file takes ceil(size / 64 KiB) pages, so the 2.6.35 tree's 4 KiB events
    /// make about 34,521 / 113,477 = 0.30 pages each (5 times the bytes that packing them would take).
    @Test func filesOnSixtyFourKiBPagesTakeAPageEachNearlyAlways() throws {
        let (_, perEvent) = try ActorUnitTests.run(.ppc64, ActorUnitTests.entry(.file, unitKiB: nil), ms: 1000, mib: 2048)
        let events = Double(perEvent.actors[0].pages)
        let (_, r) = try ActorUnitTests.run(.ppc64, ActorUnitTests.entry(.file, unitKiB: 4, files: .linux2635), ms: 1000, mib: 2048)
        let ratio = Double(r.actors[0].pages) / events
        #expect(events > 9000)
        #expect(ratio > 0.27 && ratio < 0.34, "pages per 4 KiB event \(ratio)")
    }

    /// The tree's table: 33,305 files, 113,477 pages of 4 KiB, 34,521 of 64 KiB; draws cover it.
    @Test func theTreeTableAndItsDraws() {
        let h = FileSizes.linux2635.histogram
        #expect(h.reduce(0) { $0 + $1.files } == 33_305)
        #expect(h.reduce(0) { $0 + $1.files * $1.pages4k } == 113_477)
        #expect(h.reduce(0) { $0 + $1.files * (($1.pages4k + 15) / 16) } == 34_521)
        var rng = SeededRandom(seed: 3)
        var sum = 0, one = 0
        let n = 100_000
        for _ in 0..<n {
            let b = FileSizes.linux2635.drawBytes(&rng)
            #expect(b > 0 && b % 4096 == 0 && b <= 214 << 12)
            sum += b >> 12
            if b == 4096 { one += 1 }
        }
        // Mean 3.41 pages of 4 KiB; 16,045 of the 33,305 files (48 %) fit in one.
        #expect(abs(Double(sum) / Double(n) - 3.407) < 0.1)
        #expect(abs(Double(one) / Double(n) - 0.4818) < 0.01)
    }
}
