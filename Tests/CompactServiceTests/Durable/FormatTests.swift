@testable import CompactServiceKit
import MMCore
import MMFormat
import XCTest

/// The journal's and the snapshot's file formats: round trips, and every kind of damage read as
/// README "Durable state" says (a torn last record is cut off; anything else damaged is reported).
final class JournalFormatTests: XCTestCase {
    func file(_ payloads: [String], firstSeq: UInt64 = 0) -> [UInt8] {
        var b = JournalFormat.fileHeader(firstSeq: firstSeq)
        for (i, p) in payloads.enumerated() { b += JournalFormat.frame(seq: firstSeq + UInt64(i), payload: Array(p.utf8)) }
        return b
    }

    func testRoundTrip() {
        let parsed = JournalFormat.parse(file(["{\"a\":1}", "{}", String(repeating: "x", count: 5000)], firstSeq: 7))
        XCTAssertEqual(parsed.ending, .clean)
        XCTAssertEqual(parsed.firstSeq, 7)
        XCTAssertEqual(parsed.records.map(\.seq), [7, 8, 9])
        XCTAssertEqual(String(decoding: parsed.records[0].payload, as: UTF8.self), "{\"a\":1}")
        XCTAssertEqual(parsed.records[2].payload.count, 5000)
    }

    /// A record cut anywhere (a write the kill interrupted) is torn at its start, whatever its length.
    func testEveryCutOfTheLastRecordIsTorn() {
        let whole = file(["{\"op\":\"one\"}", "{\"op\":\"two\",\"pad\":\"...............\"}"])
        let lastStart = JournalFormat.headerBytes + JournalFormat.frameBytes + 12
        for cut in lastStart..<whole.count {
            let p = JournalFormat.parse(Array(whole[0..<cut]))
            XCTAssertEqual(p.records.count, 1, "cut at \(cut)")
            if cut == lastStart {
                XCTAssertEqual(p.ending, .clean)
            } else {
                guard case .torn(let at, _) = p.ending else { return XCTFail("cut at \(cut): \(p.ending)") }
                XCTAssertEqual(at, lastStart)
            }
        }
    }

    func testBitFlips() {
        let whole = file(["{\"op\":\"one\"}", "{\"op\":\"two\"}", "{\"op\":\"three\"}"])
        let second = JournalFormat.headerBytes + JournalFormat.frameBytes + 12
        let third = second + JournalFormat.frameBytes + 12
        for at in second..<whole.count {
            var b = whole
            b[at] ^= 0x10
            let p = JournalFormat.parse(b)
            if at < third {
                // The second record damaged, the third intact after it: damage in the middle.
                guard case .corrupt(let off, _) = p.ending else { return XCTFail("flip at \(at): \(p.ending)") }
                XCTAssertEqual(off, second)
                XCTAssertEqual(p.records.count, 1)
            } else {
                // The last record damaged: indistinguishable from a torn write, cut off.
                guard case .torn(let off, _) = p.ending else { return XCTFail("flip at \(at): \(p.ending)") }
                XCTAssertEqual(off, third)
                XCTAssertEqual(p.records.count, 2)
            }
        }
    }

    func testDamagedHeaderAndOtherVersions() {
        var b = file(["{}"])
        b[3] ^= 1
        guard case .corrupt(0, _) = JournalFormat.parse(b).ending else { return XCTFail("a damaged header") }
        // A file cut inside its header (created just before the kill) is torn, not damaged.
        guard case .torn(0, _) = JournalFormat.parse(Array(file([]).prefix(10))).ending else { return XCTFail("a cut header") }
        // Version 2: refused as such.
        var v = ByteWriter()
        v.append(JournalFormat.fileMagic)
        v.u32(2)
        v.u64(0)
        v.u32(Codec.crc32(v.bytes))
        guard case .corrupt(0, let reason) = JournalFormat.parse(v.bytes).ending else { return XCTFail("version 2") }
        XCTAssertTrue(reason.contains("version 2"), reason)
    }

    func testRecordsRoundTripThroughJSON() throws {
        let ops: [MachineRecord] = [
            MachineRecord(op: .create(name: "m", instance: 3, createdAt: "2026-01-01T00:00:00.000Z",
                                      config: MachineConfig(preset: .ppc64, memoryMiB: 512, nodes: 2, seed: 99, swapMiB: 8))),
            MachineRecord(op: .allocate(AllocRequest(order: 3, kind: .file, node: 1, gfp: [.wait, .repeat], mlock: true, dirty: true),
                                        count: 7, tag: "t", keep: 1000), gate: [.init(ordinal: 2, bytes: 4096)]),
            MachineRecord(op: .allocSteps(run: 4, begin: .init(request: AllocRequest(), count: 900, tag: nil), calls: 33)),
            MachineRecord(op: .allocStop(run: 4)),
            MachineRecord(op: .freeHandles([1, 1 << 52])),
            MachineRecord(op: .freeTag("x", .random(fraction: 0.1 + 0.2, seed: 12))),
            MachineRecord(op: .free(77)),
            MachineRecord(op: .sysctl(name: "min_free_kbytes", value: 1234)),
            MachineRecord(op: .compact(run: 9, begin: .init(node: nil), calls: 5)),
            MachineRecord(op: .compactCancel(run: 9)),
            MachineRecord(op: .workload(run: 2, job: "job-4", begin: try JSON.parse("{\"name\":\"w\",\"steps\":[]}"), calls: 1)),
            MachineRecord(op: .workloadCancel(run: 2)),
            MachineRecord(op: .abandon(run: 2)),
        ]
        for r in ops {
            let back = try MachineRecord(payload: r.payload[...])
            XCTAssertEqual(back.payload, r.payload, String(decoding: r.payload, as: UTF8.self))
            XCTAssertEqual(back.gate, r.gate)
        }
        // The fraction is kept exactly.
        guard case .freeTag(_, .random(let f, _)) = try MachineRecord(payload: ops[5].payload[...]).op else { return XCTFail() }
        XCTAssertEqual(f, 0.1 + 0.2)
        XCTAssertThrowsError(try MachineRecord(payload: Array("{\"op\":\"teleport\"}".utf8)[...]))
    }
}

final class SnapshotFormatTests: XCTestCase {
    func sample() throws -> (MachineStateImage, SnapshotFormat.Identity, Machine) {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 64, nodes: 2, seed: 4))
        _ = try m.allocateBulk(AllocRequest(kind: .file), count: 3000, tag: "f")
        _ = try m.freeTag("f", pattern: .everyOther)
        let id = SnapshotFormat.Identity(name: "s", instance: 5, createdAt: "2026-01-01T00:00:00.000Z", config: m.config,
                                         journalSeq: 42, generation: m.generation, takenAt: "2026-01-01T00:00:01.000Z")
        return (m.exportState(), id, m)
    }

    func testRoundTrip() throws {
        let (image, id, m) = try sample()
        let bytes = SnapshotFormat.encode(image, id)
        XCTAssertLessThan(bytes.count, image.storedBytes, "deflate helps on page arrays")
        let (id2, image2) = try SnapshotFormat.decode(bytes)
        XCTAssertEqual(image2, image)
        XCTAssertEqual(id2.name, "s")
        XCTAssertEqual(id2.instance, 5)
        XCTAssertEqual(id2.journalSeq, 42)
        XCTAssertEqual(id2.config, m.config)
        let copy = try Machine(id2.config, restoring: image2)
        XCTAssertEqual(copy.renderPagetypeinfo(), m.renderPagetypeinfo())
    }

    /// Any single flipped byte, anywhere, is found (a checksum, the magic, the version or the shape).
    func testEveryBitFlipIsFound() throws {
        let (image, id, _) = try sample()
        let bytes = SnapshotFormat.encode(image, id)
        var rng = SeededRandom(seed: 3)
        for _ in 0..<300 {
            var b = bytes
            b[rng.below(b.count)] ^= UInt8(1 << rng.below(8))
            XCTAssertThrowsError(try SnapshotFormat.decode(b))
        }
        for cut in [0, 10, bytes.count / 2, bytes.count - 1] {
            XCTAssertThrowsError(try SnapshotFormat.decode(Array(bytes.prefix(cut))))
        }
    }

    func testOtherVersionsAreRefusedAsSuch() throws {
        let (image, id, _) = try sample()
        var bytes = SnapshotFormat.encode(image, id)
        bytes[8] = 9
        XCTAssertThrowsError(try SnapshotFormat.decode(bytes)) { e in
            XCTAssertTrue("\(e)".contains("version 9"), "\(e)")
        }
        var newer = image
        newer.version = MachineStateImage.version + 1
        XCTAssertThrowsError(try SnapshotFormat.decode(SnapshotFormat.encode(newer, id))) { e in
            XCTAssertTrue("\(e)".contains("machine state version"), "\(e)")
        }
    }
}

/// Replay reads a journal's workload record as the reader of its day did: a null on a member that
/// reader never read was accepted then, so it is read as absent on replay, while a live request with it
/// is refused (one rule for null, MMFormat).
final class LegacyRecordTests: XCTestCase {
    func testANullTheOldReaderIgnoredReplaysAsAbsentButIsRefusedLive() throws {
        let json = try JSON.parse(#"""
            {"name": "w", "seed": 1, "steps": [
              {"fill": {"kind": "anon", "fraction": 0.2, "tag": "a"}},
              {"free": {"tag": "a", "pattern": "all", "fraction": null}}]}
            """#)
        XCTAssertThrowsError(try WorkloadDefinition(json: json), "a live definition with the null is refused")
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 64, seed: 1))
        let runs = MachineRuns()
        let op = MachineRecord.Op.workload(run: 1, job: "j", begin: json, calls: 0)
        XCTAssertThrowsError(try MachineOps.perform(op, on: m, runs: runs, limit: .time(start: monotonicNs())))
        XCTAssertEqual(m.liveAllocations, 0, "the refused live record changed nothing")
        let replay = try MachineOps.perform(op, on: m, runs: runs, limit: .unbounded)
        guard case .workloadSection(let run, _, let done) = replay.outcome else { return XCTFail("\(replay.outcome)") }
        XCTAssertTrue(done)
        XCTAssertNil(run.failure)
        XCTAssertEqual(run.result.stepsDone, 2)
        XCTAssertEqual(m.liveAllocations, 0, "the free step freed the whole tag, as without the null")
    }
}
