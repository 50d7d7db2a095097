extension Machine {
    /// PAGE_ALLOC_COSTLY_ORDER: orders above it are "costly"; only they enter direct compaction in the seed.
    public static let pageAllocCostlyOrder = 3

    /// `compaction_suitable` as the seed's `try_to_compact_pages` decided it for one zone: the order-0
    /// watermark LOW + 2<<order must hold (migration needs room for copies), and the fragmentation index
    /// must say that a failure would be due to fragmentation (outside 0...extfrag_threshold).
    public func compactionSuitable(zone z: ZoneID, order: Int) -> (suitable: Bool, fragindex: Int) {
        let watermark = wmarkPages(zone: z, .low) + (2 << order)
        guard zoneWatermarkOk(zone: z, order: 0, mark: watermark, classzoneIdx: 0) else { return (false, 0) }
        let fi = fragmentationIndex(zone: z, order: order)
        if fi >= 0 && fi <= extfragThreshold { return (false, fi) }
        return (true, fi)
    }

    /// `try_to_compact_pages` (seed, kernel-compaction.md §4.11): only for costly orders from callers
    /// that may do I/O and enter the filesystem; counts a stall; then for each zone of the zonelist that
    /// is suitable, compacts it until an allocation of the order would pass LOW + 2<<order.
    func tryToCompactPages(zonelist zl: [ZoneID], order: Int, gfp: GFPFlags, migratetype: Migratetype) -> CompactResult {
        if order <= Machine.pageAllocCostlyOrder || !gfp.contains(.fs) || !gfp.contains(.io) { return .skipped }
        ev.compactStall &+= 1
        var rc = CompactResult.skipped
        for z in zl {
            let (suitable, fi) = compactionSuitable(zone: z, order: order)
            guard suitable else { continue }
            let watermark = wmarkPages(zone: z, .low) + (2 << order)
            // The seed compared the index with -1 here, but fragmentation_index() returns -1000 when a
            // suitable block exists, so that branch never fired. We compare with -1000, as the kernel
            // did once the mistake was fixed: a zone that can already satisfy the request is not compacted.
            if fi == -1000 && zoneWatermarkOk(zone: z, order: order, mark: watermark, classzoneIdx: 0) {
                rc = .partial
                break
            }
            var cc = makeCompactControl(zone: z, order: order, migratetype: migratetype)
            rc = max(rc, compactZoneToEnd(&cc))
            if zoneWatermarkOk(zone: z, order: order, mark: watermark, classzoneIdx: 0) { break }
        }
        return rc
    }
}
