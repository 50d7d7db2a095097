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

extension ProcImage {
    static let zoneKeys: Set<String> = ["type", "start_pfn", "spanned", "present", "managed", "watermark", "free", "pageblocks", "mixed_blocks"]

    /// The image as JSON (inside a machine definition: `proc_image`), as `init(json:)` reads it.
    public var json: JSON {
        func ints(_ a: [Int]) -> JSON { .array(a.map { .number(Double($0)) }) }
        let ns: [JSON] = nodes.map { node in
            .object([("zones", .array(node.zones.map { z in
                var m: [(String, JSON)] = [("type", .string(z.type.name)), ("start_pfn", .number(Double(z.startPfn))),
                                           ("spanned", .number(Double(z.spanned))), ("present", .number(Double(z.present))),
                                           ("managed", .number(Double(z.managed))), ("watermark", ints(z.watermark)),
                                           ("free", .array(z.free.map(ints))), ("pageblocks", ints(z.pageblocks))]
                if let mb = z.mixedBlocks { m.append(("mixed_blocks", ints(mb))) }
                return .object(m)
            }))])
        }
        return .object([("arch", .string(arch)), ("page_shift", .number(Double(pageShift))), ("nr_orders", .number(Double(nrOrders))),
                        ("pageblock_order", .number(Double(pageblockOrder))), ("anon_percent", .number(Double(anonPercent))),
                        ("nodes", .array(ns))])
    }

    /// Reads `proc_image` (what `json` writes); shapes are checked here, whether the counts fit when
    /// the machine is laid out (`MachineConfig.validate`).
    public init(json: JSON, path: String) throws(MMError) {
        let r = try JSONObjectReader(json, path: path)
        try r.rejectUnknown(["arch", "page_shift", "nr_orders", "pageblock_order", "anon_percent", "nodes"])
        let arch = try r.requiredString("arch")
        guard ArchPreset.named(arch) != nil else {
            throw .invalidConfig(field: r.field("arch"), value: arch, reason: "unknown architecture (x86_64, x86, ppc64)")
        }
        let nrOrders = try r.requiredInt("nr_orders", in: 1...MachineConfig.maxOrders)
        let slots = Migratetype.count
        func intArray(_ v: JSON?, _ field: String, count: Int) throws(MMError) -> [Int] {
            guard case .array(let a)? = v, a.count == count else {
                throw .invalidConfig(field: field, value: v?.typeName ?? "missing", reason: "must be an array of \(count) integers")
            }
            var out: [Int] = []
            for (i, e) in a.enumerated() {
                guard let d = e.doubleValue, d == d.rounded(), d >= 0, d < 1e12 else {
                    throw .invalidConfig(field: "\(field)[\(i)]", value: e.encoded, reason: "must be a non-negative integer")
                }
                out.append(Int(d))
            }
            return out
        }
        var nodes: [Node] = []
        for (n, nv) in (try r.array("nodes", maxCount: MachineConfig.maxNodes) ?? []).enumerated() {
            let nr = try JSONObjectReader(nv, path: r.field("nodes[\(n)]"))
            try nr.rejectUnknown(["zones"])
            var zones: [Zone] = []
            for (i, zv) in (try nr.array("zones", maxCount: 8) ?? []).enumerated() {
                let zr = try JSONObjectReader(zv, path: nr.field("zones[\(i)]"))
                try zr.rejectUnknown(ProcImage.zoneKeys)
                let tname = try zr.requiredString("type")
                guard let t = ZoneType(name: tname) else {
                    throw .invalidConfig(field: zr.field("type"), value: tname, reason: "unknown zone type")
                }
                guard case .array(let rows)? = zr["free"], rows.count == slots else {
                    throw .invalidConfig(field: zr.field("free"), value: zr["free"]?.typeName ?? "missing", reason: "must be \(slots) arrays of \(nrOrders) integers")
                }
                var free: [[Int]] = []
                for (s, row) in rows.enumerated() { free.append(try intArray(row, zr.field("free[\(s)]"), count: nrOrders)) }
                let maxPages = 1 << 32
                zones.append(Zone(type: t, startPfn: try zr.requiredInt("start_pfn", in: 0...(1 << 40)),
                                  spanned: try zr.requiredInt("spanned", in: 0...maxPages), present: try zr.requiredInt("present", in: 0...maxPages),
                                  managed: try zr.requiredInt("managed", in: 0...maxPages),
                                  watermark: try intArray(zr["watermark"], zr.field("watermark"), count: 3), free: free,
                                  pageblocks: try intArray(zr["pageblocks"], zr.field("pageblocks"), count: slots),
                                  mixedBlocks: zr["mixed_blocks"] == nil ? nil : try intArray(zr["mixed_blocks"], zr.field("mixed_blocks"), count: slots)))
            }
            nodes.append(Node(zones: zones))
        }
        self.init(arch: arch, pageShift: try r.requiredInt("page_shift", in: 12...16), nrOrders: nrOrders,
                  pageblockOrder: try r.requiredInt("pageblock_order", in: 0...(MachineConfig.maxOrders - 1)),
                  nodes: nodes, anonPercent: try r.int("anon_percent", in: 0...100) ?? 50)
    }
}
