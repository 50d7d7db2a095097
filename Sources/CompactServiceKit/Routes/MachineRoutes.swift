import MMCore
import MMFormat

/// /v1/machines and /v1/machines/{name}.
enum MachineRoutes {
    static func register(_ t: inout RouteTable) {
        t.add("POST", "/v1/machines", body: .jsonOrSnapshot, scope: .admin, create)
        t.add("PUT", "/v1/machines/{name}", body: .jsonOrSnapshot, scope: .admin, put)
        t.get("/v1/machines", cached: cachedList, list)
        t.get("/v1/machines/{name}", cached: { ctx in
            MachineWire.cachedDescription(try ctx.machine()).map { d in
                var w = JSONWriter()
                w.raw(d)
                return .json(200, w)
            }
        }) { ctx in
            let box = try ctx.machine()
            var w = JSONWriter()
            try MachineWire.describe(box, into: &w)
            return .json(200, w)
        }
        // On a worker: the machine may be freed here, which takes a while for a large one.
        t.delete("/v1/machines/{name}", scope: .admin) { ctx in
            try ctx.registry.remove(try ctx.machineName())
            return .noContent()
        }
    }

    static func create(_ ctx: RequestContext) throws -> Response {
        if ctx.request.mediaType == SnapshotFormat.mediaType {
            return try created(try SnapshotRoutes.createFromUpload(ctx))
        }
        if ctx.request.query["name"] != nil {
            throw Problem.invalid("name", "the query's name is for snapshot uploads; a JSON body names the machine in its own `name`")
        }
        let body = try ctx.jsonBody()
        if MachineWire.isFromProc(body) {
            let (name, config, reader) = try MachineWire.parseFromProc(body)
            let box = try ctx.registry.create(name: name, config: config)
            var r = Response.json(201, try MachineWire.describeFromProc(box, reader))
            r.headers.append(("Location", "/v1/machines/\(box.name)"))
            return r
        }
        let (name, config) = try MachineWire.parseCreate(body)
        return try created(try ctx.registry.create(name: name, config: config))
    }

    /// 201 with the new machine and its `Location`.
    static func created(_ box: MachineBox) throws -> Response {
        var w = JSONWriter()
        try MachineWire.describe(box, into: &w)
        var r = Response.json(201, w)
        r.headers.append(("Location", "/v1/machines/\(box.name)"))
        return r
    }

    /// Creation by path, idempotent for the same definition (a retried request is safe, and the path
    /// carries the name a front hashes on): 201 when it creates the machine, 200 with the machine when
    /// one of that name was created from an equal definition (whatever happened to it since), 409 when
    /// from a different one.
    ///
    /// With a snapshot body (`application/vnd.compact-service.snapshot`) the machine is created from
    /// it under the path's name, through a front to the instance that owns the name: how
    /// scripts/move_machines.py moves a machine. 409 when a machine of that name exists.
    static func put(_ ctx: RequestContext) throws -> Response {
        let name = try ctx.machineName()
        if ctx.request.mediaType == SnapshotFormat.mediaType {
            return try created(try SnapshotRoutes.createFromUpload(ctx, name: name))
        }
        let config = try MachineWire.parsePut(try ctx.jsonBody(), name: name)
        // A machine of that name being created by another request is waited for (creation takes
        // milliseconds), then compared.
        let deadline = monotonicNs() &+ 10_000_000_000
        while true {
            if let box = try? ctx.registry.get(name) {
                guard box.config == config else {
                    throw Problem.conflict("body", "machine '\(name)' exists with a different definition; DELETE it first or choose another name")
                }
                var w = JSONWriter()
                try MachineWire.describe(box, into: &w)
                return .json(200, w)
            }
            do {
                return try created(try ctx.registry.create(name: name, config: config))
            } catch RegistryError.duplicateName where monotonicNs() < deadline {
                usleepNs(2_000_000)
            }
        }
    }

    static func list(_ ctx: RequestContext) throws -> Response {
        var descriptions: [[UInt8]] = []
        for box in ctx.registry.list() {
            // A machine deleted since the list was taken is left out, as it would be a moment later.
            do { descriptions.append(try MachineWire.description(box)) } catch RegistryError.unknownMachine {}
        }
        return listDocument(ctx, descriptions)
    }

    /// The list when every machine's description is cached (no machine lock); else nil.
    static func cachedList(_ ctx: RequestContext) -> Response? {
        var descriptions: [[UInt8]] = []
        for box in ctx.registry.list() {
            guard let d = MachineWire.cachedDescription(box) else { return nil }
            descriptions.append(d)
        }
        return listDocument(ctx, descriptions)
    }

    static func listDocument(_ ctx: RequestContext, _ descriptions: [[UInt8]]) -> Response {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("machines")
        w.beginArray()
        for d in descriptions { w.raw(d) }
        w.endArray()
        // Machines the state directory holds but recovery could not bring back (README "Durable state").
        w.key("unavailable")
        w.beginArray()
        for u in ctx.registry.unavailable {
            w.beginObject()
            w.field("name", u.name)
            w.key("instance")
            if let i = u.instance { w.int(i) } else { w.null() }
            w.field("reason", u.reason)
            w.endObject()
        }
        w.endArray()
        w.field("max_machines", ctx.registry.maxMachines)
        w.field("memory_budget_bytes", ctx.registry.memoryBudget)
        w.field("memory_used_bytes", ctx.registry.usedBytes)
        w.endObject()
        return .json(200, w)
    }
}
