import MMCore

/// The JSON of an experiment definition: a machine template, variants that override it, and a
/// workload (inline or a preset's name).
extension Experiment {
    /// Reads `{"name", "template": {machine}, "variants": [{"name", ...machine overrides}], "workload": {...} | "preset": "..."}`.
    /// Each variant's keys override the template's (objects such as `sysctl` merge key by key).
    public init(json: JSON) throws(MMError) {
        let r = try JSONObjectReader(json, path: .root)
        try r.rejectUnknown(["name", "template", "variants", "workload", "preset", "repeat", "seed_offset", "part_of"])
        let repeatCount = try r.int("repeat", in: 1...Experiment.maxRepeat) ?? 1
        let seedOffset = try r.int("seed_offset", in: 0...(Experiment.maxRepeat - 1)) ?? 0
        let partOf = try r.string("part_of")
        let template = r["template"] ?? .object([])
        _ = try JSONObjectReader(template, path: FieldPath("template"))
        guard let vs = try r.array("variants", maxCount: Experiment.maxVariants), !vs.isEmpty else {
            throw .invalidConfig(field: FieldPath("variants"), value: "missing", reason: "needs 1..\(Experiment.maxVariants) variants")
        }
        var variants: [ExperimentVariant] = []
        for (i, v) in vs.enumerated() {
            let vr = try JSONObjectReader(v, path: FieldPath("variants").index(i))
            let name = try vr.string("name") ?? "variant-\(i)"
            guard !variants.contains(where: { $0.name == name }) else {
                throw .invalidConfig(field: FieldPath("variants").index(i).key("name"), value: name, reason: "variant names must differ")
            }
            let merged = Experiment.merge(Experiment.template(template, spelledFor: v), v, dropping: "name")
            variants.append(ExperimentVariant(name: name, config: try MachineConfig(json: merged, path: FieldPath("variants").index(i))))
        }
        let workload: WorkloadDefinition
        switch (r["workload"], try r.string("preset")) {
        case (let w?, nil): workload = try WorkloadDefinition(json: w, path: FieldPath("workload"))
        case (nil, let p?):
            guard let d = WorkloadPresets.definition(named: p) else {
                throw .invalidConfig(field: FieldPath("preset"), value: p, reason: "unknown workload preset (\(WorkloadPresets.all.map(\.name).joined(separator: ", ")))")
            }
            workload = d
        default:
            throw .invalidConfig(field: FieldPath("workload"), value: "", reason: "give exactly one of workload, preset")
        }
        for (i, v) in variants.enumerated() {
            do { try workload.validate(for: v.config) } catch {
                throw .invalidConfig(field: FieldPath("variants").index(i), value: v.name, reason: "workload does not fit this machine: \(error)")
            }
        }
        self.init(name: try r.string("name") ?? workload.name, variants: variants, workload: workload, repeatCount: repeatCount)
        self.seedOffset = seedOffset
        self.partOf = partOf
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

    /// `kernel` and `compaction` are two spellings of one field: a variant that gives one of them
    /// replaces the template's other one (else `{"compaction": true}` in the template and
    /// `{"kernel": "2.6.34"}` in a variant would contradict each other).
    static func template(_ template: JSON, spelledFor variant: JSON) -> JSON {
        guard case .object(let t) = template, case .object(let v) = variant else { return template }
        let gives = Set(v.map(\.0))
        var drop: String?
        if gives.contains("kernel") && !gives.contains("compaction") { drop = "compaction" }
        if gives.contains("compaction") && !gives.contains("kernel") { drop = "kernel" }
        guard let d = drop else { return template }
        return .object(t.filter { $0.0 != d })
    }
}
