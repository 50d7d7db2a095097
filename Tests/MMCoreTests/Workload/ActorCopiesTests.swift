import Testing
@testable import MMCore

/// An actor standing for copies of one job, their number from MemTotal (`ActorCopies`), as mmtests'
/// stress-highalloc starts MemTotal_MB / 400 copies of a kernel build besides the primary one.
@Suite struct ActorCopiesTests {
    /// The count is MemTotal in MiB over the MiB per copy (integer division), plus the extra copies,
    /// and at least one.
    @Test func copiesFollowMemTotal() {
        let c = ActorCopies(memTotalMiBPerCopy: 400, plus: 1)
        #expect(c.count(memTotalMiB: 2005) == 6)
        #expect(c.count(memTotalMiB: 1999) == 5)
        #expect(c.count(memTotalMiB: 4010) == 11)
        #expect(c.count(memTotalMiB: 399) == 1)
        #expect(ActorCopies(memTotalMiBPerCopy: 400, plus: 0).count(memTotalMiB: 100) == 1)
        let spec = ActorSpec(name: "b", ratePerMs: 16.667, mix: [ActorAlloc(kind: .anon)], copies: c)
        // Six copies at 16.667 events a ms are one stream at 100.002 a ms: an event every 10 µs, as one
        // actor at 100 a ms (to the nearest ns); 4 copies every 15 µs, 11 every 5,454 ns.
        #expect(spec.intervalNs(copies: 6) == 10_000)
        #expect(spec.intervalNs(copies: 4) == 15_000)
        #expect(spec.intervalNs(copies: 11) == 5_454)
        #expect(ActorSpec(name: "a", ratePerMs: 100, mix: []).intervalNs(copies: 1) == 10_000)
        #expect(ActorSpec(name: "a", ratePerMs: 1e6, mix: []).intervalNs(copies: 3) == 1)
    }

    static func run(mib: Int, _ spec: ActorSpec) throws -> (Machine, WorkloadRun) {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: mib, seed: 1))
        let d = WorkloadDefinition(name: "copies", seed: 3, steps: [.startActor(spec), .run(ms: 50)])
        let run = try m.beginWorkload(d)
        while !m.step(run, maxEvents: 1 << 20) {}
        #expect(run.failure == nil)
        #expect(m.checkConsistency() == [])
        return (m, run)
    }

    /// On a machine whose MemTotal gives six copies, the copies at a sixth of the rate are the same run,
    /// page for page, as one actor at the whole rate; the result names the copies. On a machine with
    /// half the copies the actor allocates about half as much in the same simulated time.
    @Test func sixCopiesAtASixthOfTheRateAreOneActorAtTheWhole() throws {
        let mix = [ActorAlloc(kind: .anon, weight: 1, lifetimeMs: 5), ActorAlloc(kind: .file, weight: 1)]
        let copies = ActorCopies(memTotalMiBPerCopy: 400, plus: 1)
        let mib = 2048
        let m0 = try Machine(MachineConfig(preset: .x86_64, memoryMiB: mib, seed: 1))
        #expect((m0.memTotalPages << m0.pageShift) >> 20 / 400 + 1 == 6)
        let (mw, rw) = try ActorCopiesTests.run(mib: mib, ActorSpec(name: "b", ratePerMs: 100, mix: mix))
        let (mc, rc) = try ActorCopiesTests.run(mib: mib, ActorSpec(name: "b", ratePerMs: 16.667, mix: mix, copies: copies))
        #expect(rw.result.actorCopies.isEmpty)
        #expect(rc.result.actorCopies == [ActorCopiesRecord(actor: "b", copies: 6)])
        #expect(rc.actors[0].pages == rw.actors[0].pages && rw.actors[0].pages > 1000)
        #expect(rc.actors[0].live.map { mc.handles.resolve($0) } == rw.actors[0].live.map { mw.handles.resolve($0) })
        #expect(mc.nrFreePagesTotal == mw.nrFreePagesTotal)
        #expect(rc.events == rw.events)

        // 1,024 MiB: 2 + 1 copies, half the events of six in the same 50 ms.
        let (_, rh) = try ActorCopiesTests.run(mib: 1024, ActorSpec(name: "b", ratePerMs: 16.667, mix: mix, copies: copies))
        #expect(rh.result.actorCopies == [ActorCopiesRecord(actor: "b", copies: 3)])
        let ratio = Double(rh.events) / Double(rc.events)
        #expect(ratio > 0.45 && ratio < 0.55, "events \(rh.events) against \(rc.events)")
    }
}
