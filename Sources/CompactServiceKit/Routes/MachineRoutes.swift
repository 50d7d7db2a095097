import MMCore

/// /v1/machines and /v1/machines/{name}.
enum MachineRoutes {
    static func register(_ t: inout RouteTable) {
        t.add("POST", "/v1/machines", body: .json, create)
        t.get("/v1/machines", list)
        t.get("/v1/machines/{name}") { ctx in
            let box = try ctx.machine()
            var w = JSONWriter()
            try MachineWire.describe(box, into: &w)
            return .json(200, w)
        }
        t.delete("/v1/machines/{name}") { ctx in
            try ctx.registry.remove(try ctx.machineName())
            return .noContent()
        }
    }

    static func create(_ ctx: RequestContext) throws -> Response {
        let (name, config) = try MachineWire.parseCreate(try ctx.jsonBody())
        let box = try ctx.registry.create(name: name, config: config)
        var w = JSONWriter()
        try MachineWire.describe(box, into: &w)
        var r = Response.json(201, w)
        r.headers.append(("Location", "/v1/machines/\(name)"))
        return r
    }

    static func list(_ ctx: RequestContext) throws -> Response {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("machines")
        w.beginArray()
        for box in ctx.registry.list() { try MachineWire.describe(box, into: &w) }
        w.endArray()
        w.field("max_machines", ctx.registry.maxMachines)
        w.field("memory_budget_bytes", ctx.registry.memoryBudget)
        w.field("memory_used_bytes", ctx.registry.usedBytes)
        w.endObject()
        return .json(200, w)
    }
}
