import MMCore

extension SSEFormat {
    /// The fields and `trace` line of a kernel 6.6 tracepoint (include/trace/events/compaction.h of 6.6).
    static func modernFields(_ e: ModernTraceEvent, into w: inout JSONWriter) {
        func range(_ start: Int, _ end: Int, _ scanned: Int, _ taken: Int) {
            w.field("start_pfn", start)
            w.field("end_pfn", end)
            w.field("nr_scanned", scanned)
            w.field("nr_taken", taken)
            w.field("trace", "range=(\(hex(start)) ~ \(hex(end))) nr_scanned=\(scanned) nr_taken=\(taken)")
        }
        func pad8(_ s: String) -> String { s.count >= 8 ? s : s + String(repeating: " ", count: 8 - s.count) }
        func defer_(_ d: DeferTrace) {
            w.field("node", d.node)
            w.field("zone", d.zone)
            w.field("order", d.order)
            w.field("order_failed", d.orderFailed)
            w.field("consider", d.considered)
            w.field("limit", d.limit)
            w.field("trace", "node=\(d.node) zone=\(pad8(d.zone)) order=\(d.order) order_failed=\(d.orderFailed) consider=\(d.considered) limit=\(d.limit)")
        }
        switch e {
        case .isolateMigratepages(let s, let en, let sc, let t), .isolateFreepages(let s, let en, let sc, let t),
             .fastIsolateFreepages(let s, let en, let sc, let t):
            range(s, en, sc, t)
        case .suitable(let n, let z, let o, let r), .finished(let n, let z, let o, let r):
            w.field("node", n)
            w.field("zone", z)
            w.field("order", o)
            w.field("ret", r)
            w.field("trace", "node=\(n) zone=\(pad8(z)) order=\(o) ret=\(r)")
        case .deferred(let d), .deferCompaction(let d), .deferReset(let d):
            defer_(d)
        case .tryToCompactPages(let o, let g, let p):
            w.field("order", o)
            w.field("gfp_mask", g)
            w.field("priority", p)
            w.field("trace", "order=\(o) gfp_mask=\(g) priority=\(p)")
        case .kcompactdSleep(let n):
            w.field("nid", n)
            w.field("trace", "nid=\(n)")
        case .kcompactdWake(let n, let o, let z), .wakeupKcompactd(let n, let o, let z):
            w.field("nid", n)
            w.field("order", o)
            w.field("classzone_idx", z)
            w.field("trace", "nid=\(n) order=\(o) classzone_idx=\(pad8(z))")
        }
    }
}
