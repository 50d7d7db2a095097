extension Experiment {
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

extension ExperimentResult {
    /// Columns added when a variant runs kernel 6.6: the kernel, and the counters only that kernel has.
    public static let modernColumns = ["kernel", "compact_daemon_wake", "compact_daemon_migrate_scanned",
                                       "compact_daemon_free_scanned", "compact_isolated", "thp_fault_alloc", "thp_fault_fallback",
                                       "compact_captured", "compact_fast_migrate_scanned", "compact_fast_free_scanned"]

    /// Whether any variant runs the modern profile.
    var hasModernVariant: Bool { variants.contains { $0.result.machine.kernel.isModern } }

    /// The table's columns: the seed's (`columns`), and `modernColumns` when a variant runs kernel 6.6
    /// (the tables of experiments on the old kernels keep their columns).
    public var columnNames: [String] { hasModernVariant ? ExperimentResult.columns + ExperimentResult.modernColumns : ExperimentResult.columns }

    func modernCells(_ r: WorkloadResult) -> [String] {
        guard hasModernVariant else { return [] }
        return [r.machine.kernel.name, String(r.delta(\.compactDaemonWake)), String(r.delta(\.compactDaemonMigrateScanned)),
                String(r.delta(\.compactDaemonFreeScanned)), String(r.delta(\.compactIsolated)), String(r.delta(\.thpFaultAlloc)),
                String(r.delta(\.thpFaultFallback)), String(r.delta(\.compactCaptured)), String(r.delta(\.compactFastMigrateScanned)),
                String(r.delta(\.compactFastFreeScanned))]
    }
}
