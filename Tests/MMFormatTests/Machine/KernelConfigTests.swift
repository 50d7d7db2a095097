import MMFormat
import XCTest
@testable import MMCore

/// A machine's `kernel`: parsing, validation naming the field, the JSON the old kernels keep, the
/// experiment rule that `kernel` and `compaction` are one field.
final class KernelConfigTests: XCTestCase {
    func field(_ json: String) -> String? {
        do { _ = try MachineConfig(json: try JSON.parse(json)); return nil } catch let e as MMError { return e.jsonField } catch { return "?" }
    }

    func testKernelAndCompactionAreOneField() throws {
        XCTAssertEqual(try MachineConfig(json: try JSON.parse(#"{"memory_mib": 64}"#)).kernel, .v2_6_35)
        XCTAssertEqual(try MachineConfig(json: try JSON.parse(#"{"memory_mib": 64, "compaction": false}"#)).kernel, .v2_6_34)
        XCTAssertEqual(try MachineConfig(json: try JSON.parse(#"{"memory_mib": 64, "kernel": "6.6"}"#)).kernel, .v6_6)
        XCTAssertEqual(try MachineConfig(json: try JSON.parse(#"{"memory_mib": 64, "kernel": "2.6.34"}"#)).compaction, false)
        XCTAssertEqual(try MachineConfig(json: try JSON.parse(#"{"memory_mib": 64, "kernel": "6.6", "compaction": true}"#)).kernel, .v6_6)
        XCTAssertEqual(field(#"{"memory_mib": 64, "kernel": "6.6", "compaction": false}"#), "kernel")
        XCTAssertEqual(field(#"{"memory_mib": 64, "kernel": "5.10"}"#), "kernel")
        XCTAssertEqual(field(#"{"memory_mib": 64, "kernel": 6}"#), "kernel")
        var c = MachineConfig(memoryMiB: 64, kernel: .v6_6)
        c.compaction = true
        XCTAssertEqual(c.kernel, .v6_6, "compaction true leaves a kernel with compaction as it is")
        c.compaction = false
        XCTAssertEqual(c.kernel, .v2_6_34)
        c.compaction = true
        XCTAssertEqual(c.kernel, .v2_6_35)
    }

    func testModernSettingsOnlyOnSixSix() throws {
        XCTAssertEqual(field(#"{"memory_mib": 64, "sysctl": {"compaction_proactiveness": 0}}"#), "sysctl.compaction_proactiveness")
        XCTAssertEqual(field(#"{"memory_mib": 64, "kernel": "2.6.34", "sysctl": {"watermark_scale_factor": 10}}"#), "sysctl.watermark_scale_factor")
        XCTAssertEqual(field(#"{"memory_mib": 64, "transparent_hugepage": {"defrag": "always"}}"#), "transparent_hugepage")
        XCTAssertEqual(field(#"{"memory_mib": 64, "kernel": "6.6", "sysctl": {"compaction_proactiveness": 101}}"#), "sysctl.compaction_proactiveness")
        XCTAssertEqual(field(#"{"memory_mib": 64, "kernel": "6.6", "sysctl": {"watermark_scale_factor": 0}}"#), "sysctl.watermark_scale_factor")
        XCTAssertEqual(field(#"{"memory_mib": 64, "kernel": "6.6", "transparent_hugepage": {"defrag": "sometimes"}}"#), "transparent_hugepage.defrag")
        let c = try MachineConfig(json: try JSON.parse(#"{"memory_mib": 64, "kernel": "6.6", "sysctl": {"compaction_proactiveness": 0, "watermark_boost_factor": 0}, "transparent_hugepage": {"defrag": "defer+madvise"}}"#))
        let m = try Machine(c)
        XCTAssertEqual(m.compactionProactiveness, 0)
        XCTAssertEqual(m.watermarkBoostFactor, 0)
        XCTAssertEqual(m.thpDefrag, .deferMadvise)
        XCTAssertEqual(m.thpEnabled, .always)
        let old = try Machine(MachineConfig(memoryMiB: 64))
        XCTAssertThrowsError(try old.setCompactionProactiveness(10))
        XCTAssertThrowsError(try old.setTHPDefrag(.always))
    }

    func testConfigJSONOfTheOldKernelsIsUnchangedAndSixSixRoundTrips() throws {
        let old = MachineConfig(memoryMiB: 64)
        XCTAssertFalse(old.json.encoded.contains("kernel"))
        XCTAssertFalse(MachineConfig(memoryMiB: 64, compaction: false).json.encoded.contains("kernel"))
        var s = SysctlSettings()
        s.modern.compactionProactiveness = 0
        let modern = MachineConfig(memoryMiB: 64, kernel: .v6_6, sysctl: s, transparentHugepage: TransparentHugepageSettings(defrag: .never))
        let text = modern.json.encoded
        XCTAssertTrue(text.contains(#""kernel":"6.6""#), text)
        XCTAssertEqual(try MachineConfig(json: try JSON.parse(text)), modern)
    }

    func testExperimentVariantsSpellTheKernelEitherWay() throws {
        let e = try Experiment(json: try JSON.parse("""
            {"template": {"memory_mib": 64, "compaction": true, "seed": 3},
             "variants": [{"name": "a", "kernel": "2.6.34"}, {"name": "b", "kernel": "6.6", "sysctl": {"compaction_proactiveness": 0}},
                          {"name": "c", "compaction": false}],
             "workload": {"steps": [{"fill": {"kind": "anon", "fraction": 0.2, "tag": "x"}}]}}
            """))
        XCTAssertEqual(e.variants.map(\.config.kernel), [.v2_6_34, .v6_6, .v2_6_34])
        let t = try Experiment(json: try JSON.parse("""
            {"template": {"memory_mib": 64, "kernel": "6.6"},
             "variants": [{"name": "a"}, {"name": "b", "compaction": false}],
             "workload": {"steps": [{"fill": {"kind": "anon", "fraction": 0.2, "tag": "x"}}]}}
            """))
        XCTAssertEqual(t.variants.map(\.config.kernel), [.v6_6, .v2_6_34])
        // The table gains the modern columns only with a 6.6 variant.
        let r = try t.run()
        XCTAssertTrue(r.columnNames.contains("compact_daemon_wake"))
        XCTAssertEqual(r.rows[0].count, r.columnNames.count)
        XCTAssertEqual(r.rows.map { $0[ExperimentResult.columns.count] }, ["6.6", "2.6.34"])
        let old = try Experiment(json: try JSON.parse("""
            {"template": {"memory_mib": 64}, "variants": [{"name": "a"}, {"name": "b", "compaction": false}],
             "workload": {"steps": [{"fill": {"kind": "anon", "fraction": 0.2, "tag": "x"}}]}}
            """)).run()
        XCTAssertEqual(old.columnNames, ExperimentResult.columns)
    }
}
