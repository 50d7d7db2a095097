@testable import CompactServiceKit
import Foundation
import MMCore
import MMFormat
import XCTest

/// GET /v1/machines/{name}/stats/stream against the real server.
final class StreamTests: XCTestCase {
    var ts: TestServer!

    override func setUpWithError() throws {
        ts = try TestServer()
        XCTAssertEqual(try ts.createMachine("s", memoryMiB: 64).status, 201)
    }

    override func tearDown() {
        ts?.stop()
        ts = nil
    }

    func open(_ query: String = "", machine: String = "s", headers: [(String, String)] = []) throws -> SSEClient {
        try SSEClient(port: ts.port, path: "/v1/machines/\(machine)/stats/stream\(query)", headers: headers)
    }

    func testStatsEventsHaveGrowingIdsAndKeepTheInterval() throws {
        let c = try open("?interval_ms=100")
        XCTAssertEqual(c.status, 200)
        XCTAssertEqual(c.header("Content-Type"), "text/event-stream")
        XCTAssertEqual(c.header("Cache-Control"), "no-cache")
        XCTAssertNotNil(c.header("X-Request-ID"))
        var stats: [SSEEvent] = []
        while stats.count < 6, let e = try c.next(named: "stats", timeout: 3) { stats.append(e) }
        XCTAssertEqual(stats.count, 6)
        let ids = stats.compactMap(\.id)
        XCTAssertEqual(ids.count, 6)
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count, "ids are strictly increasing")
        for (a, b) in zip(stats, stats.dropFirst()) {
            let ms = Double(b.at - a.at) / 1e6
            XCTAssertGreaterThan(ms, 60, "events come about every 100 ms")
            XCTAssertLessThan(ms, 400)
        }
        let total = Double(stats.last!.at - stats.first!.at) / 1e6
        XCTAssertGreaterThan(total, 450)
        XCTAssertEqual(stats[0].json["name"] as? String, "s")
        XCTAssertNotNil(stats[0].json["nodes"])
    }

    func testDefaultIntervalIsOneSecond() throws {
        let c = try open()
        let a = try XCTUnwrap(try c.next(named: "stats", timeout: 3))
        let b = try XCTUnwrap(try c.next(named: "stats", timeout: 3))
        let ms = Double(b.at - a.at) / 1e6
        XCTAssertGreaterThan(ms, 900)
        XCTAssertLessThan(ms, 1300)
    }

    func testRejectsBadQueriesAndUnknownMachines() throws {
        let cases: [(String, [(String, String)], Int, String?)] = [
            ("/v1/machines/s/stats/stream?interval_ms=99", [], 400, "interval_ms"),
            ("/v1/machines/s/stats/stream?interval_ms=abc", [], 400, "interval_ms"),
            ("/v1/machines/s/stats/stream?interval_ms=3600001", [], 400, "interval_ms"),
            ("/v1/machines/s/stats/stream?events=compaction,bogus", [], 400, "events"),
            ("/v1/machines/s/stats/stream?events=", [], 400, "events"),
            ("/v1/machines/s/stats/stream", [("Last-Event-ID", "x1")], 400, "Last-Event-ID"),
            ("/v1/machines/nope/stats/stream", [], 404, "name"),
            ("/v1/machines/BAD!/stats/stream", [], 400, "name"),
        ]
        for (path, headers, status, field) in cases {
            let r = try ts.client.request("GET", path, headers: headers)
            XCTAssertEqual(r.status, status, path)
            XCTAssertEqual(r.header("Content-Type"), "application/problem+json", path)
            XCTAssertEqual(r.json["field"] as? String, field, path)
        }
        XCTAssertEqual(try ts.client.request("POST", "/v1/machines/s/stats/stream", body: [], contentType: "application/json").status, 405)
    }

    func testKeepAliveCommentWhenIdle() throws {
        ts.server.http.streams.keepAliveNs.store(150_000_000, ordering: .relaxed)
        let c = try open("?interval_ms=60000")
        XCTAssertNotNil(try c.next(named: "stats", timeout: 3))
        let k = try XCTUnwrap(try c.next(timeout: 2))
        XCTAssertEqual(k.name, ":comment")
        XCTAssertEqual(k.data, "keep-alive")
    }

    /// An allocation that falls back gives mm_page_alloc_extfrag; a compaction gives begin, migratepages
    /// and end, with the kernel tracepoints' fields.
    func testTracepointEvents() throws {
        let c = try open("?interval_ms=60000&events=compaction,extfrag")
        XCTAssertNotNil(try c.next(named: "stats", timeout: 3))
        // Every pageblock starts MOVABLE, so the first slab (reclaimable) allocation falls back.
        XCTAssertEqual(try ts.client.post("/v1/machines/s/allocations", json: "{\"order\":3,\"kind\":\"slab\"}").status, 200)
        let x = try XCTUnwrap(try c.next(named: "mm_page_alloc_extfrag", timeout: 3)).json
        XCTAssertEqual(x["alloc_order"] as? Int, 3)
        XCTAssertEqual(x["alloc_migratetype"] as? Int, Migratetype.reclaimable.rawValue)
        for k in ["pfn", "fallback_order", "pageblock_order", "fallback_migratetype", "fragmenting", "change_ownership", "trace"] {
            XCTAssertNotNil(x[k], k)
        }
        XCTAssertTrue((x["trace"] as? String ?? "").hasPrefix("pfn="))

        try fragmentAndCompact()
        // One begin … end per populated zone, in order, migratepages between them.
        var trace: [SSEEvent] = []
        while let e = try c.next(timeout: 1) { if e.name.hasPrefix("mm_compaction") { trace.append(e) } }
        let begins = trace.filter { $0.name == "mm_compaction_begin" }.map(\.json)
        let ends = trace.filter { $0.name == "mm_compaction_end" }.map(\.json)
        XCTAssertGreaterThan(begins.count, 0)
        XCTAssertEqual(begins.count, ends.count)
        XCTAssertEqual(trace.first?.name, "mm_compaction_begin")
        XCTAssertEqual(trace.last?.name, "mm_compaction_end")
        for (b, e) in zip(begins, ends) {
            for k in ["node", "zone", "zone_start", "migrate_pfn", "free_pfn", "zone_end", "mode"] {
                XCTAssertNotNil(b[k], k)
                XCTAssertNotNil(e[k], k)
            }
            XCTAssertEqual(b["zone"] as? String, e["zone"] as? String)
            XCTAssertNotNil(e["status"] as? String)
            XCTAssertTrue((b["trace"] as? String ?? "").hasPrefix("zone_start=0x"))
        }
        let migrated = trace.filter { $0.name == "mm_compaction_migratepages" }.map { $0.json["nr_migrated"] as? Int ?? 0 }
        XCTAssertGreaterThan(migrated.reduce(0, +), 0)
    }

    func testWorkloadJobProgressIsStreamed() throws {
        let c = try open("?interval_ms=60000&events=jobs")
        XCTAssertNotNil(try c.next(named: "stats", timeout: 3))
        let r = try ts.client.post("/v1/machines/s/workloads", json: #"{"steps":[{"fill":{"kind":"anon","fraction":0.5,"tag":"a"}},{"free":{"tag":"a","pattern":"every_other"}},{"compact":{}}]}"#)
        XCTAssertEqual(r.status, 202, r.text)
        var progress: [[String: Any]] = []
        while let e = try c.next(named: "job_progress", timeout: 5) {
            progress.append(e.json)
            if e.json["state"] as? String == "succeeded" { break }
        }
        XCTAssertEqual(progress.last?["state"] as? String, "succeeded")
        XCTAssertEqual(progress.last?["step"] as? Int, 3)
        XCTAssertEqual(progress.last?["percent"] as? Double, 100)
        let steps = progress.compactMap { $0["step"] as? Int }
        XCTAssertEqual(steps, steps.sorted())
        XCTAssertEqual(Set(progress.compactMap { $0["id"] as? String }).count, 1)
    }

    /// GET /v1/jobs/{id}/stream of an experiment (no machine of the registry runs it): progress events
    /// with growing ids and the job's progress object, then `done` with the final state, then the end.
    func testExperimentProgressIsStreamedToCompletion() throws {
        // Enough steps on two variants that the job is still running when the stream opens.
        let steps = (0..<20).map { i in #"{"fill":{"kind":"anon","fraction":0.3,"tag":"t\#(i)"}},{"free":{"tag":"t\#(i)","pattern":"every_other"}},{"compact":{}}"# }
        let body = #"{"template":{"preset":"x86_64","memory_mib":256,"seed":3},"variants":[{"name":"a"},{"name":"b","compaction":false}],"workload":{"steps":["# + steps.joined(separator: ",") + "]}}"
        let r = try ts.client.post("/v1/experiments", json: body)
        XCTAssertEqual(r.status, 202, r.text)
        let id = try XCTUnwrap(r.json["id"] as? String)
        let c = try SSEClient(port: ts.port, path: "/v1/jobs/\(id)/stream")
        XCTAssertEqual(c.status, 200)
        XCTAssertEqual(c.header("Content-Type"), "text/event-stream")
        let events = try c.drainToEnd(timeout: 120)
        let progress = events.filter { $0.name == "progress" }
        XCTAssertGreaterThan(progress.count, 0)
        let ids = progress.compactMap(\.id)
        XCTAssertEqual(ids.count, progress.count, "every progress event has an id")
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(Set(ids).count, ids.count, "ids are strictly increasing")
        // Progress only moves forward: (variant, step) pairs in order.
        let pos = progress.map { ($0.json["variant"] as? Int ?? -1) * 1000 + ($0.json["step"] as? Int ?? -1) }
        XCTAssertEqual(pos, pos.sorted())
        let last = try XCTUnwrap(progress.last).json
        XCTAssertEqual(last["percent"] as? Double, 100)
        XCTAssertEqual(last["variants"] as? Int, 2)
        XCTAssertEqual(last["variant_name"] as? String, "b")
        XCTAssertEqual(last["steps"] as? Int, 60)
        let done = try XCTUnwrap(events.last)
        XCTAssertEqual(done.name, "done")
        XCTAssertEqual(done.json["state"] as? String, "succeeded")
        XCTAssertEqual(done.json["id"] as? String, id)
        // The progress object is the one GET /v1/jobs/{id} shows.
        let job = try ts.client.get("/v1/jobs/\(id)").json
        let jp = try XCTUnwrap(job["progress"] as? [String: Any])
        XCTAssertEqual(Set(jp.keys), Set(last.keys))
        XCTAssertEqual(jp["percent"] as? Double, 100)
        XCTAssertEqual((done.json["progress"] as? [String: Any])?["percent"] as? Double, 100)
    }

    /// A machine workload job has the same stream; a finished job's stream says so at once and ends;
    /// an unknown job is a 404 naming `id`.
    func testWorkloadJobStreamAndUnknownJob() throws {
        let r = try ts.client.post("/v1/machines/s/workloads?wait=true", json: #"{"steps":[{"fill":{"kind":"anon","fraction":0.2,"tag":"a"}},{"free":{"tag":"a"}}]}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let id = try XCTUnwrap(r.json["id"] as? String)
        let c = try SSEClient(port: ts.port, path: "/v1/jobs/\(id)/stream")
        let events = try c.drainToEnd(timeout: 10).filter { !$0.name.hasPrefix(":") }
        XCTAssertEqual(events.map(\.name), ["progress", "done"])
        XCTAssertEqual(events[0].json["step"] as? Int, 2)
        XCTAssertEqual(events[1].json["state"] as? String, "succeeded")
        let bad = try ts.client.request("GET", "/v1/jobs/job-999999/stream")
        XCTAssertEqual(bad.status, 404)
        XCTAssertEqual(bad.header("Content-Type"), "application/problem+json")
        XCTAssertEqual(bad.json["field"] as? String, "id")
    }

    /// Movable pages scattered over the machine, then a full compaction (what POST …/compact runs).
    func fragmentAndCompact() throws {
        XCTAssertEqual(try ts.client.post("/v1/machines/s/allocations", json: "{\"count\":4000,\"tag\":\"frag\"}").status, 200)
        XCTAssertEqual(try ts.client.post("/v1/machines/s/allocations/free", json: "{\"tag\":\"frag\",\"pattern\":\"every_other\"}").status, 200)
        let box = try ts.server.registry.get("s")
        _ = try box.withMachine(mutating: true) { m in try m.compactMemory().zones.count }
    }

    /// A client that reconnects with Last-Event-ID gets the events it missed, in order, before new stats.
    func testLastEventIDReplaysMissedEvents() throws {
        var lastSeen: UInt64 = 0
        do {
            let c = try open("?interval_ms=60000&events=compaction,extfrag")
            XCTAssertNotNil(try c.next(named: "stats", timeout: 3))
            XCTAssertEqual(try ts.client.post("/v1/machines/s/allocations", json: "{\"order\":3,\"kind\":\"slab\"}").status, 200)
            lastSeen = try XCTUnwrap(try c.next(named: "mm_page_alloc_extfrag", timeout: 3)?.id)
        }  // disconnected
        try fragmentAndCompact()  // happens while no one listens

        let c = try open("?interval_ms=60000&events=compaction", headers: [("Last-Event-ID", String(lastSeen))])
        var names: [String] = []
        var ids: [UInt64] = []
        while let e = try c.next(timeout: 3) {
            if e.name.hasPrefix(":") { continue }
            names.append(e.name)
            ids.append(try XCTUnwrap(e.id))
            if e.name == "stats" { break }
        }
        XCTAssertEqual(names.first, "mm_compaction_begin")
        XCTAssertEqual(names.last, "stats")
        XCTAssertTrue(names.contains("mm_compaction_end"))
        XCTAssertFalse(names.contains("mm_page_alloc_extfrag"), "only the categories asked for")
        XCTAssertTrue(ids.allSatisfy { $0 > lastSeen })
        XCTAssertEqual(ids, ids.sorted())
    }

    func testStreamEndsWhenItsMachineIsDeleted() throws {
        let c = try open("?interval_ms=100")
        XCTAssertNotNil(try c.next(named: "stats", timeout: 3))
        XCTAssertEqual(try ts.client.delete("/v1/machines/s").status, 204)
        let rest = try c.drainToEnd(timeout: 3)
        XCTAssertTrue(c.ended, "the stream ends")
        let end = try XCTUnwrap(rest.last)
        XCTAssertEqual(end.name, "end")
        XCTAssertEqual(end.json["reason"] as? String, "machine_deleted")
        XCTAssertEqual(try ts.client.get("/healthz").status, 200)
    }

    func testShutdownEndsStreamsPromptly() throws {
        XCTAssertEqual(try ts.createMachine("t", memoryMiB: 64).status, 201)
        let clients = try (0..<6).map { i in try open("?interval_ms=\(i % 2 == 0 ? 100 : 60000)", machine: i % 3 == 0 ? "t" : "s") }
        for c in clients { XCTAssertNotNil(try c.next(named: "stats", timeout: 3)) }
        Thread.sleep(forTimeInterval: 0.2)  // let them park
        let t0 = monotonicNs()
        ts.stop()
        let ms = Double(monotonicNs() - t0) / 1e6
        ts = nil
        XCTAssertLessThan(ms, 2000, "stop does not wait for streams to time out")
        for c in clients {
            let rest = try c.drainToEnd(timeout: 2)
            XCTAssertTrue(c.ended)
            XCTAssertEqual(rest.last?.name, "end")
            XCTAssertEqual(rest.last?.json["reason"] as? String, "shutdown")
        }
    }

    /// Parked streams cost their worker thread nothing: /healthz stays fast with many of them open.
    func testManyStreamsDoNotStarveOtherRequests() throws {
        let n = 100
        let clients = try (0..<n).map { _ in try open("?interval_ms=100") }
        for c in clients { XCTAssertNotNil(try c.next(named: "stats", timeout: 5)) }
        let metrics = try ts.client.get("/metrics").text
        XCTAssertTrue(metrics.contains("compact_service_sse_streams \(n)\n"), "gauge counts open streams")
        var worst = 0.0
        var times: [Double] = []
        for _ in 0..<100 {
            let t0 = monotonicNs()
            XCTAssertEqual(try ts.client.get("/healthz").status, 200)
            let ms = Double(monotonicNs() - t0) / 1e6
            times.append(ms)
            worst = max(worst, ms)
        }
        times.sort()
        XCTAssertLessThan(times[50], 20, "median /healthz with \(n) streams")
        XCTAssertLessThan(worst, 250, "slowest /healthz with \(n) streams")
        // The streams kept flowing meanwhile.
        for c in clients.prefix(5) { XCTAssertNotNil(try c.next(named: "stats", timeout: 3)) }
    }
}
