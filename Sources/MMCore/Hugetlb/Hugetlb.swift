/// The hugetlb pool's allocation path of 2.6.35 (mm/hugetlb.c), as writing `nr_hugepages` (hugeadm
/// --pool-pages-min) drives it. A pool page leaves the buddy allocator for good: it is kept as a
/// kind-`kernel` allocation (never on an LRU, never reclaimed or migrated; 2.6.35 cannot migrate
/// hugetlb pages), in the pageblock its migratetype chose.
extension Machine {
    /// `htlb_alloc_mask`: GFP_HIGHUSER, or GFP_HIGHUSER_MOVABLE while vm.hugepages_treat_as_movable is 1
    /// (hugetlb_treat_movable_handler).
    public var htlbAllocMask: GFPFlags { hugepagesTreatAsMovable == 1 ? .highuserMovable : .highuser }

    /// `alloc_fresh_huge_page_node`: one huge page from node `nid` only, with
    /// htlb_alloc_mask|__GFP_COMP|__GFP_THISNODE|__GFP_REPEAT|__GFP_NOWARN (no __GFP_NORETRY, so not the
    /// GFP_THISNODE triple: the slow path compacts and reclaims on that node, and __GFP_REPEAT retries
    /// while this call's direct reclaim has freed fewer than 2^order pages: `should_alloc_retry`).
    /// Gives up when the order is not below MAX_ORDER.
    func allocFreshHugePageNode(order: Int, nid: NodeID) throws(MMError) -> AllocOutcome {
        guard order < nrOrders else { return AllocOutcome() }
        let gfp = htlbAllocMask.union([.comp, .thisnode, .repeat, .nowarn])
        return try allocate(AllocRequest(order: order, kind: .kernel, node: nid.rawValue, gfp: gfp))
    }

    /// `hstate_next_node_to_alloc`: the node the cursor names, and the cursor moved to the next node.
    func hstateNextNodeToAlloc() -> Int {
        let nid = hugetlbNextNid % nodeCount
        hugetlbNextNid = (nid + 1) % nodeCount
        return nid
    }

    /// `alloc_fresh_huge_page`: starting at the round-robin cursor, try each node once and stop at the
    /// first success; the cursor advances on every try. Counts `htlb_buddy_alloc_success` or
    /// `htlb_buddy_alloc_fail`. The outcome's latency and stalls cover every node tried.
    public func allocFreshHugePage(order: Int) throws(MMError) -> AllocOutcome {
        let start = clockNs
        let startNid = hstateNextNodeToAlloc()
        var nid = startNid
        var combined = AllocOutcome()
        repeat {
            let o = try allocFreshHugePageNode(order: order, nid: NodeID(nid))
            combined.stalledInCompaction = combined.stalledInCompaction || o.stalledInCompaction
            combined.stalledInReclaim = combined.stalledInReclaim || o.stalledInReclaim
            combined.pagesReclaimed += o.pagesReclaimed
            if o.succeeded {
                let reclaimed = combined.pagesReclaimed
                combined = o
                combined.pagesReclaimed = reclaimed
                break
            }
            nid = hstateNextNodeToAlloc()
        } while nid != startNid
        combined.latencyNs = clockNs &- start
        if combined.succeeded { ev.htlbBuddyAllocSuccess &+= 1 } else { ev.htlbBuddyAllocFail &+= 1 }
        if let h = combined.handle { noteHugetlbPage(h) }
        return combined
    }

    /// `prep_new_huge_page`: the page belongs to the pool now. It is no slab (2.6.35 counts pool pages in
    /// no vmstat item: /proc/meminfo's HugePages_Total has them), so it leaves NR_SLAB_UNRECLAIMABLE's
    /// share of the `kernel` kind.
    func noteHugetlbPage(_ h: PageHandle) {
        guard let info = try? allocationInfo(h) else { return }
        hugetlbSlots.insert(UInt32(handles.slot(of: h)))
        hugetlbPoolPages += 1 << info.order
        zoneCounters.kernelNotSlab[info.zone] &+= Int64(1 << info.order)
    }

    /// Called as a slot's allocation is freed (`update_and_free_page` for a pool page): a pool page's
    /// pages leave `kernelNotSlab`. Only the general free path calls it (a pool page is never order 0).
    @inline(__always)
    func noteFreedIfHugetlb(slot: Int, zone z: ZoneID, pages n: Int) {
        if _fastPath(hugetlbSlots.isEmpty) { return }
        if hugetlbSlots.remove(UInt32(truncatingIfNeeded: slot)) != nil {
            hugetlbPoolPages -= n
            zoneCounters.kernelNotSlab[z] &-= Int64(n)
        }
    }
}
