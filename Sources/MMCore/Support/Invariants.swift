extension Machine {
    /// The consistency checker: walks every zone page by page, every free list, the handle table and the
    /// LRU lists, and returns one line per violation (empty when the machine is consistent):
    /// - every pfn lies in exactly one block (a free buddy head or an allocated head, naturally aligned,
    ///   inside its zone) and every page inside a block is a tail;
    /// - free lists agree with page state: each entry is a free head of that order and migratetype, the
    ///   prev links mirror the next links, lengths and `nr_free` match, no block is on two lists;
    /// - no two free buddies of the same order are left unmerged;
    /// - per-CPU lists hold exactly the pages marked as on them, order 0, with the zone's `count`;
    /// - per-zone free counts agree with NR_FREE_PAGES and free + per-CPU + allocated = managed; the
    ///   PageReserved boot pages are exactly boot's reservations (spanned − managed), order 0, unowned;
    /// - every live handle names an allocated head that names it back; every LRU list holds exactly the
    ///   allocations that belong on it, with correct page counts; per-kind gauges match; NR_ISOLATED_ANON/FILE
    ///   count the pages taken off the LRU (isolated free pages of the compaction free scanner are not counted);
    /// - slab caches: every slab page of a cache is a live order-0 slab allocation holding 1...objectsPerSlab
    ///   objects, exactly as many as the object table places on it; the partial list holds exactly the
    ///   cache's pages with room; object, page and unused counts match; the unused LRU is consistent;
///   a dentry's child count matches the dentries naming it their parent, and one with children is not
///   on the LRU; every live buffer head is on the chain of a live page-cache page and names it.
    /// - Complexity: O(pages + allocations + slab objects).
    public func checkConsistency(limit: Int = 20) -> [String] {
        var errors: [String] = []
        func fail(_ s: @autoclosure () -> String) { if errors.count < limit { errors.append(s()) } }
        var tally = ConsistencyTally(zones: zones.count)
        for zone in zones where zone.populated {
            let walk = checkZonePages(zone, &tally, fail)
            checkPerCpuLists(zone, marked: walk.pcpMarked, fail)
            checkFreeLists(zone, headsPerOrder: walk.headsPerOrder, fail)
        }
        checkHandlesAndSwap(liveHeads: tally.liveHeads, fail)
        checkLruListsAndGauges(tally, fail)
        checkSlab(fail)
        checkPageCache(fail)
        checkZoneSplitCounters(fail)
        checkWritebackList(fail)
        if modern != nil { checkModernState(fail) }
        // The 6.6 free-list index, once its lists are known to be sound.
        if errors.isEmpty { checkFreeListIndex(fail) }
        return errors
    }

    /// The flusher's list names every dirty page once (unless the state gate refused it room), in the
    /// order they were dirtied; its work counts are in range.
    private func checkWritebackList(_ fail: (@autoclosure () -> String) -> Void) {
        let wb = writeback
        if wb.handles.count != wb.dirtiedAt.count || wb.head > wb.handles.count || wb.pending > wb.room { fail("writeback list: \(wb.handles.count) handles, \(wb.dirtiedAt.count) times, head \(wb.head), room \(wb.room)"); return }
        var listed = Set<Int>(), dirtyListed = 0
        var last: UInt64 = 0
        for i in wb.head..<wb.handles.count {
            if wb.dirtiedAt[i] < last { fail("writeback list: entry \(i) dirtied before the one ahead of it") }
            last = wb.dirtiedAt[i]
            guard let slot = handles.resolve(PageHandle(raw: wb.handles[i])), handles.pfn[slot] < SWAPPED,
                  pages.state[Pfn(link: handles.pfn[slot])] & PageState.dirty != 0 else { continue }
            if !listed.insert(slot).inserted { fail("writeback list names slot \(slot) twice") }
            dirtyListed += 1 << Int(pages.order[Pfn(link: handles.pfn[slot])] & PageOrderByte.orderMask)
        }
        if stateRefusals == 0 && dirtyListed != nrDirtyPages { fail("writeback list names \(dirtyListed) dirty pages of \(nrDirtyPages)") }
        if wb.requestedPages < 0 || wb.chunkLeft < 0 || wb.chunkLeft > WritebackState.maxWritebackPages { fail("writeback: work counts out of range") }
    }

    /// kswapd's steal is part of the zones' pgsteal, and 6.6's stalls by zone add up to its allocstall
    /// (the old kernels keep none by zone).
    private func checkZoneSplitCounters(_ fail: (@autoclosure () -> String) -> Void) {
        let zonesSteal = ev.pgstealByZone.reduce(0, &+), stalls = ev.allocstallByZone.reduce(0, &+)
        if ev.pgstealKswapd > zonesSteal { fail("kswapd_steal \(ev.pgstealKswapd) exceeds the zones' pgsteal \(zonesSteal)") }
        if stalls != (modern == nil ? 0 : ev.allocstall) {
            fail("allocstall_<zone> add up to \(stalls) on kernel \(kernel) with allocstall \(ev.allocstall)")
        }
    }

    /// What the page walk finds that the later checks compare their lists and gauges with.
    private struct ConsistencyTally {
        var liveHeads = 0
        var lruExpected: [Int64]
        /// Per zone, per kind (raw value) and per anon/file, what the gauges should say.
        var kindExpected: [[Int64]]
        var dirtyExpected: [Int64]
        var isolatedExpected: [[Int64]]

        init(zones: Int) {
            lruExpected = Array(repeating: 0, count: zones * LruList.count)
            kindExpected = Array(repeating: Array(repeating: 0, count: AllocKind.count), count: zones)
            dirtyExpected = Array(repeating: 0, count: zones)
            isolatedExpected = Array(repeating: [0, 0], count: zones)
        }
    }

    /// Walks a zone block by block: every pfn in exactly one naturally aligned block inside the zone,
    /// tails inside, free buddies merged, owners pointing back; free + per-CPU + allocated = managed.
    private func checkZonePages(_ zone: Zone, _ tally: inout ConsistencyTally,
                                _ fail: (@autoclosure () -> String) -> Void) -> (pcpMarked: Int, headsPerOrder: [Int]) {
        let p = pages
        let z = zone.id
        var freePages = 0, allocatedPages = 0, pcpMarked = 0, reservedPages = 0
        var headsPerOrder = Array(repeating: 0, count: nrOrders)
        var pfn = zone.startPfn
        while pfn < zone.endPfn {
            let s = p.state[pfn]
            let maxFree = freeArea.isFreeMaxBlock(pfn)
            if maxFree && s != 0 { fail("pfn \(pfn) is a free max-order block but its page state is \(s)") }
            let code = maxFree ? PageState.buddy : PageState.code(s)
            let order = maxFree ? nrOrders - 1 : Int(p.order[pfn] & PageOrderByte.orderMask)
            guard code != PageState.tail else { fail("pfn \(pfn) in zone \(z) is a tail where a block head was expected"); pfn += 1; continue }
            guard order < nrOrders, pfn.isAligned(order: order), pfn + (1 << order) <= zone.endPfn else {
                fail("pfn \(pfn): order \(order) block misaligned or outside zone \(z)"); pfn += 1; continue
            }
            for t in (pfn + 1)..<(pfn + (1 << order)) where PageState.code(p.state[t]) != PageState.tail || freeArea.isFreeMaxBlock(t) {
                fail("pfn \(t) lies inside the order-\(order) block at \(pfn) but is a head (overlap)")
                break
            }
            if code == PageState.buddy {
                freePages += 1 << order
                headsPerOrder[order] += 1
                if order < nrOrders - 1 {
                    let buddy = pfn.buddy(order: order)
                    if zone.contains(pfn: buddy), isBuddy(buddy), buddyOrder(buddy) == order, !freeBuddiesMayStayApart(order: order) {
                        fail("free buddies \(pfn) and \(buddy) of order \(order) were not merged")
                    }
                }
            } else if code == PageState.pcp {
                pcpMarked += 1
                if order != 0 { fail("per-CPU page \(pfn) has order \(order)") }
            } else if PageState.isIsolatedFreePage(s) {
                allocatedPages += 1 << order
                if order != 0 || p.nextOrOwner[pfn] != NONE { fail("isolated free page \(pfn) has order \(order) or an owner") }
            } else if s == PageState.reserved {
                reservedPages += 1
                if order != 0 || p.nextOrOwner[pfn] != NONE { fail("reserved boot page \(pfn) has order \(order) or an owner") }
                if !bootMemory.ranges.contains(where: { pfn >= $0.start && pfn < $0.start + $0.pages }) {
                    fail("pfn \(pfn) is PageReserved outside boot's reservations")
                }
            } else {
                allocatedPages += 1 << order
                checkAllocatedHead(pfn, order: order, zone: z, &tally, fail)
            }
            pfn += 1 << order
        }
        if freePages != zoneCounters.freePages[zone.id] { fail("zone \(z): \(freePages) free pages found, NR_FREE_PAGES says \(zoneCounters.freePages[zone.id])") }
        if freePages + pcpMarked + allocatedPages != zone.managedPages {
            fail("zone \(z): free \(freePages) + per-CPU \(pcpMarked) + allocated \(allocatedPages) != managed \(zone.managedPages)")
        }
        if reservedPages != zone.spannedPages - zone.managedPages {
            fail("zone \(z): \(reservedPages) PageReserved pages, boot reserved \(zone.spannedPages - zone.managedPages)")
        }
        return (pcpMarked, headsPerOrder)
    }

    /// An allocated block's head: counted for the gauges and LRU lists; its owner's slot points back
    /// (or it has no owner only while isolated, freed from under the compactor).
    private func checkAllocatedHead(_ pfn: Pfn, order: Int, zone z: ZoneID, _ tally: inout ConsistencyTally,
                                    _ fail: (@autoclosure () -> String) -> Void) {
        let p = pages
        let s = p.state[pfn]
        let kind = PageState.kind(s)
        tally.kindExpected[z][Int(kind.rawValue)] += Int64(1 << order)
        if s & PageState.dirty != 0 { tally.dirtyExpected[z] += Int64(1 << order) }
        if s & PageState.isolated != 0 { tally.isolatedExpected[z][IsolatedLru(kind: kind).rawValue] += Int64(1 << order) }
        let slot = p.nextOrOwner[pfn]
        if slot == NONE {
            if s & PageState.isolated == 0 { fail("allocated pfn \(pfn) has no owner and is not isolated") }
            return
        }
        tally.liveHeads += 1
        if Int(slot) >= handles.capacity || handles.pfn[Int(slot)] != pfn.link {
            fail("allocated pfn \(pfn) names slot \(slot), which does not point back")
        }
        if let l = currentLru(pfn: pfn) { tally.lruExpected[LruStore.index(zone: z, list: l.rawValue)] += Int64(1 << order) }
    }

    /// The zone's per-CPU lists hold exactly the pages marked per-CPU, linked both ways, counted.
    private func checkPerCpuLists(_ zone: Zone, marked pcpMarked: Int, _ fail: (@autoclosure () -> String) -> Void) {
        let p = pages
        let z = zone.id
        var pcpListed = 0
        for mt in Migratetype.pcpCases {
            let li = pcp.list(zone: z, mt: mt)
            var cur = pcp.heads[li], prev = NONE, n = 0
            while cur != NONE {
                let c = Pfn(link: cur)
                if !zone.contains(pfn: c) || PageState.code(p.state[c]) != PageState.pcp {
                    fail("per-CPU list (zone \(z), mt \(mt)) holds pfn \(c), which is not a per-CPU page of that zone"); break
                }
                if p.prevOrContent[c] != prev { fail("per-CPU list (zone \(z), mt \(mt)): broken prev link at \(c)"); break }
                prev = cur
                cur = p.nextOrOwner[c]
                n += 1
                if n > zone.spannedPages { fail("per-CPU list (zone \(z), mt \(mt)) is cyclic"); break }
            }
            if pcp.tails[li] != prev { fail("per-CPU list (zone \(z), mt \(mt)): tail mismatch") }
            pcpListed += n
        }
        if pcpListed != pcpMarked || pcpListed != Int(pcp.count[z]) {
            fail("zone \(z): \(pcpMarked) per-CPU pages, \(pcpListed) listed, pcp count \(pcp.count[z])")
        }
    }

    /// The zone's free lists agree with page state: each entry a free head of that order and
    /// migratetype, links mirrored, lengths and nr_free right, no block on two lists or on none.
    private func checkFreeLists(_ zone: Zone, headsPerOrder: [Int], _ fail: (@autoclosure () -> String) -> Void) {
        let p = pages
        let z = zone.id
        for o in 0..<nrOrders {
            var total = 0
            for mt in Migratetype.allCases {
                let li = freeArea.list(zone: z, order: o, mt: mt)
                var cur = freeArea.heads[li], prev = NONE, n = 0
                while cur != NONE {
                    let c = Pfn(link: cur)
                    if !zone.contains(pfn: c) || !isBuddy(c) || buddyOrder(c) != o || freeListMigratetype(c) != mt {
                        fail("free list (zone \(z), order \(o), mt \(mt)) holds pfn \(c), which is not a free head of that list")
                        break
                    }
                    if freeArea.prev(c, order: o, p) != prev { fail("free list (zone \(z), order \(o), mt \(mt)): broken prev link at \(c)"); break }
                    prev = cur
                    cur = freeArea.next(c, order: o, p)
                    n += 1
                    if n > zone.spannedPages { fail("free list (zone \(z), order \(o), mt \(mt)) is cyclic"); break }
                }
                if freeArea.tails[li] != prev { fail("free list (zone \(z), order \(o), mt \(mt)): tail mismatch") }
                if Int(freeArea.lengths[li]) != n { fail("free list (zone \(z), order \(o), mt \(mt)): length \(freeArea.lengths[li]) but \(n) entries") }
                total += n
            }
            if total != headsPerOrder[o] { fail("zone \(z) order \(o): \(headsPerOrder[o]) free heads but \(total) list entries (a block on two lists or on none)") }
            if nrFree(zone: z, order: o) != total { fail("zone \(z) order \(o): nr_free \(nrFree(zone: z, order: o)) but \(total) list entries") }
        }
    }

    /// Every live handle names its allocation (or swap), and the counts of both agree.
    private func checkHandlesAndSwap(liveHeads: Int, _ fail: (@autoclosure () -> String) -> Void) {
        let p = pages
        var swapped = 0
        for s in 0..<handles.capacity where handles.pfn[s] == SWAPPED { swapped += 1 }
        if swapped != swapUsed { fail("\(swapped) swapped-out allocations but swap usage says \(swapUsed)") }
        if swapUsed > swapPages { fail("swap usage \(swapUsed) exceeds swap size \(swapPages)") }
        if liveHeads + swapped != handles.live { fail("\(handles.live) live handles but \(liveHeads) owned allocations and \(swapped) swapped") }
        for s in 0..<handles.capacity where handles.pfn[s] != NONE && handles.pfn[s] != SWAPPED {
            let pfn = Pfn(link: handles.pfn[s])
            if pfn.rawValue >= totalPages || PageState.code(p.state[pfn]) != PageState.allocated || p.nextOrOwner[pfn] != UInt32(s) {
                fail("handle slot \(s) points at pfn \(pfn), which is not its allocation")
            }
        }
    }

    /// Every LRU list holds exactly the allocations that belong on it, with the right page count; the
    /// per-kind, dirty and isolated gauges match the pages.
    private func checkLruListsAndGauges(_ tally: ConsistencyTally, _ fail: (@autoclosure () -> String) -> Void) {
        let p = pages
        // The hugetlb pool's slots: live `kernel` allocations of more than one page, counted by zone.
        var poolPages = [Int64](repeating: 0, count: zones.count)
        for slot in hugetlbSlots.sorted() {
            guard Int(slot) < handles.capacity, handles.pfn[Int(slot)] < SWAPPED else { fail("hugetlb pool slot \(slot) is not live"); continue }
            let pfn = Pfn(link: handles.pfn[Int(slot)])
            let order = Int(p.order[pfn] & PageOrderByte.orderMask)
            if PageState.kind(p.state[pfn]) != .kernel || order == 0 { fail("hugetlb pool slot \(slot) is no kernel block") }
            poolPages[zoneId(ofPfn: pfn).rawValue] += Int64(1 << order)
        }
        if poolPages.reduce(0, +) != Int64(hugetlbPoolPages) { fail("hugetlb pool: \(hugetlbPoolPages) pages counted, its slots hold \(poolPages.reduce(0, +))") }
        for z in zoneIDs {
            for l in LruList.allCases {
                let li = LruStore.index(zone: z, list: l.rawValue)
                var cur = lru.heads[li], prev = NONE, n: Int64 = 0, entries = 0
                while cur != NONE {
                    let s = Int(cur)
                    guard s < handles.capacity, handles.pfn[s] != NONE, handles.pfn[s] != SWAPPED else { fail("LRU \(l.name) of zone \(z) holds a dead slot \(s)"); break }
                    let pfn = Pfn(link: handles.pfn[s])
                    if zoneId(ofPfn: pfn) != z || currentLru(pfn: pfn) != l { fail("LRU \(l.name) of zone \(z) holds slot \(s) which belongs elsewhere") }
                    if handles.lruPrev[s] != prev { fail("LRU \(l.name) of zone \(z): broken prev link at slot \(s)"); break }
                    n += Int64(1 << Int(p.order[pfn] & PageOrderByte.orderMask))
                    prev = cur
                    cur = handles.lruNext[s]
                    entries += 1
                    if entries > handles.capacity { fail("LRU \(l.name) of zone \(z) is cyclic"); break }
                }
                if lru.tails[li] != prev { fail("LRU \(l.name) of zone \(z): tail mismatch") }
                if n != lru.pages[li] { fail("LRU \(l.name) of zone \(z): counter \(lru.pages[li]) but \(n) pages listed") }
                if n != tally.lruExpected[li] { fail("LRU \(l.name) of zone \(z): \(n) pages listed but \(tally.lruExpected[li]) belong there") }
            }
            for kind in AllocKind.allCases where zoneCounters.kindPages[z, kind] != tally.kindExpected[z][Int(kind.rawValue)] {
                fail("zone \(z) kind \(kind.rawValue): gauge \(zoneCounters.kindPages[z, kind]) but \(tally.kindExpected[z][Int(kind.rawValue)]) pages")
            }
            if zoneCounters.dirty[z] != tally.dirtyExpected[z] { fail("zone \(z): nr_dirty \(zoneCounters.dirty[z]) but \(tally.dirtyExpected[z]) dirty pages") }
            // Page tables, stacks and pool pages are `kernel` pages that are not slab, and the pool's
            // share of them is what its slots hold in this zone.
            let pool = poolPages[z.rawValue]
            let notSlab = zoneCounters.kernelNotSlab[z]
            if zoneCounters.pageTables[z] < 0 || zoneCounters.kernelStacks[z] < 0 || notSlab < zoneCounters.pageTables[z] + pool
                || notSlab > zoneCounters.kindPages[z, .kernel] {
                fail("zone \(z): nr_page_table_pages \(zoneCounters.pageTables[z]), nr_kernel_stack \(zoneCounters.kernelStacks[z]), pool pages \(pool) and kernel pages outside slab \(notSlab) of \(zoneCounters.kindPages[z, .kernel]) do not add up")
            }
            for t in [IsolatedLru.anon, .file] where zoneCounters.isolated[z, t] != tally.isolatedExpected[z][t.rawValue] {
                fail("zone \(z): nr_isolated_\(t == .file ? "file" : "anon") \(zoneCounters.isolated[z, t]) but \(tally.isolatedExpected[z][t.rawValue]) isolated pages")
            }
        }
    }

    private func checkSlab(_ fail: (@autoclosure () -> String) -> Void) {
        let objects = checkSlabObjects(fail)
        checkDentryTree(objects, fail)
        checkBufferHeadChains(objects, fail)
        let pages = checkSlabPages(objects, fail)
        for c in 0..<slab.caches.count { checkSlabCache(c, objects: objects, pages: pages, fail) }
    }

    /// What the walk over the live slab objects found, per slab page (slot) and per cache.
    private struct SlabObjectTally {
        var perSlot: [Int: Int] = [:]
        var objects: [Int]
        /// Objects flagged as on their cache's unused LRU.
        var unusedFlagged: [Int]
        /// Dentries by parent: how many name it their parent.
        var children: [Int: Int] = [:]

        init(caches: Int) { (objects, unusedFlagged) = (Array(repeating: 0, count: caches), Array(repeating: 0, count: caches)) }
    }

    /// Every live object sits on a slab page of its cache, pins only live objects, and has a live dentry
    /// as its parent (if any).
    private func checkSlabObjects(_ fail: (@autoclosure () -> String) -> Void) -> SlabObjectTally {
        let nc = slab.caches.count
        var t = SlabObjectTally(caches: nc)
        for i in 0..<slab.objSlab.count where slab.objSlab[i] != NONE {
            let s = Int(slab.objSlab[i]), c = Int(slab.objFlags[i] & 0x0F)
            guard c < nc, s < handles.capacity, slab.cache(ofSlot: s) == c else { fail("slab object \(i) of cache \(c) sits on slot \(s), which is not a slab of that cache"); continue }
            t.perSlot[s, default: 0] += 1
            t.objects[c] += 1
            if slab.objFlags[i] & SlabStore.onLru != 0 { t.unusedFlagged[c] += 1 }
            let l = slab.objLink[i]
            if c != SlabCache.bufferHead.rawValue && l != NONE && (Int(l) >= slab.objSlab.count || slab.objSlab[Int(l)] == NONE) {
                fail("slab object \(i) pins freed object \(l)")
            }
            let parent = slab.objParent[i]
            if parent != NONE {
                if Int(parent) >= slab.objSlab.count || slab.objSlab[Int(parent)] == NONE || slab.objFlags[Int(parent)] & 0x0F != UInt8(SlabCache.dentry.rawValue) {
                    fail("dentry \(i) has parent \(parent), which is not a live dentry")
                } else {
                    t.children[Int(parent), default: 0] += 1
                }
            }
        }
        return t
    }

    /// A dentry's child count is the number of dentries naming it their parent, and one with children
    /// is never on the unused LRU (dput keeps it in use).
    private func checkDentryTree(_ t: SlabObjectTally, _ fail: (@autoclosure () -> String) -> Void) {
        for i in 0..<slab.objSlab.count where slab.objSlab[i] != NONE {
            let n = Int(slab.objChildren[i])
            if n != t.children[i, default: 0] { fail("dentry \(i) counts \(n) children but \(t.children[i, default: 0]) name it their parent") }
            if n > 0 && slab.objFlags[i] & SlabStore.onLru != 0 { fail("dentry \(i) has \(n) children but is on the unused LRU") }
        }
    }

    /// Buffer heads: every page-cache page's chain holds live buffer heads that name it, every live
    /// buffer head is on its page's chain, and those past the file's end come last.
    private func checkBufferHeadChains(_ t: SlabObjectTally, _ fail: (@autoclosure () -> String) -> Void) {
        var chained = 0
        for s in 0..<handles.capacity where slab.bufferHeads[s] != 0 {
            let pfn = handles.pfn[s]
            if pfn == NONE || pfn == SWAPPED || PageState.kind(pages.state[Pfn(link: pfn)]) != .file {
                fail("slot \(s) has buffer heads but is not a live page-cache page"); continue
            }
            var cur = slab.bufferHeads[s] &- 1, n = 0
            var pastEOF = false
            while cur != NONE {
                let i = Int(cur)
                guard i < slab.objSlab.count, slab.objSlab[i] != NONE, slab.objFlags[i] & 0x0F == UInt8(SlabCache.bufferHead.rawValue),
                      slab.objLink[i] == UInt32(s) else { fail("page slot \(s): buffer head \(i) is not a live buffer head of this page"); break }
                // The blocks past the file's end are the page's last ones.
                let beyond = slab.objFlags[i] & SlabStore.beyondEOF != 0
                if pastEOF && !beyond { fail("page slot \(s): buffer head \(i) within the file follows one past its end") }
                pastEOF = beyond
                n += 1
                if n > slab.objSlab.count { fail("page slot \(s): buffer head chain is cyclic"); break }
                cur = slab.objNext[i]
            }
            chained += n
        }
        if chained != t.objects[SlabCache.bufferHead.rawValue] {
            fail("\(t.objects[SlabCache.bufferHead.rawValue]) live buffer heads but \(chained) on their pages' chains")
        }
    }

    /// Slab pages per cache, and those with room (which must be on the cache's partial list).
    private struct SlabPageTally {
        var slabs: [Int]
        var partialExpected: [Set<Int>]
    }

    /// Every slab page is a live order-0 allocation of its cache's page kind and holds as many objects
    /// as it counts, between one and a full slab.
    private func checkSlabPages(_ t: SlabObjectTally, _ fail: (@autoclosure () -> String) -> Void) -> SlabPageTally {
        let nc = slab.caches.count
        var p = SlabPageTally(slabs: Array(repeating: 0, count: nc), partialExpected: Array(repeating: Set<Int>(), count: nc))
        for s in 0..<handles.capacity where slab.info[s] != 0 {
            let c = slab.cache(ofSlot: s), n = slab.count(ofSlot: s)
            guard c >= 0 && c < nc else { fail("slot \(s) has slab info for unknown cache \(c)"); continue }
            p.slabs[c] += 1
            let pfn = handles.pfn[s]
            let kind = SlabCache(rawValue: c)?.pageKind ?? .slab
            if pfn == NONE || pfn == SWAPPED || PageState.kind(pages.state[Pfn(link: pfn)]) != kind || pages.order[Pfn(link: pfn)] & PageOrderByte.orderMask != 0 {
                fail("slab page of cache \(c) at slot \(s) is not a live order-0 \(kind.name) allocation")
            }
            if n < 1 || n > slab.caches[c].objectsPerSlab { fail("slab page at slot \(s) of cache \(c) holds \(n) objects (1...\(slab.caches[c].objectsPerSlab))") }
            if t.perSlot[s, default: 0] != n { fail("slab page at slot \(s) counts \(n) objects but \(t.perSlot[s, default: 0]) sit on it") }
            if n < slab.caches[c].objectsPerSlab { p.partialExpected[c].insert(s) }
        }
        return p
    }

    /// One cache's counts, its partial list (exactly the slabs with room) and its unused LRU (exactly
    /// the objects flagged unused).
    private func checkSlabCache(_ c: Int, objects t: SlabObjectTally, pages p: SlabPageTally, _ fail: (@autoclosure () -> String) -> Void) {
        let st = slab.caches[c]
        if st.objects != t.objects[c] { fail("cache \(c): \(st.objects) objects counted but \(t.objects[c]) live") }
        if st.slabs != p.slabs[c] { fail("cache \(c): \(st.slabs) slabs counted but \(p.slabs[c]) found") }
        var partial = Set<Int>(), cur = st.partialHead, prev = NONE
        while cur != NONE {
            let s = Int(cur)
            if handles.lruPrev[s] != prev { fail("cache \(c): broken partial list at slot \(s)"); break }
            if !partial.insert(s).inserted { fail("cache \(c): partial list is cyclic"); break }
            prev = cur
            cur = handles.lruNext[s]
        }
        if partial != p.partialExpected[c] { fail("cache \(c): partial list holds \(partial.count) slabs, \(p.partialExpected[c].count) have room") }
        var n = 0
        cur = st.unusedHead; prev = NONE
        while cur != NONE {
            let i = Int(cur)
            if slab.objSlab[i] == NONE || slab.objFlags[i] & SlabStore.onLru == 0 || Int(slab.objFlags[i] & 0x0F) != c { fail("cache \(c): unused LRU holds object \(i), which is not an unused object of it"); break }
            if slab.objPrev[i] != prev { fail("cache \(c): broken unused LRU at object \(i)"); break }
            prev = cur
            cur = slab.objNext[i]
            n += 1
            if n > slab.objSlab.count { fail("cache \(c): unused LRU is cyclic"); break }
        }
        if st.unusedTail != prev { fail("cache \(c): unused LRU tail mismatch") }
        if n != st.nrUnused || n != t.unusedFlagged[c] { fail("cache \(c): nr_unused \(st.nrUnused), \(n) listed, \(t.unusedFlagged[c]) flagged") }
    }
}
