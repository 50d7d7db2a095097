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
