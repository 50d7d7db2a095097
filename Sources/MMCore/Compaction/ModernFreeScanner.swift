/// The free scanner of the modern profile (kernel 6.6, mm/compaction.c; kernel-compaction.md §4.7, §4.8):
/// first a short search of the MOVABLE free lists below the request's order for a page high in the
/// zone (`fast_isolate_freepages`), then the linear scan down from the cached position, skipping blocks
/// marked skip, with a stride that grows over empty blocks in async mode.
extension Machine {
    /// `__isolate_free_page`: take a free block off its list, unless that would leave the zone below MIN
    /// (without boost) + 2^order at order 0 (`zone_watermark_ok(zone, 0, mark, 0, ALLOC_CMA)`); a block
    /// of at least half a pageblock re-types its mergeable pageblocks MOVABLE. Returns the pages taken.
    func modernIsolateFreePage(pfn: Pfn, order: Int, zone z: ZoneID) -> Int {
        let mt = pageblockMigratetype(pfn)
        if mt != .isolate {
            let mark = ms.baseWmark[z].min + (1 << order)
            guard modernZoneWatermarkOk(zone: z, order: 0, mark: mark, highestZoneidx: 0, flags: .cma) else { return 0 }
        }
        if order < freeArea.maxOrder { removeFromFreeList(pfn, zone: z, orderBelowMax: order) } else { removeFromFreeList(pfn, zone: z) }
        zoneCounters.freePages[z] -= 1 << order
        if order >= pageblockOrder - 1 {
            var b = pfn
            let endpage = pfn + (1 << order) - 1
            while b < endpage {
                if pageblockMigratetype(b).isPcpType { setPageblockMigratetype(b, .movable) }
                b += pageblockPages
            }
        }
        return 1 << order
    }

    /// `split_map_pages` of one isolated block: its pages become order-0 isolated free pages on the
    /// compactor's list (ascending, so the list's head, the end, is the block's last page).
    func appendIsolatedBlock(_ cc: inout CompactControl, pfn: Pfn, pages n: Int) {
        let p = pages
        for q in pfn..<(pfn + n) {
            p.state[q] = PageState.isolatedFreePage
            p.order[q] = 0
            p.nextOrOwner[q] = NONE
            cc.freepages.append(q.entry)
        }
    }

    /// `isolate_freepages_block` (non-strict) from `start` to `end` with a stride: every free block met
    /// is isolated whole, until the compactor has as many free pages as pages to migrate. Returns the
    /// pages isolated and where the scan stopped.
    func modernIsolateFreepagesBlock(_ cc: inout CompactControl, start: Pfn, end: Pfn, stride: Int) -> (isolated: Int, stopped: Pfn) {
        var blockpfn = start
        var nrScanned = 0, total = 0
        let p = pages
        while blockpfn < end {
            nrScanned += 1
            let s = p.state[blockpfn]
            if PageState.code(s) == PageState.allocated && !PageState.isIsolatedFreePage(s) && p.order[blockpfn] & PageOrderByte.orderMask != 0 {
                let o = Int(p.order[blockpfn] & PageOrderByte.orderMask)
                blockpfn += (1 << o) - 1
                nrScanned += (1 << o) - 1
                blockpfn += stride
                continue
            }
            if !isBuddy(blockpfn) { blockpfn += stride; continue }
            let order = buddyOrder(blockpfn)
            let isolated = modernIsolateFreePage(pfn: blockpfn, order: order, zone: cc.zone)
            if isolated == 0 { break }
            appendIsolatedBlock(&cc, pfn: blockpfn, pages: isolated)
            nrScanned += isolated - 1
            total += isolated
            if cc.migratepages.count <= cc.freepages.count {
                blockpfn += isolated
                break
            }
            blockpfn += isolated - 1
            blockpfn += stride
        }
        if blockpfn > end { blockpfn = end }
        tracer?.modern(.isolateFreepages(start: start.rawValue, end: blockpfn.rawValue, nrScanned: nrScanned, nrTaken: total))
        cc.freeScanned += nrScanned
        cc.isolatedFree += total
        ev.compactIsolated &+= UInt64(total)
        ev.compactFreeIsolated &+= UInt64(total)
        cc.durationNs &+= UInt64(nrScanned) &* costs.scanPage &+ UInt64(total) &* costs.isolatePage
        return (total, blockpfn)
    }

    /// `suitable_migration_target`: never a free block of a whole pageblock (it would be broken up);
    /// any block when block suitability is ignored; else MOVABLE blocks.
    func modernSuitableMigrationTarget(_ cc: CompactControl, _ pfn: Pfn) -> Bool {
        if isBuddy(pfn) && buddyOrder(pfn) >= pageblockOrder { return false }
        if cc.modern!.ignoreBlockSuitable { return true }
        return pageblockMigratetype(pfn) == .movable
    }

    /// `fast_isolate_around`: after the fast search took a page, isolate the rest of its pageblock (not
    /// for async direct compaction, nor when enough pages are isolated); a block drained to its end is
    /// marked skip.
    func fastIsolateAround(_ cc: inout CompactControl, _ pfn: Pfn) {
        if cc.freepages.count >= cc.migratepages.count { return }
        if cc.modern!.directCompaction && cc.modern!.mode == .async { return }
        let zone = zones[cc.zone]
        let start = max(pageblockStartPfn(pfn), zone.startPfn)
        let end = min(pageblockEndPfn(pfn), zone.endPfn)
        let r = modernIsolateFreepagesBlock(&cc, start: start, end: end, stride: 1)
        if r.stopped == end { setPageblockSkip(start) }
    }

    /// `next_search_order`: round robin over the orders below the request's.
    func nextSearchOrder(_ cc: inout CompactControl, _ order: Int) -> Int {
        var o = order - 1
        if o < 0 { o = cc.order - 1 }
        if o == cc.modern!.searchOrder {
            cc.modern!.searchOrder -= 1
            if cc.modern!.searchOrder < 0 { cc.modern!.searchOrder = cc.order - 1 }
            return -1
        }
        return o
    }

    /// `fast_isolate_freepages`: for a request of order > 0, walk the MOVABLE free lists of orders below
    /// it from their tails (highest pfns are usually there), a few entries each (a deeper search on the
    /// first scan of a zone), for a page in the top quarter of the space between the scanners, else the
    /// highest in the top half; isolate it and the rest of its pageblock. The free cache drops below the
    /// highest block seen.
    func fastIsolateFreepages(_ cc: inout CompactControl) {
        if cc.order <= 0 { return }
        let z = cc.zone
        let zone = zones[z]
        var limit = max(1, freelistScanLimit(cc) >> 1)
        var scanStart = false
        if cc.freePfn >= ms.initFreePfn[z] {
            limit = pageblockPages >> 1
            scanStart = true
        }
        let distance = cc.freePfn - cc.migratePfn
        let minPfn = pageblockStartPfn(cc.freePfn - (distance >> 1))
        let lowPfn = max(pageblockStartPfn(cc.freePfn - (distance >> 2)), minPfn)
        var search = FastFreeSearch(lowPfn: lowPfn, minPfn: minPfn, zoneStart: zone.startPfn, limit: limit)
        cc.modern!.searchOrder = min(cc.order - 1, cc.modern!.searchOrder)
        var totalIsolated = 0
        var page: Pfn? = nil
        var order = cc.modern!.searchOrder
        while page == nil && order >= 0 {
            if nrFree(zone: z, order: order) == 0 { order = nextSearchOrder(&cc, order); continue }
            let orderScanned: Int
            (page, orderScanned) = fastSearchFreeList(&cc, &search, order: order)
            if let found = page {
                let isolated = modernIsolateFreePage(pfn: found, order: order, zone: z)
                if isolated > 0 {
                    appendIsolatedBlock(&cc, pfn: found, pages: isolated)
                    search.nrScanned += isolated - 1
                    totalIsolated += isolated
                    ev.compactIsolated &+= UInt64(isolated)
                    ev.compactFreeIsolated &+= UInt64(isolated)
                } else {
                    // Isolation failed: abort the search.
                    order = cc.modern!.searchOrder + 1
                    page = nil
                }
            }
            if cc.freepages.count >= cc.migratepages.count { break }
            if orderScanned >= search.limit { search.limit = max(1, search.limit >> 1) }
            order = nextSearchOrder(&cc, order)
        }
        tracer?.modern(.fastIsolateFreepages(start: minPfn.rawValue, end: cc.freePfn.rawValue, nrScanned: search.nrScanned, nrTaken: totalIsolated))
        if page == nil {
            cc.modern!.fastSearchFail += 1
            if scanStart { page = fastSearchFallback(&cc, search) }
        }
        var highest = search.highest
        if highest != Pfn(0) && highest >= ms.cachedFreePfn[z] {
            highest -= pageblockPages
            ms.cachedFreePfn[z] = highest
        }
        cc.freeScanned += search.nrScanned
        ev.modern.compactFastFreeScanned &+= UInt64(search.nrScanned)
        cc.isolatedFree += totalIsolated
        cc.durationNs &+= UInt64(search.nrScanned) &* costs.scanPage &+ UInt64(totalIsolated) &* costs.isolatePage
        guard let page else { return }
        fastIsolateAround(&cc, page)
    }

    /// What one `fast_isolate_freepages` search carries from one free list to the next.
    struct FastFreeSearch {
        /// A page at or above this is taken at once (the top quarter between the scanners).
        let lowPfn: Pfn
        /// The highest page at or above this is the fallback (the top half).
        let minPfn: Pfn
        let zoneStart: Pfn
        /// Entries a list walk may look at; halved as better candidates turn up.
        var limit: Int
        var nrScanned = 0
        /// The start of the highest pageblock seen (at least the zone's start), 0 if none.
        var highest = Pfn(0)
    }

    /// One free list of the fast search (MOVABLE, `order`), from its tail: returns the page chosen (the
    /// first in the top quarter, else the highest seen in the top half, else nil) and the entries walked,
    /// and moves the list's head to where the walk stopped so the next search starts past what this one saw.
    private func fastSearchFreeList(_ cc: inout CompactControl, _ s: inout FastFreeSearch, order: Int) -> (page: Pfn?, scanned: Int) {
        let li = freeArea.list(zone: cc.zone, order: order, mt: .movable)
        if let ix = freeListIndex, order < freeArea.maxOrder { return fastSearchFreeList(&cc, &s, order: order, list: li, index: ix) }
        var w = FastListWalk()
        var cur = freeArea.tails[li]
        // The walk is one dependent load per entry, a cache miss on a large machine (two thirds of
        // the CPU of issue 12's proactive-gupta at 128 and 256 GiB before the index). While it goes, the
        // list the loop would walk next is chased as far from its tail, reads only: two independent chains
        // overlap in the memory system, and the next walk finds its first entries in the cache. Nothing
        // depends on what this reads (a stale link is bounds-checked and ends the chase), so no result changes.
        var ahead = nextFastSearchListTail(cc, after: order)
        let links = pages.prevOrContent
        let linkCount = UInt32(truncatingIfNeeded: links.count)
        // `freepage` is the entry the walk stopped at; a walk that ran off the list's end leaves the
        // kernel's cursor on the list head, whose rotation changes nothing.
        while cur != NONE {
            if ahead < linkCount { ahead = links[Pfn(link: ahead)] }
            let pfn = Pfn(link: cur)
            if fastSearchVisit(pfn, &w, &s) { break }
            cur = freeArea.prev(pfn, order: order, pages)
            if cur == NONE { w.freepage = nil }
        }
        prefetchSink &+= ahead
        return finishFastSearchList(&cc, &w, list: li, order: order)
    }

    /// One list's walk so far (`fast_isolate_freepages`' inner loop): entries seen, the best candidate
    /// below `lowPfn`, the entry the walk stands at, and the page taken.
    struct FastListWalk {
        var orderScanned = 0
        var highPfn = Pfn(0)
        var freepage: Pfn? = nil
        var page: Pfn? = nil
    }

    /// The inner loop's body for one entry: counts it, raises the highest pageblock seen, takes it when
    /// it is at or above `lowPfn`, makes it the candidate (halving the limit) when it is the highest at or
    /// above `minPfn`. Returns true when the walk stops at it (taken, or the limit reached).
    @inline(__always)
    func fastSearchVisit(_ pfn: Pfn, _ w: inout FastListWalk, _ s: inout FastFreeSearch) -> Bool {
        w.freepage = pfn
        w.orderScanned += 1
        s.nrScanned += 1
        if pfn >= s.highest { s.highest = max(pageblockStartPfn(pfn), s.zoneStart) }
        if pfn >= s.lowPfn {
            w.page = pfn
            return true
        }
        if pfn >= s.minPfn && pfn > w.highPfn {
            w.highPfn = pfn
            s.limit >>= 1
        }
        return w.orderScanned >= s.limit
    }

    /// After the inner loop: a page taken resets the search's failures and fixes its order; else the
    /// candidate, if any, is the page; the list's head moves to where the walk stopped.
    private func finishFastSearchList(_ cc: inout CompactControl, _ w: inout FastListWalk, list li: Int, order: Int) -> (page: Pfn?, scanned: Int) {
        if w.page != nil {
            cc.modern!.fastSearchFail = 0
            cc.modern!.searchOrder = order
        } else if w.highPfn != Pfn(0) {
            w.page = w.highPfn
            w.freepage = w.page
        }
        if let freepage = w.freepage { moveFreelistHead(li, order: order, entry: freepage) }
        return (w.page, w.orderScanned)
    }

    /// The tail of the MOVABLE list the fast search would walk after `order`'s (the next order below,
    /// round robin, with free pages, before the search order comes round again), or NONE: the read-ahead's start.
    private func nextFastSearchListTail(_ cc: CompactControl, after order: Int) -> UInt32 {
        var nextOrder = order
        while true {
            nextOrder -= 1
            if nextOrder < 0 { nextOrder = cc.order - 1 }
            if nextOrder == cc.modern!.searchOrder || nextOrder == order { return NONE }
            if nrFree(zone: cc.zone, order: nextOrder) > 0 {
                return freeArea.tails[freeArea.list(zone: cc.zone, order: nextOrder, mt: .movable)]
            }
        }
    }

    /// A first search of the zone that found nothing: the free scanner starts at the highest pageblock
    /// seen in the top half, or, for direct compaction, at the top half's start. Returns the page the
    /// rest of the pageblock is isolated around, or nil.
    private func fastSearchFallback(_ cc: inout CompactControl, _ s: FastFreeSearch) -> Pfn? {
        if s.highest >= s.minPfn {
            cc.freePfn = s.highest
            return s.highest
        }
        if cc.modern!.directCompaction && zones[cc.zone].contains(pfn: s.minPfn) {
            cc.freePfn = s.minPfn
            return s.minPfn
        }
        return nil
    }

    /// The same walk with the list's segments (ModernFreeListIndex.swift): a segment whose largest pfn is
    /// below `minPfn` holds no entry the walk would take or count as a candidate, so it is passed in one
    /// step (its entries counted, the highest pageblock raised by its largest pfn) unless the walk's
    /// limit ends inside it; any other segment is walked entry by entry, exactly as the plain walk.
    private func fastSearchFreeList(_ cc: inout CompactControl, _ s: inout FastFreeSearch, order: Int, list li: Int,
                                    index ix: FreeListIndex) -> (page: Pfn?, scanned: Int) {
        var w = FastListWalk()
        let p = pages
        var seg = ix.tailSegment[li]
        walk: while seg != NONE {
            let si = Int(seg)
            let n = Int(ix.count[si])
            if ix.stale[si] != 0 { ix.refreshMax(seg, links: p) }
            let mx = Pfn(link: ix.maxPfn[si])
            if mx < s.minPfn && w.orderScanned + n <= s.limit {
                // No entry here is at or above minPfn (so none at or above lowPfn either): the loop
                // would count them, raise the highest pageblock to their largest's, and stand at the first.
                w.orderScanned += n
                s.nrScanned += n
                if mx >= s.highest { s.highest = max(pageblockStartPfn(mx), s.zoneStart) }
                w.freepage = Pfn(link: ix.first[si])
                if w.orderScanned >= s.limit { break walk }
            } else {
                var cur = ix.last[si]
                for _ in 0..<n {
                    let pfn = Pfn(link: cur)
                    if fastSearchVisit(pfn, &w, &s) { break walk }
                    cur = p.prevOrContent[pfn]
                }
            }
            seg = ix.prev[si]
            // The walk ran off the list's head: the kernel's cursor is the list head itself.
            if seg == NONE { w.freepage = nil }
        }
        return finishFastSearchList(&cc, &w, list: li, order: order)
    }

    /// `isolate_freepages` of 6.6 (called by `compaction_alloc` when the private list is empty).
    func modernIsolateFreepages(_ cc: inout CompactControl) {
        fastIsolateFreepages(&cc)
        if !cc.freepages.isEmpty { cc.modern!.freeScanEmpty = false; return }
        let zone = zones[cc.zone]
        var isolateStart = cc.freePfn
        var blockStart = pageblockStartPfn(isolateStart)
        var blockEnd = min(blockStart + pageblockPages, zone.endPfn)
        let lowPfn = pageblockEndPfn(cc.migratePfn)
        var stride = cc.modern!.mode == .async ? Machine.compactClusterMax : 1
        while blockStart >= lowPfn {
            defer {
                blockEnd = blockStart
                blockStart -= pageblockPages
                isolateStart = blockStart
            }
            cc.durationNs &+= costs.structPage
            guard zone.contains(pfn: blockStart) else { continue }
            if !modernSuitableMigrationTarget(cc, blockStart) { continue }
            if !isolationSuitable(cc, blockStart) { continue }
            let r = modernIsolateFreepagesBlock(&cc, start: isolateStart, end: blockEnd, stride: stride)
            isolateStart = r.stopped
            if isolateStart == blockEnd { updatePageblockSkip(cc, blockPfn: blockStart, pfn: blockStart - pageblockPages) }
            if cc.freepages.count >= cc.migratepages.count {
                if isolateStart >= blockEnd { isolateStart = blockStart - pageblockPages }
                // The defer above would move on: keep this block's resume point.
                cc.freePfn = isolateStart
                cc.modern!.freeScanEmpty = false
                return
            } else if isolateStart < blockEnd {
                cc.freePfn = isolateStart
                cc.modern!.freeScanEmpty = cc.freepages.isEmpty
                return
            }
            stride = r.isolated > 0 ? 1 : min(Machine.compactClusterMax, stride << 1)
        }
        cc.freePfn = isolateStart
        cc.modern!.freeScanEmpty = cc.freepages.isEmpty
    }

    // MARK: - Free list rotation

    /// `move_freelist_tail`: unless `entry` is the list's first, the entries up to and including it go
    /// to the tail (the list continues after it), so the next search skips what was just seen.
    func moveFreelistTail(_ li: Int, order: Int, entry: Pfn) {
        if freeArea.heads[li] == entry.link { return }
        let next = freeArea.next(entry, order: order, pages)
        guard next != NONE else { return }
        rotateFreeList(li, order: order, newHead: Pfn(link: next), walkedFromHead: true)
    }

    /// `move_freelist_head`: unless `entry` is the list's last, the entries before it go to the tail
    /// (`entry` becomes the head).
    func moveFreelistHead(_ li: Int, order: Int, entry: Pfn) {
        if freeArea.tails[li] == entry.link { return }
        rotateFreeList(li, order: order, newHead: entry, walkedFromHead: false)
    }

    /// Makes `newHead` (an entry of list `li`) its head, keeping the cyclic order of the entries.
    /// `walkedFromHead` says which side of newHead the caller's walk has just read (the free-list
    /// index relabels that side when it splits a segment there: those entries are in the cache).
    func rotateFreeList(_ li: Int, order: Int, newHead: Pfn, walkedFromHead: Bool) {
        let fa = freeArea, p = pages
        let oldHead = fa.heads[li], oldTail = fa.tails[li]
        guard oldHead != NONE, oldHead != newHead.link else { return }
        let newTail = fa.prev(newHead, order: order, p)
        // Close the cycle, then cut before newHead.
        fa.setNext(Pfn(link: oldTail), order: order, oldHead, p)
        fa.setPrev(Pfn(link: oldHead), order: order, oldTail, p)
        fa.setNext(Pfn(link: newTail), order: order, NONE, p)
        fa.setPrev(newHead, order: order, NONE, p)
        fa.heads[li] = newHead.link
        fa.tails[li] = newTail
        if let ix = freeListIndex, li % Migratetype.count == Migratetype.movable.rawValue, order < fa.maxOrder {
            ix.rotate(list: li, newHead: newHead.link, newTail: newTail, links: p, relabelBack: !walkedFromHead)
        }
    }
}
