/// The /proc text of a 6.6 machine (mm/vmstat.c of 6.6; kernel-compaction.md §7.7–7.9, §8.1): the
/// migratetype columns in the modern enum order, the 2021 `extfrag_index` format, the modern zoneinfo
/// fields, and the modern vmstat event names. The two old kernels keep their text (ProcFormat/*.swift).
extension Machine {
    /// The printed name of a migratetype slot on this kernel ("HighAtomic" for slot 3 on 6.6).
    public func migratetypeName(_ mt: Migratetype) -> String {
        modern != nil ? mt.modernName : mt.name
    }

    /// /proc/pagetypeinfo of 6.6 (`pagetypeinfo_showfree`, `pagetypeinfo_showblockitmp`): counts capped
    /// at 100000 with a `>` prefix.
    func renderModernPagetypeinfo() -> String {
        var out = ""
        for node in nodes {
            let zs = node.zoneIds.map { zones[$0] }.filter(\.populated)
            if zs.isEmpty { continue }
            pagetypeinfoHeader(&out)
            for zone in zs {
                for (name, slot) in Migratetype.modernColumns {
                    out += "Node \(CFormat.pad(String(node.id.rawValue), 4)), zone \(CFormat.pad(zone.name, 8)), type \(CFormat.pad(name, 12)) "
                    for o in 0..<nrOrders {
                        var n = slot.map { freeListLength(zone: zone.id, order: o, mt: $0) } ?? 0
                        var prefix = ""
                        if n >= 100000 { n = 100000; prefix = ">" }
                        out += prefix + CFormat.pad(String(n), 6) + " "
                    }
                    out += "\n"
                }
            }
            out += "\n" + CFormat.pad("Number of blocks type ", 23, left: true)
            for (name, _) in Migratetype.modernColumns { out += CFormat.pad(name, 12) + " " }
            out += "\n"
            for zone in zs {
                out += nodeZonePrefix(node, zone)
                let counts = pageblockCounts(zone: zone.id)
                for (_, slot) in Migratetype.modernColumns { out += CFormat.pad(String(slot.map { counts[$0] } ?? 0), 12) + " " }
                out += "\n"
            }
        }
        return out
    }

    /// /sys/kernel/debug/extfrag/extfrag_index of 6.6: `"%2d.%03d "`.
    func renderModernExtfragIndex() -> String {
        var out = ""
        walkPopulatedZones { node, zone in
            out += nodeZonePrefix(node, zone)
            for o in 0..<nrOrders {
                let i = fragmentationIndex(zone: zone.id, order: o)
                out += CFormat.pad(String(i / 1000), 2) + "." + CFormat.zeroPad3(i % 1000) + " "
            }
            out += "\n"
        }
        return out
    }

    /// /proc/zoneinfo of 6.6 (`zoneinfo_show_print`), with the fields the model keeps: every zone of a
    /// node, populated or not; `boost`, `min`, `low`, `high` (with the boost), `spanned`, `present`,
    /// `managed`, `cma`, `protection`; for populated zones the zone counters, the pageset, and
    /// `node_unreclaimable`, `start_pfn`.
    func renderModernZoneinfo() -> String {
        var out = ""
        for node in nodes {
            for zid in node.zoneIds {
                let zone = zones[zid]
                out += "Node \(node.id), zone \(CFormat.pad(zone.name, 8))"
                if zone.populated && zid == node.zoneIds.first(where: { zones[$0].populated }) {
                    out += "\n  per-node stats"
                    for (name, v) in modernNodeStatItems(node: node.id) {
                        out += "\n      \(CFormat.pad(name, 12, left: true)) \(v)"
                    }
                }
                out += "\n  pages free     \(zoneCounters.freePages[zid])"
                out += "\n        boost    \(modern!.watermarkBoost[zid])"
                out += "\n        min      \(wmarkPages(zone: zid, .min))"
                out += "\n        low      \(wmarkPages(zone: zid, .low))"
                out += "\n        high     \(wmarkPages(zone: zid, .high))"
                out += "\n        spanned  \(zone.spannedPages)"
                out += "\n        present  \(zone.presentPages)"
                out += "\n        managed  \(zone.managedPages)"
                out += "\n        cma      0"
                out += "\n        protection: (" + zone.lowmemReserve.map(String.init).joined(separator: ", ") + ")"
                if !zone.populated { out += "\n"; continue }
                for (name, v) in modernZoneStatItems(zone: zid) {
                    out += "\n      \(CFormat.pad(name, 12, left: true)) \(v)"
                }
                let ps = pageset(zone: zid)
                out += "\n  pagesets"
                out += "\n    cpu: 0"
                out += "\n              count: \(ps.count)"
                out += "\n              high:  \(ps.high)"
                out += "\n              batch: \(ps.batch)"
                out += "\n  vm stats threshold: \(statThreshold(zone: zid))"
                out += "\n  node_unreclaimable:  \(zoneAllUnreclaimable[zid])"
                out += "\n  start_pfn:           \(zone.startPfn)"
                out += "\n"
            }
        }
        return out
    }

    /// 6.6's zone items the model keeps (`enum zone_stat_item`, in `vmstat_text` order) for one zone or
    /// (nil) summed over the machine: the LRU lists as `nr_zone_*`, `nr_zone_write_pending` (dirty
    /// pages: the model writes back synchronously, so none is under writeback), `nr_mlock`.
    func modernZoneStatItems(zone: ZoneID?) -> [(String, Int64)] {
        let g = Dictionary(gaugeItems(zones: zone.map { [$0] } ?? Array(zoneIDs)), uniquingKeysWith: { a, _ in a })
        return [("nr_free_pages", "nr_free_pages"), ("nr_zone_inactive_anon", "nr_inactive_anon"),
                ("nr_zone_active_anon", "nr_active_anon"), ("nr_zone_inactive_file", "nr_inactive_file"),
                ("nr_zone_active_file", "nr_active_file"), ("nr_zone_unevictable", "nr_unevictable"),
                ("nr_zone_write_pending", "nr_dirty"), ("nr_mlock", "nr_mlock")].map { ($0.0, g[$0.1]!) }
    }

    /// 6.6's node items the model keeps (`enum node_stat_item`, in `vmstat_text` order) for one node or
    /// (nil) summed over the machine. `nr_kernel_stack` is in KiB (NR_KERNEL_STACK_KB). With
    /// `vmscanWrite`, `nr_vmscan_write` in its place (the model counts it for the machine only).
    func modernNodeStatItems(node: NodeID?, vmscanWrite: UInt64? = nil) -> [(String, Int64)] {
        let ids = node.map { nodes[$0].zoneIds } ?? Array(zoneIDs)
        let g = Dictionary(gaugeItems(zones: ids), uniquingKeysWith: { a, _ in a })
        var items = ["nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file", "nr_unevictable",
                     "nr_slab_reclaimable", "nr_slab_unreclaimable", "nr_isolated_anon", "nr_isolated_file",
                     "nr_anon_pages", "nr_file_pages", "nr_dirty"].map { ($0, g[$0]!) }
        if let vmscanWrite { items.append(("nr_vmscan_write", Int64(clamping: vmscanWrite))) }
        items.append(("nr_kernel_stack", g["nr_kernel_stack"]!))
        items.append(("nr_page_table_pages", g["nr_page_table_pages"]!))
        return items
    }

    /// 6.6's events the model keeps, after `pgalloc_<zone>` and `allocstall_<zone>`, in `vmstat_text`
    /// order (the seed-only `compact_blocks_moved`, `compact_pages_moved`, `compact_pagemigrate_failed`
    /// and `kswapd_steal` are not 6.6 counters; 6.6 has no machine-wide `allocstall`).
    static let modernEventsAfterAllocstall = VmCounters.fields([
        "pgfree", "pgactivate", "pgdeactivate", "pgrefill", "pgsteal_kswapd", "pgsteal_direct", "pgscan_kswapd", "pgscan_direct",
        "pginodesteal", "slabs_scanned", "kswapd_inodesteal", "pageoutrun", "oom_kill",
        "pgmigrate_success", "pgmigrate_fail", "compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
        "compact_stall", "compact_fail", "compact_success",
    ]) + modernField(["compact_daemon_wake", "compact_daemon_migrate_scanned", "compact_daemon_free_scanned"])
        + VmCounters.fields(["htlb_buddy_alloc_success", "htlb_buddy_alloc_fail"])
        + modernField(["thp_fault_alloc", "thp_fault_fallback"])

    /// The simulator's own lines on 6.6, after the kernel's (no kernel counterpart).
    static let modernSimulatorEvents = VmCounters.fields([
        "extfrag_events", "extfrag_events_fragmenting", "extfrag_events_change_ownership", "alloc_fail",
        "compact_freed_while_isolated", "compact_free_isolated",
    ]) + modernField(["compact_captured", "compact_fast_migrate_scanned", "compact_fast_free_scanned",
                      "compact_proactive_runs", "watermark_boosts"])
        + VmCounters.fields(["pages_reclaimed", "kswapd_wakeups", "processes_forked"])

    /// Fields of the modern counters by name (their key paths are listed once, in `modernFields`).
    private static func modernField(_ names: [String]) -> [VmCounters.Field] {
        names.map { n in modernFields.first { $0.name == n }! }
    }

    /// The modern profile's counters with their names.
    static let modernFields: [VmCounters.Field] = [
        ("compact_daemon_wake", \.compactDaemonWake), ("compact_daemon_migrate_scanned", \.compactDaemonMigrateScanned),
        ("compact_daemon_free_scanned", \.compactDaemonFreeScanned), ("thp_fault_alloc", \.thpFaultAlloc),
        ("thp_fault_fallback", \.thpFaultFallback), ("compact_captured", \.compactCaptured),
        ("compact_fast_migrate_scanned", \.compactFastMigrateScanned), ("compact_fast_free_scanned", \.compactFastFreeScanned),
        ("compact_proactive_runs", \.compactProactiveRuns), ("watermark_boosts", \.watermarkBoosts),
    ]

    /// The name/value pairs of a 6.6 machine's /proc/vmstat: zone items, NUMA events, node items, then
    /// events (`vmstat_start`'s order), `nr_unstable 0` (which `vmstat_show` appends after the last
    /// item), then the simulator's own lines.
    func modernVmstatPairs() -> [(String, Int64)] {
        let c = counters
        var pairs = modernZoneStatItems(zone: nil)
        func add(_ n: String, _ v: UInt64) { pairs.append((n, Int64(clamping: v))) }
        let numa: Set<String> = ["numa_hit", "numa_miss", "numa_foreign", "numa_local", "numa_other"]
        for f in VmCounters.fieldsBeforePgalloc where numa.contains(f.name) { add(f.name, c[keyPath: f.value]) }
        pairs += modernNodeStatItems(node: nil, vmscanWrite: c.nrVmscanWrite)
        for f in VmCounters.fieldsBeforePgalloc where !numa.contains(f.name) { add(f.name, c[keyPath: f.value]) }
        for (i, t) in preset.zoneTypes.enumerated() { add("pgalloc_\(t.vmstatSuffix)", c.pgalloc[i]) }
        for (i, t) in preset.zoneTypes.enumerated() { add("allocstall_\(t.vmstatSuffix)", c.allocstallByZone[i]) }
        for f in Machine.modernEventsAfterAllocstall { add(f.name, c[keyPath: f.value]) }
        add("nr_unstable", 0)
        for f in Machine.modernSimulatorEvents { add(f.name, c[keyPath: f.value]) }
        return pairs
    }
}
