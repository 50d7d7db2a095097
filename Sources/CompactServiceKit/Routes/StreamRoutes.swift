import MMCore
import MMFormat

/// GET /v1/machines/{name}/stats/stream: Server-Sent Events. An `event: stats` with the stats document
/// every `interval_ms` (default 1000, at least 100), each with a growing `id:`; a `: keep-alive`
/// comment after 15 s of silence; with `?events=compaction,extfrag` also the machine's tracepoint
/// events (mm_compaction_begin, mm_compaction_end, mm_compaction_migratepages,
/// mm_page_alloc_extfrag), `compaction_scanners` (a manual compaction's scanner positions between its
/// steps) and `pageblocks` (the pageblocks changed since the stream's last one, from
/// `pageblocks_since`, the generation of the client's GET …/pageblocks document). `Last-Event-ID` replays the events after that id still in the machine's
/// ring (the last 4096); an `event: lost` says when some had already been dropped. The stream ends
/// with `event: end` when the machine is deleted or the service shuts down.
///
/// GET /v1/jobs/{id}/stream: a job's progress as Server-Sent Events, ending with `event: done` when the
/// job has finished (Streaming/JobStream.swift).
///
/// The HTTP layer recognises these routes and serves them as parked, resumable streams
/// (HTTP/MHDStream.swift); this file holds their validation.
enum StreamRoutes {
    static let pattern = "/v1/machines/{name}/stats/stream"
    static let jobPattern = "/v1/jobs/{id}/stream"
    /// The job stream under a workload's machine and under an experiment's name.
    static let jobPatterns: Set<String> = [jobPattern, "/v1/machines/{name}/jobs/{id}/stream", "/v1/experiments/{experiment}/stream"]
    static let patterns: Set<String> = jobPatterns.union([pattern])
    static let defaultIntervalMs = 1000
    static let intervals = 100...3_600_000

    static func register(_ t: inout RouteTable) {
        // Reached only when the router is used without the HTTP layer (tests of the table): answers the
        // stream's first event and ends, so the route behaves like the stream's beginning.
        t.get(pattern) { ctx in
            let sub = try subscription(ctx, intervalMs: nil, events: nil, lastEventID: nil)
            var out: [UInt8] = []
            let (_, id) = sub.box.events.take(after: sub.box.events.lastID, [], limit: 0, withStatsID: true)
            let doc = try sub.box.document(.stats) { StatsDocument.build(name: sub.box.name, $0) }
            SSEFormat.event(&out, id: id, name: "stats", data: doc)
            return Response(status: 200, contentType: "text/event-stream", body: out)
        }
        for p in jobPatterns.sorted() {
            t.get(p) { ctx in
                let (_, content) = try stream(ctx, pattern: p, lastEventID: nil)
                var out: [UInt8] = []
                _ = content.produce(&out, now: 0, closing: false)
                return Response(status: 200, contentType: "text/event-stream", body: out)
            }
        }
    }

    /// Validates a request for one of the stream routes and makes the stream's source and content.
    static func stream(_ ctx: RequestContext, pattern p: String, lastEventID: String?) throws -> (any StreamSource, any StreamContent) {
        if jobPatterns.contains(p) {
            let job = try WorkloadRoutes.job(ctx)
            return (JobSource(job: job), JobContent(job))
        }
        let sub = try subscription(ctx, intervalMs: ctx.request.query["interval_ms"], events: ctx.request.query["events"],
                                   lastEventID: lastEventID, pageblocksSince: ctx.request.query["pageblocks_since"])
        if !sub.ringCategories.isEmpty { sub.box.events.startRecording() }
        return (StatsSource(subscription: sub), StatsContent(sub, now: monotonicNs()))
    }

    /// Validates a subscription: the machine exists, `interval_ms` is an integer in range, `events`
    /// names known categories, `Last-Event-ID` is an unsigned integer.
    static func subscription(_ ctx: RequestContext, intervalMs: String?, events: String?,
                             lastEventID: String?, pageblocksSince: String? = nil) throws -> StreamSubscription {
        var interval = defaultIntervalMs
        if let s = intervalMs {
            guard let v = Int(s), intervals.contains(v) else {
                throw Problem(400, "interval_ms must be an integer from \(intervals.lowerBound) to \(intervals.upperBound), not '\(s.prefix(40))'",
                              field: "interval_ms")
            }
            interval = v
        }
        var categories: EventCategory = []
        if let s = events {
            for part in s.split(separator: ",", omittingEmptySubsequences: false) {
                let name = String(part).trimmingASCIIWhitespace()
                guard let c = EventCategory.byName.first(where: { $0.0 == name })?.1 else {
                    let known = EventCategory.byName.map(\.0).joined(separator: ", ")
                    throw Problem(400, "events is a comma-separated list of \(known), not '\(s.prefix(80))'", field: "events")
                }
                categories.insert(c)
            }
        }
        var last: UInt64?
        if let s = lastEventID?.trimmingASCIIWhitespace(), !s.isEmpty {
            guard let v = UInt64(s) else {
                throw Problem(400, "Last-Event-ID must be an id this stream sent (an unsigned integer), not '\(s.prefix(40))'",
                              field: "Last-Event-ID")
            }
            last = v
        }
        let box = try ctx.machine()
        var since: UInt64?
        if let s = pageblocksSince {
            guard categories.contains(.pageblocks) else {
                throw Problem(400, "pageblocks_since goes with events=pageblocks", field: "pageblocks_since")
            }
            guard let v = UInt64(s), v <= box.generation else {
                throw Problem(400, "pageblocks_since must be the generation of a pageblocks document of this machine (0 to \(box.generation)), not '\(s.prefix(40))'",
                              field: "pageblocks_since")
            }
            since = v
        }
        return StreamSubscription(box: box, intervalMs: interval, categories: categories, lastEventID: last,
                                  renderPool: ctx.registry.requestPool, pageblocksSince: since)
    }
}
