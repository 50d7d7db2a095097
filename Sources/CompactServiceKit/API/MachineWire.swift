import MMCore
import MMFormat

/// Wire format of machines: the creation request and the description every machine route answers with.
enum MachineWire {
    static let createFields = ["name", "preset", "memory_mib", "nodes", "distances", "zones", "seed", "compaction",
                               "swap_mib", "sysctl", "kernel_reserved_kib", "boot_memory", "kernel", "transparent_hugepage"]

    /// Reads a POST /v1/machines body into a name and a configuration. The machine keys are MMCore's
    /// (`MachineConfig(json:)`, which experiments use too), so both read machines the same way and name
    /// fields the same way; range checks that depend on the preset (alignment, zone limits) included.
    static func parseCreate(_ body: JSON) throws -> (String, MachineConfig) {
        let r = try ObjectReader(body, path: "", allowed: createFields)
        let name = try r.require("name", try r.string("name", maxBytes: 1024))
        guard Validation.isValidName(name) else {
            throw Problem.invalid("name", "machine names match \(Validation.namePattern)")
        }
        return (name, try MachineConfig(json: body, extraKeys: ["name"]))
    }

    /// The members a creation from a real machine's /proc files takes (`from_proc`; README "A real
    /// machine as the starting state"): the texts, and what is not in them.
    static let fromProcFields = ["name", "seed", "kernel", "swap_mib", "sysctl", "distances", "transparent_hugepage", "from_proc"]
    static let fromProcTextFields = ["buddyinfo", "pagetypeinfo", "zoneinfo", "meminfo", "arch"]
    /// The largest /proc text accepted (a zoneinfo of many CPUs' pagesets is long; the body limit,
    /// `--max-body-bytes`, applies first).
    static let maxProcTextBytes = 16 << 20

    /// Whether a creation body builds the machine from /proc text.
    static func isFromProc(_ body: JSON) -> Bool {
        if case .object(let m) = body { return m.contains { $0.0 == "from_proc" } }
        return false
    }

    /// Reads a creation from /proc text: the texts become a `ProcImage` (ProcText/), which with the
    /// other members becomes a machine definition read the ordinary way (`MachineConfig(json:)`, so
    /// the journal's create record and snapshots carry it as `proc_image`). A count MMCore cannot lay
    /// out is reported at the text's line.
    static func parseFromProc(_ body: JSON) throws -> (String, MachineConfig, ProcImageReader) {
        let r = try ObjectReader(body, path: "", allowed: fromProcFields)
        let name = try r.require("name", try r.string("name", maxBytes: 1024))
        guard Validation.isValidName(name) else {
            throw Problem.invalid("name", "machine names match \(Validation.namePattern)")
        }
        let fp = try r.require("from_proc", try r.object("from_proc", allowed: fromProcTextFields))
        let texts = ProcImageReader.Texts(
            buddyinfo: try fp.string("buddyinfo", maxBytes: maxProcTextBytes),
            pagetypeinfo: try fp.require("pagetypeinfo", try fp.string("pagetypeinfo", maxBytes: maxProcTextBytes)),
            zoneinfo: try fp.require("zoneinfo", try fp.string("zoneinfo", maxBytes: maxProcTextBytes)),
            meminfo: try fp.string("meminfo", maxBytes: maxProcTextBytes),
            arch: try fp.choice("arch", ArchPreset.all.map(\.name)))
        var kernel: KernelRelease?
        if let k = try r.string("kernel") {
            guard let kr = KernelRelease(name: k) else { throw Problem.invalid("kernel", "unknown kernel '\(k.prefix(20))' (\(KernelRelease.names))") }
            kernel = kr
        }
        let reader = try readProc(texts, kernel: kernel)
        let image = reader.image
        var members: [(String, JSON)] = [
            ("preset", .string(image.arch)), ("page_shift", .number(Double(image.pageShift))),
            ("nr_orders", .number(Double(image.nrOrders))), ("pageblock_order", .number(Double(image.pageblockOrder))),
            ("nodes", .number(Double(image.nodes.count))), ("boot_memory", .bool(false)), ("kernel", .string(reader.kernel.name)),
        ]
        for k in ["seed", "swap_mib", "distances", "transparent_hugepage"] { if let v = r.raw(k) { members.append((k, v)) } }
        var sysctl: [(String, JSON)] = []
        if let v = r.raw("sysctl") {
            guard case .object(let m) = v else { throw Problem.invalid("sysctl", "expected an object, got \(v.typeName)") }
            sysctl = m
        }
        if !sysctl.contains(where: { $0.0 == "min_free_kbytes" }) { sysctl.append(("min_free_kbytes", .number(Double(image.minFreeKbytes)))) }
        members.append(("sysctl", .object(sysctl)))
        members.append(("proc_image", image.json))
        return (name, try procConfig(.object(members), reader), reader)
    }

    static func readProc(_ texts: ProcImageReader.Texts, kernel: KernelRelease?) throws(Problem) -> ProcImageReader {
        do { return try ProcImageReader(texts, kernel: kernel) } catch { throw error.problem }
    }

    /// The machine definition; MMCore's refusal of a count (`proc_image.…`) names the text's line.
    static func procConfig(_ json: JSON, _ reader: ProcImageReader) throws -> MachineConfig {
        do {
            return try MachineConfig(json: json)
        } catch {
            if case .invalidConfig(let field, _, let reason) = error, field.hasPrefix(FieldPath("proc_image")) {
                let (file, line) = reader.blame(field.jsonPath)
                throw ProcTextError.inconsistent(file, line, reason).problem
            }
            throw error
        }
    }

    /// The 201 of a creation from /proc text: the machine's description with `from_proc`, what was
    /// decided and assumed.
    static func describeFromProc(_ box: MachineBox, _ reader: ProcImageReader) throws -> JSONWriter {
        var f = JSONWriter(capacity: 4096)
        f.beginObject()
        f.field("kernel", reader.kernel.name)
        f.field("kernel_reason", reader.kernelReason)
        f.field("arch", reader.image.arch)
        f.field("arch_reason", reader.archReason)
        f.field("page_size", 1 << reader.image.pageShift)
        f.field("nr_orders", reader.image.nrOrders)
        f.field("pageblock_order", reader.image.pageblockOrder)
        f.field("anon_percent", reader.image.anonPercent)
        f.field("min_free_kbytes", box.config.sysctl.minFreeKbytes ?? reader.image.minFreeKbytes)
        f.key("assumptions")
        f.beginArray()
        for a in reader.notes + ProcImage.placementAssumptions { f.string(a) }
        f.endArray()
        f.endObject()
        var bytes = try description(box)
        if bytes.last == UInt8(ascii: "}") { bytes.removeLast() }
        bytes += Array(",\"from_proc\":".utf8) + f.bytes + Array("}".utf8)
        var w = JSONWriter(capacity: bytes.count)
        w.raw(bytes)
        return w
    }

    /// The definition of `PUT /v1/machines/{name}`: the body of a create, whose `name` may be left out
    /// and must otherwise be the path's.
    static func parsePut(_ body: JSON, name: String) throws -> MachineConfig {
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
        if m.kernel.hasHugepagesTreatAsMovable { d.field("hugepages_treat_as_movable", m.hugepagesTreatAsMovable) }
        d.field("dirty_ratio", m.dirtyRatio)
        d.field("dirty_background_ratio", m.dirtyBackgroundRatio)
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
            d.field("node", z.node.rawValue)
            d.field("type", z.type.name.lowercased())
            d.field("name", z.name)
            d.field("start_pfn", z.startPfn.rawValue)
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
