@testable import CompactServiceKit
import Foundation
import MMCore
import MMFormat
import XCTest

/// `POST /v1/machines` with `from_proc`, against the real server: the machine's /proc text gives back
/// the input's counts, the answer says what was decided and assumed, compaction runs on it, it
/// survives a restart with `--state-dir`, the same texts and seed give the same machine, the memory
/// budget admits it like any machine, and every kind of bad input is refused naming the field and
/// line, changing nothing.
final class FromProcTests: XCTestCase {
    var dirs: [String] = []

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(atPath: d) }
        super.tearDown()
    }

    static func body(_ name: String, _ fixture: String, extra: String = "", edit: (inout ProcImageReader.Texts) -> Void = { _ in }) -> String {
        var t = ProcTextTests.texts(fixture)
        edit(&t)
        var fp: [String: Any] = ["pagetypeinfo": t.pagetypeinfo, "zoneinfo": t.zoneinfo]
        if let b = t.buddyinfo { fp["buddyinfo"] = b }
        if let m = t.meminfo { fp["meminfo"] = m }
        if let a = t.arch { fp["arch"] = a }
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: ["name": name, "from_proc": fp]), as: UTF8.self)
        return extra.isEmpty ? json : String(json.dropLast()) + "," + extra + "}"
    }

    /// The free counts and pageblock counts of a pagetypeinfo text, by zone and migratetype name.
    static func counts(_ text: String) throws -> [String: [Int]] {
        let p = try PagetypeinfoText(text)
        var out: [String: [Int]] = [:]
        for z in p.zones {
            for r in z.free where r.counts.contains(where: { $0 > 0 }) { out["\(z.zone) \(r.type)"] = r.counts }
            for (t, v) in z.blocks where v > 0 { out["\(z.zone) blocks \(t)"] = [v] }
        }
        return out
    }

    /// The text with one count of the row starting with `prefix` replaced, in the kernel's `"%6lu "`.
    static func setCount(_ text: String, _ prefix: String, order: Int, _ value: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix(prefix) else { return String(line) }
            var counts = line.dropFirst(prefix.count).split(separator: " ").map { Int($0)! }
            counts[order] = value
            return prefix + " " + counts.map { String(repeating: " ", count: max(0, 6 - String($0).count)) + String($0) + " " }.joined()
        }.joined(separator: "\n")
    }

    func testEveryFixtureBuildsAMachineWithItsCounts() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = s.client
        for e in ProcTextTests.expected where e.fixture != "linux-6.6-x86_64-2node" {
            let name = e.fixture.replacingOccurrences(of: ".", with: "-")
            let r = try c.post("/v1/machines", json: Self.body(name, e.fixture, extra: "\"seed\":5"))
            XCTAssertEqual(r.status, 201, "\(e.fixture): \(r.text)")
            let fp = r.json["from_proc"] as? [String: Any] ?? [:]
            XCTAssertEqual(fp["kernel"] as? String, e.kernel.name, e.fixture)
            XCTAssertEqual(fp["arch"] as? String, e.arch, e.fixture)
            XCTAssertGreaterThan((fp["assumptions"] as? [String] ?? []).count, 5)
            XCTAssertEqual(r.json["kernel"] as? String, e.kernel.name)
            let m = "/v1/machines/\(name)"
            // buddyinfo byte for byte; pagetypeinfo's counts (its columns are the profile's).
            XCTAssertEqual(try c.get(m + "/proc/buddyinfo").text, ProcTextTests.text(e.fixture, "buddyinfo"), e.fixture)
            let ours = try Self.counts(try c.get(m + "/proc/pagetypeinfo").text)
            var theirs = try Self.counts(ProcTextTests.text(e.fixture, "pagetypeinfo")!)
            if e.kernel == .v2_6_35 { theirs = theirs.reduce(into: [:]) { $0[$1.key.replacingOccurrences(of: "HighAtomic", with: "Reserve")] = $1.value } }
            XCTAssertEqual(ours, theirs, e.fixture)
            XCTAssertEqual(try c.get(m + "/debug/check").json["consistent"] as? Bool, true, e.fixture)
            // What compaction would do on that box.
            let compact = try c.post(m + "/compact", json: "")
            XCTAssertEqual(compact.status, 200, compact.text)
            XCTAssertEqual(try c.get(m + "/debug/check").json["consistent"] as? Bool, true, e.fixture)
        }
    }

    /// A 6.6 box of 8 GiB on two nodes, with its mixed blocks; and the same texts and seed twice give
    /// the same machine, document for document.
    func testModernBoxAndDeterminism() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = s.client
        let fixture = "linux-6.6-x86_64-2node"
        for n in ["a", "b"] {
            let r = try c.post("/v1/machines", json: Self.body(n, fixture, extra: "\"seed\":42"))
            XCTAssertEqual(r.status, 201, r.text)
            XCTAssertEqual((r.json["from_proc"] as? [String: Any])?["kernel"] as? String, "6.6")
        }
        XCTAssertEqual(try c.get("/v1/machines/a/proc/buddyinfo").text, ProcTextTests.text(fixture, "buddyinfo"))
        XCTAssertEqual(try Self.counts(try c.get("/v1/machines/a/proc/pagetypeinfo").text), try Self.counts(ProcTextTests.text(fixture, "pagetypeinfo")!))
        for d in ["proc/buddyinfo", "proc/pagetypeinfo", "proc/zoneinfo", "proc/vmstat", "debug/extfrag/extfrag_index"] {
            XCTAssertEqual(try c.get("/v1/machines/a/\(d)").text, try c.get("/v1/machines/b/\(d)").text, d)
        }
        XCTAssertEqual(try c.get("/v1/machines/a/snapshot").body.count, try c.get("/v1/machines/b/snapshot").body.count)
        XCTAssertEqual(try c.get("/v1/machines/a/debug/check").json["consistent"] as? Bool, true)
        XCTAssertEqual(try c.post("/v1/machines/a/compact", json: "").status, 200)
        XCTAssertEqual(try c.get("/v1/machines/a/debug/check").json["consistent"] as? Bool, true)
    }

    /// Created with --state-dir, it comes back after a restart identical (it is journaled as its typed
    /// image and rebuilt, then the changes made to it are replayed).
    func testSurvivesARestart() throws {
        let dir = NSTemporaryDirectory() + "fromproc-\(UUID().uuidString)"
        dirs.append(dir)
        let docs = ["proc/buddyinfo", "proc/pagetypeinfo", "proc/zoneinfo", "proc/vmstat", "allocations"]
        var before: [String: String] = [:]
        do {
            let s = try TestServer { $0.stateDir = dir }
            defer { s.stop() }
            let c = s.client
            XCTAssertEqual(try c.post("/v1/machines", json: Self.body("box", "linux-2.6.35-x86_64-2node", extra: "\"seed\":3")).status, 201)
            XCTAssertEqual(try c.post("/v1/machines/box/allocations", json: "{\"count\":2000,\"tag\":\"t\",\"kind\":\"anon\"}").status, 200)
            XCTAssertEqual(try c.post("/v1/machines/box/compact", json: "").status, 200)
            for d in docs { before[d] = try c.get("/v1/machines/box/\(d)").text }
        }
        let s = try TestServer { $0.stateDir = dir }
        defer { s.stop() }
        for d in docs { XCTAssertEqual(try s.client.get("/v1/machines/box/\(d)").text, before[d], d) }
        XCTAssertEqual(try s.client.get("/v1/machines/box/debug/check").json["consistent"] as? Bool, true)
    }

    func testTheMemoryBudgetAdmitsItLikeAnyMachine() throws {
        let s = try TestServer { $0.memoryBudget = 16 << 20 }
        defer { s.stop() }
        let r = try s.client.post("/v1/machines", json: Self.body("big", "linux-6.6-x86_64-2node"))
        XCTAssertEqual(r.status, 507, r.text)
        XCTAssertEqual(r.json["field"] as? String, "memory_mib")
        XCTAssertEqual(try s.client.get("/v1/machines/big").status, 404)
    }

    /// Each kind of bad input: the status, the field, the line, and nothing created.
    func testBadInputIsRefusedNamingFieldAndLine() throws {
        let s = try TestServer()
        defer { s.stop() }
        let c = s.client
        let f = "linux-2.6.35-x86_64-2node"
        let cases: [(String, String, Int, String, Int?)] = [
            ("unparsable line", Self.body("x", f) { $0.pagetypeinfo = $0.pagetypeinfo.replacingOccurrences(of: "type      Movable      1", with: "type      Movable      x") },
             400, "from_proc.pagetypeinfo", 7),
            ("buddyinfo disagrees", Self.body("x", f) { $0.buddyinfo = $0.buddyinfo!.replacingOccurrences(of: "Node 0, zone    DMA32    273", with: "Node 0, zone    DMA32    274") },
             422, "from_proc.buddyinfo", 2),
            ("zone missing from zoneinfo", Self.body("x", f) { $0.zoneinfo = String($0.zoneinfo.split(separator: "Node 1, zone   Normal")[0]) },
             422, "from_proc.zoneinfo", nil),
            ("managed below free", Self.body("x", "linux-4.1-x86_64-cma") { $0.zoneinfo = $0.zoneinfo.replacingOccurrences(of: "managed  3977", with: "managed  100") },
             422, "from_proc.zoneinfo", nil),
            ("CMA blocks", Self.body("x", "linux-4.1-x86_64-cma") { $0.pagetypeinfo = $0.pagetypeinfo.replacingOccurrences(of: "type          CMA      0", with: "type          CMA      3") },
             422, "from_proc.pagetypeinfo", nil),
            // Counts the files agree on but no layout can hold: 500 free order-9 blocks in a Normal zone
            // of 1024 pageblocks with 63 of order 10 (MMCore's refusal, at the free counts' line).
            ("more high-order blocks than fit", Self.body("x", f) {
                $0.pagetypeinfo = Self.setCount($0.pagetypeinfo, "Node    0, zone   Normal, type      Movable", order: 9, 500)
                $0.buddyinfo = Self.setCount($0.buddyinfo!, "Node 0, zone   Normal", order: 9, 500)
            }, 422, "from_proc.pagetypeinfo", 15),
            ("no zoneinfo", "{\"name\":\"x\",\"from_proc\":{\"pagetypeinfo\":\"\"}}", 422, "from_proc.zoneinfo", nil),
            ("a field that does not go with from_proc", Self.body("x", f, extra: "\"memory_mib\":1024"), 422, "memory_mib", nil),
            ("unknown arch", Self.body("x", f) { $0.arch = "sparc" }, 422, "from_proc.arch", nil),
            ("unknown kernel", Self.body("x", f, extra: "\"kernel\":\"3.0\""), 422, "kernel", nil),
        ]
        for (what, body, status, field, line) in cases {
            let r = try c.post("/v1/machines", json: body)
            XCTAssertEqual(r.status, status, "\(what): \(r.text)")
            XCTAssertEqual(r.header("Content-Type"), "application/problem+json", what)
            XCTAssertEqual(r.json["field"] as? String, field, "\(what): \(r.text)")
            if let line { XCTAssertEqual(r.json["line"] as? Int, line, "\(what): \(r.text)") }
            XCTAssertEqual(try c.get("/v1/machines/x").status, 404, "\(what): a refused request creates nothing")
        }
    }
}
