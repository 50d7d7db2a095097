import MMCore

/// Wire format of machines: the creation request and the description every machine route answers with.
enum MachineWire {
    static let createFields = ["name", "preset", "memory_mib", "nodes", "distances", "zones", "seed", "compaction",
                               "swap_mib", "sysctl", "kernel_reserved_kib", "boot_memory", "kernel", "transparent_hugepage"]

    /// Reads a POST /v1/machines body into a name and a configuration. The machine keys are MMCore's
    /// (`MachineConfig(json:)`, which experiments use too), so both read machines the same way and name
    /// fields the same way; range checks that depend on the preset (alignment, zone limits) included.
    static func parseCreate(_ body: JSONValue) throws -> (String, MachineConfig) {
        let r = try ObjectReader(body, path: "", allowed: createFields)
        let name = try r.require("name", try r.string("name", maxBytes: 1024))
        guard Validation.isValidName(name) else {
            throw Problem.invalid("name", "machine names match \(Validation.namePattern)")
        }
        return (name, try MachineConfig(json: body, extraKeys: ["name"]))
    }

    /// The definition of `PUT /v1/machines/{name}`: the body of a create, whose `name` may be left out
    /// and must otherwise be the path's.
    static func parsePut(_ body: JSONValue, name: String) throws -> MachineConfig {
        let r = try ObjectReader(body, path: "", allowed: createFields)
        if let n = try r.string("name", maxBytes: 1024), n != name {
            throw Problem.invalid("name", "the body names '\(n.prefix(64))' but the path '\(name)'; leave it out or make them equal")
        }
        return try MachineConfig(json: body, extraKeys: ["name"])
    }

    /// The machine's description (GET /v1/machines/{name}, 201 of POST, items of the list).
    static func describe(_ box: MachineBox, into w: inout JSONWriter) throws {
        w.raw(try description(box))
    }

    /// The description, rendered under the machine's lock when the cached one is stale.
    static func description(_ box: MachineBox) throws -> [UInt8] {
        try box.document(.description) { render(box, $0) }
    }

    /// The cached description when it is current (no machine lock); nil otherwise.
    static func cachedDescription(_ box: MachineBox) -> [UInt8]? { box.cachedDocument(.description) }

    private static func render(_ box: MachineBox, _ m: Machine) -> [UInt8] {
        var d = JSONWriter(capacity: 1024)
        d.beginObject()
        d.field("name", box.name)
        d.field("instance", box.instance)
        d.field("preset", m.preset.name)
        d.field("memory_mib", (m.totalPages << m.pageShift) >> 20)
        d.field("nodes", m.nodes.count)
        d.key("distances")
        d.beginArray()
        for n in m.nodes { d.beginArray(); for v in n.distances { d.int(v) }; d.endArray() }
        d.endArray()
        d.field("seed", m.config.seed)
        d.field("compaction", m.compactionEnabled)
        d.field("kernel", m.kernel.name)
        d.field("swap_mib", m.config.swapMiB)
        d.field("page_size", m.preset.pageSize)
        d.field("nr_orders", m.nrOrders)
        d.field("pageblock_order", m.pageblockOrder)
        d.field("total_pages", m.totalPages)
        d.field("mem_total_pages", m.memTotalPages)
        d.field("free_pages", m.nrFreePagesTotal)
        d.field("pcp_pages", m.pcpPages)
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
        d.field("hugepages_treat_as_movable", m.hugepagesTreatAsMovable)
        if let v = m.compactionProactiveness { d.field("compaction_proactiveness", v) }
        if let v = m.watermarkBoostFactor { d.field("watermark_boost_factor", v) }
        if let v = m.watermarkScaleFactor { d.field("watermark_scale_factor", v) }
        d.endObject()
        if let e = m.thpEnabled, let df = m.thpDefrag {
            d.key("transparent_hugepage")
            d.beginObject()
            d.field("enabled", e.rawValue)
            d.field("defrag", df.rawValue)
            d.endObject()
        }
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
            d.field("free_pages", m.nrFreePages(zone: z.id))
            // The extfrag index at the huge-page order (pageblock_order), as debugfs prints it.
            d.key("fragmentation_index")
            d.thousandths(m.fragmentationIndex(zone: z.id, order: m.pageblockOrder))
            d.endObject()
        }
        d.endArray()
        d.endObject()
        return d.bytes
    }
}
