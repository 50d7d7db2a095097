import MMCore
import MMFormat

/// GET /v1/machines/{name}/stats: the /proc facts as one JSON document, built once per generation.
enum StatsRoutes {
    static func register(_ t: inout RouteTable) {
        t.get("/v1/machines/{name}/stats", cached: { ctx in
            try ctx.machine().cachedDocument(.stats).map { Response(status: 200, contentType: "application/json", body: $0) }
        }) { ctx in
            let box = try ctx.machine()
            let bytes = try box.document(.stats) { StatsDocument.build(name: box.name, $0) }
            return Response(status: 200, contentType: "application/json", body: bytes)
        }
        // The invariant checker over the whole machine (every page, list and counter; linear in its
        // size, under its lock): what a test or an operator runs after a crash, a restart or a move.
        t.get("/v1/machines/{name}/debug/check") { ctx in
            let box = try ctx.machine()
            let (errors, total, free, live, generation) = try box.withMachine { m in
                (m.checkConsistency(limit: 20), m.totalPages, m.nrFreePagesTotal,
                 m.liveAllocations, m.generation)
            }
            var w = JSONWriter()
            w.beginObject()
            w.field("name", box.name)
            w.field("consistent", errors.isEmpty)
            w.key("errors")
            w.beginArray()
            for e in errors { w.string(e) }
            w.endArray()
            w.field("total_pages", total)
            w.field("free_pages", free)
            w.field("live_allocations", live)
            w.field("generation", generation)
            w.endObject()
            return .json(200, w)
        }
    }
}
