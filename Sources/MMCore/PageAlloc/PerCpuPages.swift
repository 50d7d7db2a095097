/// The per-CPU page lists (`struct per_cpu_pages`, seed 2.6.35): order-0 pages freed by the simulated
/// CPU wait on a short list per zone and migratetype before going back to the buddy allocator, and
/// order-0 allocations are served from these lists, refilled `batch` pages at a time.
///
/// The simulator runs one CPU (cpu 0), so each zone has one pageset. Pages on these lists are free
/// but not PageBuddy: NR_FREE_PAGES, /proc/buddyinfo and the watermark checks do not count them, the
/// compaction free scanner cannot take them and they do not merge until drained, exactly as in the
/// kernel. Each list is threaded through the pages' `nextOrOwner` (next) and `prevOrContent` (prev) words
/// like a free list; a page on it has state code `PageState.pcp` and its `page_private` (the migratetype it goes back to
/// when drained) in the order byte's migratetype bits.
struct PcpStore {
    let heads: RawArray<UInt32>
    let tails: RawArray<UInt32>
    /// `pcp->count`, `pcp->high`, `pcp->batch` per zone.
    let count: RawArray<Int32>
    let high: RawArray<Int32>
    let batch: RawArray<Int32>

    init(zones: Int, arena: RawArena) {
        heads = RawArray(repeating: NONE, count: zones * Migratetype.pcpTypes, arena: arena)
        tails = RawArray(repeating: NONE, count: zones * Migratetype.pcpTypes, arena: arena)
        count = RawArray(zeroed: zones, arena: arena)
        high = RawArray(zeroed: zones, arena: arena)
        batch = RawArray(zeroed: zones, arena: arena)
    }

    var byteCount: Int { heads.byteCount + tails.byteCount + count.byteCount + high.byteCount + batch.byteCount }

    /// The index of `pcp->lists[mt]` of `zone` in `heads` and `tails` (`mt` one of the MIGRATE_PCPTYPES).
    @inline(__always) func list(zone: ZoneID, mt: Migratetype) -> Int { zone.rawValue &* Migratetype.pcpTypes &+ mt.rawValue }
}

/// `zone_batchsize()` (MMU form): about a quarter of a 1024th of the zone, at most 512 KiB worth,
/// rounded to 2^n - 1 so that batches do not alias cache colours.
public func zoneBatchsize(presentPages: Int, pageSize: Int) -> Int {
    var batch = presentPages / 1024
    if batch * pageSize > 512 * 1024 { batch = (512 * 1024) / pageSize }
    batch /= 4
    if batch < 1 { batch = 1 }
    return roundDownPowerOfTwo(batch + batch / 2) - 1
}

/// `fls()`: the 1-based position of the highest set bit (0 for 0).
@inline(__always) func fls(_ x: Int) -> Int { x == 0 ? 0 : Int.bitWidth - x.leadingZeroBitCount }

/// `rounddown_pow_of_two()` (0 for n <= 0).
@inline(__always) func roundDownPowerOfTwo(_ n: Int) -> Int { n <= 0 ? 0 : 1 << (fls(n) - 1) }

extension Machine {
    /// `setup_pageset(p, zone_batchsize(zone))` for every zone: high = 6 × batch, batch at least 1.
    func setupPagesets() {
        for z in zones {
            let b = zoneBatchsize(presentPages: z.presentPages, pageSize: 1 << pageShift)
            pcp.high[z.id] = Int32(6 * b)
            pcp.batch[z.id] = Int32(max(1, b))
        }
    }

    /// `pcp->count`, `pcp->high`, `pcp->batch` of a zone (cpu 0), as /proc/zoneinfo prints them.
    public func pageset(zone z: ZoneID) -> (count: Int, high: Int, batch: Int) {
        (Int(pcp.count[z]), Int(pcp.high[z]), Int(pcp.batch[z]))
    }

    /// Pages sitting on the per-CPU lists of all zones.
    public var pcpPages: Int { zones.indices.reduce(0) { $0 + Int(pcp.count[$1]) } }

    // MARK: - List primitives

    /// Puts a free order-0 page on a per-CPU list: at the head when hot, at the tail when cold;
    /// `private` is the migratetype it returns to the buddy lists with.
    @inline(__always)
    func pcpAdd(_ pfn: Pfn, zone z: ZoneID, list mt: Migratetype, private pmt: Migratetype, cold: Bool) {
        let li = pcp.list(zone: z, mt: mt)
        pcpInsert(pfn, zone: z, list: mt, private: pmt, after: cold ? pcp.tails[li] : NONE)
    }

    /// `list_add` of a page after `after` on a per-CPU list (NONE: at the head), marking it a per-CPU
    /// page with its `page_private`.
    @inline(__always)
    func pcpInsert(_ pfn: Pfn, zone z: ZoneID, list mt: Migratetype, private pmt: Migratetype, after: UInt32) {
        let p = pages
        let li = pcp.list(zone: z, mt: mt)
        let p32 = pfn.link
        let next = after == NONE ? pcp.heads[li] : p.nextOrOwner[Pfn(link: after)]
        p.nextOrOwner[pfn] = next
        p.prevOrContent[pfn] = after
        if after == NONE { pcp.heads[li] = p32 } else { p.nextOrOwner[Pfn(link: after)] = p32 }
        if next == NONE { pcp.tails[li] = p32 } else { p.prevOrContent[Pfn(link: next)] = p32 }
        p.state[pfn] = PageState.pcp
        p.order[pfn] = PageOrderByte.migratetypeBits(pmt)
    }

    /// Takes a page off a per-CPU list (`list_del`); returns its `page_private` migratetype.
    @inline(__always)
    func pcpDel(_ pfn: Pfn, zone z: ZoneID, list mt: Migratetype) -> Migratetype {
        let p = pages
        pcpUnlink(pfn, zone: z, list: mt)
        let pmt = PageOrderByte.migratetype(p.order[pfn])
        p.state[pfn] = PageState.tail
        p.order[pfn] = 0
        return pmt
    }

    /// `pcpDel` of the tail (cold end) of a non-empty list, whose next link is NONE; returns its pfn and
    /// its `page_private` migratetype.
    @inline(__always)
    func pcpDelTail(zone z: ZoneID, list mt: Migratetype) -> (pfn: Pfn, private: Migratetype) {
        let p = pages
        let li = pcp.list(zone: z, mt: mt)
        let pfn = Pfn(link: pcp.tails[li])
        let prev = p.prevOrContent[pfn]
        if prev != NONE { p.nextOrOwner[Pfn(link: prev)] = NONE } else { pcp.heads[li] = NONE }
        pcp.tails[li] = prev
        let pmt = PageOrderByte.migratetype(p.order[pfn])
        p.state[pfn] = PageState.tail
        p.order[pfn] = 0
        return (pfn, pmt)
    }

    /// Unlinks a page from a per-CPU list, leaving its state and order bytes to the caller.
    @inline(__always)
    func pcpUnlink(_ pfn: Pfn, zone z: ZoneID, list mt: Migratetype) {
        let p = pages
        let li = pcp.list(zone: z, mt: mt)
        let next = p.nextOrOwner[pfn], prev = p.prevOrContent[pfn]
        if prev != NONE { p.nextOrOwner[Pfn(link: prev)] = next } else { pcp.heads[li] = next }
        if next != NONE { p.prevOrContent[Pfn(link: next)] = prev } else { pcp.tails[li] = prev }
    }

    /// `pcpUnlink` of the head (hot end) of a non-empty list, whose prev link is NONE; returns its pfn.
    @inline(__always)
    func pcpUnlinkHead(zone z: ZoneID, list mt: Migratetype) -> Pfn {
        let p = pages
        let li = pcp.list(zone: z, mt: mt)
        let pfn = Pfn(link: pcp.heads[li])
        let next = p.nextOrOwner[pfn]
        pcp.heads[li] = next
        if next != NONE { p.prevOrContent[Pfn(link: next)] = NONE } else { pcp.tails[li] = NONE }
        return pfn
    }

    // MARK: - Allocation and free

    /// The order-0 half of `buffered_rmqueue()`: the head (hot end) of this zone's per-CPU list for
    /// the migratetype, refilling an empty list with `rmqueue_bulk()` first. Returns the pfn, or nil.
    @inline(__always)
    func pcpAllocate(zone z: ZoneID, mt: Migratetype) -> Pfn? {
        let li = pcp.list(zone: z, mt: mt)
        if pcp.heads[li] == NONE {
            pcp.count[z] &+= Int32(truncatingIfNeeded: rmqueueBulk(zone: z, count: Int(pcp.batch[z]), mt: mt))
            if pcp.heads[li] == NONE { return nil }
        }
        return pcpTakeHead(zone: z, mt: mt)
    }

    /// Takes the head (hot end) of a non-empty per-CPU list.
    @inline(__always)
    func pcpTakeHead(zone z: ZoneID, mt: Migratetype) -> Pfn {
        let pfn = Pfn(link: pcp.heads[pcp.list(zone: z, mt: mt)])
        _ = pcpDel(pfn, zone: z, list: mt)
        pcp.count[z] &-= 1
        return pfn
    }

    /// `rmqueue_bulk()`: up to `count` order-0 pages from the buddy allocator (`__rmqueue`, fallbacks
    /// included) onto the per-CPU list, each after the previous one, each remembering the migratetype
    /// asked for as its `page_private`. NR_FREE_PAGES drops by the number taken.
    @inline(never)
    func rmqueueBulk(zone z: ZoneID, count: Int, mt: Migratetype) -> Int {
        var after = NONE
        var taken = 0
        while taken < count {
            guard let pfn = rmqueue(zone: z, order: 0, mt: mt) else { break }
            // list_add after the previous page: the batch keeps the order it came off the free lists.
            pcpInsert(pfn, zone: z, list: mt, private: mt, after: after)
            after = pfn.link
            taken += 1
        }
        zoneCounters.freePages[z] -= taken
        return taken
    }

    /// `free_hot_cold_page()`: an order-0 page nobody owns any more goes to the per-CPU list of its
    /// pageblock's migratetype (MIGRATE_RESERVE pages to the MOVABLE list, remembering RESERVE), or
    /// straight to the buddy allocator from an isolated pageblock; a list that reaches `high` gives
    /// `batch` pages back. Hot pages (an owner's free) go to the head, cold ones (reclaim) to the tail.
    @inline(__always)
    func freeHotColdPage(_ pfn: Pfn, zone z: ZoneID, cold: Bool) {
        ev.pgfree &+= 1
        let pmt = pageblockMigratetype(pfn)
        var mt = pmt
        if !mt.isPcpType {
            if mt == .isolate {
                freeIsolatedPage(pfn, zone: z)
                return
            }
            mt = .movable
        }
        pcpAdd(pfn, zone: z, list: mt, private: pmt, cold: cold)
        pcp.count[z] &+= 1
        if pcp.count[z] >= pcp.high[z] {
            let b = pcp.batch[z]
            freePcppagesBulk(zone: z, count: Int(b))
            pcp.count[z] &-= b
        }
    }

    /// `free_one_page()` of an order-0 page from an isolated pageblock (`free_hot_cold_page`'s rare case,
    /// out of line so that the per-CPU path stays small). The page becomes a plain tail first (its owner's
    /// state and order bytes cleared, which the per-CPU path leaves to `pcpAdd`).
    @inline(never)
    func freeIsolatedPage(_ pfn: Pfn, zone z: ZoneID) {
        pages.state[pfn] = PageState.tail
        pages.order[pfn] = 0
        freeOnePage(pfn, zone: z, order: 0, mt: .isolate)
    }

    /// `free_one_page()`: a block goes straight back to the buddy allocator; NR_FREE_PAGES goes up and
    /// the zone is worth reclaiming again.
    @inline(__always)
    func freeOnePage(_ pfn: Pfn, zone z: ZoneID, order: Int, mt: Migratetype) {
        zoneAllUnreclaimable[z] = 0
        zonePagesScanned[z] = 0
        // Kernel 6.6 (ModernPageAlloc.swift): capture, merge limits, tail placement.
        if _slowPath(modern != nil) {
            _ = modernFreeOneBlock(pfn, zone: z, order: order, mt: mt)
        } else {
            freeOneBlock(pfn, zone: z, order: order, mt: mt)
        }
        zoneCounters.freePages[z] += 1 << order
    }

    /// `free_pcppages_bulk()`: `count` pages from the cold ends of the lists, taking turns between the
    /// migratetypes (one page from the first non-empty list, two from the next, …), each merged back
    /// into the buddy allocator on its `page_private` migratetype.
    @inline(never)
    func freePcppagesBulk(zone z: ZoneID, count: Int) {
        // Kernel 6.6 (ModernPageAlloc.swift): the same, each page through the 6.6 free path.
        if _slowPath(modern != nil) { modernFreePcppagesBulk(zone: z, count: count); return }
        takePcppagesBulk(zone: z, count: count) { freeOneBlock($0, zone: z, order: 0, mt: $1) }
    }

    /// The list walk of `free_pcppages_bulk`, shared by both kernels: `count` pages off the cold ends,
    /// one from the first non-empty list, two from the next, …; `free(pfn, migratetype)` merges each.
    @inline(__always)
    func takePcppagesBulk(zone z: ZoneID, count: Int, _ free: (Pfn, Migratetype) -> Void) {
        var count = count
        var mt = Migratetype.unmovable, batchFree = 0
        zoneAllUnreclaimable[z] = 0
        zonePagesScanned[z] = 0
        zoneCounters.freePages[z] += count
        while count > 0 {
            var li: Int
            repeat {
                batchFree &+= 1
                mt = Migratetype(rawValue: mt.rawValue &+ 1)
                if mt.rawValue == Migratetype.pcpTypes { mt = .unmovable }
                li = pcp.list(zone: z, mt: mt)
            } while pcp.heads[li] == NONE
            repeat {
                let (pfn, pmt) = pcpDelTail(zone: z, list: mt)
                free(pfn, pmt)
                count &-= 1
                batchFree &-= 1
            } while count > 0 && batchFree > 0 && pcp.heads[li] != NONE
        }
    }

    /// `drain_pages(cpu)` / `drain_all_pages()` (one CPU): every page on the per-CPU lists goes back to
    /// the buddy allocator, where it can merge.
    public func drainAllPages() {
        for z in zoneIDs where pcp.count[z] > 0 {
            freePcppagesBulk(zone: z, count: Int(pcp.count[z]))
            pcp.count[z] = 0
        }
    }

    /// The pfns on one per-CPU list, head (hot end) first (for tests and invariant checks).
    public func pcpListPfns(zone z: ZoneID, mt: Migratetype) -> [Pfn] {
        var out: [Pfn] = []
        var cur = pcp.heads[pcp.list(zone: z, mt: mt)]
        while cur != NONE {
            out.append(Pfn(link: cur))
            cur = pages.nextOrOwner[Pfn(link: cur)]
        }
        return out
    }
}
