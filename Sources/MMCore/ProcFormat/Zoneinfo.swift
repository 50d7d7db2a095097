extension Machine {
    /// `inactive_ratio` of a zone (`calculate_zone_inactive_ratio`): int_sqrt(10 × GiB), at least 1.
    public func inactiveRatio(zone z: ZoneID) -> Int {
        let gb = zones[z].presentPages >> (30 - pageShift)
        return gb > 0 ? intSqrt(10 * gb) : 1
    }

    /// /proc/zoneinfo as the seed printed it, populated zones only, with the fields the model has:
    /// free pages, watermarks, pages scanned, spanned, present (spanned minus the memmap estimate, as
    /// 2.6.35's free_area_init_core sets it; 2.6.35 prints no `managed` line), the zone gauges (`"\n    %-12s %lu"`),
    /// protection (lowmem_reserve), the pageset of the one simulated CPU with its vm stats threshold,
    /// then all_unreclaimable, start_pfn and inactive_ratio. (`prev_priority`, which 2.6.35 printed
    /// between all_unreclaimable and start_pfn, is not modelled and not printed.)
    /// `calculate_threshold()` for one online CPU: 2 × fls(1) × (1 + fls(present pages per 128 MiB)),
    /// at most 125.
    public func statThreshold(zone z: ZoneID) -> Int {
        let mem = zones[z].presentPages >> (27 - pageShift)
        return min(125, 2 * fls(1) * (1 + fls(mem)))
    }

    public func renderZoneinfo() -> String {
        if modern != nil { return renderModernZoneinfo() }
        var out = ""
        walkPopulatedZones { node, zone in
            out += "Node \(node.id), zone \(CFormat.pad(zone.name, 8))"
            out += "\n  pages free     \(zoneCounters.freePages[zone.id])"
            out += "\n        min      \(zone.watermark.min)"
            out += "\n        low      \(zone.watermark.low)"
            out += "\n        high     \(zone.watermark.high)"
            out += "\n        scanned  \(zonePagesScanned[zone.id])"
            out += "\n        spanned  \(zone.spannedPages)"
            out += "\n        present  \(zone.presentPages)"
            for (name, v) in zoneStatItems(zone: zone.id) {
                out += "\n    \(CFormat.pad(name, 12, left: true)) \(v)"
            }
            out += "\n        protection: (" + zone.lowmemReserve.map(String.init).joined(separator: ", ") + ")"
            let ps = pageset(zone: zone.id)
            out += "\n  pagesets"
            out += "\n    cpu: 0"
            out += "\n              count: \(ps.count)"
            out += "\n              high:  \(ps.high)"
            out += "\n              batch: \(ps.batch)"
            out += "\n  vm stats threshold: \(statThreshold(zone: zone.id))"
            out += "\n  all_unreclaimable: \(zoneAllUnreclaimable[zone.id])"
            out += "\n  start_pfn:         \(zone.startPfn)"
            out += "\n  inactive_ratio:    \(inactiveRatio(zone: zone.id))"
            out += "\n"
        }
        return out
    }
}
