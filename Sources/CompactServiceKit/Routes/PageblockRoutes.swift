import MMCore
import MMFormat

/// The dashboard's data:
/// - `GET /v1/machines/{name}/pageblocks`: every pageblock of every zone (migratetype, mixed, pages by
///   free, per-CPU, kind and isolated-free) as the binary `PageblockMap` document, built in one pass and
///   cached per machine generation like /stats (answered from the cache on the HTTP thread);
/// - `GET /v1/machines/{name}/pages?start_pfn=&count=`: the buddy blocks and allocations covering a pfn
///   range (a pageblock when zooming in), as JSON.
enum PageblockRoutes {
    /// The most pages one /pages request covers: the largest pageblock (2^15 pages).
    static let maxPages = 1 << 15

    static func register(_ t: inout RouteTable) {
        t.get("/v1/machines/{name}/pageblocks", cached: { ctx in
            try ctx.machine().cachedDocument(.pageblocks).map { Response(status: 200, contentType: PageblockMap.mediaType, body: $0) }
        }) { ctx in
            let box = try ctx.machine()
            let bytes = try box.document(.pageblocks) { PageblockWire.document(box, $0) }
            return Response(status: 200, contentType: PageblockMap.mediaType, body: bytes)
        }
        t.get("/v1/machines/{name}/pages", pages)
    }

    /// A non-negative integer query parameter: absent gives nil, anything but digits is 400.
    static func queryInt(_ ctx: RequestContext, _ name: String) throws(Problem) -> Int? {
        guard let s = ctx.request.query[name] else { return nil }
        guard !s.isEmpty, s.utf8.count <= 18, s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(s) else {
            throw Problem(400, "\(name) must be a non-negative integer, not '\(s.prefix(40))'", field: name)
        }
        return v
    }

    static func pages(_ ctx: RequestContext) throws -> Response {
        let box = try ctx.machine()
        guard let start = try queryInt(ctx, "start_pfn") else {
            throw Problem(400, "start_pfn is required: the first pfn of the range", field: "start_pfn")
        }
        let count = try queryInt(ctx, "count")
        if let c = count, c < 1 || c > maxPages {
            throw Problem.invalid("count", "count must be 1 to \(maxPages) pages, not \(c)")
        }
        let name = box.name
        return try box.withMachine { m throws -> Response in
            guard start < m.totalPages else {
                throw Problem.invalid("start_pfn", "start_pfn must be below the machine's \(m.totalPages) pages, not \(start)")
            }
            let n = count ?? min(m.pageblockPages, m.totalPages - start)
            guard start + n <= m.totalPages else {
                throw Problem.invalid("count", "start_pfn + count must not pass the machine's \(m.totalPages) pages (\(start) + \(n))")
            }
            var w = JSONWriter(capacity: 256 + n * 48)
            w.beginObject()
            w.field("machine", name)
            w.field("generation", m.generation)
            w.field("start_pfn", start)
            w.field("count", n)
            w.field("page_size", m.preset.pageSize)
            w.field("pageblock_order", m.pageblockOrder)
            w.key("blocks")
            w.beginArray()
            for b in m.pageBlockStates(startPfn: Pfn(start), count: n) {
                w.beginObject()
                w.field("pfn", b.pfn.rawValue)
                w.field("order", b.order)
                switch b.state {
                case .free: w.field("state", "free")
                case .pcp: w.field("state", "pcp")
                case .isolatedFree: w.field("state", "isolated_free")
                case .allocated(let k):
                    w.field("state", "allocated")
                    w.field("kind", k.name)
                }
                w.field("migratetype", b.migratetype.name)
                w.field("isolated", b.isolated)
                if case .allocated = b.state {
                    w.field("dirty", b.dirty)
                    w.field("active", b.active)
                    w.field("mlocked", b.mlocked)
                }
                w.endObject()
            }
            w.endArray()
            w.endObject()
            return .json(200, w)
        }
    }
}
