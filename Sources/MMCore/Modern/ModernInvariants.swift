/// The consistency checker's part for the modern profile's state (Support/Invariants.swift calls it on
/// a 6.6 machine): cached scanner positions inside their zone (or still zero, as the kernel leaves them
/// before the first run), the marks the allocator reads equal to `_watermark + watermark_boost`, the
/// boost within its cap, the HIGHATOMIC reserve a whole number of pageblocks within its limit, no capture control left over from a direct compaction, kcompactd's orders in range.
extension Machine {
    /// Two free buddies of this order may legitimately be left apart. Kernel 6.6's `__free_one_page`
    /// (mm/page_alloc.c) refuses to merge at pageblock order and above when the two pageblocks' types
    /// differ and one of them does not merge (`migratetype_is_mergeable`: HIGHATOMIC, ISOLATE), and
    /// nothing merges free blocks later: when `unreserve_highatomic_pageblock` or a fallback steal
    /// re-types a block, `move_freepages_block` only moves its free blocks to another list. So on a 6.6
    /// machine free buddies of pageblock order and above can stay apart; below it they always merge.
    /// The old kernels merge at every order.
    @inline(__always) func freeBuddiesMayStayApart(order: Int) -> Bool {
        modern != nil && order >= pageblockOrder
    }

    func checkModernState(_ fail: (@autoclosure () -> String) -> Void) {
        let m = ms
        for z in zoneIDs where zones[z].populated {
            let zone = zones[z]
            func inZone(_ pfn: Pfn, _ what: String) {
                if pfn != Pfn(0) && !(pfn >= zone.startPfn && pfn <= zone.endPfn) { fail("zone \(z): \(what) \(pfn) outside [\(zone.startPfn), \(zone.endPfn)]") }
            }
            inZone(m.cachedMigratePfn0[z], "compact_cached_migrate_pfn[0]")
            inZone(m.cachedMigratePfn1[z], "compact_cached_migrate_pfn[1]")
            inZone(m.cachedFreePfn[z], "compact_cached_free_pfn")
            inZone(m.initMigratePfn[z], "compact_init_migrate_pfn")
            inZone(m.initFreePfn[z], "compact_init_free_pfn")
            if m.orderFailed[z] < 0 || m.orderFailed[z] > nrOrders { fail("zone \(z): compact_order_failed \(m.orderFailed[z])") }
            if zone.compactDeferShift < 0 || zone.compactDeferShift > Machine.compactMaxDeferShift
                || zone.compactConsidered < 0 || zone.compactConsidered > 1 << zone.compactDeferShift {
                fail("zone \(z): deferral considered \(zone.compactConsidered) shift \(zone.compactDeferShift)")
            }
            let b = m.baseWmark[z], boost = m.watermarkBoost[z]
            if wmarkPages(zone: z, .min) != b.min + boost || wmarkPages(zone: z, .low) != b.low + boost || wmarkPages(zone: z, .high) != b.high + boost {
                fail("zone \(z): allocator marks are not _watermark + boost")
            }
            let reserve = lowmemReserve(zone: z, classzone: Int(zoneIndexInNode[z]))
            if zoneOrder0LowMark[z] != b.low + boost + reserve + m.nrReservedHighatomic[z] { fail("zone \(z): order-0 fast-path mark is stale") }
            if boost < 0 || (boost > 0 && boost > max(pageblockPages, Machine.multFrac(b.high, max(m.watermarkBoostFactor, 0), 10000)) + pageblockPages) {
                fail("zone \(z): watermark_boost \(boost) beyond its cap")
            }
            // Not "at most the HIGHATOMIC pageblocks": in 6.6 the reserve can outlive its blocks (see
            // `freeBuddiesMayStayApart`: a stale per-CPU migratetype merges a HIGHATOMIC pageblock into a
            // max-order buddy on another type's list, and `steal_suitable_fallback`'s change_pageblock_range
            // later re-types it without touching nr_reserved_highatomic; fixed only in 6.10 by "mm:
            // page_alloc: fix highatomic typing in multi-block buddies"). `unreserve_highatomic_pageblock`
            // clamps the count at zero for that reason.
            if m.nrReservedHighatomic[z] < 0 || m.nrReservedHighatomic[z] % pageblockPages != 0 {
                fail("zone \(z): nr_reserved_highatomic \(m.nrReservedHighatomic[z]) is not a whole number of pageblocks")
            }
            if m.nrReservedHighatomic[z] > zone.managedPages / 100 + 2 * pageblockPages {
                fail("zone \(z): nr_reserved_highatomic \(m.nrReservedHighatomic[z]) beyond its limit")
            }
        }
        if m.captureZone != nil || m.capturedPfn != nil { fail("a capture control outlived its direct compaction") }
        for (nid, k) in m.kcompactd.enumerated() {
            if k.maxOrder < 0 || k.maxOrder >= nrOrders { fail("node \(nid): kcompactd_max_order \(k.maxOrder)") }
            if k.highestZoneidx < 0 || k.highestZoneidx >= nodes[nid].zoneIds.count { fail("node \(nid): kcompactd_highest_zoneidx \(k.highestZoneidx)") }
            if k.job != nil && k.sleeping { fail("node \(nid): kcompactd is asleep with work in progress") }
        }
    }
}
