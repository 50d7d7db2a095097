import MMCore

extension JSONValue {
    /// The same document as MMCore's `JSON` (definitions MMCore reads itself: workloads, experiments).
    var mmcore: JSON {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let t): return .number(Double(t) ?? .nan)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(\.mmcore))
        case .object(let m): return .object(m.map { ($0.0, $0.1.mmcore) })
        }
    }
}

extension JSONWriter {
    /// Writes an MMCore `JSON` value.
    mutating func json(_ v: JSON) { raw(Array(v.encoded.utf8)) }
}
