/// The modern profile's buddy allocator rules (kernel 6.6, mm/page_alloc.c; kernel-compaction.md §2.4,
/// §2.6, §3.2, §3.3, §3.5): HIGHATOMIC in the slot the seed used for RESERVE (the same enum position,
/// MIGRATE_PCPTYPES), the fallback search that steals whole blocks only when it may and otherwise takes
/// the smallest block for a movable request, watermark boosting, `watermark_scale_factor`, the modern
/// watermark test, and a free path that captures a block for a direct compactor and puts blocks likely
/// to merge at the tail of their list.
extension Machine {
    // MARK: - Watermarks

    /// `__zone_watermark_unusable_free`: 2^order - 1, the HIGHATOMIC reserve for callers without access
    /// to reserves (no CMA is simulated).
    @inline(__always) func modernUnusableFree(zone z: ZoneID, order: Int, flags: ModernAllocFlags) -> Int {
        var unusable = (1 << order) - 1
        if flags.isDisjoint(with: .reserves) { unusable += ms.nrReservedHighatomic[z] }
        return unusable
    }

    /// `__zone_watermark_ok` of 6.6 with a given count of free pages: the order-0 test against the mark
    /// (reduced for reserve users) plus `lowmem_reserve`, then for order > 0 one free block of at least
    /// the order on a list the caller may use.
    func modernZoneWatermarkOkFree(zone z: ZoneID, order: Int, mark: Int, highestZoneidx: Int, flags: ModernAllocFlags, free freePages: Int) -> Bool {
        var min = mark
        let free = freePages - modernUnusableFree(zone: z, order: order, flags: flags)
        if !flags.isDisjoint(with: .reserves) {
            if flags.contains(.minReserve) {
                min -= min / 2
                if flags.contains(.nonBlock) { min -= min / 4 }
            }
            if flags.contains(.oom) { min -= min / 2 }
        }
        if free <= min + lowmemReserve(zone: z, classzone: highestZoneidx) { return false }
        if order == 0 { return true }
        for o in order..<nrOrders {
            if nrFree(zone: z, order: o) == 0 { continue }
            for mt in Migratetype.pcpCases where freeArea.lengths[freeArea.list(zone: z, order: o, mt: mt)] > 0 { return true }
            if !flags.isDisjoint(with: [.highatomic, .oom]) && freeArea.lengths[freeArea.list(zone: z, order: o, mt: .highatomic)] > 0 {
                return true
            }
        }
        return false
    }

    /// `zone_watermark_ok` of 6.6.
    func modernZoneWatermarkOk(zone z: ZoneID, order: Int, mark: Int, highestZoneidx: Int, flags: ModernAllocFlags) -> Bool {
        modernZoneWatermarkOkFree(zone: z, order: order, mark: mark, highestZoneidx: highestZoneidx, flags: flags, free: zoneCounters.freePages[z])
    }

    /// `zone_watermark_fast`: the order-0 shortcut, the full test, and for __GFP_HIGH order-0 requests at
    /// the MIN mark a second test without the boost.
    func modernZoneWatermarkFast(zone z: ZoneID, order: Int, mark: Int, highestZoneidx: Int, flags: ModernAllocFlags) -> Bool {
        let free = zoneCounters.freePages[z]
        if order == 0 {
            let reserved = modernUnusableFree(zone: z, order: 0, flags: flags)
            let usable = free - Swift.min(free, reserved)
            if usable > mark + lowmemReserve(zone: z, classzone: highestZoneidx) { return true }
        }
        if modernZoneWatermarkOkFree(zone: z, order: order, mark: mark, highestZoneidx: highestZoneidx, flags: flags, free: free) { return true }
        if order == 0 && flags.contains(.minReserve) && ms.watermarkBoost[z] != 0 && flags.wmark == .min {
            return modernZoneWatermarkOkFree(zone: z, order: 0, mark: ms.baseWmark[z].min, highestZoneidx: highestZoneidx, flags: flags, free: free)
        }
        return false
    }

    /// The seed's `zoneWatermarkOk` on a modern machine (kswapd's balance tests): the 6.6 rules, the
    /// seed's ALLOC_HIGH / ALLOC_HARDER read as ALLOC_MIN_RESERVE / ALLOC_NON_BLOCK.
    @inline(never)
    func modernZoneWatermarkOkSeedFlags(zone z: ZoneID, order: Int, mark: Int, classzoneIdx: Int, flags: AllocFlags) -> Bool {
        var f: ModernAllocFlags = []
        if flags.contains(.high) { f.insert(.minReserve) }
        if flags.contains(.harder) { f.insert(.nonBlock) }
        return modernZoneWatermarkOk(zone: z, order: order, mark: mark, highestZoneidx: classzoneIdx, flags: f)
    }

    /// The marks the allocator reads: `_watermark[] + watermark_boost` (`wmark_pages`) in `zoneWmark` and
    /// `zones[z].watermark`, and the order-0 fast path's mark, LOW + boost + `lowmem_reserve` + the
    /// HIGHATOMIC reserve (the order-0 `zone_watermark_fast` test without flags).
    func modernApplyMarks(zone z: ZoneID) {
        let b = ms.baseWmark[z], boost = ms.watermarkBoost[z]
        zones[z].watermark = (b.min + boost, b.low + boost, b.high + boost)
        zoneWmark[z.rawValue &* 3] = b.min + boost
        zoneWmark[z.rawValue &* 3 &+ 1] = b.low + boost
        zoneWmark[z.rawValue &* 3 &+ 2] = b.high + boost
        zoneOrder0LowMark[z] = b.low + boost + lowmemReserve(zone: z, classzone: Int(zoneIndexInNode[z])) + ms.nrReservedHighatomic[z]
    }

    /// `__setup_per_zone_wmarks` of 6.6: MIN is the zone's share of min_free_kbytes by managed pages
    /// among the lowmem zones (HighMem and Movable: managed/1024 clamped to 32...128); the gaps
    /// MIN→LOW→HIGH are max(MIN/4, managed × watermark_scale_factor / 10000); the boost goes back to 0.
    /// No MIGRATE_RESERVE blocks: the modern kernel has HIGHATOMIC instead.
    func modernSetupPerZoneWmarks() {
        let pagesMin = minFreeKbytes >> (pageShift - 10)
        let lowmem = zones.filter { $0.type != .highmem && $0.type != .movable }.reduce(0) { $0 + $1.managedPages }
        for z in zoneIDs {
            let managed = zones[z].managedPages
            let tmp = lowmem > 0 ? pagesMin * managed / lowmem : 0
            let minMark: Int
            if zones[z].type == .highmem || zones[z].type == .movable {
                minMark = Swift.min(Swift.max(managed / 1024, Machine.swapClusterMax), 128)
            } else {
                minMark = tmp
            }
            let gap = Swift.max(tmp >> 2, Machine.multFrac(managed, ms.watermarkScaleFactor, 10000))
            ms.watermarkBoost[z] = 0
            ms.baseWmark[z] = (minMark, minMark + gap, minMark + 2 * gap)
            modernApplyMarks(zone: z)
        }
        bumpGeneration()
    }

    /// `mult_frac(x, n, d)`: x × n / d without overflowing x × n.
    @inline(__always) static func multFrac(_ x: Int, _ n: Int, _ d: Int) -> Int { (x / d) * n + ((x % d) * n) / d }

    /// `calculate_min_free_kbytes` of 6.6 (clamped to 128...262144), raised as khugepaged's
    /// `set_recommended_min_free_kbytes` does while THP is enabled: 2 + 3 × 3 pageblocks per lowmem zone
    /// (zones up to `gfp_zone(GFP_USER)`), at most 5% of lowmem.
    func modernDefaultMinFreeKbytes() -> Int {
        let lowmemKbytes = lowmemPagesForMinFree() * pageKB
        var kb = Swift.min(Swift.max(intSqrt(lowmemKbytes * 16), 128), 262144)
        if ms.thpEnabled != .never {
            let nrZones = zones.filter { $0.populated && $0.type <= .normal }.count
            var rec = pageblockPages * nrZones * 2 + pageblockPages * nrZones * Migratetype.pcpTypes * Migratetype.pcpTypes
            rec = Swift.min(rec, lowmemPagesForMinFree() / 20)
            let recKB = rec << (pageShift - 10)
            if recKB > kb { kb = recKB }
        }
        return kb
    }

    // MARK: - Boost and HIGHATOMIC

    /// `boost_watermark`: after a fallback that mixes a pageblock, raise the zone's marks by a pageblock
    /// (at most `watermark_boost_factor` ‱ of HIGH, at least a pageblock), unless boosting is off or the
    /// zone is smaller than four pageblocks.
    func boostWatermark(zone z: ZoneID) -> Bool {
        if ms.watermarkBoostFactor == 0 { return false }
        if pageblockPages * 4 > zones[z].managedPages { return false }
        var maxBoost = Machine.multFrac(ms.baseWmark[z].high, ms.watermarkBoostFactor, 10000)
        if maxBoost == 0 { return false }
        maxBoost = Swift.max(pageblockPages, maxBoost)
        ms.watermarkBoost[z] = Swift.min(ms.watermarkBoost[z] + pageblockPages, maxBoost)
        ev.modern.watermarkBoosts &+= 1
        modernApplyMarks(zone: z)
        return true
    }

    /// `reserve_highatomic_pageblock`: a high-order atomic allocation's pageblock becomes HIGHATOMIC,
    /// up to about 1% of the zone plus one pageblock.
    func reserveHighatomicPageblock(pfn: Pfn, zone z: ZoneID) {
        let maxManaged = zones[z].managedPages / 100 + pageblockPages
        if ms.nrReservedHighatomic[z] >= maxManaged { return }
        let mt = pageblockMigratetype(pfn)
        guard mt.isPcpType else { return }
        ms.nrReservedHighatomic[z] += pageblockPages
        setPageblockMigratetype(pfn, .highatomic)
        modernMoveFreepagesBlock(zone: z, pfn: pfn, toMigratetype: .highatomic)
        modernApplyMarks(zone: z)
    }

    /// `unreserve_highatomic_pageblock`: when an allocation is about to fail, give one HIGHATOMIC block
    /// back to the request's migratetype (keeping one per zone unless `force`).
    @discardableResult
    func unreserveHighatomicPageblock(zonelist zl: [ZoneID], migratetype: Migratetype, force: Bool) -> Bool {
        for z in zl {
            if !force && ms.nrReservedHighatomic[z] <= pageblockPages { continue }
            for o in 0..<nrOrders {
                let head = freeArea.heads[freeArea.list(zone: z, order: o, mt: .highatomic)]
                if head == NONE { continue }
                let pfn = Pfn(link: head)
                if pageblockMigratetype(pfn) == .highatomic {
                    ms.nrReservedHighatomic[z] -= Swift.min(pageblockPages, ms.nrReservedHighatomic[z])
                }
                setPageblockMigratetype(pfn, migratetype)
                let moved = modernMoveFreepagesBlock(zone: z, pfn: pfn, toMigratetype: migratetype).free
                modernApplyMarks(zone: z)
                if moved > 0 { return true }
            }
        }
        return false
    }

    // MARK: - Taking blocks

    /// `move_to_free_list`: a free head moves to the tail of another migratetype's list of its order.
    @inline(__always) func moveFreeBlockToTail(_ pfn: Pfn, zone: ZoneID, toMigratetype mt: Migratetype) {
        let order = buddyOrder(pfn)
        removeFromFreeList(pfn, zone: zone)
        addToFreeList(pfn, zone: zone, order: order, mt: mt, atTail: true)
    }

    /// `move_freepages_block` of 6.6: every free block of the pageblock to the tail of the `mt` lists,
    /// counting the pages that are on an LRU (an allocation of a movable kind: THPs are LRU pages in
    /// the kernel) among the others. Nothing when the block straddles the zone's end.
    @discardableResult
    func modernMoveFreepagesBlock(zone z: ZoneID, pfn: Pfn, toMigratetype mt: Migratetype) -> (free: Int, movable: Int) {
        var start = pageblockStartPfn(pfn)
        let end = start + pageblockPages - 1
        if !zones[z].contains(pfn: start) { start = pfn }
        guard zones[z].contains(pfn: end) else { return (0, 0) }
        var moved = 0, movable = 0
        var p = start
        let pa = pages
        while p <= end {
            if isBuddy(p) {
                let o = buddyOrder(p)
                moveFreeBlockToTail(p, zone: z, toMigratetype: mt)
                p += 1 << o
                moved += 1 << o
                continue
            }
            let s = pa.state[p]
            if PageState.code(s) == PageState.allocated && !PageState.isIsolatedFreePage(s) {
                let k = PageState.kind(s)
                let o = Int(pa.order[p] & PageOrderByte.orderMask)
                if k == .anon || k == .file || k == .pinned {
                    if o == 0 {
                        if currentLruIfAllocated(p) { movable += 1 }
                    } else {
                        movable += Swift.min(1 << o, end + 1 - p)
                    }
                }
                p += Swift.max(1, Swift.min(1 << o, end + 1 - p))
                continue
            }
            p += 1
        }
        return (moved, movable)
    }

    /// `steal_suitable_fallback` of 6.6.
    func stealSuitableFallback(zone z: ZoneID, pfn: Pfn, flags: ModernAllocFlags, startType: Migratetype, wholeBlock: Bool) {
        let currentOrder = buddyOrder(pfn)
        let oldBlockType = pageblockMigratetype(pfn)
        single: do {
            if oldBlockType == .highatomic { break single }
            if currentOrder >= pageblockOrder {
                // change_pageblock_range
                var b = pfn
                while b < pfn + (1 << currentOrder) { setPageblockMigratetype(b, startType); b += pageblockPages }
                break single
            }
            if boostWatermark(zone: z) && flags.contains(.kswapd) { ms.boostedFlag[z] = true }
            if !wholeBlock { break single }
            let (free, movable) = modernMoveFreepagesBlock(zone: z, pfn: pfn, toMigratetype: startType)
            if free == 0 { break single }
            let alike: Int
            if startType == .movable {
                alike = movable
            } else {
                alike = oldBlockType == .movable ? pageblockPages - (free + movable) : 0
            }
            if free + alike >= 1 << (pageblockOrder - 1) || mobilityGroupingDisabled {
                setPageblockMigratetype(pfn, startType)
            }
            return
        }
        moveFreeBlockToTail(pfn, zone: z, toMigratetype: startType)
    }

    /// `__rmqueue_fallback` of 6.6: the largest block on a fallback list (not below pageblock_order under
    /// ALLOC_NOFRAGMENT); a movable request that may not steal the whole block takes the smallest
    /// instead; then `steal_suitable_fallback`. True if a block was moved to the request's lists.
    func modernRmqueueFallback(zone z: ZoneID, order: Int, startMt: Migratetype, flags: ModernAllocFlags) -> Bool {
        var minOrder = order
        if order < pageblockOrder && flags.contains(.noFragment) { minOrder = pageblockOrder }
        var current = nrOrders - 1
        var found: (mt: Migratetype?, canSteal: Bool) = (nil, false)
        while current >= minOrder {
            found = findSuitableFallback(zone: z, order: current, migratetype: startMt, onlyStealable: false)
            if found.mt != nil { break }
            current -= 1
        }
        guard found.mt != nil else { return false }
        if !found.canSteal && startMt == .movable && current > order {
            // find_smallest: some order up to `current` has a fallback block.
            current = order
            while current < nrOrders {
                found = findSuitableFallback(zone: z, order: current, migratetype: startMt, onlyStealable: false)
                if found.mt != nil { break }
                current += 1
            }
        }
        guard let fallbackMt = found.mt else { return false }
        let pfn = Pfn(link: freeArea.heads[freeArea.list(zone: z, order: current, mt: fallbackMt)])
        stealSuitableFallback(zone: z, pfn: pfn, flags: flags, startType: startMt, wholeBlock: found.canSteal)
        recordExtfrag(ExtfragEvent(pfn: pfn.rawValue, allocOrder: order, fallbackOrder: current,
                                   allocMigratetype: startMt, fallbackMigratetype: fallbackMt,
                                   fragmenting: current < pageblockOrder,
                                   changeOwnership: pageblockMigratetype(pfn) == startMt))
        return true
    }

    /// `__rmqueue` of 6.6 (no CMA): own list, else a fallback steal and again.
    func modernRmqueue(zone z: ZoneID, order: Int, mt: Migratetype, flags: ModernAllocFlags) -> Pfn? {
        while true {
            if let pfn = rmqueueSmallest(zone: z, order: order, mt: mt) { return pfn }
            if !modernRmqueueFallback(zone: z, order: order, startMt: mt, flags: flags) { return nil }
        }
    }

    /// `rmqueue_buddy`: HIGHATOMIC first for high-order atomic requests, then `__rmqueue`, then (OOM)
    /// HIGHATOMIC. NR_FREE_PAGES drops.
    func modernRmqueueBuddy(zone z: ZoneID, order: Int, mt: Migratetype, flags: ModernAllocFlags) -> Pfn? {
        var pfn: Pfn? = nil
        if flags.contains(.highatomic) { pfn = rmqueueSmallest(zone: z, order: order, mt: .highatomic) }
        if pfn == nil {
            pfn = modernRmqueue(zone: z, order: order, mt: mt, flags: flags)
            if pfn == nil && flags.contains(.oom) { pfn = rmqueueSmallest(zone: z, order: order, mt: .highatomic) }
            if pfn == nil { return nil }
        }
        zoneCounters.freePages[z] -= 1 << order
        return pfn
    }

    /// `rmqueue_pcplist` for order 0: the per-CPU list's head, refilled `batch` pages at a time from
    /// `__rmqueue` (`rmqueue_bulk`). (6.6 also keeps per-CPU lists of orders 1-3 and of THP; the model
    /// keeps order 0 only.)
    func modernPcpAllocate(zone z: ZoneID, mt: Migratetype, flags: ModernAllocFlags) -> Pfn? {
        let li = pcp.list(zone: z, mt: mt)
        if pcp.heads[li] == NONE {
            var after = NONE
            var taken = 0
            let count = Int(pcp.batch[z])
            while taken < count {
                guard let pfn = modernRmqueue(zone: z, order: 0, mt: mt, flags: flags) else { break }
                pcpInsert(pfn, zone: z, list: mt, private: mt, after: after)
                after = pfn.link
                taken += 1
            }
            zoneCounters.freePages[z] -= taken
            pcp.count[z] &+= Int32(truncatingIfNeeded: taken)
            if pcp.heads[li] == NONE { return nil }
        }
        return pcpTakeHead(zone: z, mt: mt)
    }

    /// `rmqueue` of 6.6: order 0 from the per-CPU lists, larger blocks from the buddy lists; a zone whose
    /// watermark a fallback boosted wakes kswapd (ZONE_BOOSTED_WATERMARK).
    func modernRmqueueZone(zone z: ZoneID, order: Int, mt: Migratetype, flags: ModernAllocFlags) -> Pfn? {
        let pfn = order == 0 ? modernPcpAllocate(zone: z, mt: mt, flags: flags) : modernRmqueueBuddy(zone: z, order: order, mt: mt, flags: flags)
        if flags.contains(.kswapd) && ms.boostedFlag[z] {
            ms.boostedFlag[z] = false
            modernWakeupKswapd(zone: z, order: 0, highestZoneidx: zones[z].indexInNode, directReclaim: true)
        }
        return pfn
    }

    // MARK: - Freeing

    /// `__free_one_page` of 6.6: merge with free buddies, except across pageblocks of types that do not
    /// merge (HIGHATOMIC, ISOLATE) at pageblock order and above; a direct compactor's capture takes the
    /// block once it reaches the compactor's order (`compaction_capture`); the result goes to the tail
    /// of its list when its buddy at the next order is free (`buddy_merge_likely`), else to the head.
    @inline(never)
    func modernFreeOneBlock(_ pfn: Pfn, zone z: ZoneID, order: Int, mt: Migratetype) -> (pfn: Pfn, order: Int) {
        var pfn = pfn, order = order
        let zone = zones[z]
        let maxOrder = nrOrders - 1
        var buddy = pfn.buddy(order: order)
        let capturing = ms.captureZone == z && ms.capturedPfn == nil
        while order < maxOrder {
            if capturing && order == ms.captureOrder && compactionCapture(order: order, mt: mt) {
                ms.capturedPfn = pfn
                zoneCounters.freePages[z] -= 1 << order
                ev.modern.compactCaptured &+= 1
                return (pfn, order)
            }
            buddy = pfn.buddy(order: order)
            guard zone.contains(pfn: buddy), isBuddy(buddy), buddyOrder(buddy) == order else { break }
            if order >= pageblockOrder {
                let buddyMt = pageblockMigratetype(buddy)
                if mt != buddyMt && (!mt.isPcpType || !buddyMt.isPcpType) { break }
            }
            removeFromFreeList(buddy, zone: z, orderBelowMax: order)
            pfn = pfn.merged(withBuddy: buddy)
            order += 1
        }
        var toTail = false
        if order < maxOrder - 1 {
            let higher = buddy.merged(withBuddy: pfn)
            let higherBuddy = higher.buddy(order: order + 1)
            toTail = zone.contains(pfn: higherBuddy) && isBuddy(higherBuddy) && buddyOrder(higherBuddy) == order + 1
        }
        addToFreeList(pfn, zone: z, order: order, mt: mt, atTail: toTail)
        return (pfn, order)
    }

    /// `compaction_capture`'s rules: never from an isolated pageblock, and a movable block below pageblock
    /// order is left to merge (not to pollute a movable pageblock with a smaller allocation).
    @inline(__always) func compactionCapture(order: Int, mt: Migratetype) -> Bool {
        if mt == .isolate { return false }
        if order < pageblockOrder && mt == .movable { return false }
        return true
    }
}

extension Machine {
    /// `free_pcppages_bulk` on a 6.6 machine: the seed's order of taking pages off the per-CPU lists,
    /// each page merged by the 6.6 `__free_one_page` (capture included).
    @inline(never)
    func modernFreePcppagesBulk(zone z: ZoneID, count: Int) {
        takePcppagesBulk(zone: z, count: count) { _ = modernFreeOneBlock($0, zone: z, order: 0, mt: $1) }
    }
}
