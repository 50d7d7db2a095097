/// The buddy free lists of every zone (`zone->free_area[order]`): for each (zone, order, migratetype) a
/// doubly linked list of free block heads, threaded through the pages' `nextOrOwner` (next) and
/// `prevOrContent` (prev) words, with its head, tail and length; and `nr_free` per (zone, order) over all migratetypes.
///
/// A free head's `order` byte records its order (bits 0-3) and which migratetype list it is on (bits 4-6),
/// which is what `list_del` needs to find the list again.
///
/// Free blocks of the largest order are the exception: their state and links live in small per-block
/// arrays (`maxState`, `maxNext`, `maxPrev`, indexed by pfn >> maxOrder) and their pages stay zero.
/// A new machine is all such blocks, so creating one writes a few bytes per 4 MiB instead of faulting in
/// all of its page state (a 1 TiB machine is created in milliseconds).
struct FreeAreaStore {
    let nrOrders: Int
    let maxOrder: Int
    let heads: RawArray<UInt32>
    let tails: RawArray<UInt32>
    let lengths: RawArray<UInt32>
    let nrFree: RawArray<UInt32>
    /// Per max-order block: 0, or 1 + the migratetype list it is on when it is a free max-order block.
    let maxState: RawArray<UInt8>
    let maxNext: RawArray<UInt32>
    let maxPrev: RawArray<UInt32>

    init(zones: Int, nrOrders: Int, totalPages: Int, arena: RawArena) {
        self.nrOrders = nrOrders
        maxOrder = nrOrders - 1
        let lists = zones * nrOrders * Migratetype.count
        heads = RawArray(repeating: NONE, count: lists, arena: arena)
        tails = RawArray(repeating: NONE, count: lists, arena: arena)
        lengths = RawArray(zeroed: lists, arena: arena)
        nrFree = RawArray(zeroed: zones * nrOrders, arena: arena)
        let blocks = (totalPages >> maxOrder) + 1
        maxState = RawArray(zeroed: blocks, arena: arena)
        maxNext = RawArray(zeroed: blocks, arena: arena)
        maxPrev = RawArray(zeroed: blocks, arena: arena)
    }

    /// The index of `free_area[order].free_list[mt]` of `zone` in `heads`, `tails` and `lengths`.
    @inline(__always) func list(zone: ZoneID, order: Int, mt: Migratetype) -> Int {
        (zone.rawValue &* nrOrders &+ order) &* Migratetype.count &+ mt.rawValue
    }

    var byteCount: Int {
        heads.byteCount + tails.byteCount + lengths.byteCount + nrFree.byteCount + maxState.byteCount
            + maxNext.byteCount + maxPrev.byteCount
    }

    /// `pfn` heads a free block of the largest order.
    @inline(__always) func isFreeMaxBlock(_ pfn: Pfn) -> Bool {
        pfn.isAligned(order: maxOrder) && maxState[pfn.blockIndex(order: maxOrder)] != 0
    }

    // Links of a list entry: in the page arrays, or in the per-block arrays for the largest order.
    @inline(__always) func next(_ pfn: Pfn, order: Int, _ p: PageArrays) -> UInt32 {
        order == maxOrder ? maxNext[pfn.blockIndex(order: maxOrder)] : p.nextOrOwner[pfn]
    }
    @inline(__always) func prev(_ pfn: Pfn, order: Int, _ p: PageArrays) -> UInt32 {
        order == maxOrder ? maxPrev[pfn.blockIndex(order: maxOrder)] : p.prevOrContent[pfn]
    }
    @inline(__always) func setNext(_ pfn: Pfn, order: Int, _ v: UInt32, _ p: PageArrays) {
        if order == maxOrder { maxNext[pfn.blockIndex(order: maxOrder)] = v } else { p.nextOrOwner[pfn] = v }
    }
    @inline(__always) func setPrev(_ pfn: Pfn, order: Int, _ v: UInt32, _ p: PageArrays) {
        if order == maxOrder { maxPrev[pfn.blockIndex(order: maxOrder)] = v } else { p.prevOrContent[pfn] = v }
    }
}

extension Machine {
    /// `list_add` (or `list_add_tail`) of a free block head onto `free_list[mt]` of its order; marks it
    /// PageBuddy with its order and bumps `nr_free`.
    @inline(__always)
    func addToFreeList(_ pfn: Pfn, zone: ZoneID, order: Int, mt: Migratetype, atTail: Bool = false) {
        let fa = freeArea, p = pages
        let li = fa.list(zone: zone, order: order, mt: mt)
        let p32 = pfn.link
        if atTail {
            let t = fa.tails[li]
            fa.setNext(pfn, order: order, NONE, p)
            fa.setPrev(pfn, order: order, t, p)
            if t != NONE { fa.setNext(Pfn(link: t), order: order, p32, p) } else { fa.heads[li] = p32 }
            fa.tails[li] = p32
        } else {
            let h = fa.heads[li]
            fa.setNext(pfn, order: order, h, p)
            fa.setPrev(pfn, order: order, NONE, p)
            if h != NONE { fa.setPrev(Pfn(link: h), order: order, p32, p) } else { fa.tails[li] = p32 }
            fa.heads[li] = p32
        }
        fa.lengths[li] &+= 1
        fa.nrFree[zone.rawValue &* fa.nrOrders &+ order] &+= 1
        if let ix = freeListIndex {
            ix.noteBuddyHeadAdded(pfn)
            if mt == .movable && order < fa.maxOrder { ix.add(p32, list: li, atTail: atTail) }
        }
        if order == fa.maxOrder {
            fa.maxState[pfn.blockIndex(order: order)] = UInt8(truncatingIfNeeded: mt.rawValue) &+ 1
        } else {
            p.state[pfn] = PageState.buddy
            p.order[pfn] = UInt8(truncatingIfNeeded: order) | PageOrderByte.migratetypeBits(mt)
        }
    }

    /// `list_del` of a free block head from whichever list it is on; clears PageBuddy and drops `nr_free`.
    @inline(__always)
    func removeFromFreeList(_ pfn: Pfn, zone: ZoneID) {
        let fa = freeArea, p = pages
        let order: Int, mt: Migratetype
        if fa.isFreeMaxBlock(pfn) {
            order = fa.maxOrder
            mt = Migratetype(rawValue: Int(fa.maxState[pfn.blockIndex(order: order)]) &- 1)
            fa.maxState[pfn.blockIndex(order: order)] = 0
        } else {
            let ob = p.order[pfn]
            order = Int(ob & PageOrderByte.orderMask)
            mt = PageOrderByte.migratetype(ob)
            p.state[pfn] = PageState.tail
            p.order[pfn] = 0
        }
        let li = fa.list(zone: zone, order: order, mt: mt)
        let next = fa.next(pfn, order: order, p), prev = fa.prev(pfn, order: order, p)
        if prev != NONE { fa.setNext(Pfn(link: prev), order: order, next, p) } else { fa.heads[li] = next }
        if next != NONE { fa.setPrev(Pfn(link: next), order: order, prev, p) } else { fa.tails[li] = prev }
        fa.lengths[li] &-= 1
        fa.nrFree[zone.rawValue &* fa.nrOrders &+ order] &-= 1
        if let ix = freeListIndex {
            ix.noteBuddyHeadRemoved(pfn)
            if mt == .movable && order < fa.maxOrder { ix.remove(pfn.link, list: li, before: prev, after: next, links: p) }
        }
    }

    /// `removeFromFreeList` of a free head whose order, below the largest, the caller knows (a buddy
    /// being merged): its links and list are in the page arrays, so no per-block array is looked at.
    @inline(__always)
    func removeFromFreeList(_ pfn: Pfn, zone: ZoneID, orderBelowMax order: Int) {
        let fa = freeArea, p = pages
        let mt = PageOrderByte.migratetype(p.order[pfn])
        p.state[pfn] = PageState.tail
        p.order[pfn] = 0
        let li = fa.list(zone: zone, order: order, mt: mt)
        let next = p.nextOrOwner[pfn], prev = p.prevOrContent[pfn]
        if prev != NONE { p.nextOrOwner[Pfn(link: prev)] = next } else { fa.heads[li] = next }
        if next != NONE { p.prevOrContent[Pfn(link: next)] = prev } else { fa.tails[li] = prev }
        fa.lengths[li] &-= 1
        fa.nrFree[zone.rawValue &* fa.nrOrders &+ order] &-= 1
        if let ix = freeListIndex {
            ix.noteBuddyHeadRemoved(pfn)
            if mt == .movable { ix.remove(pfn.link, list: li, before: prev, after: next, links: p) }
        }
    }

    /// `list_move` of a free head to the head of another migratetype's list of the same order.
    @inline(__always)
    func moveFreeBlock(_ pfn: Pfn, zone: ZoneID, toMigratetype mt: Migratetype) {
        let order = buddyOrder(pfn)
        removeFromFreeList(pfn, zone: zone)
        addToFreeList(pfn, zone: zone, order: order, mt: mt)
    }

    /// The buddy order of a free head (`page_order`).
    @inline(__always) func buddyOrder(_ pfn: Pfn) -> Int {
        freeArea.isFreeMaxBlock(pfn) ? freeArea.maxOrder : Int(pages.order[pfn] & PageOrderByte.orderMask)
    }

    /// `PageBuddy`: pfn is the head of a free block.
    @inline(__always) func isBuddy(_ pfn: Pfn) -> Bool {
        pages.state[pfn] & PageState.codeMask == PageState.buddy || freeArea.isFreeMaxBlock(pfn)
    }

    /// `PageBuddy(page) ? page_order(page) : -1`: `isBuddy` and `buddyOrder` in one look.
    @inline(__always) func freeBlockOrder(_ pfn: Pfn) -> Int {
        let p = pages
        let code = p.state[pfn] & PageState.codeMask
        if code == PageState.buddy { return Int(p.order[pfn] & PageOrderByte.orderMask) }
        // A free block of the largest order is PageBuddy by `maxState`; its head's bytes are a tail's.
        return code == PageState.tail && freeArea.isFreeMaxBlock(pfn) ? freeArea.maxOrder : -1
    }

    /// The migratetype list a free head is on.
    @inline(__always) func freeListMigratetype(_ pfn: Pfn) -> Migratetype {
        freeArea.isFreeMaxBlock(pfn) ? Migratetype(rawValue: Int(freeArea.maxState[pfn.blockIndex(order: freeArea.maxOrder)]) - 1)
            : PageOrderByte.migratetype(pages.order[pfn])
    }

    /// `nr_free` of (zone, order).
    @inline(__always) public func nrFree(zone: ZoneID, order: Int) -> Int {
        Int(freeArea.nrFree[zone.rawValue * nrOrders + order])
    }

    /// Number of blocks on `free_list[mt]` of (zone, order): what /proc/pagetypeinfo counts by walking the list.
    public func freeListLength(zone: ZoneID, order: Int, mt: Migratetype) -> Int {
        Int(freeArea.lengths[freeArea.list(zone: zone, order: order, mt: mt)])
    }

    /// The pfns on one free list, head first (for tests and invariant checks).
    public func freeListPfns(zone: ZoneID, order: Int, mt: Migratetype) -> [Pfn] {
        var out: [Pfn] = []
        var cur = freeArea.heads[freeArea.list(zone: zone, order: order, mt: mt)]
        while cur != NONE {
            out.append(Pfn(link: cur))
            cur = freeArea.next(Pfn(link: cur), order: order, pages)
        }
        return out
    }
}
