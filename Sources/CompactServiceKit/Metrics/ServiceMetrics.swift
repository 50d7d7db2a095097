import Synchronization

/// The service's own metrics: requests by route, method and status, and a request duration histogram
/// per route and method. Recorded by the HTTP layer once per answered request, rendered by /metrics.
///
/// Every (route, method) series is a `SeriesCounters` of atomic counters, one set per thread shard. The
/// HTTP layer looks the series of each route up once at start-up (by the route's index), so a request
/// costs three relaxed atomic adds on its thread's own cache lines, and no lock, hash or allocation. A snapshot reads the counters one by one, so a request
/// recorded meanwhile may be in its status count and not yet in the histogram (or the reverse); the
/// histogram itself stays consistent (its count and +Inf are derived from the buckets).
final class ServiceMetrics: Sendable {
    /// Upper bounds of the duration histogram, in seconds (Prometheus' `le`).
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// `buckets` in nanoseconds, for the per-request comparison.
    static let bucketNs: [UInt64] = buckets.map { UInt64($0 * 1e9) }
    /// Methods kept as label values; anything else is counted as `other`, so a client cannot grow the
    /// number of series.
    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    /// The `route` label of requests that matched no route (404 on an unknown path, 413 before routing).
    static let unmatchedRoute = "unmatched"

    struct SeriesKey: Hashable, Sendable {
        var route: String
        var method: String
    }

    struct Histogram: Sendable {
        /// Non-cumulative counts per bucket, plus one for +Inf.
        var counts = [UInt64](repeating: 0, count: ServiceMetrics.buckets.count + 1)
        var sum = 0.0
        var count: UInt64 = 0
    }

    /// Everything recorded for one route and method, as a snapshot sees it.
    struct Series: Sendable {
        /// Requests by status, ascending.
        var statuses: [(status: Int, count: UInt64)] = []
        var duration = Histogram()
    }

    typealias Snapshot = [SeriesKey: Series]

    /// Every series created so far. Locked only when a series is created (at start-up for the routes,
    /// on the first unmatched request of a method) and when a snapshot is taken.
    private let series = Mutex<[SeriesKey: SeriesCounters]>([:])
    /// Open SSE streams.
    let openStreams = Atomic<Int>(0)

    /// The counters of one series, created on first use. The HTTP layer keeps the result.
    func counters(route: String, method: String) -> SeriesCounters {
        let key = SeriesKey(route: route, method: ServiceMetrics.knownMethods.contains(method) ? method : "other")
        return series.withLock { s in
            if let c = s[key] { return c }
            let c = SeriesCounters()
            s[key] = c
            return c
        }
    }

    /// Records one request (the HTTP layer records through the counters it keeps instead).
    func observe(route: String, method: String, status: Int, seconds: Double) {
        counters(route: route, method: method).observe(status: status, ns: UInt64(max(0, seconds) * 1e9))
    }

    /// The series that have seen at least one request.
    func snapshot() -> Snapshot {
        let all = series.withLock { $0 }
        var out = Snapshot()
        for (k, c) in all {
            let s = c.read()
            if s.duration.count > 0 { out[k] = s }
        }
        return out
    }
}

/// One series' counters: relaxed atomics, one set per thread shard (ShardedCounters), summed when read.
final class SeriesCounters: Sendable {
    /// The statuses the service answers with have a counter of their own; any other status goes to
    /// `otherStatuses` (locked; never seen in practice).
    static let commonStatuses = [200, 201, 202, 204, 400, 401, 403, 404, 405, 406, 409, 410, 413, 415, 422, 429,
                                 500, 501, 503, 507]
    /// Status code → index in `commonStatuses`, or -1.
    private static let statusSlot: [Int8] = {
        var t = [Int8](repeating: -1, count: 600)
        for (i, s) in commonStatuses.enumerated() { t[s] = Int8(i) }
        return t
    }()
    /// Slots: one per common status, then the buckets (non-cumulative, +Inf last), then the sum in ns.
    private static let bucketSlot = commonStatuses.count
    private static let sumSlot = bucketSlot + ServiceMetrics.buckets.count + 1

    private let counters = ShardedCounters(slots: SeriesCounters.sumSlot + 1)
    private let otherStatuses = Mutex<[Int: UInt64]>([:])
    /// The counters as a plain value, for `observe(_:status:ns:)`; valid while this object lives.
    var handle: CounterHandle { counters.handle }

    func observe(status: Int, ns: UInt64) {
        if !SeriesCounters.observe(handle, status: status, ns: ns) { countOtherStatus(status) }
    }

    /// Counts a request in the series `h`: its duration always, its status when it is a common one
    /// (else returns false, and the caller counts it with `countOtherStatus`).
    @inline(__always) static func observe(_ h: CounterHandle, status: Int, ns: UInt64,
                                          shard: Int = ThreadShard.current) -> Bool {
        var b = 0
        let bounds = ServiceMetrics.bucketNs
        while b < bounds.count && ns > bounds[b] { b += 1 }
        h.add(bucketSlot + b, 1, shard: shard)
        h.add(sumSlot, ns, shard: shard)
        let slot = status >= 0 && status < 600 ? Int(statusSlot[status]) : -1
        guard slot >= 0 else { return false }
        h.add(slot, 1, shard: shard)
        return true
    }

    func countOtherStatus(_ status: Int) { otherStatuses.withLock { $0[status, default: 0] += 1 } }

    func read() -> ServiceMetrics.Series {
        var s = ServiceMetrics.Series()
        for (i, st) in SeriesCounters.commonStatuses.enumerated() {
            let n = counters.load(i)
            if n > 0 { s.statuses.append((st, n)) }
        }
        for (st, n) in otherStatuses.withLock({ $0 }) { s.statuses.append((st, n)) }
        s.statuses.sort { $0.status < $1.status }
        s.duration.counts = (0...ServiceMetrics.buckets.count).map { counters.load(SeriesCounters.bucketSlot + $0) }
        s.duration.count = s.duration.counts.reduce(0, +)
        s.duration.sum = Double(counters.load(SeriesCounters.sumSlot)) / 1e9
        return s
    }
}
