/// Pageblock skip hints, the cached scanner positions and the per-order deferral of the modern profile
/// (kernel 6.6, mm/compaction.c; kernel-compaction.md §4.9, §5.2).
extension Machine {
    // MARK: - Pageblock arithmetic

    /// `pageblock_start_pfn`.
    @inline(__always) func pageblockStartPfn(_ pfn: Pfn) -> Pfn { pfn.alignedDown(pages: pageblockPages) }
    /// `pageblock_end_pfn`: ALIGN(pfn + 1, pageblock_nr_pages) (one past the block holding pfn).
    @inline(__always) func pageblockEndPfn(_ pfn: Pfn) -> Pfn { (pfn + pageblockPages).alignedDown(pages: pageblockPages) }
    /// `pageblock_aligned`.
    @inline(__always) func pageblockAligned(_ pfn: Pfn) -> Bool { pfn.alignedDown(pages: pageblockPages) == pfn }

    // MARK: - Skip bits (PB_migrate_skip)

    /// `get_pageblock_skip`.
    @inline(__always) public func pageblockSkip(_ pfn: Pfn) -> Bool {
        pageblockFlags[pfn.blockIndex(order: pageblockOrder)] & PageblockFlags.skip != 0
    }
    /// `set_pageblock_skip`.
    @inline(__always) func setPageblockSkip(_ pfn: Pfn) {
        let i = pfn.blockIndex(order: pageblockOrder)
        pageblockFlags[i] |= PageblockFlags.skip
    }
    /// `clear_pageblock_skip`.
    @inline(__always) func clearPageblockSkip(_ pfn: Pfn) {
        let i = pfn.blockIndex(order: pageblockOrder)
        pageblockFlags[i] &= ~PageblockFlags.skip
    }

    /// Pageblocks of a zone whose skip bit is set.
    public func skippedPageblocks(zone z: ZoneID) -> Int {
        let zone = zones[z]
        var n = 0
        var pfn = zone.startPfn
        while pfn < zone.endPfn { if pageblockSkip(pfn) { n += 1 }; pfn += pageblockPages }
        return n
    }

    /// `isolation_suitable`: scan this block unless its skip bit says a recent scan found nothing.
    @inline(__always) func isolationSuitable(_ cc: CompactControl, _ pfn: Pfn) -> Bool {
        cc.modern!.ignoreSkipHint || !pageblockSkip(pfn)
    }

    /// `test_and_set_skip`: set the bit if clear; true if it was already set (another compactor got
    /// there first). Nothing when skip hints are ignored.
    func testAndSetSkip(_ cc: CompactControl, _ pfn: Pfn) -> Bool {
        if cc.modern!.ignoreSkipHint { return false }
        let skip = pageblockSkip(pfn)
        if !skip { setPageblockSkip(pfn) }
        return skip
    }

    /// The head of the allocation a pfn belongs to when that allocation spans at least a pageblock
    /// (`pageblock_skip_persistent`: a compound page of order >= pageblock_order), else nil.
    func persistentCompoundHead(_ pfn: Pfn) -> Pfn? {
        var o = pageblockOrder
        while o < nrOrders {
            let head = pfn.alignedDown(order: o)
            let s = pages.state[head]
            if PageState.code(s) == PageState.allocated && !PageState.isIsolatedFreePage(s)
                && Int(pages.order[head] & PageOrderByte.orderMask) == o { return head }
            o += 1
        }
        return nil
    }

    /// `pageblock_skip_persistent`.
    @inline(__always) func pageblockSkipPersistent(_ pfn: Pfn) -> Bool { persistentCompoundHead(pfn) != nil }

    // MARK: - Cached positions

    /// `reset_cached_positions`: both migration caches at the zone start, the free cache at the zone's
    /// last pageblock.
    func resetCachedPositions(zone z: ZoneID) {
        let zone = zones[z]
        ms.cachedMigratePfn0[z] = zone.startPfn
        ms.cachedMigratePfn1[z] = zone.startPfn
        ms.cachedFreePfn[z] = pageblockStartPfn(zone.endPfn - 1)
    }

    /// `update_cached_migrate`: where async (and, for the sync modes, sync) compaction restarts: past
    /// the pageblock holding pfn (`pageblock_end_pfn`), only ever forward.
    func updateCachedMigrate(_ cc: CompactControl, _ pfn: Pfn) {
        let p = pageblockEndPfn(pfn)
        if p > ms.cachedMigratePfn0[cc.zone] { ms.cachedMigratePfn0[cc.zone] = p }
        if cc.modern!.mode != .async && p > ms.cachedMigratePfn1[cc.zone] { ms.cachedMigratePfn1[cc.zone] = p }
    }

    /// `update_pageblock_skip` (free scanner): mark the block, and lower the cached free pfn to `pfn`.
    func updatePageblockSkip(_ cc: CompactControl, blockPfn: Pfn, pfn: Pfn) {
        setPageblockSkip(blockPfn)
        if pfn < ms.cachedFreePfn[cc.zone] { ms.cachedFreePfn[cc.zone] = pfn }
    }

    /// `__reset_isolation_pfn`: may this block's skip bit be cleared? Only if a sample of its pages (one
    /// in every 8, `1 << PAGE_ALLOC_COSTLY_ORDER`) holds an LRU page (a migration source) or a free page
    /// (a target); when only a target is sought, the block must be MOVABLE.
    func resetIsolationPfn(zone z: ZoneID, pfn: Pfn, checkSource: Bool, checkTarget: Bool) -> Bool {
        let zone = zones[z]
        guard zone.contains(pfn: pfn) else { return false }
        if pageblockSkipPersistent(pfn) { return false }
        if checkSource && checkTarget && !pageblockSkip(pfn) { return true }
        if !checkSource && checkTarget && pageblockMigratetype(pfn) != .movable { return false }
        var p = max(pageblockStartPfn(pfn), zone.startPfn)
        let end = min(pageblockEndPfn(p) - 1, zone.endPfn - 1)
        // In a block wholly inside the zone the samples are its pfns that are multiples of 8, whose free
        // heads the free-list index counts: with some, a sample is PageBuddy, so the loop below would
        // clear the bit and return true whatever it met first; with none, only PageLRU can, and the loop
        // need not look for free heads. The same answer and the same bit.
        var checkTarget = checkTarget
        if checkTarget, let ix = freeListIndex, p == pageblockStartPfn(pfn), end == pageblockEndPfn(p) - 1 {
            if ix.sampledBuddyHeads[p.blockIndex(order: pageblockOrder)] != 0 {
                clearPageblockSkip(p)
                return true
            }
            guard checkSource else { return false }
            checkTarget = false
        }
        while p <= end {
            if checkSource && currentLruIfAllocated(p) {
                clearPageblockSkip(p)
                return true
            }
            if checkTarget && isBuddy(p) {
                clearPageblockSkip(p)
                return true
            }
            p += 1 << Machine.pageAllocCostlyOrder
        }
        return false
    }

    /// `PageLRU` of a pfn: an owned, not isolated head on an LRU list (the slab list is no LRU here).
    @inline(__always) func currentLruIfAllocated(_ pfn: Pfn) -> Bool {
        let s = pages.state[pfn]
        guard PageState.code(s) == PageState.allocated, s & PageState.isolated == 0, pages.nextOrOwner[pfn] != NONE else { return false }
        guard let l = currentLru(pfn: pfn) else { return false }
        return l != .slab
    }

    /// `__reset_isolation_suitable`: if a full direct compaction recently finished (`compact_blockskip_flush`),
    /// walk the zone's pageblocks from both ends towards the middle, clearing skip bits of blocks that
    /// look useful again; the first such block from each end becomes `compact_init_*_pfn` and the
    /// cached scanner position. Returns true if it ran.
    @discardableResult
    func resetIsolationSuitable(zone z: ZoneID) -> Bool {
        guard ms.blockskipFlush[z] else { return false }
        ms.blockskipFlush[z] = false
        let zone = zones[z]
        var migratePfn = zone.startPfn
        var freePfn = zone.endPfn - 1
        var resetMigrate = freePfn, resetFree = migratePfn
        var sourceSet = false, freeSet = false
        // Read-ahead: the struct pages this walk reads sit a pageblock apart (a cache miss each on a
        // large machine); those of the blocks `ahead` blocks further on from both ends are read now,
        // independently of the checks, so the misses overlap. Reads only (kept in `prefetchSink`).
        let p = pages
        let ahead = 16 * pageblockPages
        var sink: UInt32 = 0
        while migratePfn < freePfn {
            let ma = pageblockStartPfn(migratePfn + ahead), fa = pageblockStartPfn(freePfn - ahead)
            if ma < fa {
                sink &+= UInt32(p.state[ma]) &+ UInt32(p.order[ma]) &+ p.nextOrOwner[ma]
                sink &+= UInt32(p.state[fa]) &+ UInt32(p.order[fa]) &+ p.nextOrOwner[fa]
            }
            // Once both restart points are set, `__reset_isolation_pfn` of a block whose skip bit is
            // clear returns (true or false) without changing anything, and neither restart point moves
            // (the walk only goes further from it). Such pairs are passed on the skip bits alone; the
            // per-block checks read the struct pages of two blocks, and this walk runs over the whole
            // zone each time kswapd sleeps after a full compaction (issue 12: 7 % of a 256 GiB run).
            if sourceSet && freeSet {
                if !pageblockSkip(migratePfn) && !pageblockSkip(freePfn) {
                    migratePfn += pageblockPages
                    freePfn -= pageblockPages
                    continue
                }
            }
            if resetIsolationPfn(zone: z, pfn: migratePfn, checkSource: true, checkTarget: sourceSet) && migratePfn < resetMigrate {
                sourceSet = true
                resetMigrate = migratePfn
                ms.initMigratePfn[z] = resetMigrate
                ms.cachedMigratePfn0[z] = resetMigrate
                ms.cachedMigratePfn1[z] = resetMigrate
            }
            if resetIsolationPfn(zone: z, pfn: freePfn, checkSource: freeSet, checkTarget: true) && freePfn > resetFree {
                freeSet = true
                resetFree = freePfn
                ms.initFreePfn[z] = resetFree
                ms.cachedFreePfn[z] = resetFree
            }
            migratePfn += pageblockPages
            freePfn -= pageblockPages
        }
        prefetchSink &+= sink
        // Leave no distance if no suitable block was reset.
        if resetMigrate >= resetFree {
            ms.cachedMigratePfn0[z] = migratePfn
            ms.cachedMigratePfn1[z] = migratePfn
            ms.cachedFreePfn[z] = freePfn
        }
        return true
    }

    /// `reset_isolation_suitable(pgdat)`: every populated zone of the node whose flush flag is set (kswapd
    /// calls it before it sleeps).
    public func resetIsolationSuitable(node nid: NodeID) {
        guard modern != nil else { return }
        for z in nodes[nid].zoneIds where zones[z].populated && ms.blockskipFlush[z] { resetIsolationSuitable(zone: z) }
    }

    // MARK: - Deferral (mm/compaction.c, 6.6)

    /// COMPACT_MAX_DEFER_SHIFT is the seed's `compactMaxDeferShift` (6).

    func deferTrace(_ z: ZoneID, _ order: Int) -> DeferTrace {
        DeferTrace(node: zones[z].node.rawValue, zone: zones[z].name, order: order, orderFailed: ms.orderFailed[z],
                   considered: zones[z].compactConsidered, limit: 1 << zones[z].compactDeferShift)
    }

    /// `defer_compaction(zone, order)`.
    public func modernDeferCompaction(zone z: ZoneID, order: Int) {
        zones[z].compactConsidered = 0
        zones[z].compactDeferShift += 1
        if order < ms.orderFailed[z] { ms.orderFailed[z] = order }
        if zones[z].compactDeferShift > Machine.compactMaxDeferShift { zones[z].compactDeferShift = Machine.compactMaxDeferShift }
        tracer?.modern(.deferCompaction(deferTrace(z, order)))
    }

    /// `compaction_deferred(zone, order)`: true means skip compaction this time; asking counts.
    public func modernCompactionDeferred(zone z: ZoneID, order: Int) -> Bool {
        let limit = 1 << zones[z].compactDeferShift
        if order < ms.orderFailed[z] { return false }
        zones[z].compactConsidered += 1
        if zones[z].compactConsidered >= limit {
            zones[z].compactConsidered = limit
            return false
        }
        tracer?.modern(.deferred(deferTrace(z, order)))
        return true
    }

    /// `compaction_defer_reset(zone, order, alloc_success)`.
    public func modernCompactionDeferReset(zone z: ZoneID, order: Int, allocSuccess: Bool) {
        if allocSuccess {
            zones[z].compactConsidered = 0
            zones[z].compactDeferShift = 0
        }
        if order >= ms.orderFailed[z] { ms.orderFailed[z] = order + 1 }
        tracer?.modern(.deferReset(deferTrace(z, order)))
    }

    /// `compaction_restarting(zone, order)`: deferred to the limit, about to try again.
    func compactionRestarting(zone z: ZoneID, order: Int) -> Bool {
        if order < ms.orderFailed[z] { return false }
        return zones[z].compactDeferShift == Machine.compactMaxDeferShift
            && zones[z].compactConsidered >= 1 << zones[z].compactDeferShift
    }

    // MARK: - Read access for tests and the service

    /// A zone's modern compaction state: cached scanner positions, init positions, `compact_order_failed`,
    /// `compact_blockskip_flush`, the deferral counters.
    public func modernCompactionState(zone z: ZoneID) -> ModernZoneCompactionState? {
        guard modern != nil else { return nil }
        return ModernZoneCompactionState(cachedMigratePfnAsync: ms.cachedMigratePfn0[z], cachedMigratePfnSync: ms.cachedMigratePfn1[z],
                                         cachedFreePfn: ms.cachedFreePfn[z], initMigratePfn: ms.initMigratePfn[z],
                                         initFreePfn: ms.initFreePfn[z], orderFailed: ms.orderFailed[z],
                                         blockskipFlush: ms.blockskipFlush[z], considered: zones[z].compactConsidered,
                                         deferShift: zones[z].compactDeferShift, skippedPageblocks: skippedPageblocks(zone: z),
                                         watermarkBoost: ms.watermarkBoost[z], nrReservedHighatomic: ms.nrReservedHighatomic[z])
    }
}

/// A snapshot of one zone's modern compaction fields.
public struct ModernZoneCompactionState: Sendable, Equatable {
    public var cachedMigratePfnAsync: Pfn
    public var cachedMigratePfnSync: Pfn
    public var cachedFreePfn: Pfn
    public var initMigratePfn: Pfn
    public var initFreePfn: Pfn
    public var orderFailed: Int
    public var blockskipFlush: Bool
    public var considered: Int
    public var deferShift: Int
    public var skippedPageblocks: Int
    public var watermarkBoost: Int
    public var nrReservedHighatomic: Int
}
