import MMCore

/// A `high_alloc` step's `thp`: `true`, or `{"madvise": bool, "fallback": bool}` (`THPFaultSpec`).
extension WorkloadDefinition {
    static func parseTHPFault(_ r: JSONObjectReader) throws(MMError) -> THPFaultSpec? {
        guard r["thp"] != nil else { return nil }
        if r["thp"] == .bool(true) { return THPFaultSpec() }
        guard let t = try r.object("thp") else { return nil }
        try t.rejectUnknown(["madvise", "fallback"])
        return THPFaultSpec(madvise: try t.bool("madvise") ?? true, fallback: try t.bool("fallback") ?? true)
    }
}
