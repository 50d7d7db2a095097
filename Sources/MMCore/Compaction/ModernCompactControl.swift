/// The modern profile's compaction vocabulary (kernel 6.6, include/linux/compaction.h, include/linux/
/// migrate_mode.h, mm/internal.h `struct compact_control`).

/// `enum migrate_mode`: ASYNC never blocks (and, for direct compaction, takes only pageblocks of the
/// request's mobility); SYNC_LIGHT blocks except on writeback; SYNC blocks on everything. The order
/// matters (`cc->mode < MIGRATE_SYNC`).
public enum MigrateMode: Int, Sendable, Comparable {
    case async = 0
    case syncLight = 1
    case sync = 2
    public static func < (a: MigrateMode, b: MigrateMode) -> Bool { a.rawValue < b.rawValue }
    /// What `mm_compaction_begin`/`_end` print: `sync` for anything but ASYNC.
    public var traceName: String { self == .async ? "async" : "sync" }
}

/// `enum compact_priority`: a lower number tries harder.
public enum CompactPriority: Int, Sendable, Comparable {
    case syncFull = 0
    case syncLight = 1
    case async = 2
    /// MIN_COMPACT_PRIORITY, MIN_COMPACT_COSTLY_PRIORITY (= DEF_COMPACT_PRIORITY), INIT_COMPACT_PRIORITY.
    public static let min = CompactPriority.syncFull
    public static let minCostly = CompactPriority.syncLight
    public static let def = CompactPriority.syncLight
    public static let initial = CompactPriority.async
    public static func < (a: CompactPriority, b: CompactPriority) -> Bool { a.rawValue < b.rawValue }
    public var traceName: String {
        switch self {
        case .syncFull: return "COMPACT_PRIO_SYNC_FULL"
        case .syncLight: return "COMPACT_PRIO_SYNC_LIGHT"
        case .async: return "COMPACT_PRIO_ASYNC"
        }
    }
}

/// `enum compact_result` of 6.6 in its own order: callers take the maximum over zones.
public enum ModernCompactResult: Int, Sendable, Comparable {
    case notSuitableZone = 0
    case skipped = 1
    case deferred = 2
    case noSuitablePage = 3
    case `continue` = 4
    case complete = 5
    case partialSkipped = 6
    case contended = 7
    case success = 8
    public static func < (a: ModernCompactResult, b: ModernCompactResult) -> Bool { a.rawValue < b.rawValue }

    /// The same result in `CompactResult`, where reports and tracepoints find its name.
    public var recorded: CompactResult {
        switch self {
        case .notSuitableZone: return .notSuitableZone
        case .skipped: return .skipped
        case .deferred: return .deferred
        case .noSuitablePage: return .noSuitablePage
        case .continue: return .continue
        case .complete: return .complete
        case .partialSkipped: return .partialSkipped
        case .contended: return .contended
        case .success: return .success
        }
    }
    /// The tracepoint string (`COMPACTION_STATUS`).
    public var name: String { recorded.name }
}

/// The fields of the 6.6 `struct compact_control` the seed's `CompactControl` lacks, and the locals of
/// `compact_zone` that live across its loop (here across steps).
struct ModernCompactFields {
    var mode: MigrateMode
    var directCompaction: Bool
    var proactiveCompaction: Bool
    var wholeZone: Bool
    var ignoreSkipHint: Bool
    var ignoreBlockSuitable: Bool
    /// kcompactd's run: its scanned pages also go to `compact_daemon_*_scanned`.
    var kcompactd: Bool
    var finishPageblock = false
    var contended = false
    /// `cc->highest_zoneidx` and the watermark / flags the allocation would use (`cc->alloc_flags`).
    var highestZoneidx: Int
    var allocFlags: ModernAllocFlags
    /// `cc->gfp_mask & __GFP_FS`: file pages may be isolated; `too_many_isolated` scales its limit.
    var gfpFS: Bool
    /// `cc->fast_start_pfn`: `fastStartUnset` (0) until a fast search picks a block, `fastStartDone`
    /// (`ULONG_MAX`) once the scan has restarted from it.
    var fastStartPfn = ModernCompactFields.fastStartUnset
    static let fastStartUnset = Pfn(0)
    static let fastStartDone = Pfn(Int.max)
    var fastSearchFail = 0
    var searchOrder: Int
    // compact_zone's locals.
    var lastMigratedPfn = Pfn(0)
    var updateCached = false
    /// A failed migration asked for the rest of the pageblock (`goto rescan`): the next step isolates
    /// again without asking `compact_finished`.
    var rescan = false
    /// The free scanner's last refill found nothing (migrate_pages then returns -ENOMEM).
    var freeScanEmpty = false
    var result: ModernCompactResult?
}

/// The `ALLOC_*` flags of 6.6 (mm/internal.h) the simulation reads, with the watermark index.
public struct ModernAllocFlags: OptionSet, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// ALLOC_WMARK_MIN / LOW / HIGH live in the low two bits (`wmark`).
    public static let wmarkMin = ModernAllocFlags([])
    public static let wmarkLow = ModernAllocFlags(rawValue: 1)
    public static let wmarkHigh = ModernAllocFlags(rawValue: 2)
    public static let wmarkMask = ModernAllocFlags(rawValue: 3)
    public static let noWatermarks = ModernAllocFlags(rawValue: 1 << 2)
    /// ALLOC_OOM, ALLOC_NON_BLOCK, ALLOC_MIN_RESERVE (= __GFP_HIGH), ALLOC_CPUSET, ALLOC_CMA,
    /// ALLOC_NOFRAGMENT, ALLOC_HIGHATOMIC, ALLOC_KSWAPD.
    public static let oom = ModernAllocFlags(rawValue: 1 << 3)
    public static let nonBlock = ModernAllocFlags(rawValue: 1 << 4)
    public static let minReserve = ModernAllocFlags(rawValue: 1 << 5)
    public static let cpuset = ModernAllocFlags(rawValue: 1 << 6)
    public static let cma = ModernAllocFlags(rawValue: 1 << 7)
    public static let noFragment = ModernAllocFlags(rawValue: 1 << 8)
    public static let highatomic = ModernAllocFlags(rawValue: 1 << 9)
    public static let kswapd = ModernAllocFlags(rawValue: 1 << 10)
    /// ALLOC_RESERVES: any of the flags that may dip below the min watermark.
    public static let reserves: ModernAllocFlags = [.nonBlock, .minReserve, .highatomic, .oom]

    public var wmark: Wmark { Wmark(rawValue: Int(rawValue & 3)) ?? .min }
}
