@testable import CompactServiceKit
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `--state-dir` end to end, against the real server: a restart (graceful, or from a copy of the state
/// directory taken while the server runs, which is what a crash leaves) brings back machines, their
/// allocations, tags, sysctls, clocks and counters byte for byte, and jobs with their results; torn,
/// damaged and other-version files give the documented outcome; a full disk refuses changes with 507.
/// (The SIGKILL test is scripts/crash_test.py.)
final class DurableStateTests: XCTestCase {
    var dirs: [String] = []
    var fragments = 0

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(atPath: d) }
        super.tearDown()
    }

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "durable-\(UUID().uuidString)"
        dirs.append(d)
        return d
    }

    func server(_ dir: String?, _ configure: (inout ServerConfig) -> Void = { _ in }) throws -> TestServer {
        try TestServer { c in
            c.stateDir = dir
            configure(&c)
        }
    }

    static let docs = ["proc/buddyinfo", "proc/pagetypeinfo", "proc/zoneinfo", "proc/vmstat", "debug/extfrag/unusable_index",
                       "debug/extfrag/extfrag_index", "allocations", "proc/sys/vm/extfrag_threshold", "proc/sys/vm/min_free_kbytes"]

    /// Everything compared of a machine: its documents, and its stats without the names and the state's
    /// size in bytes (an estimate of what Swift arrays hold, which depends on malloc; README).
    func fingerprint(_ c: HTTPClient, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String: String] {
        var out: [String: String] = [:]
        for d in DurableStateTests.docs {
            let r = try c.get("/v1/machines/\(name)/\(d)")
            XCTAssertEqual(r.status, 200, "\(name)/\(d): \(r.text)", file: file, line: line)
            out[d] = r.text
        }
        var stats = try c.get("/v1/machines/\(name)/stats").json
        for k in ["name", "state_bytes", "state_bytes_by_part"] { stats.removeValue(forKey: k) }
        out["stats"] = String(decoding: try JSONSerialization.data(withJSONObject: stats, options: [.sortedKeys]), as: UTF8.self)
        return out
    }

    @discardableResult
    func post(_ c: HTTPClient, _ path: String, _ json: String, _ status: Int = 200, file: StaticString = #filePath, line: UInt = #line) throws -> HTTPResult {
        let r = try c.post(path, json: json)
        XCTAssertEqual(r.status, status, "\(path): \(r.text)", file: file, line: line)
        return r
    }

    /// Fragments a machine: allocations of every kind under tags, frees by pattern and by handle, a
    /// sysctl, a compaction, a stepped allocation batch.
    func fragment(_ c: HTTPClient, _ name: String) throws {
        let m = "/v1/machines/\(name)"
        fragments += 1
        let (a, b, cc) = ("a\(fragments)", "b\(fragments)", "c\(fragments)")
        // (Anon pages: without swap reclaim cannot take them, so the handles freed below are live.)
        let first = try post(c, m + "/allocations", "{\"count\":3000,\"tag\":\"\(a)\",\"kind\":\"anon\",\"mlock\":true}")
        try post(c, m + "/allocations", "{\"count\":1000,\"tag\":\"d\(fragments)\",\"kind\":\"file\",\"dirty\":true}")
        try post(c, m + "/allocations", "{\"count\":200,\"order\":2,\"tag\":\"\(b)\",\"kind\":\"kernel\"}")
        try post(c, m + "/allocations", "{\"count\":700,\"tag\":\"\(cc)\",\"node\":1}")
        try post(c, m + "/allocations/free", "{\"tag\":\"\(a)\",\"pattern\":\"every_other\"}")
        try post(c, m + "/allocations/free", "{\"tag\":\"\(cc)\",\"pattern\":\"random\",\"fraction\":0.4,\"seed\":3}")
        let hs = (first.json["handles"] as? [Int] ?? []).prefix(40).enumerated().filter { $0.offset % 2 == 1 }.map { $0.element }
        try post(c, m + "/allocations/free", "{\"handles\":[\(hs.dropFirst().map(String.init).joined(separator: ","))]}")
        XCTAssertEqual(try c.delete(m + "/allocations/\(hs[0])").status, 204)
        XCTAssertEqual(try c.put(m + "/proc/sys/vm/extfrag_threshold", text: "350").status, 200)
        XCTAssertEqual(try c.put(m + "/proc/sys/vm/dirty_ratio", text: "30").status, 200)
        try post(c, m + "/compact", "")
    }

    func testRestartKeepsMachinesAndJobs() throws {
        let dir = tempDir()
        var before: [String: [String: String]] = [:]
        var jobs: [String: String] = [:]
        do {
            let s = try server(dir)
            defer { s.stop() }
            let c = s.client
            try s.createMachine("one", memoryMiB: 128, extra: ",\"nodes\":2,\"seed\":9")
            try s.createMachine("two", memoryMiB: 64, extra: ",\"nodes\":2,\"swap_mib\":16,\"sysctl\":{\"min_free_kbytes\":2000}")
            try s.createMachine("gone", memoryMiB: 64)
            XCTAssertEqual(try c.delete("/v1/machines/gone").status, 204)
            try fragment(c, "one")
            try fragment(c, "two")
            let w = try post(c, "/v1/machines/two/workloads?wait=true", "{\"preset\":\"proactive-frag\"}")
            let e = try post(c, "/v1/experiments?wait=true", """
                {"name":"e","template":{"memory_mib":64},"variants":[{"name":"a"},{"name":"b","compaction":false}],
                 "workload":{"name":"w","steps":[{"fill":{"kind":"anon","fraction":0.5,"tag":"x"}},{"free":{"tag":"x","pattern":"every_other"}},{"high_alloc":{"fraction":0.2,"tag":"h"}}]}}
                """)
            let forgotten = try post(c, "/v1/machines/one/workloads?wait=true", "{\"preset\":\"proactive-frag\"}")
            XCTAssertEqual(try c.delete("/v1/jobs/\(forgotten.json["id"] as! String)").status, 204)
            for n in ["one", "two"] { before[n] = try fingerprint(c, n) }
            for j in [w, e] {
                let id = j.json["id"] as! String
                jobs[id] = try c.get("/v1/jobs/\(id)").text
                jobs[id + "/csv"] = try c.get("/v1/jobs/\(id)/result?format=csv").text
            }
        }
        let s = try server(dir)
        defer { s.stop() }
        let c = s.client
        for n in ["one", "two"] { XCTAssertEqual(try fingerprint(c, n), before[n], n) }
        XCTAssertEqual(try c.get("/v1/machines/gone").status, 404)
        for (k, v) in jobs {
            let path = k.hasSuffix("/csv") ? "/v1/jobs/\(k.dropLast(4))/result?format=csv" : "/v1/jobs/\(k)"
            XCTAssertEqual(try c.get(path).text, v, k)
        }
        XCTAssertEqual(try c.get("/v1/jobs/job-3").status, 404, "a forgotten job stays forgotten")
        // Numbers go on: a new job is not job-3 again, a new machine a new instance.
        let next = try post(c, "/v1/experiments", "{\"template\":{\"memory_mib\":16},\"variants\":[{}],\"workload\":{\"steps\":[]}}", 202)
        XCTAssertEqual(next.json["id"] as? String, "job-4")
        let created = try s.createMachine("three", memoryMiB: 16)
        XCTAssertEqual(created.json["instance"] as? Int, 4)
        // The restored machines go on changing and stay durable.
        try fragment(c, "one")
    }

    /// An experiment started by name is found by name after a restart: a retried PUT gets its job.
    func testExperimentNamesSurviveARestart() throws {
        let dir = tempDir()
        let body = "{\"template\":{\"memory_mib\":32},\"variants\":[{},{\"name\":\"v\",\"compaction\":false}],\"workload\":{\"steps\":[{\"fill\":{\"kind\":\"anon\",\"fraction\":0.3,\"tag\":\"x\"}}]}}"
        var id = ""
        do {
            let s = try server(dir)
            defer { s.stop() }
            let r = try s.client.request("PUT", "/v1/experiments/sweep?wait=true", body: Array(body.utf8), contentType: "application/json")
            XCTAssertEqual(r.status, 200, r.text)
            id = r.json["id"] as? String ?? ""
        }
        let s = try server(dir)
        defer { s.stop() }
        let again = try s.client.request("PUT", "/v1/experiments/sweep", body: Array(body.utf8), contentType: "application/json")
        XCTAssertEqual(again.status, 200, again.text)
        XCTAssertEqual(again.json["id"] as? String, id)
        XCTAssertEqual(try s.client.get("/v1/experiments/sweep").json["state"] as? String, "succeeded")
        let other = try s.client.request("PUT", "/v1/experiments/sweep", body: Array(body.replacingOccurrences(of: "0.3", with: "0.4").utf8),
                                         contentType: "application/json")
        XCTAssertEqual(other.status, 409)
    }

    /// A copy of the state directory taken while the server runs is what a crash at that moment would
    /// leave: every change answered before the copy is in it.
    func testCrashStateRecovers() throws {
        let dir = tempDir(), copy = tempDir()
        let s = try server(dir) { $0.snapshotRecords = 7 }
        defer { s.stop() }
        let c = s.client
        try s.createMachine("m", memoryMiB: 128, extra: ",\"nodes\":2")
        for _ in 0..<3 { try fragment(c, "m") }
        // Let the snapshotter take one, then change more after it.
        let deadline = Date().addingTimeInterval(10)
        while !Files.list(dir + "/machines/m1").contains(where: { $0.hasSuffix(".snap") }) && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(Files.list(dir + "/machines/m1").contains { $0.hasSuffix(".snap") }, "no snapshot was taken")
        try fragment(c, "m")
        let expected = try fingerprint(c, "m")
        try copyTree(dir, copy)
        // A job in progress at the "crash".
        let job = try post(c, "/v1/machines/m/workloads", "{\"preset\":\"seed-highalloc-stress\"}", 202)
        let id = job.json["id"] as! String
        while (try c.get("/v1/jobs/\(id)").json["progress"] as? [String: Any])?["step"] as? Int ?? 0 < 2 { usleep(10_000) }
        // A change to the machine answered now: its journal, the job's sections before it included,
        // is durable (the job's own sections are written without anyone waiting for them).
        XCTAssertEqual(try c.put("/v1/machines/m/proc/sys/vm/extfrag_threshold", text: "350").status, 200)
        let copy2 = tempDir()
        try copyTree(dir, copy2)
        try? FileManager.default.removeItem(atPath: copy + "/LOCK")

        let r = try server(copy)
        XCTAssertEqual(try fingerprint(r.client, "m"), expected)
        r.stop()
        let r2 = try server(copy2)
        defer { r2.stop() }
        let j = try r2.client.get("/v1/jobs/\(id)").json
        XCTAssertEqual(j["state"] as? String, "interrupted", "\(j)")
        XCTAssertGreaterThanOrEqual((j["progress"] as? [String: Any])?["step"] as? Int ?? 0, 2)
        XCTAssertNotNil(j["result"] as? [String: Any], "the partial result up to the last step")
        // The machine is as the job left it, consistent (recovery checks), and takes changes.
        try post(r2.client, "/v1/machines/m/allocations", "{\"count\":10}")
    }

    func copyTree(_ from: String, _ to: String) throws {
        try FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
        for n in try FileManager.default.contentsOfDirectory(atPath: from) {
            let src = from + "/" + n, dst = to + "/" + n
            if Files.isDirectory(src) { try copyTree(src, dst) } else { try FileManager.default.copyItem(atPath: src, toPath: dst) }
        }
    }

    /// Two machines, changed, and the server stopped: the directory to damage.
    func prepared(snapshotEvery: Int = 100_000) throws -> (dir: String, expected: [String: [String: String]]) {
        let dir = tempDir()
        let s = try server(dir) { $0.snapshotRecords = snapshotEvery }
        defer { s.stop() }
        try s.createMachine("hurt", memoryMiB: 64, extra: ",\"nodes\":2")
        try s.createMachine("fine", memoryMiB: 64, extra: ",\"nodes\":2")
        for n in ["hurt", "fine"] { try fragment(s.client, n) }
        if snapshotEvery < 100 {
            let deadline = Date().addingTimeInterval(10)
            while !Files.list(dir + "/machines/m1").contains(where: { $0.hasSuffix(".snap") }) && Date() < deadline { usleep(20_000) }
            try post(s.client, "/v1/machines/hurt/allocations", "{\"count\":5,\"tag\":\"after\"}")
        }
        return (dir, ["hurt": try fingerprint(s.client, "hurt"), "fine": try fingerprint(s.client, "fine")])
    }

    func journal(_ dir: String, _ instance: Int) -> String {
        let d = dir + "/machines/m\(instance)"
        return d + "/" + Files.list(d).last { $0.hasPrefix("journal-") }!
    }

    func testTornLastRecordIsCutOff() throws {
        let (dir, expected) = try prepared()
        let path = journal(dir, 1)
        let size = try Files.read(path)!.count
        // Half a record more: the start of a frame, as a write the kill cut short leaves it.
        let frame = JournalFormat.frame(seq: 999, payload: Array("{\"op\":\"free\",\"handle\":1}".utf8))
        let h = FileHandle(forWritingAtPath: path)!
        h.seekToEndOfFile()
        h.write(Data(frame.prefix(30)))
        h.closeFile()
        let s = try server(dir)
        defer { s.stop() }
        XCTAssertEqual(try fingerprint(s.client, "hurt"), expected["hurt"])
        XCTAssertEqual(try Files.read(path)!.count, size, "the torn record was cut off")
        try post(s.client, "/v1/machines/hurt/allocations", "{\"count\":3}")
    }

    func testDamagedRecordMakesOnlyThatMachineUnavailable() throws {
        let (dir, expected) = try prepared()
        let path = journal(dir, 1)
        var bytes = try Files.read(path)!
        bytes[JournalFormat.headerBytes + 200] ^= 0x40
        try Files.writeAtomically(path, bytes)
        let s = try server(dir)
        defer { s.stop() }
        let c = s.client
        XCTAssertEqual(try fingerprint(c, "fine"), expected["fine"])
        let r = try c.get("/v1/machines/hurt/proc/buddyinfo")
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.header("content-type"), "application/problem+json")
        XCTAssertEqual(r.json["field"] as? String, "name")
        let detail = r.json["detail"] as? String ?? ""
        XCTAssertTrue(detail.contains("hurt") && detail.contains("journal-0000000000000000.log is damaged at byte"), detail)
        let list = try c.get("/v1/machines").json
        XCTAssertEqual((list["unavailable"] as? [[String: Any]])?.first?["name"] as? String, "hurt")
        XCTAssertEqual((list["machines"] as? [[String: Any]])?.map { $0["name"] as? String }, ["fine"])
        XCTAssertEqual(try c.post("/v1/machines/hurt/allocations", json: "{}").status, 503)
        XCTAssertEqual(try s.createMachine("hurt", memoryMiB: 16).status, 409)
        XCTAssertTrue(try c.get("/metrics").text.contains("compact_service_machines_unavailable 1"))
        // Deleting it removes its files; the name is free again.
        XCTAssertEqual(try c.delete("/v1/machines/hurt").status, 204)
        XCTAssertFalse(Files.exists(dir + "/machines/m1"))
        XCTAssertEqual(try s.createMachine("hurt", memoryMiB: 16).status, 201)
    }

    func testDamagedSnapshotIsReported() throws {
        let (dir, expected) = try prepared(snapshotEvery: 5)
        let d = dir + "/machines/m1"
        let snap = d + "/" + Files.list(d).first { $0.hasSuffix(".snap") }!
        var bytes = try Files.read(snap)!
        bytes[bytes.count / 2] ^= 0x01
        try Files.writeAtomically(snap, bytes)
        let s = try server(dir)
        defer { s.stop() }
        XCTAssertEqual(try fingerprint(s.client, "fine"), expected["fine"])
        let r = try s.client.get("/v1/machines/hurt/stats")
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue((r.json["detail"] as? String ?? "").contains("snapshot"), r.text)
    }

    func testOtherSnapshotVersionIsReported() throws {
        let (dir, expected) = try prepared(snapshotEvery: 5)
        let d1 = dir + "/machines/m1"
        let snap = d1 + "/" + Files.list(d1).first { $0.hasSuffix(".snap") }!
        var bytes = try Files.read(snap)!
        bytes[8] = 2
        try Files.writeAtomically(snap, bytes)
        let s = try server(dir)
        defer { s.stop() }
        XCTAssertEqual(try fingerprint(s.client, "fine"), expected["fine"])
        let r = try s.client.get("/v1/machines/hurt")
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue((r.json["detail"] as? String ?? "").contains("snapshot format version 2"), r.text)
    }

    func testOtherJournalVersionIsReported() throws {
        let (dir, expected) = try prepared()
        let path = journal(dir, 1)
        var j = try Files.read(path)!
        j[8] = 2
        let crc: UInt32 = Codec.crc32(Array(j[0..<20]))
        for k in 0..<4 { j[20 + k] = UInt8(truncatingIfNeeded: crc >> (8 * k)) }
        try Files.writeAtomically(path, j)
        let s = try server(dir)
        defer { s.stop() }
        XCTAssertEqual(try fingerprint(s.client, "fine"), expected["fine"])
        let r = try s.client.get("/v1/machines/hurt")
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue((r.json["detail"] as? String ?? "").contains("journal format version 2"), r.text)
    }

    func testOutOfDiskRefusesChangesAndKeepsReads() throws {
        let (dir, expected) = try prepared()
        let s = try server(dir) { $0.stateMinFreeBytes = Int.max / 4 }
        defer { s.stop() }
        let c = s.client
        for (method, path, body) in [("POST", "/v1/machines/hurt/allocations", "{\"count\":10}"),
                                     ("POST", "/v1/machines/hurt/allocations/free", "{\"tag\":\"a\"}"),
                                     ("POST", "/v1/machines/hurt/compact", ""),
                                     ("POST", "/v1/machines", "{\"name\":\"new\",\"memory_mib\":16}"),
                                     ("POST", "/v1/machines/hurt/workloads", "{\"preset\":\"proactive-frag\"}"),
                                     ("POST", "/v1/experiments", "{\"template\":{\"memory_mib\":16},\"variants\":[{}],\"workload\":{\"steps\":[]}}"),
                                     ("POST", "/v1/machines/hurt/clone", "{\"name\":\"twin\"}")] {
            let r = try c.request(method, path, body: body.isEmpty ? nil : Array(body.utf8), contentType: body.isEmpty ? nil : "application/json")
            XCTAssertEqual(r.status, 507, "\(method) \(path): \(r.text)")
            XCTAssertEqual(r.header("content-type"), "application/problem+json")
            XCTAssertNotNil(r.json["free_bytes"])
        }
        XCTAssertEqual(try c.put("/v1/machines/hurt/proc/sys/vm/extfrag_threshold", text: "100").status, 507)
        XCTAssertEqual(try fingerprint(c, "hurt"), expected["hurt"], "nothing changed")
        XCTAssertEqual(try fingerprint(c, "fine"), expected["fine"])
        XCTAssertEqual(try c.get("/v1/machines/new").status, 404)
        XCTAssertEqual(try c.get("/v1/machines/twin").status, 404)
        XCTAssertEqual((try c.get("/v1/jobs").json["jobs"] as? [Any])?.count, 0)
        XCTAssertTrue(try c.get("/metrics").text.contains("compact_service_state_disk_refusals_total 8"))
        // Deleting a machine frees space, so it is not refused.
        XCTAssertEqual(try c.delete("/v1/machines/fine").status, 204)
        XCTAssertFalse(Files.exists(dir + "/machines/m2"))
    }

    /// A creation the crash cut short (the directory made, the first record not yet written): the
    /// machine was never answered for, so it does not exist after the restart and its directory goes.
    func testUnfinishedCreationIsRemoved() throws {
        let (dir, expected) = try prepared()
        let half = dir + "/machines/m9"
        try FileManager.default.createDirectory(atPath: half, withIntermediateDirectories: false)
        try Files.writeAtomically(half + "/machine.json", Array("{\"name\":\"half\",\"instance\":9}".utf8))
        try Files.writeAtomically(half + "/journal-0000000000000000.log", Array(JournalFormat.fileHeader(firstSeq: 0).prefix(11)))
        let s = try server(dir)
        defer { s.stop() }
        XCTAssertEqual(try s.client.get("/v1/machines/half").status, 404)
        XCTAssertEqual((try s.client.get("/v1/machines").json["unavailable"] as? [Any])?.count, 0)
        XCTAssertFalse(Files.exists(half))
        XCTAssertEqual(try fingerprint(s.client, "hurt"), expected["hurt"])
    }

    func testSecondServerOnTheSameDirectoryIsRefused() throws {
        let dir = tempDir()
        let s = try server(dir)
        defer { s.stop() }
        XCTAssertThrowsError(try server(dir)) { e in XCTAssertTrue("\(e)".contains("in use"), "\(e)") }
    }
}
