extension Machine {
    /// `__rmqueue_smallest()`: the smallest block of at least `order` on `free_list[mt]`, taken from the
    /// list head and split down (kernel-compaction.md §2.2). Returns the head pfn, or nil (NULL).
    @inline(__always)
    func rmqueueSmallest(zone z: ZoneID, order: Int, mt: Migratetype) -> Pfn? {
        let fa = freeArea
        var li = fa.list(zone: z, order: order, mt: mt)
        for current in order..<nrOrders {
            let head = fa.heads[li]
            if head != NONE {
                let pfn = Pfn(link: head)
                removeFromFreeList(pfn, zone: z)
                if current > order { expand(pfn, zone: z, low: order, high: current, mt: mt) }
                return pfn
            }
            li &+= Migratetype.count
        }
        return nil
    }

    /// `__rmqueue()`: own migratetype first, then the fallback lists, and as a last resort the
    /// MIGRATE_RESERVE pageblocks (seed 2.6.35). Returns the head pfn, or nil (NULL).
    @inline(__always)
    func rmqueue(zone z: ZoneID, order: Int, mt: Migratetype) -> Pfn? {
        if let pfn = rmqueueSmallest(zone: z, order: order, mt: mt) { return pfn }
        if mt != .reserve {
            if let pfn = rmqueueFallback(zone: z, order: order, startMt: mt) { return pfn }
            return rmqueueSmallest(zone: z, order: order, mt: .reserve)
        }
        return nil
    }
}
