import MMCore
import MMFormat

/// The fleet-wide views (README "Sharding"): `GET /v1/fleet/machines` and `GET /v1/fleet/jobs` list
/// what every instance of the fleet holds, this one's own and each peer's of `--peers`, asked at
/// once. Each item carries `served_by` (the instance's URL); `instances` says which answered, and
/// `complete` is false when one did not (its items are missing, never guessed). The caller's
/// `Authorization` goes with the requests to the peers.
enum FleetRoutes {
    static func register(_ t: inout RouteTable) {
        t.get("/v1/fleet/machines") { ctx in
            let local = ctx.registry.list().compactMap { box -> JSON? in
                (try? MachineWire.description(box)).flatMap { try? JSON.parse(bytes: $0) }
            }
            return view(ctx, path: "/v1/machines", key: "machines", local: local)
        }
        t.get("/v1/fleet/jobs") { ctx in
            let local = ctx.registry.jobs.list().compactMap { job -> JSON? in
                var w = JSONWriter()
                job.write(into: &w, includeResult: false)
                return try? JSON.parse(bytes: w.bytes)
            }
            return view(ctx, path: "/v1/jobs", key: "jobs", local: local)
        }
    }

    static func view(_ ctx: RequestContext, path: String, key: StaticString, local: [JSON]) -> Response {
        let fleet = ctx.fleet
        let answers = [FleetPeers.Answer(instance: fleet.selfName, items: .success(local))]
            + fleet.gather(path, key: "\(key)", authorization: ctx.request.authorization)
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.key("instances")
        w.beginArray()
        for a in answers {
            w.beginObject()
            w.field("url", a.instance)
            switch a.items {
            case .success(let items):
                w.field("status", "ok")
                w.key(key)
                w.int(items.count)
            case .failure(let e):
                w.field("status", "unreachable")
                w.field("detail", e.description)
            }
            w.endObject()
        }
        w.endArray()
        w.key(key)
        w.beginArray()
        for a in answers {
            guard case .success(let items) = a.items else { continue }
            for case .object(var fields) in items {
                fields.append(("served_by", .string(a.instance)))
                w.json(.object(fields))
            }
        }
        w.endArray()
        w.field("complete", answers.allSatisfy { if case .success = $0.items { true } else { false } })
        w.endObject()
        return .json(200, w)
    }
}
