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

    public init(name: String, variants: [ExperimentVariant], workload: WorkloadDefinition) {
        self.name = name; self.variants = variants; self.workload = workload
    }

    public static let maxVariants = 16

    /// Reads `{"name", "template": {machine}, "variants": [{"name", ...machine overrides}], "workload": {...} | "preset": "..."}`.
    /// Each variant's keys override the template's (objects such as `sysctl` merge key by key).
    public init(json: JSON) throws(MMError) {
        let r = try JSONObjectReader(json, path: "")
        try r.rejectUnknown(["name", "template", "variants", "workload", "preset"])
        let template = r["template"] ?? .object([])
        _ = try JSONObjectReader(template, path: "template")
        guard let vs = try r.array("variants", maxCount: Experiment.maxVariants), !vs.isEmpty else {
            throw .invalidConfig(field: "variants", value: "missing", reason: "needs 1..\(Experiment.maxVariants) variants")
        }
        var variants: [ExperimentVariant] = []
        for (i, v) in vs.enumerated() {
            let vr = try JSONObjectReader(v, path: "variants[\(i)]")
            let name = try vr.string("name") ?? "variant-\(i)"
            guard !variants.contains(where: { $0.name == name }) else {
                throw .invalidConfig(field: "variants[\(i)].name", value: name, reason: "variant names must differ")
            }
            let merged = Experiment.merge(Experiment.template(template, spelledFor: v), v, dropping: "name")
            variants.append(ExperimentVariant(name: name, config: try MachineConfig(json: merged, path: "variants[\(i)]")))
        }
        let workload: WorkloadDefinition
        switch (r["workload"], try r.string("preset")) {
        case (let w?, nil): workload = try WorkloadDefinition(json: w, path: "workload")
        case (nil, let p?):
            guard let d = WorkloadPresets.definition(named: p) else {
                throw .invalidConfig(field: "preset", value: p, reason: "unknown workload preset (\(WorkloadPresets.all.map(\.name).joined(separator: ", ")))")
            }
            workload = d
        default:
            throw .invalidConfig(field: "workload", value: "", reason: "give exactly one of workload, preset")
        }
        for (i, v) in variants.enumerated() {
            do { try workload.validate(for: v.config) } catch {
                throw .invalidConfig(field: "variants[\(i)]", value: v.name, reason: "workload does not fit this machine: \(error)")
            }
        }
        self.init(name: try r.string("name") ?? workload.name, variants: variants, workload: workload)
    }

    /// Object merge: keys of `over` replace those of `base`; nested objects merge.
    static func merge(_ base: JSON, _ over: JSON, dropping: String) -> JSON {
        guard case .object(let b) = base, case .object(let o) = over else { return over }
        var out = b
        for (k, v) in o where k != dropping {
            if let i = out.firstIndex(where: { $0.0 == k }) {
                if case .object = out[i].1, case .object = v { out[i].1 = merge(out[i].1, v, dropping: "") } else { out[i].1 = v }
            } else {
                out.append((k, v))
            }
        }
        return .object(out)
    }
}

/// The results of an experiment, one per variant, in the variants' order.
public struct ExperimentResult: Sendable {
    public var name: String
    public var workload: String
    public var variants: [(name: String, result: WorkloadResult)]

    public init(name: String, workload: String, variants: [(name: String, result: WorkloadResult)]) {
        self.name = name; self.workload = workload; self.variants = variants
    }

    public static let columns = ["variant", "preset", "memory_mib", "compaction", "attempts", "successes", "success_pct",
                                 "pages_reclaimed", "compact_stall", "compact_success", "compact_fail", "migrate_scanned",
                                 "free_scanned", "pages_migrated", "extfrag_events", "allocstall", "latency_p50_us",
                                 "latency_p90_us", "latency_p95_us", "latency_max_us", "selftest"]

    /// One row of figures per variant (strings, in `columns` order).
    public var rows: [[String]] {
        variants.map { v in
            let r = v.result, l = r.latency
            func us(_ ns: UInt64) -> String { JSON.format((Double(ns) / 1000).rounded()) }
            let memMiB = (r.machine.memoryMiB ?? r.machine.zoneLayout?.flatMap { $0 }.reduce(0) { $0 + $1.mib }) ?? 0
            return [v.name, r.machine.preset.name, String(memMiB), r.machine.compaction ? "yes" : "no",
                    String(r.highAllocAttempts), String(r.highAllocSuccesses), String(format1(r.successPercent)),
                    String(r.delta(\.pagesReclaimed)), String(r.delta(\.compactStall)), String(r.delta(\.compactSuccess)),
                    String(r.delta(\.compactFail)), String(r.delta(\.compactMigrateScanned)), String(r.delta(\.compactFreeScanned)),
                    String(r.delta(\.compactPagesMoved)), String(r.delta(\.extfragEvents)), String(r.delta(\.allocstall)),
                    us(l.p50), us(l.p90), us(l.p95), us(l.max),
                    r.selftest.map { "\($0.passed ? "pass" : "fail") (\($0.hugepages) huge pages, index \($0.compactionIndex))" } ?? "-"]
                + modernCells(r)
        }
    }

    /// The table as CSV (RFC 4180; a header line, then one line per variant).
    public var csv: String {
        func q(_ s: String) -> String { s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingAll("\"", "\"\"") + "\"" : s }
        return ([columnNames] + rows).map { $0.map(q).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// The table as Markdown, like the seed's cover letter tables.
    public var markdown: String {
        var out = "| " + columnNames.joined(separator: " | ") + " |\n"
        out += "|" + columnNames.map { _ in "---" }.joined(separator: "|") + "|\n"
        for r in rows { out += "| " + r.joined(separator: " | ") + " |\n" }
        return out
    }
}

func format1(_ d: Double) -> String {
    let r = (d * 10).rounded() / 10
    return r == r.rounded() ? String(Int(r)) : String(r)
}

extension String {
    func replacingAll(_ a: String, _ b: String) -> String { split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b) }
}

extension Experiment {
    /// Runs every variant on a fresh machine, one after another (for callers that do not need steps).
    public func run() throws(MMError) -> ExperimentResult {
        var out: [(String, WorkloadResult)] = []
        for v in variants {
            let m = try Machine(v.config)
            out.append((v.name, try m.runWorkload(workload)))
        }
        return ExperimentResult(name: name, workload: workload.name, variants: out)
    }
}
