import MMCore

/// Wire format of machines: the creation request and the description every machine route answers with.
enum MachineWire {
    static let createFields = ["name", "preset", "memory_mib", "nodes", "distances", "zones", "seed", "compaction",
                               "swap_mib", "sysctl"]
    static let sysctlFields = ["min_free_kbytes", "extfrag_threshold", "compact_unevictable_allowed"]
    static let maxMemoryMiB = 16 << 20
    /// Seeds stay within JSON's exact integer range.
    static let maxSeed = (1 << 53) - 1

    /// Reads a POST /v1/machines body into a name and a configuration. Range checks that depend on the
    /// preset (alignment, zone limits) are MMCore's, which names the field the same way.
    static func parseCreate(_ body: JSONValue) throws(Problem) -> (String, MachineConfig) {
        let r = try ObjectReader(body, path: "", allowed: createFields)
        let name = try r.require("name", try r.string("name", maxBytes: 1024))
        guard Validation.isValidName(name) else {
            throw Problem.invalid("name", "machine names match \(Validation.namePattern)")
        }
        let presetName = try r.choice("preset", ArchPreset.all.map(\.name)) ?? "x86_64"
        let preset = ArchPreset.named(presetName)!
        let nodes = try r.int("nodes", 1...MachineConfig.maxNodes) ?? 1
        var distances: [[Int]]?
        if let rows = try r.array("distances", maxCount: MachineConfig.maxNodes) {
            distances = []
            for (a, row) in rows.enumerated() {
                guard case .array(let cols) = row else {
                    throw Problem.invalid("distances[\(a)]", "expected an array, got \(row.typeName)")
                }
                guard cols.count <= MachineConfig.maxNodes else { throw Problem.invalid("distances[\(a)]", "at most \(MachineConfig.maxNodes) items") }
                var out: [Int] = []
                for (b, v) in cols.enumerated() { out.append(try ObjectReader.int(v, at: "distances[\(a)][\(b)]", 0...255)) }
                distances!.append(out)
            }
        }
        var zoneLayout: [[ZoneSpec]]?
        if let perNode = try r.array("zones", maxCount: MachineConfig.maxNodes) {
            zoneLayout = []
            for (nid, list) in perNode.enumerated() {
                guard case .array(let specs) = list else {
                    throw Problem.invalid("zones[\(nid)]", "expected an array of zones, got \(list.typeName)")
                }
                guard specs.count <= ZoneType.allCases.count else { throw Problem.invalid("zones[\(nid)]", "at most \(ZoneType.allCases.count) zones") }
                var out: [ZoneSpec] = []
                for (i, spec) in specs.enumerated() {
                    let z = try ObjectReader(spec, path: "zones[\(nid)][\(i)]", allowed: ["type", "mib"])
                    let tn = try z.require("type", try z.choice("type", ZoneType.allCases.map { $0.name.lowercased() }))
                    let mib = try z.require("mib", try z.int("mib", 1...maxMemoryMiB))
                    out.append(ZoneSpec(type: ZoneType(name: tn)!, mib: mib))
                }
                zoneLayout!.append(out)
            }
        }
        let memory = try r.int("memory_mib", 1...maxMemoryMiB)
        if memory == nil && zoneLayout == nil {
            throw Problem.invalid("memory_mib", "memory_mib is required unless zones gives the layout")
        }
        let seed = try r.int("seed", 0...maxSeed) ?? 1
        let compaction = try r.bool("compaction") ?? true
        let swap = try r.int("swap_mib", 0...(1 << 24)) ?? 0
        var sysctl = SysctlSettings()
        if let s = try r.object("sysctl", allowed: sysctlFields) {
            sysctl.minFreeKbytes = try s.int("min_free_kbytes", 1...(1 << 30))
            sysctl.extfragThreshold = try s.int("extfrag_threshold", 0...1000)
            sysctl.compactUnevictableAllowed = try s.int("compact_unevictable_allowed", 0...1)
        }
        let config = MachineConfig(preset: preset, memoryMiB: memory, nodes: nodes, distances: distances,
                                   zoneLayout: zoneLayout, seed: UInt64(seed), compaction: compaction, swapMiB: swap,
                                   sysctl: sysctl)
        return (name, config)
    }

    /// The machine's description (GET /v1/machines/{name}, 201 of POST, items of the list).
    static func describe(_ box: MachineBox, into w: inout JSONWriter) throws {
        let bytes = try box.withMachine { m -> [UInt8] in
            var d = JSONWriter(capacity: 1024)
            d.beginObject()
            d.field("name", box.name)
            d.field("preset", m.preset.name)
            d.field("memory_mib", (m.totalPages << m.pageShift) >> 20)
            d.field("nodes", m.nodes.count)
            d.key("distances")
            d.beginArray()
            for n in m.nodes { d.beginArray(); for v in n.distances { d.int(v) }; d.endArray() }
            d.endArray()
            d.field("seed", m.config.seed)
            d.field("compaction", m.compactionEnabled)
            d.field("swap_mib", m.config.swapMiB)
            d.field("page_size", m.preset.pageSize)
            d.field("nr_orders", m.nrOrders)
            d.field("pageblock_order", m.pageblockOrder)
            d.field("total_pages", m.totalPages)
            d.field("free_pages", m.totalPages - m.allocatedPages)
            d.field("live_allocations", m.liveAllocations)
            d.field("state_bytes", m.stateBytes)
            d.field("generation", m.generation)
            d.field("clock_ns", m.clockNs)
            d.field("created_at", box.createdAt)
            d.key("sysctl")
            d.beginObject()
            d.field("min_free_kbytes", m.minFreeKbytes)
            d.field("extfrag_threshold", m.extfragThreshold)
            d.field("compact_unevictable_allowed", m.compactUnevictableAllowed)
            d.endObject()
            d.field("recommended_min_free_kbytes", m.recommendedMinFreeKbytes)
            d.key("zones")
            d.beginArray()
            for z in m.zones where z.populated {
                d.beginObject()
                d.field("node", z.node)
                d.field("type", z.type.name.lowercased())
                d.field("name", z.name)
                d.field("start_pfn", z.startPfn)
                d.field("present_pages", z.presentPages)
                d.field("mib", (z.presentPages << m.pageShift) >> 20)
                d.endObject()
            }
            d.endArray()
            d.endObject()
            return d.bytes
        }
        w.raw(bytes)
    }
}
