@testable import CompactServiceKit
import Foundation
import XCTest

/// Bad input: every error is problem+json with status, title, detail and the offending field, and a
/// rejected request changes nothing.
final class BadInputTests: XCTestCase {
    var ts: TestServer!
    var c: HTTPClient { ts.client }

    override func setUpWithError() throws {
        ts = try TestServer { $0.maxBodyBytes = 4096; $0.maxMachines = 3 }
        XCTAssertEqual(try ts.createMachine("m").status, 201)
    }
    override func tearDown() { ts.stop() }

    private func assertProblem(_ r: HTTPResult, _ status: Int, field: String?, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, status, r.text, file: file, line: line)
        XCTAssertEqual(r.header("Content-Type"), "application/problem+json", file: file, line: line)
        let j = r.json
        XCTAssertEqual(j["status"] as? Int, status, file: file, line: line)
        XCTAssertNotNil(j["title"] as? String, file: file, line: line)
        XCTAssertNotNil(j["detail"] as? String, file: file, line: line)
        XCTAssertEqual(j["field"] as? String, field, file: file, line: line)
    }

    private var generation: UInt64 { (try? ts.server.registry.get("m").withMachine { $0.generation }) ?? 0 }

    func testBodiesAreValidatedAndNothingChanges() throws {
        let g0 = generation
        let alloc = "/v1/machines/m/allocations"
        assertProblem(try c.post(alloc, json: "{\"order\":"), 400, field: "body")
        assertProblem(try c.post(alloc, json: "[1]"), 422, field: "body")
        assertProblem(try c.post(alloc, json: #"{"order":1,"colour":"red"}"#), 422, field: "colour")
        assertProblem(try c.post(alloc, json: #"{"order":"1"}"#), 422, field: "order")
        assertProblem(try c.post(alloc, json: #"{"order":1.5}"#), 422, field: "order")
        assertProblem(try c.post(alloc, json: #"{"order":99}"#), 422, field: "order")
        assertProblem(try c.post(alloc, json: #"{"order":12}"#), 422, field: "order")  // beyond this machine's orders
        assertProblem(try c.post(alloc, json: #"{"count":0}"#), 422, field: "count")
        assertProblem(try c.post(alloc, json: #"{"count":99999999999999999999999}"#), 422, field: "count")
        assertProblem(try c.post(alloc, json: #"{"kind":"weird"}"#), 422, field: "kind")
        assertProblem(try c.post(alloc, json: #"{"node":3}"#), 422, field: "node")
        assertProblem(try c.post(alloc, json: #"{"gfp":{"wait":1}}"#), 422, field: "gfp.wait")
        assertProblem(try c.post(alloc, json: #"{"gfp":{"nofail":true}}"#), 422, field: "gfp.nofail")
        assertProblem(try c.post(alloc, json: #"{"tag":"has space"}"#), 422, field: "tag")
        assertProblem(try c.post(alloc, json: #"{"mlock":null}"#), 422, field: "mlock")
        assertProblem(try c.post(alloc, json: #"{"order":1,"order":2}"#), 422, field: "order")
        assertProblem(try c.request("POST", alloc, body: Array("{}".utf8), contentType: "text/plain"), 415, field: "Content-Type")
        assertProblem(try c.request("POST", alloc, body: Array("{}".utf8)), 415, field: "Content-Type")
        assertProblem(try c.request("POST", alloc, body: []), 415, field: "Content-Type")
        assertProblem(try c.request("POST", alloc, body: [], contentType: "application/json"), 400, field: "body")
        assertProblem(try c.post(alloc, json: "{\"tag\":\"" + String(repeating: "x", count: 5000) + "\"}"), 413, field: "body")
        assertProblem(try c.post("/v1/machines/m/allocations/free", json: #"{"handles":[1],"tag":"x"}"#), 422, field: "tag")
        assertProblem(try c.post("/v1/machines/m/allocations/free", json: #"{"handles":[5,5]}"#), 422, field: "handles[1]")
        assertProblem(try c.post("/v1/machines/m/allocations/free", json: #"{"handles":[123456]}"#), 404, field: "handles[0]")
        assertProblem(try c.post("/v1/machines/m/allocations/free", json: #"{"tag":"x","pattern":"random"}"#), 422, field: "fraction")
        assertProblem(try c.post("/v1/machines/m/allocations/free", json: #"{"tag":"x","pattern":"random","fraction":2}"#), 422, field: "fraction")
        assertProblem(try c.post("/v1/machines/m/allocations/free", json: #"{"tag":"x","fraction":0.5}"#), 422, field: "fraction")
        assertProblem(try c.put("/v1/machines/m/proc/sys/vm/min_free_kbytes", text: "lots"), 422, field: "min_free_kbytes")
        assertProblem(try c.put("/v1/machines/m/proc/sys/vm/min_free_kbytes", text: "0"), 422, field: "min_free_kbytes")
        assertProblem(try c.put("/v1/machines/m/proc/sys/vm/min_free_kbytes", text: ""), 400, field: "min_free_kbytes")
        assertProblem(try c.request("PUT", "/v1/machines/m/proc/sys/vm/min_free_kbytes", body: Array("5".utf8), contentType: "application/json"),
                      415, field: "Content-Type")
        XCTAssertEqual(generation, g0, "a rejected request changed the machine")
    }

    func testMachineCreationErrors() throws {
        assertProblem(try ts.createMachine("Bad_Name"), 422, field: "name")
        assertProblem(try c.post("/v1/machines", json: #"{"memory_mib":64}"#), 422, field: "name")
        assertProblem(try c.post("/v1/machines", json: #"{"name":"x"}"#), 422, field: "memory_mib")
        assertProblem(try ts.createMachine("x", memoryMiB: 100, extra: ",\"nodes\":3"), 422, field: "memory_mib")
        assertProblem(try ts.createMachine("x", memoryMiB: 64, extra: ",\"preset\":\"arm\""), 422, field: "preset")
        assertProblem(try ts.createMachine("x", memoryMiB: 64, extra: ",\"nodes\":2,\"distances\":[[10,5],[5,10]]"), 422, field: "distances[0][1]")
        assertProblem(try c.post("/v1/machines", json: #"{"name":"x","zones":[[{"type":"dma","mib":16},{"type":"normal","mib":3}]]}"#),
                      422, field: "zones[0][1].mib")
        assertProblem(try c.post("/v1/machines", json: #"{"name":"x","zones":[[{"type":"dma","mib":16,"extra":1}]]}"#),
                      422, field: "zones[0][0].extra")
        assertProblem(try ts.createMachine("x", memoryMiB: 64, extra: ",\"sysctl\":{\"extfrag_threshold\":1001}"), 422,
                      field: "sysctl.extfrag_threshold")
        // null is not absent: no member of a definition is nullable (one rule in both readers).
        let before = ts.server.machineCount
        assertProblem(try ts.createMachine("x", memoryMiB: 64, extra: ",\"seed\":null"), 422, field: "seed")
        assertProblem(try ts.createMachine("x", memoryMiB: 64, extra: ",\"sysctl\":{\"extfrag_threshold\":null}"), 422,
                      field: "sysctl.extfrag_threshold")
        assertProblem(try c.post("/v1/experiments", json: #"{"variants":[{"name":"a"}],"preset":"kselftest-compaction","repeat":null,"template":{"memory_mib":64}}"#),
                      422, field: "repeat")
        XCTAssertEqual(ts.server.machineCount, before)
        XCTAssertEqual(try ts.createMachine("x2").status, 201)
        XCTAssertEqual(try ts.createMachine("x3").status, 201)
        assertProblem(try ts.createMachine("x4"), 409, field: "name")  // --max-machines 3
        XCTAssertEqual(ts.server.machineCount, 3)
    }

    /// The one rule for absent and `null` (MMFormat's `JSONObjectMembers`): a member left out takes its
    /// default; an explicit null is refused naming the member (before anything else is checked, so a
    /// body that also lacks `memory_mib` is refused for its `seed`), except for the members openapi.yaml
    /// declares nullable (an allocation's `node` and `tag`), where it reads as absent.
    func testNullIsRefusedExceptWhereNullable() throws {
        let before = ts.server.machineCount
        let r = try c.post("/v1/machines", json: #"{"name":"x","seed":null}"#)
        assertProblem(r, 422, field: "seed")
        XCTAssertEqual(r.json["detail"] as? String, "field 'seed' may not be null (leave the field out for its default)")
        assertProblem(try c.post("/v1/machines", json: #"{"name":"x","memory_mib":64,"seed":null}"#), 422, field: "seed")
        assertProblem(try c.post("/v1/machines", json: #"{"name":null,"memory_mib":64}"#), 422, field: "name")
        assertProblem(try c.post("/v1/machines/m/allocations/free", json: #"{"tag":"t","fraction":null}"#), 422, field: "fraction")
        let experiment = #"{"variants":[{"name":"a","sysctl":{"extfrag_threshold":null}}],"preset":"kselftest-compaction","template":{"memory_mib":64}}"#
        assertProblem(try c.post("/v1/experiments", json: experiment), 422, field: "variants[0].sysctl.extfrag_threshold")
        XCTAssertEqual(ts.server.machineCount, before)
        let absent = try c.post("/v1/machines", json: #"{"name":"x","memory_mib":64}"#)
        XCTAssertEqual(absent.status, 201, absent.text)
        XCTAssertEqual(absent.json["seed"] as? Int, 1)
        let nullable = try c.post("/v1/machines/m/allocations", json: #"{"order":0,"node":null,"tag":null}"#)
        XCTAssertEqual(nullable.status, 200, nullable.text)
        XCTAssertEqual(nullable.json["succeeded"] as? Int, 1)
    }

    func testPathsAndMethods() throws {
        assertProblem(try c.get("/v1/machines/nope"), 404, field: "name")
        assertProblem(try c.get("/v1/machines/nope/stats"), 404, field: "name")
        assertProblem(try c.get("/v1/machines/NOPE"), 400, field: "name")
        assertProblem(try c.get("/v1/machines/m/allocations/abc"), 400, field: "handle")
        assertProblem(try c.get("/v1/machines/m/allocations/99999999"), 404, field: "handle")
        assertProblem(try c.get("/nowhere"), 404, field: nil)
        let r = try c.request("POST", "/v1/machines/m")
        assertProblem(r, 405, field: nil)
        XCTAssertEqual(r.header("Allow"), "GET, HEAD, PUT, DELETE")
        XCTAssertEqual(try c.request("POST", "/healthz").header("Allow"), "GET, HEAD")
    }

    func testOversizedBodiesAre413() throws {
        // Declared too large: refused before the body is read.
        let big = [UInt8](repeating: UInt8(ascii: " "), count: 100_000)
        assertProblem(try c.request("POST", "/v1/machines", body: big, contentType: "application/json"), 413, field: "body")
        // Chunked, without a length: counted while it arrives.
        var head = "POST /v1/machines HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        for _ in 0..<3 { head += "1000\r\n" + String(repeating: " ", count: 4096) + "\r\n" }
        head += "0\r\n\r\n"
        assertProblem(try c.request("POST", "/v1/machines", rawHead: head), 413, field: "body")
        XCTAssertEqual(try c.get("/healthz").status, 200)
    }

    func testGarbageNeverCrashesTheServer() throws {
        var rng = SystemRandomNumberGenerator()
        let paths = ["/v1/machines", "/v1/machines/m/allocations", "/v1/machines/m/allocations/free"]
        for i in 0..<200 {
            let n = Int.random(in: 0..<64, using: &rng)
            var body = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if i % 3 == 0 { body = Array("{\"order\":\(Int.random(in: -5...20)),\"count\":\(Int.random(in: -1...5))}".utf8) }
            let r = try c.request("POST", paths[i % paths.count], body: body, contentType: "application/json")
            XCTAssertLessThan(r.status, 500, r.text)
        }
        XCTAssertEqual(try ts.server.registry.get("m").withMachine { $0.checkConsistency() }, [])
    }
}

/// --token-file and --memory-budget.
final class LimitsTests: XCTestCase {
    func testBearerTokenGuardsMutations() throws {
        let ts = try TestServer { $0.token = "s3cret" }
        defer { ts.stop() }
        let c = ts.client
        let denied = try c.post("/v1/machines", json: #"{"name":"a","memory_mib":64}"#)
        XCTAssertEqual(denied.status, 401)
        XCTAssertEqual(denied.header("WWW-Authenticate"), "Bearer")
        XCTAssertEqual(denied.json["field"] as? String, "Authorization")
        XCTAssertEqual(try c.post("/v1/machines", json: #"{"name":"a","memory_mib":64}"#,
                                  headers: [("Authorization", "Bearer wrong")]).status, 401)
        XCTAssertEqual(ts.server.machineCount, 0)
        XCTAssertEqual(try c.post("/v1/machines", json: #"{"name":"a","memory_mib":64}"#,
                                  headers: [("Authorization", "Bearer s3cret")]).status, 201)
        XCTAssertEqual(try c.get("/v1/machines/a").status, 200)  // reads need no token
        XCTAssertEqual(try c.delete("/v1/machines/a").status, 401)
    }

    func testMemoryBudgetRefusesMachinesThatDoNotFit() throws {
        // 64 MiB: a 4 GiB machine (about 10.6 MB of state and its 0.4 MB event ring) fits, 6 of them do not.
        let ts = try TestServer { $0.memoryBudget = 64 << 20 }
        defer { ts.stop() }
        var created = 0
        for i in 0..<8 {
            let r = try ts.createMachine("b\(i)", memoryMiB: 4096)
            if r.status == 201 { created += 1 } else {
                XCTAssertEqual(r.status, 507)
                XCTAssertEqual(r.header("Content-Type"), "application/problem+json")
                XCTAssertEqual(r.json["field"] as? String, "memory_mib")
                XCTAssertEqual(r.json["budget_bytes"] as? Int, 64 << 20)
            }
        }
        XCTAssertEqual(created, 6)
        XCTAssertLessThanOrEqual(ts.server.registry.usedBytes, 64 << 20)
        let huge = try ts.createMachine("huge", memoryMiB: 1 << 20)
        XCTAssertEqual(huge.status, 507)
        XCTAssertEqual(try ts.client.delete("/v1/machines/b0").status, 204)
        XCTAssertEqual(try ts.createMachine("again", memoryMiB: 4096).status, 201)
    }
}
