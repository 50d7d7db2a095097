import MMCore

/// Server-Sent Events framing (text/event-stream) and the data of each event.
///
/// Every event is `id:`, `event:` and one `data:` line of single-line JSON. Tracepoint events carry the
/// fields of the kernel's tracepoints (kernel-compaction.md §8.2, §2.5) under the kernel's field names,
/// plus `trace`: the line as the kernel's TP_printk would print it.
enum SSEFormat {
    static func event(_ out: inout [UInt8], id: UInt64?, name: String, data: [UInt8]) {
        if let id { out += Array("id: \(id)\n".utf8) }
        out += Array("event: \(name)\ndata: ".utf8)
        out += data
        out += [0x0A, 0x0A]
    }

    static func comment(_ out: inout [UInt8], _ text: String) {
        out += Array(": \(text)\n\n".utf8)
    }

    /// `retry:` tells EventSource how long to wait before reconnecting.
    static func retry(_ out: inout [UInt8], ms: Int) {
        out += Array("retry: \(ms)\n\n".utf8)
    }

    static func hex(_ v: Int) -> String { "0x" + String(v, radix: 16) }

    /// The event name and JSON data of a tracepoint event.
    static func trace(_ e: TraceEvent, pageblockOrder: Int) -> (String, [UInt8]) {
        var w = JSONWriter(capacity: 384)
        w.beginObject()
        let name: String
        switch e {
        case .compactionBegin(let b):
            name = "mm_compaction_begin"
            w.field("node", b.node)
            w.field("zone", b.zone)
            w.field("zone_start", b.zoneStart)
            w.field("migrate_pfn", b.migratePfn)
            w.field("free_pfn", b.freePfn)
            w.field("zone_end", b.zoneEnd)
            w.field("mode", b.mode)
            w.field("trace", "zone_start=\(hex(b.zoneStart)) migrate_pfn=\(hex(b.migratePfn)) free_pfn=\(hex(b.freePfn)) zone_end=\(hex(b.zoneEnd)), mode=\(b.mode)")
        case .compactionEnd(let x):
            name = "mm_compaction_end"
            w.field("node", x.node)
            w.field("zone", x.zone)
            w.field("zone_start", x.zoneStart)
            w.field("migrate_pfn", x.migratePfn)
            w.field("free_pfn", x.freePfn)
            w.field("zone_end", x.zoneEnd)
            w.field("mode", x.mode)
            w.field("status", x.status)
            w.field("trace", "zone_start=\(hex(x.zoneStart)) migrate_pfn=\(hex(x.migratePfn)) free_pfn=\(hex(x.freePfn)) zone_end=\(hex(x.zoneEnd)), mode=\(x.mode) status=\(x.status)")
        case .compactionMigratepages(let migrated, let failed):
            name = "mm_compaction_migratepages"
            w.field("nr_migrated", migrated)
            w.field("nr_failed", failed)
            w.field("trace", "nr_migrated=\(migrated) nr_failed=\(failed)")
        case .jobProgress(let j):
            name = "job_progress"
            w.field("id", j.id)
            w.field("state", j.state)
            w.field("step", j.step)
            w.field("steps", j.steps)
            w.field("percent", j.percent)
        case .scanners(let p):
            name = "compaction_scanners"
            w.field("node", p.node)
            w.field("zone", p.zone)
            w.field("zone_start", p.zoneStart)
            w.field("zone_end", p.zoneEnd)
            w.field("migrate_pfn", p.migratePfn)
            w.field("free_pfn", p.freePfn)
            w.field("migrate_scanned", p.migrateScanned)
            w.field("free_scanned", p.freeScanned)
            w.field("migrated", p.migrated)
        case .modern(let m):
            name = m.name
            modernFields(m, into: &w)
        case .extfrag(let x):
            name = "mm_page_alloc_extfrag"
            let fragmenting = x.fragmenting ? 1 : 0, change = x.changeOwnership ? 1 : 0
            let allocMt = Int(x.allocMigratetype.rawValue), fallbackMt = Int(x.fallbackMigratetype.rawValue)
            w.field("pfn", x.pfn)
            w.field("alloc_order", x.allocOrder)
            w.field("fallback_order", x.fallbackOrder)
            w.field("pageblock_order", pageblockOrder)
            w.field("alloc_migratetype", allocMt)
            w.field("fallback_migratetype", fallbackMt)
            w.field("fragmenting", fragmenting)
            w.field("change_ownership", change)
            w.field("alloc_migratetype_name", x.allocMigratetype.name)
            w.field("fallback_migratetype_name", x.fallbackMigratetype.name)
            w.field("trace", "pfn=\(x.pfn) alloc_order=\(x.allocOrder) fallback_order=\(x.fallbackOrder) pageblock_order=\(pageblockOrder) alloc_migratetype=\(allocMt) fallback_migratetype=\(fallbackMt) fragmenting=\(fragmenting) change_ownership=\(change)")
        }
        w.endObject()
        return (name, w.bytes)
    }
}
