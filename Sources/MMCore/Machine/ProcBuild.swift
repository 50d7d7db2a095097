/// Building a machine from a real machine's /proc files (`MachineConfig.procImage`): `Machine.init`
/// lays the zones out (`MachineConfig.procLayout`), reserves what the plan says boot reserved, and
/// then, instead of handing every page to the buddy allocator, fills each zone as `ProcPlanner`
/// planned it, with the allocator's own steps: `set_pageblock_migratetype` for every pageblock, the
/// free blocks onto their free lists (`addToFreeList`, as `__free_one_page` ends), and every other page
/// an allocation of its pageblock's mobility (`prepNewPage`, as a block leaving the buddy lists).
extension Machine {
    /// `present_pages` as the text gave it (never more than the pageblocks the zone is made of).
    static func applyProcPresent(_ image: ProcImage, zones: inout [Zone]) {
        for z in zones.indices where zones[z].populated {
            let nodeZones = image.nodes[zones[z].node].zones
            if let iz = nodeZones.first(where: { $0.type == zones[z].type }) {
                zones[z].presentPages = Swift.min(iz.present, zones[z].spannedPages)
            }
        }
    }

    /// Boot's reservations of a machine from /proc text: the plan's PageReserved ranges.
    static func procBootMemory(_ plans: [ProcPlanner.ZonePlan]) -> BootMemory {
        let ranges = plans.flatMap(\.reservedRanges)
        return BootMemory(memmapPages: [], kernelPages: 0, hashPages: 0, ranges: ranges)
    }

    /// Fills the zones as planned (after watermarks and pagesets are set up, so that 2.6.35's
    /// `setup_zone_migrate_reserve` finds nothing to move and every pageblock type set here stays).
    /// Counters start at zero, as after a boot: the allocations made here are not events.
    func populateFromProc(_ plans: [ProcPlanner.ZonePlan], image: ProcImage) throws(MMError) {
        var rng = SeededRandom(seed: SeededRandom.mix(config.seed ^ 0x414E_4F4E))
        let anonShare = Double(image.anonPercent) / 100
        var k = 0
        for z in zoneIDs where zones[z].populated {
            let plan = plans[k]
            k += 1
            var free = 0
            for b in 0..<plan.nb {
                let pfn0 = plan.startPfn + b << pageblockOrder
                let mt = plan.types[b]
                setPageblockMigratetype(pfn0, mt)
                switch plan.roles[b] {
                case .freeHead(let order, let list):
                    addToFreeList(pfn0, zone: z, order: order, mt: list)
                    free += 1 << order
                case .freeBody:
                    break
                case .partial:
                    let smalls = plan.small[b].sorted { $0.offset < $1.offset }
                    var pos = plan.reserved[b], si = 0
                    var foreign = plan.mixed[b]
                    while pos < pageblockPages {
                        if si < smalls.count && smalls[si].offset == pos {
                            addToFreeList(pfn0 + pos, zone: z, order: smalls[si].order, mt: smalls[si].mt)
                            free += 1 << smalls[si].order
                            pos += 1 << smalls[si].order
                            si += 1
                            continue
                        }
                        let end = si < smalls.count ? smalls[si].offset : pageblockPages
                        try allocateProcRun(pfn0 + pos, pfn0 + end, zone: z, blockType: mt, foreign: &foreign, anonShare: anonShare, rng: &rng)
                        pos = end
                    }
                }
            }
            zoneCounters.freePages[z] = free
            if let modern {
                modern.nrReservedHighatomic[z] = image.nodes[zones[z].node].zones.first { $0.type == zones[z].type }
                    .map { $0.pageblocks[Migratetype.highatomic] * pageblockPages } ?? 0
                modernApplyMarks(zone: z)
            }
        }
        for z in zoneIDs {
            zoneCounters.pgalloc[z] = 0
            zoneCounters.allocations[z] = 0
        }
        ev.numaMiss = 0
        bumpGeneration()
    }

    /// The kind of an allocated page in a pageblock of `blockType` (ProcImage.placementAssumptions).
    static func procKind(blockType: Migratetype, anon: Bool) -> AllocKind {
        switch blockType {
        case .movable, .isolate: return anon ? .anon : .file
        case .reclaimable: return .slab
        case .unmovable, .reserve: return .kernel
        default: preconditionFailure("migratetype slot \(blockType.rawValue) out of range")
        }
    }

    /// Allocates pfns `start..<end` of a pageblock of `blockType`: order-0 pages, unmovable kernel
    /// memory in aligned blocks up to order 3; the first page another mobility's when `foreign`.
    func allocateProcRun(_ start: Pfn, _ end: Pfn, zone z: ZoneID, blockType: Migratetype, foreign: inout Bool,
                         anonShare: Double, rng: inout SeededRandom) throws(MMError) {
        var pfn = start
        while pfn < end {
            var kind = Machine.procKind(blockType: blockType, anon: blockType == .isolate || rng.unit() < anonShare)
            var order = 0
            if foreign {
                kind = blockType == .movable ? .kernel : .anon
                foreign = false
            } else if kind == .kernel {
                order = 3
                while order > 0 && (!pfn.isAligned(order: order) || pfn + (1 << order) > end) { order -= 1 }
            }
            if handles.atSlotLimit { try growHandleTable() }
            _ = prepNewPage(pfn: pfn, zone: z, preferredZone: z, req: AllocRequest(order: order, kind: kind))
            pfn += 1 << order
        }
    }
}
