/// The migration scanner of the modern profile (kernel 6.6, mm/compaction.c; kernel-compaction.md §4.6,
/// §4.8): one pageblock per call, starting where the zone's cached position says (or where a short
/// search of the MOVABLE free lists found a block that is partly free), skipping blocks whose skip bit
/// is set, and, for async direct compaction, blocks of another mobility.
extension Machine {
    /// What `isolate_migratepages` reports (`isolate_migrate_t`).
    enum IsolateMigrateResult { case abort, none, success, throttled }

    /// `too_many_isolated` of 6.6: per node, more pages isolated than half the LRU (active + inactive,
    /// anon + file), the LRU counted at an eighth for callers that may enter the filesystem.
    func modernTooManyIsolated(_ cc: CompactControl) -> Bool {
        let nid = zones[cc.zone].node
        var inactive = 0, active = 0, isolated: Int64 = 0
        for z in nodes[nid].zoneIds {
            inactive += lruPages(zone: z, list: .inactiveFile) + lruPages(zone: z, list: .inactiveAnon)
            active += lruPages(zone: z, list: .activeFile) + lruPages(zone: z, list: .activeAnon)
            isolated += zoneCounters.isolated.total(z)
        }
        if cc.modern!.gfpFS {
            inactive >>= 3
            active >>= 3
        }
        return Int(isolated) > (inactive + active) / 2
    }

    /// `freelist_scan_limit`: (COMPACT_CLUSTER_MAX >> fast_search_fail) + 1.
    @inline(__always) func freelistScanLimit(_ cc: CompactControl) -> Int {
        (Machine.compactClusterMax >> min(63, cc.modern!.fastSearchFail)) + 1
    }

    /// `update_fast_start_pfn`.
    func updateFastStartPfn(_ cc: inout CompactControl, _ pfn: Int) {
        if cc.modern!.fastStartPfn == Int.max { return }
        if cc.modern!.fastStartPfn == 0 { cc.modern!.fastStartPfn = pfn }
        cc.modern!.fastStartPfn = min(cc.modern!.fastStartPfn, pfn)
    }

    /// `reinit_migrate_pfn`: after a failed fast search, restart the linear scan from the lowest block an
    /// earlier fast search picked, once.
    func reinitMigratePfn(_ cc: inout CompactControl) -> Int {
        let f = cc.modern!.fastStartPfn
        if f == 0 || f == Int.max { return cc.migratePfn }
        cc.migratePfn = f
        cc.modern!.fastStartPfn = Int.max
        return cc.migratePfn
    }

    /// `fast_find_migrateblock`: for costly orders, at a pageblock boundary, look at up to `limit` entries
    /// of the MOVABLE free lists of orders order-1 down to PAGE_ALLOC_COSTLY_ORDER for a free page in
    /// the first half (at the zone start) or eighth of the space left between the scanners, in a block
    /// not marked skip; that block becomes the migration source (a block already partly free needs
    /// fewer migrations). The entries looked at count as migrate-scanned.
    func fastFindMigrateblock(_ cc: inout CompactControl) -> Int {
        var pfn = cc.migratePfn
        let f = cc.modern!
        let zone = zones[cc.zone]
        if f.ignoreSkipHint || f.finishPageblock { return pfn }
        if pfn != zone.startPfn && pfn != pageblockStartPfn(pfn) { return pfn }
        if cc.order <= Machine.pageAllocCostlyOrder { return pfn }
        if f.directCompaction && cc.migratetype != Int(Migratetype.movable.rawValue) { return pfn }
        var distance = (cc.freePfn - cc.migratePfn) >> 1
        if cc.migratePfn != zone.startPfn { distance >>= 2 }
        let highPfn = pageblockStartPfn(cc.migratePfn + distance)
        let limit = freelistScanLimit(cc)
        var nrScanned = 0
        var found = false
        let movable = Int(Migratetype.movable.rawValue)
        var order = cc.order - 1
        while order >= Machine.pageAllocCostlyOrder && !found && nrScanned < limit {
            defer { order -= 1 }
            if nrFree(zone: cc.zone, order: order) == 0 { continue }
            let li = freeArea.list(zone: cc.zone, order: order, mt: movable)
            var cur = freeArea.heads[li]
            while cur != NONE {
                let entry = Int(cur)
                if nrScanned >= limit {
                    nrScanned += 1
                    moveFreelistTail(li, order: order, entry: entry)
                    break
                }
                nrScanned += 1
                if entry < highPfn {
                    // Avoid blocks skipped recently.
                    if pageblockSkip(entry) { cur = freeArea.next(entry, order: order, pages); continue }
                    moveFreelistTail(li, order: order, entry: entry)
                    updateFastStartPfn(&cc, entry)
                    pfn = max(pageblockStartPfn(entry), zone.startPfn)
                    cc.modern!.fastSearchFail = 0
                    found = true
                    break
                }
                cur = freeArea.next(entry, order: order, pages)
            }
        }
        cc.migrateScanned += nrScanned
        ev.modern.compactFastMigrateScanned &+= UInt64(nrScanned)
        cc.durationNs &+= UInt64(nrScanned) &* costs.scanPage
        if !found {
            cc.modern!.fastSearchFail += 1
            pfn = reinitMigratePfn(&cc)
        }
        return pfn
    }

    /// `suitable_migration_source`: never a block a huge allocation fills; for async direct compaction
    /// only blocks of the request's mobility (MOVABLE for a movable request).
    func suitableMigrationSource(_ cc: CompactControl, _ pfn: Int) -> Bool {
        if pageblockSkipPersistent(pfn) { return false }
        let f = cc.modern!
        if f.mode != .async || !f.directCompaction { return true }
        let mt = pageblockMigratetype(pfn)
        if cc.migratetype == Int(Migratetype.movable.rawValue) { return mt == Int(Migratetype.movable.rawValue) }
        return mt == cc.migratetype
    }

    /// `isolate_migratepages`: from the fast search's block (or the scanner's position), the first
    /// pageblock below the free scanner that is worth scanning, isolated by `isolate_migratepages_block`.
    func modernIsolateMigratepages(_ cc: inout CompactControl) -> IsolateMigrateResult {
        let zone = zones[cc.zone]
        var low = fastFindMigrateblock(&cc)
        var blockStart = max(pageblockStartPfn(low), zone.startPfn)
        var fastFindBlock = low != cc.migratePfn && cc.modern!.fastSearchFail == 0
        var blockEnd = pageblockEndPfn(low)
        while blockEnd <= cc.freePfn {
            // Blocks always lie within the zone here (zones are pageblock-aligned): no holes.
            let worthScanning = !((pageblockAligned(low) || low == zone.startPfn) && !fastFindBlock && !isolationSuitable(cc, blockStart))
            if worthScanning {
                if !suitableMigrationSource(cc, blockStart) {
                    updateCachedMigrate(cc, blockEnd)
                } else {
                    switch isolateMigratepagesBlock(&cc, low: low, end: blockEnd) {
                    case .abort: return .abort
                    case .throttled: return .throttled
                    default: break
                    }
                    return cc.migratepages.isEmpty ? .none : .success
                }
            }
            cc.durationNs &+= costs.structPage
            fastFindBlock = false
            low = blockEnd
            cc.migratePfn = blockEnd
            blockStart = blockEnd
            blockEnd += pageblockPages
        }
        return cc.migratepages.isEmpty ? .none : .success
    }

    /// `isolate_migratepages_block` of 6.6 on [low, end) of one pageblock: free blocks are stepped over
    /// whole; allocations that are not order-0 LRU pages fail (multi-page ones are stepped over whole);
    /// pinned anonymous pages fail before isolation (their extra reference); file pages fail without
    /// __GFP_FS; mlocked pages fail unless `compact_unevictable_allowed`. On the first isolation the
    /// block's skip bit is tested and set (another compactor that got there first makes this one leave
    /// the block). Async direct compaction works in order-aligned chunks: one failure in a chunk puts
    /// back what the chunk isolated and moves to the next. A block scanned to its end without anything
    /// isolated is marked skip and the cached position moves past it.
    func isolateMigratepagesBlock(_ cc: inout CompactControl, low startLow: Int, end: Int) -> IsolateMigrateResult {
        var low = startLow
        // (The kernel sets cc->migrate_pfn = low_pfn first; a throttled step leaves the scanner where it
        // was here, so that a step that only waited is recognised as one.)
        if modernTooManyIsolated(cc) {
            // Pages are still waiting to be migrated, or async compaction: -EAGAIN. Otherwise the kernel
            // throttles until fewer pages are isolated (reclaim_throttle); their holders can only run
            // after this step, so the caller ends the zone as the throttle would on a fatal signal.
            if !cc.migratepages.isEmpty || cc.modern!.mode == .async { return .abort }
            cc.durationNs &+= costs.congestionWait
            return .throttled
        }
        cc.migratePfn = low
        let f = cc.modern!
        let zone = zones[cc.zone]
        let skipOnFailure = f.directCompaction && f.mode == .async
        let orderPages = cc.order > 0 ? 1 << cc.order : 1
        func blockEndPfn(_ pfn: Int) -> Int { (pfn + orderPages) & ~(orderPages - 1) }
        var nextSkipPfn = skipOnFailure ? blockEndPfn(low) : 0
        var nrScanned = 0, nrIsolated = 0
        var validPage = -1
        var skipUpdated = false
        var aborted = false
        let p = pages
        let maxOrder = nrOrders - 1
        let allowUnevictable = compactUnevictableAllowed != 0
        scan: while low < end {
            if skipOnFailure && low >= nextSkipPfn {
                if nrIsolated > 0 { break }
                nextSkipPfn = blockEndPfn(low)
            }
            nrScanned += 1
            if validPage < 0 && (pageblockAligned(low) || low == zone.startPfn) {
                if !isolationSuitable(cc, low) {
                    low = end
                    aborted = true
                    break scan
                }
                validPage = low
            }
            var failed = false
            if isBuddy(low) {
                let o = buddyOrder(low)
                if o > 0 && o <= maxOrder {
                    low += (1 << o) - 1
                    nrScanned += (1 << o) - 1
                }
                low += 1
                continue
            }
            let s = p.state[low]
            let code = PageState.code(s)
            if code == PageState.allocated && !PageState.isIsolatedFreePage(s) && p.order[low] & PageOrderByte.orderMask != 0 {
                // A multi-page allocation (compound): never compacted, stepped over whole.
                let o = Int(p.order[low] & PageOrderByte.orderMask)
                low += (1 << o) - 1
                nrScanned += (1 << o) - 1
                failed = true
            } else if !currentLruIfAllocated(low) {
                failed = true
            } else {
                let kind = PageState.kind(s)
                let unevictable = currentLru(pfn: low) == .unevictable
                if kind == .pinned {
                    // Anonymous page with an extra reference: migration would fail.
                    failed = true
                } else if !f.gfpFS && kind == .file {
                    failed = true
                } else if unevictable && !allowUnevictable {
                    failed = true
                } else {
                    if !skipUpdated && validPage >= 0 {
                        skipUpdated = true
                        if testAndSetSkip(cc, validPage) && !cc.modern!.finishPageblock {
                            low = end
                            aborted = true
                            break scan
                        }
                    }
                    isolateLruPage(pfn: low, zone: cc.zone)
                    cc.migratepages.append(Int32(low))
                    nrIsolated += 1
                    if cc.migratepages.count >= Machine.compactClusterMax && !cc.modern!.finishPageblock && !cc.modern!.contended {
                        low += 1
                        break scan
                    }
                    low += 1
                    continue
                }
            }
            if failed {
                if !skipOnFailure { low += 1; continue }
                if nrIsolated > 0 {
                    for pfn in cc.migratepages { putbackLruPage(pfn: Int(pfn), zone: cc.zone) }
                    cc.migratepages.removeAll(keepingCapacity: true)
                    nrIsolated = 0
                }
                if low < nextSkipPfn {
                    low = nextSkipPfn - 1
                    nextSkipPfn += orderPages
                }
                low += 1
            }
        }
        if !aborted && low > end { low = end }
        if low == end && (nrIsolated == 0 || cc.modern!.finishPageblock) {
            if validPage >= 0 && !skipUpdated { setPageblockSkip(validPage) }
            updateCachedMigrate(cc, low)
        }
        tracer?.modern(.isolateMigratepages(start: startLow, end: low, nrScanned: nrScanned, nrTaken: nrIsolated))
        cc.migrateScanned += nrScanned
        cc.isolatedMigrate += nrIsolated
        ev.compactIsolated &+= UInt64(nrIsolated)
        cc.durationNs &+= UInt64(nrScanned) &* costs.scanPage &+ UInt64(nrIsolated) &* costs.isolatePage
        cc.migratePfn = low
        return .success
    }
}
