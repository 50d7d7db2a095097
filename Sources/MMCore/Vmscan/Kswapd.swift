/// kswapd, the per-node background reclaimer (seed `balance_pgdat`). It is woken from the allocation slow
/// path when a zone is below its LOW watermark for the order being allocated. kswapd runs on its own CPU:
/// the simulation lets it work, between allocations, for as much simulated time as has passed on the
/// machine since it last ran (its credit), so a burst of allocations outruns it and stalls in direct
/// reclaim, while allocations spaced out in time find it has caught up. Its time is not the allocation's.
extension Machine {
    /// `wakeup_kswapd`: a zone is below LOW at this order, so its node's kswapd gets work.
    func wakeupKswapd(zone z: ZoneID, order: Int) {
        guard zones[z].populated else { return }
        if zoneWatermarkOk(zone: z, order: order, mark: wmarkPages(zone: z, .low), classzoneIdx: 0) { return }
        let nid = zones[z].node
        if kswapdPending[nid] < order { kswapdPending[nid] = order }
    }

    /// Lets simulated time pass with no allocation running (a workload's delay between steps): the
    /// clock advances and kswapd gets that time to work.
    public func idle(ns: UInt64) {
        clockNs &+= ns
        runPendingKswapd()
        bumpGeneration()
    }

    /// Lets every woken kswapd work for the simulated time that passed since it last ran.
    func runPendingKswapd() {
        guard kswapdHeld == 0 else {
            kswapdOwed = true
            return
        }
        let elapsed = clockNs &- kswapdClock
        kswapdClock = clockNs
        for nid in nodeIDs {
            // A sleeping kswapd banks no time; one that overran its credit works it off first.
            guard kswapdPending[nid] >= 0 else { kswapdCredit[nid] = min(kswapdCredit[nid], 0); continue }
            kswapdCredit[nid] += Int64(clamping: elapsed)
            guard kswapdCredit[nid] > 0 else { continue }
            let order = kswapdPending[nid]
            let stolen = ev.pgstealKswapd
            let (finished, used) = balancePgdat(node: nid, order: order, budgetNs: UInt64(kswapdCredit[nid]))
            kswapdCredit[nid] -= Int64(clamping: used)
            if finished { kswapdPending[nid] = -1; kswapdCredit[nid] = min(kswapdCredit[nid], 0) }
            // Kernel 6.6 (ModernSlowpath.swift): the order kswapd balances for, kcompactd as it sleeps.
            if modern != nil { modernKswapdRan(node: nid, order: order, finished: finished, reclaimed: Int(ev.pgstealKswapd &- stolen)) }
        }
        if modern != nil { runPendingKcompactd() }
        runFlusher()
    }

    /// `zone_reclaimable`: fewer pages scanned since the last free than six times the reclaimable pages.
    func zoneReclaimable(zone z: ZoneID) -> Bool {
        zonePagesScanned[z] < zoneReclaimablePages(zone: z) * 6
    }

    /// `balance_pgdat`: reclaim in the node's zones, priority 12 down to 0, until every zone is above its
    /// HIGH watermark at `order` (a zone is only shrunk while below 8 × HIGH). A sweep that reclaims a
    /// cluster starts over; one that reclaims less gives up on the high order and balances for order 0.
    /// A sweep at order 0 that frees nothing ends it (the kernel would mark the zones unreclaimable).
    /// Stops when balanced (returns true) or when its budget of simulated time is used up (false: it
    /// keeps its order and goes on next time). Zones found unreclaimable (`all_unreclaimable`: scanned six
    /// times over since a page was last freed in them) count as balanced, as in the kernel.
    func balancePgdat(node nid: NodeID, order startOrder: Int, budgetNs: UInt64 = .max) -> (finished: Bool, usedNs: UInt64) {
        ev.kswapdWakeups &+= 1
        let zoneIds = nodes[nid].zoneIds.filter { zones[$0].populated }
        guard !zoneIds.isEmpty else { return (true, 0) }
        func balanced(_ z: ZoneID, _ order: Int, _ mark: Int, _ classzone: Int) -> Bool {
            zoneAllUnreclaimable[z] != 0 || zoneWatermarkOk(zone: z, order: order, mark: mark, classzoneIdx: classzone)
        }
        var order = startOrder
        var sc = ScanControl(gfp: .kernel, order: order, isKswapd: true)
        sc.nrToReclaim = Int.max
        var loops = 0
        var outOfTime = false
        while loops < 16 && !outOfTime {
            loops += 1
            ev.pageoutrun &+= 1
            sc.order = order
            var reclaimedThisLoop = 0
            var allZonesOk = false
            var priority = Machine.defPriority
            while priority >= 0 {
                guard let endIdx = zoneIds.indices.reversed().first(where: {
                    !balanced(zoneIds[$0], order, wmarkPages(zone: zoneIds[$0], .high), 0)
                }) else { allZonesOk = true; break }
                let classzone = zones[zoneIds[endIdx]].indexInNode
                // balance_pgdat: shrink_slab weighs the slab against the LRU pages of every zone up to
                // end_zone, counted once per priority before the zones are scanned (not the one zone).
                let lruPages = zoneIds[0...endIdx].reduce(0) { $0 + zoneReclaimablePages(zone: $1) }
                var ok = true
                var totalScanned = 0
                let before = sc.nrReclaimed
                for i in 0...endIdx {
                    let z = zoneIds[i]
                    if zoneAllUnreclaimable[z] != 0 && priority != Machine.defPriority { continue }
                    sc.nrScanned = 0
                    let high = wmarkPages(zone: z, .high)
                    if !zoneWatermarkOk(zone: z, order: order, mark: 8 * high, classzoneIdx: classzone) {
                        shrinkZone(zone: z, priority: priority, &sc)
                    }
                    let slab = shrinkSlab(scanned: sc.nrScanned, lruPages: lruPages, zones: [z], &sc)
                    sc.nrReclaimed += slab.pages
                    totalScanned += sc.nrScanned
                    if zoneAllUnreclaimable[z] != 0 { continue }
                    if slab.objects == 0 && !zoneReclaimable(zone: z) { zoneAllUnreclaimable[z] = 1 }
                    if !balanced(z, order, high, classzone) { ok = false }
                    if sc.durationNs >= budgetNs { outOfTime = true; break }
                }
                if outOfTime { break }
                reclaimedThisLoop += sc.nrReclaimed - before
                if ok { allZonesOk = true; break }
                if totalScanned > 0 && priority < Machine.defPriority - 2 { sc.durationNs &+= costs.congestionWait }
                if reclaimedThisLoop >= Machine.swapClusterMax { break }
                priority -= 1
            }
            if allZonesOk { break }
            if outOfTime { break }
            if reclaimedThisLoop < Machine.swapClusterMax {
                if order == 0 && reclaimedThisLoop == 0 { allZonesOk = true; break }
                order = 0
            }
        }
        kswapdNs &+= sc.durationNs
        return (!outOfTime, sc.durationNs)
    }
}
