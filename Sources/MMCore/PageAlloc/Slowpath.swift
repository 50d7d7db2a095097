extension Machine {
    /// Retries of the slow path's rebalance loop before an allocation is failed. The seed loops without
    /// bound for orders <= 3 (the OOM killer ends it); the simulation kills only a running workload's
    /// processes (`oomKiller`), and memory held otherwise (tags, actors' plain allocations) has no owner
    /// to kill, so the loop is bounded.
    public static let maxSlowpathLoops = 16

    /// The seed's `__alloc_pages_slowpath` (kernel-compaction.md §6.3): wake kswapd; retry at the MIN
    /// watermark (with the __GFP_HIGH / atomic reductions); callers that may sleep then loop over direct
    /// compaction (costly orders, unless deferred) and direct reclaim, retrying the allocation after each,
    /// while `should_alloc_retry` says so. kswapd runs once the attempt has returned.
    func allocSlowpath(_ req: AllocRequest, zonelist zl: [ZoneID], preferredZone: ZoneID, mt: Int, start: UInt64) -> AllocOutcome {
        var out = AllocOutcome()
        // GFP_THISNODE (__GFP_THISNODE|__GFP_NOWARN|__GFP_NORETRY) fails here, without waking kswapd or
        // reclaiming (__alloc_pages_slowpath, NUMA_BUILD).
        if req.gfp.isSuperset(of: .thisnodeTriple) {
            ev.allocFail &+= 1
            out.latencyNs = clockNs &- start
            return out
        }
        defer { runPendingKswapd() }
        let order = req.order
        let classzoneIdx = zones[preferredZone].indexInNode
        for z in zl { wakeupKswapd(zone: z, order: order) }

        // gfp_to_alloc_flags: __GFP_HIGH → ALLOC_HIGH; a caller that cannot sleep → ALLOC_HARDER.
        var flags: AllocFlags = []
        if req.gfp.contains(.high) { flags.insert(.high) }
        let wait = req.gfp.contains(.wait)
        if !wait { flags.insert(.harder) }

        func attempt() -> AllocOutcome? {
            guard let (pfn, z) = getPageFromFreelist(order: order, mt: mt, zonelist: zl, classzoneIdx: classzoneIdx,
                                                     wmark: .min, flags: flags) else { return nil }
            out.handle = prepNewPage(pfn: pfn, zone: z, preferredZone: preferredZone, req: req)
            out.pfn = pfn
            out.zone = z.rawValue
            out.latencyNs = clockNs &- start
            return out
        }
        if let done = attempt() { return done }

        if wait {
            var pagesReclaimed = 0
            var loops = 0
            while loops < Machine.maxSlowpathLoops {
                loops += 1
                // __alloc_pages_direct_compact.
                if compactionEnabled && order > 0 && !compactionDeferred(zone: preferredZone) {
                    let rc = tryToCompactPages(zonelist: zl, order: order, gfp: req.gfp, migratetype: mt)
                    if rc != .skipped {
                        out.stalledInCompaction = true
                        // Page migration frees to the per-CPU lists; drain them so the pages merge.
                        drainAllPages()
                        if let done = attempt() {
                            resetCompactionDeferral(zone: preferredZone)
                            ev.compactSuccess &+= 1
                            return done
                        }
                        ev.compactFail &+= 1
                        deferCompaction(zone: preferredZone)
                    }
                }
                // __alloc_pages_direct_reclaim.
                let progress = tryToFreePages(zonelist: zl, order: order, gfp: req.gfp).reclaimed
                out.stalledInReclaim = true
                out.pagesReclaimed += progress
                // 2.6.35 drains the per-CPU lists after high-order reclaim so freed pages can merge.
                if order != 0 { drainAllPages() }
                if progress > 0, let done = attempt() {
                    return done
                }
                // No progress: __alloc_pages_may_oom. For orders up to PAGE_ALLOC_COSTLY_ORDER with
                // __GFP_FS and without __GFP_NORETRY, out_of_memory kills a process (the workload's
                // `oomKiller`: the largest) and the allocation restarts; otherwise, or with nothing to kill,
                // the attempt fails (the kernel would panic with nothing left to kill).
                if progress == 0 {
                    if order <= 3 && req.gfp.contains(.fs) && !req.gfp.contains(.noretry), let kill = oomKiller, kill() {
                        ev.oomKill &+= 1
                        if let done = attempt() { return done }
                        continue
                    }
                    break
                }
                pagesReclaimed += progress
                guard shouldAllocRetry(gfp: req.gfp, order: order, pagesReclaimed: pagesReclaimed) else { break }
                // congestion_wait(BLK_RW_ASYNC, HZ/50) before the next round.
                clockNs &+= costs.congestionWait / 5
            }
        }
        ev.allocFail &+= 1
        out.latencyNs = clockNs &- start
        return out
    }

    /// `should_alloc_retry` (2.6.35): never with __GFP_NORETRY; always for orders <= 3; for costly orders
    /// only with __GFP_REPEAT until an allocation's worth of pages has been reclaimed.
    func shouldAllocRetry(gfp: GFPFlags, order: Int, pagesReclaimed: Int) -> Bool {
        if gfp.contains(.noretry) { return false }
        if order <= 3 { return true }
        if gfp.contains(.repeat) && pagesReclaimed < (1 << order) { return true }
        return false
    }
}
