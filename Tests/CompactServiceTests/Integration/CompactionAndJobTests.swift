@testable import CompactServiceKit
import Foundation
import MMCore
import MMFormat
import XCTest

/// Compaction triggers, workloads, experiments and jobs over real HTTP.
final class CompactionAndJobTests: XCTestCase {
    var ts: TestServer!
    var c: HTTPClient { ts.client }

    override func setUpWithError() throws { ts = try TestServer() }
    override func tearDown() { ts.stop() }

    /// Fills the machine with order-0 anon pages and frees most of them at random.
    func fragment(_ name: String) throws {
        let r = try c.post("/v1/machines/\(name)/allocations", json: #"{"order":0,"count":60000,"kind":"anon","tag":"f"}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try c.post("/v1/machines/\(name)/allocations/free", json: #"{"tag":"f","pattern":"random","fraction":0.8,"seed":3}"#).status, 200)
    }

    func testCompactReportsPerZoneResultsAndIndices() throws {
        XCTAssertEqual(try ts.createMachine("c1", memoryMiB: 256).status, 201)
        try fragment("c1")
        let r = try c.request("POST", "/v1/machines/c1/compact")
        XCTAssertEqual(r.status, 200, r.text)
        let zones = r.json["zones"] as? [[String: Any]] ?? []
        XCTAssertEqual(zones.map { $0["zone"] as? String }, ["DMA", "DMA32"])
        XCTAssertTrue(zones.allSatisfy { $0["result"] as? String == "COMPACT_COMPLETE" })
        let dma32 = zones[1]
        XCTAssertGreaterThan(dma32["migrated"] as? Int ?? 0, 0)
        let before = (dma32["before"] as? [String: Any])?["free_blocks"] as? [Int] ?? []
        let after = (dma32["after"] as? [String: Any])?["free_blocks"] as? [Int] ?? []
        XCTAssertEqual(before.count, 11)
        XCTAssertGreaterThan(after[9] + after[10], before[9] + before[10])
        XCTAssertGreaterThan((r.json["vmstat_delta"] as? [String: Any])?["compact_pages_moved"] as? Int ?? 0, 0)
        // The kernel text reflects it.
        XCTAssertTrue(try c.get("/v1/machines/c1/proc/vmstat").text.contains("\ncompact_pages_moved "))
        // Kernel-shaped writes: 204, nothing printed.
        XCTAssertEqual(try c.put("/v1/machines/c1/proc/sys/vm/compact_memory", text: "1\n").status, 204)
        XCTAssertEqual(try c.put("/v1/machines/c1/sys/devices/system/node/node0/compact", text: "1").status, 204)
        XCTAssertEqual(try c.put("/v1/machines/c1/sys/devices/system/node/node1/compact", text: "1").status, 404)
        XCTAssertEqual(try c.put("/v1/machines/c1/sys/devices/system/node/nodeX/compact", text: "1").status, 404)
        let node = try c.request("POST", "/v1/machines/c1/nodes/0/compact")
        XCTAssertEqual(node.status, 200)
        XCTAssertEqual(node.json["node"] as? Int, 0)
        XCTAssertEqual(try c.request("POST", "/v1/machines/c1/nodes/5/compact").status, 404)
        XCTAssertEqual(try c.request("POST", "/v1/machines/c1/nodes/x/compact").status, 400)
        XCTAssertEqual(try c.request("GET", "/v1/machines/c1/compact").status, 405)
    }

    func testVanillaMachineHasNoCompaction() throws {
        XCTAssertEqual(try ts.createMachine("v1", memoryMiB: 64, extra: ",\"compaction\":false").status, 201)
        let r = try c.request("POST", "/v1/machines/v1/compact")
        XCTAssertEqual(r.status, 409)
        XCTAssertEqual(r.json["field"] as? String, "compaction")
        XCTAssertEqual(try c.put("/v1/machines/v1/proc/sys/vm/compact_memory", text: "1").status, 404)
    }

    func testStatsAnswerWhileACompactionRuns() throws {
        XCTAssertEqual(try ts.createMachine("big", memoryMiB: 2048).status, 201)
        let r = try c.post("/v1/machines/big/allocations", json: #"{"order":0,"count":262144,"kind":"anon","tag":"f"}"#)
        XCTAssertEqual(r.status, 200)
        _ = try c.post("/v1/machines/big/allocations/free", json: #"{"tag":"f","pattern":"random","fraction":0.85,"seed":1}"#)
        let done = DispatchSemaphore(value: 0)
        let port = ts.port
        DispatchQueue.global().async {
            _ = try? HTTPClient(port: port).request("POST", "/v1/machines/big/compact")
            done.signal()
        }
        var slowest = 0.0, reads = 0
        while done.wait(timeout: .now()) == .timedOut {
            let t0 = Date()
            XCTAssertEqual(try c.get("/v1/machines/big/stats").status, 200)
            slowest = max(slowest, Date().timeIntervalSince(t0))
            reads += 1
        }
        XCTAssertGreaterThan(reads, 0)
        XCTAssertLessThan(slowest, 2.0, "a stats read waited \(slowest) s")
    }

    func testWorkloadJobRunsAndReportsWithWait() throws {
        XCTAssertEqual(try ts.createMachine("w", memoryMiB: 256).status, 201)
        let def = #"{"name":"tiny","seed":3,"steps":[{"fill":{"kind":"anon","fraction":0.6,"tag":"a"}},{"free":{"tag":"a","pattern":"every_other"}},{"sample":{"name":"mid"}},{"high_alloc":{"count":20,"stop_on_failure":false}},{"compact":{}},{"sample":{"name":"end"}}]}"#
        let r = try c.post("/v1/machines/w/workloads?wait=true", json: def)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json["state"] as? String, "succeeded")
        let result = r.json["result"] as? [String: Any] ?? [:]
        XCTAssertEqual((result["high_alloc"] as? [String: Any])?["attempts"] as? Int, 20)
        XCTAssertEqual((result["samples"] as? [[String: Any]])?.map { $0["name"] as? String }, ["mid", "end"])
        let id = r.json["id"] as! String
        let csv = try c.get("/v1/jobs/\(id)/result?format=csv")
        XCTAssertEqual(csv.status, 200)
        XCTAssertTrue(csv.text.hasPrefix("variant,seed,preset,memory_mib,"))
        XCTAssertTrue(try c.get("/v1/jobs/\(id)/result?format=markdown").text.hasPrefix("| variant |"))
        XCTAssertEqual(try c.get("/v1/jobs/\(id)/result?format=xml").status, 422)
        XCTAssertEqual(try c.delete("/v1/jobs/\(id)").status, 204)
        XCTAssertEqual(try c.get("/v1/jobs/\(id)").status, 404)
    }

    func testBadWorkloadIsRefusedWithThePathBeforeAnythingRuns() throws {
        XCTAssertEqual(try ts.createMachine("b", memoryMiB: 64).status, 201)
        let cases: [(String, String)] = [
            (#"{"steps":[{"fill":{"kind":"anon","fraction":0.5,"tag":"x"}},{"high_alloc":{"order":11,"count":1}}]}"#, "steps[1].high_alloc.order"),
            (#"{"steps":[{"fill":{"kind":"bogus","fraction":0.5,"tag":"x"}}]}"#, "steps[0].fill.kind"),
            (#"{"steps":[{"explode":{}}]}"#, "steps[0]"),
            (#"{"steps":[{"stop_actor":{"name":"nobody"}}]}"#, "steps[0].stop_actor.name"),
            (#"{"steps":[],"extra":1}"#, "extra"),
            (#"{"preset":"nope"}"#, "preset"),
        ]
        for (body, field) in cases {
            let r = try c.post("/v1/machines/b/workloads", json: body)
            XCTAssertEqual(r.status, 422, body)
            XCTAssertEqual(r.json["field"] as? String, field, body)
        }
        XCTAssertEqual((try c.get("/v1/jobs").json["jobs"] as? [Any])?.count, 0)
        XCTAssertEqual(try c.post("/v1/machines/nope/workloads", json: #"{"preset":"proactive-frag"}"#).status, 404)
    }

    func testExperimentComparesVariantsOnTheSameSeed() throws {
        let body = #"{"template":{"preset":"x86_64","memory_mib":128,"seed":2},"variants":[{"name":"vanilla","compaction":false},{"name":"compaction"}],"workload":{"name":"w","steps":[{"fill":{"kind":"anon","fraction":1.0,"tag":"a"}},{"free":{"tag":"a","pattern":"random","fraction":0.7,"seed":1}},{"high_alloc":{"count":10,"stop_on_failure":false}}]}}"#
        let r = try c.post("/v1/experiments", json: body)
        XCTAssertEqual(r.status, 202, r.text)
        let id = r.json["id"] as! String
        XCTAssertEqual(r.header("Location"), "/v1/jobs/\(id)")
        let done = try c.get("/v1/jobs/\(id)?wait=true")
        XCTAssertEqual(done.json["state"] as? String, "succeeded", done.text)
        let result = done.json["result"] as? [String: Any]
        let columns = result?["columns"] as? [String] ?? []
        let rows = result?["rows"] as? [[String]] ?? []
        // Columns by name, so a new column cannot silently shift what is checked.
        func column(_ name: String) -> [String] {
            guard let i = columns.firstIndex(of: name) else {
                XCTFail("no column \(name) in \(columns)")
                return []
            }
            return rows.map { $0[i] }
        }
        XCTAssertEqual(column("variant"), ["vanilla", "compaction"])
        XCTAssertEqual(column("compaction"), ["no", "yes"])
        // Vanilla never compacts; the compaction kernel stalls in compaction at least once.
        let stalls = column("compact_stall")
        XCTAssertEqual(stalls.first, "0")
        XCTAssertNotEqual(stalls.last, "0")
        XCTAssertEqual(try c.post("/v1/experiments", json: #"{"variants":[],"preset":"proactive-frag"}"#).status, 422)
        let bad = try c.post("/v1/experiments", json: #"{"variants":[{"name":"a","preset":"vax"}],"preset":"proactive-frag"}"#)
        XCTAssertEqual(bad.json["field"] as? String, "variants[0].preset")
    }

    func testRepeatedExperimentRunsEverySeedInParallelAndSummarises() throws {
        let text = #"{"template":{"preset":"x86_64","memory_mib":128,"seed":5},"variants":[{"name":"vanilla","compaction":false},{"name":"compaction"}],"repeat":3,"workload":{"name":"w","seed":9,"steps":[{"fill":{"kind":"anon","fraction":1.0,"tag":"a"}},{"free":{"tag":"a","pattern":"random","fraction":0.7,"seed":1}},{"high_alloc":{"count":10,"stop_on_failure":false}}]}}"#
        let r = try c.post("/v1/experiments", json: text)
        XCTAssertEqual(r.status, 202, r.text)
        let done = try c.get("/v1/jobs/\(r.json["id"] as! String)?wait=true&timeout_s=60")
        XCTAssertEqual(done.json["state"] as? String, "succeeded", done.text)
        let result = done.json["result"] as? [String: Any] ?? [:]
        XCTAssertEqual(result["repeat"] as? Int, 3)
        let columns = result["columns"] as? [String] ?? []
        let rows = result["rows"] as? [[String]] ?? []
        let vi = columns.firstIndex(of: "variant")!, si = columns.firstIndex(of: "seed")!
        // Variant by variant, seeds 5, 6, 7: the same whichever lane ran which unit.
        XCTAssertEqual(rows.map { $0[vi] + "/" + $0[si] }, ["vanilla/5", "vanilla/6", "vanilla/7", "compaction/5", "compaction/6", "compaction/7"])
        // The same figures as the experiment run sequentially in MMCore.
        let sequential = try Experiment(json: try JSON.parse(text)).run()
        XCTAssertEqual(rows, sequential.rows)
        let summary = result["summary"] as? [[String: Any]] ?? []
        XCTAssertEqual(summary.count, 2)
        let figures = summary.last?["figures"] as? [String: Any] ?? [:]
        let pct = figures["request_pct"] as? [String: Any] ?? [:]
        XCTAssertEqual((pct["values"] as? [Any])?.count, 3)
        XCTAssertEqual(pct["n"] as? Int, 3)
        XCTAssertNotNil((pct["difference_from_first"] as? [String: Any])?["ci95_low"])
        XCTAssertTrue((summary.first?["figures"] as? [String: Any])?["request_pct"].map { ($0 as? [String: Any])?["difference_from_first"] is NSNull } ?? false)
        // CSV and Markdown carry the summary table too.
        let csv = try c.get("/v1/jobs/\(r.json["id"] as! String)/result?format=csv").text
        XCTAssertTrue(csv.contains("variant,figure,n,mean,sd,ci95_low,ci95_high,diff_mean,diff_ci95_low,diff_ci95_high"), csv)
        let bad = try c.post("/v1/experiments", json: #"{"variants":[{"name":"a"}],"preset":"proactive-frag","repeat":0}"#)
        XCTAssertEqual(bad.status, 422)
        XCTAssertEqual(bad.json["field"] as? String, "repeat")
    }

    func testCancelAJob() throws {
        XCTAssertEqual(try ts.createMachine("k", memoryMiB: 512).status, 201)
        let r = try c.post("/v1/machines/k/workloads", json: #"{"steps":[{"start_actor":{"name":"a","rate_per_ms":50,"mix":[{"kind":"anon","lifetime_ms":5}]}},{"run":{"ms":100000000}}]}"#)
        XCTAssertEqual(r.status, 202)
        let id = r.json["id"] as! String
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(try c.delete("/v1/jobs/\(id)").status, 202)
        let done = try c.get("/v1/jobs/\(id)?wait=true&timeout_s=30")
        XCTAssertEqual(done.json["state"] as? String, "cancelled", done.text)
        // The machine is still consistent and usable.
        XCTAssertEqual(try c.get("/v1/machines/k/stats").status, 200)
    }

    func testPresetsAreListed() throws {
        let r = try c.get("/v1/workload-presets")
        let names = (r.json["presets"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        XCTAssertEqual(names, ["seed-easy-hugepages", "seed-highalloc-stress", "kselftest-compaction", "proactive-frag", "thpcompact", "proactive-gupta"])
        XCTAssertEqual(try c.get("/v1/workload-presets/proactive-frag").status, 200)
        XCTAssertEqual(try c.get("/v1/workload-presets/none").status, 404)
    }
}
