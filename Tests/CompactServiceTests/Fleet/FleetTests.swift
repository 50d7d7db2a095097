@testable import CompactServiceKit
import Foundation
import MMCore
import MMFormat
import Testing
import XCTest

/// The fleet-wide views against real servers: one instance with the other as its peer lists both
/// instances' machines and jobs, each with `served_by`; a peer that does not answer is named and
/// `complete` is false, its items missing, never guessed.
final class FleetViewTests: XCTestCase {
    func testFleetMachinesListsEveryInstanceAndNamesAMissingOne() throws {
        let b = try TestServer()
        defer { b.stop() }
        try b.createMachine("on-b", memoryMiB: 32)
        let bURL = "http://127.0.0.1:\(b.port)"
        // A port nothing listens on: the peer that is down.
        let dead = "http://127.0.0.1:1"
        let a = try TestServer { $0.fleet = try! FleetPeers(urls: [bURL, "http://127.0.0.1:9", dead], selfURL: "http://127.0.0.1:9", timeoutMs: 2000) }
        defer { a.stop() }
        try a.createMachine("on-a", memoryMiB: 32)

        let r = try a.client.get("/v1/fleet/machines")
        XCTAssertEqual(r.status, 200, r.text)
        let machines = r.json["machines"] as? [[String: Any]] ?? []
        let served = Dictionary(uniqueKeysWithValues: machines.map { ($0["name"] as? String ?? "", $0["served_by"] as? String ?? "") })
        XCTAssertEqual(served, ["on-a": "http://127.0.0.1:9", "on-b": bURL])
        XCTAssertEqual(r.json["complete"] as? Bool, false)
        let instances = r.json["instances"] as? [[String: Any]] ?? []
        XCTAssertEqual(instances.map { $0["url"] as? String }, ["http://127.0.0.1:9", bURL, dead])
        XCTAssertEqual(instances.map { $0["status"] as? String }, ["ok", "ok", "unreachable"])
        XCTAssertTrue((instances[2]["detail"] as? String ?? "").contains("127.0.0.1:1"), "\(instances[2])")
        // The same description as the instance's own list, plus served_by.
        let own = (try b.client.get("/v1/machines").json["machines"] as? [[String: Any]] ?? [])[0]
        var listed = machines.first { $0["name"] as? String == "on-b" }!
        listed.removeValue(forKey: "served_by")
        XCTAssertEqual(NSDictionary(dictionary: listed), NSDictionary(dictionary: own))

        _ = try b.client.post("/v1/experiments", json: "{\"template\":{\"memory_mib\":32},\"variants\":[{\"name\":\"x\"}],\"preset\":\"kselftest-compaction\"}")
        let jobs = try a.client.get("/v1/fleet/jobs")
        XCTAssertEqual(jobs.status, 200, jobs.text)
        let list = jobs.json["jobs"] as? [[String: Any]] ?? []
        XCTAssertEqual(list.map { $0["served_by"] as? String }, [bURL])
        XCTAssertEqual(list.first?["kind"] as? String, "experiment")
    }

    func testWithoutPeersTheFleetIsThisInstance() throws {
        let s = try TestServer()
        defer { s.stop() }
        try s.createMachine("solo", memoryMiB: 32)
        let r = try s.client.get("/v1/fleet/machines")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json["complete"] as? Bool, true)
        XCTAssertEqual((r.json["instances"] as? [[String: Any]])?.map { $0["url"] as? String }, ["self"])
        XCTAssertEqual((r.json["machines"] as? [[String: Any]])?.map { $0["served_by"] as? String }, ["self"])
    }
}

/// Spread experiments: the parts go through the front (here the peer itself stands in for it), and the
/// merged result is the single-instance run's, byte for byte, in every format.
final class SpreadExperimentTests: XCTestCase {
    static let body = """
        {"template":{"preset":"x86_64","memory_mib":64,"seed":7},"repeat":5,
         "variants":[{"name":"vanilla","compaction":false},{"name":"compaction"}],
         "workload":{"seed":3,"steps":[{"fill":{"kind":"anon","fraction":1.0,"tag":"a"}},
                                       {"free":{"tag":"a","pattern":"random","fraction":0.6}},
                                       {"high_alloc":{"count":12,"stop_on_failure":false}}]}}
        """

    func spread(_ body: String) -> String { "{\"spread\":true," + body.dropFirst() }

    func results(_ c: HTTPClient, _ path: String) throws -> [String] {
        try ["json", "csv", "markdown"].map { f in
            let r = try c.get("\(path)/result?format=\(f)")
            XCTAssertEqual(r.status, 200, r.text)
            return r.text
        }
    }

    func testSpreadResultEqualsTheSingleInstanceRun() throws {
        let peer = try TestServer()
        defer { peer.stop() }
        let url = "http://127.0.0.1:\(peer.port)"
        let owner = try TestServer { $0.fleet = try! FleetPeers(urls: [url], selfURL: nil, front: url) }
        defer { owner.stop() }
        let single = try TestServer()
        defer { single.stop() }

        let put = try owner.client.request("PUT", "/v1/experiments/sweep", body: Array(spread(Self.body).utf8), contentType: "application/json")
        XCTAssertEqual(put.status, 202, put.text)
        let done = try owner.client.get("/v1/experiments/sweep?wait=true&timeout_s=300")
        XCTAssertEqual(done.json["state"] as? String, "succeeded", done.text)
        // The second part ran on the peer, as a named experiment of its own: seeds 10-11 of 7-11.
        let part = try peer.client.get("/v1/experiments/sweep-part-1?wait=true&timeout_s=60")
        XCTAssertEqual(part.json["state"] as? String, "succeeded", part.text)
        let partDoc = try peer.client.get("/v1/experiments/sweep-part-1/result?format=json").json
        XCTAssertEqual(partDoc["repeat"] as? Int, 2)
        XCTAssertNotNil(partDoc["replicates_exact"])

        let whole = try single.client.request("PUT", "/v1/experiments/sweep?wait=true&timeout_s=300", body: Array(Self.body.utf8), contentType: "application/json")
        XCTAssertEqual(whole.status, 200, whole.text)
        XCTAssertEqual(try single.client.get("/v1/experiments/sweep?wait=true&timeout_s=300").json["state"] as? String, "succeeded")
        let merged = try results(owner.client, "/v1/experiments/sweep")
        let alone = try results(single.client, "/v1/experiments/sweep")
        XCTAssertEqual(merged, alone)
        XCTAssertTrue(merged[0].contains("\"repeat\":5"), String(merged[0].prefix(200)))
        XCTAssertFalse(merged[0].contains("replicates_exact"))
        // The seeds differ in what they give, so the order of the merged replicates is tested too.
        let rows = try owner.client.get("/v1/experiments/sweep/result?format=json").json["rows"] as? [[String]] ?? []
        XCTAssertEqual(rows.map { $0[1] }, ["7", "8", "9", "10", "11", "7", "8", "9", "10", "11"])
        XCTAssertGreaterThan(Set(rows.map { $0[ExperimentColumns.index("free_scanned")] }).count, 1, "\(rows)")
    }

    func testSpreadIsRefusedWhereItCannotRun() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = s.client
        let noFront = try c.request("PUT", "/v1/experiments/sweep", body: Array(spread(Self.body).utf8), contentType: "application/json")
        XCTAssertEqual(noFront.status, 422)
        XCTAssertEqual(noFront.json["field"] as? String, "spread")
        XCTAssertTrue(noFront.text.contains("--front"), noFront.text)
        let post = try c.post("/v1/experiments", json: spread(Self.body))
        XCTAssertEqual(post.status, 422)
        XCTAssertEqual(post.json["field"] as? String, "spread")
        let notBool = try c.request("PUT", "/v1/experiments/sweep", body: Array(("{\"spread\":1," + Self.body.dropFirst()).utf8), contentType: "application/json")
        XCTAssertEqual(notBool.json["field"] as? String, "spread")
        XCTAssertEqual(try c.get("/v1/experiments/sweep").status, 404, "a refused request changes nothing")
        XCTAssertEqual((try c.get("/v1/jobs").json["jobs"] as? [Any])?.count, 0)
    }
}

enum ExperimentColumns {
    static func index(_ name: String) -> Int { MMCore.ExperimentResult.columns.firstIndex(of: name)! }
}

/// The peer client's parts that need no network: URLs, and answers as a peer may send them.
@Suite("Fleet peers")
struct FleetPeerTests {
    @Test func peerURLsAreHTTPHostAndPort() {
        #expect(PeerURL("http://compact-0.compact:8080")?.description == "http://compact-0.compact:8080")
        #expect(PeerURL("http://10.0.0.1/")?.port == 80)
        for bad in ["https://a:1", "http://a:0", "http://a:99999", "http://a/b", "http://u@a:1", "a:1", "http://", "http://a b:1"] {
            #expect(PeerURL(bad) == nil, "\(bad)")
        }
    }

    @Test func theSelfURLIsLeftOutAndDuplicatesOnce() throws {
        let f = try FleetPeers(urls: ["http://a:1", "http://b:2", "http://a:1/", "http://c:3"], selfURL: "http://b:2")
        #expect(f.peers.map(\.description) == ["http://a:1", "http://c:3"])
        #expect(f.selfName == "http://b:2")
        #expect(throws: PeerError.self) { try FleetPeers(urls: ["ftp://x"], selfURL: nil) }
    }

    @Test func answersWithLengthChunkedOrToTheEnd() throws {
        let length = Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhelloEXTRA".utf8)
        let a = try PeerClient.parse(length).get()
        #expect(a.status == 200 && a.body == Array("hello".utf8))
        let chunked = Array("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n".utf8)
        let b = try PeerClient.parse(chunked).get()
        #expect(b.status == 404 && b.body == Array("abcdef".utf8))
        let eof = Array("HTTP/1.0 200 OK\r\n\r\n[1]".utf8)
        #expect(try PeerClient.parse(eof).get().body == Array("[1]".utf8))
        #expect(throws: PeerError.self) { try PeerClient.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort".utf8)).get() }
        #expect(throws: PeerError.self) { try PeerClient.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8)).get() }
        #expect(throws: PeerError.self) { try PeerClient.parse(Array("SSH-2.0\r\n\r\n".utf8)).get() }
    }
}
