/// One machine of an experiment: a name and the configuration that differs in one policy.
public struct ExperimentVariant: Sendable {
    public var name: String
    public var config: MachineConfig
    public init(name: String, config: MachineConfig) { self.name = name; self.config = config }
}

/// The same workload, with the same seed, on fresh machines that differ in one policy.
public struct Experiment: Sendable {
    public var name: String
    public var variants: [ExperimentVariant]
    public var workload: WorkloadDefinition
    /// Seeds per variant: replicate k runs with the machine seed and the workload seed each raised by k.
    public var repeatCount: Int
    /// Added to every replicate's k (`seed_offset`): a part of a larger experiment runs its seeds
    /// seed + offset … seed + offset + repeat − 1 (a spread experiment's parts, README "Sharding").
    public var seedOffset: Int = 0
    /// The experiment this one is a part of (`part_of`): its result then carries every replicate's row
    /// and figures exactly (`replicates_exact`), for the whole experiment to merge them.
    public var partOf: String?

    public init(name: String, variants: [ExperimentVariant], workload: WorkloadDefinition, repeatCount: Int = 1) {
        self.name = name; self.variants = variants; self.workload = workload; self.repeatCount = repeatCount
    }

    public static let maxVariants = 16
    public static let maxRepeat = 64

    /// Replicate k of variant v: its machine configuration and workload, with both seeds raised by k.
    public func unit(variant v: Int, replicate k: Int) -> (config: MachineConfig, workload: WorkloadDefinition) {
        var c = variants[v].config
        c.seed &+= UInt64(k + seedOffset)
        var w = workload
        w.seed &+= UInt64(k + seedOffset)
        return (c, w)
    }
}

/// The results of an experiment, one per variant, in the variants' order.
public struct ExperimentResult: Sendable {
    public var name: String
    public var workload: String
    /// The first replicate of each variant (the experiment's own seeds).
    public var variants: [(name: String, result: WorkloadResult)]
    /// Every replicate of each variant, in seed order (`replicates[v][0]` is `variants[v].result`).
    public var replicates: [[WorkloadResult]]
    /// Further replicates of each variant, after `replicates[v]` in seed order, known only by their
    /// table row and figures: those the other parts of a spread experiment ran.
    public var laterReplicates: [[ReplicateRecord]] = []
    /// Whether the result's document (MMFormat) carries `replicates_exact` (a part of a spread experiment).
    public var carriesExactRecords = false

    public init(name: String, workload: String, variants: [(name: String, result: WorkloadResult)]) {
        self.init(name: name, workload: workload, variants: variants, replicates: variants.map { [$0.result] })
    }

    public init(name: String, workload: String, variants: [(name: String, result: WorkloadResult)], replicates: [[WorkloadResult]]) {
        self.name = name; self.workload = workload; self.variants = variants; self.replicates = replicates
    }

    /// Seeds run per variant (the smallest count, should a run have stopped early).
    public var repeatCount: Int {
        replicates.indices.map { replicates[$0].count + later($0).count }.min() ?? 0
    }

    /// Every replicate of variant v as a record: its row and figures.
    public func records(variant v: Int) -> [ReplicateRecord] {
        replicates[v].map { r in ReplicateRecord(row: row(variants[v].name, r), figures: ExperimentFigures.all.map { $0.value(r) }) }
            + later(v)
    }

    /// Every replicate's figures of variant v (`ExperimentFigures.all` order), without formatting rows.
    func figures(variant v: Int) -> [[Double]] {
        replicates[v].map { r in ExperimentFigures.all.map { $0.value(r) } } + later(v).map(\.figures)
    }

    private func later(_ v: Int) -> [ReplicateRecord] { laterReplicates.indices.contains(v) ? laterReplicates[v] : [] }

    public static let columns = ["variant", "seed", "preset", "memory_mib", "compaction", "requested", "attempts", "successes",
                                 "request_pct", "success_pct", "pages_reclaimed", "pages_reclaimed_alloc", "pgsteal_kswapd", "pgsteal_direct",
                                 "pgscan_kswapd", "pgscan_direct", "compact_stall", "compact_success", "compact_fail",
                                 "migrate_scanned", "free_scanned", "pages_migrated", "extfrag_events", "allocstall",
                                 "latency_p50_us", "latency_p90_us", "latency_p95_us", "latency_p99_us", "latency_max_us",
                                 "selftest"]

    /// One row of figures per variant and seed (strings, in `columns` order): `request_pct` is the share
    /// of the request allocated (the seed's figure), `success_pct` successes per attempt; `pages_reclaimed`
    /// is Σ pgsteal (kswapd + direct) over the run, `pages_reclaimed_alloc` the same from the first
    /// high-order allocation step on.
    public var rows: [[String]] {
        replicates.indices.flatMap { v in records(variant: v).map(\.row) }
    }

    /// One variant's row for replicate `r`.
    func row(_ variant: String, _ r: WorkloadResult) -> [String] {
        let l = r.latency
        func us(_ ns: UInt64) -> String { formatWhole((Double(ns) / 1000).rounded()) }
        let memMiB = (r.machine.memoryMiB ?? r.machine.zoneLayout?.flatMap { $0 }.reduce(0) { $0 + $1.mib }) ?? 0
        return [variant, String(r.machine.seed), r.machine.preset.name, String(memMiB), r.machine.compaction ? "yes" : "no",
                    String(r.requested), String(r.highAllocAttempts), String(r.highAllocSuccesses), format1(r.requestPercent),
                    format1(r.successPercent), String(r.pagesReclaimedAsSeed), String(r.pagesReclaimedInAllocPhase), String(r.delta(\.pgstealKswapd)),
                    String(r.delta(\.pgstealDirect)), String(r.delta(\.pgscanKswapd)), String(r.delta(\.pgscanDirect)),
                    String(r.delta(\.compactStall)), String(r.delta(\.compactSuccess)),
                    String(r.delta(\.compactFail)), String(r.delta(\.compactMigrateScanned)), String(r.delta(\.compactFreeScanned)),
                    String(r.delta(\.pgmigrateSuccess)), String(r.delta(\.extfragEvents)), String(r.delta(\.allocstall)),
                    us(l.p50), us(l.p90), us(l.p95), us(l.p99), us(l.max),
                    r.selftest.map { "\($0.passed ? "pass" : "fail") (\($0.hugepages) huge pages, index \($0.compactionIndex))" } ?? "-"]
                   + modernCells(r)
    }
}

/// A whole number of a table cell: integral values below 10^15 without a fraction (others as Swift prints
/// them).
func formatWhole(_ d: Double) -> String {
    if !d.isFinite { return "null" }
    if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
    return "\(d)"
}

func format1(_ d: Double) -> String {
    let r = (d * 10).rounded() / 10
    return r == r.rounded() ? String(Int(r)) : String(r)
}

extension Experiment {
    /// Runs every variant and seed on a fresh machine, one after another (for callers that do not need
    /// steps; the service runs the units in parallel).
    public func run() throws(MMError) -> ExperimentResult {
        var reps: [[WorkloadResult]] = Array(repeating: [], count: variants.count)
        for k in 0..<repeatCount {
            for v in variants.indices {
                let u = unit(variant: v, replicate: k)
                reps[v].append(try Machine(u.config).runWorkload(u.workload))
            }
        }
        return result(replicates: reps)
    }

    /// The experiment's result from every variant's replicates in seed order.
    public func result(replicates reps: [[WorkloadResult]]) -> ExperimentResult {
        var r = ExperimentResult(name: name, workload: workload.name, variants: variants.indices.map { (variants[$0].name, reps[$0][0]) },
                                 replicates: reps)
        r.carriesExactRecords = partOf != nil
        return r
    }
}
