@testable import CompactServiceKit
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// One keep-alive connection: requests one after another, each answer read to its Content-Length, so
/// the server's per-connection kept response (HTTP/ReusedResponse.swift) is used as a polling client
/// uses it. (`HTTPClient` sends `Connection: close`, so it never reaches a kept response.)
private final class KeepAliveConnection {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket failed") }
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard HTTPClient.connectLoopback(fd, port: port) else { throw TestError("connect failed: \(errno)") }
    }

    deinit { close(fd) }

    func request(_ method: String, _ path: String, headers: [(String, String)] = []) throws -> HTTPResult {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        let out = Array(head.utf8)
        guard out.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == out.count else {
            throw TestError("send failed")
        }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            if let sep = HTTPClient.findCRLFCRLF(data) {
                let r = try HTTPClient.parse(data)
                let length = method == "HEAD" ? 0 : Int(r.header("Content-Length") ?? "0") ?? 0
                if data.count >= sep + 4 + length {
                    XCTAssertEqual(data.count, sep + 4 + length, "no bytes beyond the answer")
                    let head = String(decoding: data[0..<sep], as: UTF8.self).lowercased()
                    XCTAssertEqual(head.components(separatedBy: "\r\nx-request-id:").count, 2, "one X-Request-ID: \(head)")
                    return try HTTPClient.parse(data)
                }
            }
            let n = recv(fd, &buf, buf.count, 0)
            guard n > 0 else { throw TestError("connection closed after \(data.count) bytes") }
            data += buf[0..<n]
        }
    }
}

final class KeptResponseTests: XCTestCase {
    /// Every answer on a kept connection carries its own request's X-Request-ID, once.
    func testFixedAnswerKeepsItsBytesAndTakesEachRequestID() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        let conn = try KeepAliveConnection(port: ts.port)
        var seen = Set<String>()
        for i in 0..<6 {
            let headers = i % 3 == 0 ? [("X-Request-ID", "client-\(i)")] : []
            let r = try conn.request("GET", "/healthz", headers: headers)
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.text, "{\"status\":\"ok\"}\n")
            XCTAssertEqual(r.header("Content-Type"), "application/json")
            XCTAssertEqual(r.header("X-Content-Type-Options"), "nosniff")
            let id = try XCTUnwrap(r.header("X-Request-ID"))
            if i % 3 == 0 { XCTAssertEqual(id, "client-\(i)") }
            XCTAssertTrue(seen.insert(id).inserted, "request id \(id) repeated")
        }
        // Another answer on the same connection, then the fixed one again.
        XCTAssertEqual(try conn.request("GET", "/openapi.yaml").header("Content-Type"), "application/yaml")
        XCTAssertEqual(try conn.request("GET", "/healthz").text, "{\"status\":\"ok\"}\n")
    }

    /// A polled document is the machine's current one after every change: never the kept bytes of an
    /// older generation, on the polling connection or a HEAD on it.
    func testPolledStatsFollowTheMachine() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        XCTAssertEqual(try ts.createMachine("k").status, 201)
        let conn = try KeepAliveConnection(port: ts.port)
        var generations: [Int] = []
        var ids = Set<String>()
        for round in 0..<4 {
            for _ in 0..<3 {
                let r = try conn.request("GET", "/v1/machines/k/stats")
                XCTAssertEqual(r.status, 200, r.text)
                XCTAssertEqual(r.header("Cache-Control"), "no-store")
                XCTAssertEqual(r.header("Referrer-Policy"), "no-referrer")
                XCTAssertTrue(ids.insert(try XCTUnwrap(r.header("X-Request-ID"))).inserted)
                let direct = try ts.client.get("/v1/machines/k/stats")
                XCTAssertEqual(r.body, direct.body, "round \(round): the kept answer is the current document")
                generations.append(try XCTUnwrap(r.json["generation"] as? Int))
            }
            let head = try conn.request("HEAD", "/v1/machines/k/stats")
            XCTAssertEqual(head.status, 200)
            XCTAssertTrue(head.body.isEmpty)
            // A change through another connection moves the generation.
            let a = try ts.client.post("/v1/machines/k/allocations", json: #"{"count":\#(round + 1),"tag":"t\#(round)"}"#)
            XCTAssertEqual(a.status, 200, a.text)
        }
        let after = try conn.request("GET", "/v1/machines/k/stats")
        XCTAssertEqual(after.body, try ts.client.get("/v1/machines/k/stats").body)
        XCTAssertGreaterThan(try XCTUnwrap(after.json["generation"] as? Int), generations.last!)
        XCTAssertEqual(Set(generations).count, 4, "one generation per round: \(generations)")
        // A different answer on the connection (an error) is not a kept one.
        XCTAssertEqual(try conn.request("GET", "/v1/machines/nope/stats").status, 404)
        XCTAssertEqual(try conn.request("GET", "/v1/machines/k/stats").status, 200)
    }
}
