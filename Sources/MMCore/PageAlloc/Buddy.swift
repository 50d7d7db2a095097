extension Machine {
    /// `expand()`: a block of order `high` at `pfn` was taken off its list to satisfy an order-`low`
    /// request; give back the upper half at each level to the next lower order's `free_list[mt]` (at the
    /// list head, as the seed did), leaving the caller the lowest-addressed 2^low pages.
    @inline(__always)
    func expand(_ pfn: Pfn, zone: ZoneID, low: Int, high: Int, mt: Migratetype) {
        var high = high
        while high > low {
            high -= 1
            addToFreeList(pfn + (1 &<< high), zone: zone, order: high, mt: mt)
        }
    }

    /// `__free_one_page()`: put a block back, merging with its buddy (pfn XOR 2^order) while the buddy is
    /// a free block of the same order in the same zone, then add the result to the head of
    /// `free_list[mt]` of the final order. The seed always added at the head; the tail heuristic for
    /// blocks about to merge came in 2.6.37.
    /// - Returns: the head pfn and order of the block that ended up on the free list.
    @discardableResult
    @inline(__always)
    func freeOneBlock(_ pfn: Pfn, zone z: ZoneID, order: Int, mt: Migratetype) -> (pfn: Pfn, order: Int) {
        var pfn = pfn, order = order
        let zs = zones[z].startPfn, ze = zs + zones[z].spannedPages
        let maxOrder = nrOrders - 1
        let p = pages
        while order < maxOrder {
            let buddy = pfn.buddy(order: order)
            guard UInt(bitPattern: buddy &- zs) < UInt(bitPattern: ze &- zs),   // zs <= buddy < ze
                  p.state[buddy] & PageState.codeMask == PageState.buddy,
                  Int(p.order[buddy] & PageOrderByte.orderMask) == order
            else { break }
            removeFromFreeList(buddy, zone: z, orderBelowMax: order)
            pfn = pfn.merged(withBuddy: buddy)
            order += 1
        }
        addToFreeList(pfn, zone: z, order: order, mt: mt)
        return (pfn, order)
    }
}
