import MMFormat

@testable import CompactServiceKit
import Foundation
import XCTest

/// Snapshots as a feature: a snapshot loaded on another service, or a clone, is the same machine (the
/// same documents byte for byte) and goes on exactly as the original under the same requests; a
/// snapshot made by an earlier version of this format still loads (Fixtures/machine-v1.*).
final class SnapshotTests: XCTestCase {
    static let snapshotType = "application/vnd.compact-service.snapshot"

    func fingerprint(_ c: HTTPClient, _ name: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for d in ["proc/buddyinfo", "proc/pagetypeinfo", "proc/zoneinfo", "proc/vmstat", "debug/extfrag/extfrag_index", "allocations"] {
            let r = try c.get("/v1/machines/\(name)/\(d)")
            XCTAssertEqual(r.status, 200, "\(name)/\(d)")
            out[d] = r.text
        }
        var stats = try c.get("/v1/machines/\(name)/stats").json
        for k in ["name", "state_bytes", "state_bytes_by_part"] { stats.removeValue(forKey: k) }
        out["stats"] = String(decoding: try JSONSerialization.data(withJSONObject: stats, options: [.sortedKeys]), as: UTF8.self)
        return out
    }

    /// The same requests, answered alike on both machines.
    func continueAlike(_ a: (HTTPClient, String), _ b: (HTTPClient, String), file: StaticString = #filePath, line: UInt = #line) throws {
        let steps: [(String, String, String)] = [
            ("POST", "allocations", "{\"count\":900,\"tag\":\"more\",\"kind\":\"file\"}"),
            ("POST", "allocations", "{\"count\":300,\"order\":3,\"tag\":\"big\"}"),
            ("POST", "allocations/free", "{\"tag\":\"more\",\"pattern\":\"every_other\"}"),
            ("POST", "compact", ""),
            ("POST", "allocations", "{\"count\":20,\"order\":9,\"gfp\":{\"repeat\":true}}"),
        ]
        for (method, path, body) in steps {
            var answers: [String] = []
            for (c, name) in [a, b] {
                let r = try c.request(method, "/v1/machines/\(name)/\(path)", body: body.isEmpty ? nil : Array(body.utf8),
                                      contentType: body.isEmpty ? nil : "application/json")
                XCTAssertEqual(r.status, 200, r.text, file: file, line: line)
                var j = r.json
                j.removeValue(forKey: "machine")
                answers.append(String(decoding: try JSONSerialization.data(withJSONObject: j, options: [.sortedKeys]), as: UTF8.self))
            }
            XCTAssertEqual(answers[0], answers[1], "\(method) \(path)", file: file, line: line)
        }
        XCTAssertEqual(try fingerprint(a.0, a.1), try fingerprint(b.0, b.1), file: file, line: line)
    }

    func testSnapshotLoadsElsewhereAndContinuesIdentically() throws {
        let source = try TestServer()
        defer { source.stop() }
        let c = source.client
        try source.createMachine("orig", memoryMiB: 128, extra: ",\"nodes\":2,\"seed\":21")
        _ = try c.post("/v1/machines/orig/allocations", json: "{\"count\":4000,\"tag\":\"x\",\"kind\":\"file\"}")
        _ = try c.post("/v1/machines/orig/allocations/free", json: "{\"tag\":\"x\",\"pattern\":\"random\",\"fraction\":0.6,\"seed\":2}")
        _ = try c.post("/v1/machines/orig/workloads?wait=true", json: "{\"preset\":\"proactive-frag\"}")
        let snap = try c.get("/v1/machines/orig/snapshot")
        XCTAssertEqual(snap.status, 200)
        XCTAssertEqual(snap.header("content-type"), SnapshotTests.snapshotType)
        XCTAssertEqual(Array(snap.body.prefix(8)), Array("CSSNAPSH".utf8))

        let target = try TestServer { $0.maxBodyBytes = 16 << 20 }
        defer { target.stop() }
        let t = target.client
        let up = try t.request("POST", "/v1/machines?name=copy", body: snap.body, contentType: SnapshotTests.snapshotType)
        XCTAssertEqual(up.status, 201, up.text)
        XCTAssertEqual(up.json["name"] as? String, "copy")
        XCTAssertEqual(try fingerprint(t, "copy"), try fingerprint(c, "orig"))
        try continueAlike((c, "orig"), (t, "copy"))
    }

    /// `PUT /v1/machines/{name}` with a snapshot (how scripts/move_machines.py moves a machine through a
    /// front): the machine under the path's name, equal to the original; 409 when the name is taken;
    /// snapshot uploads have their own body limit (--max-snapshot-bytes), JSON bodies keep theirs.
    func testPutWithASnapshotCreatesTheMachineByPath() throws {
        let source = try TestServer()
        defer { source.stop() }
        let c = source.client
        try source.createMachine("orig", memoryMiB: 64, extra: ",\"seed\":5")
        _ = try c.post("/v1/machines/orig/allocations", json: "{\"count\":5000,\"tag\":\"x\",\"kind\":\"file\"}")
        _ = try c.post("/v1/machines/orig/allocations/free", json: "{\"tag\":\"x\",\"pattern\":\"every_other\"}")
        let snap = try c.get("/v1/machines/orig/snapshot").body
        XCTAssertGreaterThan(snap.count, 8192)

        let target = try TestServer { $0.maxBodyBytes = 4096; $0.maxSnapshotBytes = 8 << 20 }
        defer { target.stop() }
        let t = target.client
        let put = try t.request("PUT", "/v1/machines/moved", body: snap, contentType: SnapshotTests.snapshotType)
        XCTAssertEqual(put.status, 201, put.text)
        XCTAssertEqual(put.header("location"), "/v1/machines/moved")
        XCTAssertEqual(try fingerprint(t, "moved"), try fingerprint(c, "orig"))
        let again = try t.request("PUT", "/v1/machines/moved", body: snap, contentType: SnapshotTests.snapshotType)
        XCTAssertEqual(again.status, 409, again.text)
        // A JSON body over --max-body-bytes is still refused, naming the flag that limits it.
        let big = "{\"memory_mib\":64,\"sysctl\":{},\"pad\":\"" + String(repeating: "x", count: 5000) + "\"}"
        let json = try t.request("PUT", "/v1/machines/other", body: Array(big.utf8), contentType: "application/json")
        XCTAssertEqual(json.status, 413)
        XCTAssertTrue(json.text.contains("--max-body-bytes"), json.text)
        // A snapshot over --max-snapshot-bytes is refused naming that flag, and nothing is created.
        let small = try TestServer { $0.maxSnapshotBytes = 8192 }
        defer { small.stop() }
        let over = try small.client.request("PUT", "/v1/machines/moved", body: snap, contentType: SnapshotTests.snapshotType)
        XCTAssertEqual(over.status, 413)
        XCTAssertEqual(over.json["field"] as? String, "body")
        XCTAssertTrue(over.text.contains("--max-snapshot-bytes"), over.text)
        XCTAssertEqual(try small.client.get("/v1/machines/moved").status, 404)
        // The query's name is for snapshot uploads: with a JSON body it is refused, nothing created.
        let q = try t.request("POST", "/v1/machines?name=", body: Array(#"{"name":"jsonnamed","memory_mib":64}"#.utf8), contentType: "application/json")
        XCTAssertEqual(q.status, 422, q.text)
        XCTAssertEqual(q.json["field"] as? String, "name")
        XCTAssertEqual(try t.get("/v1/machines/jsonnamed").status, 404)
        // Not a snapshot: 422 naming the body, nothing created.
        let junk = try t.request("PUT", "/v1/machines/junk", body: Array("CSSNAPSHjunk".utf8), contentType: SnapshotTests.snapshotType)
        XCTAssertEqual(junk.status, 422, junk.text)
        XCTAssertEqual(junk.json["field"] as? String, "body")
        XCTAssertEqual(try t.get("/v1/machines/junk").status, 404)
    }

    func testCloneForksAMachine() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = s.client
        try s.createMachine("base", memoryMiB: 64)
        _ = try c.post("/v1/machines/base/allocations", json: "{\"count\":3000,\"tag\":\"x\"}")
        _ = try c.post("/v1/machines/base/allocations/free", json: "{\"tag\":\"x\",\"pattern\":\"every_other\"}")
        let r = try c.post("/v1/machines/base/clone", json: "{\"name\":\"fork\"}")
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertEqual(r.header("location"), "/v1/machines/fork")
        XCTAssertEqual(try fingerprint(c, "fork"), try fingerprint(c, "base"))
        try continueAlike((c, "base"), (c, "fork"))
        // Then they are two machines: a change to one is not in the other.
        _ = try c.post("/v1/machines/fork/allocations", json: "{\"count\":10}")
        XCTAssertNotEqual(try fingerprint(c, "fork"), try fingerprint(c, "base"))
        XCTAssertEqual(try c.post("/v1/machines/base/clone", json: "{\"name\":\"fork\"}").status, 409)
        XCTAssertEqual(try c.post("/v1/machines/base/clone", json: "{\"name\":\"Bad Name\"}").json["field"] as? String, "name")
        XCTAssertEqual(try c.post("/v1/machines/nope/clone", json: "{\"name\":\"x\"}").status, 404)
    }

    /// An experiment that starts from a machine (or its snapshot) runs each variant on that machine's
    /// state: the variant that changes nothing gives exactly what the same workload gives on a clone,
    /// and the machine itself is untouched.
    func testExperimentStartsFromAMachineOrASnapshot() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = s.client
        try s.createMachine("frag", memoryMiB: 128, extra: ",\"nodes\":2")
        _ = try c.post("/v1/machines/frag/allocations", json: "{\"count\":28000,\"tag\":\"x\",\"mlock\":true}")
        _ = try c.post("/v1/machines/frag/allocations/free", json: "{\"tag\":\"x\",\"pattern\":\"every_other\"}")
        XCTAssertEqual(try c.post("/v1/machines/frag/clone", json: "{\"name\":\"twin\"}").status, 201)
        let before = try fingerprint(c, "frag")
        let workload = "{\"name\":\"w\",\"steps\":[{\"high_alloc\":{\"fraction\":0.3,\"tag\":\"h\"}},{\"sample\":{\"name\":\"end\"}}]}"
        let onTwin = try c.post("/v1/machines/twin/workloads?wait=true", json: workload)
        let expected = try JSONSerialization.data(withJSONObject: onTwin.json["result"] as Any, options: [.sortedKeys])

        let b64 = Data(try c.get("/v1/machines/frag/snapshot").body).base64EncodedString()
        for start in ["{\"machine\":\"frag\"}", "{\"snapshot\":\"\(b64)\"}"] {
            let r = try c.post("/v1/experiments?wait=true", json: """
                {"start":\(start),"variants":[{"name":"same"},{"name":"vanilla","compaction":false},{"name":"eager","sysctl":{"extfrag_threshold":0}}],
                 "workload":\(workload)}
                """)
            XCTAssertEqual(r.status, 200, r.text)
            let variants = ((r.json["result"] as? [String: Any])?["variants"] as? [[String: Any]]) ?? []
            XCTAssertEqual(variants.count, 3)
            guard variants.count == 3 else { continue }
            XCTAssertEqual(try JSONSerialization.data(withJSONObject: variants[0]["result"] as Any, options: [.sortedKeys]), expected,
                           "the unchanged variant is the workload on a clone")
            let successes = variants.map { (($0["result"] as? [String: Any])?["high_alloc"] as? [String: Any])?["successes"] as? Int ?? -1 }
            XCTAssertNotEqual(successes[0], successes[1], "compaction makes a difference from this state: \(successes)")
        }
        XCTAssertEqual(try fingerprint(c, "frag"), before, "the start machine is untouched")
        // Bad starts name the field.
        let unknown = try c.post("/v1/experiments", json: "{\"start\":{\"machine\":\"nope\"},\"variants\":[{}],\"workload\":\(workload)}")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.json["field"] as? String, "start.machine")
        let other = try c.post("/v1/experiments", json: "{\"start\":{\"machine\":\"frag\"},\"variants\":[{},{\"memory_mib\":256}],\"workload\":\(workload)}")
        XCTAssertEqual(other.status, 422)
        XCTAssertEqual(other.json["field"] as? String, "variants[1]")
        let garbage = try c.post("/v1/experiments", json: "{\"start\":{\"snapshot\":\"!!\"},\"variants\":[{}],\"workload\":\(workload)}")
        XCTAssertEqual(garbage.json["field"] as? String, "start.snapshot")
    }

    func testBadUploadsAreRefusedNamingTheField() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = s.client
        try s.createMachine("m", memoryMiB: 16)
        let snap = try c.get("/v1/machines/m/snapshot").body
        let garbage = try c.request("POST", "/v1/machines?name=g", body: Array("not a snapshot".utf8), contentType: SnapshotTests.snapshotType)
        XCTAssertEqual(garbage.status, 422)
        XCTAssertEqual(garbage.json["field"] as? String, "body")
        var flipped = snap
        flipped[flipped.count / 2] ^= 1
        let damaged = try c.request("POST", "/v1/machines?name=g", body: flipped, contentType: SnapshotTests.snapshotType)
        XCTAssertEqual(damaged.status, 422, damaged.text)
        XCTAssertTrue((damaged.json["detail"] as? String ?? "").contains("checksum"), damaged.text)
        let unnamed = try c.request("POST", "/v1/machines", body: snap, contentType: SnapshotTests.snapshotType)
        XCTAssertEqual(unnamed.json["field"] as? String, "name")
        XCTAssertEqual(try c.request("POST", "/v1/machines?name=m", body: snap, contentType: SnapshotTests.snapshotType).status, 409)
        XCTAssertEqual(try c.get("/v1/machines/g").status, 404, "a refused upload changes nothing")
        XCTAssertEqual(try c.get("/v1/machines/none/snapshot").status, 404)
    }

    /// A snapshot written by the first version of the format (a 16 MiB two-node machine with swap,
    /// fragmented, with slab objects and page-cache files) loads and is the machine it was: the
    /// documents stored beside it were taken from the machine the snapshot was taken of. When the
    /// format changes, this file must still load (or the change must convert it); do not regenerate it.
    /// (Its vmstat and zoneinfo documents gained the lines nr_page_table_pages and nr_kernel_stack, both
    /// 0, with state version 3: the text has the two items now, and version 1 had no processes. With
    /// version 4 its vmstat names reclaim per zone as 2.6.35 does, `pgrefill_<zone>`, `pgsteal_<zone>`,
    /// `pgscan_kswapd_<zone>` and `pgscan_direct_<zone>`, nr_vmscan_write is among the zone items after
    /// nr_kernel_stack, and the hugetlb lines follow compact_success:
    /// a version-1 image's totals load into its highest populated zone, which is its only one, DMA.)
    func testVersionOneSnapshotStillLoads() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let snap = try Data(contentsOf: dir.appendingPathComponent("machine-v1.snap"))
        let stateDir = NSTemporaryDirectory() + "fixture-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: stateDir) }
        for server in [try TestServer(), try TestServer { $0.stateDir = stateDir }] {
            defer { server.stop() }
            let c = server.client
            let r = try c.request("POST", "/v1/machines?name=old", body: Array(snap), contentType: SnapshotTests.snapshotType)
            XCTAssertEqual(r.status, 201, r.text)
            for d in ["buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat"] {
                let expected = try String(contentsOf: dir.appendingPathComponent("machine-v1.\(d)"), encoding: .utf8)
                XCTAssertEqual(try c.get("/v1/machines/old/proc/\(d)").text, expected, d)
            }
            let expected = try String(contentsOf: dir.appendingPathComponent("machine-v1.allocations"), encoding: .utf8)
            XCTAssertEqual(try c.get("/v1/machines/old/allocations").text, expected)
            XCTAssertEqual(try c.post("/v1/machines/old/allocations", json: "{\"count\":100,\"tag\":\"anon\"}").status, 200)
        }
    }
}
