import Synchronization

/// The service's own metrics: requests by route, method and status, and a request duration histogram
/// per route and method. Recorded by the HTTP layer once per answered request, rendered by /metrics.
///
/// One small lock per request: an uncontended Mutex costs tens of nanoseconds against the ~20 µs a
/// request costs the server (reference §5), and a snapshot is consistent across all series.
final class ServiceMetrics: Sendable {
    /// Upper bounds of the duration histogram, in seconds (Prometheus' `le`).
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
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

    /// Everything recorded for one route and method: one dictionary lookup per request.
    struct Series: Sendable {
        /// Requests by status, in first-seen order (a route answers a handful of statuses).
        var statuses: [(status: Int, count: UInt64)] = []
        var duration = Histogram()

        mutating func observe(status: Int, bucket: Int, seconds: Double) {
            if let i = statuses.firstIndex(where: { $0.status == status }) {
                statuses[i].count += 1
            } else {
                statuses.append((status, 1))
            }
            duration.counts[bucket] += 1
            duration.sum += seconds
            duration.count += 1
        }
    }

    typealias Snapshot = [SeriesKey: Series]

    private let state = Mutex(Snapshot())
    /// Open SSE streams.
    let openStreams = Atomic<Int>(0)

    func observe(route: String, method: String, status: Int, seconds: Double) {
        let m = ServiceMetrics.knownMethods.contains(method) ? method : "other"
        var b = 0
        while b < ServiceMetrics.buckets.count && seconds > ServiceMetrics.buckets[b] { b += 1 }
        let key = SeriesKey(route: route, method: m)
        state.withLock { $0[key, default: Series()].observe(status: status, bucket: b, seconds: seconds) }
    }

    func snapshot() -> Snapshot { state.withLock { $0 } }
}
