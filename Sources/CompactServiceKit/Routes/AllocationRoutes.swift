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

    /// A batch is checked against the memory budget before anything changes: the most its allocations
    /// can add to the machine's state (`Machine.allocationGrowthBound`: handle slots beyond the freed
    /// ones, in whole granules, and the tag list's growth) must fit in what is left, else 507. Batches on
    /// other machines share what is left while they run: if they take it first, this batch stops at the
    /// budget where it is (`stopped_by_budget`, with what succeeded; 507 if nothing had been allocated).
    static func allocate(_ ctx: RequestContext) throws -> Response {
        let box = try ctx.machine()
        let order = try AllocationWire.parseAllocation(try ctx.jsonBody())
        let registry = ctx.registry
        let keep = AllocationWire.maxHandlesListed
        var tally = AllocationTally()
        var complete = true
        var refused: Int?
        func checkBudget(_ m: Machine) throws {
            // Validation first (a bad order or node is a 422 whatever the budget says).
            try m.validateRequest(order.request)
            try registry.checkHeadroom(m.allocationGrowthBound(count: order.count, tag: order.tag), for: .allocation,
                                       what: "the allocation of \(order.count) blocks", field: "count")
        }
        if order.count <= singleStepCount {
            let r = try box.withMachine(mutating: true) { m in
                try checkBudget(m)
                return try m.allocateBulk(order.request, count: order.count, tag: order.tag, keepHandles: keep)
            }
            tally.add(r, keep: keep)
            tally.summary = r.latency
            refused = r.stateLimitBytes
        } else {
            // One attempt per MMCore call so every attempt's latency is kept; the first call validates
            // the request (order, node, tag) before anything changes.
            var remaining = order.count
            var first = true
            tally.latencies.reserveCapacity(order.count)
            complete = try box.runInSteps(shouldStop: { registry.isShuttingDown }) { m in
                if first { try checkBudget(m); first = false }
                let start = monotonicNs()
                var n = 0
                while remaining > 0 {
                    let r = try m.allocateBulk(order.request, count: 1, tag: order.tag, keepHandles: 1)
                    if let b = r.stateLimitBytes { refused = b; break }
                    tally.add(r, keep: keep)
                    tally.latencies.append(r.latency.min)
                    remaining -= 1
                    n += 1
                    if n & 31 == 0 && monotonicNs() &- start > OperationBudget.stepNs { break }
                }
                return remaining == 0 || refused != nil ? .done : .more
            }
        }
        if let bytes = refused {
            registry.countRefusal(.allocation)
            // Stopped before its first allocation: nothing changed, so the batch is refused as a whole.
            if tally.succeeded + tally.failed == 0 {
                throw registry.overBudget("the allocation of \(order.count) blocks", needed: bytes, field: "count")
            }
            complete = false
        }
        var w = JSONWriter(capacity: 256 + tally.handles.count * 12)
        tally.write(requested: order.count, tag: order.tag, complete: complete, stoppedByBudget: refused != nil, into: &w)
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
