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
    func updateFastStartPfn(_ cc: inout CompactControl, _ pfn: Pfn) {
        if cc.modern!.fastStartPfn == ModernCompactFields.fastStartDone { return }
        if cc.modern!.fastStartPfn == ModernCompactFields.fastStartUnset { cc.modern!.fastStartPfn = pfn }
        cc.modern!.fastStartPfn = min(cc.modern!.fastStartPfn, pfn)
    }

    /// `reinit_migrate_pfn`: after a failed fast search, restart the linear scan from the lowest block an
    /// earlier fast search picked, once.
    func reinitMigratePfn(_ cc: inout CompactControl) -> Pfn {
        let f = cc.modern!.fastStartPfn
        if f == ModernCompactFields.fastStartUnset || f == ModernCompactFields.fastStartDone { return cc.migratePfn }
        cc.migratePfn = f
        cc.modern!.fastStartPfn = ModernCompactFields.fastStartDone
        return cc.migratePfn
    }

    /// `fast_find_migrateblock`: for costly orders, at a pageblock boundary, look at up to `limit` entries
    /// of the MOVABLE free lists of orders order-1 down to PAGE_ALLOC_COSTLY_ORDER for a free page in
    /// the first half (at the zone start) or eighth of the space left between the scanners, in a block
    /// not marked skip; that block becomes the migration source (a block already partly free needs
    /// fewer migrations). The entries looked at count as migrate-scanned.
    func fastFindMigrateblock(_ cc: inout CompactControl) -> Pfn {
        var pfn = cc.migratePfn
        let f = cc.modern!
        let zone = zones[cc.zone]
        if f.ignoreSkipHint || f.finishPageblock { return pfn }
        if pfn != zone.startPfn && pfn != pageblockStartPfn(pfn) { return pfn }
        if cc.order <= Machine.pageAllocCostlyOrder { return pfn }
        if f.directCompaction && cc.migratetype != .movable { return pfn }
        var distance = (cc.freePfn - cc.migratePfn) >> 1
        if cc.migratePfn != zone.startPfn { distance >>= 2 }
        let highPfn = pageblockStartPfn(cc.migratePfn + distance)
        let limit = freelistScanLimit(cc)
        var nrScanned = 0
        var found = false
        var order = cc.order - 1
        while order >= Machine.pageAllocCostlyOrder && !found && nrScanned < limit {
            defer { order -= 1 }
            if nrFree(zone: cc.zone, order: order) == 0 { continue }
            let li = freeArea.list(zone: cc.zone, order: order, mt: .movable)
            var cur = freeArea.heads[li]
            while cur != NONE {
                let entry = Pfn(link: cur)
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
    func suitableMigrationSource(_ cc: CompactControl, _ pfn: Pfn) -> Bool {
        if pageblockSkipPersistent(pfn) { return false }
        let f = cc.modern!
        if f.mode != .async || !f.directCompaction { return true }
        let mt = pageblockMigratetype(pfn)
        if cc.migratetype == .movable { return mt == .movable }
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
    ///
    /// Each decision is a function of its own, as in mm/compaction.c: `migrateBlockThrottle` (too many
    /// isolated), `migrateChunkEndsScan` (the async chunk boundary), `migrateBlockSkipped` (the block's
    /// skip bit at its first pfn), `migrateSourceVerdict` (what one page is: free, compound, not on an
    /// LRU list, pinned, a file page without __GFP_FS, unevictable, or isolatable),
    /// `migrateBlockTakenByAnother` (test_and_set_skip on the first isolation), `migrateBatchFull`
    /// (COMPACT_CLUSTER_MAX), `migrateIsolateFail` (isolate_fail and isolate_fail_put) and
    /// `finishMigrateBlock` (the skip bit, the cached position and the counters at the end).
    func isolateMigratepagesBlock(_ cc: inout CompactControl, low startLow: Pfn, end: Pfn) -> IsolateMigrateResult {
        // (The kernel sets cc->migrate_pfn = low_pfn first; a throttled step leaves the scanner where it
        // was here, so that a step that only waited is recognised as one.)
        if let stop = migrateBlockThrottle(&cc) { return stop }
        cc.migratePfn = startLow
        let f = cc.modern!
        let skipOnFailure = f.directCompaction && f.mode == .async
        var scan = MigrateBlockScan(low: startLow, end: end, orderPages: cc.order > 0 ? 1 << cc.order : 1,
                                    skipOnFailure: skipOnFailure)
        let zoneStart = zones[cc.zone].startPfn
        let allowUnevictable = compactUnevictableAllowed != 0
        var aborted = false
        scan: while scan.low < end {
            if migrateChunkEndsScan(&scan) { break }
            scan.nrScanned += 1
            if migrateBlockSkipped(&cc, &scan, zoneStart: zoneStart) {
                aborted = true
                break scan
            }
            switch migrateSourceVerdict(scan.low, gfpFS: f.gfpFS, allowUnevictable: allowUnevictable) {
            case .freeBlock:
                let o = buddyOrder(scan.low)
                if o > 0 && o <= nrOrders - 1 {
                    scan.low += (1 << o) - 1
                    scan.nrScanned += (1 << o) - 1
                }
                scan.low += 1
            case .compound:
                // A multi-page allocation: never compacted, stepped over whole.
                let o = Int(pages.order[scan.low] & PageOrderByte.orderMask)
                scan.low += (1 << o) - 1
                scan.nrScanned += (1 << o) - 1
                migrateIsolateFail(&cc, &scan)
            case .notLru, .pinned, .fileWithoutFS, .unevictable:
                migrateIsolateFail(&cc, &scan)
            case .isolate:
                if migrateBlockTakenByAnother(&cc, &scan) {
                    aborted = true
                    break scan
                }
                isolateLruPage(pfn: scan.low, zone: cc.zone)
                cc.migratepages.append(scan.low.entry)
                scan.nrIsolated += 1
                scan.low += 1
                if migrateBatchFull(&cc) { break scan }
            }
        }
        finishMigrateBlock(&cc, scan, startLow: startLow, aborted: aborted)
        return .success
    }

    /// Where `isolate_migratepages_block` is in its pageblock, and what it has done there.
    struct MigrateBlockScan {
        /// The next pfn to look at (`low_pfn`) and the block's end.
        var low: Pfn
        let end: Pfn
        /// Pages per chunk of async direct compaction (2^order), and whether it works in chunks
        /// (`skip_on_failure`); the end of the current chunk (`next_skip_pfn`).
        let orderPages: Int
        let skipOnFailure: Bool
        var nextSkipPfn: Pfn
        var nrScanned = 0, nrIsolated = 0
        /// The block's first pfn once its skip bit has been read (`valid_page`), or nil (NULL).
        var validPage: Pfn? = nil
        /// The skip bit has been tested and set on the first isolation (`skip_updated`).
        var skipUpdated = false

        init(low: Pfn, end: Pfn, orderPages: Int, skipOnFailure: Bool) {
            self.low = low
            self.end = end
            self.orderPages = orderPages
            self.skipOnFailure = skipOnFailure
            nextSkipPfn = skipOnFailure ? (low + orderPages).alignedDown(pages: orderPages) : Pfn(0)
        }

        /// The end of the order-aligned chunk holding `pfn`.
        @inline(__always) func chunkEnd(_ pfn: Pfn) -> Pfn { (pfn + orderPages).alignedDown(pages: orderPages) }
    }

    /// What `isolate_migratepages_block` makes of one pfn.
    enum MigrateSourceVerdict {
        /// A free block (PageBuddy), stepped over whole (one page if its order is out of range).
        case freeBlock
        /// The head of a multi-page allocation (PageCompound): fails, stepped over whole.
        case compound
        /// Not an owned page on an LRU list (free on a per-CPU list, isolated, kernel, slab, a tail).
        case notLru
        /// An anonymous page with an extra reference: migration would fail, so it is not isolated.
        case pinned
        /// A file page, and the caller may not enter the filesystem (no __GFP_FS).
        case fileWithoutFS
        /// On the unevictable list, and `compact_unevictable_allowed` is 0.
        case unevictable
        /// Isolate it.
        case isolate
    }

    /// The too_many_isolated test at the top of `isolate_migratepages_block`: nil to go on; otherwise
    /// .abort (pages are still waiting to be migrated, or async compaction: -EAGAIN) or .throttled (the
    /// kernel throttles until fewer pages are isolated, reclaim_throttle; their holders can only run
    /// after this step, so the caller ends the zone as the throttle would on a fatal signal).
    @inline(__always)
    func migrateBlockThrottle(_ cc: inout CompactControl) -> IsolateMigrateResult? {
        guard modernTooManyIsolated(cc) else { return nil }
        if !cc.migratepages.isEmpty || cc.modern!.mode == .async { return .abort }
        cc.durationNs &+= costs.congestionWait
        return .throttled
    }

    /// At the end of an async chunk (`skip_on_failure && low_pfn >= next_skip_pfn`): stop if the chunk
    /// isolated pages (they are migrated before the next chunk), otherwise start the next chunk.
    @inline(__always)
    func migrateChunkEndsScan(_ scan: inout MigrateBlockScan) -> Bool {
        guard scan.skipOnFailure && scan.low >= scan.nextSkipPfn else { return false }
        if scan.nrIsolated > 0 { return true }
        scan.nextSkipPfn = scan.chunkEnd(scan.low)
        return false
    }

    /// At the block's first pfn (or the zone's): whether its skip bit says to leave it (then the scan
    /// ends at the block's end); otherwise the block's first pfn becomes `valid_page`.
    @inline(__always)
    func migrateBlockSkipped(_ cc: inout CompactControl, _ scan: inout MigrateBlockScan, zoneStart: Pfn) -> Bool {
        guard scan.validPage == nil && (pageblockAligned(scan.low) || scan.low == zoneStart) else { return false }
        if !isolationSuitable(cc, scan.low) {
            scan.low = scan.end
            return true
        }
        scan.validPage = scan.low
        return false
    }

    /// What one pfn is to the migration scanner (the page tests of `isolate_migratepages_block`, in
    /// its order). (`@_transparent`: the optimizer left it a call under `@inline(__always)`, 11 % more
    /// instructions in the block scan than the function in one piece; inlined, 6 % fewer.)
    @_transparent
    func migrateSourceVerdict(_ pfn: Pfn, gfpFS: Bool, allowUnevictable: Bool) -> MigrateSourceVerdict {
        if isBuddy(pfn) { return .freeBlock }
        let p = pages
        let s = p.state[pfn]
        if PageState.code(s) == PageState.allocated && !PageState.isIsolatedFreePage(s) && p.order[pfn] & PageOrderByte.orderMask != 0 {
            return .compound
        }
        guard currentLruIfAllocated(pfn) else { return .notLru }
        let kind = PageState.kind(s)
        if kind == .pinned { return .pinned }
        if !gfpFS && kind == .file { return .fileWithoutFS }
        if !allowUnevictable && currentLru(pfn: pfn) == .unevictable { return .unevictable }
        return .isolate
    }

    /// On the block's first isolation, `test_and_set_skip`: whether another compactor marked the block
    /// first, so this one leaves it (unless it must finish the pageblock); the scan then ends at the
    /// block's end.
    @inline(__always)
    func migrateBlockTakenByAnother(_ cc: inout CompactControl, _ scan: inout MigrateBlockScan) -> Bool {
        guard !scan.skipUpdated, let validPage = scan.validPage else { return false }
        scan.skipUpdated = true
        guard testAndSetSkip(cc, validPage) && !cc.modern!.finishPageblock else { return false }
        scan.low = scan.end
        return true
    }

    /// COMPACT_CLUSTER_MAX pages isolated: the batch goes to migration, unless the pageblock must be
    /// finished or the compactor is contended.
    @inline(__always)
    func migrateBatchFull(_ cc: inout CompactControl) -> Bool {
        cc.migratepages.count >= Machine.compactClusterMax && !cc.modern!.finishPageblock && !cc.modern!.contended
    }

    /// `isolate_fail` (with `isolate_fail_put`): a page that cannot be isolated is passed over; async
    /// direct compaction also puts back what its chunk isolated and moves to the next chunk.
    @inline(__always)
    func migrateIsolateFail(_ cc: inout CompactControl, _ scan: inout MigrateBlockScan) {
        if scan.skipOnFailure {
            if scan.nrIsolated > 0 {
                for pfn in cc.migratepages { putbackLruPage(pfn: Pfn(entry: pfn), zone: cc.zone) }
                cc.migratepages.removeAll(keepingCapacity: true)
                scan.nrIsolated = 0
            }
            if scan.low < scan.nextSkipPfn {
                scan.low = scan.nextSkipPfn - 1
                scan.nextSkipPfn += scan.orderPages
            }
        }
        scan.low += 1
    }

    /// (The functions above take `cc` inout even where they only read it: passing the compactor's
    /// `inout` control by value would copy it, arrays and all, at every page.)
    ///
    /// The end of `isolate_migratepages_block`: a block scanned to its end without isolating anything
    /// (or one to finish) gets its skip bit (unless it was set on an isolation) and the cached position
    /// moves past it; then the tracepoint, the counters and the scanner's position.
    func finishMigrateBlock(_ cc: inout CompactControl, _ scan: MigrateBlockScan, startLow: Pfn, aborted: Bool) {
        var low = scan.low
        if !aborted && low > scan.end { low = scan.end }
        if low == scan.end && (scan.nrIsolated == 0 || cc.modern!.finishPageblock) {
            if let validPage = scan.validPage, !scan.skipUpdated { setPageblockSkip(validPage) }
            updateCachedMigrate(cc, low)
        }
        tracer?.modern(.isolateMigratepages(start: startLow.rawValue, end: low.rawValue, nrScanned: scan.nrScanned, nrTaken: scan.nrIsolated))
        cc.migrateScanned += scan.nrScanned
        cc.isolatedMigrate += scan.nrIsolated
        ev.compactIsolated &+= UInt64(scan.nrIsolated)
        cc.durationNs &+= UInt64(scan.nrScanned) &* costs.scanPage &+ UInt64(scan.nrIsolated) &* costs.isolatePage
        cc.migratePfn = low
    }
}
