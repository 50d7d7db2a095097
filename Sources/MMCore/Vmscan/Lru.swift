/// The LRU lists (`enum lru_list`), plus the list the simulator keeps for reclaimable slab so that
/// shrinking can find it. Index order is the kernel's.
public enum LruList: Int, CaseIterable, Sendable {
    case inactiveAnon = 0, activeAnon, inactiveFile, activeFile, unevictable, slab

    public static let count = 6

    public var name: String {
        switch self {
        case .inactiveAnon: return "inactive_anon"
        case .activeAnon: return "active_anon"
        case .inactiveFile: return "inactive_file"
        case .activeFile: return "active_file"
        case .unevictable: return "unevictable"
        case .slab: return "slab_reclaimable"
        }
    }

    public var isFile: Bool { self == .inactiveFile || self == .activeFile }
}

/// Per-zone LRU lists of allocations, threaded through the handle table's `lruNext`/`lruPrev` (so a
/// migrated page keeps its place: the owner, not the frame, is on the list). Lengths count pages.
struct LruStore {
    let heads: RawArray<UInt32>
    let tails: RawArray<UInt32>
    let pages: RawArray<Int64>

    init(zones: Int, arena: RawArena) {
        heads = RawArray(repeating: NONE, count: zones * LruList.count, arena: arena)
        tails = RawArray(repeating: NONE, count: zones * LruList.count, arena: arena)
        pages = RawArray(zeroed: zones * LruList.count, arena: arena)
    }

    var byteCount: Int { heads.byteCount + tails.byteCount + pages.byteCount }

    /// The index of zone `z`'s list with raw value `list` in `heads`, `tails` and `pages`.
    @inline(__always) static func index(zone z: ZoneID, list: Int) -> Int { z.rawValue &* LruList.count &+ list }
}

extension Machine {
    /// Which LRU list an allocation of this kind belongs on when it is created, or nil if none:
    /// new anon pages start active (split-LRU kernels), new page cache inactive; mlocked pages are
    /// unevictable; order > 0 user allocations are compound pages kept off the LRU, like hugetlb pages.
    @inline(__always)
    func initialLru(kind: AllocKind, order: Int, mlock: Bool) -> LruList? {
        Machine.initialLru(kind: kind, order: order, mlock: mlock)
    }

    /// `initialLru` as a pure function (the lookup tables below are built from it).
    @inline(__always)
    static func initialLru(kind: AllocKind, order: Int, mlock: Bool) -> LruList? {
        switch kind {
        case .anon, .pinned:
            guard order == 0 else { return nil }
            return mlock ? .unevictable : .activeAnon
        case .file:
            guard order == 0 else { return nil }
            return mlock ? .unevictable : .inactiveFile
        case .slab:
            return .slab
        case .kernel:
            return nil
        }
    }

    /// `prep_new_page`'s state byte and LRU list for a new allocation and the migratetype it asks for, as
    /// `prepHeadInfo` holds them: the state byte in bits 0-7, the LRU list's raw value (`lruCodeNone` for
    /// none) in bits 8-15, `requestMigratetype` in bits 16-23, the order byte's flags (mlocked) in bits 24-31.
    func prepHeadEntry(kind: AllocKind, order: Int, mlock: Bool, dirty: Bool) -> UInt32 {
        var state = PageState.allocatedHead(kind: kind)
        if kind == .file && dirty { state |= PageState.dirty }
        let l = initialLru(kind: kind, order: order, mlock: mlock)
        if l == .activeAnon { state |= PageState.active }
        return UInt32(state) | UInt32(l.map { UInt8($0.rawValue) } ?? Machine.lruCodeNone) << 8
            | UInt32(requestMigratetype(kind).rawValue) << 16 | UInt32(mlock ? PageOrderByte.mlocked : 0) << 24
    }

    /// The position in `prepHeadInfo` of a request's entry (only `order == 0` matters of the order).
    @inline(__always)
    static func prepHeadIndex(kind: AllocKind, order: Int, mlock: Bool, dirty: Bool) -> Int {
        Int(kind.rawValue) | (dirty ? 8 : 0) | (mlock ? 16 : 0) | (order == 0 ? 0 : 32)
    }

    /// `prepHeadInfo` for every request shape, at `prepHeadIndex` (64 entries).
    func prepHeadTable() -> [UInt32] {
        (0..<64).map { i in
            // Kind bits above the last AllocKind are never looked up; fill them as kernel.
            let kind = AllocKind(rawValue: UInt8(i & 7)) ?? .kernel
            return prepHeadEntry(kind: kind, order: i & 32 == 0 ? 0 : 1, mlock: i & 16 != 0, dirty: i & 8 != 0)
        }
    }

    /// `currentLru` codes: an LRU list's raw value, or one of these.
    static let lruCodeNone: UInt8 = 0xFF
    /// A slab page: on the slab list unless it is a slab of an object cache. Its low 7 bits are the slab
    /// list's raw value, as a plain list's code is (codes below 0x80).
    static let lruCodeSlab: UInt8 = 0x80 | UInt8(LruList.slab.rawValue)

    /// The LRU code of an allocated head with state byte `s`, its order and its mlocked bit: which list
    /// `currentLru` finds it on (slab pages also depend on their cache, `lruCodeSlab`).
    static func lruCodeOfHead(state s: UInt8, order: Int, mlock: Bool) -> UInt8 {
        if s & PageState.isolated != 0 { return lruCodeNone }
        guard let base = initialLru(kind: PageState.kind(s), order: order, mlock: mlock) else { return lruCodeNone }
        switch base {
        case .activeAnon: return UInt8((s & PageState.active != 0 ? LruList.activeAnon : .inactiveAnon).rawValue)
        case .inactiveFile: return UInt8((s & PageState.active != 0 ? LruList.activeFile : .inactiveFile).rawValue)
        case .slab: return lruCodeSlab
        default: return UInt8(base.rawValue)
        }
    }

    /// The position in `headLruTable` of a head's state and order bytes: the state byte, the mlocked bit
    /// at 256 and a nonzero order at 512.
    @inline(__always)
    static func headLruIndex(state s: UInt8, orderByte ob: UInt8) -> Int {
        let mlocked: Int = Int(ob & PageOrderByte.mlocked) &<< 3
        let large: Int = ob & PageOrderByte.orderMask == 0 ? 0 : 512
        return Int(s) | mlocked | large
    }

    /// For every state byte, mlocked bit and order (zero or not), at `headLruIndex`: `lruCodeOfHead` in
    /// the low 8 bits, `PageState.kindRawValue` of the state byte above.
    static func headLruTable() -> [UInt16] {
        // headLruIndex moves the mlocked bit (bit 5 of the order byte) to 256 by a shift of 3.
        precondition(PageOrderByte.mlocked == 1 << 5, "headLruIndex assumes the mlocked bit is bit 5")
        return (0..<1024).map { (i: Int) -> UInt16 in
            let s = UInt8(truncatingIfNeeded: i)
            let code = Machine.lruCodeOfHead(state: s, order: (i & 512) == 0 ? 0 : 1, mlock: (i & 256) != 0)
            return UInt16(code) | UInt16(PageState.kindRawValue(s)) << 8
        }
    }

    /// Adds an allocation (by handle slot) at the head of a zone's LRU list (`add_page_to_lru_list`).
    @inline(__always)
    func lruAdd(slot: Int, zone z: ZoneID, list: LruList, pages n: Int, atTail: Bool = false) {
        lruAdd(slot: slot, listIndex: LruStore.index(zone: z, list: list.rawValue), pages: n, atTail: atTail)
    }

    /// `lruAdd` to the list at `li` (zone × LruList.count + list).
    @inline(__always)
    func lruAdd(slot: Int, listIndex li: Int, pages n: Int, atTail: Bool = false) {
        let ht = handles
        let s32 = UInt32(truncatingIfNeeded: slot)
        if atTail {
            let t = lru.tails[li]
            ht.lruNext[slot] = NONE
            ht.lruPrev[slot] = t
            if t != NONE { ht.lruNext[Int(t)] = s32 } else { lru.heads[li] = s32 }
            lru.tails[li] = s32
        } else {
            let h = lru.heads[li]
            ht.lruNext[slot] = h
            ht.lruPrev[slot] = NONE
            if h != NONE { ht.lruPrev[Int(h)] = s32 } else { lru.tails[li] = s32 }
            lru.heads[li] = s32
        }
        lru.pages[li] &+= Int64(n)
    }

    /// Removes an allocation from the LRU list it is on (`del_page_from_lru_list`).
    @inline(__always)
    func lruDel(slot: Int, zone z: ZoneID, list: LruList, pages n: Int) {
        lruUnlink(slot: slot, zone: z, list: list, pages: n)
        handles.lruNext[slot] = NONE
        handles.lruPrev[slot] = NONE
    }

    /// `lruDel` leaving the slot's own links to the caller (who sets them next).
    @inline(__always)
    func lruUnlink(slot: Int, zone z: ZoneID, list: LruList, pages n: Int) {
        lruUnlink(slot: slot, listIndex: LruStore.index(zone: z, list: list.rawValue), pages: n)
    }

    /// `lruUnlink` from the list at `li` (zone × LruList.count + list).
    @inline(__always)
    func lruUnlink(slot: Int, listIndex li: Int, pages n: Int) {
        let ht = handles
        let next = ht.lruNext[slot], prev = ht.lruPrev[slot]
        if prev != NONE { ht.lruNext[Int(prev)] = next } else { lru.heads[li] = next }
        if next != NONE { ht.lruPrev[Int(next)] = prev } else { lru.tails[li] = prev }
        lru.pages[li] &-= Int64(n)
    }

    /// The `currentLru` code of an allocated head (`lruCodeOfHead`, from `headLruInfo`).
    @inline(__always)
    func lruCode(pfn: Pfn) -> UInt8 {
        UInt8(truncatingIfNeeded: headLruInfo[Machine.headLruIndex(state: pages.state[pfn], orderByte: pages.order[pfn])])
    }

    /// The LRU list an allocated head is on right now (nil if none or isolated).
    @inline(__always)
    func currentLru(pfn: Pfn) -> LruList? {
        let code = lruCode(pfn: pfn)
        if code == Machine.lruCodeSlab { return slabOnLru(pfn: pfn) ? .slab : nil }
        return LruList(rawValue: Int(code))
    }

    /// Whether a slab head is on the slab LRU list: a slab page of an object cache is on its cache's
    /// lists instead.
    @inline(__always)
    func slabOnLru(pfn: Pfn) -> Bool {
        let a = pages.nextOrOwner[pfn]
        return a == NONE || slab.info[Int(a)] == 0
    }

    /// Pages on one LRU list of a zone.
    public func lruPages(zone z: ZoneID, list: LruList) -> Int { Int(lru.pages[LruStore.index(zone: z, list: list.rawValue)]) }
}
