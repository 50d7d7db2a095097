/// Where each page of a zone built from /proc text goes (`ProcImage`; the assumptions are
/// `ProcImage.placementAssumptions`). A pure computation over a zone's pageblocks, deterministic for
/// the seed; `Machine.populateFromProc` applies it through the allocator's own steps.
///
/// The shape follows from the buddy rule: two free buddies of one order always merge, so every free
/// block below the largest order needs a buddy that is not wholly free.
/// - Free blocks of pageblock order and above take whole pageblocks at max-order-aligned groups ("regions"):
///   a region is either one free max-order block, or a *chain* [partly used pageblock][free order pb]
///   [free order pb+1]…, whose first pageblock is the buddy that keeps each of them from merging. A
///   region cut by the zone's edge down to one pageblock holds a free pageblock-order block without a
///   chain (its buddy lies outside the zone, and a buddy never merges across a zone's edge).
/// - Free blocks below pageblock order fill the partly used pageblocks (`fill`): a region whose buddy
///   is wholly free keeps a page that is not free (allocated, or PageReserved) in its lower half, and
///   its upper half may be one free block; so a pageblock holds, at best, one allocated page and a free
///   block of every order below pageblock order beside it, nested as deep as the counts go.
struct ProcPlanner {
    enum Role: Equatable {
        case partial
        case freeHead(order: Int, mt: Migratetype)
        case freeBody
    }

    struct SmallFree {
        var offset: Int
        var order: Int
        var mt: Migratetype
    }

    /// The plan of one zone: per pageblock its migratetype, role, PageReserved pages at its start, its
    /// free blocks below pageblock order, and whether it holds a page of another mobility.
    struct ZonePlan {
        var startPfn: Pfn
        var types: [Migratetype]
        var roles: [Role]
        var reserved: [Int]
        var small: [[SmallFree]]
        var mixed: [Bool]
        var reservedRanges: [(start: Pfn, pages: Int)]
        var nb: Int { types.count }
    }

    let pbOrder: Int
    let maxOrder: Int
    let pbPages: Int

    init(preset: ArchPreset) {
        pbOrder = preset.pageblockOrder
        maxOrder = preset.nrOrders - 1
        pbPages = 1 << preset.pageblockOrder
    }

    /// Refuses, naming the field, a zone whose counts cannot be laid out in its pageblocks.
    static func checkFits(_ z: ProcImage.Zone, startPfn: Pfn, preset: ArchPreset, seed: UInt64, field: FieldPath) throws(MMError) {
        _ = try ProcPlanner(preset: preset).plan(z, startPfn: startPfn, seed: seed, field: field)
    }

    /// The plans of every zone of `image` at the pfns `layout` gives them.
    static func plans(_ image: ProcImage, layout: MachineLayout, seed: UInt64) throws(MMError) -> [ZonePlan] {
        let planner = ProcPlanner(preset: layout.preset)
        var out: [ZonePlan] = []
        var k = 0
        for (nid, node) in image.nodes.enumerated() {
            for (i, z) in node.zones.enumerated() {
                out.append(try planner.plan(z, startPfn: Pfn(Int(layout.zones[k].startPfn)), seed: seed, field: FieldPath("proc_image", "nodes").index(nid).key("zones").index(i)))
                k += 1
            }
        }
        return out
    }

    static func invalid(_ field: FieldPath, _ value: Int, _ reason: String) -> MMError {
        .invalidConfig(field: field, value: String(value), reason: reason)
    }

    /// Migratetype preference when a pageblock must be of another type than wanted: Movable first.
    static let typePreference: [Migratetype] = [.movable, .unmovable, .reclaimable, .reserve, .isolate]

    func plan(_ z: ProcImage.Zone, startPfn: Pfn, seed: UInt64, field: FieldPath) throws(MMError) -> ZonePlan {
        let nb = z.nrPageblocks
        let freePages = z.freePages
        guard z.managed >= freePages else {
            throw ProcPlanner.invalid(field.key("managed"), z.managed, "fewer managed pages than the \(freePages) free pages of the free lists")
        }
        let reservedPages = nb * pbPages - z.managed
        guard reservedPages >= 0 else {
            throw ProcPlanner.invalid(field.key("pageblocks"), nb, "\(nb) pageblocks of \(pbPages) pages hold fewer pages than the zone's \(z.managed) managed pages")
        }
        var rng = SeededRandom(seed: SeededRandom.mix(seed ^ (UInt64(startPfn.rawValue) &* 0x9E37_79B9) ^ 0x5052_4F43))
        let roles = try placeLargeFree(z, nb: nb, startPfn: startPfn, rng: &rng, field: field)
        var left = z.pageblocks
        func take(_ want: Migratetype) -> Migratetype {
            if left[want] > 0 { left[want] -= 1; return want }
            for t in ProcPlanner.typePreference where left[t] > 0 { left[t] -= 1; return t }
            preconditionFailure("more pageblocks typed than counted")
        }
        var types = [Migratetype](repeating: .unmovable, count: nb)
        for b in 0..<nb {
            if case .freeHead(let o, let mt) = roles[b] {
                for j in 0..<(1 << (o - pbOrder)) { types[b + j] = take(mt) }
            }
        }
        let partials = (0..<nb).filter { roles[$0] == .partial }
        // PageReserved pages: the first partly used pageblocks, Movable where there are.
        var reserved = [Int](repeating: 0, count: nb)
        var ranges: [(start: Pfn, pages: Int)] = []
        var r = reservedPages
        var nextPartial = 0
        while r > 0 {
            let b = partials[nextPartial]
            nextPartial += 1
            let n = Swift.min(r, pbPages)
            reserved[b] = n
            types[b] = take(.movable)
            let start = startPfn + b * pbPages
            if let last = ranges.last, last.start + last.pages == start { ranges[ranges.count - 1].pages += n } else { ranges.append((start, n)) }
            r -= n
        }
        // The other partly used pageblocks: the remaining types, shuffled.
        var rest: [Migratetype] = []
        for t in Migratetype.allCases { rest += [Migratetype](repeating: t, count: left[t]) }
        shuffle(&rest, &rng)
        for (i, b) in partials[nextPartial...].enumerated() { types[b] = rest[i] }
        var plan = ZonePlan(startPfn: startPfn, types: types, roles: roles, reserved: reserved,
                            small: Array(repeating: [], count: nb), mixed: Array(repeating: false, count: nb), reservedRanges: ranges)
        try placeSmallFree(z, &plan, partials: partials, field: field, rng: &rng)
        try markMixed(z, &plan, partials: partials, field: field)
        return plan
    }

    func shuffle<T>(_ a: inout [T], _ rng: inout SeededRandom) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, rng.below(i + 1)) }
    }

    /// The roles of the zone's pageblocks once the free blocks of pageblock order and above are placed
    /// (module comment). Refuses a zone with more of them than its max-order-aligned groups can hold.
    func placeLargeFree(_ z: ProcImage.Zone, nb: Int, startPfn: Pfn, rng: inout SeededRandom, field: FieldPath) throws(MMError) -> [Role] {
        var roles = [Role](repeating: .partial, count: nb)
        let u = 1 << (maxOrder - pbOrder)
        let firstPB = startPfn.blockIndex(order: pbOrder)
        var full: [Int] = [], singles: [Int] = []
        var b = 0
        while b < nb {
            let end = Swift.min(((firstPB + b) / u + 1) * u - firstPB, nb)
            if end - b == u { full.append(b) } else if end - b == 1 { singles.append(b) }
            b = end
        }
        var pending = [[Migratetype]](repeating: [], count: maxOrder + 1)
        for o in pbOrder...maxOrder {
            for mt in Migratetype.allCases { pending[o] += [Migratetype](repeating: mt, count: z.free[mt][o]) }
        }
        if pbOrder < maxOrder {
            for s in singles where !pending[pbOrder].isEmpty { roles[s] = .freeHead(order: pbOrder, mt: pending[pbOrder].removeFirst()) }
        }
        shuffle(&full, &rng)
        let fmax = pending[maxOrder].count
        var chains = 0
        for o in pbOrder..<maxOrder { chains = Swift.max(chains, pending[o].count) }
        guard fmax + chains <= full.count else {
            throw ProcPlanner.invalid(field.key("free"), fmax + chains,
                                      "\(fmax) free blocks of order \(maxOrder) and \(chains) of orders \(pbOrder)..<\(maxOrder) (each beside a partly used pageblock) need more than the zone's \(full.count) max-order-aligned groups of \(u) pageblocks")
        }
        var k = 0
        for mt in pending[maxOrder] {
            let r = full[k]
            k += 1
            roles[r] = .freeHead(order: maxOrder, mt: mt)
            for j in 1..<u { roles[r + j] = .freeBody }
        }
        for i in 0..<chains {
            let r = full[k]
            k += 1
            for o in pbOrder..<maxOrder where i < pending[o].count {
                let off = 1 << (o - pbOrder)
                roles[r + off] = .freeHead(order: o, mt: pending[o][i])
                for j in 1..<off { roles[r + off + j] = .freeBody }
            }
        }
        return roles
    }

    /// Places the free blocks below pageblock order in the partly used pageblocks (`fill`). First spread:
    /// each free list's blocks, largest first, dealt round-robin to the pageblocks of its own type (the
    /// others, Movable first, when it has none or they are full), and each pageblock filled from what it
    /// was dealt. What did not fit tops up pageblocks in seeded order (each filled again from its own
    /// blocks and the left-over ones); only if some are still left is everything placed densely: every
    /// pageblock filled again, in that order, from all the blocks. Refuses when even that leaves a
    /// block over.
    func placeSmallFree(_ z: ProcImage.Zone, _ plan: inout ZonePlan, partials: [Int], field: FieldPath, rng: inout SeededRandom) throws(MMError) {
        guard pbOrder > 0 else { return }
        let cands = partials.filter { plan.reserved[$0] < pbPages }
        var byType = [[Int]](repeating: [], count: Migratetype.count)
        for b in cands { byType[plan.types[b]].append(b) }
        let others = ProcPlanner.typePreference.flatMap { byType[$0] }
        var own = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: pbOrder), count: Migratetype.count), count: plan.nb)
        var dealt = [Int](repeating: 0, count: plan.nb)
        var leftover = [[Int]](repeating: [Int](repeating: 0, count: pbOrder), count: Migratetype.count)
        for mt in Migratetype.allCases {
            var cursor = 0
            // Sizes only shrink: once no pageblock had room for a size, none has for the rest of it.
            var failedSize = Int.max
            for o in stride(from: pbOrder - 1, through: 0, by: -1) {
                for _ in 0..<z.free[mt][o] {
                    let list = byType[mt].isEmpty ? others : byType[mt]
                    if 1 << o >= failedSize { leftover[mt][o] += 1; continue }
                    var placed = false
                    for t in 0..<list.count {
                        let b = list[(cursor + t) % list.count]
                        if dealt[b] + (1 << o) < pbPages - plan.reserved[b] {
                            own[b][mt][o] += 1
                            dealt[b] += 1 << o
                            cursor = (cursor + t + 1) % list.count
                            placed = true
                            break
                        }
                    }
                    if !placed { leftover[mt][o] += 1; failedSize = 1 << o }
                }
            }
        }
        for b in cands {
            fill(0, pbOrder, need: true, reserved: plan.reserved[b], pool: &own[b], prefer: preference(plan.types[b]), out: &plan.small[b])
            for mt in Migratetype.allCases { for o in 0..<pbOrder { leftover[mt][o] += own[b][mt][o] } }
        }
        func isEmpty(_ p: [[Int]]) -> Bool { !p.contains { $0.contains { $0 > 0 } } }
        guard !isEmpty(leftover) else { return }
        // Top up: pageblocks in seeded order filled again from their blocks and what is left over, until
        // nothing is (each refill only packs its pageblock tighter; the others keep their spread).
        var order = cands
        shuffle(&order, &rng)
        for b in order where !isEmpty(leftover) {
            for f in plan.small[b] { leftover[f.mt][f.order] += 1 }
            plan.small[b] = []
            fill(0, pbOrder, need: true, reserved: plan.reserved[b], pool: &leftover, prefer: preference(plan.types[b]), out: &plan.small[b])
        }
        guard !isEmpty(leftover) else { return }
        // Dense: all the blocks, every pageblock filled as full as it goes.
        var pool = [[Int]](repeating: [Int](repeating: 0, count: pbOrder), count: Migratetype.count)
        for mt in Migratetype.allCases { for o in 0..<pbOrder { pool[mt][o] = z.free[mt][o] } }
        for b in order {
            plan.small[b] = []
            fill(0, pbOrder, need: true, reserved: plan.reserved[b], pool: &pool, prefer: preference(plan.types[b]), out: &plan.small[b])
        }
        if let mt = pool.firstIndex(where: { $0.contains { $0 > 0 } }).map(Migratetype.init(rawValue:)) {
            let o = pool[mt].firstIndex { $0 > 0 }!
            throw ProcPlanner.invalid(field.key("free"), z.free[mt][o],
                                      "the free blocks below pageblock order need a page that is not free beside each, and the zone's allocated and reserved pages are too few to keep them apart (\(pool[mt][o]) of order \(o) on \(mt.name) left over)")
        }
    }

    /// The free lists a pageblock of type `t` takes its free blocks from, in order: its own first.
    func preference(_ t: Migratetype) -> [Migratetype] { [t] + ProcPlanner.typePreference.filter { $0 != t } }

    /// Fills the aligned region of 2^k pages at `start` (an offset in its pageblock) with free blocks from
    /// `pool`, largest first, so that none can merge: a region whose buddy is wholly free (`need`) keeps
    /// a page that is not free in its lower half, and the upper half, whose buddy then is not wholly free,
    /// may be one free block. Pages below `reserved` are PageReserved (not free); every page the fill
    /// leaves is allocated.
    func fill(_ start: Int, _ k: Int, need: Bool, reserved r: Int, pool: inout [[Int]], prefer: [Migratetype], out: inout [SmallFree]) {
        if start + (1 << k) <= r { return }
        if start >= r && !need && k < pbOrder, let mt = prefer.first(where: { pool[$0][k] > 0 }) {
            pool[mt][k] -= 1
            out.append(SmallFree(offset: start, order: k, mt: mt))
            return
        }
        if k == 0 { return }
        fill(start, k - 1, need: true, reserved: r, pool: &pool, prefer: prefer, out: &out)
        fill(start + (1 << (k - 1)), k - 1, need: false, reserved: r, pool: &pool, prefer: prefer, out: &out)
    }

    /// The pageblocks `Number of mixed blocks` names, per type: the first of that type (pfn order) with
    /// an allocated page, which becomes one of another mobility.
    func markMixed(_ z: ProcImage.Zone, _ plan: inout ZonePlan, partials: [Int], field: FieldPath) throws(MMError) {
        guard let mixed = z.mixedBlocks else { return }
        var need = mixed
        for b in partials {
            let t = plan.types[b]
            guard need[t] > 0 else { continue }
            let free = plan.small[b].reduce(0) { $0 + (1 << $1.order) }
            if pbPages - plan.reserved[b] - free > 0 {
                plan.mixed[b] = true
                need[t] -= 1
            }
        }
        if let t = need.firstIndex(where: { $0 > 0 }).map(Migratetype.init(rawValue:)) {
            throw ProcPlanner.invalid(field.key("mixed_blocks"), mixed[t], "more mixed \(t.name) pageblocks than pageblocks of that type with allocated pages")
        }
    }
}
