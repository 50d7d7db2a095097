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
