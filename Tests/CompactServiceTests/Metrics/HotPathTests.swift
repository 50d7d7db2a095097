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
}
