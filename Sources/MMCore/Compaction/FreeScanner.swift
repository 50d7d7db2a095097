/// The free scanner of the seed (kernel-compaction.md §4.11): from the top of the zone downwards, a
/// pageblock at a time, it takes every free page of suitable target pageblocks onto the compactor's
/// private list, split to order 0.
extension Machine {
    /// `suitable_migration_target`: never RESERVE or ISOLATE blocks; a pageblock-sized free block is
    /// always fine; otherwise only MOVABLE pageblocks receive migrated pages.
    func suitableMigrationTarget(pfn: Pfn) -> Bool {
        let mt = pageblockMigratetype(pfn)
        if mt == .isolate || mt == .reserve { return false }
        if isBuddy(pfn) && buddyOrder(pfn) >= pageblockOrder { return true }
        return mt == .movable
    }

    /// `split_free_page`: take a free block off the free lists as order-0 pages, unless that would drop
    /// the zone below LOW + 2^order at order 0 (as if the page were being allocated). A block of at least
    /// pageblock_order - 1 re-types its pageblock(s) MOVABLE. Returns the pages taken (0 if refused).
    /// `order` is the block's (`page_order`, which the caller has read); `floor` is `splitFreePageFloor`.
    @inline(__always)
    func splitFreePage(pfn: Pfn, order: Int, zone z: ZoneID, floor: Int) -> Int {
        // zone_watermark_ok(zone, 0, low_wmark + 2^order, 0, 0) of the seed: at order 0 it is
        // NR_FREE_PAGES > mark + lowmem_reserve[0], with LOW + reserve read once per pageblock (`floor`).
        let n = 1 &<< order
        if _slowPath(floor < 0) {
            guard zoneWatermarkOk(zone: z, order: 0, mark: wmarkPages(zone: z, .low) + n, classzoneIdx: 0) else { return 0 }
        } else {
            guard zoneCounters.freePages[z] > floor + n else { return 0 }
        }
        if order < freeArea.maxOrder { removeFromFreeList(pfn, zone: z, orderBelowMax: order) } else { removeFromFreeList(pfn, zone: z) }
        zoneCounters.freePages[z] -= n
        let p = pages
        for q in pfn..<(pfn &+ n) {
            p.state[q] = PageState.isolatedFreePage
            p.order[q] = 0
            p.nextOrOwner[q] = NONE
        }
        if order >= pageblockOrder - 1 {
            var b = pfn
            while b < pfn + n - 1 {
                setPageblockMigratetype(b, .movable)
                b += pageblockPages
            }
        }
        return n
    }

    /// What `splitFreePage`'s watermark test compares NR_FREE_PAGES with, less 2^order: the zone's LOW mark
    /// plus its lowmem reserve for classzone 0 (neither changes while a compaction runs); -1 on the
    /// modern profile, whose watermark test has rules of its own (`zoneWatermarkOk` is asked there).
    @inline(__always)
    func splitFreePageFloor(zone z: ZoneID) -> Int {
        if _slowPath(modern != nil) { return -1 }
        return wmarkPages(zone: z, .low) + lowmemReserve(zone: z, classzone: 0)
    }

    /// `isolate_freepages_block`: every free block of one pageblock onto the private list (each page
    /// pushed in ascending order, so the list head is the highest pfn). Returns pages isolated and scanned.
    func isolateFreepagesBlock(_ cc: inout CompactControl, blockPfn: Pfn) -> (isolated: Int, scanned: Int) {
        let zoneEnd = zones[cc.zone].endPfn
        let end = min(blockPfn + pageblockPages, zoneEnd)
        let z = cc.zone
        let floor = splitFreePageFloor(zone: z)
        // Every pfn visited counts as scanned; the rest of a block taken is stepped over uncounted. So
        // scanned = the pfns passed, less all but the first page of each block taken.
        var pfn = blockPfn, total = 0, blocks = 0
        // The pages are gathered in a buffer and appended to `cc.freepages` at the end (appending to `cc`'s
        // array block by block checks its uniqueness every time). A block taken starts before `end` and
        // is at most a max-order block, so the pages fit in the pageblock plus one such block.
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(0, end &- blockPfn) &+ (1 &<< freeArea.maxOrder)) { taken in
            while pfn < end {
                let order = freeBlockOrder(pfn)
                if order >= 0 {
                    let isolated = splitFreePage(pfn: pfn, order: order, zone: z, floor: floor)
                    if isolated > 0 {
                        for k in 0..<isolated { taken[total &+ k] = (pfn &+ k).entry }
                        total &+= isolated
                        blocks &+= 1
                        pfn &+= isolated
                        continue
                    }
                }
                pfn &+= 1
            }
            if total > 0 { cc.freepages.append(contentsOf: UnsafeBufferPointer(rebasing: taken[0..<total])) }
        }
        return (total, pfn &- blockPfn &- total &+ blocks)
    }

    /// `isolate_freepages`: scan pageblocks from `free_pfn` down (staying a pageblock above the migration
    /// scanner) until the private list holds as many pages as are waiting to migrate; remember the highest
    /// block that gave pages, where the next search restarts.
    func isolateFreepages(_ cc: inout CompactControl) {
        // Kernel 6.6 (ModernFreeScanner.swift).
        if cc.modern != nil { modernIsolateFreepages(&cc); return }
        var pfn = cc.freePfn
        let lowPfn = cc.migratePfn + pageblockPages
        var highPfn = lowPfn
        let zone = zones[cc.zone]
        while pfn > lowPfn && cc.migratepages.count > cc.freepages.count {
            defer { pfn -= pageblockPages }
            // Blocks outside the zone (the first one when the zone end is pageblock-aligned) are skipped.
            guard zone.contains(pfn: pfn) else { continue }
            guard suitableMigrationTarget(pfn: pfn) else { continue }
            let (isolated, scanned) = isolateFreepagesBlock(&cc, blockPfn: pfn)
            cc.freeScanned += scanned
            cc.isolatedFree += isolated
            ev.compactFreeIsolated &+= UInt64(isolated)
            cc.durationNs &+= UInt64(scanned) &* costs.scanPage &+ UInt64(isolated) &* costs.isolatePage
            if isolated > 0 { highPfn = max(highPfn, pfn) }
        }
        cc.freePfn = highPfn
    }

    /// `release_freepages`: give unused isolated free pages back to the buddy allocator.
    func releaseFreepages(_ cc: inout CompactControl) {
        for pfn in cc.freepages { freeIsolatedTarget(Pfn(entry: pfn), zone: cc.zone) }
        cc.freepages.removeAll()
    }
}
