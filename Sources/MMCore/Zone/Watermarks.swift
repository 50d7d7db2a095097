/// Allocation flags that change the watermark test (`ALLOC_*`).
public struct AllocFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// ALLOC_HIGH (__GFP_HIGH): may use half of the reserve.
    public static let high = AllocFlags(rawValue: 1)
    /// ALLOC_HARDER (atomic / realtime): may use a further quarter.
    public static let harder = AllocFlags(rawValue: 2)
}

/// Integer square root (`int_sqrt`).
@inlinable public func intSqrt(_ x: Int) -> Int {
    guard x > 0 else { return 0 }
    var r = Int(Double(x).squareRoot())
    while r * r > x { r -= 1 }
    while (r + 1) * (r + 1) <= x { r += 1 }
    return r
}

/// The seed's `zone_watermark_ok` as a pure function of its inputs (kernel-compaction.md §3.5):
/// free pages minus the request must exceed the mark plus the lowmem reserve, and at each lower order
/// the pages in blocks too small for the request stop counting while the required reserve halves.
/// - Parameters:
///   - freePages: NR_FREE_PAGES of the zone.
///   - nrFree: `nr_free[o]` for o in 0..<order (only those are read).
@inlinable
public func zoneWatermarkOk(freePages: Int, nrFree: (Int) -> Int, order: Int, mark: Int,
                            lowmemReserve: Int, flags: AllocFlags = []) -> Bool {
    var min = mark
    var free = freePages - (1 << order) + 1
    if flags.contains(.high) { min -= min / 2 }
    if flags.contains(.harder) { min -= min / 4 }
    if free <= min + lowmemReserve { return false }
    var o = 0
    while o < order {
        free -= nrFree(o) << o
        min >>= 1
        if free <= min { return false }
        o += 1
    }
    return true
}

extension Machine {
    /// `zone->lowmem_reserve[classzone]`: what an allocation whose highest usable zone index is
    /// `classzone` must leave free in zone `z` on top of the watermark (`zoneLowmemReserve`, flat).
    @inline(__always) func lowmemReserve(zone z: ZoneID, classzone: Int) -> Int {
        zoneLowmemReserve[z.rawValue &* zoneTypeCount &+ classzone]
    }

    /// `zone_watermark_ok(zone, order, mark, classzone_idx, alloc_flags)` on this machine's zone.
    @inline(__always)
    public func zoneWatermarkOk(zone z: ZoneID, order: Int, mark: Int, classzoneIdx: Int, flags: AllocFlags = []) -> Bool {
        // Kernel 6.6 (ModernPageAlloc.swift): its own watermark rules.
        if _slowPath(modern != nil) { return modernZoneWatermarkOkSeedFlags(zone: z, order: order, mark: mark, classzoneIdx: classzoneIdx, flags: flags) }
        let reserve = lowmemReserve(zone: z, classzone: classzoneIdx)
        let free = zoneCounters.freePages[z]
        // Order 0 needs no per-order loop: keep the hot path free of the closure.
        if order == 0 {
            var min = mark
            if flags.contains(.high) { min -= min / 2 }
            if flags.contains(.harder) { min -= min / 4 }
            return free > min + reserve
        }
        return MMCore.zoneWatermarkOk(freePages: free, nrFree: { self.nrFree(zone: z, order: $0) },
                                      order: order, mark: mark, lowmemReserve: reserve, flags: flags)
    }

    /// `nr_free_buffer_pages()` at boot: pages of the zones GFP_USER may use (up to Normal), all nodes.
    /// (It subtracts high watermarks, which are still zero when min_free_kbytes is first computed.)
    func lowmemPagesForMinFree() -> Int {
        zones.filter { $0.populated && $0.type <= .normal }.reduce(0) { $0 + $1.presentPages }
    }

    /// The seed's `init_per_zone_wmark_min`: `int_sqrt(lowmem_kbytes * 16)` clamped to [128, 65536]
    /// (kernel-compaction.md §3.1; the modern upper clamp is 262144).
    public func defaultMinFreeKbytes() -> Int {
        // Kernel 6.6 (ModernPageAlloc.swift): the modern clamp, and THP's recommendation.
        if modern != nil { return modernDefaultMinFreeKbytes() }
        let lowmemKbytes = lowmemPagesForMinFree() * pageKB
        return Swift.min(Swift.max(intSqrt(lowmemKbytes * 16), 128), 65536)
    }

    /// What `hugeadm --set-recommended-min_free_kbytes` would write (kernel-compaction.md §3.6):
    /// 11 × huge page size in KiB × the number of zones /proc/zoneinfo lists (populated ones in the seed).
    /// The huge page size of every preset here is the pageblock size.
    public var recommendedMinFreeKbytes: Int {
        let hugepageKB = pageblockPages * pageKB
        let nrZones = zones.filter(\.populated).count
        return hugepageKB * nrZones * 2 + hugepageKB * nrZones * 3 * 3
    }

    /// The seed's `setup_per_zone_wmarks` (kernel-compaction.md §3.2, pre-4.6 form): each zone's MIN is
    /// its share of `min_free_kbytes` by present pages among lowmem zones; HighMem gets
    /// clamp(present/1024, 32, 128); LOW = MIN + tmp/4, HIGH = MIN + tmp/2. Then the MIGRATE_RESERVE
    /// pageblocks are set up again for the new MIN.
    func setupPerZoneWmarks() {
        // Kernel 6.6 (ModernPageAlloc.swift): watermark_scale_factor, no MIGRATE_RESERVE.
        if modern != nil { modernSetupPerZoneWmarks(); return }
        let pagesMin = minFreeKbytes >> (pageShift - 10)
        let lowmemPages = zones.filter { $0.type != .highmem }.reduce(0) { $0 + $1.presentPages }
        for z in zoneIDs {
            let present = zones[z].presentPages
            let tmp = lowmemPages > 0 ? pagesMin * present / lowmemPages : 0
            let minMark: Int
            if zones[z].type == .highmem {
                minMark = Swift.min(Swift.max(present / 1024, 32), 128)
            } else {
                minMark = tmp
            }
            zones[z].watermark = (minMark, minMark + (tmp >> 2), minMark + (tmp >> 1))
            zoneWmark[z.rawValue &* 3] = zones[z].watermark.min
            zoneWmark[z.rawValue &* 3 &+ 1] = zones[z].watermark.low
            zoneWmark[z.rawValue &* 3 &+ 2] = zones[z].watermark.high
            if zones[z].populated { setupZoneMigrateReserve(zone: z) }
        }
        refreshOrder0LowMarks()
        bumpGeneration()
    }

    /// Recomputes `zoneOrder0LowMark` from `zoneWmark` and `zoneLowmemReserve` (after either changes);
    /// on 6.6 with the HIGHATOMIC reserve too, as `modernApplyMarks` sets it (a machine built from /proc
    /// text starts with HIGHATOMIC blocks, and its handle table grows after them).
    func refreshOrder0LowMarks() {
        // Kernel 6.6 (ModernPageAlloc.swift `modernApplyMarks`): the order-0 fast path's mark is the
        // whole `zone_watermark_fast` order-0 test, which also holds back `nr_reserved_highatomic`
        // (`__zone_watermark_unusable_free`, mm/page_alloc.c). Recomputing it without that term (the
        // handle table's growth calls this) left a stale mark once a HIGHATOMIC block was reserved.
        if modern != nil {
            for z in zoneIDs { modernApplyMarks(zone: z) }
            return
        }
        for z in zoneIDs {
            zoneOrder0LowMark[z] = wmarkPages(zone: z, .low) + lowmemReserve(zone: z, classzone: Int(zoneIndexInNode[z]))
        }
    }

    /// `setup_per_zone_lowmem_reserve` (kernel-compaction.md §3.4): `lowmem_reserve[j]` of a lower zone i
    /// is the present pages of zones i+1..j on the same node divided by zone i's ratio.
    func setupPerZoneLowmemReserve() {
        for node in nodes {
            let n = node.zoneIds.count
            for i in 0..<n { zones[node.zoneIds[i]].lowmemReserve = Array(repeating: 0, count: n) }
            for j in 0..<n {
                var present = zones[node.zoneIds[j]].presentPages
                var idx = j
                while idx > 0 {
                    idx -= 1
                    let lower = node.zoneIds[idx]
                    zones[lower].lowmemReserve[j] = present / zones[lower].type.lowmemReserveRatio
                    present += zones[lower].presentPages
                }
            }
        }
        for z in zoneIDs {
            for (j, r) in zones[z].lowmemReserve.enumerated() { zoneLowmemReserve[z.rawValue * preset.zoneTypes.count + j] = r }
        }
        refreshOrder0LowMarks()
    }

    /// `setup_zone_migrate_reserve` (2.6.31+ form, kept in 2.6.35): reserve
    /// min(2, roundup(MIN, pageblock) / pageblock) pageblocks as MIGRATE_RESERVE, taking MOVABLE blocks
    /// from the start of the zone, and give back reserve blocks beyond that count. A block whose first
    /// page is PageReserved (boot memory) is skipped: "Blocks with reserved pages will never free".
    func setupZoneMigrateReserve(zone z: ZoneID) {
        let zone = zones[z]
        var reserve = ((zone.watermark.min + pageblockPages - 1) / pageblockPages * pageblockPages) >> pageblockOrder
        reserve = Swift.min(2, reserve)
        var pfn = zone.startPfn
        while pfn < zone.endPfn {
            if isReservedPage(pfn) { pfn += pageblockPages; continue }
            let mt = pageblockMigratetype(pfn)
            if reserve > 0 && mt == .reserve {
                reserve -= 1
            } else if reserve > 0 && mt == .movable {
                setPageblockMigratetype(pfn, .reserve)
                moveFreepagesBlock(zone: z, pfn: pfn, toMigratetype: .reserve)
                reserve -= 1
            } else if mt == .reserve {
                setPageblockMigratetype(pfn, .movable)
                moveFreepagesBlock(zone: z, pfn: pfn, toMigratetype: .movable)
            }
            pfn += pageblockPages
        }
    }

    /// Writing /proc/sys/vm/min_free_kbytes: recomputes every zone's watermarks and reserve blocks.
    public func setMinFreeKbytes(_ kb: Int) throws(MMError) {
        guard (1...(1 << 30)).contains(kb) else {
            throw .invalidConfig(field: FieldPath("min_free_kbytes"), value: "\(kb)", reason: "must be 1..1073741824")
        }
        minFreeKbytes = kb
        setupPerZoneWmarks()
        bumpGeneration()
    }

    /// Writing /proc/sys/vm/extfrag_threshold (0..1000).
    public func setExtfragThreshold(_ v: Int) throws(MMError) {
        guard (0...1000).contains(v) else {
            throw .invalidConfig(field: FieldPath("extfrag_threshold"), value: "\(v)", reason: "must be 0..1000")
        }
        extfragThreshold = v
        bumpGeneration()
    }

    /// Writing /proc/sys/vm/compact_unevictable_allowed (0 or 1).
    public func setCompactUnevictableAllowed(_ v: Int) throws(MMError) {
        guard (0...1).contains(v) else {
            throw .invalidConfig(field: FieldPath("compact_unevictable_allowed"), value: "\(v)", reason: "must be 0 or 1")
        }
        compactUnevictableAllowed = v
        bumpGeneration()
    }

    /// Writing /proc/sys/vm/hugepages_treat_as_movable (0 or 1; `hugetlb_treat_movable_handler`,
    /// mm/hugetlb.c): 1 makes `htlb_alloc_mask` GFP_HIGHUSER_MOVABLE, 0 GFP_HIGHUSER.
    public func setHugepagesTreatAsMovable(_ v: Int) throws(MMError) {
        guard kernel.hasHugepagesTreatAsMovable else { throw kernel.lacksSetting(FieldPath("hugepages_treat_as_movable"), value: "\(v)") }
        guard (0...1).contains(v) else {
            throw .invalidConfig(field: FieldPath("hugepages_treat_as_movable"), value: "\(v)", reason: "must be 0 or 1")
        }
        hugepagesTreatAsMovable = v
        bumpGeneration()
    }
}
