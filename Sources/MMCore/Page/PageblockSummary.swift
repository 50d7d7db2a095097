/// What one pageblock holds: its migratetype (`get_pageblock_migratetype`), its pages by what holds them,
/// and whether it is *mixed*, i.e. holds an allocation whose migratetype (`gfpflags_to_migratetype` of
/// its kind) is not the pageblock's, as the kernel's page_owner counts "mixed" blocks in
/// /proc/pagetypeinfo. Free pages never make a block mixed; a RESERVE or ISOLATE block is mixed as soon
/// as it holds an allocation, since no allocation asks for those types.
///
/// The counts add up to the pages of the block (every page lies in exactly one buddy block or
/// allocation). Each fits 16 bits: a pageblock has at most 2^15 pages (`pageblock_order` < `nr_orders`
/// ≤ 16), which keeps a 1 TiB machine's 524,288 summaries at 9 MiB.
public struct PageblockInfo: Equatable, Sendable {
    /// The counters of a summary, in `counts` order (the order `PageblockMap` encodes them in).
    public enum Field: Int, CaseIterable, Sendable {
        /// Pages of free buddy blocks (on the free lists, PageBuddy).
        case free = 0
        /// Free order-0 pages on the per-CPU lists (not PageBuddy).
        case pcp = 1
        /// Allocated pages by kind: anon and file (movable), slab (reclaimable), kernel (unmovable),
        /// pinned (movable-typed but held).
        case anon = 2, file = 3, slab = 4, kernel = 5, pinned = 6
        /// Free pages the compaction free scanner has taken off the free lists (owned by nobody).
        case isolatedFree = 7

        public static let count = 8

        /// The JSON and document name.
        public var name: String {
            switch self {
            case .free: return "free"
            case .pcp: return "pcp"
            case .anon: return "anon"
            case .file: return "file"
            case .slab: return "slab"
            case .kernel: return "kernel"
            case .pinned: return "pinned"
            case .isolatedFree: return "isolated_free"
            }
        }

        /// The field counting allocated pages of `kind`.
        public static func allocated(_ kind: AllocKind) -> Field { Field(rawValue: 2 + Int(kind.rawValue))! }
    }

    public var migratetype: Migratetype
    public var mixed: Bool
    /// Pages by `Field` (8 entries).
    public var counts: [UInt16]

    public init(migratetype: Migratetype, mixed: Bool = false, counts: [UInt16] = Array(repeating: 0, count: Field.count)) {
        precondition(counts.count == Field.count)
        self.migratetype = migratetype
        self.mixed = mixed
        self.counts = counts
    }

    public subscript(_ f: Field) -> Int { Int(counts[f.rawValue]) }

    /// Free pages of every sort: buddy, per-CPU and those isolated by the free scanner.
    public var freePages: Int { self[.free] + self[.pcp] + self[.isolatedFree] }
    /// Pages held by allocations.
    public var allocatedPages: Int { AllocKind.allCases.reduce(0) { $0 + self[.allocated($1)] } }
    public var pages: Int { counts.reduce(0) { $0 + Int($1) } }
}

/// The pageblock summaries of a whole machine as flat columns, indexed by pageblock number
/// (pfn >> pageblock_order): the form the one pass fills and the service caches and compares.
public struct PageblockTable: Equatable, Sendable {
    /// Per block: bits 0-2 the migratetype, bit 3 set when mixed.
    public var flags: [UInt8]
    /// Per block `PageblockInfo.Field.count` counters: block b's are `counts[b * 8 ..< b * 8 + 8]`.
    public var counts: [UInt16]

    public init(flags: [UInt8], counts: [UInt16]) {
        self.flags = flags
        self.counts = counts
    }

    public static let mixedBit: UInt8 = 1 << 3

    public var count: Int { flags.count }

    public func info(_ b: Int) -> PageblockInfo {
        PageblockInfo(migratetype: Migratetype(bits: flags[b] & 7).slotOrIsolate, mixed: flags[b] & PageblockTable.mixedBit != 0,
                      counts: Array(counts[b * PageblockInfo.Field.count ..< (b + 1) * PageblockInfo.Field.count]))
    }

    /// Whether block `b` reads the same in both tables (same length assumed).
    @inline(__always) public func same(_ b: Int, as other: PageblockTable) -> Bool {
        guard flags[b] == other.flags[b] else { return false }
        let n = PageblockInfo.Field.count
        for i in b * n ..< b * n + n where counts[i] != other.counts[i] { return false }
        return true
    }
}

/// One block of the buddy allocator's view of a page range: a free block, a per-CPU page, an allocation
/// or a free page isolated by compaction, with its head pfn and order. Every page of the range lies in
/// exactly one such block; the first and last may begin before or end after the range.
public struct PageBlockState: Equatable, Sendable {
    public enum State: Equatable, Sendable {
        /// A free buddy block on `free_list[migratetype]`.
        case free
        /// A free order-0 page on a per-CPU list (`migratetype` is its `page_private`).
        case pcp
        /// An allocation of this kind (`migratetype` is the one it asked for).
        case allocated(AllocKind)
        /// A free page the compaction free scanner has isolated (order 0, owned by nobody).
        case isolatedFree
    }

    public var pfn: Pfn
    public var order: Int
    public var state: State
    public var migratetype: Migratetype
    /// Allocations: taken off the LRU by compaction or reclaim (PageIsolated in the seed's terms: on a
    /// private list); isolated free pages are always isolated.
    public var isolated: Bool
    public var dirty: Bool
    public var active: Bool
    public var mlocked: Bool

    public var pages: Int { 1 << order }
}

extension Machine {
    /// Number of pageblocks (the last may extend past the last page).
    public var pageblockCount: Int { pageblockFlags.count }

    /// Every pageblock's summary in one pass over the page arrays: each block head's state and order byte
    /// are read once, tails are skipped by the head's order, and a free max-order block costs one look at
    /// the per-block free-area state. O(blocks + block heads), nothing written.
    public func pageblockTable() -> PageblockTable {
        let nBlocks = pageblockFlags.count
        var flags = [UInt8](repeating: 0, count: nBlocks)
        var counts = [UInt16](repeating: 0, count: nBlocks * PageblockInfo.Field.count)
        for b in 0..<nBlocks { flags[b] = pageblockFlags[b] & PageblockFlags.migratetypeMask }
        let tables = PageblockCountTables()
        let p = pages
        tables.wordAddend.withUnsafeBufferPointer { wordAddend in
            tables.addend.withUnsafeBufferPointer { addend in
                tables.mixes.withUnsafeBufferPointer { mixes in
                    flags.withUnsafeMutableBufferPointer { flags in
                        counts.withUnsafeMutableBufferPointer { counts in
                            p.state.withBuffer { state in
                                p.order.withBuffer { order in
                                    var pass = PageblockPass(addend: addend, mixes: mixes, wordAddend: wordAddend, state: state, order: order,
                                                             flags: flags, counts: counts, pageblockOrder: pageblockOrder,
                                                             maxOrder: nrOrders - 1, freeArea: freeArea)
                                    for zone in zones where zone.populated { pass.count(zone) }
                                }
                            }
                        }
                    }
                }
            }
        }
        return PageblockTable(flags: flags, counts: counts)
    }

    /// The summary of the pageblock holding `pfn` (one block's share of `pageblockTable`'s pass).
    public func pageblockInfo(pfn: Pfn) -> PageblockInfo {
        precondition(pfn.rawValue >= 0 && pfn.rawValue < totalPages, "pfn \(pfn) outside 0..<\(totalPages)")
        let b = pfn.blockIndex(order: pageblockOrder)
        let start = Pfn(blockIndex: b, order: pageblockOrder), end = Pfn(blockIndex: b + 1, order: pageblockOrder)
        let mt = pageblockMigratetype(start)
        var info = PageblockInfo(migratetype: mt.slotOrIsolate)
        for blk in pageBlockStates(startPfn: start, count: min(pageblockPages, totalPages - start.rawValue)) {
            let lo = max(blk.pfn, start), hi = min(blk.pfn + blk.pages, end)
            let f: PageblockInfo.Field
            switch blk.state {
            case .free: f = .free
            case .pcp: f = .pcp
            case .isolatedFree: f = .isolatedFree
            case .allocated(let k):
                f = .allocated(k)
                if k.migratetype != mt { info.mixed = true }
            }
            info.counts[f.rawValue] += UInt16(hi - lo)
        }
        return info
    }

    /// The blocks covering pfns `startPfn ..< startPfn + count` in pfn order (the first found by looking
    /// for the naturally aligned head that contains `startPfn`). Reads only.
    public func pageBlockStates(startPfn: Pfn, count: Int) -> [PageBlockState] {
        precondition(startPfn.rawValue >= 0 && count >= 0 && startPfn.rawValue + count <= totalPages, "range outside the machine")
        var out: [PageBlockState] = []
        guard count > 0 else { return out }
        let end = startPfn + count
        // The block holding startPfn: the aligned candidate at the smallest order whose head is a head
        // whose own order reaches startPfn.
        var pfn = startPfn
        for o in 0..<nrOrders {
            let c = startPfn.alignedDown(order: o)
            if isBlockHead(c) && c + (1 << headOrder(c)) > startPfn { pfn = c; break }
        }
        while pfn < end {
            let b = blockState(at: pfn)
            out.append(b)
            pfn += b.pages
        }
        return out
    }

    /// A pfn that heads a block: a free max-order block, or a page whose state code is not a tail.
    @inline(__always) func isBlockHead(_ pfn: Pfn) -> Bool {
        freeArea.isFreeMaxBlock(pfn) || PageState.code(pages.state[pfn]) != PageState.tail
    }

    @inline(__always) func headOrder(_ pfn: Pfn) -> Int {
        freeArea.isFreeMaxBlock(pfn) ? nrOrders - 1 : Int(pages.order[pfn] & PageOrderByte.orderMask)
    }

    /// The state of the block headed by `pfn`.
    func blockState(at pfn: Pfn) -> PageBlockState {
        let s = pages.state[pfn], ob = pages.order[pfn]
        let order = headOrder(pfn)
        var r = PageBlockState(pfn: pfn, order: order, state: .free, migratetype: .movable, isolated: false, dirty: false,
                               active: false, mlocked: false)
        if freeArea.isFreeMaxBlock(pfn) || PageState.code(s) == PageState.buddy {
            r.migratetype = freeListMigratetype(pfn).slotOrIsolate
        } else if PageState.code(s) == PageState.pcp {
            r.state = .pcp
            r.migratetype = PageOrderByte.migratetype(ob).slotOrIsolate
        } else if PageState.isIsolatedFreePage(s) {
            r.state = .isolatedFree
            r.migratetype = pageblockMigratetype(pfn).slotOrIsolate
            r.isolated = true
        } else {
            let k = PageState.kind(s)
            r.state = .allocated(k)
            r.migratetype = k.migratetype
            r.isolated = s & PageState.isolated != 0
            r.dirty = s & PageState.dirty != 0
            r.active = s & PageState.active != 0
            r.mlocked = ob & PageOrderByte.mlocked != 0
        }
        return r
    }
}

/// The lookup tables of `pageblockTable`'s pass, by state byte.
///
/// A block's eight counters live in one 128-bit register, 16 bits each (a pageblock has at most 2^15
/// pages), so counting a head is an add: no store and reload per page. `addend[s]`: the one page of
/// state byte s's field as such an addend. `mixes[mt * 256 + s]`: whether an allocation of state s mixes
/// a block of migratetype mt (its kind asks for another migratetype). `wordAddend[o * 256 + s]`: for the
/// eight-page words, a head of order o (0-3) and state s as pages in its field's 8-bit lane; a tail
/// (state zero) adds nothing.
struct PageblockCountTables {
    var addend = [UInt128](repeating: 0, count: 256)
    var mixes = [UInt8](repeating: 0, count: 8 * 256)
    var wordAddend = [UInt64](repeating: 0, count: 4 * 256)

    init() {
        for s in 0..<256 {
            let b = UInt8(s)
            let f: PageblockInfo.Field
            switch PageState.code(b) {
            case PageState.tail, PageState.buddy: f = .free
            case PageState.pcp: f = .pcp
            default:
                if PageState.isIsolatedFreePage(b) {
                    f = .isolatedFree
                } else {
                    let k = PageState.kind(b)
                    f = .allocated(k)
                    for mt in 0..<8 where k.migratetype.rawValue != mt { mixes[mt * 256 + s] = 1 }
                }
            }
            addend[s] = UInt128(1) << (f.rawValue * 16)
        }
        for o in 0..<4 {
            for st in 1..<256 {
                let lane = (addend[st].trailingZeroBitCount / 16)
                wordAddend[o * 256 + st] = UInt64(1 << o) << (8 * lane)
            }
        }
    }
}

/// One pass of `pageblockTable` over the page arrays, zone by zone and pageblock by pageblock, writing
/// each block's counters and mixed bit. Holds views that live only for the pass.
struct PageblockPass {
    let addend: UnsafeBufferPointer<UInt128>
    let mixes: UnsafeBufferPointer<UInt8>
    let wordAddend: UnsafeBufferPointer<UInt64>
    let state: UnsafeBufferPointer<UInt8>
    let order: UnsafeBufferPointer<UInt8>
    let flags: UnsafeMutableBufferPointer<UInt8>
    let counts: UnsafeMutableBufferPointer<UInt16>
    let pageblockOrder: Int
    let maxOrder: Int
    let freeArea: FreeAreaStore
    /// Pages of a block larger than a pageblock still to count in the next pageblocks, and its state byte.
    var carry = 0, carryState = 0

    static let orders4to15: UInt64 = 0x0C0C_0C0C_0C0C_0C0C

    /// Widens eight 8-bit lanes to the 16-bit lanes of a block's counters.
    @inline(__always) static func widen(_ l: UInt64) -> UInt128 {
        var r: UInt128 = 0
        for i in 0..<8 { r |= UInt128((l &>> (8 &* UInt64(i))) & 0xFF) &<< (16 &* i) }
        return r
    }

    mutating func count(_ zone: Zone) {
        // Raw pfns: the pass reads the page arrays through buffers, eight pages at a time.
        var pfn = zone.startPfn.rawValue
        let zoneEnd = zone.endPfn.rawValue
        carry = 0
        carryState = 0
        while pfn < zoneEnd {
            let b = pfn &>> pageblockOrder
            pfn = countBlock(b, from: pfn, to: min((b &+ 1) &<< pageblockOrder, zoneEnd))
        }
    }

    /// Counts pageblock `b` from `pfn` (its first page in the zone) to `blockEnd`; returns `blockEnd`.
    @inline(__always) mutating func countBlock(_ b: Int, from start: Int, to blockEnd: Int) -> Int {
        let mtBase = Int(flags[b]) &* 256
        var pfn = start
        var acc: UInt128 = 0
        var mixed: UInt8 = 0
        var lanes: UInt64 = 0, words = 0
        if carry > 0 {
            let n = min(carry, blockEnd &- pfn)
            acc = addend[carryState] &* UInt128(truncatingIfNeeded: n)
            mixed = mixes[mtBase &+ carryState]
            carry &-= n
            pfn &+= n
        }
        let stateRaw = UnsafeRawPointer(state.baseAddress!), orderRaw = UnsafeRawPointer(order.baseAddress!)
        while pfn < blockEnd {
            // An aligned word of eight pages whose first page heads a block and whose heads are all of
            // order 0 to 3: every block of it lies inside the word, and its other pages are tails (state
            // byte zero). Counted by table into eight 8-bit lanes, without the next head's address
            // depending on this one. (Only pageblocks of 8 pages or more have such words, and
            // pageblock_order <= the max order, so a free max-order block, the one head whose state byte
            // is zero, is 8-aligned: it is never a word's later page.)
            if pfn & 7 == 0 && pfn &+ 8 <= blockEnd {
                let ow = orderRaw.loadUnaligned(fromByteOffset: pfn, as: UInt64.self)
                let sw = stateRaw.loadUnaligned(fromByteOffset: pfn, as: UInt64.self)
                if ow & PageblockPass.orders4to15 == 0 && sw & 0xFF != 0 {
                    var m: UInt8 = 0
                    var x: UInt64 = 0
                    for k in 0..<8 {
                        let st = Int((sw &>> (8 &* UInt64(k))) & 0xFF)
                        let o = Int((ow &>> (8 &* UInt64(k))) & 3)
                        x &+= wordAddend[(o &<< 8) | st]
                        m |= mixes[mtBase &+ st]
                    }
                    lanes &+= x
                    mixed |= m
                    pfn &+= 8
                    words &+= 1
                    // A lane gains at most 8 a word: widen before it can pass 255.
                    if words == 16 {
                        acc &+= PageblockPass.widen(lanes)
                        lanes = 0
                        words = 0
                    }
                    continue
                }
            }
            let s = Int(state[pfn])
            // Only a free max-order block's head reads zero here (its order byte is zero too: such
            // blocks keep their state elsewhere).
            assert(s != 0 || freeArea.isFreeMaxBlock(Pfn(pfn)), "pfn \(pfn) is a tail where a block head was expected")
            let o = Int(order[pfn] & PageOrderByte.orderMask) | (s == 0 ? maxOrder : 0)
            let n = 1 &<< o
            mixed |= mixes[mtBase &+ s]
            if pfn &+ n <= blockEnd {
                acc &+= addend[s] &<< o
                pfn &+= n
            } else {
                acc &+= addend[s] &* UInt128(truncatingIfNeeded: blockEnd &- pfn)
                carry = pfn &+ n &- blockEnd
                carryState = s
                pfn = blockEnd
            }
        }
        acc &+= PageblockPass.widen(lanes)
        if mixed != 0 { flags[b] |= PageblockTable.mixedBit }
        let nf = PageblockInfo.Field.count
        for i in 0..<nf { counts[b &* nf &+ i] = UInt16(truncatingIfNeeded: acc &>> (16 &* i)) }
        return blockEnd
    }
}
