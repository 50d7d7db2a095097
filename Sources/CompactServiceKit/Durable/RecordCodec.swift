import MMCore
import MMFormat

/// Records as canonical JSON (the journal's payloads): every parameter explicit, so a record means the
/// same to a later version whatever its defaults. See README "Durable state" for the list.
extension MachineRecord {
    static func json(_ req: AllocRequest) -> JSON {
        .object([("order", .number(Double(req.order))), ("kind", .string(req.kind.name)),
                 ("node", req.node.map { .number(Double($0)) } ?? .null), ("gfp", .number(Double(req.gfp.rawValue))),
                 ("mlock", .bool(req.mlock)), ("dirty", .bool(req.dirty))])
    }

    static func json(_ tag: String?) -> JSON { tag.map { .string($0) } ?? .null }

    var json: JSON {
        var m: [(String, JSON)]
        func n(_ v: Int) -> JSON { .number(Double(v)) }
        switch op {
        case .create(let name, let instance, let createdAt, let config):
            m = [("op", .string("create")), ("name", .string(name)), ("instance", n(instance)), ("created_at", .string(createdAt)),
                 ("config", config.json)]
        case .allocate(let req, let count, let tag, let keep):
            m = [("op", .string("alloc")), ("request", MachineRecord.json(req)), ("count", n(count)), ("tag", MachineRecord.json(tag)),
                 ("keep", n(keep))]
        case .allocSteps(let run, let begin, let calls):
            m = [("op", .string("alloc_steps")), ("run", n(run))]
            if let b = begin {
                m.append(("begin", .object([("request", MachineRecord.json(b.request)), ("count", n(b.count)), ("tag", MachineRecord.json(b.tag))])))
            }
            m.append(("calls", n(calls)))
        case .allocStop(let run):
            m = [("op", .string("alloc_stop")), ("run", n(run))]
        case .freeHandles(let hs):
            m = [("op", .string("free_handles")), ("handles", .array(hs.map { .number(String($0)) }))]
        case .freeTag(let tag, let pattern):
            let p: JSON
            switch pattern {
            case .all: p = .string("all")
            case .everyOther: p = .string("every_other")
            case .random(let f, let seed): p = .object([("random", .number(f)), ("seed", .number(String(seed)))])
            }
            m = [("op", .string("free_tag")), ("tag", .string(tag)), ("pattern", p)]
        case .free(let h):
            m = [("op", .string("free")), ("handle", .number(String(h)))]
        case .sysctl(let name, let value):
            m = [("op", .string("sysctl")), ("name", .string(name)), ("value", n(value))]
        case .thp(let file, let value):
            m = [("op", .string("thp")), ("file", .string(file)), ("value", .string(value))]
        case .compact(let run, let begin, let calls):
            m = [("op", .string("compact")), ("run", n(run))]
            if let b = begin { m.append(("begin", .object([("node", b.node.map { n($0) } ?? .null)]))) }
            m.append(("calls", n(calls)))
        case .compactCancel(let run):
            m = [("op", .string("compact_cancel")), ("run", n(run))]
        case .workload(let run, let job, let begin, let calls):
            m = [("op", .string("workload")), ("run", n(run)), ("job", .string(job))]
            if let b = begin { m.append(("begin", b)) }
            m.append(("calls", n(calls)))
        case .workloadCancel(let run):
            m = [("op", .string("workload_cancel")), ("run", n(run))]
        case .abandon(let run):
            m = [("op", .string("abandon")), ("run", n(run))]
        }
        if !gate.isEmpty { m.append(("gate", .array(gate.map { .array([n($0.ordinal), n($0.bytes)]) }))) }
        return .object(m)
    }

    var payload: [UInt8] { json.encodedBytes }

    /// Reads a record back; throws `ReplayError` naming what is wrong.
    init(payload: ArraySlice<UInt8>) throws(ReplayError) {
        let j: JSON
        do { j = try JSON.parse(bytes: Array(payload)) } catch { throw ReplayError("a record is not JSON: \(error.message)") }
        func str(_ k: String, _ o: JSON = j) throws(ReplayError) -> String {
            guard case .string(let s)? = o[k] else { throw ReplayError("a record lacks \(k)") }
            return s
        }
        func int(_ k: String, _ o: JSON = j) throws(ReplayError) -> Int {
            guard case .number(let t)? = o[k], let v = Int(t) else { throw ReplayError("a record lacks the integer \(k)") }
            return v
        }
        func u64(_ k: String, _ o: JSON = j) throws(ReplayError) -> UInt64 {
            guard case .number(let t)? = o[k], let v = UInt64(t) else { throw ReplayError("a record lacks the integer \(k)") }
            return v
        }
        func bool(_ k: String, _ o: JSON) throws(ReplayError) -> Bool {
            guard case .bool(let b)? = o[k] else { throw ReplayError("a record lacks the boolean \(k)") }
            return b
        }
        func optInt(_ k: String, _ o: JSON) throws(ReplayError) -> Int? {
            if case .null? = o[k] { return nil }
            return try int(k, o)
        }
        func optStr(_ k: String, _ o: JSON) throws(ReplayError) -> String? {
            if case .null? = o[k] { return nil }
            return try str(k, o)
        }
        func request(_ o: JSON?) throws(ReplayError) -> AllocRequest {
            guard let o else { throw ReplayError("a record lacks its request") }
            guard let kind = AllocKind(name: try str("kind", o)), let gfp = UInt16(exactly: try int("gfp", o)) else {
                throw ReplayError("a record's request is invalid")
            }
            return AllocRequest(order: try int("order", o), kind: kind, node: try optInt("node", o), gfp: GFPFlags(rawValue: gfp),
                                mlock: try bool("mlock", o), dirty: try bool("dirty", o))
        }
        let op: Op
        switch try str("op") {
        case "create":
            guard let c = j["config"] else { throw ReplayError("a create record lacks config") }
            let config: MachineConfig
            do { config = try MachineConfig(json: c) } catch { throw ReplayError("a create record's config is invalid: \(error)") }
            op = .create(name: try str("name"), instance: try int("instance"), createdAt: try str("created_at"), config: config)
        case "alloc":
            op = .allocate(try request(j["request"]), count: try int("count"), tag: try optStr("tag", j), keep: try int("keep"))
        case "alloc_steps":
            var begin: AllocBatchSpec?
            if let b = j["begin"] { begin = AllocBatchSpec(request: try request(b["request"]), count: try int("count", b), tag: try optStr("tag", b)) }
            op = .allocSteps(run: try int("run"), begin: begin, calls: try int("calls"))
        case "alloc_stop": op = .allocStop(run: try int("run"))
        case "free_handles":
            guard case .array(let a)? = j["handles"] else { throw ReplayError("a free record lacks handles") }
            var hs: [UInt64] = []
            hs.reserveCapacity(a.count)
            for v in a {
                guard case .number(let t) = v, let h = UInt64(t) else { throw ReplayError("a free record holds a bad handle") }
                hs.append(h)
            }
            op = .freeHandles(hs)
        case "free_tag":
            let pattern: FreePattern
            switch j["pattern"] {
            case .string("all")?: pattern = .all
            case .string("every_other")?: pattern = .everyOther
            case .object(let o)?:
                guard case .number(let f)? = JSON.object(o)["random"], let fraction = Double(f) else { throw ReplayError("a free record's pattern is invalid") }
                pattern = .random(fraction: fraction, seed: try u64("seed", .object(o)))
            default: throw ReplayError("a free record's pattern is invalid")
            }
            op = .freeTag(try str("tag"), pattern)
        case "free": op = .free(try u64("handle"))
        case "sysctl": op = .sysctl(name: try str("name"), value: try int("value"))
        case "thp": op = .thp(file: try str("file"), value: try str("value"))
        case "compact":
            var begin: CompactSpec?
            if let b = j["begin"] { begin = CompactSpec(node: try optInt("node", b)) }
            op = .compact(run: try int("run"), begin: begin, calls: try int("calls"))
        case "compact_cancel": op = .compactCancel(run: try int("run"))
        case "workload": op = .workload(run: try int("run"), job: try str("job"), begin: j["begin"], calls: try int("calls"))
        case "workload_cancel": op = .workloadCancel(run: try int("run"))
        case "abandon": op = .abandon(run: try int("run"))
        case let other: throw ReplayError("unknown record '\(other.prefix(40))'")
        }
        var gate: [Refusal] = []
        if case .array(let a)? = j["gate"] {
            for e in a {
                guard case .array(let p) = e, p.count == 2, case .number(let o) = p[0], case .number(let b) = p[1],
                      let ordinal = Int(o), let bytes = Int(b) else { throw ReplayError("a record's gate list is invalid") }
                gate.append(Refusal(ordinal: ordinal, bytes: bytes))
            }
        }
        self.init(op: op, gate: gate)
    }
}
