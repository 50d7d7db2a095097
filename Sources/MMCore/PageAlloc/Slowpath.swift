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
    func allocSlowpath(_ req: AllocRequest, zonelist zl: [ZoneID], preferredZone: ZoneID, mt: Migratetype, start: UInt64) -> AllocOutcome {
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

        let flags = Machine.gfpToAllocFlags(req.gfp)
        let wait = req.gfp.contains(.wait)

        func attempt() -> AllocOutcome? {
            guard let (pfn, z) = getPageFromFreelist(order: order, mt: mt, zonelist: zl, classzoneIdx: classzoneIdx,
                                                     wmark: .min, flags: flags) else { return nil }
            out.handle = prepNewPage(pfn: pfn, zone: z, preferredZone: preferredZone, req: req)
            out.pfn = pfn.rawValue
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
                if compactionEnabled && order > 0 && !compactionDeferred(zone: preferredZone),
                   directCompact(zonelist: zl, order: order, gfp: req.gfp, mt: mt) {
                    out.stalledInCompaction = true
                    let done = attempt()
                    noteDirectCompactOutcome(zone: preferredZone, allocated: done != nil)
                    if let done { return done }
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
                // No progress: __alloc_pages_may_oom kills a process and restarts, or the attempt fails.
                if progress == 0 {
                    guard allocPagesMayOom(order: order, gfp: req.gfp) else { break }
                    if let done = attempt() { return done }
                    continue
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

    /// `gfp_to_alloc_flags`: __GFP_HIGH → ALLOC_HIGH; a caller that cannot sleep → ALLOC_HARDER.
    static func gfpToAllocFlags(_ gfp: GFPFlags) -> AllocFlags {
        var flags: AllocFlags = []
        if gfp.contains(.high) { flags.insert(.high) }
        if !gfp.contains(.wait) { flags.insert(.harder) }
        return flags
    }

    /// The compaction half of `__alloc_pages_direct_compact`: compacts the zonelist's zones for the
    /// request and drains the per-CPU lists (migration frees to them) so the freed pages merge. Returns
    /// false when every zone was skipped (COMPACT_SKIPPED: the caller goes straight on to reclaim).
    private func directCompact(zonelist zl: [ZoneID], order: Int, gfp: GFPFlags, mt: Migratetype) -> Bool {
        let rc = tryToCompactPages(zonelist: zl, order: order, gfp: gfp, migratetype: mt)
        guard rc != .skipped else { return false }
        drainAllPages()
        return true
    }

    /// After a direct compaction the allocation was retried: success clears the preferred zone's
    /// deferral (COMPACTSUCCESS), failure defers it (COMPACTFAIL), as `__alloc_pages_direct_compact` does.
    private func noteDirectCompactOutcome(zone: ZoneID, allocated: Bool) {
        if allocated {
            resetCompactionDeferral(zone: zone)
            ev.compactSuccess &+= 1
        } else {
            ev.compactFail &+= 1
            deferCompaction(zone: zone)
        }
    }

    /// `__alloc_pages_may_oom` when reclaim made no progress: for orders up to PAGE_ALLOC_COSTLY_ORDER
    /// with __GFP_FS and without __GFP_NORETRY, `out_of_memory` kills a process (the workload's
    /// `oomKiller`: the largest) and the allocation restarts. Returns false when the attempt must fail
    /// instead (the kernel would panic with nothing left to kill).
    private func allocPagesMayOom(order: Int, gfp: GFPFlags) -> Bool {
        guard order <= 3 && gfp.contains(.fs) && !gfp.contains(.noretry), let kill = oomKiller, kill() else { return false }
        ev.oomKill &+= 1
        return true
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
