/// kswapd, the per-node background reclaimer (seed `balance_pgdat`). It is woken from the allocation slow
/// path when a zone is below its LOW watermark for the order being allocated, and runs once that
/// allocation has returned (the simulation has one CPU: kswapd's work comes between allocations, as it
/// would on another CPU). Its time is kswapd's, not the allocation's.
extension Machine {
    /// `wakeup_kswapd`: a zone is below LOW at this order, so its node's kswapd gets work.
    func wakeupKswapd(zone z: Int, order: Int) {
        guard zones[z].populated else { return }
        if zoneWatermarkOk(zone: z, order: order, mark: wmarkPages(zone: z, .low), classzoneIdx: 0) { return }
        let nid = zones[z].node
        if kswapdPending[nid] < order { kswapdPending[nid] = order }
    }

    /// Runs kswapd on every node that was woken.
    func runPendingKswapd() {
        for nid in kswapdPending.indices where kswapdPending[nid] >= 0 {
            let order = kswapdPending[nid]
            kswapdPending[nid] = -1
            balancePgdat(node: nid, order: order)
        }
    }

    /// `balance_pgdat`: reclaim in the node's zones, priority 12 down to 0, until every zone is above its
    /// HIGH watermark at `order` (a zone is only shrunk while below 8 × HIGH). A sweep that reclaims a
    /// cluster starts over; one that reclaims less gives up on the high order and balances for order 0.
    /// A sweep at order 0 that frees nothing ends it (the kernel would mark the zones unreclaimable).
    func balancePgdat(node nid: Int, order startOrder: Int) {
        ev.kswapdWakeups &+= 1
        let zoneIds = nodes[nid].zoneIds.filter { zones[$0].populated }
        guard !zoneIds.isEmpty else { return }
        var order = startOrder
        var sc = ScanControl(gfp: .kernel, order: order, isKswapd: true)
        sc.nrToReclaim = Int.max
        var loops = 0
        while loops < 16 {
            loops += 1
            ev.pageoutrun &+= 1
            sc.order = order
            var reclaimedThisLoop = 0
            var allZonesOk = false
            var priority = Machine.defPriority
            while priority >= 0 {
                guard let endIdx = zoneIds.indices.reversed().first(where: {
                    !zoneWatermarkOk(zone: zoneIds[$0], order: order, mark: wmarkPages(zone: zoneIds[$0], .high), classzoneIdx: 0)
                }) else { allZonesOk = true; break }
                let classzone = zones[zoneIds[endIdx]].indexInNode
                var ok = true
                var totalScanned = 0
                let before = sc.nrReclaimed
                for i in 0...endIdx {
                    let z = zoneIds[i]
                    sc.nrScanned = 0
                    let high = wmarkPages(zone: z, .high)
                    if !zoneWatermarkOk(zone: z, order: order, mark: 8 * high, classzoneIdx: classzone) {
                        shrinkZone(zone: z, priority: priority, &sc)
                    }
                    sc.nrReclaimed += shrinkSlab(scanned: sc.nrScanned, lruPages: zoneReclaimablePages(zone: z), zones: [z], &sc)
                    totalScanned += sc.nrScanned
                    if !zoneWatermarkOk(zone: z, order: order, mark: high, classzoneIdx: classzone) { ok = false }
                }
                reclaimedThisLoop += sc.nrReclaimed - before
                if ok { allZonesOk = true; break }
                if totalScanned > 0 && priority < Machine.defPriority - 2 { sc.durationNs &+= costs.congestionWait }
                if reclaimedThisLoop >= Machine.swapClusterMax { break }
                priority -= 1
            }
            if allZonesOk { break }
            if reclaimedThisLoop < Machine.swapClusterMax {
                if order == 0 && reclaimedThisLoop == 0 { break }
                order = 0
            }
        }
        kswapdNs &+= sc.durationNs
    }
}
