extension Machine {
    /// /sys/kernel/debug/extfrag/unusable_index (§7.6), the seed's `"%d.%03d "` per order.
    public func renderUnusableIndex() -> String {
        renderIndexFile { info, order in MMCore.unusableFreeIndex(order: order, info) }
    }

    /// /sys/kernel/debug/extfrag/extfrag_index (§7.7), in the seed's `"%d.%03d "` format (the
    /// `"%2d.%03d "` form only arrived in 2021): -1000 prints `-1.000`, 954 prints `0.954`.
    public func renderExtfragIndex() -> String {
        if modern != nil { return renderModernExtfragIndex() }
        return renderIndexFile { info, order in MMCore.fragmentationIndex(order: order, info) }
    }

    private func renderIndexFile(_ index: (ContigPageInfo, Int) -> Int) -> String {
        var out = ""
        walkPopulatedZones { node, zone in
            out += nodeZonePrefix(node, zone)
            let nr = nrFreeByOrder(zone: zone.id)
            for o in 0..<nrOrders { out += CFormat.thousandths(index(ContigPageInfo(nrFree: nr, order: o), o)) + " " }
            out += "\n"
        }
        return out
    }
}
