import MMCore
import MMFormat

extension StatsDocument {
    /// A 6.6 machine's kcompactd (`kcompactd_max_order`, `kcompactd_highest_zoneidx`, its own clock,
    /// its timeout and the node's `fragmentation_score_node`).
    static func modernNode(_ k: KcompactdStatus, into w: inout JSONWriter) {
        w.key("kcompactd")
        w.beginObject()
        w.field("phase", k.phase)
        w.field("max_order", k.maxOrder)
        w.field("highest_zoneidx", k.highestZoneidx)
        w.field("clock_ns", k.clockNs)
        w.field("timeout_ms", k.timeoutMs)
        w.field("fragmentation_score", k.score)
        w.endObject()
    }

    /// A 6.6 zone's compaction fields: cached scanner positions, `compact_order_failed`, deferral, skip
    /// hints, watermark boost, HIGHATOMIC reserve, fragmentation score.
    static func modernZone(_ m: Machine, _ z: Zone, _ s: ModernZoneCompactionState, into w: inout JSONWriter) {
        w.key("compaction")
        w.beginObject()
        w.field("cached_migrate_pfn_async", s.cachedMigratePfnAsync.rawValue)
        w.field("cached_migrate_pfn_sync", s.cachedMigratePfnSync.rawValue)
        w.field("cached_free_pfn", s.cachedFreePfn.rawValue)
        w.field("init_migrate_pfn", s.initMigratePfn.rawValue)
        w.field("init_free_pfn", s.initFreePfn.rawValue)
        w.field("order_failed", s.orderFailed)
        w.field("considered", s.considered)
        w.field("defer_shift", s.deferShift)
        w.field("blockskip_flush", s.blockskipFlush)
        w.field("skipped_pageblocks", s.skippedPageblocks)
        w.field("fragmentation_score", m.fragmentationScoreZone(z.id))
        w.endObject()
        w.field("watermark_boost", s.watermarkBoost)
        w.field("nr_reserved_highatomic", s.nrReservedHighatomic)
    }
}
