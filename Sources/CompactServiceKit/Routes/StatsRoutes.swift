import MMCore

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
    }
}
