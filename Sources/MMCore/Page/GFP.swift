/// The GFP flags an allocation carries, reduced to what the seed's slow path reads.
public struct GFPFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// __GFP_WAIT: the caller may sleep, so direct reclaim (and compaction) may run.
    public static let wait = GFPFlags(rawValue: 1 << 0)
    /// __GFP_IO: may start physical I/O (swap-out, writeback).
    public static let io = GFPFlags(rawValue: 1 << 1)
    /// __GFP_FS: may call into the filesystem. Direct compaction in the seed needs both IO and FS.
    public static let fs = GFPFlags(rawValue: 1 << 2)
    /// __GFP_REPEAT: for costly orders, retry while reclaim makes progress (hugetlb-style).
    public static let `repeat` = GFPFlags(rawValue: 1 << 3)
    /// __GFP_NORETRY: one pass of reclaim/compaction, then fail (THP-style).
    public static let noretry = GFPFlags(rawValue: 1 << 4)
    /// __GFP_NOFAIL-free high priority: __GFP_HIGH lets the allocation dig below the min watermark by half.
    public static let high = GFPFlags(rawValue: 1 << 5)
    /// __GFP_THISNODE: only the preferred node's zones.
    public static let thisnode = GFPFlags(rawValue: 1 << 6)
    /// __GFP_HIGHMEM: `gfp_zone` allows HighMem (the highest zone below ZONE_MOVABLE). Given without the
    /// kind deciding, the zone and migratetype come from the flags (see `zoneBits`).
    public static let highmem = GFPFlags(rawValue: 1 << 7)
    /// __GFP_MOVABLE: `gfp_zone` allows ZONE_MOVABLE and `allocflags_to_migratetype` gives MIGRATE_MOVABLE.
    public static let movable = GFPFlags(rawValue: 1 << 8)
    /// __GFP_COMP: a compound page (bookkeeping only here).
    public static let comp = GFPFlags(rawValue: 1 << 9)
    /// __GFP_NOWARN: no failure report; with __GFP_THISNODE and __GFP_NORETRY it makes GFP_THISNODE.
    public static let nowarn = GFPFlags(rawValue: 1 << 10)

    /// The zone modifiers: when any is set the request's zone and migratetype follow the flags
    /// (`gfp_zone`, `allocflags_to_migratetype`) instead of its kind's defaults.
    public static let zoneBits: GFPFlags = [.highmem, .movable]
    /// GFP_THISNODE (include/linux/gfp.h): __GFP_THISNODE | __GFP_NOWARN | __GFP_NORETRY.
    public static let thisnodeTriple: GFPFlags = [.thisnode, .nowarn, .noretry]
    /// GFP_HIGHUSER: GFP_USER | __GFP_HIGHMEM (hugetlb's default `htlb_alloc_mask`).
    public static let highuser: GFPFlags = [.wait, .io, .fs, .highmem]
    /// GFP_HIGHUSER_MOVABLE: GFP_HIGHUSER | __GFP_MOVABLE.
    public static let highuserMovable: GFPFlags = [.wait, .io, .fs, .highmem, .movable]

    /// GFP_KERNEL / GFP_HIGHUSER_MOVABLE: may sleep, do I/O and call the filesystem.
    public static let kernel: GFPFlags = [.wait, .io, .fs]
    /// GFP_ATOMIC: no sleeping, high priority.
    public static let atomic: GFPFlags = [.high]
    /// GFP_NOWAIT.
    public static let nowait: GFPFlags = []
}

/// What an allocation asks for.
public struct AllocRequest: Sendable {
    public var order: Int
    public var kind: AllocKind
    /// Preferred NUMA node; nil = node 0 (the simulated CPU runs there).
    public var node: Int?
    public var gfp: GFPFlags
    /// mlocked: on the unevictable list, never reclaimed.
    public var mlock: Bool
    /// For `file` pages: dirty pages must be written back before reclaim can drop them.
    public var dirty: Bool

    public init(order: Int = 0, kind: AllocKind = .anon, node: Int? = nil, gfp: GFPFlags = .kernel,
                mlock: Bool = false, dirty: Bool = false) {
        self.order = order
        self.kind = kind
        self.node = node
        self.gfp = gfp
        self.mlock = mlock
        self.dirty = dirty
    }
}
