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
public struct LruStore {
    let heads: RawArray<UInt32>
    let tails: RawArray<UInt32>
    let pages: RawArray<Int64>

    init(zones: Int, arena: RawArena) {
        heads = RawArray(repeating: NONE, count: zones * LruList.count, arena: arena)
        tails = RawArray(repeating: NONE, count: zones * LruList.count, arena: arena)
        pages = RawArray(zeroed: zones * LruList.count, arena: arena)
    }

    public var byteCount: Int { heads.byteCount + tails.byteCount + pages.byteCount }
}

extension Machine {
    /// Which LRU list an allocation of this kind belongs on when it is created, or nil if none:
    /// new anon pages start active (split-LRU kernels), new page cache inactive; mlocked pages are
    /// unevictable; order > 0 user allocations are compound pages kept off the LRU, like hugetlb pages.
    @inline(__always)
    func initialLru(kind: AllocKind, order: Int, mlock: Bool) -> LruList? {
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

    /// Adds an allocation (by handle slot) at the head of a zone's LRU list (`add_page_to_lru_list`).
    @inline(__always)
    func lruAdd(slot: Int, zone z: Int, list: LruList, pages n: Int, atTail: Bool = false) {
        let li = z &* LruList.count &+ list.rawValue
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
    func lruDel(slot: Int, zone z: Int, list: LruList, pages n: Int) {
        lruUnlink(slot: slot, zone: z, list: list, pages: n)
        handles.lruNext[slot] = NONE
        handles.lruPrev[slot] = NONE
    }

    /// `lruDel` leaving the slot's own links to the caller (who sets them next).
    @inline(__always)
    func lruUnlink(slot: Int, zone z: Int, list: LruList, pages n: Int) {
        let li = z &* LruList.count &+ list.rawValue
        let ht = handles
        let next = ht.lruNext[slot], prev = ht.lruPrev[slot]
        if prev != NONE { ht.lruNext[Int(prev)] = next } else { lru.heads[li] = next }
        if next != NONE { ht.lruPrev[Int(next)] = prev } else { lru.tails[li] = prev }
        lru.pages[li] &-= Int64(n)
    }

    /// The LRU list an allocated head is on right now (nil if none or isolated).
    @inline(__always)
    func currentLru(pfn: Int) -> LruList? {
        let s = pages.state[pfn]
        if s & PageState.isolated != 0 { return nil }
        let ob = pages.order[pfn]
        let order = Int(ob & PageOrderByte.orderMask)
        let kind = PageState.kind(s)
        let mlock = ob & PageOrderByte.mlocked != 0
        guard let base = initialLru(kind: kind, order: order, mlock: mlock) else { return nil }
        switch base {
        case .activeAnon: return s & PageState.active != 0 ? .activeAnon : .inactiveAnon
        case .inactiveFile: return s & PageState.active != 0 ? .activeFile : .inactiveFile
        case .slab:
            // A slab page of an object cache is on its cache's lists, not on an LRU.
            let a = pages.a[pfn]
            return a == NONE || slab.info[Int(a)] == 0 ? .slab : nil
        default: return base
        }
    }

    /// Pages on one LRU list of a zone.
    public func lruPages(zone z: Int, list: LruList) -> Int { Int(lru.pages[z * LruList.count + list.rawValue]) }
}
