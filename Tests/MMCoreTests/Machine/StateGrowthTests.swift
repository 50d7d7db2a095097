import MMFormat
import XCTest
@testable import MMCore

/// A state gate that grants up to `left` bytes in all and counts what it was asked.
final class Allowance {
    var left: Int
    var approved = 0
    var refusals = 0
    init(_ bytes: Int = .max) { left = bytes }
    func ask(_ n: Int) -> Bool {
        guard n <= left else { refusals += 1; return false }
        left -= n
        approved += n
        return true
    }
    func install(on m: Machine) { m.stateGrowthGate = { [self] in ask($0) } }
}

/// `stateBytes` and the state gate (StateGrowth.swift): what a machine holds, that every growth asks
/// first, and that a refusal stops the operation before it changes anything.
final class StateGrowthTests: XCTestCase {
    static let workload = """
        {"name": "w", "seed": 5, "steps": [
          {"metadata": {"count": 3000, "tag": "meta"}},
          {"fill": {"kind": "file", "fraction": 0.3, "tag": "files", "writers": 8, "file_pages": 16, "dirty_fraction": 0.5}},
          {"start_actor": {"name": "a", "rate_per_ms": 20, "mix": [{"kind": "anon", "lifetime_ms": 3}, {"kind": "slab", "weight": 0.2}]}},
          {"fill": {"kind": "anon", "fraction": 0.3, "tag": "anon"}},
          {"run": {"ms": 20}},
          {"sample": {"name": "mid"}},
          {"free": {"tag": "files", "pattern": "every_other"}},
          {"high_alloc": {"order": 4, "fraction": 0.05, "tag": "h"}},
          {"keep_one_in": {"tag": "anon", "period": 3}},
          {"compact": {}},
          {"stop_actor": {"name": "a", "free": true}},
          {"sample": {"name": "end"}}]}
        """

    func definition() throws -> WorkloadDefinition { try WorkloadDefinition(json: try JSON.parse(StateGrowthTests.workload), path: .root) }

    /// A gate that always agrees changes nothing: the same result, byte for byte, and the same machine.
    /// The estimate the budget admits a machine by bounds what the machine holds when built, on every
    /// preset and kernel, and not by much (it is an estimate, not a reservation of twice the need).
    func testTheLayoutsEstimateBoundsTheBuiltMachine() throws {
        for preset in ["x86_64", "x86", "ppc64"] {
            for kernel in ["2.6.35", "6.6"] {
                let config = try MachineConfig(json: try JSON.parse(#"{"preset":"\#(preset)","memory_mib":256,"nodes":2,"kernel":"\#(kernel)"}"#))
                let estimate = try config.validate().estimatedStateBytes
                let built = try Machine(config).stateBytes
                XCTAssertLessThanOrEqual(built, estimate, "\(preset) \(kernel)")
                XCTAssertGreaterThan(built * 2, estimate, "\(preset) \(kernel): the estimate is far above the machine")
            }
        }
    }

    func testAGateThatAgreesChangesNothing() throws {
        let plain = makeMachine(mib: 256)
        let gated = makeMachine(mib: 256)
        let allowance = Allowance()
        allowance.install(on: gated)
        let a = try plain.runWorkload(try definition())
        let b = try gated.runWorkload(try definition())
        XCTAssertEqual(a.json.encoded, b.json.encoded)
        XCTAssertEqual(plain.vmstatPairs().map { "\($0)" }, gated.vmstatPairs().map { "\($0)" })
        XCTAssertEqual(plain.generation, gated.generation)
        XCTAssertGreaterThan(allowance.approved, 0)
        XCTAssertEqual(allowance.refusals, 0)
        assertConsistent(gated)
    }

    /// Every growth of the machine's state and of a run's is asked for first: what they hold never
    /// grows past what they held at the start plus what the gate approved (whatever was freed since).
    func testEveryGrowthIsAskedFor() throws {
        let m = makeMachine(mib: 256)
        let allowance = Allowance()
        allowance.install(on: m)
        let start = m.stateBytes
        let run = try m.beginWorkload(try definition())
        let runStart = run.stateBytes
        var steps = 0
        while !m.step(run, maxEvents: 512) {
            steps += 1
            // A little slack: the allocator's rounding of buffers, and the fill's per-writer list of lists.
            XCTAssertLessThanOrEqual(m.stateBytes + run.stateBytes, start + runStart + allowance.approved + 4096,
                                     "after step call \(steps)")
        }
        XCTAssertNil(run.failure)
        XCTAssertLessThanOrEqual(m.stateBytes, start + allowance.approved + 4096)
        XCTAssertGreaterThan(steps, 10)
    }

    /// A refused allocation changes nothing: not the machine's generation, clock or counters.
    func testARefusedAllocationChangesNothing() throws {
        let m = makeMachine(mib: 256)
        let allowance = Allowance(0)
        allowance.install(on: m)
        let before = (m.generation, m.clockNs, m.vmstatPairs().map { "\($0)" }, m.stateBytes)
        XCTAssertThrowsError(try m.allocate(AllocRequest(order: 0, kind: .anon))) { e in
            guard case MMError.stateLimit(let bytes) = e else { return XCTFail("\(e)") }
            // The handle table's first granule (four arrays of 4-byte slots, 4 KiB pages at this size).
            XCTAssertEqual(bytes, 4 * 4096)
        }
        XCTAssertThrowsError(try m.allocate(AllocRequest(order: 3, kind: .kernel)))
        let r = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: 10, tag: "t")
        XCTAssertEqual(r.succeeded + r.failed, 0)
        XCTAssertNotNil(r.stateLimitBytes)
        XCTAssertEqual(before.0, m.generation)
        XCTAssertEqual(before.1, m.clockNs)
        XCTAssertEqual(before.2, m.vmstatPairs().map { "\($0)" })
        XCTAssertEqual(before.3, m.stateBytes)
        XCTAssertEqual(m.liveAllocations, 0)
        XCTAssertEqual(m.stateRefusals, 3)
        // Room for the handle table's granule only: untagged allocations fill it, a tagged batch stops
        // before its first allocation (its list cannot grow).
        allowance.left = 4 * 4096
        let untagged = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: 10)
        XCTAssertEqual(untagged.succeeded, 10)
        XCTAssertNil(untagged.stateLimitBytes)
        let tagged = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: 10, tag: "t")
        XCTAssertEqual(tagged.succeeded, 0)
        XCTAssertEqual(tagged.stateLimitBytes, 48 + 16 * 8 + HeapCost.entry(key: "t", valueStride: 8))
        XCTAssertEqual(m.liveAllocations, 10)
        // A granule holds 1024 slots: the rest of it needs nothing more.
        let rest = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: 1014)
        XCTAssertEqual(rest.succeeded, 1014)
        XCTAssertNotNil(try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: 1).stateLimitBytes)
        XCTAssertEqual(m.liveAllocations, 1024)
        assertConsistent(m)
    }

    /// `allocationGrowthBound` is never below what a batch really asks for, nor below how much the
    /// machine's state grows with it; freed slots are reused without asking.
    func testAllocationGrowthBoundHolds() throws {
        let m = makeMachine(mib: 512)
        let allowance = Allowance()
        allowance.install(on: m)
        var rng = SeededRandom(seed: 11)
        for i in 0..<60 {
            let count = 1 + rng.below(i % 7 == 0 ? 40_000 : 3000)
            let tag: String? = rng.below(3) == 0 ? nil : "t\(rng.below(4))"
            let bound = m.allocationGrowthBound(count: count, tag: tag)
            let (asked, before) = (allowance.approved, m.stateBytes)
            let r = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: count, tag: tag)
            XCTAssertNil(r.stateLimitBytes)
            XCTAssertLessThanOrEqual(allowance.approved - asked, bound, "batch \(i): \(count) under \(tag ?? "no tag")")
            XCTAssertLessThanOrEqual(m.stateBytes - before, bound, "batch \(i)")
            if let t = tag, rng.below(2) == 0 { try m.freeTag(t, pattern: .random(fraction: 0.7, seed: UInt64(i))) }
        }
        // After frees, a batch no larger than the freed slots needs no new slot.
        let freedSlots = m.handles.used - m.handles.live
        XCTAssertGreaterThan(freedSlots, 1000)
        let asked = allowance.approved
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: 1000)
        XCTAssertEqual(allowance.approved, asked)
        XCTAssertEqual(m.allocationGrowthBound(count: freedSlots - 1000, tag: nil), 0)
        assertConsistent(m)
    }

    /// A workload whose growth the gate refuses ends with `stateLimit` where it is; the fill it was in is
    /// undone, so the machine holds only what tags (or nothing) still name; it stays consistent.
    func testAWorkloadStopsAtItsLimitAndUndoesItsFill() throws {
        // Enough for the metadata walk, not for the file fill after it: what the walk asked for on an
        // identical machine (the same asks, deterministically), and a little more.
        let probe = makeMachine(mib: 256)
        let counted = Allowance()
        counted.install(on: probe)
        let probeRun = try probe.beginWorkload(try definition())
        while probeRun.result.stepsDone < 1 { _ = probe.step(probeRun, maxEvents: 16) }
        let m = makeMachine(mib: 256)
        let allowance = Allowance(counted.approved + (16 << 10))
        allowance.install(on: m)
        let run = try m.beginWorkload(try definition())
        var calls = 0
        while !m.step(run, maxEvents: 1024) { calls += 1 }
        guard case .stateLimit(let bytes)? = run.failure else { return XCTFail("failure \(String(describing: run.failure))") }
        XCTAssertGreaterThan(bytes, 0)
        XCTAssertEqual(run.result.stepsDone, 1, "the metadata walk finished, the fill did not")
        XCTAssertEqual(m.liveAllocations, m.slabCacheStats(.dentry).slabs + m.slabCacheStats(.inode).slabs,
                       "only the metadata's slab pages are left")
        XCTAssertEqual(m.tagCounts.count, 0)
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, 0, "the fill's buffer heads went with its pages")
        XCTAssertGreaterThan(m.stateRefusals, 0)
        assertConsistent(m)
        // With more room the machine goes on, as if the stopped fill had never been.
        allowance.left = .max
        let again = try m.runWorkload(try definition())
        XCTAssertEqual(again.stepsDone, 12)
        assertConsistent(m)
    }

    /// What a lazily mapped table costs follows the granules written: a machine's handle table and slab
    /// words grow with its allocations, not with its size, and only where they are written.
    func testStateBytesFollowWhatIsWritten() throws {
        let small = makeMachine(mib: 64)
        let large = makeMachine(mib: 8192)
        XCTAssertEqual(small.stateBytesByPart.first { $0.part == "handles" }?.bytes, 0)
        XCTAssertEqual(large.stateBytesByPart.first { $0.part == "handles" }?.bytes, 0)
        // One allocation: one granule of each of the four handle arrays (4 KiB below 2 MiB, 2 MiB above).
        _ = try small.allocate(AllocRequest(order: 0, kind: .anon))
        _ = try large.allocate(AllocRequest(order: 0, kind: .anon))
        XCTAssertEqual(small.handles.byteCount, 4 * 4096)
        XCTAssertEqual(large.handles.byteCount, 4 * (2 << 20))
        // Anon pages write no slab word; a cache's slab page does, once per granule.
        XCTAssertEqual(large.slab.wordBytes, 0)
        _ = large.slabAlloc(.dentry, unused: true)
        XCTAssertEqual(large.slab.wordBytes, 2 << 20)
        _ = large.slabAlloc(.inode, unused: true)
        XCTAssertEqual(large.slab.wordBytes, 2 << 20)
        XCTAssertEqual(large.stateBytes, large.stateBytesByPart.reduce(0) { $0 + $1.bytes })
    }
}
