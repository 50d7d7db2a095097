import MMCore

/// `proc_image`, a real machine's memory inside a machine definition, as JSON.
extension ProcImage {
    static let zoneKeys: Set<String> = ["type", "start_pfn", "spanned", "present", "managed", "watermark", "free", "pageblocks", "mixed_blocks"]

    /// The image as JSON (inside a machine definition: `proc_image`), as `init(json:)` reads it.
    public var json: JSON {
        func ints(_ a: [Int]) -> JSON { .array(a.map { .number(Double($0)) }) }
        let ns: [JSON] = nodes.map { node in
            .object([("zones", .array(node.zones.map { z in
                var m: [(String, JSON)] = [("type", .string(z.type.name)), ("start_pfn", .number(Double(z.startPfn))),
                                           ("spanned", .number(Double(z.spanned))), ("present", .number(Double(z.present))),
                                           ("managed", .number(Double(z.managed))), ("watermark", ints(z.watermark)),
                                           ("free", .array(z.free.map(ints))), ("pageblocks", ints(z.pageblocks))]
                if let mb = z.mixedBlocks { m.append(("mixed_blocks", ints(mb))) }
                return .object(m)
            }))])
        }
        return .object([("arch", .string(arch)), ("page_shift", .number(Double(pageShift))), ("nr_orders", .number(Double(nrOrders))),
                        ("pageblock_order", .number(Double(pageblockOrder))), ("anon_percent", .number(Double(anonPercent))),
                        ("nodes", .array(ns))])
    }

    /// Reads `proc_image` (what `json` writes); shapes are checked here, whether the counts fit when
    /// the machine is laid out (`MachineConfig.validate`).
    public init(json: JSON, path: FieldPath) throws(MMError) {
        let r = try JSONObjectReader(json, path: path)
        try r.rejectUnknown(["arch", "page_shift", "nr_orders", "pageblock_order", "anon_percent", "nodes"])
        let arch = try r.requiredString("arch")
        guard ArchPreset.named(arch) != nil else {
            throw .invalidConfig(field: r.field("arch"), value: arch, reason: "unknown architecture (x86_64, x86, ppc64)")
        }
        let nrOrders = try r.requiredInt("nr_orders", in: 1...MachineConfig.maxOrders)
        let slots = Migratetype.count
        func intArray(_ v: JSON?, _ field: FieldPath, count: Int) throws(MMError) -> [Int] {
            guard case .array(let a)? = v, a.count == count else {
                throw .invalidConfig(field: field, value: v?.typeName ?? "missing", reason: "must be an array of \(count) integers")
            }
            var out: [Int] = []
            for (i, e) in a.enumerated() {
                guard let d = e.doubleValue, d == d.rounded(), d >= 0, d < 1e12 else {
                    throw .invalidConfig(field: field.index(i), value: e.encoded, reason: "must be a non-negative integer")
                }
                out.append(Int(d))
            }
            return out
        }
        var nodes: [Node] = []
        for (n, nv) in (try r.array("nodes", maxCount: MachineConfig.maxNodes) ?? []).enumerated() {
            let nr = try JSONObjectReader(nv, path: r.field("nodes").index(n))
            try nr.rejectUnknown(["zones"])
            var zones: [Zone] = []
            for (i, zv) in (try nr.array("zones", maxCount: 8) ?? []).enumerated() {
                let zr = try JSONObjectReader(zv, path: nr.field("zones").index(i))
                try zr.rejectUnknown(ProcImage.zoneKeys)
                let tname = try zr.requiredString("type")
                guard let t = ZoneType(name: tname) else {
                    throw .invalidConfig(field: zr.field("type"), value: tname, reason: "unknown zone type")
                }
                guard case .array(let rows)? = zr["free"], rows.count == slots else {
                    throw .invalidConfig(field: zr.field("free"), value: zr["free"]?.typeName ?? "missing", reason: "must be \(slots) arrays of \(nrOrders) integers")
                }
                var free: [[Int]] = []
                for (s, row) in rows.enumerated() { free.append(try intArray(row, zr.field("free").index(s), count: nrOrders)) }
                let maxPages = 1 << 32
                zones.append(Zone(type: t, startPfn: try zr.requiredInt("start_pfn", in: 0...(1 << 40)),
                                  spanned: try zr.requiredInt("spanned", in: 0...maxPages), present: try zr.requiredInt("present", in: 0...maxPages),
                                  managed: try zr.requiredInt("managed", in: 0...maxPages),
                                  watermark: try intArray(zr["watermark"], zr.field("watermark"), count: 3), free: free,
                                  pageblocks: try intArray(zr["pageblocks"], zr.field("pageblocks"), count: slots),
                                  mixedBlocks: zr["mixed_blocks"] == nil ? nil : try intArray(zr["mixed_blocks"], zr.field("mixed_blocks"), count: slots)))
            }
            nodes.append(Node(zones: zones))
        }
        self.init(arch: arch, pageShift: try r.requiredInt("page_shift", in: 12...16), nrOrders: nrOrders,
                  pageblockOrder: try r.requiredInt("pageblock_order", in: 0...(MachineConfig.maxOrders - 1)),
                  nodes: nodes, anonPercent: try r.int("anon_percent", in: 0...100) ?? 50)
    }
}
