/// Watermark indices (`enum zone_watermarks`).
public enum Wmark: Int, Sendable { case min = 0, low = 1, high = 2 }

/// A zone (`struct zone`): a physical range of one node with its own buddy free lists, watermarks and
/// compaction state. Free lists themselves live in the machine's `FreeAreaStore` (flat arrays indexed by
/// zone, order and migratetype); this value carries the zone's scalar fields.
public struct Zone: Sendable {
    /// Index of this zone in `Machine.zones` (all nodes' zones, populated or not).
    public let id: ZoneID
    public let node: NodeID
    public let type: ZoneType
    /// `zone_idx`: the type's position in the preset's zone list.
    public let indexInNode: Int
    /// `zone_start_pfn`.
    public let startPfn: Pfn
    public let spannedPages: Int
    /// `present_pages` as 2.6.35 sets it: spanned minus the memmap estimate (`Machine.presentPages`).
    public internal(set) var presentPages: Int
    /// Pages boot handed to the buddy allocator (spanned minus the PageReserved boot pages in the zone).
    /// 2.6.35 has no such field (`managed_pages` came in 3.8); free + per-CPU + allocated pages add up to it.
    public internal(set) var managedPages: Int

    /// `zone_end_pfn`: the first pfn past the zone.
    public var endPfn: Pfn { startPfn + spannedPages }
    public var populated: Bool { spannedPages > 0 }
    public var name: String { type.name }

    /// `watermark[WMARK_MIN/LOW/HIGH]`.
    public var watermark: (min: Int, low: Int, high: Int) = (0, 0, 0)
    /// `lowmem_reserve[classzone_idx]`, indexed by zone index within the node.
    public var lowmemReserve: [Int] = []

    // Seed compaction state (kernel-compaction.md §5.1).
    public var compactConsidered: Int = 0
    public var compactDeferShift: Int = 0

    public init(id: ZoneID, node: NodeID, type: ZoneType, indexInNode: Int, startPfn: Pfn, pages: Int) {
        self.id = id
        self.node = node
        self.type = type
        self.indexInNode = indexInNode
        self.startPfn = startPfn
        self.spannedPages = pages
        self.presentPages = pages
        self.managedPages = pages
    }

    /// `zone_spans_pfn`.
    @inline(__always) public func contains(pfn: Pfn) -> Bool { pfn >= startPfn && pfn < startPfn + spannedPages }

}
