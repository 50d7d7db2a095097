extension Machine {
    /// /proc/buddyinfo (kernel-compaction.md §7.5): per populated zone `"Node %d, zone %8s "` and
    /// `"%6lu "` of `nr_free` for each order.
    public func renderBuddyinfo() -> String {
        var out = ""
        walkPopulatedZones { node, zone in
            out += nodeZonePrefix(node, zone)
            for o in 0..<nrOrders { out += CFormat.pad(String(nrFree(zone: zone.id, order: o)), 6) + " " }
            out += "\n"
        }
        return out
    }
}
