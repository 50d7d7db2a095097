/// The modern profile's tracepoints (include/trace/events/compaction.h of 6.6), beside the seed's
/// begin/end/migratepages events (which the modern compactor sends too, with mode `async` or `sync` as
/// 6.6 prints it). Field names are the tracepoints'; the service streams them on SSE.
public enum ModernTraceEvent: Sendable, Equatable {
    /// `mm_compaction_isolate_migratepages` / `mm_compaction_isolate_freepages` /
    /// `mm_compaction_fast_isolate_freepages`: range=(start ~ end) nr_scanned nr_taken.
    case isolateMigratepages(start: Int, end: Int, nrScanned: Int, nrTaken: Int)
    case isolateFreepages(start: Int, end: Int, nrScanned: Int, nrTaken: Int)
    case fastIsolateFreepages(start: Int, end: Int, nrScanned: Int, nrTaken: Int)
    /// `mm_compaction_suitable` / `mm_compaction_finished`: node, zone, order, ret.
    case suitable(node: Int, zone: String, order: Int, ret: String)
    case finished(node: Int, zone: String, order: Int, ret: String)
    /// `mm_compaction_deferred` / `_defer_compaction` / `_defer_reset`: node, zone, order,
    /// order_failed, consider, limit (1 << compact_defer_shift).
    case deferred(DeferTrace)
    case deferCompaction(DeferTrace)
    case deferReset(DeferTrace)
    /// `mm_compaction_try_to_compact_pages`: order, gfp_mask, priority.
    case tryToCompactPages(order: Int, gfp: String, priority: Int)
    /// `mm_compaction_kcompactd_sleep`: nid.
    case kcompactdSleep(node: Int)
    /// `mm_compaction_kcompactd_wake` / `mm_compaction_wakeup_kcompactd`: nid, order, classzone_idx.
    case kcompactdWake(node: Int, order: Int, zoneType: String)
    case wakeupKcompactd(node: Int, order: Int, zoneType: String)

    /// The tracepoint's name.
    public var name: String {
        switch self {
        case .isolateMigratepages: return "mm_compaction_isolate_migratepages"
        case .isolateFreepages: return "mm_compaction_isolate_freepages"
        case .fastIsolateFreepages: return "mm_compaction_fast_isolate_freepages"
        case .suitable: return "mm_compaction_suitable"
        case .finished: return "mm_compaction_finished"
        case .deferred: return "mm_compaction_deferred"
        case .deferCompaction: return "mm_compaction_defer_compaction"
        case .deferReset: return "mm_compaction_defer_reset"
        case .tryToCompactPages: return "mm_compaction_try_to_compact_pages"
        case .kcompactdSleep: return "mm_compaction_kcompactd_sleep"
        case .kcompactdWake: return "mm_compaction_kcompactd_wake"
        case .wakeupKcompactd: return "mm_compaction_wakeup_kcompactd"
        }
    }
}

/// The fields of the deferral tracepoints (`mm_compaction_defer_template`).
public struct DeferTrace: Sendable, Equatable {
    public var node: Int
    public var zone: String
    public var order: Int
    public var orderFailed: Int
    public var considered: Int
    public var limit: Int
}
