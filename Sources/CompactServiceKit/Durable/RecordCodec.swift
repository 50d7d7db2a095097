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
        let r = RecordReader(record: j)
        self.init(op: try MachineRecord.readOp(r), gate: try MachineRecord.readGate(j))
    }

    /// The members of a record read with the error replay reports when one is missing or of another type.
    private struct RecordReader {
        let record: JSON

        subscript(_ k: String) -> JSON? { record[k] }

        func str(_ k: String, _ o: JSON? = nil) throws(ReplayError) -> String {
            guard case .string(let s)? = (o ?? record)[k] else { throw ReplayError("a record lacks \(k)") }
            return s
        }
        func int(_ k: String, _ o: JSON? = nil) throws(ReplayError) -> Int {
            guard case .number(let t)? = (o ?? record)[k], let v = Int(t) else { throw ReplayError("a record lacks the integer \(k)") }
            return v
        }
        func u64(_ k: String, _ o: JSON? = nil) throws(ReplayError) -> UInt64 {
            guard case .number(let t)? = (o ?? record)[k], let v = UInt64(t) else { throw ReplayError("a record lacks the integer \(k)") }
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
    }

    /// The operation a record names, with its members.
    private static func readOp(_ r: RecordReader) throws(ReplayError) -> Op {
        switch try r.str("op") {
        case "create":
            guard let c = r["config"] else { throw ReplayError("a create record lacks config") }
            let config: MachineConfig
            do { config = try MachineConfig(json: c) } catch { throw ReplayError("a create record's config is invalid: \(error)") }
            return .create(name: try r.str("name"), instance: try r.int("instance"), createdAt: try r.str("created_at"), config: config)
        case "alloc":
            return .allocate(try r.request(r["request"]), count: try r.int("count"), tag: try r.optStr("tag", r.record), keep: try r.int("keep"))
        case "alloc_steps":
            var begin: AllocBatchSpec?
            if let b = r["begin"] { begin = AllocBatchSpec(request: try r.request(b["request"]), count: try r.int("count", b), tag: try r.optStr("tag", b)) }
            return .allocSteps(run: try r.int("run"), begin: begin, calls: try r.int("calls"))
        case "alloc_stop": return .allocStop(run: try r.int("run"))
        case "free_handles": return .freeHandles(try readHandles(r["handles"]))
        case "free_tag": return .freeTag(try r.str("tag"), try readFreePattern(r))
        case "free": return .free(try r.u64("handle"))
        case "sysctl": return .sysctl(name: try r.str("name"), value: try r.int("value"))
        case "thp": return .thp(file: try r.str("file"), value: try r.str("value"))
        case "compact":
            var begin: CompactSpec?
            if let b = r["begin"] { begin = CompactSpec(node: try r.optInt("node", b)) }
            return .compact(run: try r.int("run"), begin: begin, calls: try r.int("calls"))
        case "compact_cancel": return .compactCancel(run: try r.int("run"))
        case "workload": return .workload(run: try r.int("run"), job: try r.str("job"), begin: r["begin"], calls: try r.int("calls"))
        case "workload_cancel": return .workloadCancel(run: try r.int("run"))
        case "abandon": return .abandon(run: try r.int("run"))
        case let other: throw ReplayError("unknown record '\(other.prefix(40))'")
        }
    }

    private static func readHandles(_ v: JSON?) throws(ReplayError) -> [UInt64] {
        guard case .array(let a)? = v else { throw ReplayError("a free record lacks handles") }
        var hs: [UInt64] = []
        hs.reserveCapacity(a.count)
        for v in a {
            guard case .number(let t) = v, let h = UInt64(t) else { throw ReplayError("a free record holds a bad handle") }
            hs.append(h)
        }
        return hs
    }

    private static func readFreePattern(_ r: RecordReader) throws(ReplayError) -> FreePattern {
        switch r["pattern"] {
        case .string("all")?: return .all
        case .string("every_other")?: return .everyOther
        case .object(let o)?:
            guard case .number(let f)? = JSON.object(o)["random"], let fraction = Double(f) else { throw ReplayError("a free record's pattern is invalid") }
            return .random(fraction: fraction, seed: try r.u64("seed", .object(o)))
        default: throw ReplayError("a free record's pattern is invalid")
        }
    }

    /// The state gate's refusals the record's section met: (ordinal, bytes) pairs.
    private static func readGate(_ j: JSON) throws(ReplayError) -> [Refusal] {
        var gate: [Refusal] = []
        if case .array(let a)? = j["gate"] {
            for e in a {
                guard case .array(let p) = e, p.count == 2, case .number(let o) = p[0], case .number(let b) = p[1],
                      let ordinal = Int(o), let bytes = Int(b) else { throw ReplayError("a record's gate list is invalid") }
                gate.append(Refusal(ordinal: ordinal, bytes: bytes))
            }
        }
        return gate
    }
}
