/// The seed's compaction results (kernel-compaction.md §4.2): `COMPACT_SKIPPED` 0, `COMPACT_CONTINUE` 1,
/// `COMPACT_PARTIAL` 2 (an allocation should now succeed), `COMPACT_COMPLETE` 3 (the scanners met).
/// Callers take the maximum over zones, so the order matters.
public enum CompactResult: Int, Sendable, Comparable, CaseIterable {
    case skipped = 0
    case `continue` = 1
    case partial = 2
    case complete = 3
    // The modern profile's results (kernel 6.6, `enum compact_result`), recorded here by name; the
    // modern compactor compares them in the kernel's order (`ModernCompactResult`), never with `<`.
    case notSuitableZone = 4
    case deferred = 5
    case noSuitablePage = 6
    case partialSkipped = 7
    case contended = 8
    case success = 9

    public static func < (a: CompactResult, b: CompactResult) -> Bool { a.rawValue < b.rawValue }

    /// The kernel's name (`COMPACT_SKIPPED`, …).
    public var kernelName: String {
        switch self {
        case .skipped: return "COMPACT_SKIPPED"
        case .continue: return "COMPACT_CONTINUE"
        case .partial: return "COMPACT_PARTIAL"
        case .complete: return "COMPACT_COMPLETE"
        case .notSuitableZone: return "COMPACT_NOT_SUITABLE_ZONE"
        case .deferred: return "COMPACT_DEFERRED"
        case .noSuitablePage: return "COMPACT_NO_SUITABLE_PAGE"
        case .partialSkipped: return "COMPACT_PARTIAL_SKIPPED"
        case .contended: return "COMPACT_CONTENDED"
        case .success: return "COMPACT_SUCCESS"
        }
    }

    /// Lower-case name for tracepoints and JSON (`skipped`, `continue`, `partial`, `complete`).
    public var name: String {
        switch self {
        case .skipped: return "skipped"
        case .continue: return "continue"
        case .partial: return "partial"
        case .complete: return "complete"
        case .notSuitableZone: return "not_suitable_zone"
        case .deferred: return "deferred"
        case .noSuitablePage: return "no_suitable_page"
        case .partialSkipped: return "partial_skipped"
        case .contended: return "contended"
        case .success: return "success"
        }
    }
}

/// Everything about one compaction of one zone (`struct compact_control`): both scanners' positions, the
/// isolated pages on both sides, the request, and what this run has counted. The scanners take it
/// `inout`; the triggers differ only in how they fill it.
public struct CompactControl: Sendable {
    /// The zone being compacted.
    public let zone: ZoneID
    /// Order a direct compactor needs, or -1 to compact the whole zone (`compact_memory`, per-node sysfs).
    public let order: Int
    /// The migratetype of the allocation that is waiting (MOVABLE for the manual triggers).
    public let migratetype: Migratetype
    /// The migration scanner's next pfn (moves up from the zone start).
    public internal(set) var migratePfn: Pfn
    /// The free scanner's pageblock (moves down from the zone end).
    public internal(set) var freePfn: Pfn
    /// Isolated free pages (`cc->freepages`), consumed from the end like the kernel's list head; 32-bit
    /// entries (`Pfn.entry`).
    var freepages: [Int32] = []
    /// Pages isolated for migration (`cc->migratepages`), in isolation order; 32-bit entries (`Pfn.entry`).
    var migratepages: [Int32] = []
    /// `migratePages`' working copy of `migratepages`, kept so that its buffer is reused.
    var migrateScratch: [Int32] = []
    /// The modern profile's `compact_control` fields (kernel 6.6; nil for the seed's compactor).
    var modern: ModernCompactFields?

    // What this run did (the `total_*` fields and the vmstat deltas it causes).
    public internal(set) var migrateScanned = 0
    public internal(set) var freeScanned = 0
    public internal(set) var isolatedMigrate = 0
    public internal(set) var isolatedFree = 0
    public internal(set) var migrated = 0
    public internal(set) var failed = 0
    public internal(set) var freedWhileIsolated = 0
    public internal(set) var blocksMoved = 0
    /// Simulated time spent, ns.
    public internal(set) var durationNs: UInt64 = 0
    /// The result once the run has finished (nil while it is running).
    public internal(set) var result: CompactResult?

    init(zone: ZoneID, order: Int, migratetype: Migratetype, migratePfn: Pfn, freePfn: Pfn) {
        self.zone = zone
        self.order = order
        self.migratetype = migratetype
        self.migratePfn = migratePfn
        self.freePfn = freePfn
    }

    /// Pages isolated for migration right now (held between the isolation step and the migration step).
    public var nrMigratepages: Int { migratepages.count }

    /// Where this run stands, compared before and after a step to tell a step that moved the run from
    /// one that only spent time.
    var progress: CompactProgress {
        CompactProgress(migratePfn: migratePfn, freePfn: freePfn, isolatedMigrate: isolatedMigrate,
                        isolatedFree: isolatedFree, blocksMoved: blocksMoved, finished: result != nil)
    }
}

/// A zone compaction's position: both scanners, the pages it has isolated on either side, the batches it
/// has migrated, and whether it has finished. Everything a step reads from its own run is here or follows
/// from it, so a step that leaves this unchanged would, repeated with nothing else running in between,
/// do exactly the same again.
struct CompactProgress: Equatable {
    var migratePfn: Pfn
    var freePfn: Pfn
    var isolatedMigrate: Int
    var isolatedFree: Int
    var blocksMoved: Int
    var finished: Bool
}
