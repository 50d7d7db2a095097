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

    // Reclaim: machine-wide under the later kernels' names (kernel-compaction.md §8.1), and per zone
    // type below as 2.6.35 counts and prints them.
    public var pswpin: UInt64 = 0
    public var pswpout: UInt64 = 0
    public var pgactivate: UInt64 = 0
    /// KSWAPD_STEAL: the pages kswapd reclaimed (`pgsteal_kswapd` under the later kernels' name).
    public var pgstealKswapd: UInt64 = 0
    /// Reclaim by zone type (indexed as `pgalloc`), as 2.6.35 counts it (`__count_zone_vm_events` in
    /// `shrink_inactive_list`): `pgsteal_<zone>` (kswapd and direct together), `pgscan_kswapd_<zone>`,
    /// `pgscan_direct_<zone>`. The machine-wide counters below are their sums.
    public var pgstealByZone: [UInt64]
    public var pgscanKswapdByZone: [UInt64]
    public var pgscanDirectByZone: [UInt64]
    /// 2.6.35's `pgrefill_<zone>`: active-list pages `shrink_active_list` scanned (PGREFILL, per zone).
    public var pgrefillByZone: [UInt64]
    /// PGREFILL over the machine (6.6 counts it so), and PGDEACTIVATE: the model deactivates every active
    /// page it scans, so the two are the same.
    public var pgrefill: UInt64 { pgrefillByZone.reduce(0, &+) }
    public var pgdeactivate: UInt64 { pgrefill }
    public var pgscanKswapd: UInt64 { pgscanKswapdByZone.reduce(0, &+) }
    public var pgscanDirect: UInt64 { pgscanDirectByZone.reduce(0, &+) }
    /// Direct reclaim's pages: the zones' pgsteal less kswapd's (mmtests' split of 2.6.35's counters).
    public var pgstealDirect: UInt64 { pgstealByZone.reduce(0, &+) &- pgstealKswapd }
    public var slabsScanned: UInt64 = 0
    /// PGINODESTEAL / KSWAPD_INODESTEAL: page-cache pages `prune_icache` invalidated to free their inodes,
    /// in direct reclaim and in kswapd (not counted in pgsteal).
    public var pginodesteal: UInt64 = 0
    public var kswapdInodesteal: UInt64 = 0
    public var kswapdWakeups: UInt64 = 0
    public var pageoutrun: UInt64 = 0
    public var allocstall: UInt64 = 0
    /// 6.6's `allocstall_<zone>`: direct-reclaim stalls by the zone type of the allocation's highest
    /// zone (`do_try_to_free_pages` counts ALLOCSTALL against `sc->reclaim_idx`). Kept on 6.6 only.
    public var allocstallByZone: [UInt64]
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
    /// HTLB_BUDDY_PGALLOC / HTLB_BUDDY_PGALLOC_FAIL: `alloc_fresh_huge_page` calls that got a huge page
    /// from the buddy allocator, and that failed on every allowed node.
    public var htlbBuddyAllocSuccess: UInt64 = 0
    /// Processes forked (`/proc/stat` "processes"; not a vmstat item in the kernel).
    public var nrForks: UInt64 = 0
    /// Processes the OOM killer killed (the later kernels' `oom_kill`; 2.6.35 only logged them).
    public var oomKill: UInt64 = 0
    public var htlbBuddyAllocFail: UInt64 = 0
    /// The modern profile's counters (kernel 6.6 only; zero on the old kernels).
    public var modern = ModernVmCounters()

    public init(zoneTypes: Int) {
        pgalloc = Array(repeating: 0, count: zoneTypes)
        pgstealByZone = pgalloc
        pgscanKswapdByZone = pgalloc
        pgscanDirectByZone = pgalloc
        pgrefillByZone = pgalloc
        allocstallByZone = pgalloc
    }
}

/// The scalar event counters by name, written once: each kernel's /proc/vmstat renderer (ProcFormat),
/// the service's deltas and the workload results select from these, and state images store the counters
/// under these names (so a name here is never changed). The per-zone arrays are printed by the renderers.
extension VmCounters {
    public typealias Field = (name: String, value: KeyPath<VmCounters, UInt64> & Sendable)

    /// The NUMA and paging counters (before `pgalloc_<zone>` in every kernel's `vmstat_text`).
    public static let fieldsBeforePgalloc: [Field] = [
        ("numa_hit", \.numaHit), ("numa_miss", \.numaMiss), ("numa_foreign", \.numaForeign), ("numa_local", \.numaLocal),
        ("numa_other", \.numaOther), ("pgpgout", \.pgpgout), ("pswpin", \.pswpin), ("pswpout", \.pswpout),
    ]

    /// The rest: reclaim's machine-wide counters under the later kernels' names (`kswapd_steal` names
    /// `pgsteal_kswapd` a second time), the seed's and the later compaction counters, then the
    /// simulator's own (`extfrag_*`, `alloc_fail`, … `kswapd_wakeups`, which have no kernel counterpart).
    public static let fieldsAfterPgalloc: [Field] = [
        ("pgfree", \.pgfree), ("pgactivate", \.pgactivate), ("pgdeactivate", \.pgdeactivate), ("pgrefill", \.pgrefill),
        ("pgsteal_kswapd", \.pgstealKswapd), ("pgsteal_direct", \.pgstealDirect), ("pgscan_kswapd", \.pgscanKswapd),
        ("pgscan_direct", \.pgscanDirect), ("pginodesteal", \.pginodesteal), ("slabs_scanned", \.slabsScanned),
        ("kswapd_steal", \.pgstealKswapd), ("kswapd_inodesteal", \.kswapdInodesteal), ("pageoutrun", \.pageoutrun), ("allocstall", \.allocstall),
        ("compact_blocks_moved", \.compactBlocksMoved), ("compact_pages_moved", \.compactPagesMoved),
        ("compact_pagemigrate_failed", \.compactPagemigrateFailed), ("compact_stall", \.compactStall),
        ("compact_fail", \.compactFail), ("compact_success", \.compactSuccess),
        ("compact_migrate_scanned", \.compactMigrateScanned), ("compact_free_scanned", \.compactFreeScanned),
        ("compact_isolated", \.compactIsolated), ("pgmigrate_success", \.pgmigrateSuccess), ("pgmigrate_fail", \.pgmigrateFail),
        ("htlb_buddy_alloc_success", \.htlbBuddyAllocSuccess), ("htlb_buddy_alloc_fail", \.htlbBuddyAllocFail),
        ("nr_vmscan_write", \.nrVmscanWrite), ("extfrag_events", \.extfragEvents),
        ("extfrag_events_fragmenting", \.extfragFragmenting), ("extfrag_events_change_ownership", \.extfragChangeOwnership),
        ("alloc_fail", \.allocFail), ("compact_freed_while_isolated", \.compactFreedWhileIsolated),
        ("compact_free_isolated", \.compactFreeIsolated), ("pages_reclaimed", \.pagesReclaimed),
        ("kswapd_wakeups", \.kswapdWakeups), ("processes_forked", \.nrForks), ("oom_kill", \.oomKill),
    ]

    private static let byName: [String: KeyPath<VmCounters, UInt64> & Sendable] =
        Dictionary((fieldsBeforePgalloc + fieldsAfterPgalloc).map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })

    /// The fields of these vmstat names, in the order given; a name that is not an event counter traps
    /// (a programming error, found by the first use).
    public static func fields(_ names: [String]) -> [Field] {
        names.map { n in
            guard let k = byName[n] else { preconditionFailure("no vmstat event counter named \(n)") }
            return (n, k)
        }
    }
}
