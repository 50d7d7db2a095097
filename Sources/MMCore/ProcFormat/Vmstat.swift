extension Machine {
    /// The zone gauges (`enum zone_stat_item`), in the seed's `vmstat_text` order, for one zone or
    /// (zone nil) summed over the machine. Only items the model keeps are listed.
    public func zoneStatItems(zone: ZoneID?) -> [(String, Int64)] {
        gaugeItems(zones: zone.map { [$0] } ?? Array(zoneIDs))
    }

    /// The gauges the model keeps, under 2.6.35's names and in its order, summed over `ids`.
    func gaugeItems(zones ids: [ZoneID]) -> [(String, Int64)] {
        func sum(_ f: (ZoneID) -> Int64) -> Int64 { ids.reduce(0) { $0 + f($1) } }
        func lruSum(_ l: LruList) -> Int64 { sum { Int64(self.lruPages(zone: $0, list: l)) } }
        func kind(_ k: AllocKind) -> Int64 { sum { self.zoneCounters.kindPages[$0, k] } }
        return [
            ("nr_free_pages", sum { Int64(self.zoneCounters.freePages[$0]) }),
            ("nr_inactive_anon", lruSum(.inactiveAnon)),
            ("nr_active_anon", lruSum(.activeAnon)),
            ("nr_inactive_file", lruSum(.inactiveFile)),
            ("nr_active_file", lruSum(.activeFile)),
            ("nr_unevictable", lruSum(.unevictable)),
            ("nr_mlock", lruSum(.unevictable)),
            ("nr_anon_pages", kind(.anon) + kind(.pinned)),
            ("nr_file_pages", kind(.file)),
            ("nr_dirty", sum { self.zoneCounters.dirty[$0] }),
            ("nr_slab_reclaimable", kind(.slab)),
            // The simulator's unmovable `kernel` allocations stand for unreclaimable slab and the like,
            // less the page tables, stacks and hugetlb pool pages, which are no slab.
            ("nr_slab_unreclaimable", kind(.kernel) - sum { self.zoneCounters.kernelNotSlab[$0] }),
            ("nr_page_table_pages", sum { self.zoneCounters.pageTables[$0] }),
            // 2.6.35 counts tasks (account_kernel_stack); 6.6's NR_KERNEL_STACK_KB counts KiB.
            ("nr_kernel_stack", sum { self.zoneCounters.kernelStacks[$0] } * (modern == nil ? 1 : Int64(threadSizeKiB))),
            ("nr_isolated_anon", sum { self.zoneCounters.isolated[$0, .anon] }),
            ("nr_isolated_file", sum { self.zoneCounters.isolated[$0, .file] }),
        ]
    }

    /// THREAD_SIZE in KiB as the model allocates stacks (an order-1 block of pages, or ppc64's 16 KiB
    /// `thread_info` slab object).
    var threadSizeKiB: Int { ProcessLayout.of(preset).stackOrder.map { (1 << $0) * pageKB } ?? 16 }

    /// /proc/vmstat: `"<name> <value>\n"` per line, in the kernel's `vmstat_text` order: on 2.6.34 and
    /// 2.6.35 the gauges, NUMA counters, then events with reclaim counted per zone (`pgsteal_<zone>`,
    /// `pgscan_kswapd_<zone>`, `pgscan_direct_<zone>`, and `kswapd_steal`), the seed's compaction
    /// counters and hugetlb's; on 6.6 its own order and names (ModernProcFormat.swift). Only items the
    /// model keeps are printed. On the old kernels the later kernels' compaction and migration counters
    /// follow their own; the last lines (`extfrag_*`,
    /// `alloc_fail`, `compact_freed_while_isolated`, `compact_free_isolated`, `pages_reclaimed`,
    /// `kswapd_wakeups`, …) are the simulator's own and have no kernel counterpart there; parsers that
    /// read name/value pairs ignore them.
    public func renderVmstat() -> String {
        var out = ""
        for (name, v) in vmstatPairs() { out += "\(name) \(v)\n" }
        return out
    }

    /// 2.6.35's events after `pgalloc_<zone>` and before the per-zone reclaim counters (`pgfault` and
    /// `pgmajfault`, which come between, are not kept).
    static let seedEventsBeforeReclaim = VmCounters.fields(["pgfree", "pgactivate", "pgdeactivate"])

    /// 2.6.35's events after the per-zone reclaim counters (`kswapd_steal` is kswapd's share of
    /// `pgsteal_<zone>`), then the later kernels' compaction and migration counters and the
    /// simulator's own.
    static let seedEventsAfterReclaim = VmCounters.fields([
        "pginodesteal", "slabs_scanned", "kswapd_steal", "kswapd_inodesteal", "pageoutrun", "allocstall",
        "compact_blocks_moved", "compact_pages_moved", "compact_pagemigrate_failed", "compact_stall", "compact_fail",
        "compact_success", "htlb_buddy_alloc_success", "htlb_buddy_alloc_fail",
        "compact_migrate_scanned", "compact_free_scanned", "compact_isolated", "pgmigrate_success", "pgmigrate_fail",
        "extfrag_events", "extfrag_events_fragmenting", "extfrag_events_change_ownership",
        "alloc_fail", "compact_freed_while_isolated", "compact_free_isolated", "pages_reclaimed", "kswapd_wakeups",
        "processes_forked", "oom_kill",
    ])

    /// The name/value pairs of /proc/vmstat, in order.
    public func vmstatPairs() -> [(String, Int64)] {
        if modern != nil { return modernVmstatPairs() }
        let c = counters
        var pairs = zoneStatItems(zone: nil)
        // NR_VMSCAN_WRITE is a zone item of 2.6.35 (`pageout`), after nr_kernel_stack; the model counts
        // it for the machine, so it is in /proc/vmstat and not in zoneinfo.
        let stack = pairs.firstIndex { $0.0 == "nr_kernel_stack" }!
        pairs.insert(("nr_vmscan_write", Int64(clamping: c.nrVmscanWrite)), at: stack + 1)
        func add(_ n: String, _ v: UInt64) { pairs.append((n, Int64(clamping: v))) }
        func addByZone(_ prefix: String, _ values: [UInt64]) {
            for (i, t) in preset.zoneTypes.enumerated() { add("\(prefix)_\(t.vmstatSuffix)", values[i]) }
        }
        for f in VmCounters.fieldsBeforePgalloc { add(f.name, c[keyPath: f.value]) }
        addByZone("pgalloc", c.pgalloc)
        for f in Machine.seedEventsBeforeReclaim { add(f.name, c[keyPath: f.value]) }
        addByZone("pgrefill", c.pgrefillByZone)
        addByZone("pgsteal", c.pgstealByZone)
        addByZone("pgscan_kswapd", c.pgscanKswapdByZone)
        addByZone("pgscan_direct", c.pgscanDirectByZone)
        for f in Machine.seedEventsAfterReclaim { add(f.name, c[keyPath: f.value]) }
        return pairs
    }
}
