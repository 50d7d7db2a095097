extension Machine {
    /// The seed's `__alloc_pages_slowpath` (kernel-compaction.md §6.3): after the fast path failed at the
    /// LOW watermark, try again at MIN (with the __GFP_HIGH / atomic reductions).
    func allocSlowpath(_ req: AllocRequest, zonelist zl: [Int], preferredZone: Int, mt: Int,
                       outcome: AllocOutcome) -> AllocOutcome {
        var out = outcome
        let classzoneIdx = zones[preferredZone].indexInNode
        let wait = req.gfp.contains(.wait)
        // gfp_to_alloc_flags: __GFP_HIGH → ALLOC_HIGH; a caller that cannot sleep → ALLOC_HARDER.
        var flags: AllocFlags = []
        if req.gfp.contains(.high) { flags.insert(.high) }
        if !wait { flags.insert(.harder) }

        if let (pfn, z) = getPageFromFreelist(order: req.order, mt: mt, zonelist: zl, classzoneIdx: classzoneIdx,
                                              wmark: .min, flags: flags) {
            return finishAlloc(&out, pfn: pfn, zone: z, preferredZone: preferredZone, req: req)
        }
        ev.allocFail += 1
        clockNs &+= out.latencyNs
        return out
    }

    @inline(__always)
    func finishAlloc(_ out: inout AllocOutcome, pfn: Int, zone z: Int, preferredZone: Int, req: AllocRequest) -> AllocOutcome {
        out.handle = prepNewPage(pfn: pfn, zone: z, preferredZone: preferredZone, req: req)
        out.pfn = pfn
        out.zone = z
        clockNs &+= out.latencyNs
        return out
    }
}
