@testable import CompactServiceKit
import Foundation
import XCTest

/// The API end to end: the real server on an ephemeral port, spoken to over HTTP.
final class APITests: XCTestCase {
    var ts: TestServer!
    var c: HTTPClient { ts.client }

    override func setUpWithError() throws { ts = try TestServer() }
    override func tearDown() { ts.stop() }

    func testHealthAndRequestIDs() throws {
        let r = try c.get("/healthz")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "{\"status\":\"ok\"}\n")
        XCTAssertFalse((r.header("X-Request-ID") ?? "").isEmpty)
        let mine = try c.request("GET", "/healthz", headers: [("X-Request-ID", "abc-123")])
        XCTAssertEqual(mine.header("X-Request-ID"), "abc-123")
        // An id that is not 1...128 visible ASCII characters is replaced by a generated one.
        let bad = try c.request("GET", "/healthz", headers: [("X-Request-ID", "has space")])
        XCTAssertEqual(bad.status, 200)
        XCTAssertNotEqual(bad.header("X-Request-ID"), "has space")
        XCTAssertFalse((bad.header("X-Request-ID") ?? "").isEmpty)
        // A body on a fixed answer's GET is read and dropped, and the kept-alive connection then serves
        // the next request: two pipelined requests give two answers (the second in the first's "body").
        let ok = "{\"status\":\"ok\"}\n"
        let pipelined = try c.request("GET", "/healthz", rawHead:
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{\"ignored\":true}"
            + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(pipelined.status, 200)
        XCTAssertTrue(pipelined.text.hasPrefix(ok + "HTTP/1.1 200 OK\r\n"), pipelined.text)
        XCTAssertTrue(pipelined.text.hasSuffix("\r\n\r\n" + ok), pipelined.text)
        XCTAssertEqual(try c.get("/readyz").status, 200)
        let spec = try c.get("/openapi.yaml")
        XCTAssertEqual(spec.status, 200)
        XCTAssertTrue(spec.text.hasPrefix("openapi: 3.1"))
    }

    func testMachineLifecycle() throws {
        let created = try ts.createMachine("m1", memoryMiB: 512, extra: ",\"nodes\":2,\"seed\":7,\"sysctl\":{\"extfrag_threshold\":300}")
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.header("Location"), "/v1/machines/m1")
        XCTAssertEqual(created.json["nodes"] as? Int, 2)
        XCTAssertEqual(created.json["memory_mib"] as? Int, 512)
        XCTAssertEqual((created.json["sysctl"] as? [String: Any])?["extfrag_threshold"] as? Int, 300)

        let dup = try ts.createMachine("m1")
        XCTAssertEqual(dup.status, 409)
        XCTAssertEqual(dup.header("Content-Type"), "application/problem+json")
        XCTAssertEqual(dup.json["field"] as? String, "name")

        let list = try c.get("/v1/machines")
        XCTAssertEqual((list.json["machines"] as? [[String: Any]])?.map { $0["name"] as? String }, ["m1"])
        XCTAssertEqual(try c.get("/v1/machines/m1").json["name"] as? String, "m1")
        XCTAssertEqual(try c.delete("/v1/machines/m1").status, 204)
        XCTAssertEqual(try c.get("/v1/machines/m1").status, 404)
        XCTAssertEqual(try c.delete("/v1/machines/m1").status, 404)
    }

    func testAllocateFreeAndReadBack() throws {
        XCTAssertEqual(try ts.createMachine("a").status, 201)
        let r = try c.post("/v1/machines/a/allocations", json: #"{"order":2,"count":10,"kind":"anon","tag":"t1"}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.json["succeeded"] as? Int, 10)
        let handles = r.json["handles"] as? [Int] ?? []
        XCTAssertEqual(handles.count, 10)
        let lat = r.json["latency_ns"] as? [String: Any]
        XCTAssertEqual(lat?["count"] as? Int, 10)
        for k in ["min", "p50", "p95", "max"] { XCTAssertNotNil(lat?[k] as? Int, k) }

        let info = try c.get("/v1/machines/a/allocations/\(handles[0])")
        XCTAssertEqual(info.json["order"] as? Int, 2)
        XCTAssertEqual(info.json["content_intact"] as? Bool, true)

        XCTAssertEqual(try c.delete("/v1/machines/a/allocations/\(handles[0])").status, 204)
        XCTAssertEqual(try c.delete("/v1/machines/a/allocations/\(handles[0])").status, 404)
        let byHandles = try c.post("/v1/machines/a/allocations/free", json: "{\"handles\":[\(handles[1]),\(handles[2])]}")
        XCTAssertEqual(byHandles.json["freed"] as? Int, 2)
        let byTag = try c.post("/v1/machines/a/allocations/free", json: #"{"tag":"t1","pattern":"every_other"}"#)
        XCTAssertEqual(byTag.json["freed"] as? Int, 4)
        let rest = try c.post("/v1/machines/a/allocations/free", json: #"{"tag":"t1","pattern":"random","fraction":1.0,"seed":3}"#)
        XCTAssertEqual(rest.json["freed"] as? Int, 3)
        XCTAssertEqual(try c.get("/v1/machines/a/allocations").json["live_allocations"] as? Int, 0)

        // Large requests run in steps; handles are listed up to 1000.
        let big = try c.post("/v1/machines/a/allocations", json: #"{"count":3000,"tag":"big"}"#)
        XCTAssertEqual(big.json["succeeded"] as? Int, 3000)
        XCTAssertEqual((big.json["handles"] as? [Int])?.count, 1000)
        XCTAssertEqual(big.json["handles_truncated"] as? Bool, true)
        XCTAssertEqual((big.json["latency_ns"] as? [String: Any])?["count"] as? Int, 3000)
        let box = try ts.server.registry.get("a")
        XCTAssertEqual(try box.withMachine { $0.checkConsistency() }, [])
    }

    func testProcFilesStatsAndSysctls() throws {
        XCTAssertEqual(try ts.createMachine("p").status, 201)
        let buddy = try c.get("/v1/machines/p/proc/buddyinfo")
        XCTAssertEqual(buddy.status, 200)
        XCTAssertTrue(buddy.text.hasPrefix("Node 0, zone      DMA"), buddy.text)
        let box = try ts.server.registry.get("p")
        XCTAssertEqual(buddy.text, try box.withMachine { $0.renderBuddyinfo() })
        for f in ["proc/pagetypeinfo", "proc/vmstat", "proc/zoneinfo", "debug/extfrag/unusable_index", "debug/extfrag/extfrag_index"] {
            let r = try c.get("/v1/machines/p/\(f)")
            XCTAssertEqual(r.status, 200, f)
            XCTAssertFalse(r.body.isEmpty, f)
        }
        let stats = try c.get("/v1/machines/p/stats")
        XCTAssertEqual(stats.status, 200)
        let nodes = stats.json["nodes"] as? [[String: Any]] ?? []
        let zones = nodes.first?["zones"] as? [[String: Any]] ?? []
        XCTAssertEqual(zones.map { $0["name"] as? String }, ["DMA", "DMA32"])
        XCTAssertEqual((zones.first?["free_blocks"] as? [Int])?.count, 11)
        XCTAssertNotNil((stats.json["vmstat"] as? [String: Any])?["nr_free_pages"])
        // Cached by generation: the same bytes until the machine changes.
        XCTAssertEqual(try c.get("/v1/machines/p/stats").body, stats.body)

        XCTAssertEqual(try c.get("/v1/machines/p/proc/sys/vm/extfrag_threshold").text, "500\n")
        let put = try c.put("/v1/machines/p/proc/sys/vm/extfrag_threshold", text: "700\n")
        XCTAssertEqual(put.status, 200)
        XCTAssertEqual(put.text, "700\n")
        XCTAssertEqual(try c.get("/v1/machines/p/proc/sys/vm/extfrag_threshold").text, "700\n")
        XCTAssertEqual(try c.put("/v1/machines/p/proc/sys/vm/min_free_kbytes", text: "4096").text, "4096\n")
        XCTAssertEqual(try c.put("/v1/machines/p/proc/sys/vm/compact_unevictable_allowed", text: "0").text, "0\n")
        let bad = try c.put("/v1/machines/p/proc/sys/vm/compact_unevictable_allowed", text: "2")
        XCTAssertEqual(bad.status, 422)
        XCTAssertEqual(bad.json["field"] as? String, "compact_unevictable_allowed")
        XCTAssertEqual(try c.get("/v1/machines/p/proc/sys/vm/hugepages_treat_as_movable").text, "0\n")
        XCTAssertEqual(try c.put("/v1/machines/p/proc/sys/vm/hugepages_treat_as_movable", text: "1").text, "1\n")
        let badHugetlb = try c.put("/v1/machines/p/proc/sys/vm/hugepages_treat_as_movable", text: "2")
        XCTAssertEqual(badHugetlb.status, 422)
        XCTAssertEqual(badHugetlb.json["field"] as? String, "hugepages_treat_as_movable")
        // The flusher's sysctls, and its figures in the stats.
        XCTAssertEqual(try c.get("/v1/machines/p/proc/sys/vm/dirty_ratio").text, "20\n")
        XCTAssertEqual(try c.get("/v1/machines/p/proc/sys/vm/dirty_background_ratio").text, "10\n")
        let limit = (stats.json["writeback"] as? [String: Any])?["dirty_thresh_pages"] as? Int ?? 0
        XCTAssertGreaterThan(limit, 0)
        XCTAssertEqual(try c.put("/v1/machines/p/proc/sys/vm/dirty_ratio", text: "40").text, "40\n")
        let badDirty = try c.put("/v1/machines/p/proc/sys/vm/dirty_background_ratio", text: "101")
        XCTAssertEqual(badDirty.status, 422)
        XCTAssertEqual(badDirty.json["field"] as? String, "dirty_background_ratio")
        let after = try c.get("/v1/machines/p/stats").json["writeback"] as? [String: Any]
        XCTAssertEqual(after?["dirty_thresh_pages"] as? Int ?? 0, limit * 2, accuracy: 2)
        XCTAssertEqual(after?["flusher_pages"] as? Int, 0)
        XCTAssertNotEqual(try c.get("/v1/machines/p/stats").body, stats.body)
    }
}
