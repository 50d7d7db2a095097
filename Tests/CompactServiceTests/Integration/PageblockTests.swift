@testable import CompactServiceKit
import Foundation
import MMCore
import MMFormat
import XCTest

/// The dashboard's data against the real server: GET …/pageblocks (binary), GET …/pages, the stream's
/// `pageblocks` and `compaction_scanners` events, the zones' fragmentation index, and the page itself.
final class PageblockTests: XCTestCase {
    var ts: TestServer!
    var c: HTTPClient { ts.client }

    override func setUpWithError() throws {
        ts = try TestServer()
        XCTAssertEqual(try ts.createMachine("p", memoryMiB: 128, extra: #","nodes":2"#).status, 201)
    }

    override func tearDown() {
        ts?.stop()
        ts = nil
    }

    func document(_ machine: String = "p") throws -> PageblockMap.Decoded {
        let r = try c.get("/v1/machines/\(machine)/pageblocks")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Type"), "application/vnd.compact-service.pageblocks")
        return try PageblockMap.decode(r.body)
    }

    func generation(_ d: PageblockMap.Decoded) -> UInt64 {
        guard case .number(let g)? = d.header["generation"] else { return 0 }
        return UInt64(g) ?? 0
    }

    func allocate(_ body: String) throws -> [String: Any] {
        let r = try c.post("/v1/machines/p/allocations", json: body)
        XCTAssertEqual(r.status, 200, String(r.text.prefix(300)))
        return r.json
    }

    func testDocumentAgreesWithStatsAndIsCachedPerGeneration() throws {
        _ = try allocate(#"{"kind":"kernel","count":3000,"tag":"k"}"#)
        _ = try allocate(#"{"kind":"anon","count":9000,"order":1,"tag":"a"}"#)
        let d = try document()
        let stats = try c.get("/v1/machines/p/stats").json
        XCTAssertEqual(generation(d), UInt64(stats["generation"] as! Int))
        XCTAssertEqual(d.table.count, (stats["total_pages"] as! Int) >> 9)
        var free = 0, pcp = 0, kernel = 0, anon = 0, pages = 0
        for b in 0..<d.table.count {
            let i = d.table.info(b)
            free += i[.free]; pcp += i[.pcp]; kernel += i[.kernel]; anon += i[.anon]; pages += i.pages
        }
        XCTAssertEqual(pages, stats["total_pages"] as! Int)
        XCTAssertEqual(free, stats["free_pages"] as! Int)
        XCTAssertEqual(pcp, stats["pcp_pages"] as! Int)
        // PageReserved boot pages show as kernel (unmovable) pages.
        XCTAssertEqual(kernel, 3000 + ((stats["boot_reserved"] as? [String: Any])?["total_pages"] as? Int ?? -1))
        XCTAssertEqual(anon, 18000)
        if case .array(let zones)? = d.header["zones"] { XCTAssertEqual(zones.count, 3) } else { XCTFail("zones") }
        // Unchanged machine: the same bytes; a change: a new generation.
        XCTAssertEqual(try c.get("/v1/machines/p/pageblocks").body, try c.get("/v1/machines/p/pageblocks").body)
        _ = try allocate(#"{"kind":"slab","count":10}"#)
        XCTAssertGreaterThan(generation(try document()), generation(d))
        XCTAssertEqual(try c.request("HEAD", "/v1/machines/p/pageblocks").status, 200)
        XCTAssertEqual(try c.get("/v1/machines/nope/pageblocks").status, 404)
        XCTAssertEqual(try c.get("/v1/machines/BAD!/pageblocks").status, 400)
    }

    func testPagesShowsTheBlocksOfARange() throws {
        let a = try allocate(#"{"kind":"kernel","order":3,"count":1}"#)
        let handle = try XCTUnwrap((a["handles"] as? [Int])?.first)
        let pfn = try XCTUnwrap(try c.get("/v1/machines/p/allocations/\(handle)").json["pfn"] as? Int)
        let r = try c.get("/v1/machines/p/pages?start_pfn=\(pfn + 5)&count=1")
        XCTAssertEqual(r.status, 200, r.text)
        let blocks = try XCTUnwrap(r.json["blocks"] as? [[String: Any]])
        XCTAssertEqual(blocks.count, 1)
        XCTAssertEqual(blocks[0]["pfn"] as? Int, pfn)
        XCTAssertEqual(blocks[0]["order"] as? Int, 3)
        XCTAssertEqual(blocks[0]["state"] as? String, "allocated")
        XCTAssertEqual(blocks[0]["kind"] as? String, "kernel")
        XCTAssertEqual(blocks[0]["migratetype"] as? String, "Unmovable")
        XCTAssertEqual(blocks[0]["isolated"] as? Bool, false)
        // Default: one pageblock, covered exactly by contiguous blocks.
        let start = (pfn >> 9) << 9
        let whole = try c.get("/v1/machines/p/pages?start_pfn=\(start)").json
        XCTAssertEqual(whole["count"] as? Int, 512)
        var next = start
        for b in whole["blocks"] as! [[String: Any]] {
            XCTAssertEqual(b["pfn"] as? Int, next)
            next += 1 << (b["order"] as! Int)
            XCTAssertTrue(["free", "pcp", "allocated", "isolated_free"].contains(b["state"] as! String))
        }
        XCTAssertEqual(next, start + 512)
    }

    func testPagesRejectsBadRangesNamingTheField() throws {
        let g = try c.get("/v1/machines/p").json["generation"] as! Int
        let total = try c.get("/v1/machines/p").json["total_pages"] as! Int
        for (query, status, field) in [("", 400, "start_pfn"), ("?start_pfn=abc", 400, "start_pfn"), ("?start_pfn=-1", 400, "start_pfn"),
                                       ("?start_pfn=0&count=0", 422, "count"), ("?start_pfn=0&count=40000", 422, "count"),
                                       ("?start_pfn=0&count=1x", 400, "count"), ("?start_pfn=\(total)", 422, "start_pfn"),
                                       ("?start_pfn=\(total - 10)&count=11", 422, "count")] {
            let r = try c.get("/v1/machines/p/pages\(query)")
            XCTAssertEqual(r.status, status, query)
            XCTAssertEqual(r.header("Content-Type"), "application/problem+json", query)
            XCTAssertEqual(r.json["field"] as? String, field, query)
        }
        XCTAssertEqual(try c.get("/v1/machines/nope/pages?start_pfn=0").status, 404)
        XCTAssertEqual(try c.get("/v1/machines/p").json["generation"] as? Int, g, "a rejected request changes nothing")
    }

    /// The stream's `pageblocks` events, applied to the document the client had, give the new document.
    func testPageblocksEventsCarryTheChangedBlocks() throws {
        let d0 = try document()
        let sse = try SSEClient(port: ts.port, path: "/v1/machines/p/stats/stream?interval_ms=100&events=pageblocks&pageblocks_since=\(generation(d0))")
        XCTAssertEqual(sse.status, 200)
        _ = try allocate(#"{"kind":"kernel","count":700}"#)
        _ = try allocate(#"{"kind":"anon","count":5000,"order":2}"#)
        let target = generation(try document())
        var table = d0.table
        var seen: UInt64 = generation(d0)
        let deadline = Date().addingTimeInterval(10)
        while seen < target && Date() < deadline {
            guard let e = try sse.next(named: "pageblocks", timeout: 5) else { break }
            let j = e.json
            XCTAssertEqual(j["reset"] as? Bool, false)
            XCTAssertEqual(j["since"] as? Int, Int(seen), "each event follows the last")
            XCTAssertNil(e.id, "pageblocks events carry no id")
            for row in j["blocks"] as! [[Int]] {
                XCTAssertEqual(row.count, 10)
                table.flags[row[0]] = UInt8(row[1])
                for k in 0..<8 { table.counts[row[0] * 8 + k] = UInt16(row[2 + k]) }
            }
            seen = UInt64(j["generation"] as! Int)
        }
        XCTAssertEqual(seen, target)
        XCTAssertEqual(table, try document().table, "the events turn the old map into the new one")
        XCTAssertNotEqual(table, d0.table)
    }

    func testPageblocksSinceIsChecked() throws {
        let g = try c.get("/v1/machines/p").json["generation"] as! Int
        for (q, field) in [("?events=pageblocks&pageblocks_since=\(g + 1000)", "pageblocks_since"),
                           ("?events=pageblocks&pageblocks_since=x", "pageblocks_since"),
                           ("?events=compaction&pageblocks_since=0", "pageblocks_since"),
                           ("?events=pageblocks,nope", "events")] {
            let r = try c.get("/v1/machines/p/stats/stream\(q)")
            XCTAssertEqual(r.status, 400, q)
            XCTAssertEqual(r.json["field"] as? String, field, q)
        }
    }

    /// A manual compaction's scanners: positions inside the zone, the migration scanner moving up and
    /// the free scanner down, between mm_compaction_begin and mm_compaction_end.
    func testCompactionScannersMoveTowardsEachOther() throws {
        XCTAssertEqual(try ts.createMachine("f", memoryMiB: 512).status, 201)
        XCTAssertEqual(try c.post("/v1/machines/f/allocations", json: #"{"count":100000,"tag":"a"}"#).status, 200)
        XCTAssertEqual(try c.post("/v1/machines/f/allocations/free", json: #"{"tag":"a","pattern":"random","fraction":0.8,"seed":1}"#).status, 200)
        let sse = try SSEClient(port: ts.port, path: "/v1/machines/f/stats/stream?interval_ms=60000&events=compaction,scanners")
        XCTAssertEqual(try c.post("/v1/machines/f/compact", json: "{}").status, 200)
        var events: [SSEEvent] = []
        while let e = try sse.next(timeout: 1) {
            if e.name == "compaction_scanners" || e.name.hasPrefix("mm_compaction_") { events.append(e) }
        }
        let scanners = events.filter { $0.name == "compaction_scanners" }
        XCTAssertFalse(scanners.isEmpty, "a 512 MiB compaction takes more than one 2 ms step")
        var last: [String: (Int, Int)] = [:]
        for e in scanners {
            let j = e.json
            let zone = "\(j["node"]!)/\(j["zone"]!)"
            let m = j["migrate_pfn"] as! Int, f = j["free_pfn"] as! Int
            XCTAssertGreaterThanOrEqual(m, j["zone_start"] as! Int)
            XCTAssertLessThanOrEqual(f, j["zone_end"] as! Int)
            if let (pm, pf) = last[zone] {
                XCTAssertGreaterThanOrEqual(m, pm, "migration scanner moves up")
                XCTAssertLessThanOrEqual(f, pf, "free scanner moves down")
            }
            last[zone] = (m, f)
            XCTAssertNotNil(e.id, "scanner events are ring events, replayable")
        }
        let names = events.map(\.name)
        XCTAssertEqual(names.first, "mm_compaction_begin")
        XCTAssertEqual(names.last, "mm_compaction_end")
    }

    func testDescriptionsCarryTheHugePageFragmentationIndex() throws {
        let zones = try XCTUnwrap(try c.get("/v1/machines/p").json["zones"] as? [[String: Any]])
        XCTAssertEqual(zones.count, 3)
        for z in zones {
            XCTAssertEqual(z["fragmentation_index"] as? Double, -1, "a fresh machine has free order-9 blocks")
            XCTAssertNotNil(z["free_pages"] as? Int)
        }
        let listed = try XCTUnwrap((try c.get("/v1/machines").json["machines"] as? [[String: Any]])?.first?["zones"] as? [[String: Any]])
        XCTAssertEqual(listed.count, 3)
    }

    func testTheDashboardIsServedWithoutInlineScriptOrStyle() throws {
        let page = try c.get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.header("Content-Type"), "text/html; charset=utf-8")
        XCTAssertEqual(page.header("Content-Security-Policy"), UIRoutes.contentSecurityPolicy)
        XCTAssertTrue(UIRoutes.contentSecurityPolicy.hasPrefix("default-src 'none'; script-src 'self'; style-src 'self';"))
        let html = page.text
        XCTAssertTrue(html.contains(#"<script src="/ui/dashboard.js" defer></script>"#))
        XCTAssertTrue(html.contains(#"<link rel="stylesheet" href="/ui/dashboard.css">"#))
        // CSP `script-src 'self'`: no inline script, no inline handlers or style attributes, nothing remote.
        XCTAssertEqual(html.components(separatedBy: "<script").count - 1, 1)
        XCTAssertNil(html.range(of: #"\son[a-z]+="#, options: .regularExpression))
        XCTAssertNil(html.range(of: #"\sstyle="#, options: .regularExpression))
        XCTAssertNil(html.range(of: "http://|https://|//cdn", options: .regularExpression))
        for (path, type) in [("/ui/dashboard.js", "text/javascript; charset=utf-8"), ("/ui/dashboard.css", "text/css; charset=utf-8"),
                             ("/ui/favicon.svg", "image/svg+xml")] {
            let r = try c.get(path)
            XCTAssertEqual(r.status, 200, path)
            XCTAssertEqual(r.header("Content-Type"), type, path)
            XCTAssertEqual(r.header("Content-Security-Policy"), UIRoutes.contentSecurityPolicy, path)
            XCTAssertGreaterThan(r.body.count, 100, path)
        }
        let js = try c.get("/ui/dashboard.js").text
        for banned in ["eval(", "new Function", "innerHTML", "setAttribute('style'", "http://", "https://", "EventSource("] {
            XCTAssertFalse(js.contains(banned), banned)
        }
        XCTAssertEqual(try c.get("/ui/nope.js").status, 404)
    }

    func testReadyzSaysWhichRequestsNeedAToken() throws {
        XCTAssertEqual(try c.get("/readyz").json["auth"] as? String, "none")
        let secured = try TestServer { $0.token = "t0ken-abc" }
        defer { secured.stop() }
        XCTAssertEqual(try secured.client.get("/readyz").json["auth"] as? String, "changes")
        let closed = try TestServer { $0.token = "t0ken-abc"; $0.requireTokenForReads = true }
        defer { closed.stop() }
        XCTAssertEqual(try closed.client.get("/readyz").status, 401)
        XCTAssertEqual(try closed.client.request("GET", "/readyz", headers: [("Authorization", "Bearer t0ken-abc")]).json["auth"] as? String, "all")
        // The page and its files are static: served without a token, whatever the policy.
        for path in ["/", "/ui/dashboard.js", "/ui/dashboard.css", "/ui/favicon.svg"] {
            XCTAssertEqual(try closed.client.get(path).status, 200, path)
        }
    }
}
