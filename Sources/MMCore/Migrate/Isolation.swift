/// Taking pages off the LRU for migration or reclaim, and putting them back.
extension Machine {
    /// Why a page could not be isolated (the kernel's `__isolate_lru_page` returning -EINVAL / -EBUSY).
    enum IsolateFailure { case notLru, unevictable }

    /// `__isolate_lru_page(page, ISOLATE_BOTH)` for compaction: the page must be an owned order-0 page on
    /// an LRU list (active or inactive, anon or file). Unevictable (mlocked) pages may be isolated only
    /// with `compact_unevictable_allowed` = 1 (the later sysctl; the seed refused them, see README).
    @inline(__always)
    func canIsolateForMigration(pfn: Pfn) -> Bool { migrationLru(pfn: pfn) >= 0 }

    /// `canIsolateForMigration` answering with the raw value of the LRU list the page is on (so that the
    /// isolation need not look it up again), or -1 when the page cannot be isolated.
    @inline(__always)
    func migrationLru(pfn: Pfn) -> Int {
        let p = pages
        let s = p.state[pfn]
        guard s & PageState.codeMask == PageState.allocated, s & PageState.isolated == 0, p.nextOrOwner[pfn] != NONE else { return -1 }
        // Plain lists have codes below `.slab`; the slab codes and `lruCodeNone` are above it.
        let l = Int(lruCode(pfn: pfn))
        guard l < LruList.slab.rawValue else { return -1 }
        if l == LruList.unevictable.rawValue && compactUnevictableAllowed == 0 { return -1 }
        return l
    }

    /// Takes an owned LRU page off its list and marks it isolated (NR_ISOLATED_ANON/FILE go up).
    @inline(__always)
    func isolateLruPage(pfn: Pfn, zone z: ZoneID) {
        isolateLruPage(pfn: pfn, zone: z, list: currentLru(pfn: pfn)!.rawValue)
    }

    /// `isolateLruPage` of a page the caller knows is on list `l` (a raw `LruList` value).
    @inline(__always)
    func isolateLruPage(pfn: Pfn, zone z: ZoneID, list l: Int) {
        let p = pages
        let slot = Int(p.nextOrOwner[pfn])
        let n = 1 &<< Int(p.order[pfn] & PageOrderByte.orderMask)
        lruUnlink(slot: slot, listIndex: LruStore.index(zone: z, list: l), pages: n)
        handles.lruNext[slot] = NONE
        handles.lruPrev[slot] = NONE
        let s = p.state[pfn]
        p.state[pfn] = s | PageState.isolated
        zoneCounters.isolated[z, IsolatedLru(kindRaw: PageState.kindRawValue(s))] &+= Int64(n)
    }

    /// `putback_lru_page`: an isolated page goes back to the head of its LRU list; if its owner freed it
    /// while it was isolated, the isolation held the last reference and the page is freed now.
    /// - Returns: true if the page was freed.
    @discardableResult
    func putbackLruPage(pfn: Pfn, zone z: ZoneID) -> Bool {
        let p = pages
        let n = 1 << Int(p.order[pfn] & PageOrderByte.orderMask)
        zoneCounters.isolated[z, IsolatedLru(kind: PageState.kind(p.state[pfn]))] &-= Int64(n)
        p.state[pfn] &= ~PageState.isolated
        let slot = p.nextOrOwner[pfn]
        if slot == NONE {
            releaseFrame(pfn: pfn, zone: z)
            return true
        }
        lruAdd(slot: Int(slot), zone: z, list: currentLru(pfn: pfn)!, pages: n)
        return false
    }
}
