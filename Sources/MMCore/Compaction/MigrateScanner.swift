/// The migration scanner of the seed (kernel-compaction.md §4.11): from the bottom of the zone upwards,
/// it isolates LRU pages in batches of at most COMPACT_CLUSTER_MAX.
extension Machine {
    /// COMPACT_CLUSTER_MAX = SWAP_CLUSTER_MAX.
    public static let compactClusterMax = 32

    /// `too_many_isolated` of 2.6.35 (mm/compaction.c), per zone: more pages isolated (NR_ISOLATED_ANON +
    /// NR_ISOLATED_FILE) than on the inactive lists (NR_INACTIVE_ANON + NR_INACTIVE_FILE); the active lists
    /// do not count. (Half of active + inactive is the later rule: commit bc6930457460, "compaction: handle
    /// active and inactive fairly in too_many_isolated", in 2.6.36 and the 2.6.35.6 stable release.)
    func tooManyIsolated(zone z: ZoneID) -> Bool {
        let inactive = lruPages(zone: z, list: .inactiveAnon) + lruPages(zone: z, list: .inactiveFile)
        let isolated = Int(zoneCounters.isolated.total(z))
        return isolated > inactive
    }

    /// `isolate_migratepages`: scan `[migrate_pfn, end)` where end = ALIGN(low + pageblock, pageblock)
    /// (one pageblock when low is aligned; to the end of the following one when it is not, a quirk of the
    /// seed). If that window reaches past the free scanner, jump the migration scanner to `end` (the
    /// scanners have met). Free pages count as scanned one pfn at a time; every owned LRU page is isolated,
    /// stopping at 32. Returns the number isolated.
    func isolateMigratepages(_ cc: inout CompactControl) -> Int {
        let zone = zones[cc.zone]
        var low = max(cc.migratePfn, zone.startPfn)
        // ALIGN(low + pageblock, pageblock), as the seed computes it.
        let end = (low + pageblockPages + pageblockPages - 1).alignedDown(pages: pageblockPages)
        // The seed also stopped at a memory hole (`!pfn_valid(low_pfn)`); past the zone's end is one here.
        // (The free scanner may have moved free_pfn up to a pageblock above the migration scanner when it
        // found nothing, exactly as the seed's isolate_freepages did.)
        if end > cc.freePfn || end > zone.endPfn {
            cc.migratePfn = end
            return 0
        }
        if tooManyIsolated(zone: cc.zone) {
            // The seed sleeps in congestion_wait(BLK_RW_ASYNC, HZ/10) until the other holders of isolated
            // pages have put them back, leaving early only on a fatal signal. One sleep is charged here and
            // the scanner returns without moving: the pages are not this run's (it migrates its own batch
            // before it isolates again), and their holders run only when the driver of this run lets them
            // (see compactZoneToEnd and step(_:maxSteps:)).
            cc.durationNs &+= costs.congestionWait
            return 0
        }
        var scanned = 0
        let z = cc.zone
        // The batch is gathered in a small buffer of its own and appended to `cc.migratepages` at the end
        // (appending to `cc`'s array page by page checks its uniqueness and capacity on every page).
        // (compactZoneStep isolates only when the last batch has been migrated: the list is empty here.)
        precondition(cc.migratepages.isEmpty, "isolate_migratepages with a batch still isolated")
        let room = Machine.compactClusterMax
        var taken = 0
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: Machine.compactClusterMax) { batch in
            while low < end {
                let order = freeBlockOrder(low)
                if order >= 0 {
                    // The seed steps over a free block a pfn at a time; none of its pages is an LRU page, so
                    // the whole block (to the window's end) is counted as scanned and stepped over at once.
                    let next = min(low &+ (1 &<< order), end)
                    scanned &+= next &- low
                    low = next
                    continue
                }
                scanned &+= 1
                let l = migrationLru(pfn: low)
                if l >= 0 {
                    isolateLruPage(pfn: low, zone: z, list: l)
                    batch[taken] = low.entry
                    taken &+= 1
                    if taken == room { break }
                }
                low &+= 1
            }
            cc.migratepages.append(contentsOf: UnsafeBufferPointer(rebasing: batch[0..<taken]))
        }
        cc.migrateScanned += scanned
        cc.isolatedMigrate += cc.migratepages.count
        cc.durationNs &+= UInt64(scanned) &* costs.scanPage &+ UInt64(cc.migratepages.count) &* costs.isolatePage
        // The seed leaves migrate_pfn at the last isolated page when the batch filled up.
        cc.migratePfn = low
        return cc.migratepages.count
    }
}
