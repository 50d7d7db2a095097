@testable import CompactServiceKit
import Foundation
import Testing

/// The per-request helpers of the HTTP layer: log formatting, sharded counters, metrics series.
@Suite("Hot path helpers")
struct HotPathTests {
    @Test func timestampMatchesGmtime() {
        for _ in 0..<3 {
            let s = Logger.timestamp()
            var t = time(nil)
            var tmv = tm()
            gmtime_r(&t, &tmv)
            let day = String(format: "%04d-%02d-%02dT%02d:%02d", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday,
                             tmv.tm_hour, tmv.tm_min)
            #expect(s.utf8.count == 24)
            #expect(s.hasSuffix("Z"))
            // Equal to the minute unless the minute turned between the two clock reads.
            if tmv.tm_sec != 0 && tmv.tm_sec != 59 { #expect(s.hasPrefix(day), "\(s) vs \(day)") }
        }
    }

    @Test func decimals() {
        for (v, w, want) in [(0, 1, "0"), (7, 3, "007"), (1234, 2, "1234"), (UInt64.max, 1, "18446744073709551615")] as [(UInt64, Int, String)] {
            var b: [UInt8] = []
            Logger.appendDecimal(&b, v, width: w)
            #expect(String(decoding: b, as: UTF8.self) == want)
        }
    }

    @Test func shardedCountersSumOverThreads() async {
        let c = ShardedCounters(slots: 3)
        await withTaskGroup(of: Void.self) { g in
            for _ in 0..<8 { g.addTask { for _ in 0..<1000 { c.add(1, 2); c.add(2, UInt64.max) } } }
        }
        #expect(c.load(0) == 0)
        #expect(c.load(1) == 16000)
        #expect(Int64(bitPattern: c.load(2)) == -8000)
    }

    @Test func seriesCountsStatusesAndBuckets() {
        let m = ServiceMetrics()
        m.observe(route: "/x", method: "GET", status: 200, seconds: 0.0001)
        m.observe(route: "/x", method: "GET", status: 200, seconds: 0.003)
        m.observe(route: "/x", method: "GET", status: 599, seconds: 20)
        m.observe(route: "/y", method: "BREW", status: 404, seconds: 0.0001)
        let snap = m.snapshot()
        let x = snap[.init(route: "/x", method: "GET")]
        #expect(x?.statuses.map(\.status) == [200, 599])
        #expect(x?.statuses.map(\.count) == [2, 1])
        #expect(x?.duration.count == 3)
        #expect(x?.duration.counts.first == 1)
        #expect(x?.duration.counts.last == 1)
        #expect(snap[.init(route: "/y", method: "other")]?.duration.count == 1)
        #expect(m.counters(route: "/z", method: "GET") === m.counters(route: "/z", method: "GET"))
        #expect(m.snapshot()[.init(route: "/z", method: "GET")] == nil)
    }

    @Test func fixedRequestWordRoundTrips() {
        for (slot, shard, start) in [(0, 0, UInt64(0)), (7, 7, UInt64.max), (3, 5, UInt64(123_456_789_012))] {
            var f = FixedRequest(slot: slot, shard: shard, startNs: start)
            #expect(UInt(bitPattern: Int(bitPattern: f.pointer)) & 1 == 1, "tagged: never an object address")
            #expect(f.slot == slot && f.shard == shard && !f.answered)
            f.answered = true
            let back = FixedRequest(f.pointer)
            #expect(back?.answered == true && back?.slot == slot && back?.shard == shard)
            // Durations are exact across the 2^56 wrap of the stored start time.
            #expect(f.elapsedNs(now: start &+ 1_500) == 1_500)
            #expect(f.elapsedNs(now: start) == 0)
        }
        // An object's address is not taken for a fixed request.
        let object = Unmanaged.passRetained(QueryCollector())
        #expect(FixedRequest(object.toOpaque()) == nil)
        object.release()
    }

    @Test func generatedRequestIDs() {
        let prefix = RequestID.Prefix(0x2dfc_59d7)
        #expect(RequestID.generated(prefix: prefix, number: 1) == "2dfc59d7-1")
        #expect(RequestID.generated(prefix: prefix, number: 0xabc) == "2dfc59d7-abc")
        #expect(RequestID.generated(prefix: RequestID.Prefix(0), number: UInt64.max) == "00000000-ffffffffffffffff")
        #expect(RequestID.generated(prefix: RequestID.Prefix(0xffff_ffff), number: 0) == "ffffffff-0")
    }

    @Test func clientRequestIDsKeptOnlyWhenSane() {
        for (id, kept) in [("abc-123", true), ("", false), ("has space", false), ("tab\there", false),
                           (String(repeating: "x", count: 128), true), (String(repeating: "x", count: 129), false),
                           ("caf\u{e9}", false), ("~!", true)] {
            #expect(RequestID.sanitized(id) == (kept ? id : nil), "\(id)")
        }
        #expect(RequestID.sanitized(nil) == nil)
    }
}

