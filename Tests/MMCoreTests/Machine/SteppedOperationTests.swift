import Testing
@testable import MMCore

/// The stepped-operation protocol (Machine/SteppedOperation.swift): each operation driven call by call
/// through it ends as the same operation run whole, and says `.done` exactly when it has ended.
@Suite struct SteppedOperationTests {
    /// Calls `op` until it is done, at most `limit` calls; returns the calls made and whether any waited.
    func drive(_ op: some SteppedOperation, on m: Machine, limit: Int = 1_000_000) throws -> (calls: Int, waited: Bool) {
        var calls = 0, waited = false
        while !op.isDone && calls < limit {
            let r = try op.step(on: m)
            calls += 1
            if r == .waiting { waited = true }
            #expect((r == .done) == op.isDone, "call \(calls) said \(r) with isDone \(op.isDone)")
        }
        return (calls, waited)
    }

    @Test func anAllocationBatchMakesOneAttemptPerCallAndTalliesEach() throws {
        let m = makeMachine(mib: 64)
        let batch = try AllocationBatch(AllocRequest(order: 2, kind: .kernel), count: 300, tag: "b", on: m)
        var seen = 0
        batch.onAttempt = { r in seen += r.succeeded + r.failed }
        let (calls, _) = try drive(batch, on: m)
        #expect(calls == 300)
        #expect(seen == 300)
        #expect(batch.remaining == 0 && batch.refusedBytes == nil)
        #expect(m.handles(ofTag: "b").count == 300)
        #expect(try batch.step(on: m) == .done, "a finished batch does nothing more")
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func anAllocationBatchChecksItsRequestBeforeAnyAttempt() {
        let m = makeMachine(mib: 64)
        #expect(throws: MMError.self) { try AllocationBatch(AllocRequest(order: 40, kind: .anon), count: 1, tag: nil, on: m) }
        #expect(throws: MMError.self) { try AllocationBatch(AllocRequest(order: 0, kind: .anon), count: 1, tag: "", on: m) }
        #expect(m.liveAllocations == 0)
    }

    @Test func aRefusalOfTheStateGateEndsTheBatchWithTheBytesAsked() throws {
        let m = makeMachine(mib: 64)
        m.stateGrowthGate = { _ in false }
        let batch = try AllocationBatch(AllocRequest(order: 0, kind: .anon), count: 10, tag: "b", on: m)
        #expect(try batch.step(on: m) == .done)
        #expect(batch.isDone)
        #expect((batch.refusedBytes ?? 0) > 0)
        #expect(batch.remaining == 10)
        #expect(m.liveAllocations == 0)
    }

    /// A manual compaction called through the protocol ends as `Machine.step` in large calls does: same
    /// pages, same counters.
    @Test func aCompactionRunSteppedEndsAsOneRunWhole() throws {
        func fragmented() throws -> Machine {
            let m = makeMachine(mib: 128, seed: 3)
            _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, tag: "fill", keepHandles: 0)
            _ = try m.freeTag("fill", pattern: .random(fraction: 0.8, seed: 9))
            return m
        }
        let a = try fragmented(), b = try fragmented()
        let ra = try a.beginCompaction(node: nil)
        while !a.step(ra, maxSteps: 1_000_000) {}
        let rb = try b.beginCompaction(node: nil)
        let (calls, waited) = try drive(rb, on: b)
        #expect(calls > 1)
        #expect(!waited, "nothing else holds pages isolated")
        #expect(a.renderVmstat() == b.renderVmstat())
        #expect(a.renderBuddyinfo() == b.renderBuddyinfo())
        #expect(b.checkConsistency().isEmpty)
    }

    /// A workload called through the protocol (1024 events a call) gives the result of the run whole.
    @Test func aWorkloadRunSteppedGivesTheWholeRunsResult() throws {
        let def = WorkloadDefinition(name: "w", seed: 7, steps: [
            .fill(kind: .anon, amount: .fraction(0.6), chunkPages: 64, writers: 2, tag: "a", order: 0, dirtyFraction: 0, mlock: false),
            .free(tag: "a", pattern: .everyOther, unit: 1),
            .fill(kind: .file, amount: .fraction(0.3), chunkPages: 64, writers: 4, tag: "f", order: 0, dirtyFraction: 0.5, mlock: false),
            .run(ms: 5),
        ])
        let w = makeMachine(mib: 128)
        let whole = try w.runWorkload(def)
        let m = makeMachine(mib: 128)
        let run = try m.beginWorkload(def)
        let (calls, _) = try drive(run, on: m)
        #expect(calls > 1)
        #expect(run.result.stepsDone == whole.stepsDone && run.result.simulatedNs == whole.simulatedNs)
        #expect(run.result.samples == whole.samples)
        #expect(m.renderVmstat() == w.renderVmstat())
        #expect(m.renderPagetypeinfo() == w.renderPagetypeinfo())
        #expect(m.checkConsistency().isEmpty)
    }
}
