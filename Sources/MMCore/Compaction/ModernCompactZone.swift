/// `compact_zone` of the modern profile (kernel 6.6, mm/compaction.c; kernel-compaction.md §4.3–4.5) as
/// a resumable sequence of steps, like the seed's: "decide whether to go on, then isolate a batch" or
/// "migrate the isolated batch". The clock is not charged here: direct compaction and the manual
/// triggers charge the caller's time, kcompactd its own.
extension Machine {
    /// COMPACTION_HPAGE_ORDER: the PMD huge page order, the pageblock order on every preset here.
    var compactionHpageOrder: Int { pageblockOrder }

    /// `compact_gap(order)`: 2 << order free pages for the migration copies.
    @inline(__always) static func compactGap(_ order: Int) -> Int { 2 << order }

    /// A compact_control of the modern profile for one zone (the caller sets the entry point's fields,
    /// as `compact_zone_order`, `kcompactd_do_work`, `proactive_compact_node` and `compact_node` do).
    func makeModernCompactControl(zone z: ZoneID, order: Int, migratetype: Migratetype, fields: ModernCompactFields) -> CompactControl {
        var cc = CompactControl(zone: z, order: order, migratetype: migratetype, migratePfn: Pfn(0), freePfn: Pfn(0))
        cc.modern = fields
        return cc
    }

    static func modernFields(mode: MigrateMode, direct: Bool = false, proactive: Bool = false, wholeZone: Bool = false,
                             ignoreSkipHint: Bool = false, ignoreBlockSuitable: Bool = false, kcompactd: Bool = false,
                             highestZoneidx: Int, allocFlags: ModernAllocFlags = [], gfpFS: Bool = true, order: Int) -> ModernCompactFields {
        ModernCompactFields(mode: mode, directCompaction: direct, proactiveCompaction: proactive, wholeZone: wholeZone,
                            ignoreSkipHint: ignoreSkipHint, ignoreBlockSuitable: ignoreBlockSuitable, kcompactd: kcompactd,
                            highestZoneidx: highestZoneidx, allocFlags: allocFlags, gfpFS: gfpFS, searchOrder: order)
    }

    /// The prologue of `compact_zone`: an allocation that can already succeed is SUCCESS, a zone
    /// compaction is unlikely to help is SKIPPED (both before any scan); skip hints are cleared when
    /// compaction restarts after deferral; the scanners start at the cached positions (or the zone's
    /// ends for a whole-zone run). Returns a result when the run ends here.
    func modernCompactZoneBegin(_ cc: inout CompactControl) -> ModernCompactResult? {
        let z = cc.zone
        let zone = zones[z]
        let f = cc.modern!
        if cc.order >= 0 {
            let mark = wmarkPages(zone: z, f.allocFlags.wmark)
            if modernZoneWatermarkOk(zone: z, order: cc.order, mark: mark, highestZoneidx: f.highestZoneidx, flags: f.allocFlags) {
                return endBeforeScan(&cc, .success)
            }
            if !modernCompactionSuitable(zone: z, order: cc.order, highestZoneidx: f.highestZoneidx) {
                return endBeforeScan(&cc, .skipped)
            }
        }
        if compactionRestarting(zone: z, order: cc.order) { resetIsolationSuitable(zone: z) }
        let start = zone.startPfn, end = zone.endPfn
        cc.modern!.fastStartPfn = ModernCompactFields.fastStartUnset
        if f.wholeZone {
            cc.migratePfn = start
            cc.freePfn = pageblockStartPfn(end - 1)
        } else {
            let sync = f.mode != .async
            cc.migratePfn = sync ? ms.cachedMigratePfn1[z] : ms.cachedMigratePfn0[z]
            cc.freePfn = ms.cachedFreePfn[z]
            if cc.freePfn < start || cc.freePfn >= end {
                cc.freePfn = pageblockStartPfn(end - 1)
                ms.cachedFreePfn[z] = cc.freePfn
            }
            if cc.migratePfn < start || cc.migratePfn >= end {
                cc.migratePfn = start
                ms.cachedMigratePfn0[z] = start
                ms.cachedMigratePfn1[z] = start
            }
            if cc.migratePfn <= ms.initMigratePfn[z] { cc.modern!.wholeZone = true }
        }
        cc.modern!.lastMigratedPfn = Pfn(0)
        cc.modern!.updateCached = f.mode == .async && ms.cachedMigratePfn0[z] == ms.cachedMigratePfn1[z]
        tracer?.compactionBegin(CompactionTraceBegin(node: zone.node.rawValue, zone: zone.name, zoneStart: start.rawValue,
                                                     migratePfn: cc.migratePfn.rawValue, freePfn: cc.freePfn.rawValue,
                                                     zoneEnd: end.rawValue, mode: f.mode.traceName))
        return nil
    }

    private func endBeforeScan(_ cc: inout CompactControl, _ r: ModernCompactResult) -> ModernCompactResult {
        cc.modern!.result = r
        cc.result = r.recorded
        return r
    }

    /// `compaction_suitable`: the zone must have, at order 0, its MIN (costly orders: LOW) watermark
    /// plus `compact_gap(order)` free, and for costly orders the fragmentation index must say a failure
    /// would be due to fragmentation (outside 0...extfrag_threshold).
    public func modernCompactionSuitable(zone z: ZoneID, order: Int, highestZoneidx: Int) -> Bool {
        var suitable = modernCompactionSuitableWatermark(zone: z, order: order, highestZoneidx: highestZoneidx, free: zoneCounters.freePages[z])
        var ret: ModernCompactResult = .skipped
        if suitable {
            ret = .continue
            if order > Machine.pageAllocCostlyOrder {
                let fi = fragmentationIndex(zone: z, order: order)
                if fi >= 0 && fi <= extfragThreshold {
                    suitable = false
                    ret = .notSuitableZone
                }
            }
        }
        tracer?.modern(.suitable(node: zones[z].node.rawValue, zone: zones[z].name, order: order, ret: ret.name))
        return suitable
    }

    /// `__compaction_suitable`: the order-0 watermark test with a given count of free pages.
    func modernCompactionSuitableWatermark(zone z: ZoneID, order: Int, highestZoneidx: Int, free: Int) -> Bool {
        var mark = order > Machine.pageAllocCostlyOrder ? wmarkPages(zone: z, .low) : wmarkPages(zone: z, .min)
        mark += Machine.compactGap(order)
        return modernZoneWatermarkOkFree(zone: z, order: 0, mark: mark, highestZoneidx: highestZoneidx, flags: .cma, free: free)
    }

    /// `compaction_zonelist_suitable`: would one zone pass `__compaction_suitable` if reclaim freed a
    /// share (1/order) of its reclaimable pages?
    func modernCompactionZonelistSuitable(_ zl: [ZoneID], order: Int, highestZoneidx: Int) -> Bool {
        for z in zl where zones[z].populated {
            let available = zoneReclaimablePages(zone: z) / order + zoneCounters.freePages[z]
            if modernCompactionSuitableWatermark(zone: z, order: order, highestZoneidx: highestZoneidx, free: available) { return true }
        }
        return false
    }

    /// `fragmentation_score_zone`: `extfrag_for_order` at COMPACTION_HPAGE_ORDER.
    public func fragmentationScoreZone(_ z: ZoneID) -> Int {
        MMCore.extfragForOrder(order: compactionHpageOrder, contigPageInfo(zone: z, order: compactionHpageOrder))
    }

    /// `fragmentation_score_wmark`: low = max(100 - proactiveness, 5), high = min(low + 10, 100).
    public static func fragmentationScoreWmark(proactiveness: Int, low: Bool) -> Int {
        let wmarkLow = max(100 - proactiveness, 5)
        return low ? wmarkLow : min(wmarkLow + 10, 100)
    }

    /// `compact_scanners_met`: the free scanner is in the same or a lower pageblock than the migration scanner.
    @inline(__always) func compactScannersMet(_ cc: CompactControl) -> Bool {
        cc.freePfn.blockIndex(order: pageblockOrder) <= cc.migratePfn.blockIndex(order: pageblockOrder)
    }

    /// `can_steal_fallback` (6.6): a whole pageblock, half of one, or any unmovable / reclaimable request.
    @inline(__always) func canStealFallback(order: Int, startMt: Migratetype) -> Bool {
        if order >= pageblockOrder { return true }
        return order >= pageblockOrder / 2 || startMt == .reclaimable || startMt == .unmovable || mobilityGroupingDisabled
    }

    /// `find_suitable_fallback(area, order, migratetype, only_stealable, &can_steal)`: the first fallback
    /// type with a free block of this order (only one whose block may be stolen whole if asked), or nil
    /// (the kernel's -1).
    func findSuitableFallback(zone z: ZoneID, order: Int, migratetype mt: Migratetype, onlyStealable: Bool) -> (mt: Migratetype?, canSteal: Bool) {
        if nrFree(zone: z, order: order) == 0 { return (nil, false) }
        var canSteal = false
        for fb in Machine.fallbacks[mt] {
            if freeArea.lengths[freeArea.list(zone: z, order: order, mt: fb)] == 0 { continue }
            if canStealFallback(order: order, startMt: mt) { canSteal = true }
            if !onlyStealable { return (fb, canSteal) }
            if canSteal { return (fb, canSteal) }
        }
        return (nil, canSteal)
    }

    /// `__compact_finished` + `compact_finished` of 6.6 (NO_SUITABLE_PAGE reported as CONTINUE).
    func modernCompactFinished(_ cc: CompactControl) -> ModernCompactResult {
        let z = cc.zone
        let f = cc.modern!
        var ret: ModernCompactResult
        if compactScannersMet(cc) {
            resetCachedPositions(zone: z)
            if f.directCompaction { ms.blockskipFlush[z] = true }
            ret = f.wholeZone ? .complete : .partialSkipped
        } else if f.proactiveCompaction {
            if kswapdIsRunning(node: zones[z].node) {
                ret = .partialSkipped
            } else {
                let score = fragmentationScoreZone(z)
                ret = score > Machine.fragmentationScoreWmark(proactiveness: ms.compactionProactiveness, low: true) ? .continue : .success
            }
        } else if cc.order < 0 {
            return .continue
        } else if !pageblockAligned(cc.migratePfn) {
            return .continue
        } else {
            ret = .noSuitablePage
            for o in cc.order..<nrOrders {
                if freeArea.lengths[freeArea.list(zone: z, order: o, mt: cc.migratetype)] > 0 { ret = .success; break }
                if findSuitableFallback(zone: z, order: o, migratetype: cc.migratetype, onlyStealable: true).mt != nil { ret = .success; break }
            }
        }
        tracer?.modern(.finished(node: zones[z].node.rawValue, zone: zones[z].name, order: cc.order, ret: ret.name))
        return ret == .noSuitablePage ? .continue : ret
    }

    /// kswapd is awake on the node (`kswapd_is_running`).
    @inline(__always) func kswapdIsRunning(node nid: NodeID) -> Bool { kswapdPending[nid] >= 0 }

    /// One step of the modern `compact_zone`. Returns true once the run has finished (`cc.result` set).
    /// A step that moves nothing (`CompactProgress` unchanged) only waited in `too_many_isolated` for
    /// pages another run holds: the caller ends the zone (`modernEndStalled`) or lets others run.
    @discardableResult
    func modernCompactZoneStep(_ cc: inout CompactControl) -> Bool {
        if cc.result != nil { return true }
        bumpGeneration()
        if !cc.migratepages.isEmpty {
            modernMigrateBatch(&cc)
            return cc.result != nil
        }
        if !cc.modern!.rescan {
            let r = modernCompactFinished(cc)
            if r != .continue {
                modernFinishCompactZone(&cc, r)
                return true
            }
            cc.modern!.finishPageblock = pageblockStartPfn(cc.modern!.lastMigratedPfn) == pageblockStartPfn(cc.migratePfn)
        }
        cc.modern!.rescan = false
        switch modernIsolateMigratepages(&cc) {
        case .abort:
            for pfn in cc.migratepages { putbackLruPage(pfn: Pfn(entry: pfn), zone: cc.zone) }
            cc.migratepages.removeAll()
            modernFinishCompactZone(&cc, .contended)
            return true
        case .throttled:
            return false
        case .none:
            if cc.modern!.updateCached { ms.cachedMigratePfn1[cc.zone] = ms.cachedMigratePfn0[cc.zone] }
            modernCheckDrain(&cc)
            return false
        case .success:
            cc.modern!.updateCached = false
            cc.modern!.lastMigratedPfn = max(zones[cc.zone].startPfn, pageblockStartPfn(cc.migratePfn - 1))
            return false
        }
    }

    /// The migration half of the loop: `migrate_pages`, then the -ENOMEM and rescan rules, the capture
    /// check and `check_drain`.
    func modernMigrateBatch(_ cc: inout CompactControl) {
        cc.modern!.freeScanEmpty = false
        // (compact_blocks_moved / _pages_moved / _pagemigrate_failed are the seed's names: 6.6's vmstat
        // text leaves them out, the results' columns read them on every kernel.)
        let (migrated, failed) = migrateAndCountBatch(&cc)
        let err = !cc.migratepages.isEmpty
        let enomem = err && cc.freepages.isEmpty && cc.modern!.freeScanEmpty
        cc.migratepages.removeAll(keepingCapacity: true)
        tracer?.compactionMigratepages(nrMigrated: migrated, nrFailed: failed)
        if err {
            if enomem && !compactScannersMet(cc) {
                modernFinishCompactZone(&cc, .contended)
                return
            }
            let f = cc.modern!
            if !pageblockAligned(cc.migratePfn) && !f.ignoreSkipHint && !f.finishPageblock && f.mode < .sync {
                cc.modern!.finishPageblock = true
                if cc.order == compactionHpageOrder { cc.modern!.lastMigratedPfn = Pfn(0) }
                cc.modern!.rescan = true
                return
            }
        }
        if ms.captureZone == cc.zone && ms.capturedPfn != nil {
            modernFinishCompactZone(&cc, .success)
            return
        }
        modernCheckDrain(&cc)
    }

    /// `check_drain`: once the migration scanner has left the order-aligned block it last migrated from,
    /// drain this zone's per-CPU pages so the freed pages merge (and a direct compactor may capture one).
    func modernCheckDrain(_ cc: inout CompactControl) {
        guard cc.order > 0, cc.modern!.lastMigratedPfn != Pfn(0) else { return }
        let currentBlockStart = cc.migratePfn.alignedDown(order: cc.order)
        if cc.modern!.lastMigratedPfn < currentBlockStart {
            drainZonePages(cc.zone)
            cc.modern!.lastMigratedPfn = Pfn(0)
        }
    }

    /// `drain_local_pages(zone)`: this zone's per-CPU pages back to the buddy allocator.
    func drainZonePages(_ z: ZoneID) {
        guard pcp.count[z] > 0 else { return }
        freePcppagesBulk(zone: z, count: Int(pcp.count[z]))
        pcp.count[z] = 0
    }

    /// The end of `compact_zone`: release the unused free pages (moving the cached free pfn up to the
    /// highest of them, never down), add the scanners' totals to vmstat.
    func modernFinishCompactZone(_ cc: inout CompactControl, _ r: ModernCompactResult) {
        if !cc.freepages.isEmpty {
            var high = Pfn(0)
            for entry in cc.freepages where Pfn(entry: entry) > high { high = Pfn(entry: entry) }
            releaseFreepages(&cc)
            let freePfn = pageblockStartPfn(high)
            if freePfn > ms.cachedFreePfn[cc.zone] { ms.cachedFreePfn[cc.zone] = freePfn }
        }
        cc.modern!.result = r
        cc.result = r.recorded
        ev.compactMigrateScanned &+= UInt64(cc.migrateScanned)
        ev.compactFreeScanned &+= UInt64(cc.freeScanned)
        if cc.modern!.kcompactd {
            ev.modern.compactDaemonMigrateScanned &+= UInt64(cc.migrateScanned)
            ev.modern.compactDaemonFreeScanned &+= UInt64(cc.freeScanned)
        }
        let zone = zones[cc.zone]
        tracer?.compactionEnd(CompactionTraceEnd(node: zone.node.rawValue, zone: zone.name, zoneStart: zone.startPfn.rawValue,
                                                 migratePfn: cc.migratePfn.rawValue, freePfn: cc.freePfn.rawValue,
                                                 zoneEnd: zone.endPfn.rawValue, mode: cc.modern!.mode.traceName, status: r.name))
    }

    /// Ends a zone compaction that only waited for pages another run holds isolated: in the kernel the
    /// throttle in `isolate_migratepages_block` ends only on a fatal signal (-EINTR), which makes the
    /// zone COMPACT_CONTENDED.
    func modernEndStalled(_ cc: inout CompactControl) {
        guard cc.result == nil else { return }
        for pfn in cc.migratepages { putbackLruPage(pfn: Pfn(entry: pfn), zone: cc.zone) }
        cc.migratepages.removeAll()
        modernFinishCompactZone(&cc, .contended)
    }

    /// Runs a modern zone compaction from its prologue to its end with nothing else running in between,
    /// without charging the clock (the caller does). Returns the result.
    func modernCompactZoneToEnd(_ cc: inout CompactControl) -> ModernCompactResult {
        if let r = modernCompactZoneBegin(&cc) { return r }
        while true {
            let before = cc.progress
            if modernCompactZoneStep(&cc) { return cc.modern!.result! }
            if cc.progress == before {
                modernEndStalled(&cc)
                return cc.modern!.result!
            }
        }
    }
}
