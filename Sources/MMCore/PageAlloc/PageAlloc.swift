/// The result of one allocation attempt.
///
/// Stored in four machine words (the handle's raw value, the latency, the pfn with the zone and the two
/// stall flags, the pages reclaimed) so that `allocate` returns it in registers: it returns one per call.
public struct AllocOutcome: Sendable, Equatable {
    /// The handle's raw value; 0 for none (a live handle's generation is never 0).
    private var handleRaw: UInt64 = 0
    /// Simulated latency of the attempt in nanoseconds.
    public var latencyNs: UInt64 = 0
    /// The pfn as stored in the machine's 32-bit link fields (`NONE` for -1), and the zone id (zone ids
    /// fit the 16 bits `pageblockZone` keeps them in).
    private var pfnBits: UInt32 = NONE
    private var zoneBits: Int16 = -1
    /// The attempt entered direct compaction.
    public var stalledInCompaction: Bool = false
    /// The attempt entered direct reclaim.
    public var stalledInReclaim: Bool = false
    /// Pages reclaimed on behalf of this attempt.
    public var pagesReclaimed: Int = 0

    init(handle: PageHandle? = nil, pfn: Pfn? = nil, zone: Int = -1, latencyNs: UInt64 = 0) {
        self.handle = handle
        self.pfn = pfn?.rawValue ?? -1
        self.zone = zone
        self.latencyNs = latencyNs
    }

    public var handle: PageHandle? {
        get { handleRaw == 0 ? nil : PageHandle(raw: handleRaw) }
        set { handleRaw = newValue?.raw ?? 0 }
    }
    /// Head pfn of the block (-1 on failure).
    public var pfn: Int {
        // NONE + 1 wraps to 0: -1 for NONE, the pfn otherwise, without a branch.
        get { Int(pfnBits &+ 1) &- 1 }
        set { pfnBits = newValue < 0 ? NONE : UInt32(newValue) }
    }
    /// Zone id the block came from (-1 on failure).
    public var zone: Int {
        get { Int(zoneBits) }
        set { zoneBits = Int16(truncatingIfNeeded: newValue) }
    }
    public var succeeded: Bool { handleRaw != 0 }
}

extension Machine {
    /// Checks an allocation request against this machine; throws naming the field. The check is inline
    /// (it runs on every allocation); building the error is not.
    @inline(__always)
    func validate(_ req: AllocRequest) throws(MMError) {
        let badNode = req.node.map { $0 < 0 || $0 >= nodeCount } ?? false
        if _slowPath(req.order < 0 || req.order >= nrOrders || badNode) { try rejectRequest(req) }
    }

    /// Checks an allocation request against this machine without allocating: the error `allocate`
    /// would throw for it, naming the field.
    public func validateRequest(_ req: AllocRequest) throws(MMError) { try validate(req) }

    /// Throws the error that names what is wrong with a request `validate` refused.
    @inline(never)
    func rejectRequest(_ req: AllocRequest) throws(MMError) {
        guard req.order >= 0 && req.order < nrOrders else {
            throw .orderOutOfRange(field: FieldPath("order"), order: req.order, max: nrOrders - 1)
        }
        if let n = req.node, !(0..<nodes.count).contains(n) {
            throw .unknownNode(field: FieldPath("node"), node: n)
        }
    }

    /// `gfp_zone()`: the highest zone index an allocation of this kind may use.
    @inline(__always)
    func highestZoneIdx(for kind: AllocKind) -> Int { highestZoneIdxByKind[Int(kind.rawValue)] }

    /// `gfp_zone()` of a request: from its zone modifiers when it has any (__GFP_MOVABLE: every zone up
    /// to ZONE_MOVABLE; __GFP_HIGHMEM alone: up to the highest zone below it), else its kind's.
    @inline(__always)
    func highestZoneIdx(for req: AllocRequest) -> Int {
        if _fastPath(req.gfp.rawValue & GFPFlags.zoneBits.rawValue == 0) { return highestZoneIdx(for: req.kind) }
        if req.gfp.contains(.movable) { return highestZoneIdx(for: .anon) }
        return highestZoneIdx(for: .pinned)
    }

    /// `allocflags_to_migratetype` of a request: MOVABLE with __GFP_MOVABLE; with __GFP_HIGHMEM alone (no
    /// __GFP_MOVABLE, no __GFP_RECLAIMABLE) UNMOVABLE; else its kind's.
    @inline(__always)
    func requestMigratetype(_ req: AllocRequest) -> Migratetype {
        if _fastPath(req.gfp.rawValue & GFPFlags.zoneBits.rawValue == 0) { return requestMigratetype(req.kind) }
        if mobilityGroupingDisabled { return .unmovable }
        return req.gfp.contains(.movable) ? .movable : .unmovable
    }

    /// The migratetype an allocation asks for (UNMOVABLE for everything when grouping is disabled).
    @inline(__always)
    func requestMigratetype(_ kind: AllocKind) -> Migratetype {
        mobilityGroupingDisabled ? .unmovable : kind.migratetype
    }


    /// Allocates a block of 2^order pages (`__alloc_pages_nodemask`): the fast path at the LOW watermark
    /// along the zonelist, then the slow path. Throws for an invalid request, and `stateLimit` when the
    /// allocation needs a handle slot the state gate refuses (before anything changed); a request memory
    /// cannot satisfy returns an outcome without a handle.
    ///
    /// The commonest case, an order-0 page from the head of the first zone's per-CPU list, is handled
    /// here with a small frame; every other case (a full zonelist walk, a list to refill, the slow path)
    /// is `allocateAlongZonelist`, which does the same work for this case too.
    public func allocate(_ req: AllocRequest) throws(MMError) -> AllocOutcome {
        if req.order == 0 && req.gfp.rawValue & GFPFlags.zoneBits.rawValue == 0 {
            // The request's state byte, LRU list and migratetype (requestMigratetype) in one look-up.
            let info = prepHeadInfo[Machine.prepHeadIndex(kind: req.kind, order: 0, mlock: req.mlock, dirty: req.dirty)]
            let mt = Migratetype(rawValue: Int(info &>> 16 & 0xFF))
            let z = order0FastZone(req, mt: mt)
            if z >= 0 {
                // A freed slot to reuse, or room for a new one below the handle table's slot limit (else
                // the general path asks the state gate for more, `growHandleTable`). Two copies of the
                // fast path, so that neither tests `freeHead` again.
                let fh = handles.freeHead
                if fh != NONE { return order0FastAllocate(req, zone: ZoneID(z), mt: mt, info: info, freeHead: fh) }
                if handles.used < handles.slotLimit { return order0FastAllocate(req, zone: ZoneID(z), mt: mt, info: info, freeHead: NONE) }
            }
        }
        return try allocateAlongZonelist(req)
    }

    /// The order-0 fast path's work once `order0FastZone` chose zone `z` and `freeHead` was read.
    @inline(__always)
    func order0FastAllocate(_ req: AllocRequest, zone z: ZoneID, mt: Migratetype, info: UInt32, freeHead fh: UInt32) -> AllocOutcome {
        bumpGeneration()
        clockNs &+= costs.allocFastPath
        // pcpAllocate's list_del of the head; prepNewPage writes the page's state and order.
        let pfn = pcpUnlinkHead(zone: z, list: mt)
        pcp.count[z] &-= 1
        let h = prepNewPage(pfn: pfn, zone: z, preferredZone: z, req: req, info: info, freeHead: fh)
        return AllocOutcome(handle: h, pfn: pfn, zone: z.rawValue, latencyNs: costs.allocFastPath)
    }

    /// The zone an order-0 request takes its page from without walking the zonelist, or -1: the
    /// zonelist's first zone when it is on the right node for __GFP_THISNODE, passes its LOW watermark
    /// and has a page on the per-CPU list of the request's migratetype. Exactly the case where
    /// `allocateAlongZonelist` would take that list's head from its first zone; reads only.
    @inline(__always)
    func order0FastZone(_ req: AllocRequest, mt: Migratetype) -> Int {
        let z: Int
        if let node = req.node {
            if node < 0 || node >= nodeCount { return -1 }
            z = Int(zonelistFirstZone[node &* AllocKind.count &+ Int(req.kind.rawValue)])
            if z < 0 { return -1 }
            if req.gfp.contains(.thisnode) && Int(zoneNode[z]) != node { return -1 }
        } else {
            // No node: node 0, which every machine has (MachineConfig.validate requires 1...maxNodes).
            z = Int(zonelistFirstZone[Int(req.kind.rawValue)])
            if z < 0 { return -1 }
            if req.gfp.contains(.thisnode) && zoneNode[z] != 0 { return -1 }
        }
        // zone_watermark_ok(z, 0, LOW, classzone = z's own index, no flags): free > LOW + lowmem_reserve.
        if zoneCounters.freePages[ZoneID(z)] <= zoneOrder0LowMark[z] { return -1 }
        if pcp.heads[pcp.list(zone: ZoneID(z), mt: mt)] == NONE { return -1 }
        return z
    }

    /// `__alloc_pages_nodemask` in full: the fast path at the LOW watermark along the zonelist, then the
    /// slow path.
    @inline(never)
    func allocateAlongZonelist(_ req: AllocRequest) throws(MMError) -> AllocOutcome {
        // Kernel 6.6 (ModernSlowpath.swift): its own fast and slow paths.
        if _slowPath(modern != nil) { return try modernAllocateAlongZonelist(req) }
        try validate(req)
        // Every issued slot is in use and the table is at its slot limit: the next granule is asked for
        // before anything changes (`stateLimit` when refused). The fast path never gets here with a
        // new slot to issue at the limit: the limit blocks it (`HandleTable`).
        if _slowPath(handles.atSlotLimit) { try growHandleTable() }
        bumpGeneration()
        let start = clockNs
        clockNs &+= costs.allocFastPath
        let node = req.node ?? 0
        let zl = zonelistRange(node: NodeID(node), highestZoneIdx: highestZoneIdx(for: req))
        guard zl.count > 0 else {
            ev.allocFail += 1
            return AllocOutcome(latencyNs: costs.allocFastPath)
        }
        let thisnode = req.gfp.contains(.thisnode) ? node : -1
        let preferred = ZoneID(Int(zonelistFlat[zl.lowerBound]))
        let mt = requestMigratetype(req)
        let classzoneIdx = Int(zoneIndexInNode[preferred])
        // Fast path: the first zone above its LOW watermark that has a block.
        var i = zl.lowerBound
        while i < zl.upperBound {
            let z = ZoneID(Int(zonelistFlat[i]))
            i &+= 1
            if thisnode >= 0 && Int(zoneNode[z]) != thisnode { continue }
            if let pfn = takeBlock(zone: z, order: req.order, mt: mt, classzoneIdx: classzoneIdx, wmark: .low, flags: []) {
                let h = prepNewPage(pfn: pfn, zone: z, preferredZone: preferred, req: req)
                return AllocOutcome(handle: h, pfn: pfn, zone: z.rawValue, latencyNs: costs.allocFastPath)
            }
        }
        return allocSlowpath(req, zonelist: zonelistFor(req), preferredZone: preferred, mt: mt, start: start)
    }

    /// The zonelist an allocation walks, as an array (the preferred node's zones only for __GFP_THISNODE).
    func zonelistFor(_ req: AllocRequest) -> [ZoneID] {
        let node = req.node ?? 0
        let full = zonelists[node][highestZoneIdx(for: req)]
        return req.gfp.contains(.thisnode) ? full.filter { zones[$0].node.rawValue == node } : full
    }

    /// The positions in `zonelistFlat` of one zonelist.
    @inline(__always)
    func zonelistRange(node: NodeID, highestZoneIdx: Int) -> Range<Int> {
        let k = node.rawValue &* zoneTypeCount &+ highestZoneIdx
        return Int(zonelistOffsets[k])..<Int(zonelistOffsets[k &+ 1])
    }

    /// One zone's step of `get_page_from_freelist`: if the zone passes its watermark and has a block,
    /// take it (`buffered_rmqueue`) and return its pfn.
    @inline(__always)
    func takeBlock(zone z: ZoneID, order: Int, mt: Migratetype, classzoneIdx: Int, wmark: Wmark, flags: AllocFlags) -> Pfn? {
        let mark = wmarkPages(zone: z, wmark)
        if !zoneWatermarkOk(zone: z, order: order, mark: mark, classzoneIdx: classzoneIdx, flags: flags) { return nil }
        // buffered_rmqueue: order 0 through the per-CPU lists, larger blocks from the buddy lists.
        if order == 0 { return pcpAllocate(zone: z, mt: mt) }
        guard let pfn = rmqueue(zone: z, order: order, mt: mt) else { return nil }
        zoneCounters.freePages[z] -= 1 &<< order
        return pfn
    }

    /// `get_page_from_freelist()`: the first zone of the list that passes its watermark and has a block.
    func getPageFromFreelist(order: Int, mt: Migratetype, zonelist: [ZoneID], classzoneIdx: Int, wmark: Wmark,
                             flags: AllocFlags) -> (pfn: Pfn, zone: ZoneID)? {
        for z in zonelist {
            if let pfn = takeBlock(zone: z, order: order, mt: mt, classzoneIdx: classzoneIdx, wmark: wmark, flags: flags) {
                return (pfn, z)
            }
        }
        return nil
    }

    /// `min_wmark_pages` / `low_wmark_pages` / `high_wmark_pages`.
    @inline(__always)
    public func wmarkPages(zone z: ZoneID, _ w: Wmark) -> Int {
        zoneWmark[z.rawValue &* 3 &+ w.rawValue]
    }

    /// Turns a block just taken off the free lists into an owned allocation: issues its handle, writes
    /// the owner's content words, puts it on its LRU list and counts it (`prep_new_page`, PGALLOC,
    /// `zone_statistics`).
    @inline(__always)
    func prepNewPage(pfn: Pfn, zone z: ZoneID, preferredZone: ZoneID, req: AllocRequest) -> PageHandle {
        let info = prepHeadInfo[Machine.prepHeadIndex(kind: req.kind, order: req.order, mlock: req.mlock, dirty: req.dirty)]
        return prepNewPage(pfn: pfn, zone: z, preferredZone: preferredZone, req: req, info: info)
    }

    /// `prepNewPage` with the request's `prepHeadInfo` entry already read.
    @inline(__always)
    func prepNewPage(pfn: Pfn, zone z: ZoneID, preferredZone: ZoneID, req: AllocRequest, info: UInt32) -> PageHandle {
        prepNewPage(pfn: pfn, zone: z, preferredZone: preferredZone, req: req, info: info, freeHead: handles.freeHead)
    }

    /// `prepNewPage` with the handle table's `freeHead` already read (see `HandleTable.issue`).
    @inline(__always)
    func prepNewPage(pfn: Pfn, zone z: ZoneID, preferredZone: ZoneID, req: AllocRequest, info: UInt32, freeHead fh: UInt32) -> PageHandle {
        let h = handles.issue(headPfn: pfn, freeHead: fh)
        let slot = handles.slot(of: h)
        let n = 1 &<< req.order
        let p = pages
        // The state byte (kind, dirty for page cache, active for new anon) and the LRU list from
        // `prepHeadInfo` (built from `initialLru`).
        let state = UInt8(truncatingIfNeeded: info)
        let lruCode = UInt8(truncatingIfNeeded: info &>> 8)
        p.state[pfn] = state
        p.order[pfn] = UInt8(truncatingIfNeeded: req.order) | UInt8(truncatingIfNeeded: info &>> 24)
        p.nextOrOwner[pfn] = UInt32(truncatingIfNeeded: slot)
        for i in 0..<n { p.prevOrContent[pfn &+ i] = contentWord(h, i) }
        if lruCode != Machine.lruCodeNone {
            lruAdd(slot: slot, listIndex: LruStore.index(zone: z, list: Int(lruCode)), pages: n)
        } else {
            handles.lruNext[slot] = NONE
            handles.lruPrev[slot] = NONE
        }
        zoneCounters.kindPages[z, req.kind] &+= Int64(n)
        if state & PageState.dirty != 0 {
            zoneCounters.dirty[z] &+= Int64(n)
            // The writer's `balance_dirty_pages_ratelimited` and the flusher's list (PageCache/Writeback.swift).
            noteDirtied(h, pages: n)
        }

        zoneCounters.pgalloc[z] &+= UInt64(n)
        zoneCounters.allocations[z] &+= 1
        // zone_statistics: the simulated CPU runs on the preferred node, so numa_local and numa_other
        // equal numa_hit and numa_miss (`counters` fills them in).
        if zoneNode[z] != zoneNode[preferredZone] { ev.numaMiss &+= 1 }
        return h
    }

    /// Frees the allocation a handle names. Throws `unknownHandle` for a handle that is stale, unknown
    /// or already freed; nothing changes then.
    public func free(_ h: PageHandle) throws(MMError) {
        guard ownerMayFree(h), freeIfLive(h) else { throw .unknownHandle(h.raw) }
    }

    /// Whether a handle names a live allocation its owner may free: not a slab cache's page, which only
    /// the slab allocator frees (with its last object). Such handles are never handed out, but a client
    /// can make one up, and freeing the page under its objects would corrupt the cache.
    @inline(__always)
    func ownerMayFree(_ h: PageHandle) -> Bool {
        guard let s = handles.resolve(h) else { return false }
        return slab.info[s] == 0
    }

    /// Frees every allocation the handles name, or none: a handle that is not live, or that repeats an
    /// earlier one, is reported with its position before anything is freed.
    public func freeAll(_ hs: [PageHandle]) throws(MMError) {
        var seen = Set<UInt64>(minimumCapacity: hs.count)
        for (i, h) in hs.enumerated() {
            guard ownerMayFree(h) else { throw .handleNotFreeable(index: i, handle: h.raw, repeated: false) }
            guard seen.insert(h.raw).inserted else { throw .handleNotFreeable(index: i, handle: h.raw, repeated: true) }
        }
        for h in hs { _ = freeIfLive(h) }
    }

    /// Frees the allocation a handle names; returns false (changing nothing) for a dead handle.
    ///
    /// `handles.resolve`'s freed-slot test (pfn NONE) and the swapped test (pfn SWAPPED, NONE - 1) are one
    /// comparison on the common path: an order-0 page in memory goes to `freeAllocationInline`.
    @inline(__always)
    public func freeIfLive(_ h: PageHandle) -> Bool { freeIfLiveOrder(h) != nil }

    /// `freeIfLive` that also gives the order of what it frees (an actor's expiry counts the pages): the
    /// order (0 for a swapped-out page), or nil for a dead handle, changing nothing. The handle is resolved
    /// once (reading the order first, then freeing, resolved it twice).
    @inline(__always)
    func freeIfLiveOrder(_ h: PageHandle) -> Int? {
        guard let slot = handles.resolveIssued(h) else { return nil }
        let pfn = handles.pfn[slot]
        if _slowPath(pfn >= SWAPPED) {
            if pfn == NONE { return nil }
            bumpGeneration()
            freeAllocation(slot: slot)
            return 0
        }
        let order = Int(pages.order[Pfn(link: pfn)] & PageOrderByte.orderMask)
        bumpGeneration()
        freeAllocationInline(slot: slot, pfn: Pfn(link: pfn))
        return order
    }

    /// `freeAllocation` with its commonest case inline, for a slot whose allocation is in memory at `pfn`
    /// (not swapped): an order-0 page without buffer heads, in no file's tree, not isolated. The same
    /// steps in the same order; anything else goes to `freeAllocation`.
    @inline(__always)
    func freeAllocationInline(slot: Int, pfn: Pfn) {
        let p = pages
        let s = p.state[pfn], ob = p.order[pfn]
        // releaseBuffers and removeFromPageCache have nothing to do when the slot has no buffer-head chain
        // and is in no file's tree. Only a page-cache page can have either (attachBuffers and
        // addToPageCache require the kind file, which an allocation keeps for its life), so other pages
        // skip reading the two words: two cache misses on each anon page an exiting process frees.
        if s & PageState.kindMask == UInt8(AllocKind.file.rawValue) << PageState.kindShift {
            guard slab.bufferHeads[slot] == 0 && pageCache.slotInode[slot] == 0 else { return freeAllocation(slot: slot) }
        } else {
            assert(slab.bufferHeads[slot] == 0 && pageCache.slotInode[slot] == 0, "slot \(slot): page-cache words on a page of another kind")
        }
        guard s & PageState.isolated == 0, ob & PageOrderByte.orderMask == 0 else { return freeAllocation(slot: slot) }
        let z = zoneId(ofPfn: pfn)
        // lruDel without resetting the slot's links (release sets them), on the list `currentLru` names.
        let info = headLruInfo[Machine.headLruIndex(state: s, orderByte: ob)]
        let code = UInt8(truncatingIfNeeded: info)
        if code < 0x80 || (code == Machine.lruCodeSlab && slabOnLru(pfn: pfn)) {
            lruUnlink(slot: slot, listIndex: LruStore.index(zone: z, list: Int(code & 0x7F)), pages: 1)
        }
        handles.release(slot: slot)
        releaseFrame(pfn: pfn, zone: z, state: s, kindRaw: Int(info &>> 8), order: 0)
    }

    /// Frees by slot. An allocation isolated for migration right now is not freed here: its owner lets
    /// go (the handle dies) and the compactor, which holds the page, frees it when it puts the batch back
    /// (the seed's fix for the anon_vma lifetime race: an unmapped page is not migrated).
    @inline(never)
    func freeAllocation(slot: Int) {
        let link = handles.pfn[slot]
        if link == SWAPPED {
            // Swapped out: the swap slot is released with the allocation.
            swapUsed -= 1
            handles.release(slot: slot)
            return
        }
        // A page-cache page's buffer heads go with it (truncate_inode_pages → try_to_release_page).
        releaseBuffers(slot: slot)
        // And it leaves its file's radix tree (truncate_inode_pages → remove_from_page_cache).
        removeFromPageCache(slot: slot)
        let pfn = Pfn(link: link)
        let p = pages
        if p.state[pfn] & PageState.isolated != 0 {
            p.nextOrOwner[pfn] = NONE
            handles.release(slot: slot)
            return
        }
        let z = zoneId(ofPfn: pfn)
        let n = 1 &<< Int(p.order[pfn] & PageOrderByte.orderMask)
        if let l = currentLru(pfn: pfn) {
            lruDel(slot: slot, zone: z, list: l, pages: n)
        }
        noteFreedIfHugetlb(slot: slot, zone: z, pages: n)
        handles.release(slot: slot)
        releaseFrame(pfn: pfn, zone: z)
    }

    /// Returns an allocated block (no longer owned, off every LRU) to the page allocator (`__free_pages`):
    /// an order-0 page to the per-CPU lists (`free_hot_cold_page`; cold when reclaim frees it), a larger
    /// block straight to the buddy lists (`free_one_page` with the pageblock's migratetype).
    @inline(__always)
    func releaseFrame(pfn: Pfn, zone z: ZoneID, cold: Bool = false) {
        let s = pages.state[pfn]
        releaseFrame(pfn: pfn, zone: z, state: s, kindRaw: PageState.kindRawValue(s),
                     order: Int(pages.order[pfn] & PageOrderByte.orderMask), cold: cold)
    }

    /// `releaseFrame` of a head whose state byte, its `PageState.kindRawValue` and order the caller has read.
    @inline(__always)
    func releaseFrame(pfn: Pfn, zone z: ZoneID, state s: UInt8, kindRaw: Int, order: Int, cold: Bool = false) {
        let p = pages
        let n = 1 &<< order
        zoneCounters.kindPages[z, kindRaw: kindRaw] &-= Int64(n)
        if s & PageState.dirty != 0 { zoneCounters.dirty[z] &-= Int64(n) }
        if order == 0 {
            // The page's state and order bytes become those of a per-CPU page (`pcpAdd` writes both), or,
            // from an isolated pageblock, those of a plain free page (`freeIsolatedPage` writes them).
            freeHotColdPage(pfn, zone: z, cold: cold)
        } else {
            p.state[pfn] = PageState.tail
            p.order[pfn] = 0
            ev.pgfree &+= UInt64(n)
            freeOnePage(pfn, zone: z, order: order, mt: pageblockMigratetype(pfn))
        }
    }

    /// The head pfn an allocation lives at right now (it changes when the page is migrated).
    /// -1 while the allocation is swapped out.
    public func pfn(of h: PageHandle) throws(MMError) -> Int {
        guard let slot = handles.resolve(h) else { throw .unknownHandle(h.raw) }
        let pfn = handles.pfn[slot]
        return pfn == SWAPPED ? -1 : Int(pfn)
    }

    /// What an owner reads back through its handle: the content word of each of its pages.
    public func readContent(_ h: PageHandle) throws(MMError) -> [UInt32] {
        guard let slot = handles.resolve(h) else { throw .unknownHandle(h.raw) }
        if handles.pfn[slot] == SWAPPED { return [handles.lruNext[slot]] }
        let pfn = Pfn(link: handles.pfn[slot])
        let n = 1 << Int(pages.order[pfn] & PageOrderByte.orderMask)
        return (0..<n).map { pages.prevOrContent[pfn + $0] }
    }

    /// The content words the owner of `h` wrote (what `readContent` must return).
    public func expectedContent(_ h: PageHandle, order: Int) -> [UInt32] {
        (0..<(1 << order)).map { contentWord(h, $0) }
    }

    /// Whether the handle names a live allocation.
    public func isLive(_ h: PageHandle) -> Bool { handles.resolve(h) != nil }

    /// Describes a live allocation.
    /// pfn and zone are -1 while the allocation is swapped out.
    public func allocationInfo(_ h: PageHandle) throws(MMError) -> (pfn: Int, order: Int, kind: AllocKind, zone: ZoneID) {
        guard let slot = handles.resolve(h) else { throw .unknownHandle(h.raw) }
        if handles.pfn[slot] == SWAPPED { return (-1, 0, .anon, ZoneID(-1)) }
        let pfn = Pfn(link: handles.pfn[slot])
        return (pfn.rawValue, Int(pages.order[pfn] & PageOrderByte.orderMask), PageState.kind(pages.state[pfn]), zoneId(ofPfn: pfn))
    }
}
