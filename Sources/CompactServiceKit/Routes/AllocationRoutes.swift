import MMCore

/// /v1/machines/{name}/allocations: bulk allocation, freeing by handles or by tag, one allocation.
enum AllocationRoutes {
    static func register(_ t: inout RouteTable) {
        t.add("POST", "/v1/machines/{name}/allocations", body: .json, allocate)
        t.get("/v1/machines/{name}/allocations", summary)
        t.add("POST", "/v1/machines/{name}/allocations/free", body: .json, free)
        t.get("/v1/machines/{name}/allocations/{handle}", info)
        t.delete("/v1/machines/{name}/allocations/{handle}") { ctx in
            let box = try ctx.machine()
            let h = PageHandle(raw: try Validation.pathHandle(ctx.params["handle"] ?? ""))
            try box.withMachine(mutating: true) { m throws in try m.free(h) }
            return .noContent()
        }
    }

    /// Requests up to this many attempts run in one critical section with MMCore's own summary.
    static let singleStepCount = 256

    static func allocate(_ ctx: RequestContext) throws -> Response {
        let box = try ctx.machine()
        let order = try AllocationWire.parseAllocation(try ctx.jsonBody())
        let keep = AllocationWire.maxHandlesListed
        var tally = AllocationTally()
        var complete = true
        if order.count <= singleStepCount {
            let r = try box.withMachine(mutating: true) { m in
                try m.allocateBulk(order.request, count: order.count, tag: order.tag, keepHandles: keep)
            }
            tally.add(r, keep: keep)
            tally.summary = r.latency
        } else {
            // One attempt per MMCore call so every attempt's latency is kept; the first call validates
            // the request (order, node, tag) before anything changes.
            var remaining = order.count
            tally.latencies.reserveCapacity(order.count)
            complete = try box.runInSteps(shouldStop: { ctx.registry.isShuttingDown }) { m in
                let start = monotonicNs()
                var n = 0
                while remaining > 0 {
                    let r = try m.allocateBulk(order.request, count: 1, tag: order.tag, keepHandles: 1)
                    tally.add(r, keep: keep)
                    tally.latencies.append(r.latency.min)
                    remaining -= 1
                    n += 1
                    if n & 31 == 0 && monotonicNs() &- start > OperationBudget.stepNs { break }
                }
                return remaining == 0 ? .done : .more
            }
        }
        var w = JSONWriter(capacity: 256 + tally.handles.count * 12)
        tally.write(requested: order.count, tag: order.tag, complete: complete, into: &w)
        return .json(200, w)
    }

    static func free(_ ctx: RequestContext) throws -> Response {
        let box = try ctx.machine()
        let order = try AllocationWire.parseFree(try ctx.jsonBody())
        let freed = try box.withMachine(mutating: true) { m throws -> Int in
            switch order {
            case .handles(let hs):
                try m.freeAll(hs)
                return hs.count
            case .tag(let tag, let pattern):
                // A tag without live allocations frees nothing; that is an answer, not an error.
                do { return try m.freeTag(tag, pattern: pattern) } catch MMError.unknownTag { return 0 }
            }
        }
        var w = JSONWriter()
        w.beginObject()
        w.field("freed", freed)
        w.endObject()
        return .json(200, w)
    }

    static func summary(_ ctx: RequestContext) throws -> Response {
        let box = try ctx.machine()
        let (live, tags) = try box.withMachine { m in (m.liveAllocations, m.tagCounts.map { ($0.tag, $0.live) }) }
        var w = JSONWriter()
        w.beginObject()
        w.field("live_allocations", live)
        w.key("tags")
        w.beginArray()
        for (t, n) in tags {
            w.beginObject()
            w.field("tag", t)
            w.field("live", n)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return .json(200, w)
    }

    static func info(_ ctx: RequestContext) throws -> Response {
        let box = try ctx.machine()
        let h = PageHandle(raw: try Validation.pathHandle(ctx.params["handle"] ?? ""))
        let bytes = try box.withMachine { m throws -> [UInt8] in
            let i = try m.allocationInfo(h)
            let intact = try m.readContent(h) == m.expectedContent(h, order: i.order)
            let z = m.zones[i.zone]
            var w = JSONWriter()
            w.beginObject()
            w.field("handle", h.raw)
            w.field("pfn", i.pfn)
            w.field("order", i.order)
            w.field("kind", i.kind.name)
            w.field("node", z.node)
            w.field("zone", z.name)
            w.field("migratetype", m.migratetype(ofPageblockAt: i.pfn).name)
            w.field("content_intact", intact)
            w.endObject()
            return w.bytes
        }
        return Response(status: 200, contentType: "application/json", body: bytes)
    }
}
