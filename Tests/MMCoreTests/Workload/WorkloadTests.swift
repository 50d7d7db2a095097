import MMFormat
import Foundation
import Testing
@testable import MMCore

/// The workload runner: steps, actors, presets, determinism (their JSON: MMFormatTests/Workload).
@Suite struct WorkloadTests {
    /// A definition built in Swift, not parsed, gets the parser's sysctl rules from `validate`: an
    /// unknown name or a missing value is an error naming the field, before any step runs.
    @Test func sysctlStepsAreCheckedBeforeTheyRun() throws {
        let config = MachineConfig(memoryMiB: 64)
        let unknown = WorkloadDefinition(name: "x", steps: [.run(ms: 1), .sysctl(name: "swappiness", value: 60)])
        #expect(throws: MMError.self) { try unknown.validate(for: config) }
        do { try unknown.validate(for: config) } catch { #expect(error.jsonField == "steps[1].sysctl.name") }
        let missing = WorkloadDefinition(name: "x", steps: [.sysctl(name: "extfrag_threshold", value: nil)])
        do { try missing.validate(for: config); Issue.record("a missing value passed") } catch { #expect(error.jsonField == "steps[0].sysctl.value") }
        // min_free_kbytes alone may leave its value to hugeadm's recommendation.
        try WorkloadDefinition(name: "x", steps: [.sysctl(name: "min_free_kbytes", value: nil)]).validate(for: config)
        let m = try Machine(config)
        #expect(throws: MMError.self) { _ = try m.runWorkload(missing) }
        #expect(m.extfragThreshold == Machine.defaultExtfragThreshold)
    }

    @Test func sameSeedSameResultsByteForByte() throws {
        func run() throws -> String {
            let m = try Machine(MachineConfig(memoryMiB: 256, seed: 9))
            let d = WorkloadDefinition(name: "d", seed: 4, steps: [
                .startActor(ActorSpec(name: "a", ratePerMs: 20, mix: [ActorAlloc(kind: .anon, lifetimeMs: 5), ActorAlloc(kind: .file), ActorAlloc(kind: .slab, lifetimeMs: 50)])),
                .run(ms: 200),
                .highAlloc(HighAllocSpec(order: 9, total: .count(10), delayMs: 1, stopOnFailure: false)),
                .stopActor(name: "a", freeAll: true),
                .sample(name: "end"),
            ])
            return try m.runWorkload(d).json.encoded + m.renderVmstat() + m.renderBuddyinfo()
        }
        #expect(try run() == run())
    }

    /// A workload gives the same result however it is stepped (the service steps a job 1024 events at a
    /// time, an experiment 4096, runWorkload runs it whole): a metadata walk and fills resume where they
    /// stopped, and a fill that runs out of memory gives up after its 65th failure whichever calls the
    /// failures fall in.
    @Test(arguments: [7, 1024, 4096])
    func steppedRunsGiveTheWholeRunsResult(events: Int) throws {
        let d = try WorkloadDefinition(json: try JSON.parse("""
            {"name": "stepping", "seed": 2, "steps": [
              {"metadata": {"fraction": 0.02, "files_per_directory": 10, "tag": "meta"}},
              {"fill": {"kind": "file", "fraction": 0.3, "writers": 8, "file_pages": 16, "tag": "files"}},
              {"free": {"tag": "files", "pattern": "every_other"}},
              {"fill": {"kind": "anon", "fraction": 1.0, "tag": "anon"}},
              {"sample": {"name": "end"}}
            ]}
            """))
        func run(eventsPerStep: Int) throws -> String {
            let m = try Machine(MachineConfig(memoryMiB: 128, seed: 3))
            let r = try m.beginWorkload(d)
            while !m.step(r, maxEvents: eventsPerStep) {}
            #expect(r.failure == nil)
            return r.result.json.encoded + m.renderVmstat() + m.renderBuddyinfo()
        }
        let whole = try run(eventsPerStep: 1 << 30)
        #expect(whole.contains("\nalloc_fail 65\n"), "the anon fill ran out of memory and gave up")
        #expect(try run(eventsPerStep: events) == whole)
    }

    /// The selftest step and the huge-page attempts of `hugetlb_pool` and `high_alloc` steps are made a
    /// part at a time (a selftest part and a costly attempt count for many events), so a call of `step`
    /// with the service's 4096 events does a bounded share of them, and a job can be cancelled between;
    /// the results are those of the whole run, byte for byte.
    @Test(arguments: ["kselftest-compaction", "seed-easy-hugepages", "proactive-frag"])
    func heavyStepsAreMadeAPartAtATime(preset: String) throws {
        let d = try #require(WorkloadPresets.definition(named: preset))
        func run(eventsPerStep: Int) throws -> (String, calls: Int) {
            let m = try Machine(MachineConfig(memoryMiB: 512, seed: 3))
            let r = try m.beginWorkload(d)
            var calls = 1
            while !m.step(r, maxEvents: eventsPerStep) { calls += 1 }
            #expect(r.failure == nil)
            return (r.result.json.encoded + m.renderVmstat() + m.renderBuddyinfo(), calls)
        }
        let whole = try run(eventsPerStep: 1 << 30)
        #expect(whole.calls == 1)
        let stepped = try run(eventsPerStep: 4096)
        #expect(stepped.0 == whole.0)
        // The huge-page part alone would be a single call before: 160 huge pages of this machine at
        // most, 64 events each, so at least three calls for them besides the fills'.
        #expect(stepped.calls >= 3, "\(stepped.calls) calls")
        if preset == "kselftest-compaction" { #expect(whole.0.contains("\"selftest\":{")) }
    }

    @Test func actorsRunInSimulatedTimeAndStop() throws {
        let m = try Machine(MachineConfig(memoryMiB: 128, seed: 1))
        let d = WorkloadDefinition(name: "a", steps: [
            .startActor(ActorSpec(name: "builds", ratePerMs: 10, mix: [ActorAlloc(kind: .anon, lifetimeMs: 1), ActorAlloc(kind: .kernel, order: 1, lifetimeMs: 2)])),
            .run(ms: 100),
            .sample(name: "running"),
            .stopActor(name: "builds", freeAll: true),
            .run(ms: 10),
        ])
        let r = try m.runWorkload(d)
        #expect(r.simulatedNs >= 110_000_000)
        // About 10 allocations per ms for 100 ms.
        let allocs = r.delta(\.numaHit)
        #expect(allocs > 800 && allocs < 1200)
        // Lifetimes expired and the stop freed the rest: nothing of the actor is left.
        #expect(m.allocatedPages == 0)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func proactiveFragPresetFragmentsEveryHugePage() throws {
        let m = try Machine(MachineConfig(memoryMiB: 256, seed: 1))
        let r = try m.runWorkload(WorkloadPresets.definition(named: "proactive-frag")!)
        let fragmented = r.samples.first { $0.name == "fragmented" }!
        // 3/4 of every huge-page chunk is free but no order-9 block is.
        #expect(fragmented.freeBlocksPerOrder[9] + fragmented.freeBlocksPerOrder[10] <= 2)
        #expect(r.highAllocAttempts > 0)
        #expect(m.checkConsistency().isEmpty)
    }
}
