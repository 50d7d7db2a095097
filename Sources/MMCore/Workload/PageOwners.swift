/// Which workload actor holds an allocation, so that the actor learns when the kernel takes it away.
///
/// A workload actor counts what it holds (`WorkloadRun.ActorState.pages`) and stops allocating at its
/// `maxFraction`. Its own frees (an expiry, its processes' exits) it counts itself; but reclaim frees some
/// of its allocations behind its back: `shrink_page_list` drops its clean page-cache pages
/// (`__remove_from_page_cache` → `mapping->nrpages--`: the kernel keeps the owner's count true as it
/// evicts, mm/filemap.c), and the slab page shrinker frees its cache-less slab pages. Those frees tell
/// the owner here: each actor has an owner id, each of its allocations carries the id (with the slot's
/// generation, so a tag left on a slot whose allocation someone else freed never names a later one),
/// and an owner-less free adds the pages to its owner's `reclaimed` count, which the actor reads before
/// it next decides whether to allocate. O(1) per allocation and per reclaimed page; nothing is scanned.
///
/// The table exists only while a run with actors is going: the last run to finish drops it (so the
/// state of a machine no workload is running on is the same with and without it: machine images do not
/// hold it, and need not). Its bytes are the machine's (`stateBytes`, part "page_owners") and grow
/// through the state gate.
struct PageOwners {
    /// Per handle slot: (the slot's generation when tagged) << 32 | owner id, or 0 for no owner.
    var tags: [UInt64] = []
    /// Per owner id (index 0 unused): pages of its allocations freed by someone other than the owner.
    var reclaimed: [Int] = []
    /// Owner ids issued and not yet released; at 0 the table is dropped.
    var active = 0

    var byteCount: Int {
        HeapCost.array(capacity: tags.capacity, stride: MemoryLayout<UInt64>.stride)
            + HeapCost.array(capacity: reclaimed.capacity, stride: MemoryLayout<Int>.stride)
    }
}

extension Machine {
    /// A new owner id for an actor, or nil if the state gate refuses the room for it.
    func registerPageOwner() -> Int? {
        if pageOwners.reclaimed.isEmpty {
            guard reserveGated(&pageOwners.reclaimed, 2) else { return nil }
            pageOwners.reclaimed.append(0)
        } else {
            guard reserveGated(&pageOwners.reclaimed) else { return nil }
        }
        guard pageOwners.reclaimed.count <= Int(UInt32.max) else { return nil }
        pageOwners.reclaimed.append(0)
        pageOwners.active += 1
        return pageOwners.reclaimed.count - 1
    }

    /// An owner is done (its run finished): with no owner left the table is dropped.
    func releasePageOwner() {
        pageOwners.active -= 1
        if pageOwners.active <= 0 { pageOwners = PageOwners() }
    }

    /// Room in the tag table for every slot issued so far plus `margin`, asking the state gate when it
    /// must grow. False if refused.
    func reservePageOwnerTags(margin: Int) -> Bool {
        let need = Swift.min(handles.pfn.count, handles.used &+ margin)
        if pageOwners.tags.count >= need { return true }
        let n = need - pageOwners.tags.count
        guard reserveGated(&pageOwners.tags, n) else { return false }
        pageOwners.tags.append(contentsOf: repeatElement(0, count: n))
        return true
    }

    /// Marks live allocation `h` as held by owner `id`. False if the state gate refused the room.
    func setPageOwner(_ h: PageHandle, owner id: Int) -> Bool {
        guard let s = handles.resolveIssued(h) else { return true }
        if s >= pageOwners.tags.count {
            guard reservePageOwnerTags(margin: Swift.max(1024, pageOwners.tags.count)) else { return false }
        }
        pageOwners.tags[s] = UInt64(handles.generation[s]) << 32 | UInt64(id)
        return true
    }

    /// Pages of owner `id`'s allocations that others freed so far.
    func pagesReclaimed(fromOwner id: Int) -> Int { pageOwners.reclaimed[id] }

    /// The allocation in `slot`, headed at `pfn`, is freed by reclaim, not by its owner: its owner (if it
    /// has one, and the tag is this allocation's) is told its pages. Call before the slot is released.
    /// Without actors (no tags) it costs one compare: the order is read only for an owned allocation.
    @inline(__always)
    func noteOwnerlessFree(slot s: Int, pfn: Pfn) {
        guard s < pageOwners.tags.count else { return }
        let t = pageOwners.tags[s]
        guard t != 0 else { return }
        pageOwners.tags[s] = 0
        if UInt32(truncatingIfNeeded: t >> 32) == handles.generation[s] {
            pageOwners.reclaimed[Int(t & 0xFFFF_FFFF)] &+= 1 &<< Int(pages.order[pfn] & PageOrderByte.orderMask)
        }
    }
}
