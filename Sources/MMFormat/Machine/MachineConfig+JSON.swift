import MMCore

extension MachineConfig {
    /// The JSON keys of a machine definition (besides `name`, which the service owns).
    public static let jsonKeys: Set<String> = ["preset", "page_shift", "nr_orders", "pageblock_order", "memory_mib", "nodes",
                                               "distances", "zones", "seed", "compaction", "swap_mib", "sysctl", "kernel_reserved_kib", "boot_memory",
                                               "kernel", "transparent_hugepage", "proc_image"]

    /// Reads a machine definition: `preset` (x86_64, x86, ppc64; default x86_64) with optional overrides
    /// `page_shift`, `nr_orders`, `pageblock_order`; `memory_mib`; `nodes`; `distances`; `zones` (per node,
    /// a list of `{"type": "DMA32", "mib": 1024}`); `seed`; `compaction`; `swap_mib`; `sysctl`
    /// (`extfrag_threshold`, `min_free_kbytes`, `compact_unevictable_allowed`, `hugepages_treat_as_movable`,
    /// `dirty_ratio`, `dirty_background_ratio`);
    /// `kernel_reserved_kib` (kernel image and per-CPU areas boot reserves); `boot_memory` (false: boot
    /// reserves nothing). Unknown keys are refused
    /// (except those in `extraKeys`, which the caller reads), and the result is validated.
    public init(json: JSON, path: FieldPath = .root, extraKeys: Set<String> = []) throws(MMError) {
        let r = try JSONObjectReader(json, path: path)
        try r.rejectUnknown(MachineConfig.jsonKeys.union(extraKeys))
        var preset = ArchPreset.x86_64
        if let name = try r.string("preset") {
            guard let p = ArchPreset.named(name) else {
                throw .invalidConfig(field: r.field("preset"), value: name, reason: "unknown preset (x86_64, x86, ppc64)")
            }
            preset = p
        }
        if let v = try r.int("page_shift", in: 12...16) { preset.pageShift = v }
        if let v = try r.int("nr_orders", in: 1...MachineConfig.maxOrders) { preset.nrOrders = v }
        if let v = try r.int("pageblock_order", in: 0...(MachineConfig.maxOrders - 1)) { preset.pageblockOrder = v }
        let nodes = try r.int("nodes", in: 1...MachineConfig.maxNodes) ?? 1
        var distances: [[Int]]?
        if let rows = try r.array("distances", maxCount: MachineConfig.maxNodes) {
            distances = []
            for (i, row) in rows.enumerated() {
                guard case .array(let cells) = row else {
                    throw .invalidConfig(field: r.field("distances").index(i), value: row.typeName, reason: "must be an array of integers")
                }
                var out: [Int] = []
                for (j, c) in cells.enumerated() {
                    guard let d = c.doubleValue, d == d.rounded(), abs(d) < 1e6 else {
                        throw .invalidConfig(field: r.field("distances").index(i).index(j), value: c.encoded, reason: "must be an integer")
                    }
                    out.append(Int(d))
                }
                distances!.append(out)
            }
        }
        var layout: [[ZoneSpec]]?
        if let perNode = try r.array("zones", maxCount: MachineConfig.maxNodes) {
            layout = []
            for (n, list) in perNode.enumerated() {
                guard case .array(let zs) = list else {
                    throw .invalidConfig(field: r.field("zones").index(n), value: list.typeName, reason: "must be an array of zones")
                }
                var specs: [ZoneSpec] = []
                for (i, z) in zs.enumerated() {
                    let zr = try JSONObjectReader(z, path: r.field("zones").index(n).index(i))
                    try zr.rejectUnknown(["type", "mib"])
                    let tname = try zr.requiredString("type")
                    guard let t = ZoneType(name: tname) else {
                        throw .invalidConfig(field: zr.field("type"), value: tname, reason: "unknown zone type (DMA, DMA32, Normal, HighMem, Movable)")
                    }
                    specs.append(ZoneSpec(type: t, mib: try zr.requiredInt("mib", in: 1...(1 << 26))))
                }
                layout!.append(specs)
            }
        }
        var sysctl = SysctlSettings()
        if let s = try r.object("sysctl") {
            try s.rejectUnknown(Set(["extfrag_threshold", "min_free_kbytes", "compact_unevictable_allowed", "hugepages_treat_as_movable",
                                     "dirty_ratio", "dirty_background_ratio"] + MachineConfig.modernSysctlKeys))
            sysctl.dirtyRatio = try s.int("dirty_ratio", in: 0...100)
            sysctl.dirtyBackgroundRatio = try s.int("dirty_background_ratio", in: 0...100)
            sysctl.hugepagesTreatAsMovable = try s.int("hugepages_treat_as_movable", in: 0...1)
            sysctl.extfragThreshold = try s.int("extfrag_threshold", in: 0...1000)
            sysctl.minFreeKbytes = try s.int("min_free_kbytes", in: 1...(1 << 30))
            sysctl.compactUnevictableAllowed = try s.int("compact_unevictable_allowed", in: 0...1)
            sysctl.modern = try MachineConfig.readModernSysctl(s)
        }
        let kernel = try MachineConfig.readKernel(r)
        let thp = try MachineConfig.readTransparentHugepage(r)
        let memory = try r.int("memory_mib", in: 1...(1 << 24))
        let procImage: ProcImage? = try r["proc_image"].map { v throws(MMError) in try ProcImage(json: v, path: r.field("proc_image")) }
        if memory == nil && layout == nil && procImage == nil {
            throw .invalidConfig(field: r.field("memory_mib"), value: "missing", reason: "memory_mib is required unless zones gives the layout")
        }
        self.init(preset: preset, memoryMiB: memory, nodes: nodes, distances: distances,
                  zoneLayout: layout, seed: UInt64(try r.int("seed", in: 0...((1 << 53) - 1)) ?? 1),
                  compaction: try r.bool("compaction") ?? true, kernel: kernel, swapMiB: try r.int("swap_mib", in: 0...(1 << 24)) ?? 0,
                  sysctl: sysctl, kernelReservedKiB: try r.int("kernel_reserved_kib", in: 0...(1 << 22)),
                  bootMemory: try r.bool("boot_memory") ?? true, transparentHugepage: thp)
        self.procImage = procImage
        // Field names of validation errors are relative to this object.
        do { _ = try validate() } catch {
            if case .invalidConfig(let f, let v, let reason) = error { throw .invalidConfig(field: r.path.appending(f), value: v, reason: reason) }
            throw error
        }
    }

    /// This configuration as JSON (the same keys `init(json:)` reads).
    public var json: JSON {
        var m: [(String, JSON)] = [("preset", .string(preset.name)), ("page_shift", .number(Double(preset.pageShift))),
                                   ("nr_orders", .number(Double(preset.nrOrders))), ("pageblock_order", .number(Double(preset.pageblockOrder)))]
        if let mem = memoryMiB { m.append(("memory_mib", .number(Double(mem)))) }
        m.append(("nodes", .number(Double(nodes))))
        if let d = distances { m.append(("distances", .array(d.map { .array($0.map { .number(Double($0)) }) }))) }
        if let l = zoneLayout {
            m.append(("zones", .array(l.map { .array($0.map { .object([("type", .string($0.type.name)), ("mib", .number(Double($0.mib)))]) }) })))
        }
        m.append(("seed", .number(Double(seed))))
        m.append(("compaction", .bool(compaction)))
        m.append(("swap_mib", .number(Double(swapMiB))))
        var s: [(String, JSON)] = []
        if let v = sysctl.extfragThreshold { s.append(("extfrag_threshold", .number(Double(v)))) }
        if let v = sysctl.minFreeKbytes { s.append(("min_free_kbytes", .number(Double(v)))) }
        if let v = sysctl.compactUnevictableAllowed { s.append(("compact_unevictable_allowed", .number(Double(v)))) }
        if let v = sysctl.hugepagesTreatAsMovable { s.append(("hugepages_treat_as_movable", .number(Double(v)))) }
        if let v = sysctl.dirtyRatio { s.append(("dirty_ratio", .number(Double(v)))) }
        if let v = sysctl.dirtyBackgroundRatio { s.append(("dirty_background_ratio", .number(Double(v)))) }
        appendModernSysctlJSON(&s)
        m.append(("sysctl", .object(s)))
        if let k = kernelReservedKiB { m.append(("kernel_reserved_kib", .number(Double(k)))) }
        if !bootMemory { m.append(("boot_memory", .bool(false))) }
        appendModernJSON(&m)
        if let p = procImage { m.append(("proc_image", p.json)) }
        return .object(m)
    }
}
