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
                    let nodeItems = zoneStatItems(zone: nil, node: node.id)
                    for (name, v) in nodeItems where name != "nr_free_pages" {
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
                out += "\n      \(CFormat.pad("nr_free_pages", 12, left: true)) \(zoneCounters.freePages[zid])"
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

    /// The node-level gauges (6.6 keeps the LRU and file counters per node): the zone gauges summed
    /// over the node's zones.
    func zoneStatItems(zone: ZoneID?, node nid: NodeID) -> [(String, Int64)] {
        var sums: [(String, Int64)] = []
        for z in nodes[nid].zoneIds {
            let items = zoneStatItems(zone: z)
            if sums.isEmpty { sums = items } else { for i in sums.indices { sums[i].1 += items[i].1 } }
        }
        return sums
    }

    /// The event counters of 6.6's /proc/vmstat the model has, in `vmstat_text` order, after the gauges
    /// and `pgalloc_<zone>` (the seed-only names `compact_blocks_moved`, `compact_pages_moved`,
    /// `compact_pagemigrate_failed` and `kswapd_steal` are not 6.6 counters and are left out; the
    /// simulator's own lines follow at the end as on the old kernels).
    static let modernFieldsAfterPgalloc: [VmCounters.Field] = [
        ("pgfree", \.pgfree), ("pgactivate", \.pgactivate), ("pgdeactivate", \.pgdeactivate),
        ("pgsteal_kswapd", \.pgstealKswapd), ("pgsteal_direct", \.pgstealDirect), ("pgscan_kswapd", \.pgscanKswapd),
        ("pgscan_direct", \.pgscanDirect), ("slabs_scanned", \.slabsScanned), ("pageoutrun", \.pageoutrun),
        ("pgmigrate_success", \.pgmigrateSuccess), ("pgmigrate_fail", \.pgmigrateFail),
        ("compact_migrate_scanned", \.compactMigrateScanned), ("compact_free_scanned", \.compactFreeScanned),
        ("compact_isolated", \.compactIsolated), ("compact_stall", \.compactStall), ("compact_fail", \.compactFail),
        ("compact_success", \.compactSuccess), ("compact_daemon_wake", \.compactDaemonWake),
        ("compact_daemon_migrate_scanned", \.compactDaemonMigrateScanned), ("compact_daemon_free_scanned", \.compactDaemonFreeScanned),
        ("thp_fault_alloc", \.thpFaultAlloc), ("thp_fault_fallback", \.thpFaultFallback),
        ("nr_vmscan_write", \.nrVmscanWrite), ("allocstall", \.allocstall), ("extfrag_events", \.extfragEvents),
        ("extfrag_events_fragmenting", \.extfragFragmenting), ("extfrag_events_change_ownership", \.extfragChangeOwnership),
        ("alloc_fail", \.allocFail), ("compact_freed_while_isolated", \.compactFreedWhileIsolated),
        ("compact_free_isolated", \.compactFreeIsolated), ("compact_captured", \.compactCaptured),
        ("compact_fast_migrate_scanned", \.compactFastMigrateScanned), ("compact_fast_free_scanned", \.compactFastFreeScanned),
        ("compact_proactive_runs", \.compactProactiveRuns), ("watermark_boosts", \.watermarkBoosts),
        ("pages_reclaimed", \.pagesReclaimed), ("kswapd_wakeups", \.kswapdWakeups),
    ]

    /// The name/value pairs of a 6.6 machine's /proc/vmstat.
    func modernVmstatPairs() -> [(String, Int64)] {
        let c = counters
        var pairs = zoneStatItems(zone: nil)
        func add(_ n: String, _ v: UInt64) { pairs.append((n, Int64(clamping: v))) }
        for f in VmCounters.fieldsBeforePgalloc { add(f.name, c[keyPath: f.value]) }
        for (i, t) in preset.zoneTypes.enumerated() { add("pgalloc_\(t.vmstatSuffix)", c.pgalloc[i]) }
        for f in Machine.modernFieldsAfterPgalloc { add(f.name, c[keyPath: f.value]) }
        return pairs
    }
}
