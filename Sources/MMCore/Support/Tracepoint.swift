/// A kernel tracepoint as ftrace shows it: its name, its fields in the event's TP_STRUCT order (with
/// the few the service adds for readers, such as migratetype names), and the line its TP_printk
/// prints. The text is the kernel's (include/trace/events/compaction.h and kmem.h of the release the
/// machine runs), so it lives with the simulation; the service only writes it out.
public struct Tracepoint: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case int(Int)
        case string(String)
    }

    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: Value
    }

    public var name: String
    public var fields: [Field]
    /// What `trace_pipe` prints after the event's name.
    public var line: String

    init(_ name: String, _ fields: [(String, Value)], line: String) {
        self.name = name
        self.fields = fields.map { Field(name: $0.0, value: $0.1) }
        self.line = line
    }

    /// `0x…` as the kernel's `%lx` after `0x` prints a pfn.
    static func hex(_ v: Int) -> String { "0x" + String(v, radix: 16) }

    /// `%-8s`: a zone's name padded to eight columns.
    static func pad8(_ s: String) -> String { s.count >= 8 ? s : s + String(repeating: " ", count: 8 - s.count) }
}

extension CompactionTraceBegin {
    /// `mm_compaction_begin` (2.6.35's compact_zone; the fields of its TP_STRUCT, plus node and zone).
    public var tracepoint: Tracepoint {
        Tracepoint("mm_compaction_begin", [("node", .int(node)), ("zone", .string(zone)), ("zone_start", .int(zoneStart)),
                                           ("migrate_pfn", .int(migratePfn)), ("free_pfn", .int(freePfn)), ("zone_end", .int(zoneEnd)),
                                           ("mode", .string(mode))],
                   line: "zone_start=\(Tracepoint.hex(zoneStart)) migrate_pfn=\(Tracepoint.hex(migratePfn)) free_pfn=\(Tracepoint.hex(freePfn)) zone_end=\(Tracepoint.hex(zoneEnd)), mode=\(mode)")
    }
}

extension CompactionTraceEnd {
    /// `mm_compaction_end`: as begin, with the result.
    public var tracepoint: Tracepoint {
        Tracepoint("mm_compaction_end", [("node", .int(node)), ("zone", .string(zone)), ("zone_start", .int(zoneStart)),
                                         ("migrate_pfn", .int(migratePfn)), ("free_pfn", .int(freePfn)), ("zone_end", .int(zoneEnd)),
                                         ("mode", .string(mode)), ("status", .string(status))],
                   line: "zone_start=\(Tracepoint.hex(zoneStart)) migrate_pfn=\(Tracepoint.hex(migratePfn)) free_pfn=\(Tracepoint.hex(freePfn)) zone_end=\(Tracepoint.hex(zoneEnd)), mode=\(mode) status=\(status)")
    }
}

extension Tracepoint {
    /// `mm_compaction_migratepages`: nr_migrated, nr_failed.
    public static func compactionMigratepages(nrMigrated: Int, nrFailed: Int) -> Tracepoint {
        Tracepoint("mm_compaction_migratepages", [("nr_migrated", .int(nrMigrated)), ("nr_failed", .int(nrFailed))],
                   line: "nr_migrated=\(nrMigrated) nr_failed=\(nrFailed)")
    }
}

extension ExtfragEvent {
    /// `mm_page_alloc_extfrag` (kmem.h): the two migratetypes also by name.
    public func tracepoint(pageblockOrder: Int) -> Tracepoint {
        let fragmenting = fragmenting ? 1 : 0, change = changeOwnership ? 1 : 0
        let allocMt = allocMigratetype.rawValue, fallbackMt = fallbackMigratetype.rawValue
        return Tracepoint("mm_page_alloc_extfrag",
                          [("pfn", .int(pfn)), ("alloc_order", .int(allocOrder)), ("fallback_order", .int(fallbackOrder)),
                           ("pageblock_order", .int(pageblockOrder)), ("alloc_migratetype", .int(allocMt)),
                           ("fallback_migratetype", .int(fallbackMt)), ("fragmenting", .int(fragmenting)),
                           ("change_ownership", .int(change)), ("alloc_migratetype_name", .string(allocMigratetype.name)),
                           ("fallback_migratetype_name", .string(fallbackMigratetype.name))],
                          line: "pfn=\(pfn) alloc_order=\(allocOrder) fallback_order=\(fallbackOrder) pageblock_order=\(pageblockOrder) alloc_migratetype=\(allocMt) fallback_migratetype=\(fallbackMt) fragmenting=\(fragmenting) change_ownership=\(change)")
    }
}

extension ModernTraceEvent {
    /// The event as 6.6's include/trace/events/compaction.h prints it.
    public var tracepoint: Tracepoint {
        switch self {
        case .isolateMigratepages(let s, let e, let sc, let t), .isolateFreepages(let s, let e, let sc, let t),
             .fastIsolateFreepages(let s, let e, let sc, let t):
            return Tracepoint(name, [("start_pfn", .int(s)), ("end_pfn", .int(e)), ("nr_scanned", .int(sc)), ("nr_taken", .int(t))],
                              line: "range=(\(Tracepoint.hex(s)) ~ \(Tracepoint.hex(e))) nr_scanned=\(sc) nr_taken=\(t)")
        case .suitable(let n, let z, let o, let r), .finished(let n, let z, let o, let r):
            return Tracepoint(name, [("node", .int(n)), ("zone", .string(z)), ("order", .int(o)), ("ret", .string(r))],
                              line: "node=\(n) zone=\(Tracepoint.pad8(z)) order=\(o) ret=\(r)")
        case .deferred(let d), .deferCompaction(let d), .deferReset(let d):
            return Tracepoint(name, [("node", .int(d.node)), ("zone", .string(d.zone)), ("order", .int(d.order)),
                                     ("order_failed", .int(d.orderFailed)), ("consider", .int(d.considered)), ("limit", .int(d.limit))],
                              line: "node=\(d.node) zone=\(Tracepoint.pad8(d.zone)) order=\(d.order) order_failed=\(d.orderFailed) consider=\(d.considered) limit=\(d.limit)")
        case .tryToCompactPages(let o, let g, let p):
            return Tracepoint(name, [("order", .int(o)), ("gfp_mask", .string(g)), ("priority", .int(p))],
                              line: "order=\(o) gfp_mask=\(g) priority=\(p)")
        case .kcompactdSleep(let n):
            return Tracepoint(name, [("nid", .int(n))], line: "nid=\(n)")
        case .kcompactdWake(let n, let o, let z), .wakeupKcompactd(let n, let o, let z):
            return Tracepoint(name, [("nid", .int(n)), ("order", .int(o)), ("classzone_idx", .string(z))],
                              line: "nid=\(n) order=\(o) classzone_idx=\(Tracepoint.pad8(z))")
        }
    }
}
