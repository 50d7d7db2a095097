import Foundation
import Testing
import MMCore
@testable import MMFormat

/// Workload definitions as JSON: the examples directory parses and matches the presets; a bad
/// definition is refused naming the JSON path of the member at fault.
@Suite struct WorkloadDefinitionJSONTests {
    static let examples: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")

    @Test func examplesParseAndFitAMachine() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: WorkloadDefinitionJSONTests.examples.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files.count >= 6)
        for f in files {
            let text = try String(contentsOf: WorkloadDefinitionJSONTests.examples.appendingPathComponent(f), encoding: .utf8)
            let j = try JSON.parse(text)
            if f.hasPrefix("experiment") {
                let e = try Experiment(json: j)
                #expect(e.variants.count >= 2, "\(f)")
            } else {
                let d = try WorkloadDefinition(json: j)
                try d.validate(for: MachineConfig(memoryMiB: 1024))
                #expect(WorkloadPresets.definition(named: d.name) == d, "\(f) matches its preset")
            }
        }
    }

    @Test func badDefinitionsNameThePath() throws {
        func field(_ s: String) -> String? {
            do { _ = try WorkloadDefinition(json: try JSON.parse(s)); return nil } catch let e as MMError { return e.jsonField } catch { return "?" }
        }
        #expect(field(#"{"steps":[{"fill":{"kind":"anon","fraction":2,"tag":"a"}}]}"#) == "steps[0].fill.fraction")
        #expect(field(#"{"steps":[{"fill":{"kind":"anon","fraction":0.5,"mib":3,"tag":"a"}}]}"#) == "steps[0].fill.fraction")
        #expect(field(#"{"steps":[{"run":{"ms":"x"}}]}"#) == "steps[0].run.ms")
        #expect(field(#"{"steps":[{"high_alloc":{"count":3,"gfp":["__GFP_BOGUS"]}}]}"#) == "steps[0].high_alloc.gfp[0]")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","mix":[]}}]}"#) == "steps[0].start_actor.mix")
        #expect(field(#"{"steps":[{"sysctl":{"name":"extfrag_threshold","value":1001}}]}"#) == "steps[0].sysctl.value")
        #expect(field(#"{"steps":[{"free":{"tag":"a","pattern":"sometimes"}}]}"#) == "steps[0].free.pattern")
        #expect(field(#"{"seed":-1,"steps":[]}"#) == "seed")
        // A unit is bytes of demand (not for a process); file sizes only for order-0 page cache with a unit.
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","mix":[{"kind":"anon","unit_kib":0}]}}]}"#) == "steps[0].start_actor.mix[0].unit_kib")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","mix":[{"process":{"anon_kib":4},"unit_kib":4}]}}]}"#) == "steps[0].start_actor.mix[0].unit_kib")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","mix":[{"kind":"anon","unit_kib":4,"file_sizes":"linux-2.6.35"}]}}]}"#) == "steps[0].start_actor.mix[0].file_sizes")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","mix":[{"kind":"file","file_sizes":"linux-2.6.35"}]}}]}"#) == "steps[0].start_actor.mix[0].file_sizes")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","mix":[{"kind":"file","unit_kib":4,"file_sizes":"gcc"}]}}]}"#) == "steps[0].start_actor.mix[0].file_sizes")
        let ok = try WorkloadDefinition(json: try JSON.parse(#"{"steps":[{"start_actor":{"name":"a","mix":[{"kind":"file","unit_kib":4,"file_sizes":"linux-2.6.35"}]}}]}"#))
        guard case .startActor(let spec) = ok.steps[0] else { Issue.record("not an actor"); return }
        #expect(spec.mix[0].unitBytes == 4096 && spec.mix[0].fileSizes == .linux2635)
        // An actor's copies: MiB of MemTotal per copy (required, positive) and the copies added to it.
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","copies":{"plus":1},"mix":[{"kind":"anon"}]}}]}"#) == "steps[0].start_actor.copies.per_memtotal_mib")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","copies":{"per_memtotal_mib":0},"mix":[{"kind":"anon"}]}}]}"#) == "steps[0].start_actor.copies.per_memtotal_mib")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","copies":{"per_memtotal_mib":400,"plus":-1},"mix":[{"kind":"anon"}]}}]}"#) == "steps[0].start_actor.copies.plus")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","copies":{"per_memtotal_mib":400,"each":1},"mix":[{"kind":"anon"}]}}]}"#) == "steps[0].start_actor.copies.each")
        #expect(field(#"{"steps":[{"start_actor":{"name":"a","copies":400,"mix":[{"kind":"anon"}]}}]}"#) == "steps[0].start_actor.copies")
        let copies = try WorkloadDefinition(json: try JSON.parse(#"{"steps":[{"start_actor":{"name":"a","rate_per_ms":16.667,"copies":{"per_memtotal_mib":400,"plus":1},"mix":[{"kind":"anon"}]}}]}"#))
        guard case .startActor(let cs) = copies.steps[0] else { Issue.record("not an actor"); return }
        #expect(cs.copies == ActorCopies(memTotalMiBPerCopy: 400, plus: 1))
        #expect(field(#"{"steps":[{"fill":{},"free":{}}]}"#) == "steps[0]")
        let order = WorkloadDefinition(name: "x", steps: [.highAlloc(HighAllocSpec(order: 12, total: .count(1)))])
        #expect(throws: MMError.orderOutOfRange(field: FieldPath("steps").index(0).key("high_alloc").key("order"), order: 12, max: 10)) {
            try order.validate(for: MachineConfig(memoryMiB: 64))
        }
    }
}
