@testable import CompactServiceKit
import Foundation
import XCTest

/// A kernel 6.6 machine over HTTP: the `kernel` field in and out, problems naming the field, the files
/// only 6.6 has (404 elsewhere), compact_memory's EINVAL, the stats document's 6.6 parts.
final class ModernKernelAPITests: XCTestCase {
    var ts: TestServer!
    var c: HTTPClient { ts.client }

    override func setUpWithError() throws { ts = try TestServer() }
    override func tearDown() { ts.stop() }

    func testKernelFieldAndProblems() throws {
        let m = try ts.createMachine("k", memoryMiB: 256, extra: #","kernel":"6.6","sysctl":{"compaction_proactiveness":0}"#)
        XCTAssertEqual(m.status, 201, m.text)
        XCTAssertEqual(m.json["kernel"] as? String, "6.6")
        XCTAssertEqual(m.json["compaction"] as? Bool, true)
        XCTAssertEqual((m.json["sysctl"] as? [String: Any])?["compaction_proactiveness"] as? Int, 0)
        XCTAssertEqual((m.json["transparent_hugepage"] as? [String: Any])?["defrag"] as? String, "madvise")
        let old = try ts.createMachine("o", memoryMiB: 64)
        XCTAssertEqual(old.json["kernel"] as? String, "2.6.35")
        XCTAssertNil((old.json["sysctl"] as? [String: Any])?["compaction_proactiveness"])
        for (extra, field) in [(#","kernel":"4.4""#, "kernel"), (#","kernel":"6.6","compaction":false"#, "kernel"),
                               (#","sysctl":{"watermark_scale_factor":20}"#, "sysctl.watermark_scale_factor"),
                               (#","kernel":"6.6","transparent_hugepage":{"defrag":"maybe"}"#, "transparent_hugepage.defrag")] {
            let bad = try ts.createMachine("bad", memoryMiB: 64, extra: extra)
            XCTAssertEqual(bad.status, 422, extra)
            XCTAssertEqual(bad.header("Content-Type"), "application/problem+json")
            XCTAssertEqual(bad.json["field"] as? String, field, extra)
        }
    }

    func testModernFiles() throws {
        XCTAssertEqual(try ts.createMachine("k", memoryMiB: 256, extra: #","kernel":"6.6""#).status, 201)
        XCTAssertEqual(try ts.createMachine("o", memoryMiB: 64).status, 201)
        XCTAssertEqual(try c.get("/v1/machines/k/proc/sys/vm/compaction_proactiveness").text, "20\n")
        XCTAssertEqual(try c.get("/v1/machines/k/proc/sys/vm/watermark_boost_factor").text, "15000\n")
        XCTAssertEqual(try c.get("/v1/machines/k/proc/sys/vm/watermark_scale_factor").text, "10\n")
        XCTAssertEqual(try c.put("/v1/machines/k/proc/sys/vm/watermark_scale_factor", text: "100\n").text, "100\n")
        XCTAssertEqual(try c.put("/v1/machines/k/proc/sys/vm/compaction_proactiveness", text: "101").status, 422)
        XCTAssertEqual(try c.get("/v1/machines/k/sys/kernel/mm/transparent_hugepage/defrag").text, "always defer defer+madvise [madvise] never\n")
        XCTAssertEqual(try c.put("/v1/machines/k/sys/kernel/mm/transparent_hugepage/defrag", text: "defer+madvise\n").text,
                       "always defer [defer+madvise] madvise never\n")
        XCTAssertEqual(try c.get("/v1/machines/k/sys/kernel/mm/transparent_hugepage/enabled").text, "[always] madvise never\n")
        XCTAssertEqual(try c.put("/v1/machines/k/sys/kernel/mm/transparent_hugepage/enabled", text: "sometimes").json["field"] as? String, "enabled")
        // The old kernels have none of these files.
        XCTAssertEqual(try c.get("/v1/machines/o/proc/sys/vm/compaction_proactiveness").status, 404)
        XCTAssertEqual(try c.put("/v1/machines/o/proc/sys/vm/watermark_scale_factor", text: "10").status, 404)
        XCTAssertEqual(try c.get("/v1/machines/o/sys/kernel/mm/transparent_hugepage/defrag").status, 404)
        // And 6.6 has no hugepages_treat_as_movable (its hugetlb pages are movable where they can migrate).
        XCTAssertEqual(try c.get("/v1/machines/o/proc/sys/vm/hugepages_treat_as_movable").text, "0\n")
        let gone = try c.get("/v1/machines/k/proc/sys/vm/hugepages_treat_as_movable")
        XCTAssertEqual(gone.status, 404)
        XCTAssertEqual(gone.header("Content-Type"), "application/problem+json")
        XCTAssertEqual(try c.put("/v1/machines/k/proc/sys/vm/hugepages_treat_as_movable", text: "1").status, 404)
        XCTAssertNil((try c.get("/v1/machines/k").json["sysctl"] as? [String: Any])?["hugepages_treat_as_movable"])
        XCTAssertEqual((try c.get("/v1/machines/o").json["sysctl"] as? [String: Any])?["hugepages_treat_as_movable"] as? Int, 0)
        let refused = try ts.createMachine("bad", memoryMiB: 64, extra: #","kernel":"6.6","sysctl":{"hugepages_treat_as_movable":1}"#)
        XCTAssertEqual(refused.status, 422)
        XCTAssertEqual(refused.json["field"] as? String, "sysctl.hugepages_treat_as_movable")
        // compact_memory: 6.6 takes only 1; the seed takes anything.
        let e = try c.put("/v1/machines/k/proc/sys/vm/compact_memory", text: "2\n")
        XCTAssertEqual(e.status, 422)
        XCTAssertEqual(e.json["field"] as? String, "compact_memory")
        XCTAssertEqual(try c.put("/v1/machines/k/proc/sys/vm/compact_memory", text: "1\n").status, 204)
        XCTAssertEqual(try c.put("/v1/machines/o/proc/sys/vm/compact_memory", text: "2\n").status, 204)
        // /proc text of 6.6.
        XCTAssertTrue(try c.get("/v1/machines/k/proc/pagetypeinfo").text.contains("HighAtomic"))
        XCTAssertTrue(try c.get("/v1/machines/k/proc/vmstat").text.contains("\ncompact_daemon_wake "))
        XCTAssertFalse(try c.get("/v1/machines/o/proc/vmstat").text.contains("compact_daemon_wake"))
    }

    func testStatsDocumentOfSixSix() throws {
        XCTAssertEqual(try ts.createMachine("k", memoryMiB: 256, extra: #","kernel":"6.6""#).status, 201)
        let s = try c.get("/v1/machines/k/stats")
        XCTAssertEqual(s.json["kernel"] as? String, "6.6")
        XCTAssertEqual((s.json["migratetypes"] as? [String])?[3], "HighAtomic")
        let node = (s.json["nodes"] as? [[String: Any]])?.first
        XCTAssertEqual((node?["kcompactd"] as? [String: Any])?["phase"] as? String, "sleeping")
        let zone = (node?["zones"] as? [[String: Any]])?.first
        XCTAssertNotNil(zone?["compaction"] as? [String: Any])
        XCTAssertEqual(zone?["watermark_boost"] as? Int, 0)
        XCTAssertEqual(try ts.createMachine("o", memoryMiB: 64).status, 201)
        let o = try c.get("/v1/machines/o/stats")
        XCTAssertEqual(o.json["kernel"] as? String, "2.6.35")
        XCTAssertNil(((o.json["nodes"] as? [[String: Any]])?.first)?["kcompactd"])
    }
}

/// The 6.6 tracepoints on a machine's SSE stream.
final class ModernStreamTests: XCTestCase {
    var ts: TestServer!
    override func setUpWithError() throws { ts = try TestServer() }
    override func tearDown() { ts?.stop(); ts = nil }

    func testModernTracepointsAreStreamed() throws {
        XCTAssertEqual(try ts.createMachine("k", memoryMiB: 64, extra: #","kernel":"6.6","sysctl":{"compaction_proactiveness":0}"#).status, 201)
        let c = try SSEClient(port: ts.port, path: "/v1/machines/k/stats/stream?interval_ms=60000&events=compaction")
        XCTAssertNotNil(try c.next(named: "stats", timeout: 3))
        XCTAssertEqual(try ts.client.post("/v1/machines/k/allocations", json: "{\"count\":8000,\"tag\":\"frag\"}").status, 200)
        XCTAssertEqual(try ts.client.post("/v1/machines/k/allocations/free", json: "{\"tag\":\"frag\",\"pattern\":\"every_other\"}").status, 200)
        XCTAssertEqual(try ts.client.put("/v1/machines/k/proc/sys/vm/compact_memory", text: "1\n").status, 204)
        // A direct compaction for a huge page, then kcompactd woken and run.
        XCTAssertEqual(try ts.client.post("/v1/machines/k/allocations", json: #"{"order":9,"count":2,"gfp":{"noretry":true}}"#).status, 200)
        var names = Set<String>()
        var sample: [String: [String: Any]] = [:]
        while let e = try c.next(timeout: 1), e.name.hasPrefix("mm_compaction") {
            names.insert(e.name)
            sample[e.name] = e.json
        }
        for n in ["mm_compaction_begin", "mm_compaction_end", "mm_compaction_isolate_migratepages", "mm_compaction_isolate_freepages"] {
            XCTAssertTrue(names.contains(n), "\(n) in \(names.sorted())")
        }
        XCTAssertEqual(sample["mm_compaction_begin"]?["mode"] as? String, "sync")
        let iso = sample["mm_compaction_isolate_migratepages"]
        for k in ["start_pfn", "end_pfn", "nr_scanned", "nr_taken", "trace"] { XCTAssertNotNil(iso?[k], k) }
        XCTAssertTrue((iso?["trace"] as? String ?? "").hasPrefix("range=(0x"))
    }
}
