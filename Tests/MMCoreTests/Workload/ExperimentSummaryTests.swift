import MMFormat
import XCTest
@testable import MMCore

/// Repeated seeds and their summaries (ExperimentSummary.swift, Experiment.swift).
final class ExperimentSummaryTests: XCTestCase {
    func testMeanSdAndStudentInterval() {
        let s = FigureSummary([1, 2, 3, 4, 5])
        XCTAssertEqual(s.n, 5)
        XCTAssertEqual(s.mean, 3)
        XCTAssertEqual(s.sd, (2.5).squareRoot(), accuracy: 1e-12)
        // t(0.975, 4) = 2.776.
        XCTAssertEqual(s.ciHigh - s.mean, 2.776 * (2.5).squareRoot() / (5.0).squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(s.mean - s.ciLow, s.ciHigh - s.mean, accuracy: 1e-12)
        let one = FigureSummary([7])
        XCTAssertEqual(one.sd, 0)
        XCTAssertEqual(one.ciLow, 7)
        XCTAssertEqual(FigureSummary.t975(df: 1), 12.706)
        XCTAssertEqual(FigureSummary.t975(df: 100), 1.984, accuracy: 0.001)
    }

    func testRepeatRunsSeedsAndPairsDifferences() throws {
        let e = try Experiment(json: try JSON.parse("""
            {"template": {"preset": "x86_64", "memory_mib": 64, "seed": 3}, "repeat": 3,
             "variants": [{"name": "vanilla", "compaction": false}, {"name": "compaction"}],
             "workload": {"seed": 11, "steps": [{"fill": {"kind": "anon", "fraction": 1.0, "tag": "a"}},
                                                {"free": {"tag": "a", "pattern": "random", "fraction": 0.6, "seed": 2}},
                                                {"high_alloc": {"count": 8, "stop_on_failure": false}}]}}
            """))
        XCTAssertEqual(e.repeatCount, 3)
        XCTAssertEqual(e.unit(variant: 1, replicate: 2).config.seed, 5)
        XCTAssertEqual(e.unit(variant: 1, replicate: 2).workload.seed, 13)
        let r = try e.run()
        XCTAssertEqual(r.repeatCount, 3)
        XCTAssertEqual(r.rows.count, 6)
        XCTAssertEqual(r.replicates[0].map(\.machine.seed), [3, 4, 5])
        let s = r.summary
        let i = ExperimentFigures.all.firstIndex { $0.name == "compact_stall" }!
        XCTAssertEqual(s[0].figures[i].mean, 0, "vanilla never compacts")
        XCTAssertNil(s[0].differenceFromFirst)
        // The paired difference is the mean of per-seed differences.
        let d = s[1].differenceFromFirst![i]
        XCTAssertEqual(d.mean, zip(s[1].values[i], s[0].values[i]).map { $0 - $1 }.reduce(0, +) / 3, accuracy: 1e-9)
        XCTAssertTrue(r.csv.contains("\nvariant,figure,n,mean,sd,ci95_low,ci95_high,diff_mean,diff_ci95_low,diff_ci95_high\n"))
        XCTAssertTrue(r.markdown.contains("| variant | figure | n |"))
        // One seed keeps one table.
        var one = e
        one.repeatCount = 1
        XCTAssertFalse(try one.run().csv.contains("figure"))
        // Same seeds, same bytes.
        XCTAssertEqual(try e.run().json.encoded, r.json.encoded)
    }

    func testRequestShareCountsTheWholeRequest() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let d = try WorkloadDefinition(json: try JSON.parse("""
            {"steps": [{"fill": {"kind": "kernel", "fraction": 0.9, "tag": "k"}},
                       {"high_alloc": {"count": 20, "increment_fraction": 0.01}}]}
            """))
        let r = try m.runWorkload(d)
        XCTAssertEqual(r.requested, 20)
        XCTAssertEqual(r.requestPercent, 100 * Double(r.highAllocSuccesses) / 20)
        XCTAssertLessThanOrEqual(r.highAllocAttempts, 20)
    }

    /// A spread experiment's parts (seed offsets, `part_of`), merged through their result documents'
    /// exact records, give the whole run's JSON, CSV and Markdown byte for byte, on both kernels'
    /// column sets.
    func testPartsMergedThroughTheirDocumentsEqualTheWholeRun() throws {
        for kernel in ["2.6.35", "6.6"] {
            func definition(_ extra: String) -> String {
                """
                {"name": "sweep", "template": {"preset": "x86_64", "memory_mib": 64, "seed": 3, "kernel": "\(kernel)"}, \(extra)
                 "variants": [{"name": "vanilla", "compaction": false}, {"name": "compaction"}],
                 "workload": {"seed": 11, "steps": [{"fill": {"kind": "anon", "fraction": 1.0, "tag": "a"}},
                                                    {"free": {"tag": "a", "pattern": "random", "fraction": 0.6, "seed": 2}},
                                                    {"high_alloc": {"count": 8, "stop_on_failure": false}}]}}
                """
            }
            let whole = try Experiment(json: try JSON.parse(definition("\"repeat\": 5,"))).run()
            var merged = try Experiment(json: try JSON.parse(definition("\"repeat\": 2,"))).run()
            for (offset, count) in [(2, 2), (4, 1)] {
                let part = try Experiment(json: try JSON.parse(definition("\"repeat\": \(count), \"seed_offset\": \(offset), \"part_of\": \"sweep\",")))
                XCTAssertEqual(part.unit(variant: 0, replicate: 0).config.seed, 3 + UInt64(offset))
                let doc = try JSON.parse(try part.run().json.encoded)
                merged.append(laterParts: try merged.exactRecords(ofPart: doc, path: FieldPath("parts").index(offset)))
            }
            XCTAssertEqual(merged.repeatCount, 5)
            XCTAssertEqual(merged.json.encoded, whole.json.encoded, kernel)
            XCTAssertEqual(merged.csv, whole.csv, kernel)
            XCTAssertEqual(merged.markdown, whole.markdown, kernel)
            XCTAssertNil(whole.json["replicates_exact"], "only a part carries the exact records")
            // A part's document of another experiment's shape is refused, naming where.
            let other = try JSON.parse(#"{"replicates_exact": [[{"row": ["x"], "figures": []}]]}"#)
            XCTAssertThrowsError(try merged.exactRecords(ofPart: other, path: FieldPath("parts").index(1))) { e in
                XCTAssertTrue("\(e)".contains("parts[1].replicates_exact"), "\(e)")
            }
        }
    }
}
