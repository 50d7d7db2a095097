import MMCore
import MMFormat

/// /v1/machines/{name}/allocations: bulk allocation, freeing by handles or by tag, one allocation.
enum AllocationRoutes {
    static func register(_ t: inout RouteTable) {
        t.add("POST", "/v1/machines/{name}/allocations", body: .json, allocate)
        t.get("/v1/machines/{name}/allocations", summary)
        t.add("POST", "/v1/machines/{name}/allocations/free", body: .json, free)
        t.get("/v1/machines/{name}/allocations/{handle}", info)
        t.delete("/v1/machines/{name}/allocations/{handle}") { ctx in
            let box = try ctx.machine()
            let h = try Validation.pathHandle(ctx.params["handle"] ?? "")
            try box.mutate { s in _ = try s.perform(.free(h)) }
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
            let r = try box.mutate { s -> BulkAllocResult in
                try checkBudget(s.machine)
                guard case .bulk(let r) = try s.perform(.allocate(order.request, count: order.count, tag: order.tag, keep: keep)) else {
                    preconditionFailure("an allocation gives a bulk result")
                }
                return r
            }
            tally.add(r, keep: keep)
            tally.summary = r.latency
            refused = r.stateLimitBytes
        } else {
            // One attempt per MMCore call so every attempt's latency is kept; the first section validates
            // the request (order, node, tag) before anything changes.
            var run: Int?
            var ended = false
            tally.latencies.reserveCapacity(order.count)
            complete = try box.runInSteps(shouldStop: { registry.isShuttingDown }) { s in
                let start = monotonicNs()
                let op: MachineRecord.Op
                if let id = run {
                    op = .allocSteps(run: id, begin: nil, calls: 0)
                } else {
                    try checkBudget(s.machine)
                    let id = s.runs.newId()
                    run = id
                    op = .allocSteps(run: id, begin: .init(request: order.request, count: order.count, tag: order.tag), calls: 0)
                }
                let outcome = try s.perform(op, limit: .time(start: start)) { r in
                    tally.add(r, keep: keep)
                    tally.latencies.append(r.latency.min)
                }
                guard case .allocSection(_, let done, let r) = outcome else { preconditionFailure("an allocation section") }
                refused = r
                ended = done
                return done ? .done : .more
            }
            if !ended, let id = run {
                // Stopped by shutdown: the batch ends here (and recovery does not finish it).
                try box.mutate(ending: true) { s in _ = try s.perform(.allocStop(run: id)) }
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
        let freed = try box.mutate { s throws -> Int in
            let op: MachineRecord.Op
            switch order {
            case .handles(let hs): op = .freeHandles(hs.map(\.raw))
            case .tag(let tag, let pattern): op = .freeTag(tag, pattern)
            }
            guard case .freed(let n) = try s.perform(op) else { preconditionFailure("a free says how many it freed") }
            return n
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
            w.field("node", z.node.rawValue)
            w.field("zone", z.name)
            w.field("migratetype", m.migratetype(ofPageblockAt: Pfn(i.pfn)).name)
            w.field("content_intact", intact)
            w.endObject()
            return w.bytes
        }
        return Response(status: 200, contentType: "application/json", body: bytes)
    }
}
