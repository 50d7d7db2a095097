import MMFormat
import Foundation
import XCTest
@testable import MMCore

/// THP faults as a workload kind, the new presets on the three kernels, the modern example experiments.
final class ModernWorkloadTests: XCTestCase {
    func testTHPGfpMaskFollowsDefrag() throws {
        let m = try ModernCompactionTests.modern(64)
        // vma_thp_gfp_mask (mm/huge_memory.c of 6.6).
        try m.setTHPDefrag(.always)
        XCTAssertEqual(m.thpGfpMask(madvised: true), .transhuge)
        XCTAssertEqual(m.thpGfpMask(madvised: false), GFPFlags.transhuge.union(.noretry))
        try m.setTHPDefrag(.defer)
        XCTAssertEqual(m.thpGfpMask(madvised: true), GFPFlags.transhugeLight.subtracting(.noKswapd))
        try m.setTHPDefrag(.deferMadvise)
        XCTAssertEqual(m.thpGfpMask(madvised: true), .transhuge)
        XCTAssertEqual(m.thpGfpMask(madvised: false), GFPFlags.transhugeLight.subtracting(.noKswapd))
        try m.setTHPDefrag(.madvise)
        XCTAssertEqual(m.thpGfpMask(madvised: true), .transhuge)
        XCTAssertEqual(m.thpGfpMask(madvised: false), .transhugeLight)
        try m.setTHPDefrag(.never)
        XCTAssertEqual(m.thpGfpMask(madvised: true), .transhugeLight)
        XCTAssertFalse(GFPFlags.transhugeLight.contains(.wait))
        XCTAssertTrue(GFPFlags.transhuge.contains(.wait))
    }

    func testTHPFaultsCountAndFallBack() throws {
        let def = try WorkloadDefinition(json: try JSON.parse("""
            {"steps": [{"fill": {"kind": "anon", "fraction": 1.0, "tag": "f"}}, {"keep_one_in": {"tag": "f", "period": 4}},
                       {"high_alloc": {"count": 40, "stop_on_failure": false, "thp": {"madvise": false}, "tag": "thp"}}]}
            """))
        var s = SysctlSettings()
        s.modern.compactionProactiveness = 0
        let m = try Machine(MachineConfig(memoryMiB: 128, seed: 2, kernel: .v6_6, sysctl: s,
                                          transparentHugepage: TransparentHugepageSettings(enabled: .always, defrag: .never)))
        let r = try m.runWorkload(def)
        // defrag=never: GFP_TRANSHUGE_LIGHT never compacts; every fault counted either way.
        XCTAssertEqual(r.delta(\.thpFaultAlloc) + r.delta(\.thpFaultFallback), 40)
        XCTAssertEqual(r.delta(\.compactStall), 0)
        // Fallbacks faulted base pages under the tag.
        XCTAssertEqual(m.handles(ofTag: "thp").count, r.highAllocSuccesses + Int(r.delta(\.thpFaultFallback)) * 512)
        assertConsistent(m)
        // enabled=madvise and a mapping without MADV_HUGEPAGE: no huge page attempt at all.
        try m.setTHPEnabled(.madvise)
        let before = m.counters
        _ = try m.runWorkload(def)
        XCTAssertEqual(m.counters.thpFaultAlloc + m.counters.thpFaultFallback, before.thpFaultAlloc + before.thpFaultFallback)
        // The old kernels have no thp_* counters.
        let old = try Machine(MachineConfig(memoryMiB: 128, seed: 2))
        let ro = try old.runWorkload(def)
        XCTAssertEqual(ro.highAllocAttempts, 40)
        XCTAssertEqual(ro.delta(\.thpFaultAlloc), 0)
    }

    func testNewPresetsRunOnEveryKernel() throws {
        for k in KernelRelease.allCases {
            for p in ["thpcompact", "proactive-gupta"] {
                let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 256, seed: 1, kernel: k))
                let r = try m.runWorkload(WorkloadPresets.definition(named: p)!)
                XCTAssertEqual(r.stepsDone, WorkloadPresets.definition(named: p)!.steps.count, "\(p) on \(k.name)")
                XCTAssertGreaterThan(r.highAllocAttempts, 0)
                assertConsistent(m, "\(p) on \(k.name)")
            }
        }
    }

    func testModernExampleExperimentsParse() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/modern")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 4)
        for f in files {
            let e = try Experiment(json: try JSON.parse(try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)))
            XCTAssertGreaterThanOrEqual(e.variants.count, 2, f)
            XCTAssertTrue(e.variants.contains { $0.config.kernel.isModern }, f)
        }
    }
}
