/// Which allocator rules a machine follows. Only the seed's are implemented; a modern profile (v4.13+
/// `can_steal_fallback` / `steal_suitable_fallback`, HIGHATOMIC instead of RESERVE) would add a case here
/// and its own `rmqueueFallback` rule, leaving the rest of the allocator as it is.
public enum AllocatorProfile: String, Sendable {
    /// Linux 2.6.35 (kernel-compaction.md §2.3–2.4, "Seed / 2.6.35").
    case seed
}

/// One `mm_page_alloc_extfrag` event (kernel-compaction.md §2.5).
public struct ExtfragEvent: Sendable, Equatable {
    public var pfn: Int
    public var allocOrder: Int
    public var fallbackOrder: Int
    public var allocMigratetype: Migratetype
    public var fallbackMigratetype: Migratetype
    /// fallback_order < pageblock_order: the fallback mixes a pageblock.
    public var fragmenting: Bool
    /// The seed passes start_mt as the fallback type once the whole-block move ran.
    public var changeOwnership: Bool
}

extension Machine {
    /// The seed's fallback table (`fallbacks[][]`), without the MIGRATE_RESERVE column, which
    /// `__rmqueue` handles separately. (The seed's loop also read a fourth, zero-initialised column, i.e.
    /// UNMOVABLE again; that list was already searched, so leaving it out changes nothing.)
    static let fallbacks: [[Migratetype]] = [
        /* UNMOVABLE   */ [.reclaimable, .movable],
        /* RECLAIMABLE */ [.unmovable, .movable],
        /* MOVABLE     */ [.reclaimable, .unmovable],
    ]

    /// `__rmqueue_fallback()` as in 2.6.35: search from the largest order down for a block on a fallback
    /// list; when breaking a large block (order >= pageblock_order/2) or for a reclaimable request, move
    /// every free page of its pageblock to the requested type and claim the pageblock if at least half of
    /// it was free; claim every pageblock a block >= pageblock_order covers. Returns the pfn, or nil.
    func rmqueueFallback(zone z: ZoneID, order: Int, startMt: Migratetype) -> Pfn? {
        var current = nrOrders - 1
        while current >= order {
            for fb in Machine.fallbacks[startMt] {
                let li = freeArea.list(zone: z, order: current, mt: fb)
                let head = freeArea.heads[li]
                if head == NONE { continue }
                let pfn = Pfn(link: head)
                var expandMt = fb
                if current >= (pageblockOrder >> 1) || startMt == .reclaimable
                    || mobilityGroupingDisabled {
                    let moved = moveFreepagesBlock(zone: z, pfn: pfn, toMigratetype: startMt)
                    if moved >= (1 << (pageblockOrder - 1)) || mobilityGroupingDisabled {
                        setPageblockMigratetype(pfn, startMt)
                    }
                    expandMt = startMt
                }
                removeFromFreeList(pfn, zone: z)
                if current >= pageblockOrder {
                    // change_pageblock_range: take ownership of every pageblock the block covers.
                    var b = pfn
                    while b < pfn + (1 << current) {
                        setPageblockMigratetype(b, startMt)
                        b += pageblockPages
                    }
                }
                expand(pfn, zone: z, low: order, high: current, mt: expandMt)
                recordExtfrag(ExtfragEvent(
                    pfn: pfn.rawValue, allocOrder: order, fallbackOrder: current,
                    allocMigratetype: startMt, fallbackMigratetype: expandMt,
                    fragmenting: current < pageblockOrder, changeOwnership: expandMt == startMt))
                return pfn
            }
            current -= 1
        }
        return nil
    }

    /// `move_freepages_block()`: move every free block inside the pageblock containing `pfn` onto the
    /// `mt` lists. Returns the number of pages moved; 0 if the pageblock straddles the zone's edge.
    @discardableResult
    func moveFreepagesBlock(zone z: ZoneID, pfn: Pfn, toMigratetype mt: Migratetype) -> Int {
        let start = pageblockStartPfn(pfn)
        let end = start + pageblockPages - 1
        guard zones[z].contains(pfn: start), zones[z].contains(pfn: end) else { return 0 }
        var moved = 0
        var p = start
        while p <= end {
            if !isBuddy(p) { p += 1; continue }
            let o = buddyOrder(p)
            moveFreeBlock(p, zone: z, toMigratetype: mt)
            p += 1 << o
            moved += 1 << o
        }
        return moved
    }

    func recordExtfrag(_ e: ExtfragEvent) {
        ev.extfragEvents += 1
        if e.fragmenting { ev.extfragFragmenting += 1 }
        if e.changeOwnership { ev.extfragChangeOwnership += 1 }
        tracer?.extfrag(e)
    }
}
