import MMCore
import MMFormat

/// A job as the state directory keeps it (`DIR/jobs/<id>.json`): everything `GET /v1/jobs/{id}` and its
/// result show, the result documents as the exact bytes that were served.
extension Job {
    func persistedDocument() -> [UInt8] {
        let s = snapshot
        var w = JSONWriter(capacity: 1024 + (s.resultJSON?.count ?? 0) * 2)
        w.beginObject()
        w.field("format", 1)
        w.field("id", id)
        w.field("kind", kind)
        w.field("machine", machine)
        w.key("machine_instance")
        if let i = machineInstance { w.int(i) } else { w.null() }
        w.field("workload", workload)
        w.field("created_at", createdAt)
        w.field("state", s.state.rawValue)
        w.field("step", s.step)
        w.field("steps", s.steps)
        w.field("variant", s.variant)
        w.field("variants", s.variants)
        w.field("variant_name", s.variantName)
        w.field("result", s.resultJSON.map { String(decoding: $0, as: UTF8.self) })
        w.field("csv", s.csv)
        w.field("markdown", s.markdown)
        w.key("error")
        Job.writeError(s.error, into: &w)
        w.endObject()
        return w.bytes
    }

    /// A job read back from its file; nil when the file does not hold one.
    convenience init?(persisted bytes: [UInt8]) {
        guard let j = try? JSON.parse(bytes: bytes), case .object = j else { return nil }
        func str(_ k: String) -> String? { if case .string(let v)? = j[k] { return v }; return nil }
        func int(_ k: String, _ o: JSON? = nil) -> Int? { if case .number(let t)? = (o ?? j)[k] { return Int(t) }; return nil }
        guard let id = str("id"), let kind = str("kind"), let workload = str("workload"), let createdAt = str("created_at"),
              let stateName = str("state"), let state = JobState(rawValue: stateName) else { return nil }
        var s = Status()
        s.state = state
        s.step = int("step") ?? 0
        s.steps = int("steps") ?? 0
        s.variant = int("variant") ?? 0
        s.variants = int("variants") ?? 1
        s.variantName = str("variant_name")
        s.resultJSON = str("result").map { Array($0.utf8) }
        s.csv = str("csv")
        s.markdown = str("markdown")
        if let e = j["error"], case .object(let members) = e, let status = int("status", e) {
            var p = Problem(status, { if case .string(let d)? = e["detail"] { return d }; return "" }(),
                            field: { if case .string(let f)? = e["field"] { return f }; return nil }())
            for (k, v) in members {
                guard case .number(let t) = v, let n = Int(t), let key = Job.memberKey(k) else { continue }
                p.members.append((key, n))
            }
            s.error = p
        }
        self.init(id: id, kind: kind, machine: str("machine"), machineInstance: int("machine_instance"), workload: workload,
                  steps: s.steps, variants: s.variants, createdAt: createdAt, status: s)
    }

    /// The extension members problems carry (their keys are static strings).
    static func memberKey(_ k: String) -> StaticString? {
        switch k {
        case "budget_bytes": return "budget_bytes"
        case "used_bytes": return "used_bytes"
        case "needed_bytes": return "needed_bytes"
        case "free_bytes": return "free_bytes"
        case "reserve_bytes": return "reserve_bytes"
        default: return nil
        }
    }
}
