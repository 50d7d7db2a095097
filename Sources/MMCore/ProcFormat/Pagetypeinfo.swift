extension Machine {
    /// /proc/pagetypeinfo in the seed's layout (kernel-compaction.md §7.8), once per node: the pageblock
    /// order and size, the free block count of every (zone, migratetype, order) list, then the number of
    /// pageblocks of each migratetype per zone. Columns follow the seed's enum (Unmovable, Reclaimable,
    /// Movable, Reserve, Isolate); counts are not capped (the 100000 cap came later).
    /// A node's block of /proc/pagetypeinfo begins (`pagetypeinfo_showfree`'s header, the same in both
    /// releases): the pageblock order and size, then the free-list table's header row.
    func pagetypeinfoHeader(_ out: inout String) {
        out += "Page block order: \(pageblockOrder)\n"
        out += "Pages per block:  \(pageblockPages)\n"
        out += "\n"
        out += CFormat.pad("Free pages count per migrate type at order", 43, left: true) + " "
        for o in 0..<nrOrders { out += CFormat.pad(String(o), 6) + " " }
        out += "\n"
    }

    public func renderPagetypeinfo() -> String {
        if modern != nil { return renderModernPagetypeinfo() }
        var out = ""
        for node in nodes {
            let zs = node.zoneIds.map { zones[$0] }.filter(\.populated)
            if zs.isEmpty { continue }
            pagetypeinfoHeader(&out)
            for zone in zs {
                for mt in Migratetype.allCases {
                    out += "Node \(CFormat.pad(String(node.id.rawValue), 4)), zone \(CFormat.pad(zone.name, 8)), type \(CFormat.pad(mt.name, 12)) "
                    for o in 0..<nrOrders {
                        out += CFormat.pad(String(freeListLength(zone: zone.id, order: o, mt: mt)), 6) + " "
                    }
                    out += "\n"
                }
            }
            out += "\n" + CFormat.pad("Number of blocks type ", 23, left: true)
            for mt in Migratetype.allCases { out += CFormat.pad(mt.name, 12) + " " }
            out += "\n"
            for zone in zs {
                out += nodeZonePrefix(node, zone)
                let counts = pageblockCounts(zone: zone.id)
                for mt in Migratetype.allCases { out += CFormat.pad(String(counts[mt]), 12) + " " }
                out += "\n"
            }
        }
        return out
    }

    /// Pageblocks of each migratetype whose first pfn lies in the zone, stepping from the zone start.
    public func pageblockCounts(zone z: ZoneID) -> [Int] {
        var counts = Array(repeating: 0, count: Migratetype.count)
        let zone = zones[z]
        var pfn = zone.startPfn
        while pfn < zone.endPfn {
            counts[pageblockMigratetype(pfn)] += 1
            pfn += pageblockPages
        }
        return counts
    }
}
