import MMFormat

@testable import CompactServiceKit
import Dispatch
import Foundation
import Synchronization
import XCTest

/// Host and Origin checks, scoped tokens, rate limits, browser headers and TLS, against the real server.
final class SecurityTests: XCTestCase {
    private func machineCount(_ ts: TestServer) -> Int { ts.server.registry.count }

    /// A page that reaches the service through DNS rebinding sends its own Host: refused, nothing changes.
    func testRebindingHostIsRefusedAndChangesNothing() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        let c = ts.client
        let body = Array("{\"name\":\"r\",\"memory_mib\":64}".utf8)
        let r = try c.request("POST", "/v1/machines", body: body, contentType: "application/json",
                              rawHead: "POST /v1/machines HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
        XCTAssertEqual(r.status, 421, r.text)
        XCTAssertEqual(r.header("Content-Type"), "application/problem+json")
        XCTAssertEqual(r.json["field"] as? String, "Host")
        XCTAssertEqual(machineCount(ts), 0)
        let g = try c.request("GET", "/v1/machines", rawHead: "GET /v1/machines HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(g.status, 421)
        for host in ["localhost:8080", "127.0.0.1", "[::1]:9"] {
            let ok = try c.request("GET", "/v1/machines", rawHead: "GET /v1/machines HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
            XCTAssertEqual(ok.status, 200, host)
        }
    }

    /// A reverse proxy's name is accepted once listed.
    func testAllowedProxyHostIsAccepted() throws {
        let ts = try TestServer { $0.allowedHosts = ["proxy.internal"] }
        defer { ts.stop() }
        let r = try ts.client.request("GET", "/v1/machines", rawHead: "GET /v1/machines HTTP/1.1\r\nHost: Proxy.Internal:443\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(r.status, 200)
        let any = try TestServer { $0.allowedHosts = ["*"] }
        defer { any.stop() }
        XCTAssertEqual(try any.client.request("GET", "/v1/machines", rawHead: "GET /v1/machines HTTP/1.1\r\nHost: whatever\r\nConnection: close\r\n\r\n").status, 200)
    }

    /// Mutations carrying another origin are refused; the service's own origin and allowed ones pass,
    /// and CORS preflight answers allowed origins only.
    func testOriginsOfMutationsAndPreflight() throws {
        let ts = try TestServer { $0.allowedOrigins = ["https://dash.example"] }
        defer { ts.stop() }
        let c = ts.client
        let body = "{\"name\":\"o\",\"memory_mib\":64}"
        let evil = try c.post("/v1/machines", json: body, headers: [("Origin", "http://evil.example")])
        XCTAssertEqual(evil.status, 403, evil.text)
        XCTAssertEqual(evil.json["field"] as? String, "Origin")
        XCTAssertEqual(machineCount(ts), 0)
        let same = try c.post("/v1/machines", json: body, headers: [("Origin", "http://127.0.0.1")])
        XCTAssertEqual(same.status, 201, same.text)
        let allowed = try c.post("/v1/machines/o/allocations", json: "{\"count\":1}", headers: [("Origin", "https://dash.example")])
        XCTAssertEqual(allowed.status, 200)
        XCTAssertEqual(allowed.header("Access-Control-Allow-Origin"), "https://dash.example")
        // A read from another origin is answered, without the CORS header a browser needs to read it.
        let read = try c.request("GET", "/v1/machines/o", headers: [("Origin", "http://evil.example")])
        XCTAssertEqual(read.status, 200)
        XCTAssertNil(read.header("Access-Control-Allow-Origin"))
        let pre = try c.request("OPTIONS", "/v1/machines/o/allocations",
                                headers: [("Origin", "https://dash.example"), ("Access-Control-Request-Method", "POST")])
        XCTAssertEqual(pre.status, 204)
        XCTAssertEqual(pre.header("Access-Control-Allow-Origin"), "https://dash.example")
        XCTAssertTrue(pre.header("Access-Control-Allow-Methods")?.contains("POST") ?? false)
        XCTAssertTrue(pre.header("Access-Control-Allow-Headers")?.contains("Authorization") ?? false)
        XCTAssertEqual(try c.request("OPTIONS", "/v1/machines/o/allocations", headers: [("Origin", "http://evil.example")]).status, 403)
    }

    /// Each scope allows exactly what it names; a wrong token is 401, too small a scope 403.
    func testScopesAllowAndRefuseExactlyWhatTheyName() throws {
        let ts = try TestServer {
            $0.tokens = [ScopedToken(scope: .read, bytes: Array("reader-token".utf8)),
                         ScopedToken(scope: .write, bytes: Array("writer-token".utf8)),
                         ScopedToken(scope: .admin, bytes: Array("admin-token1".utf8))]
        }
        defer { ts.stop() }
        let c = ts.client
        func auth(_ t: String) -> [(String, String)] { [("Authorization", "Bearer \(t)")] }
        let create = "{\"name\":\"s\",\"memory_mib\":64}"
        XCTAssertEqual(try c.post("/v1/machines", json: create).status, 401)
        XCTAssertEqual(try c.post("/v1/machines", json: create, headers: auth("nobody-token")).status, 401)
        XCTAssertEqual(try c.post("/v1/machines", json: create, headers: auth("reader-token")).status, 403)
        let w = try c.post("/v1/machines", json: create, headers: auth("writer-token"))
        XCTAssertEqual(w.status, 403)
        XCTAssertTrue(w.header("WWW-Authenticate")?.contains("insufficient_scope") ?? false)
        XCTAssertEqual(machineCount(ts), 0)
        XCTAssertEqual(try c.post("/v1/machines", json: create, headers: auth("admin-token1")).status, 201)
        // Reads need no token by default.
        XCTAssertEqual(try c.get("/v1/machines/s").status, 200)
        // write: allocations, compaction, workloads; not sysctls or deletes.
        XCTAssertEqual(try c.post("/v1/machines/s/allocations", json: "{\"count\":1}", headers: auth("reader-token")).status, 403)
        XCTAssertEqual(try c.post("/v1/machines/s/allocations", json: "{\"count\":1}", headers: auth("writer-token")).status, 200)
        XCTAssertEqual(try c.request("POST", "/v1/machines/s/compact", headers: auth("writer-token")).status, 200)
        XCTAssertEqual(try c.request("PUT", "/v1/machines/s/proc/sys/vm/extfrag_threshold", body: Array("400".utf8),
                                     contentType: "text/plain", headers: auth("writer-token")).status, 403)
        XCTAssertEqual(try c.request("PUT", "/v1/machines/s/proc/sys/vm/extfrag_threshold", body: Array("400".utf8),
                                     contentType: "text/plain", headers: auth("admin-token1")).status, 200)
        XCTAssertEqual(try c.request("DELETE", "/v1/machines/s", headers: auth("writer-token")).status, 403)
        XCTAssertEqual(try c.request("DELETE", "/v1/machines/s", headers: auth("admin-token1")).status, 204)
    }

    /// With --require-token-for-reads, reads need a token of any scope; /healthz stays open.
    func testReadsCanRequireAToken() throws {
        let ts = try TestServer {
            $0.tokens = [ScopedToken(scope: .read, bytes: Array("reader-token".utf8))]
            $0.requireTokenForReads = true
        }
        defer { ts.stop() }
        let c = ts.client
        XCTAssertEqual(try c.get("/v1/machines").status, 401)
        XCTAssertEqual(try c.get("/metrics").status, 401)
        XCTAssertEqual(try c.request("GET", "/v1/machines", headers: [("Authorization", "Bearer reader-token")]).status, 200)
        XCTAssertEqual(try c.get("/healthz").status, 200)
    }

    /// A client bursting mutations gets 429 with Retry-After; another client is unaffected.
    func testRateLimitRefusesABurstAndSparesOtherClients() throws {
        let ts = try TestServer {
            $0.rateLimit = 20
            $0.tokens = [ScopedToken(scope: .admin, bytes: Array("noisy-token1".utf8)),
                         ScopedToken(scope: .admin, bytes: Array("quiet-token1".utf8))]
        }
        defer { ts.stop() }
        let c = ts.client
        XCTAssertEqual(try c.post("/v1/machines", json: "{\"name\":\"l\",\"memory_mib\":64}",
                                  headers: [("Authorization", "Bearer quiet-token1")]).status, 201)
        let statuses = Mutex<[Int: Int]>([:])
        let port = ts.port
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let n = HTTPClient(port: port)
            for _ in 0..<40 {
                let s = (try? n.post("/v1/machines/l/allocations", json: "{\"count\":1}", headers: [("Authorization", "Bearer noisy-token1")]))
                statuses.withLock { $0[s?.status ?? -1, default: 0] += 1 }
                if let s, s.status == 429 {
                    XCTAssertNotNil(s.header("Retry-After"))
                    XCTAssertEqual(s.header("Content-Type"), "application/problem+json")
                }
            }
        }
        let seen = statuses.withLock { $0 }
        XCTAssertGreaterThan(seen[429] ?? 0, 50, "\(seen)")
        XCTAssertLessThanOrEqual(seen[200] ?? 0, 60, "\(seen)")
        // The other client was never limited.
        for _ in 0..<5 {
            XCTAssertEqual(try c.post("/v1/machines/l/allocations", json: "{\"count\":1}", headers: [("Authorization", "Bearer quiet-token1")]).status, 200)
        }
        // Reads are never limited.
        XCTAssertEqual(try c.get("/v1/machines/l").status, 200)
    }

    /// Every answer carries the headers a browser needs.
    func testBrowserHeaders() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        let c = ts.client
        try ts.createMachine("h", memoryMiB: 64)
        for r in [try c.get("/v1/machines/h"), try c.get("/v1/machines/nope"), try c.get("/v1/machines/h/proc/buddyinfo")] {
            XCTAssertEqual(r.header("X-Content-Type-Options"), "nosniff")
            XCTAssertEqual(r.header("Referrer-Policy"), "no-referrer")
            XCTAssertEqual(r.header("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'")
            XCTAssertEqual(r.header("Cache-Control"), "no-store")
        }
        XCTAssertEqual(try c.get("/healthz").header("X-Content-Type-Options"), "nosniff")
    }

    /// HTTPS with a certificate made for the test: a handshake, JSON and a stream over TLS.
    func testTLSServesRequestsAndStreams() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        let gen = try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                               "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        XCTAssertEqual(gen.status, 0, gen.output)
        let ts = try TestServer {
            $0.tlsCertPath = cert
            $0.tlsKeyPath = key
        }
        defer { ts.stop() }
        let base = "https://127.0.0.1:\(ts.port)"
        let create = try run("/usr/bin/curl", ["-sS", "--cacert", cert, "-X", "POST", "-H", "Content-Type: application/json",
                                               "-d", "{\"name\":\"t\",\"memory_mib\":64}", "-o", "/dev/null", "-w", "%{http_code}",
                                               "\(base)/v1/machines"])
        XCTAssertEqual(create.output, "201", create.output)
        let health = try run("/usr/bin/curl", ["-sS", "--cacert", cert, "\(base)/healthz"])
        XCTAssertEqual(health.output, "{\"status\":\"ok\"}\n")
        // A stream: the first stats event arrives over TLS (curl stops after 2 s).
        let stream = try run("/usr/bin/curl", ["-sS", "-N", "--cacert", cert, "--max-time", "2", "\(base)/v1/machines/t/stats/stream?interval_ms=100"])
        XCTAssertTrue(stream.output.contains("event: stats"), String(stream.output.prefix(300)))
        // Plain HTTP to the TLS port is not served.
        let plain = try run("/usr/bin/curl", ["-sS", "--max-time", "2", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(ts.port)/healthz"])
        XCTAssertNotEqual(plain.output, "200")
    }

    private func run(_ exe: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
