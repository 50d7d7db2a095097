/// `struct contig_page_info`: what the fragmentation metrics are computed from (kernel-compaction.md §7.1).
public struct ContigPageInfo: Sendable, Equatable {
    /// T: free blocks of every order.
    public var freeBlocksTotal: UInt64
    /// F: free pages.
    public var freePages: UInt64
    /// S: free blocks of the requested order or larger, counted in units of 2^order.
    public var freeBlocksSuitable: UInt64

    /// `fill_contig_page_info`: gathers T, F and S from `nr_free` per order.
    public init(nrFree: [Int], order: Int) {
        var t: UInt64 = 0, f: UInt64 = 0, s: UInt64 = 0
        for (o, blocks) in nrFree.enumerated() {
            let b = UInt64(blocks)
            t += b
            f += b << UInt64(o)
            if o >= order { s += b << UInt64(o - order) }
        }
        freeBlocksTotal = t
        freePages = f
        freeBlocksSuitable = s
    }
}

/// The unusable free space index (`unusable_free_index`, §7.2): thousandths of free memory in blocks
/// smaller than 2^order; 1000 when nothing is free.
public func unusableFreeIndex(order: Int, _ info: ContigPageInfo) -> Int {
    if info.freePages == 0 { return 1000 }
    return Int((info.freePages - (info.freeBlocksSuitable << UInt64(order))) * 1000 / info.freePages)
}

/// The fragmentation index (`__fragmentation_index`, §7.4), in unsigned 64-bit integer arithmetic as
/// the kernel does it: 0 when nothing is free, -1000 when a suitable block exists, otherwise
/// 1000 - (1000 + F*1000/2^order) / T. Near 0 an allocation would fail for lack of memory, near 1000
/// because of fragmentation.
public func fragmentationIndex(order: Int, _ info: ContigPageInfo) -> Int {
    let requested = UInt64(1) << UInt64(order)
    if info.freeBlocksTotal == 0 { return 0 }
    if info.freeBlocksSuitable > 0 { return -1000 }
    // The quotient can exceed 1000 only when T = 1, which gives a value in [-500, 0]: signed result.
    return 1000 - Int((1000 + info.freePages * 1000 / requested) / info.freeBlocksTotal)
}

/// `extfrag_for_order` (§7.3): the unusable share in percent, as proactive compaction scores it.
public func extfragForOrder(order: Int, _ info: ContigPageInfo) -> Int {
    if info.freePages == 0 { return 0 }
    return Int((info.freePages - (info.freeBlocksSuitable << UInt64(order))) * 100 / info.freePages)
}

extension Machine {
    /// `nr_free[]` of a zone, all orders.
    public func nrFreeByOrder(zone z: ZoneID) -> [Int] { (0..<nrOrders).map { nrFree(zone: z, order: $0) } }

    public func contigPageInfo(zone z: ZoneID, order: Int) -> ContigPageInfo {
        ContigPageInfo(nrFree: nrFreeByOrder(zone: z), order: order)
    }

    /// `fragmentation_index(zone, order)`.
    public func fragmentationIndex(zone z: ZoneID, order: Int) -> Int {
        MMCore.fragmentationIndex(order: order, contigPageInfo(zone: z, order: order))
    }

    /// The unusable free space index of a zone at an order.
    public func unusableIndex(zone z: ZoneID, order: Int) -> Int {
        MMCore.unusableFreeIndex(order: order, contigPageInfo(zone: z, order: order))
    }
}
