import Foundation
import Testing
@testable import MMCore
import MMFormat

/// A workload actor's count of the pages it holds (`WorkloadRun.ActorState.pages`), which its
/// `max_fraction` is checked against: what reclaim takes from it is no longer held.
@Suite struct ActorAccountingTests {
    /// Pages the actor's live list still holds (its allocations without a lifetime are order 0 here).
    static func held(_ m: Machine, _ run: WorkloadRun) -> Int {
        run.actors[0].live.reduce(0) { $0 + (m.isLive($1) ? 1 : 0) }
    }

    /// An actor at its max_fraction (100 ms at 100 allocations a ms), a sample step as a barrier, then a
    /// second 100 ms: the test steps the run to the barrier (the second run has then made at most one
    /// event) and puts memory pressure on the machine from outside the run.
    static func begin(_ m: Machine, mix: String) throws -> WorkloadRun {
        let d = try WorkloadDefinition(json: try JSON.parse("""
            {"name": "t", "seed": 1, "steps": [
              {"start_actor": {"name": "a", "rate_per_ms": 100, "max_fraction": 0.3, "mix": [\(mix)]}},
              {"run": {"ms": 100}},
              {"sample": {"name": "barrier"}},
              {"run": {"ms": 100}}
            ]}
            """))
        let run = try m.beginWorkload(d)
        while run.result.samples.isEmpty { _ = m.step(run, maxEvents: 1) }
        return run
    }

    /// Memory pressure from outside the run: an anon fill of 80 % of memory (reclaim drops page cache to
    /// make room), then freed again.
    static func squeeze(_ m: Machine) throws {
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: m.memTotalPages * 8 / 10, tag: "hog", keepHandles: 0)
        _ = try m.freeTag("hog", pattern: .all)
    }

    /// An actor whose page-cache pages reclaim drops no longer holds them: its count falls with them, and
    /// it goes on allocating up to its max_fraction (before, it kept counting them and stopped for good).
    @Test func reclaimedPagesAreNoLongerHeldAndTheActorAllocatesAgain() throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 64, seed: 1))
        let run = try ActorAccountingTests.begin(m, mix: #"{"kind": "file"}"#)
        let cap = Int((Double(m.memTotalPages) * 0.3).rounded(.up))
        #expect(run.actors[0].pages >= cap - 1)
        #expect(run.actors[0].pages == ActorAccountingTests.held(m, run))
        try ActorAccountingTests.squeeze(m)
        let held = ActorAccountingTests.held(m, run)
        let dropped = cap - held
        #expect(dropped > 1000, "reclaim dropped much of the actor's page cache")
        // Its count is what it still holds (it learns of the drops before its next allocation).
        _ = m.step(run, maxEvents: 1)
        #expect(run.actors[0].pages <= ActorAccountingTests.held(m, run))
        #expect(run.actors[0].pages < cap - 1000)
        // And it allocates again, up to its limit: it replaces what reclaim took (before the fix it held
        // cap - dropped pages to the end).
        while !m.step(run, maxEvents: 1 << 20) {}
        #expect(run.failure == nil)
        let end = ActorAccountingTests.held(m, run)
        #expect(end >= cap - 1 && end <= cap + 1, "held \(end) of \(cap)")
        #expect(run.actors[0].pages == end)
        #expect(m.checkConsistency() == [])
    }
}
