/// Event counters of one machine (`vm_event_states` plus the simulator's own). Gauges such as
/// nr_free_pages are computed from zone state when rendered; these only ever grow.
public struct VmCounters: Sendable, Equatable {
    /// pgalloc_<zone>, indexed by zone index (pages allocated from zones of that type, all nodes).
    public var pgalloc: [UInt64]
    public var pgfree: UInt64 = 0
    public var numaHit: UInt64 = 0
    public var numaMiss: UInt64 = 0
    public var numaForeign: UInt64 = 0
    public var numaLocal: UInt64 = 0
    public var numaOther: UInt64 = 0

    // Reclaim (seed-era reclaim measured under today's names, kernel-compaction.md §8.1).
    public var pswpin: UInt64 = 0
    public var pswpout: UInt64 = 0
    public var pgactivate: UInt64 = 0
    public var pgdeactivate: UInt64 = 0
    public var pgscanKswapd: UInt64 = 0
    public var pgscanDirect: UInt64 = 0
    public var pgstealKswapd: UInt64 = 0
    public var pgstealDirect: UInt64 = 0
    public var slabsScanned: UInt64 = 0
    public var kswapdWakeups: UInt64 = 0
    public var pageoutrun: UInt64 = 0
    public var allocstall: UInt64 = 0
    public var pgpgout: UInt64 = 0
    public var nrVmscanWrite: UInt64 = 0

    // Compaction: the seed's names, then the later ones (kernel-compaction.md §8.1).
    public var compactBlocksMoved: UInt64 = 0
    public var compactPagesMoved: UInt64 = 0
    public var compactPagemigrateFailed: UInt64 = 0
    public var compactStall: UInt64 = 0
    public var compactFail: UInt64 = 0
    public var compactSuccess: UInt64 = 0
    public var compactMigrateScanned: UInt64 = 0
    public var compactFreeScanned: UInt64 = 0
    public var compactIsolated: UInt64 = 0
    public var pgmigrateSuccess: UInt64 = 0
    public var pgmigrateFail: UInt64 = 0

    // Simulator extras (not kernel counters): mm_page_alloc_extfrag tracepoint hits.
    public var extfragEvents: UInt64 = 0
    public var extfragFragmenting: UInt64 = 0
    public var extfragChangeOwnership: UInt64 = 0
    /// Allocation attempts that failed (after the slow path).
    public var allocFail: UInt64 = 0
    /// Pages freed by their owner while isolated for migration (the seed's anon_vma race, handled).
    public var compactFreedWhileIsolated: UInt64 = 0
    /// Free pages the compaction free scanner took off the free lists (PGALLOC does not count them, PGFREE
    /// does when they go back, so pgalloc + this = pgfree + allocated pages).
    public var compactFreeIsolated: UInt64 = 0
    /// Pages reclaimed in total (kswapd + direct + lumpy).
    public var pagesReclaimed: UInt64 = 0

    public init(zoneTypes: Int) { pgalloc = Array(repeating: 0, count: zoneTypes) }
}
