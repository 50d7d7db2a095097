extension Machine {
    /// The consistency checker: walks every zone page by page, every free list, the handle table and the
    /// LRU lists, and returns one line per violation (empty when the machine is consistent):
    /// - every pfn lies in exactly one block (a free buddy head or an allocated head, naturally aligned,
    ///   inside its zone) and every page inside a block is a tail;
    /// - free lists agree with page state: each entry is a free head of that order and migratetype, the
    ///   prev links mirror the next links, lengths and `nr_free` match, no block is on two lists;
    /// - no two free buddies of the same order are left unmerged;
    /// - per-CPU lists hold exactly the pages marked as on them, order 0, with the zone's `count`;
    /// - per-zone free counts agree with NR_FREE_PAGES and free + per-CPU + allocated = managed;
    /// - every live handle names an allocated head that names it back; every LRU list holds exactly the
    ///   allocations that belong on it, with correct page counts; per-kind gauges match.
    /// - Complexity: O(pages + allocations).
    public func checkConsistency(limit: Int = 20) -> [String] {
        var errors: [String] = []
        func fail(_ s: @autoclosure () -> String) { if errors.count < limit { errors.append(s()) } }
        let p = pages
        var liveHeads = 0
        var lruExpected = Array(repeating: Int64(0), count: zones.count * LruList.count)
        var kindExpected = Array(repeating: Int64(0), count: zones.count * 5)
        var dirtyExpected = Array(repeating: Int64(0), count: zones.count)

        for zone in zones where zone.populated {
            let z = zone.id
            var freePages = 0, allocatedPages = 0, pcpMarked = 0
            var headsPerOrder = Array(repeating: 0, count: nrOrders)
            var pfn = zone.startPfn
            while pfn < zone.endPfn {
                let s = p.state[pfn]
                let maxFree = freeArea.isFreeMaxBlock(pfn)
                if maxFree && s != 0 { fail("pfn \(pfn) is a free max-order block but its page state is \(s)") }
                let code = maxFree ? PageState.buddy : PageState.code(s)
                let order = maxFree ? nrOrders - 1 : Int(p.order[pfn] & PageOrderByte.orderMask)
                guard code != PageState.tail else { fail("pfn \(pfn) in zone \(z) is a tail where a block head was expected"); pfn += 1; continue }
                guard order < nrOrders, pfn & ((1 << order) - 1) == 0, pfn + (1 << order) <= zone.endPfn else {
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
                        let buddy = pfn ^ (1 << order)
                        if zone.contains(pfn: buddy), isBuddy(buddy), buddyOrder(buddy) == order {
                            fail("free buddies \(pfn) and \(buddy) of order \(order) were not merged")
                        }
                    }
                } else if code == PageState.pcp {
                    pcpMarked += 1
                    if order != 0 { fail("per-CPU page \(pfn) has order \(order)") }
                } else if PageState.isIsolatedFreePage(s) {
                    allocatedPages += 1 << order
                    if order != 0 || p.a[pfn] != NONE { fail("isolated free page \(pfn) has order \(order) or an owner") }
                } else {
                    allocatedPages += 1 << order
                    let kind = PageState.kind(s)
                    kindExpected[z * 5 + Int(kind.rawValue)] += Int64(1 << order)
                    if s & PageState.dirty != 0 { dirtyExpected[z] += Int64(1 << order) }
                    let slot = p.a[pfn]
                    if slot == NONE {
                        if s & PageState.isolated == 0 { fail("allocated pfn \(pfn) has no owner and is not isolated") }
                    } else {
                        liveHeads += 1
                        if Int(slot) >= handles.capacity || handles.pfn[Int(slot)] != UInt32(pfn) {
                            fail("allocated pfn \(pfn) names slot \(slot), which does not point back")
                        }
                        if let l = currentLru(pfn: pfn) { lruExpected[z * LruList.count + l.rawValue] += Int64(1 << order) }
                    }
                }
                pfn += 1 << order
            }
            if freePages != zoneFreePages[zone.id] { fail("zone \(z): \(freePages) free pages found, NR_FREE_PAGES says \(zoneFreePages[zone.id])") }
            if freePages + pcpMarked + allocatedPages != zone.managedPages {
                fail("zone \(z): free \(freePages) + per-CPU \(pcpMarked) + allocated \(allocatedPages) != managed \(zone.managedPages)")
            }
            // Per-CPU lists.
            var pcpListed = 0
            for mt in 0..<Migratetype.pcpTypes {
                let li = pcp.list(zone: z, mt: mt)
                var cur = pcp.heads[li], prev = NONE, n = 0
                while cur != NONE {
                    let c = Int(cur)
                    if !zone.contains(pfn: c) || PageState.code(p.state[c]) != PageState.pcp {
                        fail("per-CPU list (zone \(z), mt \(mt)) holds pfn \(c), which is not a per-CPU page of that zone"); break
                    }
                    if p.b[c] != prev { fail("per-CPU list (zone \(z), mt \(mt)): broken prev link at \(c)"); break }
                    prev = cur
                    cur = p.a[c]
                    n += 1
                    if n > zone.spannedPages { fail("per-CPU list (zone \(z), mt \(mt)) is cyclic"); break }
                }
                if pcp.tails[li] != prev { fail("per-CPU list (zone \(z), mt \(mt)): tail mismatch") }
                pcpListed += n
            }
            if pcpListed != pcpMarked || pcpListed != Int(pcp.count[z]) {
                fail("zone \(z): \(pcpMarked) per-CPU pages, \(pcpListed) listed, pcp count \(pcp.count[z])")
            }
            // Free lists.
            for o in 0..<nrOrders {
                var total = 0
                for mt in 0..<Migratetype.count {
                    let li = freeArea.list(zone: z, order: o, mt: mt)
                    var cur = freeArea.heads[li], prev = NONE, n = 0
                    while cur != NONE {
                        let c = Int(cur)
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
        var swapped = 0
        for s in 0..<handles.capacity where handles.pfn[s] == SWAPPED { swapped += 1 }
        if swapped != swapUsed { fail("\(swapped) swapped-out allocations but swap usage says \(swapUsed)") }
        if swapUsed > swapPages { fail("swap usage \(swapUsed) exceeds swap size \(swapPages)") }
        if liveHeads + swapped != handles.live { fail("\(handles.live) live handles but \(liveHeads) owned allocations and \(swapped) swapped") }
        for s in 0..<handles.capacity where handles.pfn[s] != NONE && handles.pfn[s] != SWAPPED {
            let pfn = Int(handles.pfn[s])
            if pfn >= totalPages || PageState.code(p.state[pfn]) != PageState.allocated || p.a[pfn] != UInt32(s) {
                fail("handle slot \(s) points at pfn \(pfn), which is not its allocation")
            }
        }
        // LRU lists.
        for z in zones.indices {
            for l in LruList.allCases {
                let li = z * LruList.count + l.rawValue
                var cur = lru.heads[li], prev = NONE, n: Int64 = 0, entries = 0
                while cur != NONE {
                    let s = Int(cur)
                    guard s < handles.capacity, handles.pfn[s] != NONE, handles.pfn[s] != SWAPPED else { fail("LRU \(l.name) of zone \(z) holds a dead slot \(s)"); break }
                    let pfn = Int(handles.pfn[s])
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
                if n != lruExpected[li] { fail("LRU \(l.name) of zone \(z): \(n) pages listed but \(lruExpected[li]) belong there") }
            }
            for k in 0..<5 where kindPages[z * 5 + k] != kindExpected[z * 5 + k] {
                fail("zone \(z) kind \(k): gauge \(kindPages[z * 5 + k]) but \(kindExpected[z * 5 + k]) pages")
            }
            if dirtyPages[z] != dirtyExpected[z] { fail("zone \(z): nr_dirty \(dirtyPages[z]) but \(dirtyExpected[z]) dirty pages") }
        }
        return errors
    }
}
