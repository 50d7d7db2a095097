// Exclusivity: every `@exclusivity(unchecked)` property below belongs to a Machine, which one thread
// uses at a time (see the type's comment), and no method keeps an access to such a property open across
// a call that could reach the same property; dynamic checks on these hot properties would only cost time.

/// A simulated NUMA machine: nodes, zones, per-page state, buddy free lists, LRU lists, counters and
/// sysctls. All of its memory management runs on it, deterministically for its seed.
///
/// A `Machine` is not thread-safe and not `Sendable`: one thread at a time uses it (the service keeps
/// each machine behind its own `Mutex`). Long operations (compaction) run as steps the caller drives.
public final class Machine {
    public let config: MachineConfig
    public let preset: ArchPreset
    public let profile: AllocatorProfile = .seed
    /// Number of buddy orders (the seed's MAX_ORDER).
    public let nrOrders: Int
    public let pageblockOrder: Int
    public let pageblockPages: Int
    public let pageShift: Int
    public let totalPages: Int
    public let nodes: [Node]
    /// `nodes.count` and `preset.zoneTypes.count`, kept as plain integers for the allocation fast path.
    let nodeCount: Int
    let zoneTypeCount: Int
    /// All zones of all nodes, node-major, in zone-index order (empty zones included).
    // Exclusivity: Machine is confined to one thread at a time (see the type's comment) and no method
    // holds an access to `zones` across a call that could reach `zones` again, so dynamic exclusivity
    // checks on this hot property would only cost time.
    @exclusivity(unchecked) public internal(set) var zones: [Zone]
    /// `page_group_by_mobility_disabled`: too little memory to group by mobility.
    public let mobilityGroupingDisabled: Bool
    /// What boot reserved (memmap, kernel image, hashes) and where: PageReserved pages, never in buddy.
    public let bootMemory: BootMemory

    /// Owns the memory of every `RawArray` below; it goes when the machine goes.
    let arena = RawArena()
    let pages: PageArrays
    let pageblockFlags: RawArray<UInt8>
    /// Zone id of every pageblock (zones are pageblock-aligned), for pfn → zone in O(1).
    let pageblockZone: RawArray<UInt16>
    let freeArea: FreeAreaStore
    /// The 6.6 profile's index of its MOVABLE free lists by position (Compaction/ModernFreeListIndex.swift);
    /// nil on 2.6.34 and 2.6.35.
    let freeListIndex: FreeListIndex?
    @exclusivity(unchecked) var handles: HandleTable
    /// The sum of what the reads ahead of `fastIsolateFreepages` and `resetIsolationSuitable` loaded:
    /// kept only so the compiler keeps those loads; nothing reads it.
    @exclusivity(unchecked) var prefetchSink: UInt32 = 0
    let lru: LruStore
    /// The per-CPU page lists (one simulated CPU).
    let pcp: PcpStore
    /// Zonelists: `zonelists[node][highestZoneIdx]` = zone ids in fallback order (kernel-compaction.md §1.6).
    let zonelists: [[[ZoneID]]]
    /// The same zonelists flattened for the allocation fast path: list (node, idx) is
    /// `zonelistFlat[zonelistOffsets[k] ..< zonelistOffsets[k+1]]` with k = node × zone types + idx.
    let zonelistFlat: RawArray<Int32>
    let zonelistOffsets: RawArray<Int32>
    /// `gfp_zone()` per allocation kind.
    let highestZoneIdxByKind: [Int]
    /// The preferred zone (first of the zonelist) of an allocation of each kind on each node, at
    /// node × kinds + kind (-1 for an empty zonelist): a copy for the order-0 fast path.
    let zonelistFirstZone: RawArray<Int32>
    /// `lowmem_reserve[]` of every zone, flat: zone id × zone index (hot in the watermark check).
    let zoneLowmemReserve: RawArray<Int>
    /// Per zone MIN, LOW, HIGH (a copy of `zones[z].watermark` for the allocation fast path).
    let zoneWmark: RawArray<Int>
    /// Per zone its node and its index in the node (copies of `zones[z]` fields for the fast path).
    let zoneNode: RawArray<Int32>
    let zoneIndexInNode: RawArray<Int32>
    /// Per zone LOW + `lowmem_reserve[its own index]`: the mark an order-0 allocation without ALLOC_HIGH /
    /// ALLOC_HARDER must stay above when the zone is its own classzone (the order-0 fast path's whole
    /// `zone_watermark_ok`). Kept in step with `zoneWmark` and `zoneLowmemReserve` by `refreshOrder0LowMarks`.
    let zoneOrder0LowMark: RawArray<Int>
    /// `prepHeadTable()` and `Machine.headLruTable()`: a new head's state byte, LRU list and the request's
    /// migratetype per request shape, and a head's LRU code and kind per state and order bytes (constant
    /// lookups for the order-0 fast paths; the rules live in `initialLru`, `requestMigratetype`,
    /// `lruCodeOfHead` and `PageState.kindRawValue`).
    let prepHeadInfo: RawArray<UInt32>
    let headLruInfo: RawArray<UInt16>

    /// Event counters; `pgalloc` is kept per zone in `zoneCounters` and filled in by `counters`.
    @exclusivity(unchecked) var ev: VmCounters
    /// The per-zone page counters: NR_FREE_PAGES, the per-kind gauges, nr_dirty, nr_isolated_*, and
    /// the zone's PGALLOC and allocations (Vmstat/ZoneCounters.swift).
    let zoneCounters: ZoneCounters

    /// Allocation tags: tag → handles in allocation order (stale handles are skipped, and pruned when a
    /// list would grow: `reserveTagRoom`).
    @exclusivity(unchecked) var tags = TagTable()
    /// Files workloads made, per tag: their pages and metadata objects (a free step deletes them whole).
    @exclusivity(unchecked) var files = FileTable()
    /// Slab caches of objects (dentries, inodes) and the per-slot object counts of their slab pages.
    @exclusivity(unchecked) var slab: SlabStore
    /// The files' page-cache radix trees and the per-slot words naming each page's file and index
    /// (PageCache/AddressSpace.swift).
    @exclusivity(unchecked) var pageCache: PageCacheStore
    /// Workload actors' allocations and what reclaim took from them (Workload/PageOwners.swift).
    @exclusivity(unchecked) var pageOwners = PageOwners()

    @exclusivity(unchecked) public internal(set) var minFreeKbytes = 0
    @exclusivity(unchecked) public internal(set) var extfragThreshold = Machine.defaultExtfragThreshold
    @exclusivity(unchecked) public internal(set) var compactUnevictableAllowed = 1
    /// vm.dirty_ratio and vm.dirty_background_ratio (mm/page-writeback.c: 20 and 10 in 2.6.35 and 6.6).
    @exclusivity(unchecked) public internal(set) var dirtyRatio = 20
    @exclusivity(unchecked) public internal(set) var dirtyBackgroundRatio = 10
    /// vm.hugepages_treat_as_movable (mm/hugetlb.c, default 0).
    @exclusivity(unchecked) public internal(set) var hugepagesTreatAsMovable = 0
    /// The default hstate's `next_nid_to_alloc` (hugetlb's round-robin node cursor).
    @exclusivity(unchecked) public internal(set) var hugetlbNextNid = 0
    /// The handle slots of the hugetlb pool's pages (`prep_new_huge_page` took them out of the buddy
    /// allocator): freeing one gives its pages back to `kernelNotSlab`'s count. Hugetlb/Hugetlb.swift.
    @exclusivity(unchecked) var hugetlbSlots = Set<UInt32>()
    /// Pages in the hugetlb pool (HugePages_Total × the pages of a huge page): the pages of `hugetlbSlots`.
    @exclusivity(unchecked) public internal(set) var hugetlbPoolPages = 0
    /// false: the kernel without the compaction series (2.6.34, "vanilla").
    public let compactionEnabled: Bool
    /// The kernel the machine runs (`config.kernel`).
    public let kernel: KernelRelease
    /// The modern profile's own state (Modern/ModernState.swift); nil on 2.6.34 and 2.6.35.
    let modern: ModernState?
    public let swapPages: Int
    @exclusivity(unchecked) public internal(set) var swapUsed: Int = 0
    /// Simulated costs of every page operation.
    public let costs: CostModel
    /// Simulated time elapsed on this machine (ns): every operation's cost is added here.
    @exclusivity(unchecked) public internal(set) var clockNs: UInt64 = 0

    @exclusivity(unchecked) var rng: SeededRandom
    /// Mixed into content words so that two machines never share them by accident.
    let contentSalt: UInt64
    /// Per node: the order kswapd was woken for, or -1.
    @exclusivity(unchecked) var kswapdPending: [Int]
    /// Machine time when kswapd last ran, and each node's kswapd's unused simulated time (ns).
    @exclusivity(unchecked) var kswapdClock: UInt64 = 0
    @exclusivity(unchecked) var kswapdCredit: [Int64]
    /// While above 0, kswapd's turn after an allocation waits (`runPendingKswapd` returns at once and the
    /// time it is owed stays banked): the slab allocator sets its new page up first (see `slabAlloc`).
    @exclusivity(unchecked) var kswapdHeld = 0
    /// A turn of kswapd was held back and is owed once `kswapdHeld` drops to 0.
    @exclusivity(unchecked) var kswapdOwed = false
    /// The flusher, its list of dirty pages and the writers' throttle (PageCache/Writeback.swift).
    @exclusivity(unchecked) var writeback = WritebackState()
    /// `zone->pages_scanned` and `zone->all_unreclaimable`.
    let zonePagesScanned: RawArray<Int>
    let zoneAllUnreclaimable: RawArray<UInt8>
    /// Simulated time kswapd has worked (ns); kswapd runs beside allocations, so it is not in `clockNs`.
    @exclusivity(unchecked) public internal(set) var kswapdNs: UInt64 = 0
    /// `out_of_memory`'s victim: kills a process and returns true, or false when there is none (set by a
    /// running workload whose actors have processes; nil otherwise).
    @exclusivity(unchecked) var oomKiller: (() -> Bool)?
    /// Receives tracepoint-like events; nil when nobody listens.
    @exclusivity(unchecked) public var tracer: MachineTracer?

    /// Bumped by every operation that changes state: lets callers cache documents built from it.
    @exclusivity(unchecked) public internal(set) var generation: UInt64 = 0

    /// Asked before the machine's state grows, with the bytes it grows by (StateGrowth.swift); nil:
    /// nothing is asked. Setting it recounts the handle table's slot limit.
    @exclusivity(unchecked) public var stateGrowthGate: ((Int) -> Bool)? {
        didSet { resetSlotLimit() }
    }
    /// Growth the gate refused, and the bytes of the last refusal.
    @exclusivity(unchecked) public internal(set) var stateRefusals = 0
    @exclusivity(unchecked) public internal(set) var lastRefusedBytes = 0
    /// The part of `stateBytes` that does not grow: page arrays, pageblock arrays, free lists, LRU and
    /// per-CPU list heads, per-zone arrays and lookup tables, and the machine's own objects.
    private(set) var fixedStateBytes: Int

    public static let defaultExtfragThreshold = 500

    /// Builds the machine described by `config`: every page free in max-order blocks, every pageblock
    /// MOVABLE (as `memmap_init_zone` leaves them), watermarks and MIGRATE_RESERVE blocks set up.
    /// Throws, naming the field, for an impossible configuration; nothing is allocated before that.
    public convenience init(_ config: MachineConfig) throws(MMError) {
        try self.init(config, indexFreeLists: true)
    }

    /// `indexFreeLists: false` leaves a 6.6 machine without its free-list index (tests compare the two:
    /// the index must change no result).
    init(_ config: MachineConfig, indexFreeLists: Bool) throws(MMError) {
        let layout = try config.validate()
        self.config = config
        preset = layout.preset
        nrOrders = preset.nrOrders
        pageblockOrder = preset.pageblockOrder
        pageblockPages = 1 << preset.pageblockOrder
        pageShift = preset.pageShift
        totalPages = Int(layout.totalPages)

        var (zones, nodes) = Machine.buildTopology(layout)
        // A machine from /proc text (MachineConfig.procImage): present as the text says, boot's
        // reservations where the plan puts them (ProcBuild.swift).
        let procPlans = try config.procImage.map { image throws(MMError) in try ProcPlanner.plans(image, layout: layout, seed: config.seed) }
        let boot = Machine.reserveBootMemory(config, preset: layout.preset, zones: &zones, nodes: nodes, procPlans: procPlans)
        bootMemory = boot
        self.zones = zones
        self.nodes = nodes
        nodeCount = nodes.count
        zoneTypeCount = preset.zoneTypes.count
        // build_all_zonelists: grouping by mobility is off below one pageblock per migratetype of
        // nr_free_pagecache_pages(), the present pages (watermarks are still zero then).
        mobilityGroupingDisabled = zones.reduce(0) { $0 + $1.presentPages } < pageblockPages * Migratetype.count

        pages = PageArrays(pages: totalPages, arena: arena)
        let nrBlocks = (totalPages + pageblockPages - 1) >> pageblockOrder
        pageblockFlags = RawArray(repeating: UInt8(Migratetype.movable.rawValue), count: nrBlocks, arena: arena)
        pageblockZone = RawArray(zeroed: nrBlocks, arena: arena)
        freeArea = FreeAreaStore(zones: zones.count, nrOrders: nrOrders, totalPages: totalPages, arena: arena)
        freeListIndex = config.kernel.isModern && indexFreeLists
            ? FreeListIndex(totalPages: totalPages, lists: zones.count * nrOrders * Migratetype.count, pageblockOrder: pageblockOrder, arena: arena) : nil
        // At most one live allocation per page, plus one per swap slot (swapped-out pages stay owned).
        handles = HandleTable(capacity: totalPages + ((config.swapMiB << 20) >> preset.pageShift) + 1, arena: arena)
        lru = LruStore(zones: zones.count, arena: arena)
        slab = SlabStore(capacity: handles.pfn.count, pageSize: 1 << preset.pageShift, arena: arena)
        pageCache = PageCacheStore(capacity: handles.pfn.count, arena: arena)
        pcp = PcpStore(zones: zones.count, arena: arena)
        ev = VmCounters(zoneTypes: preset.zoneTypes.count)
        zoneCounters = ZoneCounters(zones: zones.count, arena: arena)
        zonelists = Machine.buildZonelists(nodes: nodes, zones: zones)
        kswapdPending = Array(repeating: -1, count: nodes.count)
        kswapdCredit = Array(repeating: 0, count: nodes.count)
        zonePagesScanned = RawArray(zeroed: zones.count, arena: arena)
        zoneAllUnreclaimable = RawArray(zeroed: zones.count, arena: arena)
        let flat = Machine.flattenZonelists(zonelists, preset: preset, arena: arena)
        (zonelistFlat, zonelistOffsets, highestZoneIdxByKind, zonelistFirstZone) = (flat.zones, flat.offsets, flat.highestZoneIdxByKind, flat.firstZone)
        zoneLowmemReserve = RawArray(zeroed: zones.count * preset.zoneTypes.count, arena: arena)
        zoneWmark = RawArray(zeroed: zones.count * 3, arena: arena)
        zoneNode = RawArray(zeroed: zones.count, arena: arena)
        zoneIndexInNode = RawArray(zeroed: zones.count, arena: arena)
        zoneOrder0LowMark = RawArray(zeroed: zones.count, arena: arena)
        prepHeadInfo = RawArray(zeroed: 64, arena: arena)
        headLruInfo = RawArray(zeroed: Machine.headLruTable().count, arena: arena)

        compactionEnabled = config.compaction
        kernel = config.kernel
        modern = config.kernel.isModern ? ModernState(config: config, zones: zones.count, nodes: nodes.count, nrZoneTypes: preset.zoneTypes.count) : nil
        swapPages = (config.swapMiB << 20) >> preset.pageShift
        rng = SeededRandom(seed: config.seed)
        costs = CostModel(pageSize: 1 << preset.pageShift)
        contentSalt = SeededRandom.mix(config.seed ^ 0xC0_4E_E7)
        fixedStateBytes = 0
        fixedStateBytes = storageBytes()

        fillZoneLookups()
        markBootReservedPages(boot)
        for z in zones where z.populated {
            mapPageblocks(toZone: z)
            // A machine from /proc text gets its pages from its plan (populateFromProc).
            if procPlans == nil { freeBootMemory(zone: z) }
        }

        applyBootSysctls()
        if let plans = procPlans, let image = config.procImage { try populateFromProc(plans, image: image) }
    }

    /// Zones and nodes of the layout: every zone type of the preset on every node (empty where the layout
    /// has none), numbered node by node.
    private static func buildTopology(_ layout: MachineLayout) -> (zones: [Zone], nodes: [Node]) {
        var zones: [Zone] = []
        var nodes: [Node] = []
        for (nid, span) in layout.nodeSpans.enumerated() {
            var ids: [ZoneID] = []
            for (idx, t) in layout.preset.zoneTypes.enumerated() {
                let id = ZoneID(zones.count)
                ids.append(id)
                if let zl = layout.zones.first(where: { $0.node == nid && $0.type == t }) {
                    zones.append(Zone(id: id, node: NodeID(nid), type: t, indexInNode: idx, startPfn: Pfn(Int(zl.startPfn)), pages: Int(zl.pages)))
                } else {
                    zones.append(Zone(id: id, node: NodeID(nid), type: t, indexInNode: idx, startPfn: Pfn(Int(span.start + span.pages)), pages: 0))
                }
            }
            nodes.append(Node(id: NodeID(nid), startPfn: Pfn(Int(span.start)), pages: Int(span.pages), zoneIds: ids, distances: layout.distances[nid]))
        }
        return (zones, nodes)
    }

    /// What boot takes before the buddy allocator sees a page: free_area_init_core's present pages
    /// (spanned − the memmap estimate), then the ranges boot reserves (or those a /proc plan puts), taken
    /// off each zone's managed pages.
    private static func reserveBootMemory(_ config: MachineConfig, preset: ArchPreset, zones: inout [Zone], nodes: [Node],
                                          procPlans: [ProcPlanner.ZonePlan]?) -> BootMemory {
        for z in zones.indices where config.bootMemory {
            zones[z].presentPages = Machine.presentPages(spanned: zones[z].spannedPages, preset: preset)
        }
        if let image = config.procImage { Machine.applyProcPresent(image, zones: &zones) }
        let boot = procPlans.map(Machine.procBootMemory) ?? Machine.bootMemory(preset: preset, nodes: nodes, zones: zones,
                                                                              kernelReservedKiB: config.kernelReservedKiB, enabled: config.bootMemory)
        for r in boot.ranges {
            for z in zones.indices where zones[z].spannedPages > 0 {
                let lo = Swift.max(r.start, zones[z].startPfn), hi = Swift.min(r.start + r.pages, zones[z].endPfn)
                if hi > lo { zones[z].managedPages -= hi - lo }
            }
        }
        return boot
    }

    /// The zonelists as flat tables for the allocation fast path: every list's zones one after another
    /// with each list's offset, the highest zone index each kind may use, and per (node, kind) the first
    /// zone of its list.
    private static func flattenZonelists(_ zonelists: [[[ZoneID]]], preset: ArchPreset, arena: RawArena)
        -> (zones: RawArray<Int32>, offsets: RawArray<Int32>, highestZoneIdxByKind: [Int], firstZone: RawArray<Int32>) {
        let flatLists = zonelists.flatMap { $0 }
        let flat = RawArray<Int32>(zeroed: flatLists.reduce(0) { $0 + $1.count }, arena: arena)
        let offsets = RawArray<Int32>(zeroed: flatLists.count + 1, arena: arena)
        var at = 0
        for (k, l) in flatLists.enumerated() {
            offsets[k] = Int32(at)
            for z in l { flat[at] = Int32(z.rawValue); at += 1 }
        }
        offsets[flatLists.count] = Int32(at)
        let highest = AllocKind.allCases.map { preset.zoneTypes.firstIndex(of: $0.highestZoneType(available: preset.zoneTypes))! }
        let first = RawArray<Int32>(zeroed: zonelists.count * AllocKind.count, arena: arena)
        for node in zonelists.indices {
            for kind in AllocKind.allCases {
                first[node * AllocKind.count + Int(kind.rawValue)] = Int32(zonelists[node][highest[Int(kind.rawValue)]].first?.rawValue ?? -1)
            }
        }
        return (flat, offsets, highest, first)
    }

    /// The sysctls as boot leaves them (the configuration's, or the kernel's defaults), and what
    /// min_free_kbytes sets: watermarks, lowmem reserves, per-CPU list sizes; then the fast path's
    /// head-preparation table, which reads them.
    private func applyBootSysctls() {
        extfragThreshold = config.sysctl.extfragThreshold ?? Machine.defaultExtfragThreshold
        dirtyRatio = config.sysctl.dirtyRatio ?? 20
        dirtyBackgroundRatio = config.sysctl.dirtyBackgroundRatio ?? 10
        compactUnevictableAllowed = config.sysctl.compactUnevictableAllowed ?? 1
        hugepagesTreatAsMovable = config.sysctl.hugepagesTreatAsMovable ?? 0
        minFreeKbytes = config.sysctl.minFreeKbytes ?? defaultMinFreeKbytes()
        setupPerZoneWmarks()
        setupPerZoneLowmemReserve()
        setupPagesets()
        for (i, v) in prepHeadTable().enumerated() { prepHeadInfo[i] = v }
    }

    /// What the machine's fixed storage holds: the page and pageblock arrays, the lists' heads, the
    /// per-zone tables and the objects themselves (what `stateBytes` adds the growing parts to).
    private func storageBytes() -> Int {
        pages.byteCount + pageblockFlags.byteCount + pageblockZone.byteCount + freeArea.byteCount + (freeListIndex?.byteCount ?? 0)
            + lru.byteCount + pcp.byteCount + zoneCounters.byteCount + zonePagesScanned.byteCount
            + zoneAllUnreclaimable.byteCount + zonelistFlat.byteCount + zonelistOffsets.byteCount + zonelistFirstZone.byteCount
            + zoneLowmemReserve.byteCount + zoneWmark.byteCount + zoneNode.byteCount + zoneIndexInNode.byteCount
            + zoneOrder0LowMark.byteCount + prepHeadInfo.byteCount + headLruInfo.byteCount
            + Machine.objectBytes(zones: zones.count, nodes: nodes.count)
    }

    /// The fast paths' per-zone lookups (node, index in node) and the head-to-LRU table.
    private func fillZoneLookups() {
        for (i, v) in Machine.headLruTable().enumerated() { headLruInfo[i] = v }
        for z in zones {
            zoneNode[z.id] = Int32(z.node.rawValue)
            zoneIndexInNode[z.id] = Int32(z.indexInNode)
        }
    }

    /// Boot's reservations become PageReserved pages: owned by nobody, never freed.
    private func markBootReservedPages(_ boot: BootMemory) {
        for r in boot.ranges {
            for pfn in r.start..<(r.start + r.pages) { pages.state[pfn] = PageState.reserved; pages.nextOrOwner[pfn] = NONE }
        }
    }

    /// The pageblocks a zone spans name it (`page_zone` by pageblock).
    private func mapPageblocks(toZone z: Zone) {
        var b = z.startPfn.blockIndex(order: pageblockOrder)
        while b < (z.endPfn + pageblockPages - 1).blockIndex(order: pageblockOrder) {
            pageblockZone[b] = UInt16(z.id.rawValue)
            b += 1
        }
    }

    /// Every page of the zone boot did not reserve goes to the buddy allocator, lowest pfn first, as
    /// free_all_bootmem does, in the largest aligned blocks (what the buddy merging of its frees ends in);
    /// each block goes to the head of its MOVABLE list, so the highest block of an order ends up first.
    private func freeBootMemory(zone z: Zone) {
        let maxOrder = nrOrders - 1
        var pfn = z.startPfn
        while pfn < z.endPfn {
            if pages.state[pfn] == PageState.reserved { pfn += 1; continue }
            var end = pfn
            while end < z.endPfn && pages.state[end] != PageState.reserved { end += 1 }
            while pfn < end {
                var order = maxOrder
                while order > 0 && (!pfn.isAligned(order: order) || pfn + (1 << order) > end) { order -= 1 }
                addToFreeList(pfn, zone: z.id, order: order, mt: .movable)
                pfn += 1 << order
            }
        }
        zoneCounters.freePages[z.id] = z.managedPages
    }

    // MARK: - Lookups

    /// The zone id holding `pfn` (`page_zone`).
    @inline(__always) func zoneId(ofPfn pfn: Pfn) -> ZoneID { ZoneID(Int(pageblockZone[pfn.blockIndex(order: pageblockOrder)])) }

    /// `get_pageblock_migratetype`.
    @inline(__always) func pageblockMigratetype(_ pfn: Pfn) -> Migratetype {
        Migratetype(bits: pageblockFlags[pfn.blockIndex(order: pageblockOrder)] & PageblockFlags.migratetypeMask)
    }

    /// `set_pageblock_migratetype`.
    @inline(__always) func setPageblockMigratetype(_ pfn: Pfn, _ mt: Migratetype) {
        let i = pfn.blockIndex(order: pageblockOrder)
        pageblockFlags[i] = (pageblockFlags[i] & ~PageblockFlags.migratetypeMask) | UInt8(truncatingIfNeeded: mt.rawValue)
    }

    /// The migratetype of the pageblock holding `pfn`.
    public func migratetype(ofPageblockAt pfn: Pfn) -> Migratetype { pageblockMigratetype(pfn) }

    /// Zones that have pages.
    public var populatedZones: [Zone] { zones.filter(\.populated) }

    /// Base page size in KiB.
    public var pageKB: Int { (1 << pageShift) >> 10 }

    /// Pages currently allocated from the buddy allocator (every page of MemTotal not on a free list; the
    /// PageReserved boot pages are not counted).
    public var allocatedPages: Int { memTotalPages - nrFreePagesTotal - pcpPages }

    /// Live allocations.
    public var liveAllocations: Int { handles.live }

    /// Bytes of the machine's own objects beside its arrays: the machine, its zones and nodes (with their
    /// small arrays), its zonelists and the arena's bookkeeping; an upper estimate, a few KiB.
    static func objectBytes(zones: Int, nodes: Int) -> Int { 4096 + zones * 512 + nodes * (256 + zones * 64) }

    @inline(__always) func bumpGeneration() { generation &+= 1 }

    /// NR_FREE_PAGES of the whole machine (pages on the buddy free lists; not the per-CPU lists).
    public var nrFreePagesTotal: Int { zoneIDs.reduce(0) { $0 + zoneCounters.freePages[$1] } }

    /// NR_FREE_PAGES of a zone.
    @inline(__always) public func nrFreePages(zone z: ZoneID) -> Int { zoneCounters.freePages[z] }

    /// A snapshot of the event counters.
    public var counters: VmCounters {
        var c = ev
        for z in zones { c.pgalloc[z.indexInNode] &+= zoneCounters.pgalloc[z.id] }
        // Every successful allocation is a hit or a miss; the CPU is on the preferred node.
        let allocations = zoneIDs.reduce(UInt64(0)) { $0 &+ zoneCounters.allocations[$1] }
        c.numaHit = allocations &- c.numaMiss
        c.numaForeign = c.numaMiss
        c.numaLocal = c.numaHit
        c.numaOther = c.numaMiss
        return c
    }

    /// The content word the owner of `h` writes into its page `i`: a multiplicative hash of handle (slot
    /// and generation), page index and the machine's salt, so a page carried to the wrong place, or a
    /// stale copy, reads back differently.
    @inline(__always) func contentWord(_ h: PageHandle, _ i: Int) -> UInt32 {
        let x = (h.raw &+ UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15) ^ contentSalt
        return UInt32(truncatingIfNeeded: (x &* 0xBF58_476D_1CE4_E5B9) &>> 32)
    }
}
