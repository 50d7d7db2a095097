/// A real machine's memory as its /proc files describe it, in typed form: nodes, their populated
/// zones, each zone's sizes and watermarks (`/proc/zoneinfo`), its free blocks per migratetype and
/// order, and its pageblocks per migratetype (`/proc/pagetypeinfo`). `Machine(_:)` builds a machine
/// whose free lists and pageblock counts are exactly these when a `MachineConfig` carries one
/// (`MachineConfig.procImage`; the placement is `ProcPlanner`'s). Reading the text is the service's
/// business (CompactServiceKit/ProcText); MMCore sees only this.
///
/// Per-migratetype arrays are indexed by the simulator's slot (`Migratetype.rawValue`: Unmovable,
/// Reclaimable, Movable, Reserve — HighAtomic on kernel 6.6 —, Isolate), whatever column order the
/// text had.
public struct ProcImage: Sendable, Equatable {
    public struct Zone: Sendable, Equatable {
        public var type: ZoneType
        /// `start_pfn`, `spanned`, `present`, `managed` as the text gave them (`managed` is `present`
        /// when the kernel printed none: before 3.8).
        public var startPfn: Int
        public var spanned: Int
        public var present: Int
        public var managed: Int
        /// `min`, `low`, `high` (pages, without a boost).
        public var watermark: [Int]
        /// `free[slot][order]`: blocks on `free_list[slot]` of each order.
        public var free: [[Int]]
        /// Pageblocks of each slot (`Number of blocks type`).
        public var pageblocks: [Int]
        /// Pageblocks of each slot holding a page of another mobility (`Number of mixed blocks`, printed
        /// with page_owner only); nil when the text had none.
        public var mixedBlocks: [Int]?

        public init(type: ZoneType, startPfn: Int, spanned: Int, present: Int, managed: Int, watermark: [Int],
                    free: [[Int]], pageblocks: [Int], mixedBlocks: [Int]? = nil) {
            self.type = type
            self.startPfn = startPfn
            self.spanned = spanned
            self.present = present
            self.managed = managed
            self.watermark = watermark
            self.free = free
            self.pageblocks = pageblocks
            self.mixedBlocks = mixedBlocks
        }

        /// Pages on the free lists.
        public var freePages: Int {
            free.reduce(0) { acc, row in row.enumerated().reduce(acc) { $0 + $1.element << $1.offset } }
        }
        public var nrPageblocks: Int { pageblocks.reduce(0, +) }
    }

    public struct Node: Sendable, Equatable {
        public var zones: [Zone]
        public init(zones: [Zone]) { self.zones = zones }
    }

    /// The architecture preset the machine follows (`x86_64`, `x86`, `ppc64`), and the page size,
    /// order count and pageblock order the text implies.
    public var arch: String
    public var pageShift: Int
    public var nrOrders: Int
    public var pageblockOrder: Int
    public var nodes: [Node]
    /// Percent of the allocated pages in movable pageblocks that are anonymous (the rest page cache).
    public var anonPercent: Int

    public init(arch: String, pageShift: Int, nrOrders: Int, pageblockOrder: Int, nodes: [Node], anonPercent: Int = 50) {
        self.arch = arch
        self.pageShift = pageShift
        self.nrOrders = nrOrders
        self.pageblockOrder = pageblockOrder
        self.nodes = nodes
        self.anonPercent = anonPercent
    }

    /// The preset the machine is built with: the named architecture's zone types with the text's page
    /// size, orders and pageblock order.
    public var preset: ArchPreset? {
        guard var p = ArchPreset.named(arch) else { return nil }
        p.pageShift = pageShift
        p.nrOrders = nrOrders
        p.pageblockOrder = pageblockOrder
        return p
    }

    /// `min_free_kbytes` that gives back the text's MIN watermarks: their sum over the zones below
    /// HighMem (each zone's MIN is its share of it), in KiB.
    public var minFreeKbytes: Int {
        let pages = nodes.flatMap(\.zones).filter { $0.type != .highmem }.reduce(0) { $0 + $1.watermark[0] }
        return Swift.max(1, (pages << pageShift) >> 10)
    }

    /// What building the machine assumes, for the answer to the request and the README.
    public static let placementAssumptions: [String] = [
        "zones are laid out one after another from pfn 0 in node and zone order, each as many pageblocks as pagetypeinfo counts for it (start_pfn and holes are not kept; spanned = present-in-pageblocks)",
        "pages a zone spans in those pageblocks beyond its managed pages are PageReserved boot memory, at the start of the zone's first partly used pageblocks, in pageblocks of type Movable where there are (boot never changes their type from the MOVABLE memmap_init_zone gave them)",
        "free blocks of pageblock order and above fill whole pageblocks of their free list's migratetype (another type's when that type has too few), placed at seeded random max-order-aligned positions; a free block below the largest order sits next to a partly used buddy so that it cannot merge",
        "free blocks below pageblock order are dealt round-robin, largest first, to the partly used pageblocks of their free list's migratetype (others, Movable first, when those are full), each nested beside a page that is not free (allocated or PageReserved) so that it cannot merge; what does not fit that way tops up pageblocks in seeded order, and only if some is still over are they all packed densely",
        "allocated pages follow their pageblock's type: Movable blocks hold order-0 anonymous pages and page cache (anon_percent of them anonymous, from meminfo's AnonPages against Cached when given, else 50), Reclaimable blocks order-0 reclaimable slab pages, Unmovable and Reserve/HighAtomic blocks unmovable kernel memory in aligned blocks up to order 3, Isolate blocks anonymous pages",
        "mixed pageblocks only where pagetypeinfo's 'Number of mixed blocks' says (one page of another mobility each: unmovable in Movable blocks, movable elsewhere); without that section no pageblock is mixed",
        "new anonymous pages are on the active anon LRU, page cache clean on the inactive file LRU, nothing is dirty, mlocked or swapped; per-CPU lists are empty (their pages count as allocated)",
        "watermarks come from min_free_kbytes = the sum of zoneinfo's MIN over the zones below HighMem, recomputed by the kernel's rule (LOW and HIGH may differ from the text's)",
        "NUMA distances are 10 local and 20 remote unless given; vm counters start at zero",
    ]
}
