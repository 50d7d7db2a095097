import MMCore
import MMFormat

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

    /// The event name and JSON data of a trace event: a kernel tracepoint's fields and its `trace` line
    /// as MMCore's `Tracepoint` gives them, or one of the service's own events.
    static func trace(_ e: TraceEvent, pageblockOrder: Int) -> (String, [UInt8]) {
        let tp: Tracepoint
        switch e {
        case .compactionBegin(let b): tp = b.tracepoint
        case .compactionEnd(let x): tp = x.tracepoint
        case .compactionMigratepages(let migrated, let failed): tp = .compactionMigratepages(nrMigrated: migrated, nrFailed: failed)
        case .extfrag(let x): tp = x.tracepoint(pageblockOrder: pageblockOrder)
        case .modern(let m): tp = m.tracepoint
        case .jobProgress(let j): return ("job_progress", jobProgress(j))
        case .scanners(let p): return ("compaction_scanners", scanners(p))
        }
        var w = JSONWriter(capacity: 384)
        w.beginObject()
        for f in tp.fields {
            w.key(f.name)
            switch f.value {
            case .int(let v): w.int(v)
            case .string(let v): w.string(v)
            }
        }
        w.field("trace", tp.line)
        w.endObject()
        return (tp.name, w.bytes)
    }

    /// `job_progress` (the service's own event).
    static func jobProgress(_ j: JobProgress) -> [UInt8] {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.field("id", j.id)
        w.field("state", j.state)
        w.field("step", j.step)
        w.field("steps", j.steps)
        w.field("percent", j.percent)
        w.endObject()
        return w.bytes
    }

    /// `compaction_scanners` (the service's own event).
    static func scanners(_ p: ScannerPositions) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("node", p.node)
        w.field("zone", p.zone)
        w.field("zone_start", p.zoneStart)
        w.field("zone_end", p.zoneEnd)
        w.field("migrate_pfn", p.migratePfn)
        w.field("free_pfn", p.freePfn)
        w.field("migrate_scanned", p.migrateScanned)
        w.field("free_scanned", p.freeScanned)
        w.field("migrated", p.migrated)
        w.endObject()
        return w.bytes
    }
}
