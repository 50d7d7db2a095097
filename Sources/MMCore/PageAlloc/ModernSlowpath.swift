/// The modern profile's allocation path (kernel 6.6, mm/page_alloc.c `__alloc_pages`,
/// `get_page_from_freelist`, `__alloc_pages_slowpath`, `__alloc_pages_direct_compact`,
/// `should_compact_retry`, `should_reclaim_retry`; mm/compaction.c `try_to_compact_pages`,
/// `compact_zone_order`; mm/vmscan.c `wakeup_kswapd`; kernel-compaction.md §6.3). Every order-0 request
/// that misses the per-CPU fast path and every high-order request of a 6.6 machine comes here.
extension GFPFlags {
    /// Clears __GFP_KSWAPD_RECLAIM: the allocation does not wake kswapd (GFP_TRANSHUGE_LIGHT,
    /// GFP_TRANSHUGE). The seed's vocabulary has no such bit, so every other request wakes kswapd, as
    /// GFP_KERNEL, GFP_HIGHUSER(_MOVABLE), GFP_ATOMIC and GFP_NOWAIT do in 6.6 (include/linux/gfp_types.h:
    /// all of them carry __GFP_KSWAPD_RECLAIM). Read only by the modern profile. Its bit must be none of
    /// the seed's (GFP.swift): it was once 1 << 7, __GFP_HIGHMEM's, so every GFP_HIGHUSER_MOVABLE request
    /// of a 6.6 machine (the stress and easy presets' huge pages, hugetlb, page tables) read as "do not
    /// wake kswapd" and, with __GFP_MOVABLE's 1 << 8, as __GFP_NOMEMALLOC (GFPTests).
    public static let noKswapd = GFPFlags(rawValue: 1 << 11)
    /// __GFP_NOMEMALLOC: no access to reserves (GFP_TRANSHUGE_LIGHT). Read only by the modern profile.
    public static let nomemalloc = GFPFlags(rawValue: 1 << 12)

    /// GFP_TRANSHUGE_LIGHT: (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) &
    /// ~__GFP_RECLAIM (neither direct reclaim nor kswapd).
    public static let transhugeLight: GFPFlags = [.io, .fs, .highmem, .movable, .comp, .nowarn, .nomemalloc, .noKswapd]
    /// GFP_TRANSHUGE: GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM.
    public static let transhuge: GFPFlags = transhugeLight.union(.wait)
}

extension Machine {
    /// `vma_thp_gfp_mask` (mm/huge_memory.c) for the machine's `defrag` setting and whether the mapping
    /// was madvised (MADV_HUGEPAGE).
    public func thpGfpMask(madvised: Bool) -> GFPFlags {
        switch thpDefrag ?? .madvise {
        case .always: return madvised ? .transhuge : GFPFlags.transhuge.union(.noretry)
        case .defer: return GFPFlags.transhugeLight.subtracting(.noKswapd)
        case .deferMadvise: return madvised ? .transhuge : GFPFlags.transhugeLight.subtracting(.noKswapd)
        case .madvise: return madvised ? .transhuge : .transhugeLight
        case .never: return .transhugeLight
        }
    }

    /// `gfp_to_alloc_flags` of 6.6.
    func gfpToAllocFlags(_ gfp: GFPFlags, order: Int, mt: Migratetype) -> ModernAllocFlags {
        var f: ModernAllocFlags = [.wmarkMin, .cpuset]
        if gfp.contains(.high) { f.insert(.minReserve) }
        if !gfp.contains(.noKswapd) { f.insert(.kswapd) }
        if !gfp.contains(.wait) {
            if !gfp.contains(.nomemalloc) {
                f.insert(.nonBlock)
                if order > 0 { f.insert(.highatomic) }
            }
            if f.contains(.minReserve) { f.remove(.cpuset) }
        }
        return f
    }

    /// `alloc_flags_nofragment`: ALLOC_KSWAPD from the gfp mask, and ALLOC_NOFRAGMENT for allocations
    /// whose preferred zone is Normal when the node also has a populated DMA32 zone (on a single-node
    /// machine the kernel assumes it has).
    func allocFlagsNofragment(preferredZone z: ZoneID, gfp: GFPFlags) -> ModernAllocFlags {
        var f: ModernAllocFlags = gfp.contains(.noKswapd) ? [] : [.kswapd]
        guard zones[z].type == .normal, let dma32 = preset.zoneTypes.firstIndex(of: .dma32) else { return f }
        if nodes.count > 1 && !zones[nodes[zones[z].node].zoneIds[dma32]].populated { return f }
        f.insert(.noFragment)
        return f
    }

    /// `get_page_from_freelist` of 6.6: the first zone that passes `zone_watermark_fast` and has a block;
    /// ALLOC_NOFRAGMENT is dropped (and the walk repeated) before a remote node is used, and when the
    /// whole list failed. A high-order atomic allocation reserves its pageblock HIGHATOMIC.
    func modernGetPageFromFreelist(order: Int, mt: Migratetype, zonelist zl: [ZoneID], highestZoneidx: Int, flags startFlags: ModernAllocFlags) -> (pfn: Pfn, zone: ZoneID)? {
        var flags = startFlags
        let preferred = zl[0]
        retry: while true {
            let noFallback = flags.contains(.noFragment)
            for z in zl {
                if noFallback && nodes.count > 1 && z != preferred && zones[z].node != zones[preferred].node {
                    flags.remove(.noFragment)
                    continue retry
                }
                let mark = wmarkPages(zone: z, flags.wmark)
                if !modernZoneWatermarkFast(zone: z, order: order, mark: mark, highestZoneidx: highestZoneidx, flags: flags) {
                    if !flags.contains(.noWatermarks) { continue }
                }
                if let pfn = modernRmqueueZone(zone: z, order: order, mt: mt, flags: flags) {
                    if flags.contains(.highatomic) { reserveHighatomicPageblock(pfn: pfn, zone: z) }
                    return (pfn, z)
                }
            }
            if noFallback {
                flags.remove(.noFragment)
                continue retry
            }
            return nil
        }
    }

    /// `__alloc_pages` of a 6.6 machine for everything the order-0 per-CPU fast path does not serve: the
    /// fast path at the LOW watermark (with ALLOC_NOFRAGMENT where it applies), then the slow path.
    @inline(never)
    func modernAllocateAlongZonelist(_ req: AllocRequest) throws(MMError) -> AllocOutcome {
        try validate(req)
        if _slowPath(handles.atSlotLimit) { try growHandleTable() }
        bumpGeneration()
        let start = clockNs
        clockNs &+= costs.allocFastPath
        let zl = zonelistFor(req)
        guard !zl.isEmpty else {
            ev.allocFail += 1
            return AllocOutcome(latencyNs: costs.allocFastPath)
        }
        // `gfp_migratetype` and `gfp_zone` of the request's flags (its kind's when it has no zone modifier),
        // as its zonelist was chosen: a GFP_HIGHUSER_MOVABLE hugetlb page asks for MOVABLE up to ZONE_MOVABLE.
        let mt = requestMigratetype(req)
        let hz = highestZoneIdx(for: req)
        let preferred = zl[0]
        let flags = ModernAllocFlags.wmarkLow.union(allocFlagsNofragment(preferredZone: preferred, gfp: req.gfp))
        if let (pfn, z) = modernGetPageFromFreelist(order: req.order, mt: mt, zonelist: zl, highestZoneidx: hz, flags: flags) {
            let h = prepNewPage(pfn: pfn, zone: z, preferredZone: preferred, req: req)
            return AllocOutcome(handle: h, pfn: pfn, zone: z.rawValue, latencyNs: clockNs &- start)
        }
        return modernAllocSlowpath(req, zonelist: zl, preferredZone: preferred, mt: mt, highestZoneidx: hz, start: start)
    }

    /// `__alloc_pages_slowpath` of 6.6: wake kswapd; retry at MIN; costly (or non-movable high-order)
    /// requests that may reclaim try async compaction first — THP-style __GFP_NORETRY requests give up
    /// when it was skipped or deferred and otherwise stay at async priority; then a loop of direct
    /// reclaim (order-0: no lumpy reclaim), direct compaction at the current priority, and the retry
    /// decisions (`should_reclaim_retry`, `should_compact_retry`). No OOM killer is simulated: where the
    /// kernel would kill, the attempt fails; the loop is also cut after `maxSlowpathLoops` rounds.
    func modernAllocSlowpath(_ req: AllocRequest, zonelist zl: [ZoneID], preferredZone: ZoneID, mt: Migratetype, highestZoneidx hz: Int,
                             start: UInt64) -> AllocOutcome {
        var out = AllocOutcome()
        defer { runPendingKswapd() }
        let order = req.order, gfp = req.gfp
        let canDirectReclaim = gfp.contains(.wait)
        let canCompact = gfp.contains(.io)
        let costly = order > Machine.pageAllocCostlyOrder
        var compactionRetries = 0, noProgressLoops = 0
        var compactPriority = CompactPriority.def
        var compactResult = ModernCompactResult.skipped
        let flags = gfpToAllocFlags(gfp, order: order, mt: mt)

        func got(_ pfn: Pfn, _ z: ZoneID) -> AllocOutcome {
            out.handle = prepNewPage(pfn: pfn, zone: z, preferredZone: preferredZone, req: req)
            out.pfn = pfn.rawValue
            out.zone = z.rawValue
            out.latencyNs = clockNs &- start
            return out
        }
        func attempt() -> (pfn: Pfn, zone: ZoneID)? {
            modernGetPageFromFreelist(order: order, mt: mt, zonelist: zl, highestZoneidx: hz, flags: flags)
        }
        func fail() -> AllocOutcome {
            ev.allocFail &+= 1
            out.latencyNs = clockNs &- start
            return out
        }

        if flags.contains(.kswapd) { wakeAllKswapds(order: order, gfp: gfp, zonelist: zl, highestZoneidx: hz) }
        if let (pfn, z) = attempt() { return got(pfn, z) }

        if canDirectReclaim && canCompact && (costly || (order > 0 && mt != .movable)) {
            let page = modernDirectCompact(order: order, gfp: gfp, flags: flags, zonelist: zl, highestZoneidx: hz, mt: mt,
                                           priority: .initial, result: &compactResult)
            if compactResult != .skipped { out.stalledInCompaction = true }
            if let (pfn, z) = page { return got(pfn, z) }
            if costly && gfp.contains(.noretry) {
                if compactResult == .skipped || compactResult == .deferred { return fail() }
                compactPriority = .initial
            }
        }

        var loops = 0
        while loops < Machine.maxSlowpathLoops {
            loops += 1
            if flags.contains(.kswapd) { wakeAllKswapds(order: order, gfp: gfp, zonelist: zl, highestZoneidx: hz) }
            if let (pfn, z) = attempt() { return got(pfn, z) }
            if !canDirectReclaim { return fail() }
            // __alloc_pages_direct_reclaim.
            let progress = modernDirectReclaim(order: order, gfp: gfp, zonelist: zl, highestZoneidx: hz)
            out.stalledInReclaim = true
            out.pagesReclaimed += progress
            if progress > 0 {
                if let (pfn, z) = attempt() { return got(pfn, z) }
                unreserveHighatomicPageblock(zonelist: zl, migratetype: mt, force: false)
                drainAllPages()
                if let (pfn, z) = attempt() { return got(pfn, z) }
            }
            if order > 0 {
                let page = modernDirectCompact(order: order, gfp: gfp, flags: flags, zonelist: zl, highestZoneidx: hz, mt: mt,
                                               priority: compactPriority, result: &compactResult)
                if compactResult != .skipped { out.stalledInCompaction = true }
                if let (pfn, z) = page { return got(pfn, z) }
            }
            if gfp.contains(.noretry) { return fail() }
            if costly && (!canCompact || !gfp.contains(.repeat)) { return fail() }
            if shouldReclaimRetry(order: order, flags: flags, zonelist: zl, highestZoneidx: hz, mt: mt,
                                  didProgress: progress > 0, noProgressLoops: &noProgressLoops) { continue }
            if progress > 0 && canCompact && shouldCompactRetry(order: order, zonelist: zl, highestZoneidx: hz, result: compactResult,
                                                               priority: &compactPriority, retries: &compactionRetries) { continue }
            // The OOM killer would run here (never for costly orders); nothing is killed in the simulation.
            break
        }
        return fail()
    }

    /// `__perform_reclaim` / `try_to_free_pages` on a 6.6 machine: order-0 reclaim (no lumpy reclaim:
    /// Reclaim.swift's `lumpyReclaim` is off for 6.6). For costly orders a zone that compaction could
    /// already work with (`compaction_ready`) is not reclaimed; if one was, reclaim reports progress so
    /// that compaction is tried (the kernel still scans the other zones once). Returns pages reclaimed.
    func modernDirectReclaim(order: Int, gfp: GFPFlags, zonelist zl: [ZoneID], highestZoneidx hz: Int) -> Int {
        var list = zl
        var anyReady = false
        if order > Machine.pageAllocCostlyOrder && gfp.contains(.io) {
            list = zl.filter { z in
                let ready = compactionReady(zone: z, order: order, reclaimIdx: hz)
                if ready { anyReady = true }
                return !ready
            }
        }
        if anyReady {
            // do_try_to_free_pages counts the stall, finds compaction ready, reports progress.
            ev.allocstall &+= 1
            ev.allocstallByZone[hz] &+= 1
            return 1
        }
        if list.isEmpty { return 0 }
        // shrink_node's `should_continue_reclaim` (reclaim/compaction mode: a costly order, or below
        // priority DEF_PRIORITY - 2, with __GFP_IO): while a pass reclaims something, no zone could
        // allocate at the order or compact, and the inactive lists hold more than compact_gap(order),
        // reclaim goes on. One direct-reclaim stall however many passes it takes.
        var total = 0, passes = 0
        let stalls = ev.allocstall
        while passes < 1024 {
            passes += 1
            let r = tryToFreePages(zonelist: list, order: order, gfp: gfp).reclaimed
            total += r
            guard r > 0, order > Machine.pageAllocCostlyOrder, gfp.contains(.io) else { break }
            if !shouldContinueReclaim(order: order, zonelist: list, highestZoneidx: hz) { break }
        }
        ev.allocstall = stalls &+ 1
        ev.allocstallByZone[hz] &+= 1
        return total
    }

    /// `should_continue_reclaim`'s test after a pass that reclaimed something: stop when a zone could
    /// allocate at the order (MIN watermark) or compaction could go ahead; else go on while the inactive
    /// lists (anon only with swap to spare) hold more than `compact_gap(order)`.
    func shouldContinueReclaim(order: Int, zonelist zl: [ZoneID], highestZoneidx hz: Int) -> Bool {
        for z in zl where zones[z].populated {
            if modernZoneWatermarkOk(zone: z, order: order, mark: wmarkPages(zone: z, .min), highestZoneidx: hz, flags: []) { return false }
            if modernCompactionSuitable(zone: z, order: order, highestZoneidx: hz) { return false }
        }
        var inactive = 0
        for z in zl {
            inactive += lruPages(zone: z, list: .inactiveFile)
            if swapUsed < swapPages { inactive += lruPages(zone: z, list: .inactiveAnon) }
        }
        return inactive > Machine.compactGap(order)
    }

    /// `compaction_ready` (mm/vmscan.c).
    func compactionReady(zone z: ZoneID, order: Int, reclaimIdx: Int) -> Bool {
        if modernZoneWatermarkOk(zone: z, order: order, mark: wmarkPages(zone: z, .min), highestZoneidx: reclaimIdx, flags: []) { return true }
        if !modernCompactionSuitable(zone: z, order: order, highestZoneidx: reclaimIdx) { return false }
        let mark = wmarkPages(zone: z, .high) + Machine.compactGap(order)
        return modernZoneWatermarkOk(zone: z, order: 0, mark: mark, highestZoneidx: reclaimIdx, flags: [])
    }

    /// `should_reclaim_retry` of 6.6: up to MAX_RECLAIM_RETRIES (16) rounds without progress (costly
    /// orders never count as progress), while some zone would pass its MIN watermark at the order if
    /// all its reclaimable pages were freed; before giving up, a HIGHATOMIC block is given back.
    func shouldReclaimRetry(order: Int, flags: ModernAllocFlags, zonelist zl: [ZoneID], highestZoneidx hz: Int, mt: Migratetype,
                            didProgress: Bool, noProgressLoops: inout Int) -> Bool {
        if didProgress && order <= Machine.pageAllocCostlyOrder { noProgressLoops = 0 } else { noProgressLoops += 1 }
        var ret = false
        if noProgressLoops <= 16 {
            for z in zl where zones[z].populated {
                let available = zoneReclaimablePages(zone: z) + zoneCounters.freePages[z]
                if modernZoneWatermarkOkFree(zone: z, order: order, mark: wmarkPages(zone: z, .min), highestZoneidx: hz,
                                             flags: flags, free: available) {
                    ret = true
                    break
                }
            }
        }
        if !ret { return unreserveHighatomicPageblock(zonelist: zl, migratetype: mt, force: true) }
        return ret
    }

    /// `should_compact_retry` of 6.6.
    func shouldCompactRetry(order: Int, zonelist zl: [ZoneID], highestZoneidx hz: Int, result: ModernCompactResult,
                            priority: inout CompactPriority, retries: inout Int) -> Bool {
        if order == 0 { return false }
        if result == .skipped { return modernCompactionZonelistSuitable(zl, order: order, highestZoneidx: hz) }
        if result == .success {
            var maxRetries = 16
            if order > Machine.pageAllocCostlyOrder { maxRetries /= 4 }
            retries += 1
            if retries <= maxRetries { return true }
        }
        let minPriority: CompactPriority = order > Machine.pageAllocCostlyOrder ? .minCostly : .min
        if priority > minPriority {
            priority = CompactPriority(rawValue: priority.rawValue - 1)!
            retries = 0
            return true
        }
        return false
    }

    /// `__alloc_pages_direct_compact` of 6.6: `try_to_compact_pages`; unless every zone was skipped, a
    /// compaction stall; then the captured block, or the free lists; success resets the zone's deferral
    /// (and its skip-flush request). The compaction's simulated time is the allocation's.
    func modernDirectCompact(order: Int, gfp: GFPFlags, flags: ModernAllocFlags, zonelist zl: [ZoneID], highestZoneidx hz: Int, mt: Migratetype,
                             priority: CompactPriority, result: inout ModernCompactResult) -> (pfn: Pfn, zone: ZoneID)? {
        if order == 0 { return nil }
        let (rc, captured) = tryToCompactPagesModern(order: order, gfp: gfp, flags: flags, zonelist: zl, highestZoneidx: hz, mt: mt,
                                                     priority: priority)
        result = rc
        if rc == .skipped { return nil }
        ev.compactStall &+= 1
        var got: (pfn: Pfn, zone: ZoneID)? = captured
        if got == nil { got = modernGetPageFromFreelist(order: order, mt: mt, zonelist: zl, highestZoneidx: hz, flags: flags) }
        if let (_, z) = got {
            ms.blockskipFlush[z] = false
            modernCompactionDeferReset(zone: z, order: order, allocSuccess: true)
            ev.compactSuccess &+= 1
            return got
        }
        ev.compactFail &+= 1
        return nil
    }

    /// `try_to_compact_pages` of 6.6: needs __GFP_IO; each zone of the zonelist unless deferred (at any
    /// priority but the highest); the maximum result; stop at SUCCESS (resetting deferral without an
    /// allocation); sync priorities defer a zone whose scanners met. Returns the result and a block a
    /// free captured for this allocation (its pfn and zone), if any.
    func tryToCompactPagesModern(order: Int, gfp: GFPFlags, flags: ModernAllocFlags, zonelist zl: [ZoneID], highestZoneidx hz: Int, mt: Migratetype,
                                 priority: CompactPriority) -> (ModernCompactResult, (pfn: Pfn, zone: ZoneID)?) {
        if !gfp.contains(.io) { return (.skipped, nil) }
        tracer?.modern(.tryToCompactPages(order: order, gfp: gfpTraceString(gfp), priority: priority.rawValue))
        var rc = ModernCompactResult.skipped
        for z in zl where zones[z].populated {
            if priority > .min && modernCompactionDeferred(zone: z, order: order) {
                rc = max(rc, .deferred)
                continue
            }
            let (status, captured) = compactZoneOrder(zone: z, order: order, gfp: gfp, priority: priority, flags: flags, highestZoneidx: hz, mt: mt)
            rc = max(rc, status)
            if let c = captured { return (rc, (c, z)) }
            if status == .success {
                modernCompactionDeferReset(zone: z, order: order, allocSuccess: false)
                break
            }
            if priority != .async && (status == .complete || status == .partialSkipped) { modernDeferCompaction(zone: z, order: order) }
        }
        return (rc, nil)
    }

    /// `compact_zone_order`: a direct compaction of one zone at a priority, with a capture control: a
    /// block of the order freed in this zone while it runs is taken for the allocation (SUCCESS).
    func compactZoneOrder(zone z: ZoneID, order: Int, gfp: GFPFlags, priority: CompactPriority, flags: ModernAllocFlags,
                          highestZoneidx hz: Int, mt: Migratetype) -> (ModernCompactResult, Pfn?) {
        let fields = Machine.modernFields(mode: priority == .async ? .async : .syncLight, direct: true,
                                          wholeZone: priority == .min, ignoreSkipHint: priority == .min,
                                          ignoreBlockSuitable: priority == .min, highestZoneidx: hz, allocFlags: flags,
                                          gfpFS: gfp.contains(.fs), order: order)
        var cc = makeModernCompactControl(zone: z, order: order, migratetype: mt, fields: fields)
        ms.captureZone = z
        ms.captureOrder = order
        ms.capturedPfn = nil
        var r = modernCompactZoneToEnd(&cc)
        clockNs &+= cc.durationNs
        ms.captureZone = nil
        let captured = ms.capturedPfn
        ms.capturedPfn = nil
        if captured != nil { r = .success }
        return (r, captured)
    }

    /// `show_gfp_flags` for the tracepoint, in the simulation's vocabulary.
    func gfpTraceString(_ g: GFPFlags) -> String {
        var parts: [String] = []
        if g.contains(.io) { parts.append("__GFP_IO") }
        if g.contains(.fs) { parts.append("__GFP_FS") }
        if g.contains(.wait) { parts.append("__GFP_DIRECT_RECLAIM") }
        if !g.contains(.noKswapd) { parts.append("__GFP_KSWAPD_RECLAIM") }
        if g.contains(.high) { parts.append("__GFP_HIGH") }
        if g.contains(.repeat) { parts.append("__GFP_RETRY_MAYFAIL") }
        if g.contains(.noretry) { parts.append("__GFP_NORETRY") }
        if g.contains(.nomemalloc) { parts.append("__GFP_NOMEMALLOC") }
        if g.contains(.thisnode) { parts.append("__GFP_THISNODE") }
        return parts.isEmpty ? "0x0" : parts.joined(separator: "|")
    }

    // MARK: - kswapd and kcompactd wake-ups

    /// `wake_all_kswapds`: each node of the zonelist once.
    func wakeAllKswapds(order: Int, gfp: GFPFlags, zonelist zl: [ZoneID], highestZoneidx hz: Int) {
        var last: NodeID? = nil
        for z in zl where zones[z].populated && zones[z].node != last {
            modernWakeupKswapd(zone: z, order: order, highestZoneidx: hz, directReclaim: gfp.contains(.wait))
            last = zones[z].node
        }
    }

    /// `wakeup_kswapd` of 6.6: an awake kswapd only has its order raised; a balanced node (and not
    /// boosted) wakes kcompactd instead, when the caller cannot reclaim directly; else kswapd wakes.
    func modernWakeupKswapd(zone z: ZoneID, order: Int, highestZoneidx hz: Int, directReclaim: Bool) {
        guard zones[z].populated else { return }
        let nid = zones[z].node
        // pgdat->kswapd_order: the order the next balance_pgdat is for (and kcompactd is woken with).
        if ms.kswapdAllocOrder[nid] < order { ms.kswapdAllocOrder[nid] = order }
        if kswapdPending[nid] >= 0 { return }
        if pgdatBalanced(node: nid, order: order, highestZoneidx: hz) && !pgdatWatermarkBoosted(node: nid, highestZoneidx: hz) {
            ms.kswapdAllocOrder[nid] = -1
            if !directReclaim { wakeupKcompactd(node: nid, order: order, highestZoneidx: hz) }
            return
        }
        kswapdPending[nid] = ms.kswapdAllocOrder[nid]
        ms.kswapdReclaimed[nid] = 0
    }

    /// After a stretch of kswapd's work on a 6.6 machine (Vmscan/Kswapd.swift runs the seed's
    /// `balance_pgdat` in time slices): once it has reclaimed twice the size of the order it balances for,
    /// it balances for order 0 (`kswapd_shrink_node`); when it is done, it goes to sleep
    /// (`modernKswapdSleeps`) with the order it was woken for.
    func modernKswapdRan(node nid: NodeID, order: Int, finished: Bool, reclaimed: Int) {
        if finished {
            let allocOrder = max(ms.kswapdAllocOrder[nid], order)
            ms.kswapdAllocOrder[nid] = -1
            ms.kswapdReclaimed[nid] = 0
            modernKswapdSleeps(node: nid, order: allocOrder)
            return
        }
        ms.kswapdReclaimed[nid] += reclaimed
        if order > 0 && ms.kswapdReclaimed[nid] >= Machine.compactGap(order) { kswapdPending[nid] = 0 }
    }

    /// `pgdat_balanced`: some managed zone up to `highest_zoneidx` passes its HIGH watermark at the order.
    func pgdatBalanced(node nid: NodeID, order: Int, highestZoneidx hz: Int) -> Bool {
        var any = false
        for (i, z) in nodes[nid].zoneIds.enumerated() where i <= hz && zones[z].populated {
            any = true
            if modernZoneWatermarkOk(zone: z, order: order, mark: wmarkPages(zone: z, .high), highestZoneidx: hz, flags: []) { return true }
        }
        return !any
    }

    /// `pgdat_watermark_boosted`: a zone up to `highest_zoneidx` has a boost.
    func pgdatWatermarkBoosted(node nid: NodeID, highestZoneidx hz: Int) -> Bool {
        for (i, z) in nodes[nid].zoneIds.enumerated() where i <= hz && ms.watermarkBoost[z] != 0 { return true }
        return false
    }

    /// What kswapd does as it goes to sleep on a 6.6 machine (`balance_pgdat`'s end and
    /// `kswapd_try_to_sleep`): a boost it reclaimed for is cleared and kcompactd woken for pageblock
    /// order; the skip hints are reset where a full direct compaction asked for it
    /// (`reset_isolation_suitable`); kcompactd is woken for the order kswapd was woken for.
    func modernKswapdSleeps(node nid: NodeID, order: Int) {
        let hz = nodes[nid].zoneIds.count - 1
        var boosted = false
        for z in nodes[nid].zoneIds where ms.watermarkBoost[z] != 0 {
            ms.watermarkBoost[z] = 0
            modernApplyMarks(zone: z)
            boosted = true
        }
        if boosted { wakeupKcompactd(node: nid, order: pageblockOrder, highestZoneidx: hz) }
        resetIsolationSuitable(node: nid)
        wakeupKcompactd(node: nid, order: order, highestZoneidx: hz)
    }
}
