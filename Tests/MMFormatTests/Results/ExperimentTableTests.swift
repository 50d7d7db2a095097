import Testing
import MMCore
@testable import MMFormat

/// An experiment's result table, CSV and Markdown: one row per variant, the columns named once.
@Suite struct ExperimentTableTests {
    @Test func experimentTablesHaveOneRowPerVariant() throws {
        let e = try Experiment(json: try JSON.parse("""
            {"template": {"memory_mib": 64}, "variants": [{"name": "vanilla", "compaction": false}, {"name": "t0", "sysctl": {"extfrag_threshold": 0}}],
             "workload": {"steps": [{"fill": {"kind": "anon", "fraction": 1.0, "tag": "a"}}, {"free": {"tag": "a", "pattern": "random", "fraction": 0.6}},
                                    {"high_alloc": {"count": 5, "stop_on_failure": false}}]}}
            """))
        #expect(e.variants[1].config.sysctl.extfragThreshold == 0)
        #expect(e.variants[1].config.memoryMiB == 64)
        let r = try e.run()
        #expect(r.rows.count == 2)
        #expect(r.csv.split(separator: "\n").count == 3)
        #expect(r.markdown.hasPrefix("| " + ExperimentResult.columns.joined(separator: " | ") + " |"))
        let stall = try #require(ExperimentResult.columns.firstIndex(of: "compact_stall"))
        #expect(r.rows[0][stall] == "0")      // vanilla never stalls in compaction
    }
}
