/// A page frame number (`pfn`, `page_to_pfn(page)`): a page's index in the machine's page arrays, which
/// the kernel reaches as `pfn_to_page(pfn)` in `mem_map`. A wrapper of one integer: it compiles to that
/// integer, and keeps it apart from orders, counts, slots and zone ids in signatures.
///
/// Only what the allocator and the scanners do with a pfn is here: offsets (`+`, `-`, and their
/// wrapping forms for the dense loops), distances, comparisons, iteration over a `Range<Pfn>` or a
/// `stride` (`Strideable`), and the buddy arithmetic named as the kernel names it (`buddy(order:)`,
/// `isAligned(order:)`, `alignedDown(order:)`, `blockIndex(order:)`). The page arrays and the per-block
/// arrays are indexed by it (`RawArray` subscripts); the 32-bit link fields hold it as `link`.
@frozen
public struct Pfn: RawRepresentable, Hashable, Comparable, Strideable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    @inline(__always) public init(rawValue: Int) { self.rawValue = rawValue }
    @inline(__always) public init(_ rawValue: Int) { self.rawValue = rawValue }

    /// The pfn a 32-bit link field holds (a free-list or per-CPU list link, a handle's pfn); the
    /// caller has ruled out the sentinels (`NONE`, `SWAPPED`).
    @inline(__always) init(link: UInt32) { rawValue = Int(link) }

    /// This pfn as a 32-bit link field holds it (pfns fit: MachineConfig caps a machine below 2^32 - 2
    /// pages).
    @inline(__always) var link: UInt32 { UInt32(truncatingIfNeeded: rawValue) }

    /// The pfn a compactor's list holds (`cc->migratepages`, `cc->freepages`: 32-bit entries).
    @inline(__always) init(entry: Int32) { rawValue = Int(entry) }

    /// This pfn as a compactor's list entry.
    @inline(__always) var entry: Int32 { Int32(truncatingIfNeeded: rawValue) }

    @inline(__always) public static func < (a: Pfn, b: Pfn) -> Bool { a.rawValue < b.rawValue }

    /// The number, as /proc, trace events and every document print a pfn.
    public var description: String { rawValue.description }

    // MARK: Offsets and distances

    @inline(__always) public static func + (p: Pfn, n: Int) -> Pfn { Pfn(rawValue: p.rawValue + n) }
    @inline(__always) public static func - (p: Pfn, n: Int) -> Pfn { Pfn(rawValue: p.rawValue - n) }
    @inline(__always) public static func += (p: inout Pfn, n: Int) { p = p + n }
    @inline(__always) public static func -= (p: inout Pfn, n: Int) { p = p - n }
    /// Pages from `b` up to `a`.
    @inline(__always) public static func - (a: Pfn, b: Pfn) -> Int { a.rawValue - b.rawValue }

    // The wrapping forms, for the scanners' and the allocator's dense loops (pfns never overflow).
    @inline(__always) public static func &+ (p: Pfn, n: Int) -> Pfn { Pfn(rawValue: p.rawValue &+ n) }
    @inline(__always) public static func &- (p: Pfn, n: Int) -> Pfn { Pfn(rawValue: p.rawValue &- n) }
    @inline(__always) public static func &+= (p: inout Pfn, n: Int) { p = p &+ n }
    @inline(__always) public static func &- (a: Pfn, b: Pfn) -> Int { a.rawValue &- b.rawValue }

    @inline(__always) public func distance(to other: Pfn) -> Int { other.rawValue &- rawValue }
    @inline(__always) public func advanced(by n: Int) -> Pfn { Pfn(rawValue: rawValue &+ n) }

    // MARK: Buddy arithmetic

    /// `__find_buddy_pfn(pfn, order)`: the other half of the aligned block of 2^(order+1) pages this
    /// block of 2^order pages is half of (`pfn ^ (1 << order)`).
    @inline(__always) public func buddy(order: Int) -> Pfn { Pfn(rawValue: rawValue ^ (1 &<< order)) }

    /// `combined_pfn = buddy_pfn & pfn`: the head of the block of twice the size that this block and its
    /// buddy make (`buddy` is `buddy(order:)` of this pfn).
    @inline(__always) public func merged(withBuddy buddy: Pfn) -> Pfn { Pfn(rawValue: rawValue & buddy.rawValue) }

    /// `IS_ALIGNED(pfn, 1 << order)`: the pfn starts an aligned block of 2^order pages.
    @inline(__always) public func isAligned(order: Int) -> Bool { rawValue & ((1 &<< order) &- 1) == 0 }

    /// `ALIGN_DOWN(pfn, 1 << order)`: the start of the aligned block of 2^order pages holding the pfn.
    @inline(__always) public func alignedDown(order: Int) -> Pfn { Pfn(rawValue: rawValue & ~((1 &<< order) &- 1)) }

    /// `ALIGN_DOWN(pfn, pages)` for a power of two `pages` the caller keeps (`pageblock_nr_pages`).
    @inline(__always) public func alignedDown(pages: Int) -> Pfn { Pfn(rawValue: rawValue & ~(pages &- 1)) }

    /// `pfn >> order`: the number of the aligned block of 2^order pages holding the pfn (the pageblock
    /// number at pageblock_order, the per-block free-area index at the largest order).
    @inline(__always) public func blockIndex(order: Int) -> Int { rawValue &>> order }

    /// The first pfn of aligned block number `index` of 2^order pages (`index << order`).
    @inline(__always) public init(blockIndex index: Int, order: Int) { rawValue = index &<< order }
}

/// The page arrays (`pages.state[pfn]`, …) and the per-block arrays are indexed by pfn.
extension RawArray {
    subscript(pfn: Pfn) -> Element {
        @inline(__always) get { self[pfn.rawValue] }
        @inline(__always) nonmutating set { self[pfn.rawValue] = newValue }
    }
}
