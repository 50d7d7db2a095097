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
/// - Free blocks below pageblock order go in chains inside the partly used pageblocks: an allocated page
///   (the pin), then a free block of order 0 at +1, order 1 at +2, order 2 at +4, …; chain i of a free
///   list holds one block of every order that list has more than i of (an order it has run out of is
///   allocated). A chain is 2^height pages, aligned, never wholly free.
struct ProcPlanner {
    enum Role: Equatable {
        case partial
        case freeHead(order: Int, mt: Int)
        case freeBody
    }

    struct SmallFree {
        var offset: Int
        var order: Int
        var mt: Int
    }

    /// The plan of one zone: per pageblock its migratetype, role, PageReserved pages at its start, its
    /// free blocks below pageblock order, and whether it holds a page of another mobility.
    struct ZonePlan {
        var startPfn: Int
        var types: [UInt8]
        var roles: [Role]
        var reserved: [Int]
        var small: [[SmallFree]]
        var mixed: [Bool]
        var reservedRanges: [(start: Int, pages: Int)]
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
    static func checkFits(_ z: ProcImage.Zone, startPfn: Int, preset: ArchPreset, seed: UInt64, field: String) throws(MMError) {
        _ = try ProcPlanner(preset: preset).plan(z, startPfn: startPfn, seed: seed, field: field)
    }

    /// The plans of every zone of `image` at the pfns `layout` gives them.
    static func plans(_ image: ProcImage, layout: MachineLayout, seed: UInt64) throws(MMError) -> [ZonePlan] {
        let planner = ProcPlanner(preset: layout.preset)
        var out: [ZonePlan] = []
        var k = 0
        for (nid, node) in image.nodes.enumerated() {
            for (i, z) in node.zones.enumerated() {
                out.append(try planner.plan(z, startPfn: Int(layout.zones[k].startPfn), seed: seed, field: "proc_image.nodes[\(nid)].zones[\(i)]"))
                k += 1
            }
        }
        return out
    }

    static func invalid(_ field: String, _ value: Int, _ reason: String) -> MMError {
        .invalidConfig(field: field, value: String(value), reason: reason)
    }

    /// Migratetype preference when a pageblock must be of another type than wanted: Movable first.
    static let typePreference: [Int] = [Migratetype.movable, .unmovable, .reclaimable, .reserve, .isolate].map { Int($0.rawValue) }

    func plan(_ z: ProcImage.Zone, startPfn: Int, seed: UInt64, field: String) throws(MMError) -> ZonePlan {
        let nb = z.nrPageblocks
        let freePages = z.freePages
        guard z.managed >= freePages else {
            throw ProcPlanner.invalid("\(field).managed", z.managed, "fewer managed pages than the \(freePages) free pages of the free lists")
        }
        let reservedPages = nb * pbPages - z.managed
        guard reservedPages >= 0 else {
            throw ProcPlanner.invalid("\(field).pageblocks", nb, "\(nb) pageblocks of \(pbPages) pages hold fewer pages than the zone's \(z.managed) managed pages")
        }
        var rng = SeededRandom(seed: SeededRandom.mix(seed ^ (UInt64(startPfn) &* 0x9E37_79B9) ^ 0x5052_4F43))
        let roles = try placeLargeFree(z, nb: nb, startPfn: startPfn, rng: &rng, field: field)
        var left = z.pageblocks
        func take(_ want: Int) -> UInt8 {
            if left[want] > 0 { left[want] -= 1; return UInt8(want) }
            for t in ProcPlanner.typePreference where left[t] > 0 { left[t] -= 1; return UInt8(t) }
            preconditionFailure("more pageblocks typed than counted")
        }
        var types = [UInt8](repeating: 0, count: nb)
        for b in 0..<nb {
            if case .freeHead(let o, let mt) = roles[b] {
                for j in 0..<(1 << (o - pbOrder)) { types[b + j] = take(mt) }
            }
        }
        let partials = (0..<nb).filter { roles[$0] == .partial }
        // PageReserved pages: the first partly used pageblocks, Movable where there are.
        var reserved = [Int](repeating: 0, count: nb)
        var ranges: [(start: Int, pages: Int)] = []
        var r = reservedPages
        var nextPartial = 0
        while r > 0 {
            let b = partials[nextPartial]
            nextPartial += 1
            let n = Swift.min(r, pbPages)
            reserved[b] = n
            types[b] = take(Int(Migratetype.movable.rawValue))
            let start = startPfn + b * pbPages
            if let last = ranges.last, last.start + last.pages == start { ranges[ranges.count - 1].pages += n } else { ranges.append((start, n)) }
            r -= n
        }
        // The other partly used pageblocks: the remaining types, shuffled.
        var rest: [UInt8] = []
        for t in 0..<left.count { rest += [UInt8](repeating: UInt8(t), count: left[t]) }
        shuffle(&rest, &rng)
        for (i, b) in partials[nextPartial...].enumerated() { types[b] = rest[i] }
        var plan = ZonePlan(startPfn: startPfn, types: types, roles: roles, reserved: reserved,
                            small: Array(repeating: [], count: nb), mixed: Array(repeating: false, count: nb), reservedRanges: ranges)
        try placeSmallFree(z, &plan, partials: partials, field: field)
        try markMixed(z, &plan, partials: partials, field: field)
        return plan
    }

    func shuffle<T>(_ a: inout [T], _ rng: inout SeededRandom) {
        if a.count < 2 { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, rng.below(i + 1)) }
    }

    /// The roles of the zone's pageblocks once the free blocks of pageblock order and above are placed
    /// (module comment). Refuses a zone with more of them than its max-order-aligned groups can hold.
    func placeLargeFree(_ z: ProcImage.Zone, nb: Int, startPfn: Int, rng: inout SeededRandom, field: String) throws(MMError) -> [Role] {
        var roles = [Role](repeating: .partial, count: nb)
        let u = 1 << (maxOrder - pbOrder)
        let firstPB = startPfn >> pbOrder
        var full: [Int] = [], singles: [Int] = []
        var b = 0
        while b < nb {
            let end = Swift.min(((firstPB + b) / u + 1) * u - firstPB, nb)
            if end - b == u { full.append(b) } else if end - b == 1 { singles.append(b) }
            b = end
        }
        var pending = [[Int]](repeating: [], count: maxOrder + 1)
        for o in pbOrder...maxOrder {
            for mt in 0..<Migratetype.count { pending[o] += [Int](repeating: mt, count: z.free[mt][o]) }
        }
        if pbOrder < maxOrder {
            for s in singles where !pending[pbOrder].isEmpty { roles[s] = .freeHead(order: pbOrder, mt: pending[pbOrder].removeFirst()) }
        }
        shuffle(&full, &rng)
        let fmax = pending[maxOrder].count
        var chains = 0
        for o in pbOrder..<maxOrder { chains = Swift.max(chains, pending[o].count) }
        guard fmax + chains <= full.count else {
            throw ProcPlanner.invalid("\(field).free", fmax + chains,
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

    /// Places the chains of free blocks below pageblock order (module comment): each free list's chains
    /// round-robin over the partly used pageblocks of its own type, what does not fit there over the
    /// others (Movable first). Refuses when a chain fits nowhere.
    func placeSmallFree(_ z: ProcImage.Zone, _ plan: inout ZonePlan, partials: [Int], field: String) throws(MMError) {
        guard pbOrder > 0 else { return }
        var offset = [Int](repeating: pbPages, count: plan.nb)
        var byType = [[Int]](repeating: [], count: Migratetype.count)
        for b in partials where plan.reserved[b] < pbPages {
            offset[b] = plan.reserved[b]
            byType[Int(plan.types[b])].append(b)
        }
        // The free part of a pageblock whose start boot reserved splits into aligned blocks, one per
        // order, each beside the reserved pages (its buddy holds some): a free block of exactly that
        // order fits there without a pin of its own.
        var remaining = z.free
        for b in partials where plan.reserved[b] > 0 && plan.reserved[b] < pbPages {
            var pos = plan.reserved[b]
            var slots: [(Int, Int)] = []
            while pos < pbPages {
                var o = 0
                while pos & (1 << o) == 0 && pos + (2 << o) <= pbPages { o += 1 }
                slots.append((pos, o))
                pos += 1 << o
            }
            var end = plan.reserved[b]
            for (at, o) in slots {
                guard at == end, let mt = ProcPlanner.typePreference.first(where: { remaining[$0][o] > 0 }) else { break }
                remaining[mt][o] -= 1
                plan.small[b].append(SmallFree(offset: at, order: o, mt: mt))
                end = at + (1 << o)
            }
            offset[b] = end
        }
        var overflow: [(mt: Int, chain: Int)] = []
        for mt in 0..<Migratetype.count {
            let counts = (0..<pbOrder).map { remaining[mt][$0] }
            var cursor = 0, failedSize = Int.max
            for i in 0..<(counts.max() ?? 0) {
                if !place(chain: i, counts: counts, mt: mt, in: byType[mt], offset: &offset, plan: &plan, cursor: &cursor, failedSize: &failedSize) {
                    overflow.append((mt, i))
                }
            }
        }
        let all = ProcPlanner.typePreference.flatMap { byType[$0] }
        var cursor = 0, failedSize = Int.max
        for (mt, i) in overflow {
            let counts = (0..<pbOrder).map { remaining[mt][$0] }
            guard place(chain: i, counts: counts, mt: mt, in: all, offset: &offset, plan: &plan, cursor: &cursor, failedSize: &failedSize) else {
                throw ProcPlanner.invalid("\(field).free", i,
                                          "the free blocks below pageblock order need an allocated page beside each (chain \(i) of \(Migratetype(rawValue: UInt8(mt))!.name)); the zone's allocated pages are too few")
            }
        }
    }

    /// Puts chain `i` of a free list into the first candidate pageblock (round-robin from `cursor`) with
    /// room for it, aligned to its size. False when none has room.
    func place(chain i: Int, counts: [Int], mt: Int, in cands: [Int], offset: inout [Int], plan: inout ZonePlan,
               cursor: inout Int, failedSize: inout Int) -> Bool {
        var top = 0
        for o in 0..<counts.count where counts[o] > i { top = o }
        let size = 1 << (top + 1)
        if cands.isEmpty || size >= failedSize { return false }
        for t in 0..<cands.count {
            let b = cands[(cursor + t) % cands.count]
            let off = (offset[b] + size - 1) & ~(size - 1)
            if off + size > pbPages { continue }
            for o in 0...top where counts[o] > i { plan.small[b].append(SmallFree(offset: off + (1 << o), order: o, mt: mt)) }
            offset[b] = off + size
            cursor = (cursor + t + 1) % cands.count
            return true
        }
        failedSize = size
        return false
    }

    /// The pageblocks `Number of mixed blocks` names, per type: the first of that type (pfn order) with
    /// an allocated page, which becomes one of another mobility.
    func markMixed(_ z: ProcImage.Zone, _ plan: inout ZonePlan, partials: [Int], field: String) throws(MMError) {
        guard let mixed = z.mixedBlocks else { return }
        var need = mixed
        for b in partials {
            let t = Int(plan.types[b])
            guard need[t] > 0 else { continue }
            let free = plan.small[b].reduce(0) { $0 + (1 << $1.order) }
            if pbPages - plan.reserved[b] - free > 0 {
                plan.mixed[b] = true
                need[t] -= 1
            }
        }
        if let t = need.firstIndex(where: { $0 > 0 }) {
            throw ProcPlanner.invalid("\(field).mixed_blocks", mixed[t], "more mixed \(Migratetype(rawValue: UInt8(t))!.name) pageblocks than pageblocks of that type with allocated pages")
        }
    }
}
