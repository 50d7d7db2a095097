/// The seed's exponential backoff after a direct compaction that did not lead to a successful
/// allocation (v8 patch 14, kernel-compaction.md §5.1). It applies to the preferred zone only.
extension Machine {
    /// The deferral shift never exceeds this: at most 63 consecutive skips.
    public static let compactMaxDeferShift = 6

    /// `defer_compaction`: compaction in this zone failed; skip the next 2^shift - 1 attempts.
    public func deferCompaction(zone z: ZoneID) {
        zones[z].compactConsidered = 0
        zones[z].compactDeferShift = min(zones[z].compactDeferShift + 1, Machine.compactMaxDeferShift)
    }

    /// `compaction_deferred`: true means "skip compaction this time". Asking counts as a consideration.
    public func compactionDeferred(zone z: ZoneID) -> Bool {
        let limit = 1 << zones[z].compactDeferShift
        zones[z].compactConsidered += 1
        if zones[z].compactConsidered > limit { zones[z].compactConsidered = limit }
        return zones[z].compactConsidered < limit
    }

    /// After a successful allocation following compaction: forget all deferral.
    public func resetCompactionDeferral(zone z: ZoneID) {
        zones[z].compactConsidered = 0
        zones[z].compactDeferShift = 0
    }
}
