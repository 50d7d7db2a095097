/// Per-page state in flat arrays, indexed by pfn (the kernel's `struct page` fields we need, 10 bytes a page);
/// each is a `PageColumn`, which only a `Pfn` indexes.
///
/// - `state` (1 byte): what the page is (`PageState`): a tail, a free buddy head, or an allocated head,
///   plus the allocation's kind and the dirty / active / isolated bits.
/// - `order` (1 byte): the buddy order of a free head or the order of an allocation (low 4 bits), and
///   the referenced / mlocked bits.
/// - `nextOrOwner`, `prevOrContent` (4 bytes each): for a free head the free-list links (next, prev
///   pfn: `page->lru`); for an allocated head the owner's handle slot (the reverse map) and the content
///   word the owner wrote. Tail pages of an allocation keep their own content word in `prevOrContent`.
///   The two are stored interleaved (`InterleavedLane`): a list unlink reads both links of one page, a
///   migration copies both words of one page, so each costs one cache line, not two. (Snapshots name
///   them `pages.a` and `pages.b`, two separate arrays, as they always have.)
///
/// Zero means "tail page, nothing set", so a freshly `calloc`ed machine needs only its free heads written.
struct PageArrays {
    let state: PageColumn<UInt8>
    let order: PageColumn<UInt8>
    /// A free head's next link (pfn, `NONE` at the end); an allocated head's owner slot (`NONE`: owned by
    /// nobody, as an isolated free page or a PageReserved page).
    let nextOrOwner: PageWordColumn<UInt32>
    /// A free head's prev link (pfn, `NONE` at the start); every allocated page's content word.
    let prevOrContent: PageWordColumn<UInt32>
    let count: Int

    init(pages: Int, arena: RawArena) {
        count = pages
        state = PageColumn(RawArray(zeroed: pages, arena: arena))
        order = PageColumn(RawArray(zeroed: pages, arena: arena))
        let (next, prev) = InterleavedLane<UInt32>.pair(count: pages, arena: arena)
        nextOrOwner = PageWordColumn(next)
        prevOrContent = PageWordColumn(prev)
    }

    var byteCount: Int { state.byteCount + order.byteCount + 2 &* count &* MemoryLayout<UInt32>.stride }
}

/// One per-page column of `PageArrays`: a `RawArray` that only a pfn indexes (`pages.state[pfn]`).
struct PageColumn<Element: FixedWidthInteger> {
    let raw: RawArray<Element>

    init(_ raw: RawArray<Element>) { self.raw = raw }

    subscript(pfn: Pfn) -> Element {
        @inline(__always) get { raw[pfn.rawValue] }
        @inline(__always) nonmutating set { raw[pfn.rawValue] = newValue }
    }

    var count: Int { raw.count }
    var byteCount: Int { raw.byteCount }

    /// Calls `body` with a read-only view of the column (bulk passes and encoding, by raw pfn).
    func withBuffer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R { try raw.withBuffer(body) }

    /// Calls `body` with a writable view of the column (restoring a snapshot); the view must not escape.
    func withMutableBuffer<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) rethrows -> R {
        try raw.withMutableBuffer(body)
    }
}

/// One of the two interleaved per-page words of `PageArrays`: an `InterleavedLane` that only a pfn
/// indexes (`pages.nextOrOwner[pfn]`).
struct PageWordColumn<Element: FixedWidthInteger> {
    let raw: InterleavedLane<Element>

    init(_ raw: InterleavedLane<Element>) { self.raw = raw }

    subscript(pfn: Pfn) -> Element {
        @inline(__always) get { raw[pfn.rawValue] }
        @inline(__always) nonmutating set { raw[pfn.rawValue] = newValue }
    }

    var count: Int { raw.count }
}

/// Sentinel for "no pfn" / "no slot" in 32-bit link fields.
let NONE: UInt32 = .max

/// Decoding of the `state` byte. Bits 0-1: tail, buddy, allocated or pcp; bits 2-4: `AllocKind`; bit 5 dirty; bit 6 active
/// (on the active LRU list); bit 7 isolated (taken off the LRU by compaction or reclaim).
enum PageState {
    static let codeMask: UInt8 = 0b11
    /// A page that is not the head of a block (a tail of a free block or of an allocation).
    static let tail: UInt8 = 0
    /// The head of a free block on a buddy free list (`PageBuddy`).
    static let buddy: UInt8 = 1
    /// The head of an allocated block.
    static let allocated: UInt8 = 2
    /// A free order-0 page on a per-CPU list (not PageBuddy: it does not merge until drained).
    static let pcp: UInt8 = 3

    static let kindShift: UInt8 = 2
    static let kindMask: UInt8 = 0b111 << 2
    static let dirty: UInt8 = 1 << 5
    static let active: UInt8 = 1 << 6
    static let isolated: UInt8 = 1 << 7

    /// A free page isolated by the compaction free scanner (split to order 0, off the free lists, owned
    /// by nobody): kind bits 7, which no `AllocKind` uses.
    static let isolatedFreePage: UInt8 = allocated | (7 << kindShift) | isolated
    /// A PageReserved boot page (memmap, kernel image, boot hashes: BootMemory.swift): order 0, owned by
    /// nobody, never freed; kind bits 6, which no `AllocKind` uses, so it reads as kernel memory.
    static let reserved: UInt8 = allocated | (6 << kindShift)

    @inline(__always) static func code(_ s: UInt8) -> UInt8 { s & codeMask }
    @inline(__always) static func isIsolatedFreePage(_ s: UInt8) -> Bool { s == isolatedFreePage }
    @inline(__always) static func kind(_ s: UInt8) -> AllocKind {
        AllocKind(rawValue: (s & kindMask) >> kindShift) ?? .kernel
    }
    /// `kind(s).rawValue` by arithmetic (kind bits above the last `AllocKind` read as kernel, as in `kind`).
    @inline(__always) static func kindRawValue(_ s: UInt8) -> Int {
        let k = Int((s & kindMask) >> kindShift)
        return k <= Int(AllocKind.pinned.rawValue) ? k : Int(AllocKind.kernel.rawValue)
    }
    @inline(__always) static func allocatedHead(kind: AllocKind) -> UInt8 {
        allocated | (kind.rawValue << kindShift)
    }
}

/// Decoding of the `order` byte. Bits 0-3: order; of an allocated head, bit 4 referenced (PG_referenced)
/// and bit 5 mlocked (unevictable: never reclaimed; migratable only with compact_unevictable_allowed=1);
/// of a free head, bits 4-6 the migratetype list it is on; of a per-CPU page, bits 4-6 its `page_private`
/// (the migratetype it goes back to the buddy lists with).
enum PageOrderByte {
    static let orderMask: UInt8 = 0x0F
    static let referenced: UInt8 = 1 << 4
    static let mlocked: UInt8 = 1 << 5
    static let migratetypeShift: UInt8 = 4

    /// The migratetype in bits 4-6 of a free head's or per-CPU page's order byte.
    @inline(__always) static func migratetype(_ ob: UInt8) -> Migratetype {
        Migratetype(rawValue: Int(ob >> migratetypeShift) & 7)
    }
    /// `mt` in bits 4-6, to be or-ed with the order.
    @inline(__always) static func migratetypeBits(_ mt: Migratetype) -> UInt8 {
        UInt8(truncatingIfNeeded: mt.rawValue) << migratetypeShift
    }
}
