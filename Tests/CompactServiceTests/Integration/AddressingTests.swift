@testable import CompactServiceKit
import Foundation
import Synchronization
import XCTest

/// Everything with state reachable by a path that carries its name (what a front hashes on).
final class AddressingTests: XCTestCase {
    var ts: TestServer!
    var c: HTTPClient { ts.client }

    override func setUpWithError() throws { ts = try TestServer() }
    override func tearDown() { ts.stop() }

    func put(_ path: String, _ body: String) throws -> HTTPResult {
        try c.request("PUT", path, body: Array(body.utf8), contentType: "application/json")
    }

    func testPutCreatesOnceAndIsIdempotentForTheSameDefinition() throws {
        let def = "{\"memory_mib\":256,\"nodes\":2,\"seed\":7}"
        let first = try put("/v1/machines/ci-1", def)
        XCTAssertEqual(first.status, 201, first.text)
        XCTAssertEqual(first.header("Location"), "/v1/machines/ci-1")
        XCTAssertEqual(first.json["name"] as? String, "ci-1")
        XCTAssertEqual(first.json["nodes"] as? Int, 2)
        // The machine changes; a retried PUT of the same definition finds it, unchanged by the retry.
        XCTAssertEqual(try c.post("/v1/machines/ci-1/allocations", json: "{\"count\":100,\"tag\":\"t\"}").status, 200)
        let stats = try c.get("/v1/machines/ci-1/stats").text
        let again = try put("/v1/machines/ci-1", "{\"seed\":7,\"nodes\":2,\"memory_mib\":256,\"name\":\"ci-1\"}")
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(again.json["name"] as? String, "ci-1")
        XCTAssertEqual(try c.get("/v1/machines/ci-1/stats").text, stats)
        // A different definition under the same name is refused and changes nothing.
        let other = try put("/v1/machines/ci-1", "{\"memory_mib\":512,\"nodes\":2,\"seed\":7}")
        XCTAssertEqual(other.status, 409)
        XCTAssertEqual(other.header("Content-Type"), "application/problem+json")
        XCTAssertEqual(other.json["field"] as? String, "body")
        XCTAssertEqual(try c.get("/v1/machines/ci-1/stats").text, stats)
        // POST still creates; a POSTed machine is found by PUT with its definition.
        XCTAssertEqual(try ts.createMachine("p1", memoryMiB: 256).status, 201)
        XCTAssertEqual(try put("/v1/machines/p1", "{\"memory_mib\":256}").status, 200)
    }

    func testDebugCheckRunsTheInvariantChecker() throws {
        XCTAssertEqual(try put("/v1/machines/k1", "{\"memory_mib\":256}").status, 201)
        XCTAssertEqual(try c.post("/v1/machines/k1/allocations", json: "{\"count\":1000,\"kind\":\"file\",\"tag\":\"t\"}").status, 200)
        XCTAssertEqual(try c.post("/v1/machines/k1/compact", json: "{}").status, 200)
        let r = try c.get("/v1/machines/k1/debug/check")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json["consistent"] as? Bool, true, r.text)
        XCTAssertEqual((r.json["errors"] as? [Any])?.count, 0)
        XCTAssertEqual(r.json["live_allocations"] as? Int, 1000)
        XCTAssertEqual(try c.get("/v1/machines/nope/debug/check").status, 404)
    }

    func testPutNamesTheFieldOfBadInput() throws {
        let mismatch = try put("/v1/machines/a1", "{\"name\":\"b1\",\"memory_mib\":256}")
        XCTAssertEqual(mismatch.status, 422)
        XCTAssertEqual(mismatch.json["field"] as? String, "name")
        let bad = try put("/v1/machines/a1", "{\"memory_mib\":-5}")
        XCTAssertEqual(bad.status, 422, bad.text)
        XCTAssertEqual(bad.json["field"] as? String, "memory_mib")
        let badName = try put("/v1/machines/Bad%20Name", "{}")
        XCTAssertEqual(badName.status, 400)
        XCTAssertEqual(badName.json["field"] as? String, "name")
        XCTAssertEqual((try c.get("/v1/machines").json["machines"] as? [[String: Any]])?.count, 0)
    }

    func testWorkloadJobsLiveUnderTheirMachine() throws {
        XCTAssertEqual(try put("/v1/machines/w1", "{\"memory_mib\":256}").status, 201)
        XCTAssertEqual(try put("/v1/machines/w2", "{\"memory_mib\":256}").status, 201)
        let r = try c.post("/v1/machines/w1/workloads", json: "{\"steps\":[{\"fill\":{\"kind\":\"anon\",\"fraction\":0.2,\"tag\":\"f\"}}]}")
        XCTAssertEqual(r.status, 202, r.text)
        let id = try XCTUnwrap(r.json["id"] as? String)
        XCTAssertEqual(r.header("Location"), "/v1/machines/w1/jobs/\(id)")
        let done = try c.get("/v1/machines/w1/jobs/\(id)?wait=true&timeout_s=30")
        XCTAssertEqual(done.json["state"] as? String, "succeeded", done.text)
        XCTAssertEqual(try c.get("/v1/machines/w1/jobs/\(id)/result?format=csv").status, 200)
        XCTAssertEqual(try c.get("/v1/jobs/\(id)").json["id"] as? String, id, "the id route still answers")
        let elsewhere = try c.get("/v1/machines/w2/jobs/\(id)")
        XCTAssertEqual(elsewhere.status, 404)
        XCTAssertEqual(elsewhere.json["field"] as? String, "id")
        XCTAssertEqual(try c.delete("/v1/machines/w1/jobs/\(id)").status, 204)
        XCTAssertEqual(try c.get("/v1/jobs/\(id)").status, 404)
    }

    func testExperimentsByName() throws {
        let def = "{\"template\":{\"memory_mib\":128},\"variants\":[{\"name\":\"a\"},{\"name\":\"b\",\"compaction\":false}],\"preset\":\"kselftest-compaction\"}"
        let first = try put("/v1/experiments/sweep-1", def)
        XCTAssertEqual(first.status, 202, first.text)
        XCTAssertEqual(first.header("Location"), "/v1/experiments/sweep-1")
        let id = try XCTUnwrap(first.json["id"] as? String)
        // The same definition (members in another order, the name spelled out) finds the same job.
        let again = try put("/v1/experiments/sweep-1", "{\"name\":\"sweep-1\",\"preset\":\"kselftest-compaction\",\"variants\":[{\"name\":\"a\"},{\"compaction\":false,\"name\":\"b\"}],\"template\":{\"memory_mib\":128}}")
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(again.json["id"] as? String, id)
        let other = try put("/v1/experiments/sweep-1", "{\"template\":{\"memory_mib\":256},\"variants\":[{\"name\":\"a\"}],\"preset\":\"kselftest-compaction\"}")
        XCTAssertEqual(other.status, 409)
        XCTAssertEqual(other.json["field"] as? String, "body")
        let done = try c.get("/v1/experiments/sweep-1?wait=true&timeout_s=60")
        XCTAssertEqual(done.json["state"] as? String, "succeeded", done.text)
        XCTAssertEqual(try c.get("/v1/experiments/sweep-1/result?format=markdown").status, 200)
        let result = try c.get("/v1/experiments/sweep-1/result")
        XCTAssertEqual(result.json["name"] as? String, "sweep-1", "the experiment is named after its path")
        XCTAssertEqual(try c.get("/v1/jobs/\(id)").status, 200, "its job is a job like any other")
        // Forgotten, the name is free again.
        XCTAssertEqual(try c.delete("/v1/experiments/sweep-1").status, 204)
        XCTAssertEqual(try c.get("/v1/experiments/sweep-1").status, 404)
        let anew = try put("/v1/experiments/sweep-1", def)
        XCTAssertEqual(anew.status, 202)
        XCTAssertNotEqual(anew.json["id"] as? String, id)
        _ = try c.delete("/v1/experiments/sweep-1")
    }

    func testExperimentNamesAreCheckedAndNamed() throws {
        let mismatch = try put("/v1/experiments/e1", "{\"name\":\"e2\",\"variants\":[{\"name\":\"a\"}],\"preset\":\"kselftest-compaction\"}")
        XCTAssertEqual(mismatch.status, 422)
        XCTAssertEqual(mismatch.json["field"] as? String, "name")
        let badName = try put("/v1/experiments/E%201", "{\"variants\":[{\"name\":\"a\"}],\"preset\":\"kselftest-compaction\"}")
        XCTAssertEqual(badName.status, 400)
        XCTAssertEqual(badName.json["field"] as? String, "experiment")
        let unknown = try c.get("/v1/experiments/none")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(unknown.json["field"] as? String, "experiment")
        let badDef = try put("/v1/experiments/e1", "{\"variants\":[]}")
        XCTAssertEqual(badDef.status, 422)
        XCTAssertEqual(badDef.json["field"] as? String, "variants")
        XCTAssertEqual(try c.get("/v1/experiments/e1").status, 404, "a refused PUT binds nothing")
    }

    /// Concurrent identical PUTs: exactly one creates (201), the others find it (200); none fails.
    func testConcurrentIdenticalPutsCreateOneMachine() throws {
        let port = ts.port
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let client = HTTPClient(port: port)
            let r = try? client.request("PUT", "/v1/machines/race", body: Array("{\"memory_mib\":1024}".utf8),
                                        contentType: "application/json")
            statuses.withLock { $0.append(r?.status ?? -1) }
        }
        let s = statuses.withLock { $0 }.sorted()
        XCTAssertEqual(s, [200, 200, 200, 200, 200, 200, 200, 201])
    }
}
