/// Repeated seeds: the mean, standard deviation and 95 % confidence interval (Student's t) of each figure
/// per variant, and of each variant's difference from the first, paired by seed.
public struct FigureSummary: Sendable, Equatable {
    public var n: Int
    public var mean: Double
    /// Sample standard deviation (n − 1); 0 for one value.
    public var sd: Double
    /// 95 % confidence interval of the mean: mean ± t(0.975, n − 1) × sd / √n (the mean itself for n = 1).
    public var ciLow: Double
    public var ciHigh: Double

    public init(_ values: [Double]) {
        n = values.count
        mean = n == 0 ? 0 : values.reduce(0, +) / Double(n)
        let m = mean
        sd = n < 2 ? 0 : (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot()
        let half = n < 2 ? 0 : FigureSummary.t975(df: n - 1) * sd / Double(n).squareRoot()
        ciLow = mean - half
        ciHigh = mean + half
    }

    /// The 0.975 quantile of Student's t with `df` degrees of freedom (table to 30, then the normal
    /// quantile with the first-order correction 1.96 + 2.4 / df).
    static func t975(df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
                               2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
                               2.045, 2.042]
        if df >= 1 && df <= table.count { return table[df - 1] }
        return 1.96 + 2.4 / Double(max(df, 1))
    }
}

/// The figures a repeated experiment summarises, as the seed and mmtests reported them.
public enum ExperimentFigures {
    public typealias Figure = (name: String, value: @Sendable (WorkloadResult) -> Double)

    public static let all: [Figure] = [
        ("request_pct", { $0.requestPercent }),
        ("successes", { Double($0.highAllocSuccesses) }),
        ("pages_reclaimed", { Double($0.pagesReclaimedAsSeed) }),
        ("pages_reclaimed_alloc", { Double($0.pagesReclaimedInAllocPhase) }),
        ("pgsteal_kswapd", { Double($0.delta(\.pgstealKswapd)) }),
        ("pgsteal_direct", { Double($0.delta(\.pgstealDirect)) }),
        ("pgscan_kswapd", { Double($0.delta(\.pgscanKswapd)) }),
        ("pgscan_direct", { Double($0.delta(\.pgscanDirect)) }),
        // prune_icache's invalidations (pginodesteal + kswapd_inodesteal): page-cache pages freed with
        // their inodes, not in pgsteal.
        ("inodesteal", { Double($0.delta(\.pginodesteal) &+ $0.delta(\.kswapdInodesteal)) }),
        ("compact_stall", { Double($0.delta(\.compactStall)) }),
        ("allocstall", { Double($0.delta(\.allocstall)) }),
        ("latency_p50_us", { Double($0.latency.p50) / 1000 }),
        ("latency_p90_us", { Double($0.latency.p90) / 1000 }),
        ("latency_p99_us", { Double($0.latency.p99) / 1000 }),
    ]
}

extension WorkloadResult {
    /// "Pages reclaimed" as the seed's tables mean it: Σ pgsteal (kswapd and direct), LRU pages freed by
    /// shrink_inactive_list; slab pages and inode-steal pages are not in it (kernel-memory-2.6.35.md §11).
    public var pagesReclaimedAsSeed: UInt64 { delta(\.pgstealKswapd) &+ delta(\.pgstealDirect) }
    /// The same from the start of the first high-order allocation step.
    public var pagesReclaimedInAllocPhase: UInt64 { allocPhaseDelta(\.pgstealKswapd) &+ allocPhaseDelta(\.pgstealDirect) }
}

/// One variant's summary over the repeated seeds.
public struct VariantSummary: Sendable {
    public var name: String
    /// Per figure (`ExperimentFigures.all` order): its values by seed and their summary.
    public var values: [[Double]]
    public var figures: [FigureSummary]
    /// Per figure: the summary of (this variant − the first variant) paired by seed; nil for the first.
    public var differenceFromFirst: [FigureSummary]?
}

extension ExperimentResult {
    /// Per variant, each figure over the replicates, and the paired difference from the first variant.
    public var summary: [VariantSummary] {
        let figs = ExperimentFigures.all
        let first = variants.isEmpty ? [] : figures(variant: 0)
        return variants.indices.map { v in
            let reps = figures(variant: v)
            let values = figs.indices.map { i in reps.map { $0[i] } }
            let diff: [FigureSummary]? = v == 0 ? nil : figs.indices.map { i in
                let n = Swift.min(reps.count, first.count)
                return FigureSummary((0..<n).map { reps[$0][i] - first[$0][i] })
            }
            return VariantSummary(name: variants[v].name, values: values, figures: values.map { FigureSummary($0) },
                                  differenceFromFirst: diff)
        }
    }

    /// The summary as a long table: one line per variant and figure.
    public static let summaryColumns = ["variant", "figure", "n", "mean", "sd", "ci95_low", "ci95_high", "diff_mean", "diff_ci95_low",
                                        "diff_ci95_high"]

    public var summaryRows: [[String]] {
        func f(_ d: Double) -> String { format2(d) }
        var out: [[String]] = []
        for s in summary {
            for (i, fig) in ExperimentFigures.all.enumerated() {
                let m = s.figures[i]
                let d = s.differenceFromFirst?[i]
                out.append([s.name, fig.name, String(m.n), f(m.mean), f(m.sd), f(m.ciLow), f(m.ciHigh),
                            d.map { f($0.mean) } ?? "-", d.map { f($0.ciLow) } ?? "-", d.map { f($0.ciHigh) } ?? "-"])
            }
        }
        return out
    }
}

func format2(_ d: Double) -> String {
    let r = (d * 100).rounded() / 100
    if r == r.rounded() && abs(r) < 1e15 { return String(Int(r)) }
    return String(r)
}

/// One replicate of a variant as the tables need it: its row (`ExperimentResult.columns` order) and its
/// figures (`ExperimentFigures.all` order) at full precision. A spread experiment's parts send these
/// (`replicates_exact`), so the merged tables and intervals are those of one run, byte for byte.
public struct ReplicateRecord: Sendable, Equatable {
    public var row: [String]
    public var figures: [Double]

    public init(row: [String], figures: [Double]) {
        self.row = row
        self.figures = figures
    }
}

extension ExperimentResult {
    /// This result followed, per variant, by the replicates of the later parts (in seed order).
    public mutating func append(laterParts: [[ReplicateRecord]]) {
        if laterReplicates.isEmpty { laterReplicates = Array(repeating: [], count: variants.count) }
        for v in variants.indices where v < laterParts.count { laterReplicates[v] += laterParts[v] }
    }
}
