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
