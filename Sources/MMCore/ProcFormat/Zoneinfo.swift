extension Machine {
    /// `inactive_ratio` of a zone (`calculate_zone_inactive_ratio`): int_sqrt(10 × GiB), at least 1.
    public func inactiveRatio(zone z: Int) -> Int {
        let gb = zones[z].presentPages >> (30 - pageShift)
        return gb > 0 ? intSqrt(10 * gb) : 1
    }

    /// /proc/zoneinfo as the seed printed it, populated zones only, with the fields the model has:
    /// free pages, watermarks, pages scanned, spanned, present, the zone gauges (`"\n    %-12s %lu"`),
    /// protection (lowmem_reserve), then all_unreclaimable, start_pfn and inactive_ratio. Per-CPU
    /// pagesets are not modelled and not printed.
    public func renderZoneinfo() -> String {
        var out = ""
        walkPopulatedZones { node, zone in
            out += "Node \(node.id), zone \(CFormat.pad(zone.name, 8))"
            out += "\n  pages free     \(zoneFreePages[zone.id])"
            out += "\n        min      \(zone.watermark.min)"
            out += "\n        low      \(zone.watermark.low)"
            out += "\n        high     \(zone.watermark.high)"
            out += "\n        scanned  0"
            out += "\n        spanned  \(zone.spannedPages)"
            out += "\n        present  \(zone.presentPages)"
            for (name, v) in zoneStatItems(zone: zone.id) {
                out += "\n    \(CFormat.pad(name, 12, left: true)) \(v)"
            }
            out += "\n        protection: (" + zone.lowmemReserve.map(String.init).joined(separator: ", ") + ")"
            out += "\n  all_unreclaimable: 0"
            out += "\n  start_pfn:         \(zone.startPfn)"
            out += "\n  inactive_ratio:    \(inactiveRatio(zone: zone.id))"
            out += "\n"
        }
        return out
    }
}
