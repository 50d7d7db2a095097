/// `compact_zone` of the seed as a resumable sequence of steps (kernel-compaction.md §4.11). A step is
/// either "decide whether to go on, then isolate a batch" or "migrate the isolated batch", so between two
/// steps pages can sit isolated, and their owners may free them (the case the seed's anon_vma patches fixed).
extension Machine {
    /// Starts compacting one zone: the migration scanner at the zone start, the free scanner at the zone
    /// end rounded down to a pageblock (which, for an aligned zone end, is the first block past the zone:
    /// the seed scans it, finds it belongs to another zone, and moves on).
    func makeCompactControl(zone z: ZoneID, order: Int, migratetype: Migratetype) -> CompactControl {
        // Kernel 6.6 (ModernTriggers.swift): compact_node's compact_control.
        if modern != nil { return modernManualCompactControl(zone: z) }
        let zone = zones[z]
        let cc = CompactControl(zone: z, order: order, migratetype: migratetype, migratePfn: zone.startPfn,
                                freePfn: pageblockStartPfn(zone.endPfn))
        tracer?.compactionBegin(CompactionTraceBegin(node: zone.node.rawValue, zone: zone.name, zoneStart: zone.startPfn.rawValue,
                                                     migratePfn: cc.migratePfn.rawValue, freePfn: cc.freePfn.rawValue,
                                                     zoneEnd: zone.endPfn.rawValue, mode: "sync"))
        return cc
    }

    /// `compact_finished` of the seed: COMPLETE when the scanners met; otherwise go on while the zone is
    /// below LOW + 2^order at the requested order, or the whole zone is being compacted (order -1);
    /// PARTIAL once a free block of the request's migratetype and order exists, or any free block of at
    /// least pageblock_order (an allocation would claim its pageblock).
    public func compactFinished(_ cc: CompactControl) -> CompactResult {
        if cc.freePfn <= cc.migratePfn { return .complete }
        if cc.order < 0 { return .continue }
        let watermark = wmarkPages(zone: cc.zone, .low) + (1 << cc.order)
        if !zoneWatermarkOk(zone: cc.zone, order: cc.order, mark: watermark, classzoneIdx: 0) { return .continue }
        for o in cc.order..<nrOrders {
            if freeArea.lengths[freeArea.list(zone: cc.zone, order: o, mt: cc.migratetype)] > 0 { return .partial }
            if o >= pageblockOrder && nrFree(zone: cc.zone, order: o) > 0 { return .partial }
        }
        return .continue
    }

    /// Advances a zone's compaction by one step. Returns true once the run has finished (`cc.result` set).
    @discardableResult
    public func compactZoneStep(_ cc: inout CompactControl) -> Bool {
        if cc.result != nil { return true }
        // Kernel 6.6 (ModernCompactZone.swift); a manual compaction's time is the machine's.
        if cc.modern != nil {
            let t0 = cc.durationNs
            defer { clockNs &+= cc.durationNs &- t0 }
            return modernCompactZoneStep(&cc)
        }
        bumpGeneration()
        let start = cc.durationNs
        defer { clockNs &+= cc.durationNs &- start }
        if !cc.migratepages.isEmpty {
            migrateIsolatedBatch(&cc)
            return false
        }
        let r = compactFinished(cc)
        if r != .continue {
            finishCompactZone(&cc, result: r)
            return true
        }
        _ = isolateMigratepages(&cc)
        return false
    }

    /// Runs a zone's compaction to the end with nothing else running in between (direct compaction, and
    /// the manual triggers when they are not stepped). A step that did not move the run
    /// (`CompactProgress`) would repeat itself exactly, since nothing else can change the zone before the
    /// next one, so it is not repeated: the zone's compaction ends there (`endStalledCompactZone`).
    public func compactZoneToEnd(_ cc: inout CompactControl) -> CompactResult {
        while true {
            let before = cc.progress
            if compactZoneStep(&cc) { return cc.result! }
            if cc.progress == before {
                endStalledCompactZone(&cc)
                return cc.result!
            }
        }
    }

    /// Ends a zone compaction that could move on only after someone else ran. The one step that does not
    /// move a run is `isolate_migratepages` waiting in `too_many_isolated` for pages another run holds
    /// isolated (a manual compaction stopped between its isolation and migration steps); that holder
    /// cannot run until this drive returns, so the seed's congestion_wait loop would never end. The seed
    /// leaves that loop only on a fatal signal: isolate_migratepages returns 0, compact_finished answers
    /// COMPACT_PARTIAL before any other test, and compact_zone releases its free pages and returns it.
    /// The zone ends the same way here (one HZ/10 wait charged), and the allocation that asked goes on
    /// as after any compaction (retry the free lists; compact_fail and defer_compaction if it fails).
    func endStalledCompactZone(_ cc: inout CompactControl) {
        if cc.modern != nil { modernEndStalled(&cc); return }
        assert(tooManyIsolated(zone: cc.zone), "a compaction step moved nothing without waiting in too_many_isolated")
        abortCompactZone(&cc)
    }

    /// The loop body of `compact_zone` after isolation: migrate, count, put back what did not move.
    func migrateIsolatedBatch(_ cc: inout CompactControl) {
        let (migrated, failed) = migrateAndCountBatch(&cc)
        cc.migratepages.removeAll(keepingCapacity: true)
        tracer?.compactionMigratepages(nrMigrated: migrated, nrFailed: failed)
    }

    /// `migrate_pages` of the isolated batch, the counters it moves (vmstat's and the run's), and
    /// `putback_lru_pages` of what did not move; the batch's list stays for the caller to read and empty.
    /// (The seed's and the modern loop share it; the names are the seed's vmstat items, which the results
    /// read on every kernel.)
    func migrateAndCountBatch(_ cc: inout CompactControl) -> (migrated: Int, failed: Int) {
        let freedBefore = cc.freedWhileIsolated
        let (migrated, failed) = migratePages(&cc)
        ev.compactBlocksMoved &+= 1
        if modern == nil {
            // 2.6.35 `compact_zone`: nr_remaining is counted after `migrate_pages`, which has already put
            // back what it could not move (`putback_lru_pages(from)`), so it is always 0: COMPACTPAGES
            // counts every page of the batch and COMPACTPAGEFAILED never grows. pgmigrate_success and
            // pgmigrate_fail (3.8's counters, kept as the simulator's) count what really happened.
            ev.compactPagesMoved &+= UInt64(migrated + failed)
        } else {
            ev.compactPagesMoved &+= UInt64(migrated)
            if failed > 0 { ev.compactPagemigrateFailed &+= UInt64(failed) }
        }
        ev.pgmigrateSuccess &+= UInt64(migrated)
        ev.compactFreedWhileIsolated &+= UInt64(cc.freedWhileIsolated - freedBefore)
        if failed > 0 { ev.pgmigrateFail &+= UInt64(failed) }
        cc.migrated += migrated
        cc.failed += failed
        cc.blocksMoved += 1
        for pfn in cc.migratepages { putbackLruPage(pfn: Pfn(entry: pfn), zone: cc.zone) }
        return (migrated, failed)
    }

    /// The end of `compact_zone`: release unused free pages, add the scanners' totals to vmstat.
    func finishCompactZone(_ cc: inout CompactControl, result: CompactResult) {
        releaseFreepages(&cc)
        cc.result = result
        ev.compactMigrateScanned &+= UInt64(cc.migrateScanned)
        ev.compactFreeScanned &+= UInt64(cc.freeScanned)
        ev.compactIsolated &+= UInt64(cc.isolatedMigrate + cc.isolatedFree)
        let zone = zones[cc.zone]
        tracer?.compactionEnd(CompactionTraceEnd(node: zone.node.rawValue, zone: zone.name, zoneStart: zone.startPfn.rawValue,
                                                 migratePfn: cc.migratePfn.rawValue, freePfn: cc.freePfn.rawValue, zoneEnd: zone.endPfn.rawValue,
                                                 mode: "sync", status: result.name))
    }

    /// Abandons a zone compaction midway (the run was cancelled, or it stalled where nobody else can run):
    /// put isolated pages back, release free ones. Nothing is lost; the result is PARTIAL, as the seed
    /// reports a run stopped by a fatal signal.
    public func abortCompactZone(_ cc: inout CompactControl) {
        guard cc.result == nil else { return }
        if cc.modern != nil { modernEndStalled(&cc); return }
        for pfn in cc.migratepages { putbackLruPage(pfn: Pfn(entry: pfn), zone: cc.zone) }
        cc.migratepages.removeAll()
        finishCompactZone(&cc, result: .partial)
    }
}
