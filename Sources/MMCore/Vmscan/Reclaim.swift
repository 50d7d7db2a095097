/// Page reclaim as the seed's mm/vmscan.c did it (2.6.35), the baseline compaction was measured against:
/// per-zone LRU lists scanned from the tail in batches of SWAP_CLUSTER_MAX at decreasing priorities,
/// lumpy reclaim for higher orders (kernel-compaction.md §9.1), and slab shrinking in proportion to the
/// LRU pages scanned.
///
/// What the simulation simplifies, and why it does not change the shape of results: pages carry no
/// access history, so reclaim never sees a referenced page (the kernel would rotate it once); the
/// anon/file split is the kernel's default for untouched lists (swappiness 60: anon 30 %, file 70 %);
/// swap-out frees the page in the pass that writes it, while dirty page-cache pages are written on one
/// pass and freed on the next (or on lumpy reclaim's synchronous second pass, as the seed did).
struct ScanControl {
    let gfp: GFPFlags
    var order: Int
    let isKswapd: Bool
    var nrToReclaim: Int = Machine.swapClusterMax
    var nrReclaimed = 0
    var nrScanned = 0
    var mayWritepage = true
    var durationNs: UInt64 = 0
}

/// A reclaimed allocation that stays live: an anon page whose contents went to swap.
let SWAPPED: UInt32 = NONE - 1

extension Machine {
    public static let swapClusterMax = 32
    /// DEF_PRIORITY: the first pass scans lru_pages >> 12.
    public static let defPriority = 12

    // MARK: - LRU helpers

    /// `inactive_anon_is_low`: inactive × inactive_ratio < active.
    func inactiveAnonIsLow(zone z: ZoneID) -> Bool {
        lruPages(zone: z, list: .inactiveAnon) * inactiveRatio(zone: z) < lruPages(zone: z, list: .activeAnon)
    }

    /// `inactive_file_is_low`: more active than inactive page cache.
    func inactiveFileIsLow(zone z: ZoneID) -> Bool {
        lruPages(zone: z, list: .activeFile) > lruPages(zone: z, list: .inactiveFile)
    }

    /// The LRU pages reclaim could touch in a zone.
    func zoneReclaimablePages(zone z: ZoneID) -> Int {
        var n = lruPages(zone: z, list: .inactiveFile) + lruPages(zone: z, list: .activeFile)
        if swapUsed < swapPages { n += lruPages(zone: z, list: .inactiveAnon) + lruPages(zone: z, list: .activeAnon) }
        return n
    }

    // MARK: - shrink_zone

    /// `shrink_zone` at one priority: scan each evictable list by its size >> priority, split between
    /// anon and file (no anon scanning without free swap), 32 pages at a time, until enough is reclaimed.
    func shrinkZone(zone z: ZoneID, priority: Int, _ sc: inout ScanControl) {
        let noswap = swapUsed >= swapPages
        let anonPercent = noswap ? 0 : 30, filePercent = noswap ? 100 : 70
        var nr = [Int](repeating: 0, count: 4)
        for l in [LruList.inactiveAnon, .activeAnon, .inactiveFile, .activeFile] {
            var scan = lruPages(zone: z, list: l)
            if priority > 0 || noswap {
                scan >>= priority
                scan = scan * (l.isFile ? filePercent : anonPercent) / 100
            }
            // nr_scan_try_batch: small amounts are batched up to one cluster.
            nr[l.rawValue] = scan > 0 && scan < Machine.swapClusterMax && priority < Machine.defPriority ? Machine.swapClusterMax : scan
        }
        let start = sc.nrReclaimed
        while nr[LruList.inactiveAnon.rawValue] > 0 || nr[LruList.activeFile.rawValue] > 0 || nr[LruList.inactiveFile.rawValue] > 0 {
            for l in [LruList.inactiveAnon, .activeAnon, .inactiveFile, .activeFile] where nr[l.rawValue] > 0 {
                let n = min(nr[l.rawValue], Machine.swapClusterMax)
                nr[l.rawValue] -= n
                shrinkList(l, n, zone: z, priority: priority, &sc)
            }
            if sc.nrReclaimed - start >= sc.nrToReclaim && priority < Machine.defPriority { break }
        }
        if !noswap && inactiveAnonIsLow(zone: z) {
            shrinkActiveList(Machine.swapClusterMax, zone: z, file: false, &sc)
        }
    }

    /// `shrink_list`: an active list is only aged (when its inactive list is low); an inactive one is reclaimed.
    func shrinkList(_ l: LruList, _ n: Int, zone z: ZoneID, priority: Int, _ sc: inout ScanControl) {
        switch l {
        case .activeFile:
            if inactiveFileIsLow(zone: z) { shrinkActiveList(n, zone: z, file: true, &sc) }
        case .activeAnon:
            if inactiveAnonIsLow(zone: z) { shrinkActiveList(n, zone: z, file: false, &sc) }
        case .inactiveAnon, .inactiveFile:
            shrinkInactiveList(n, zone: z, file: l == .inactiveFile, priority: priority, &sc)
        default:
            break
        }
    }

    /// `shrink_active_list`: move pages from the active list's tail to the inactive list's head.
    func shrinkActiveList(_ n: Int, zone z: ZoneID, file: Bool, _ sc: inout ScanControl) {
        let from: LruList = file ? .activeFile : .activeAnon, to: LruList = file ? .inactiveFile : .inactiveAnon
        let li = LruStore.index(zone: z, list: from.rawValue)
        var moved = 0
        while moved < n, lru.tails[li] != NONE {
            let slot = Int(lru.tails[li])
            let pfn = Pfn(link: handles.pfn[slot])
            lruDel(slot: slot, zone: z, list: from, pages: 1)
            pages.state[pfn] &= ~PageState.active
            lruAdd(slot: slot, zone: z, list: to, pages: 1)
            moved += 1
        }
        // 2.6.35: `__count_zone_vm_events(PGREFILL, zone, pgscanned)`; every page scanned is deactivated
        // (PGDEACTIVATE, their sum).
        ev.pgrefillByZone[zones[z].indexInNode] &+= UInt64(moved)
        sc.durationNs &+= UInt64(moved) &* costs.reclaimScan
    }

    /// Whether reclaim of this order uses lumpy mode at this priority (§9.1).
    func lumpyReclaim(order: Int, priority: Int) -> Bool {
        // Kernel 6.6 reclaims order-0 pages only and relies on compaction.
        if modern != nil { return false }
        return order > 3 || (order > 0 && priority < Machine.defPriority - 2)
    }

    /// `shrink_inactive_list`: isolate up to 32 pages from the list's tail (plus, in lumpy mode, the
    /// naturally aligned block around each), reclaim what can be reclaimed, and for lumpy direct reclaim
    /// that freed less than it took, wait for writeback and try again synchronously.
    func shrinkInactiveList(_ n: Int, zone z: ZoneID, file: Bool, priority: Int, _ sc: inout ScanControl) {
        let lumpy = lumpyReclaim(order: sc.order, priority: priority)
        let (taken, scanned) = isolateLruPages(n, zone: z, list: file ? .inactiveFile : .inactiveAnon,
                                               order: lumpy ? sc.order : 0)
        sc.nrScanned += scanned
        zonePagesScanned[z] += scanned
        // 2.6.35's shrink_inactive_list counts the scan and the steal against the zone
        // (`__count_zone_vm_events(PGSCAN_KSWAPD / PGSCAN_DIRECT / PGSTEAL, zone, …)`) and kswapd's
        // steal machine-wide too (KSWAPD_STEAL); 6.6 prints only the machine-wide sums.
        let zoneType = zones[z].indexInNode
        if sc.isKswapd { ev.pgscanKswapdByZone[zoneType] &+= UInt64(scanned) } else { ev.pgscanDirectByZone[zoneType] &+= UInt64(scanned) }
        sc.durationNs &+= UInt64(scanned) &* costs.reclaimScan
        var list = taken
        var freed = shrinkPageList(&list, zone: z, sync: false, &sc)
        if lumpy && !list.isEmpty && !sc.isKswapd {
            sc.durationNs &+= costs.congestionWait
            freed += shrinkPageList(&list, zone: z, sync: true, &sc)
        }
        for pfn in list { putbackLruPage(pfn: pfn, zone: z) }
        if sc.isKswapd { ev.pgstealKswapd &+= UInt64(freed) }
        ev.pgstealByZone[zoneType] &+= UInt64(freed)
        sc.nrReclaimed += freed
    }

    /// `isolate_lru_pages`: take pages from the tail of one list; in lumpy mode (order > 0) also every
    /// other LRU page of the naturally aligned 2^order block around each, whatever its list or age —
    /// skipping pages of another zone and anon pages when swap is full. Returns the pfns and pages scanned.
    func isolateLruPages(_ n: Int, zone z: ZoneID, list: LruList, order: Int) -> (taken: [Pfn], scanned: Int) {
        var taken: [Pfn] = []
        var scan = 0
        let li = LruStore.index(zone: z, list: list.rawValue)
        let swapFull = swapUsed >= swapPages
        while scan < n, lru.tails[li] != NONE {
            let slot = Int(lru.tails[li])
            let pfn = Pfn(link: handles.pfn[slot])
            isolateLruPage(pfn: pfn, zone: z)
            taken.append(pfn)
            scan += 1
            if order == 0 { continue }
            let start = pfn.alignedDown(order: order)
            let zone = zones[z]
            for cursor in start..<(start + (1 << order)) where cursor != pfn {
                guard zone.contains(pfn: cursor) else { continue }
                let s = pages.state[cursor]
                guard s & PageState.codeMask == PageState.allocated, s & PageState.isolated == 0,
                      pages.nextOrOwner[cursor] != NONE, let l = currentLru(pfn: cursor), l != .unevictable, l != .slab
                else { continue }
                if swapFull && PageState.kind(s) == .anon { continue }
                isolateLruPage(pfn: cursor, zone: z)
                taken.append(cursor)
                scan += 1
            }
        }
        return (taken, scan)
    }

    /// `shrink_page_list`: reclaim what can be reclaimed from an isolated list; what cannot is left in
    /// `list` (activated pages are marked active). Returns the pages freed.
    func shrinkPageList(_ list: inout [Pfn], zone z: ZoneID, sync: Bool, _ sc: inout ScanControl) -> Int {
        var keep: [Pfn] = []
        var freed = 0, slabFreed = 0
        for pfn in list {
            let s = pages.state[pfn]
            let kind = PageState.kind(s)
            if pages.nextOrOwner[pfn] == NONE {
                // Its owner freed it while we held it: putting it back frees it.
                keep.append(pfn)
                continue
            }
            switch kind {
            case .pinned:
                // Held by get_user_pages: try_to_unmap fails, the page is activated.
                pages.state[pfn] |= PageState.active
                ev.pgactivate &+= 1
                keep.append(pfn)
            case .anon:
                if swapUsed >= swapPages {
                    // add_to_swap fails: activate.
                    pages.state[pfn] |= PageState.active
                    ev.pgactivate &+= 1
                    keep.append(pfn)
                } else if !sc.gfp.contains(.io) {
                    keep.append(pfn)
                } else {
                    swapOut(pfn: pfn, zone: z)
                    sc.durationNs &+= costs.writePage
                    freed += 1
                }
            case .file:
                if s & PageState.dirty != 0 {
                    guard sc.mayWritepage, sc.gfp.contains(.fs) || sc.isKswapd else { keep.append(pfn); continue }
                    // pageout(): start writeback; the page is clean once it completes (`writePage`).
                    ev.nrVmscanWrite &+= 1
                    let ns = writePage(pfn: pfn, zone: z)
                    sc.durationNs &+= ns
                    // The disk the flusher writes to is busy for it (PageCache/Writeback.swift).
                    writeback.diskBusyNs &+= ns
                    if !sync { keep.append(pfn); continue }
                }
                // Slab pages freed with the buffer heads count as reclaimed (reclaimed_slab), not as stolen.
                slabFreed += dropPageCache(pfn: pfn, zone: z)
                sc.durationNs &+= costs.reclaimDrop
                freed += 1
            default:
                keep.append(pfn)
            }
        }
        list = keep
        ev.pagesReclaimed &+= UInt64(freed &+ slabFreed)
        sc.nrReclaimed += slabFreed
        return freed
    }

    /// Swap-out: the anon page's content goes to swap, the owner keeps its handle, the frame is freed.
    func swapOut(pfn: Pfn, zone z: ZoneID) {
        let slot = Int(pages.nextOrOwner[pfn])
        handles.lruNext[slot] = pages.prevOrContent[pfn]
        handles.lruPrev[slot] = UInt32(pages.order[pfn])
        handles.pfn[slot] = SWAPPED
        swapUsed += 1
        ev.pswpout &+= 1
        ev.pgpgout &+= UInt64(pageKB)
        releaseIsolated(pfn: pfn, zone: z)
    }

    /// A clean page-cache page is dropped: the file's data is on disk, the allocation is gone.
    /// Its buffer heads are freed first (`try_to_release_page`; the page is clean, so they are too).
    /// Returns the buffer_head slab pages that went with them (`reclaim_state->reclaimed_slab`).
    @discardableResult
    func dropPageCache(pfn: Pfn, zone z: ZoneID) -> Int {
        let slot = Int(pages.nextOrOwner[pfn])
        // The owner's page cache shrinks (__remove_from_page_cache: mapping->nrpages--).
        noteOwnerlessFree(slot: slot, pfn: pfn)
        let slabPages = releaseBuffers(slot: slot)
        // __remove_from_page_cache: out of its file's radix tree (nodes this empties are freed).
        removeFromPageCache(slot: slot)
        handles.release(slot: slot)
        releaseIsolated(pfn: pfn, zone: z)
        return slabPages
    }

    /// Frees an isolated, no longer owned frame.
    func releaseIsolated(pfn: Pfn, zone z: ZoneID) {
        let kind = PageState.kind(pages.state[pfn])
        zoneCounters.isolated[z, IsolatedLru(kind: kind)] &-= 1
        pages.state[pfn] &= ~PageState.isolated
        pages.nextOrOwner[pfn] = NONE
        // shrink_page_list frees through a cold pagevec: the page goes to the tail of the per-CPU list.
        releaseFrame(pfn: pfn, zone: z, cold: true)
    }

    // MARK: - shrink_slab

    /// `shrink_slab` (2.6.35): every registered shrinker in turn — the dcache's, the icache's (they free
    /// objects; a slab page goes back only when its last object goes, `reclaim_state->reclaimed_slab`;
    /// the buffer_head cache has no shrinker: its objects go with their pages)
    /// and the one for slab pages without a cache (one object a page, oldest page first, in these
    /// zones) — each scanning in proportion to the LRU pages just scanned (`runShrinker`). Returns the
    /// slab pages freed and the objects the shrinkers report freed (kswapd's all_unreclaimable test).
    func shrinkSlab(scanned: Int, lruPages: Int, zones zl: [ZoneID], _ sc: inout ScanControl) -> (pages: Int, objects: Int) {
        guard scanned > 0 else { return (0, 0) }
        var pages = 0, objects = 0
        let fs = sc.gfp.contains(.fs) || sc.isKswapd
        let stolenBefore = ev.pginodesteal &+ ev.kswapdInodesteal
        for c in SlabCache.allCases where c.hasShrinker {
            var deferred = slab.caches[c.rawValue].deferred
            let kswapd = sc.isKswapd
            let r = runShrinker(scanned: scanned, lruPages: lruPages, deferred: &deferred, mayShrink: fs,
                                count: { self.shrinkerCount(c.rawValue) },
                                shrink: { c == .inode ? self.pruneIcache($0, kswapd: kswapd) : self.pruneCache(c.rawValue, $0) })
            slab.caches[c.rawValue].deferred = deferred
            pages += r.pages
            objects += r.objects
        }
        var deferred = slab.pageShrinkerDeferred
        let r = runShrinker(scanned: scanned, lruPages: lruPages, deferred: &deferred,
                            count: { zl.reduce(0) { $0 + self.lruPages(zone: $1, list: .slab) } },
                            shrink: { self.shrinkSlabPages($0, zones: zl) })
        slab.pageShrinkerDeferred = deferred
        pages += r.pages
        objects += r.objects
        // The page-cache pages prune_icache invalidated cost what dropping a page costs reclaim.
        let invalidated = ev.pginodesteal &+ ev.kswapdInodesteal &- stolenBefore
        sc.durationNs &+= (UInt64(pages) &+ invalidated) &* costs.reclaimDrop &+ UInt64(objects) &* costs.reclaimScan
        ev.pagesReclaimed &+= UInt64(pages)
        return (pages, objects)
    }

    /// The page-level slab shrinker: frees up to `nr` slab pages without a cache, oldest first.
    func shrinkSlabPages(_ nr: Int, zones zl: [ZoneID]) -> Int {
        var freed = 0
        for z in zl where freed < nr {
            let li = LruStore.index(zone: z, list: LruList.slab.rawValue)
            while freed < nr, lru.tails[li] != NONE {
                let slot = Int(lru.tails[li])
                noteOwnerlessFree(slot: slot, pfn: Pfn(link: handles.pfn[slot]))
                freeAllocation(slot: slot)
                freed += 1
            }
        }
        return freed
    }

    // MARK: - direct reclaim

    /// `try_to_free_pages` / `do_try_to_free_pages`: direct reclaim along the zonelist at priorities 12
    /// down to 0 until 32 pages are reclaimed; below priority 10 each pass that scanned anything waits
    /// for writeback (congestion_wait, HZ/10). Once it has scanned more than 1.5 × SWAP_CLUSTER_MAX pages
    /// it wakes the flusher to write as many (`wakeup_flusher_threads(total_scanned)`). Returns pages
    /// reclaimed and the simulated time it took.
    func tryToFreePages(zonelist zl: [ZoneID], order: Int, gfp: GFPFlags) -> (reclaimed: Int, ns: UInt64) {
        ev.allocstall &+= 1
        var sc = ScanControl(gfp: gfp, order: order, isKswapd: false)
        var priority = Machine.defPriority
        var totalScanned = 0
        while priority >= 0 {
            sc.nrScanned = 0
            for z in zl where zoneAllUnreclaimable[z] == 0 || priority == Machine.defPriority {
                shrinkZone(zone: z, priority: priority, &sc)
            }
            let lruTotal = zl.reduce(0) { $0 + zoneReclaimablePages(zone: $1) }
            sc.nrReclaimed += shrinkSlab(scanned: sc.nrScanned, lruPages: lruTotal, zones: zl, &sc).pages
            totalScanned += sc.nrScanned
            if sc.nrReclaimed >= sc.nrToReclaim { break }
            if totalScanned > sc.nrToReclaim + sc.nrToReclaim / 2 { wakeupFlusherThreads(pages: totalScanned) }
            if sc.nrScanned > 0 && priority < Machine.defPriority - 2 { sc.durationNs &+= costs.congestionWait }
            priority -= 1
        }
        clockNs &+= sc.durationNs
        return (sc.nrReclaimed, sc.durationNs)
    }
}
