@testable import CompactServiceKit
import Dispatch
import Foundation
import MMCore
import MMFormat
import Synchronization
import XCTest

/// One machine's work never stalls the service: HTTP threads never wait for a machine's lock, jobs run
/// on their own threads, deleting a machine stops its work, and stopping never aborts.
final class IsolationTests: XCTestCase {
    /// Times one request in milliseconds.
    private func timed(_ body: () throws -> HTTPResult) rethrows -> (HTTPResult, Double) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try body()
        return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
    }

    /// With machine `a`'s lock held for two seconds by someone else, requests that need it wait on
    /// workers while both HTTP threads keep answering everything else: /healthz, other machines, the
    /// machine list, and `a`'s own cached stats.
    func testHTTPThreadsNeverWaitForAMachinesLock() throws {
        let ts = try TestServer { $0.threads = 2 }
        defer { ts.stop() }
        try ts.createMachine("a", memoryMiB: 64)
        try ts.createMachine("b", memoryMiB: 64)
        let c = ts.client
        XCTAssertEqual(try c.get("/v1/machines/a/stats").status, 200)  // now cached
        XCTAssertEqual(try c.get("/v1/machines").status, 200)
        let box = try ts.server.registry.get("a")
        let held = DispatchSemaphore(value: 0)
        let holder = Thread {
            _ = try? box.withMachine { _ in
                held.signal()
                usleep(2_000_000)
            }
        }
        holder.start()
        held.wait()
        // Four requests that need a's lock: more than there are HTTP threads.
        let blocked = Mutex<[Int]>([])
        let group = DispatchGroup()
        for path in ["/v1/machines/a/proc/zoneinfo", "/v1/machines/a/proc/sys/vm/min_free_kbytes",
                     "/v1/machines/a/allocations", "/v1/machines/a/proc/pagetypeinfo"] {
            DispatchQueue.global().async(group: group) {
                let s = (try? c.get(path).status) ?? -1
                blocked.withLock { $0.append(s) }
            }
        }
        usleep(100_000)
        for path in ["/healthz", "/v1/machines/b/stats", "/v1/machines/b/proc/buddyinfo", "/v1/machines", "/v1/machines/a/stats",
                     "/metrics/none", "/v1/jobs"] {
            let (r, ms) = try timed { try c.get(path) }
            XCTAssertLessThan(ms, 500, "\(path) took \(ms) ms while another machine's lock was held")
            XCTAssertNotEqual(r.status, 500, path)
        }
        let (alloc, ms) = try timed { try c.post("/v1/machines/b/allocations", json: "{\"count\":1}") }
        XCTAssertEqual(alloc.status, 200)
        XCTAssertLessThan(ms, 500, "an allocation on machine b took \(ms) ms while a's lock was held")
        XCTAssertEqual(blocked.withLock { $0.count }, 0, "requests on the locked machine were answered before it was free")
        group.wait()
        XCTAssertEqual(blocked.withLock { $0.sorted() }, [200, 200, 200, 200])
    }

    /// Two long workload jobs do not hold back a small request on an idle machine.
    func testJobsDoNotStarveRequestsOnOtherMachines() throws {
        let ts = try TestServer { $0.threads = 2 }
        defer { ts.stop() }
        for n in ["w1", "w2", "c"] { try ts.createMachine(n, memoryMiB: n == "c" ? 64 : 2048) }
        let c = ts.client
        let def = "{\"steps\":[{\"fill\":{\"kind\":\"anon\",\"fraction\":0.8,\"tag\":\"f\"}},{\"compact\":{}},{\"free\":{\"tag\":\"f\",\"pattern\":\"every_other\"}},{\"compact\":{}},{\"fill\":{\"kind\":\"file\",\"fraction\":0.4,\"tag\":\"g\"}}]}"
        var jobs: [String] = []
        for n in ["w1", "w2"] {
            let r = try c.post("/v1/machines/\(n)/workloads", json: def)
            XCTAssertEqual(r.status, 202, r.text)
            jobs.append(r.json["id"] as? String ?? "")
        }
        var worst = 0.0
        for i in 0..<20 {
            let (r, ms) = try timed { try c.post("/v1/machines/c/allocations", json: "{\"count\":1,\"tag\":\"p\(i)\"}") }
            XCTAssertEqual(r.status, 200)
            worst = max(worst, ms)
            usleep(20_000)
        }
        let states = try jobs.map { try c.get("/v1/jobs/\($0)").json["state"] as? String ?? "" }
        XCTAssertEqual(states, ["running", "running"], "the jobs must still run while the probes are timed")
        XCTAssertLessThan(worst, 1000, "a one-page allocation on an idle machine took \(worst) ms beside two jobs (states \(states))")
        for j in jobs { _ = try c.delete("/v1/jobs/\(j)") }
    }

    /// Deleting a machine stops its job (cancelled, partial result kept, naming the machine it ran on),
    /// frees its budget share once the job has stopped, and a re-created machine of the same name is
    /// another machine.
    func testDeletingAMachineStopsItsJobsAndReleasesItsBudget() throws {
        let ts = try TestServer { $0.memoryBudget = 256 << 20 }
        defer { ts.stop() }
        let c = ts.client
        try ts.createMachine("w", memoryMiB: 2048)
        let first = try c.get("/v1/machines/w").json["instance"] as? Int
        let def = "{\"steps\":[{\"fill\":{\"kind\":\"anon\",\"fraction\":0.9,\"tag\":\"f\"}},{\"compact\":{}},{\"free\":{\"tag\":\"f\",\"pattern\":\"every_other\"}},{\"compact\":{}},{\"fill\":{\"kind\":\"file\",\"fraction\":0.4,\"tag\":\"g\"}},{\"compact\":{}}]}"
        let r = try c.post("/v1/machines/w/workloads", json: def)
        XCTAssertEqual(r.status, 202)
        let id = r.json["id"] as? String ?? ""
        // Let it run a little, then delete.
        var deadline = Date().addingTimeInterval(20)
        while (try c.get("/v1/jobs/\(id)").json["state"] as? String) != "running" && Date() < deadline { usleep(5000) }
        usleep(100_000)
        XCTAssertEqual(try c.delete("/v1/machines/w").status, 204)
        let done = try c.get("/v1/jobs/\(id)?wait=true&timeout_s=20").json
        XCTAssertEqual(done["state"] as? String, "cancelled", "\(done)")
        XCTAssertEqual(done["machine"] as? String, "w")
        XCTAssertEqual(done["machine_instance"] as? Int, first)
        XCTAssertEqual((done["error"] as? [String: Any])?["status"] as? Int, 409)
        XCTAssertNotNil(done["result"] as? [String: Any], "a stopped job keeps its partial result")
        // The deleted machine's share is released once nothing holds it: what is left is the job's (its
        // base charge and its partial result), and that goes when the job is forgotten.
        let registry = ts.server.registry
        deadline = Date().addingTimeInterval(10)
        while registry.usedBytes > registry.jobs.heldBytes && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(registry.usedBytes, registry.jobs.heldBytes)
        XCTAssertGreaterThan(registry.jobs.heldBytes, 0)
        XCTAssertEqual(registry.retiredCount, 0)
        XCTAssertEqual(try c.delete("/v1/jobs/\(id)").status, 204)
        XCTAssertEqual(registry.usedBytes, 0)
        // The same name again is a new machine; the old job does not touch it.
        try ts.createMachine("w", memoryMiB: 64)
        let second = try c.get("/v1/machines/w").json["instance"] as? Int
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(try c.get("/v1/machines/w").json["live_allocations"] as? Int, 0)
    }

    /// A job queued behind others on a machine that is deleted ends cancelled without running.
    func testQueuedJobOfADeletedMachineEndsCancelled() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        let c = ts.client
        for n in ["x1", "x2", "q"] { try ts.createMachine(n, memoryMiB: 1024) }
        let long = "{\"steps\":[{\"fill\":{\"kind\":\"anon\",\"fraction\":0.9,\"tag\":\"f\"}},{\"compact\":{}},{\"free\":{\"tag\":\"f\",\"pattern\":\"every_other\"}},{\"compact\":{}}]}"
        let busy = try ["x1", "x2"].map { try c.post("/v1/machines/\($0)/workloads", json: long).json["id"] as? String ?? "" }
        let queued = try c.post("/v1/machines/q/workloads", json: long).json["id"] as? String ?? ""
        XCTAssertEqual(try c.get("/v1/jobs/\(queued)").json["state"] as? String, "queued")
        XCTAssertEqual(try c.delete("/v1/machines/q").status, 204)
        for j in busy { _ = try c.delete("/v1/jobs/\(j)") }
        let done = try c.get("/v1/jobs/\(queued)?wait=true&timeout_s=30").json
        XCTAssertEqual(done["state"] as? String, "cancelled", "\(done)")
        XCTAssertEqual(done["progress"].flatMap { ($0 as? [String: Any])?["step"] as? Int }, 0)
    }

    /// An allocation batch cut short by the deletion of its machine answers 409, not 200 with handles.
    func testBatchCutShortByADeleteAnswers409() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        let c = ts.client
        try ts.createMachine("d", memoryMiB: 1024)
        let answer = Mutex<HTTPResult?>(nil)
        let t = Thread {
            let r = try? c.post("/v1/machines/d/allocations", json: "{\"count\":262144,\"tag\":\"big\"}")
            answer.withLock { $0 = r }
        }
        t.start()
        let box = try ts.server.registry.get("d")
        let deadline = Date().addingTimeInterval(20)
        while (try? box.withMachine { $0.liveAllocations }) ?? 0 < 1000 && Date() < deadline { usleep(2000) }
        XCTAssertEqual(try c.delete("/v1/machines/d").status, 204)
        while answer.withLock({ $0 == nil }) && Date() < deadline.addingTimeInterval(20) { usleep(10_000) }
        let r = try XCTUnwrap(answer.withLock { $0 })
        XCTAssertEqual(r.status, 409, r.text)
        XCTAssertEqual(r.header("Content-Type"), "application/problem+json")
        XCTAssertEqual(r.json["field"] as? String, "name")
    }

    /// An experiment cancelled while it waits for a job worker gives its reservation back (its body
    /// never runs, so the body's own release never does).
    func testExperimentCancelledWhileQueuedReleasesItsReservation() throws {
        let ts = try TestServer { $0.memoryBudget = 64 << 20 }
        defer { ts.stop() }
        let c = ts.client
        let exp = #"{"name":"e","template":{"memory_mib":1024},"variants":[{"name":"a"}],"workload":{"steps":[{"start_actor":{"name":"a","rate_per_ms":50,"mix":[{"kind":"anon","lifetime_ms":5}]}},{"run":{"ms":100000000}}]}}"#
        let reg = ts.server.registry
        func reserved() -> Int { reg.usedBytes - reg.jobs.heldBytes }
        // Both job workers busy.
        let a = try c.post("/v1/experiments", json: exp), b = try c.post("/v1/experiments", json: exp)
        XCTAssertEqual(a.status, 202)
        XCTAssertEqual(b.status, 202)
        let two = reserved()
        let q = try c.post("/v1/experiments", json: exp)
        XCTAssertEqual(q.status, 202)
        XCTAssertEqual(q.json["state"] as? String, "queued")
        XCTAssertGreaterThan(reserved(), two)
        let id = q.json["id"] as? String ?? ""
        XCTAssertEqual(try c.delete("/v1/jobs/\(id)").status, 202)
        // The running ones keep theirs; the queued one ends cancelled once a worker looks at it.
        for j in [a, b] { _ = try c.delete("/v1/jobs/\(j.json["id"] as? String ?? "")") }
        XCTAssertEqual(try c.get("/v1/jobs/\(id)?wait=true&timeout_s=30").json["state"] as? String, "cancelled")
        for j in [a, b] { _ = try c.get("/v1/jobs/\(j.json["id"] as? String ?? "")?wait=true&timeout_s=30") }
        XCTAssertEqual(reserved(), 0, "no reservation is left once every job has ended")
    }

    /// Experiments reserve their share of the budget while they run: a second one that would not fit
    /// beside the first is refused (507), and the share comes back when the first ends.
    func testRunningExperimentsCountAgainstTheBudget() throws {
        // A 1024 MiB variant is estimated at about 2.7 MB of state: one fits in 4 MiB, two do not. Its
        // workload runs until cancelled and holds little more (an actor whose pages live 5 ms).
        let ts = try TestServer { $0.memoryBudget = 4 << 20 }
        defer { ts.stop() }
        let c = ts.client
        let exp = #"{"name":"e","template":{"memory_mib":1024},"variants":[{"name":"a"}],"workload":{"steps":[{"start_actor":{"name":"a","rate_per_ms":50,"mix":[{"kind":"anon","lifetime_ms":5}]}},{"run":{"ms":100000000}}]}}"#
        let first = try c.post("/v1/experiments", json: exp)
        XCTAssertEqual(first.status, 202, first.text)
        let second = try c.post("/v1/experiments", json: exp)
        XCTAssertEqual(second.status, 507, second.text)
        XCTAssertEqual(second.header("Content-Type"), "application/problem+json")
        XCTAssertEqual(second.json["field"] as? String, "variants")
        XCTAssertEqual(second.json["budget_bytes"] as? Int, 4 << 20)
        let id = first.json["id"] as? String ?? ""
        XCTAssertNotEqual(try c.get("/v1/jobs/\(id)").json["state"] as? String, "failed", "the first fits in the budget")
        _ = try c.delete("/v1/jobs/\(id)")
        let done = try c.get("/v1/jobs/\(id)?wait=true&timeout_s=30").json
        XCTAssertEqual(done["state"] as? String, "cancelled", "\(done)")
        // What is left is the job and its partial result, until it is forgotten.
        XCTAssertEqual(ts.server.registry.usedBytes, ts.server.registry.jobs.heldBytes)
        XCTAssertEqual(try c.delete("/v1/jobs/\(id)").status, 204)
        XCTAssertEqual(ts.server.registry.usedBytes, 0)
        let third = try c.post("/v1/experiments", json: exp)
        XCTAssertEqual(third.status, 202, third.text)
        _ = try c.delete("/v1/jobs/\(third.json["id"] as? String ?? "")")
    }

    /// `%00` and `%2F` in a path are not decoded into the name: 400, and nothing is deleted.
    func testEncodedNulAndSlashInPathsAre400() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        let c = ts.client
        try ts.createMachine("a", memoryMiB: 64)
        for (m, p) in [("GET", "/v1/machines/a%00junk"), ("GET", "/v1/machines/a%2Fstats"), ("GET", "/v1/machines/a%2fstats"),
                       ("DELETE", "/v1/machines/a%00zzz"), ("GET", "/v1/machines/a%00/stats")] {
            let r = try c.request(m, p)
            XCTAssertEqual(r.status, 400, "\(m) \(p): \(r.text)")
            XCTAssertEqual(r.header("Content-Type"), "application/problem+json")
        }
        XCTAssertEqual(try c.get("/v1/machines/a").status, 200, "the machine is still there")
        // Other escapes still decode: %61 is 'a'.
        XCTAssertEqual(try c.get("/v1/machines/%61/stats").status, 200)
    }

    /// HEAD works wherever GET does (RFC 9110), with GET's headers and no body, and Allow lists it.
    func testHeadIsAnsweredWhereverGetIs() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        let c = ts.client
        try ts.createMachine("a", memoryMiB: 64)
        for p in ["/healthz", "/v1/machines", "/v1/machines/a", "/v1/machines/a/stats", "/v1/machines/a/proc/buddyinfo",
                  "/metrics", "/openapi.yaml"] {
            let g = try c.get(p)
            let h = try c.request("HEAD", p)
            XCTAssertEqual(h.status, 200, p)
            XCTAssertEqual(h.body.count, 0, p)
            XCTAssertEqual(h.header("Content-Type"), g.header("Content-Type"), p)
        }
        let r = try c.request("PATCH", "/v1/machines/a")
        XCTAssertEqual(r.status, 405)
        XCTAssertEqual(r.header("Allow"), "GET, HEAD, PUT, DELETE")
        XCTAssertEqual(try c.request("HEAD", "/v1/machines/nope").status, 404)
    }

    /// A stream client that stopped reading is disconnected soon after its machine is deleted, and the
    /// stream gauge counts it until then.
    func testStreamOfADeletedMachineClosesEvenIfItsClientStoppedReading() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        try ts.createMachine("s", memoryMiB: 64)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        XCTAssertTrue(HTTPClient.connectLoopback(fd, port: ts.port))
        let head = "GET /v1/machines/s/stats/stream?interval_ms=100 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        try ts.client.sendAll(fd, Array(head.utf8))
        // Never read: the server's send buffers fill with stats events.
        usleep(3_000_000)
        XCTAssertEqual(ts.server.registry.metrics.openStreams.load(ordering: .relaxed), 1)
        XCTAssertEqual(try ts.client.delete("/v1/machines/s").status, 204)
        let t0 = Date()
        while ts.server.registry.metrics.openStreams.load(ordering: .relaxed) > 0 && Date().timeIntervalSince(t0) < 10 { usleep(20_000) }
        let waited = Date().timeIntervalSince(t0)
        XCTAssertEqual(ts.server.registry.metrics.openStreams.load(ordering: .relaxed), 0)
        XCTAssertLessThan(waited, 5, "the abandoned stream stayed open \(waited) s after its machine was deleted")
    }

    /// SIGTERM-style shutdown with keep-alive clients sending requests that run on workers: new work gets
    /// 503, every suspended connection is finished, and the process is not aborted by libmicrohttpd.
    func testStopWithKeepAliveClientsNeverAborts() throws {
        for round in 0..<4 {
            let ts = try TestServer { $0.shutdownTimeoutSeconds = 0.3 }
            try ts.createMachine("k", memoryMiB: 64)
            let port = ts.port
            let stop = Atomic<Bool>(false)
            let statuses = Mutex<[Int: Int]>([:])
            let group = DispatchGroup()
            for i in 0..<6 {
                DispatchQueue.global().async(group: group) {
                    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                    defer { close(fd) }
                    var tv = timeval(tv_sec: 10, tv_usec: 0)
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    guard HTTPClient.connectLoopback(fd, port: port) else { return }
                    let body = "{\"count\":8,\"tag\":\"t\(i)\"}"
                    let req = Array("POST /v1/machines/k/allocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
                    var buf = [UInt8](repeating: 0, count: 65536)
                    while !stop.load(ordering: .relaxed) {
                        guard send(fd, req, req.count, Int32(MSG_NOSIGNAL)) == req.count else { return }
                        let n = recv(fd, &buf, buf.count, 0)
                        guard n > 0 else { return }
                        let text = String(decoding: buf[0..<n], as: UTF8.self)
                        let code = Int(text.split(separator: " ").dropFirst().first ?? "") ?? -1
                        statuses.withLock { $0[code, default: 0] += 1 }
                        if text.lowercased().contains("connection: close") { return }
                    }
                }
            }
            usleep(useconds_t(200_000 + round * 50_000))
            ts.stop()  // an abort here ends the whole test process
            stop.store(true, ordering: .relaxed)
            group.wait()
            let seen = statuses.withLock { $0 }
            XCTAssertGreaterThan(seen[200] ?? 0, 0, "round \(round): \(seen)")
            XCTAssertTrue(Set(seen.keys).isSubset(of: [200, 503]), "round \(round): \(seen)")
        }
    }
}
