/// Taking pages off the LRU for migration or reclaim, and putting them back.
extension Machine {
    /// Why a page could not be isolated (the kernel's `__isolate_lru_page` returning -EINVAL / -EBUSY).
    enum IsolateFailure { case notLru, unevictable }

    /// `__isolate_lru_page(page, ISOLATE_BOTH)` for compaction: the page must be an owned order-0 page on
    /// an LRU list (active or inactive, anon or file). Unevictable (mlocked) pages may be isolated only
    /// with `compact_unevictable_allowed` = 1 (the later sysctl; the seed refused them, see README).
    @inline(__always)
    func canIsolateForMigration(pfn: Int) -> Bool {
        let p = pages
        let s = p.state[pfn]
        guard s & PageState.codeMask == PageState.allocated, s & PageState.isolated == 0, p.a[pfn] != NONE else { return false }
        guard let l = currentLru(pfn: pfn), l != .slab else { return false }
        if l == .unevictable && compactUnevictableAllowed == 0 { return false }
        return true
    }

    /// Takes an owned LRU page off its list and marks it isolated (NR_ISOLATED_ANON/FILE go up).
    @inline(__always)
    func isolateLruPage(pfn: Int, zone z: Int) {
        let l = currentLru(pfn: pfn)!
        let slot = Int(pages.a[pfn])
        let n = 1 << Int(pages.order[pfn] & PageOrderByte.orderMask)
        lruDel(slot: slot, zone: z, list: l, pages: n)
        pages.state[pfn] |= PageState.isolated
        isolatedPages[z &* 2 &+ (PageState.kind(pages.state[pfn]) == .file ? 1 : 0)] &+= Int64(n)
    }

    /// `putback_lru_page`: an isolated page goes back to the head of its LRU list; if its owner freed it
    /// while it was isolated, the isolation held the last reference and the page is freed now.
    /// - Returns: true if the page was freed.
    @discardableResult
    func putbackLruPage(pfn: Int, zone z: Int) -> Bool {
        let p = pages
        let n = 1 << Int(p.order[pfn] & PageOrderByte.orderMask)
        isolatedPages[z &* 2 &+ (PageState.kind(p.state[pfn]) == .file ? 1 : 0)] &-= Int64(n)
        p.state[pfn] &= ~PageState.isolated
        let slot = p.a[pfn]
        if slot == NONE {
            releaseFrame(pfn: pfn, zone: z)
            return true
        }
        lruAdd(slot: Int(slot), zone: z, list: currentLru(pfn: pfn)!, pages: n)
        return false
    }
}
