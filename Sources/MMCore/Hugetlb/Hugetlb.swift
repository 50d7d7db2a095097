/// The hugetlb pool's allocation path (mm/hugetlb.c), as writing `nr_hugepages` (hugeadm
/// --pool-pages-min) drives it: 2.6.35's, and 6.6's where it differs. A pool page leaves the buddy
/// allocator for good: it is kept as a kind-`kernel` allocation (never on an LRU, never reclaimed or
/// migrated; 2.6.35 cannot migrate hugetlb pages, and 6.6's compaction leaves them where they are unless
/// it works for alloc_contig), in the pageblock its migratetype chose.
extension Machine {
    /// `htlb_alloc_mask`. 2.6.34 and 2.6.35: GFP_HIGHUSER, or GFP_HIGHUSER_MOVABLE while
    /// vm.hugepages_treat_as_movable is 1 (hugetlb_treat_movable_handler). 6.6 has no such sysctl: the mask
    /// is GFP_HIGHUSER_MOVABLE when `hugepage_movable_supported` holds for the huge page (x86_64, ppc64:
    /// `ArchPreset.hugepageMigrationSupported`), GFP_HIGHUSER otherwise.
    public var htlbAllocMask: GFPFlags {
        if !kernel.hasHugepagesTreatAsMovable { return preset.hugepageMigrationSupported ? .highuserMovable : .highuser }
        return hugepagesTreatAsMovable == 1 ? .highuserMovable : .highuser
    }

    /// One huge page from node `nid` only. 2.6.35's `alloc_fresh_huge_page_node`:
    /// htlb_alloc_mask|__GFP_COMP|__GFP_THISNODE|__GFP_REPEAT|__GFP_NOWARN (no __GFP_NORETRY, so not the
    /// GFP_THISNODE triple: the slow path compacts and reclaims on that node, and __GFP_REPEAT retries
    /// while this call's direct reclaim has freed fewer than 2^order pages: `should_alloc_retry`).
    /// 6.6's `alloc_pool_huge_page` → `alloc_buddy_hugetlb_folio`: htlb_alloc_mask|__GFP_THISNODE|
    /// __GFP_COMP|__GFP_NOWARN, and __GFP_RETRY_MAYFAIL (`.repeat` in the 6.6 slow path) only when
    /// `tryHard` (the node has not failed a try-hard allocation in this write: `node_alloc_noretry`).
    /// Gives up when the order is not below MAX_ORDER.
    func allocFreshHugePageNode(order: Int, nid: NodeID, tryHard: Bool) throws(MMError) -> AllocOutcome {
        guard order < nrOrders else { return AllocOutcome() }
        var gfp = htlbAllocMask.union([.comp, .thisnode, .nowarn])
        if tryHard { gfp.insert(.repeat) }
        return try allocate(AllocRequest(order: order, kind: .kernel, node: nid.rawValue, gfp: gfp))
    }

    /// `hstate_next_node_to_alloc`: the node the cursor names, and the cursor moved to the next node.
    func hstateNextNodeToAlloc() -> Int {
        let nid = hugetlbNextNid % nodeCount
        hugetlbNextNid = (nid + 1) % nodeCount
        return nid
    }

    /// `allocFreshHugePage(order:noretry:)` as the only allocation of a write of nr_hugepages.
    public func allocFreshHugePage(order: Int) throws(MMError) -> AllocOutcome {
        // A write of its own: no node marked.
        var noretry: UInt64 = 0
        return try allocFreshHugePage(order: order, noretry: &noretry)
    }

    /// `alloc_fresh_huge_page` (6.6: `alloc_pool_huge_page`): starting at the round-robin cursor, try each
    /// node once and stop at the first success; the cursor advances on every try. Counts
    /// `htlb_buddy_alloc_success` or `htlb_buddy_alloc_fail`. The outcome's latency and stalls cover every
    /// node tried. `noretry` is 6.6's `node_alloc_noretry` of the current write of nr_hugepages (bit n:
    /// node n), cleared by `set_max_huge_pages` at each write: a node whose try-hard allocation failed is
    /// tried without __GFP_RETRY_MAYFAIL until an allocation on it succeeds again
    /// (`alloc_buddy_hugetlb_folio`). 2.6.35 tries hard every time and leaves it alone.
    public func allocFreshHugePage(order: Int, noretry: inout UInt64) throws(MMError) -> AllocOutcome {
        let start = clockNs
        let startNid = hstateNextNodeToAlloc()
        var nid = startNid
        var combined = AllocOutcome()
        repeat {
            let bit = UInt64(1) << UInt64(nid & 63)
            let tryHard = !kernel.isModern || noretry & bit == 0
            let o = try allocFreshHugePageNode(order: order, nid: NodeID(nid), tryHard: tryHard)
            if kernel.isModern {
                if o.succeeded && !tryHard { noretry &= ~bit }
                if !o.succeeded && tryHard { noretry |= bit }
            }
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
