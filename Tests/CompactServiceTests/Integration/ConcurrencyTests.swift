@testable import CompactServiceKit
import Dispatch
import Foundation
import MMCore
import MMFormat
import Synchronization
import XCTest

/// Many clients at once on one machine: allocators, freers, compactors and readers; afterwards every invariant
/// holds (consistency checker, contents through handles, counters against what the clients did).
final class ConcurrencyTests: XCTestCase {
    /// What the clients believe is live: handle → order.
    final class Ledger: Sendable {
        let live = Mutex<[Int: Int]>([:])
        let failures = Mutex<[String]>([])
        func fail(_ s: String) { failures.withLock { $0.append(s) } }
    }

    func testConcurrentAllocatorsFreersCompactorsAndReaders() throws {
        let ts = try TestServer { $0.threads = 3 }
        defer { ts.stop() }
        XCTAssertEqual(try ts.createMachine("c", memoryMiB: 256).status, 201)
        let port = ts.port
        let ledger = Ledger()
        let rounds = 25

        DispatchQueue.concurrentPerform(iterations: 9) { worker in
            let c = HTTPClient(port: port)
            do {
                switch worker {
                case 0..<3:
                    // Allocators: tagged batches of mixed orders and kinds.
                    for r in 0..<rounds {
                        let order = (worker + r) % 4
                        let kind = ["anon", "file", "slab", "kernel"][(r + worker) % 4]
                        let res = try c.post("/v1/machines/c/allocations",
                                             json: "{\"order\":\(order),\"count\":40,\"kind\":\"\(kind)\",\"tag\":\"w\(worker)r\(r)\"}")
                        guard res.status == 200, let hs = res.json["handles"] as? [Int] else {
                            ledger.fail("alloc \(res.status) \(res.text)")
                            continue
                        }
                        ledger.live.withLock { for h in hs { $0[h] = order } }
                    }
                case 3..<5:
                    // Freers: by handle (exactly known) and by whole tag.
                    for r in 0..<rounds {
                        let victims = ledger.live.withLock { l -> [Int] in
                            let some = Array(l.keys.prefix(15))
                            for h in some { l.removeValue(forKey: h) }
                            return some
                        }
                        if !victims.isEmpty {
                            let res = try c.post("/v1/machines/c/allocations/free",
                                                 json: "{\"handles\":[\(victims.map(String.init).joined(separator: ","))]}")
                            if res.status != 200 { ledger.fail("free \(res.status) \(res.text)") }
                        }
                        if r % 5 == 0 {
                            // A whole tag of allocator 0: learn its handles by allocating it ourselves.
                            let tag = "f\(worker)r\(r)"
                            let a = try c.post("/v1/machines/c/allocations", json: "{\"count\":20,\"tag\":\"\(tag)\"}")
                            let n = (a.json["handles"] as? [Int])?.count ?? -1
                            let f = try c.post("/v1/machines/c/allocations/free", json: "{\"tag\":\"\(tag)\"}")
                            if f.json["freed"] as? Int != n { ledger.fail("tag free \(f.text) vs \(n)") }
                        }
                    }
                case 8:
                    // A compactor: whole-machine, per-node and the /proc trigger, over and over.
                    for r in 0..<(rounds / 2) {
                        let res: HTTPResult
                        switch r % 3 {
                        case 0: res = try c.request("POST", "/v1/machines/c/compact")
                        case 1: res = try c.request("POST", "/v1/machines/c/nodes/0/compact")
                        default: res = try c.put("/v1/machines/c/proc/sys/vm/compact_memory", text: "1")
                        }
                        if res.status != 200 && res.status != 204 { ledger.fail("compact \(res.status) \(res.text)") }
                    }
                default:
                    // Readers: stats and /proc text, which must always be whole documents.
                    for _ in 0..<(rounds * 2) {
                        let s = try c.get("/v1/machines/c/stats")
                        let j = s.json
                        guard s.status == 200, let free = j["free_pages"] as? Int, let total = j["total_pages"] as? Int,
                              let vm = j["vmstat"] as? [String: Any], vm["nr_free_pages"] as? Int == free, free <= total else {
                            ledger.fail("stats \(s.status)")
                            continue
                        }
                        let b = try c.get("/v1/machines/c/proc/buddyinfo")
                        if b.status != 200 || !b.text.hasSuffix("\n") { ledger.fail("buddyinfo \(b.status)") }
                        let k = try c.get("/v1/machines/c/proc/sys/vm/min_free_kbytes")
                        if k.status != 200 || Int(k.text.trimmingCharacters(in: .whitespacesAndNewlines)) == nil {
                            ledger.fail("min_free_kbytes \(k.status) \(k.text.prefix(40))")
                        }
                    }
                }
            } catch {
                ledger.fail("worker \(worker): \(error)")
            }
        }

        XCTAssertEqual(ledger.failures.withLock { $0 }, [])
        let live = ledger.live.withLock { $0 }
        let box = try ts.server.registry.get("c")
        let (problems, liveCount, allocated, intact) = try box.withMachine { m -> ([String], Int, Int, Bool) in
            let ok = live.allSatisfy { h, order in
                let ph = PageHandle(raw: UInt64(h))
                return (try? m.readContent(ph)) == m.expectedContent(ph, order: order)
            }
            return (m.checkConsistency(), m.liveAllocations, m.allocatedPages, ok)
        }
        XCTAssertEqual(problems, [])
        XCTAssertTrue(intact, "contents changed behind a handle")
        XCTAssertEqual(liveCount, live.count)
        XCTAssertEqual(allocated, live.values.reduce(0) { $0 + (1 << $1) })
        // The same facts over HTTP.
        let stats = try ts.client.get("/v1/machines/c/stats").json
        XCTAssertEqual(stats["live_allocations"] as? Int, live.count)
        // free_pages is NR_FREE_PAGES: the pages on the per-CPU lists are free but counted apart.
        XCTAssertEqual((stats["mem_total_pages"] as? Int ?? 0) - (stats["free_pages"] as? Int ?? 0) - (stats["pcp_pages"] as? Int ?? 0), allocated)
        let vm = stats["vmstat"] as? [String: Int] ?? [:]
        // Pages come off the free lists by allocation or by compaction's free scanner, and go back by pgfree.
        let pgalloc: Int = ["pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_movable"].reduce(0) { $0 + (vm[$1] ?? 0) }
        let freeIsolated: Int = vm["compact_free_isolated"] ?? 0
        let pgfree: Int = vm["pgfree"] ?? 0
        XCTAssertEqual(pgfree + allocated, pgalloc + freeIsolated)
        let migrateScanned: Int = vm["compact_migrate_scanned"] ?? 0
        XCTAssertGreaterThan(migrateScanned, 0, "the compactor ran")
        if let h = live.keys.first {
            XCTAssertEqual(try ts.client.get("/v1/machines/c/allocations/\(h)").json["content_intact"] as? Bool, true)
        }
    }

    /// Reads of one machine are not held up while a long allocation runs on it: they wait at most a step.
    func testReadsDoNotWaitForLongOperations() throws {
        let ts = try TestServer { $0.threads = 2 }
        defer { ts.stop() }
        XCTAssertEqual(try ts.createMachine("l", memoryMiB: 2048).status, 201)
        let port = ts.port
        let done = Atomic<Bool>(false)
        let longMs = Mutex<Double>(0)
        let t = Thread {
            let start = Date()
            _ = try? HTTPClient(port: port).post("/v1/machines/l/allocations", json: #"{"count":100000,"tag":"long"}"#)
            longMs.withLock { $0 = Date().timeIntervalSince(start) * 1000 }
            done.store(true, ordering: .releasing)
        }
        t.start()
        Thread.sleep(forTimeInterval: 0.1)
        var worst = 0.0, reads = 0
        while !done.load(ordering: .acquiring) {
            let s = Date()
            XCTAssertEqual(try ts.client.get("/v1/machines/l/stats").status, 200)
            worst = max(worst, Date().timeIntervalSince(s) * 1000)
            reads += 1
        }
        let long = longMs.withLock { $0 }
        print("long allocation \(Int(long)) ms, \(reads) reads meanwhile, worst read \(Int(worst)) ms")
        // Only meaningful when the allocation took a while; then reads must interleave with it.
        if long > 300 {
            XCTAssertGreaterThan(reads, 3, "no read completed during a \(long) ms allocation")
            XCTAssertLessThan(worst, long / 2, "a read waited for most of the long operation")
        }
    }
}

/// SIGTERM-style shutdown: stop accepting, let requests in flight finish.
final class ShutdownTests: XCTestCase {
    func testStopLetsRequestsInFlightFinish() throws {
        let ts = try TestServer()
        XCTAssertEqual(try ts.createMachine("s", memoryMiB: 1024).status, 201)
        let port = ts.port
        let status = Mutex<Int>(0)
        let t = Thread {
            let r = try? HTTPClient(port: port).post("/v1/machines/s/allocations", json: #"{"count":20000}"#)
            status.withLock { $0 = r?.status ?? -1 }
        }
        t.start()
        Thread.sleep(forTimeInterval: 0.05)
        ts.stop()
        let deadline = Date().addingTimeInterval(10)
        while status.withLock({ $0 }) == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertEqual(status.withLock { $0 }, 200)
        XCTAssertThrowsError(try HTTPClient(port: port).get("/healthz"), "still accepting after stop")
    }

    /// Once shutdown begins new connections are refused at once, while the listening socket stays open
    /// until libmicrohttpd has stopped (microhttpd.h: the quiesced socket must not be closed before
    /// MHD_stop_daemon); stopping then closes it, so no descriptor is left behind.
    func testQuiesceRefusesAtOnceAndStopClosesTheListeningSocket() throws {
        func openDescriptors() -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count }
        // A first server warms up what the process opens once (the log, the random source).
        let warm = try TestServer()
        _ = try HTTPClient(port: warm.port).get("/healthz")
        warm.stop()
        let before = openDescriptors()
        let ts = try TestServer()
        XCTAssertEqual(try HTTPClient(port: ts.port).get("/healthz").status, 200)
        ts.server.http.quiesce()
        let listening = ts.server.http.quiescedListenSocket
        XCTAssertGreaterThanOrEqual(listening, 0, "quiesce returned no listening socket")
        XCTAssertNotEqual(fcntl(listening, F_GETFD), -1, "the quiesced socket was closed before MHD_stop_daemon")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertFalse(HTTPClient.connectLoopback(fd, port: ts.port), "a connection was accepted after quiesce")
        XCTAssertEqual(errno, ECONNREFUSED)
        close(fd)
        ts.stop()
        XCTAssertEqual(openDescriptors(), before, "descriptors left open after stop")
    }
}
