@testable import CompactServiceKit
import Foundation
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
