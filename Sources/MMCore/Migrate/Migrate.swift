/// Page migration (mm/migrate.c as of 2.6.35, kernel-compaction.md §10): move an isolated page's
/// contents, state and owner to a free target page, then free the old page.
extension Machine {
    /// What `unmap_and_move` decided for one page.
    enum MigrateOutcome { case migrated, freedUnderUs, retry, noTarget }

    /// Whether migration of this page fails for good this pass: a pinned page has an extra reference
    /// (`get_user_pages`), so the refcount check fails and the kernel returns -EAGAIN on every pass.
    @inline(__always)
    func migrationBlocked(pfn: Pfn) -> Bool {
        PageState.kind(pages.state[pfn]) == .pinned
    }

    /// `unmap_and_move` for one isolated page, with `target` as the new page (already taken from the
    /// compactor's private free list). The owner's handle is repointed (the reverse map walk), the
    /// content words, kind, dirty/active/referenced/mlocked state move, and the old frame goes back to
    /// the buddy allocator. A page whose owner freed it while isolated is not migrated (the seed's fix
    /// for the anon_vma race): both it and the unused target are freed.
    @inline(__always)
    func unmapAndMove(pfn: Pfn, target: Pfn, zone z: ZoneID) -> MigrateOutcome {
        let p = pages
        if p.nextOrOwner[pfn] == NONE {
            // page_count(page) == 1: freed from under us. The target goes back to the allocator.
            putbackLruPage(pfn: pfn, zone: z)
            freeIsolatedTarget(target, zone: z)
            return .freedUnderUs
        }
        if migrationBlocked(pfn: pfn) { return .retry }
        let s = p.state[pfn], ob = p.order[pfn]
        let slot = Int(p.nextOrOwner[pfn])
        // The new page takes the old one's state (kind, dirty, active), order byte (referenced,
        // mlocked), owner slot and content word, and goes back on the LRU (`putback_lru_page(newpage)`).
        let newState = s & ~PageState.isolated
        p.state[target] = newState
        p.order[target] = ob
        p.nextOrOwner[target] = p.nextOrOwner[pfn]
        p.prevOrContent[target] = p.prevOrContent[pfn]
        handles.pfn[slot] = target.link
        // Its list: a plain one (code below `LruList.count`) unless the state says otherwise
        // (`lruCode(pfn: target)` from the bytes just written).
        let code = Int(UInt8(truncatingIfNeeded: headLruInfo[Machine.headLruIndex(state: newState, orderByte: ob)]))
        if code < LruList.count {
            lruAdd(slot: slot, listIndex: LruStore.index(zone: z, list: code), pages: 1)
        } else {
            lruAdd(slot: slot, zone: z, list: currentLru(pfn: target)!, pages: 1)
        }
        // The old page has no references left: it stops being isolated and is freed.
        zoneCounters.isolated[z, IsolatedLru(kindRaw: PageState.kindRawValue(s))] &-= 1
        p.nextOrOwner[pfn] = NONE
        // `releaseFrame` of the old order-0 page without its counters: the zone's per-kind and dirty
        // counts would go up for the new page and down for the old one by the same page, so they stay.
        // (`freeHotColdPage` writes the old page's state and order bytes, as `releaseFrame` leaves it to.)
        freeHotColdPage(pfn, zone: z, cold: false)
        return .migrated
    }

    /// A target page taken from the private free list but not used: freed to the buddy allocator
    /// (the seed's `putback_lru_page(newpage)` on a page nobody maps).
    func freeIsolatedTarget(_ pfn: Pfn, zone z: ZoneID) {
        pages.state[pfn] = PageState.tail
        pages.order[pfn] = 0
        freeHotColdPage(pfn, zone: z, cold: false)
    }

    /// `migrate_pages(from, compaction_alloc, cc)`: up to 10 passes over the isolated list; pages that
    /// return -EAGAIN are retried; -ENOMEM (no target page) ends it. Returns (migrated, failed) where
    /// failed counts pages left on the list, which the caller puts back.
    func migratePages(_ cc: inout CompactControl) -> (migrated: Int, failed: Int) {
        // The pages are worked on in `cc.migrateScratch` (its buffer kept from batch to batch) and
        // filtered in place there: a page that moved (or was freed) leaves it, a page to retry stays in
        // its place, in order. `cc.migratepages` keeps the whole batch until the end, as the kernel's
        // `cc->nr_migratepages` keeps its count while `migrate_pages` runs (`isolate_freepages` reads it).
        var list: [Int32] = []
        swap(&list, &cc.migrateScratch)
        list.removeAll(keepingCapacity: true)
        list.append(contentsOf: cc.migratepages)
        defer { swap(&list, &cc.migrateScratch) }
        // compaction_alloc takes targets from the end of `cc.freepages`: `free` counts those left, and the
        // list is cut back to it before anything else reads or grows it (isolate_freepages, and the end).
        var free = cc.freepages.count
        defer { cc.freepages.removeLast(cc.freepages.count - free) }
        var migrated = 0
        // Pages moved (not freed under us): each costs `costs.migratePage` of simulated time, added once at
        // the end (the run's time is only read between steps, and the sum of wrapping adds is the same).
        var moved = 0
        var pass = 0
        var retry = true
        while pass < 10 && retry {
            retry = false
            var kept = 0
            var i = 0
            var stop = false
            // The pass reads and filters the list through its buffer (no bounds checks or count reloads
            // a page); `cc` is another variable, so `isolate_freepages` may grow `cc.freepages` meanwhile.
            let n = list.count
            list.withUnsafeMutableBufferPointer { buf in
                while i < n {
                    let pfn = Pfn(entry: buf[i])
                    // compaction_alloc: refill the private free list when it runs dry.
                    if free == 0 {
                        cc.freepages.removeAll(keepingCapacity: true)
                        isolateFreepages(&cc)
                        free = cc.freepages.count
                        if free == 0 { stop = true; return }   // -ENOMEM
                    }
                    free -= 1
                    let target = Pfn(entry: cc.freepages[free])
                    switch unmapAndMove(pfn: pfn, target: target, zone: cc.zone) {
                    case .migrated:
                        migrated += 1
                        moved &+= 1
                        i += 1
                    case .freedUnderUs:
                        migrated += 1
                        cc.freedWhileIsolated += 1
                        i += 1
                    case .retry:
                        releaseRetriedTarget(target, zone: cc.zone, free: &free)
                        cc.durationNs &+= costs.migrateFail
                        retry = true
                        buf[kept] = buf[i]
                        kept += 1
                        i += 1
                    case .noTarget:
                        stop = true
                        return
                    }
                }
            }
            Machine.closeRetryGap(&list, kept: kept, reached: i)
            if stop { break }
            pass += 1
        }
        cc.durationNs &+= UInt64(moved) &* costs.migratePage
        cc.migratepages.removeAll(keepingCapacity: true)
        cc.migratepages.append(contentsOf: list)
        return (migrated, list.count)
    }

    /// The target of a page that returned -EAGAIN. 2.6.35's `unmap_and_move`: `putback_lru_page(newpage)`
    /// frees the unused target to the buddy allocator (there is no `put_new_page` callback yet), so each
    /// retry of a page that cannot move costs compaction one isolated free page. 6.6: `put_new_page`
    /// (`compaction_free`) returns it to the private list (to its end, where it still is: `free` counts
    /// the targets left there).
    @inline(__always)
    private func releaseRetriedTarget(_ target: Pfn, zone: ZoneID, free: inout Int) {
        if modern == nil { freeIsolatedTarget(target, zone: zone) } else { free += 1 }
    }

    /// After a pass that kept `kept` pages for a retry out of the `reached` it worked on: what it did not
    /// reach (after -ENOMEM) moves up to follow them, in order.
    @inline(__always)
    static func closeRetryGap(_ list: inout [Int32], kept: Int, reached i: Int) {
        guard kept < i else { return }
        let rest = list.count - i
        for k in 0..<rest { list[kept &+ k] = list[i &+ k] }
        list.removeLast(i - kept)
    }
}
