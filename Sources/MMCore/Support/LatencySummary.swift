/// Count, min, percentiles (nearest rank) and max of a set of simulated latencies in nanoseconds.
public struct LatencySummary: Sendable, Equatable {
    public var count: Int
    public var min: UInt64
    public var p50: UInt64
    public var p90: UInt64
    public var p95: UInt64
    public var p99: UInt64
    public var max: UInt64
    public var mean: Double

    public static let empty = LatencySummary(count: 0, min: 0, p50: 0, p90: 0, p95: 0, p99: 0, max: 0, mean: 0)

    public init(count: Int, min: UInt64, p50: UInt64, p90: UInt64, p95: UInt64, p99: UInt64, max: UInt64, mean: Double) {
        self.count = count; self.min = min; self.p50 = p50; self.p90 = p90; self.p95 = p95; self.p99 = p99
        self.max = max; self.mean = mean
    }

    public init(_ values: [UInt64]) {
        guard !values.isEmpty else { self = .empty; return }
        let s = values.sorted()
        func rank(_ p: Int) -> UInt64 { s[Swift.max(0, (p * s.count + 99) / 100 - 1)] }
        self.init(count: s.count, min: s.first!, p50: rank(50), p90: rank(90), p95: rank(95), p99: rank(99),
                  max: s.last!, mean: Double(s.reduce(0, &+)) / Double(s.count))
    }
}
