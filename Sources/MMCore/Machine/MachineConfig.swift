/// One zone of an explicit per-node layout: a type and a size, laid out in order from the node's start.
public struct ZoneSpec: Sendable, Equatable {
    public var type: ZoneType
    public var mib: Int
    public init(type: ZoneType, mib: Int) { self.type = type; self.mib = mib }
}

/// Sysctls a machine can be created with (all optional; the kernel's defaults otherwise).
public struct SysctlSettings: Sendable, Equatable {
    public var minFreeKbytes: Int?
    public var extfragThreshold: Int?
    public var compactUnevictableAllowed: Int?
    public var hugepagesTreatAsMovable: Int?
    /// vm.dirty_ratio and vm.dirty_background_ratio (PageCache/Writeback.swift; 20 and 10).
    public var dirtyRatio: Int?
    public var dirtyBackgroundRatio: Int?
    /// The modern profile's (kernel 6.6) sysctls; a machine of an older kernel refuses them
    /// (`MachineConfig+Modern.swift`).
    public var modern = ModernSysctlSettings()
    public init(minFreeKbytes: Int? = nil, extfragThreshold: Int? = nil, compactUnevictableAllowed: Int? = nil,
                hugepagesTreatAsMovable: Int? = nil, dirtyRatio: Int? = nil, dirtyBackgroundRatio: Int? = nil) {
        self.hugepagesTreatAsMovable = hugepagesTreatAsMovable
        self.dirtyRatio = dirtyRatio
        self.dirtyBackgroundRatio = dirtyBackgroundRatio
        self.minFreeKbytes = minFreeKbytes
        self.extfragThreshold = extfragThreshold
        self.compactUnevictableAllowed = compactUnevictableAllowed
    }
}

/// Everything that defines a simulated machine. `validate()` turns it into a `MachineLayout` or throws
/// an error naming the offending field; nothing is allocated before validation passes.
public struct MachineConfig: Sendable, Equatable {
    public var preset: ArchPreset
    /// Total memory in MiB, split evenly across nodes (ignored when `zoneLayout` is given, which must then agree).
    public var memoryMiB: Int?
    public var nodes: Int
    /// NUMA distances, `distances[a][b]`; default 10 local, 20 remote.
    public var distances: [[Int]]?
    /// Explicit zones per node; when nil, the preset's physical zone boundaries decide.
    public var zoneLayout: [[ZoneSpec]]?
    public var seed: UInt64
    /// The kernel the machine runs (`KernelRelease`): 2.6.34, 2.6.35 (the default) or 6.6.
    public var kernel: KernelRelease
    /// false gives the kernel without the compaction series (2.6.34, "vanilla"): another spelling of
    /// `kernel` (false is 2.6.34; setting true on 2.6.34 gives 2.6.35, and leaves a kernel with
    /// compaction as it is).
    public var compaction: Bool {
        get { kernel.hasCompaction }
        set { kernel = newValue ? (kernel.hasCompaction ? kernel : .v2_6_35) : .v2_6_34 }
    }
    public var swapMiB: Int
    public var sysctl: SysctlSettings
    /// KiB boot reserves for the kernel image, its per-CPU areas and small bootmem allocations, beside
    /// the memmap and hash tables (BootMemory.swift); nil: the preset's estimate.
    public var kernelReservedKiB: Int?
    /// false: boot reserves nothing (no memmap, kernel image or hashes): every page goes to the buddy
    /// allocator, as in a simulator of the allocator alone (unit tests of its mechanics).
    public var bootMemory: Bool
    /// `/sys/kernel/mm/transparent_hugepage/{enabled,defrag}` (kernel 6.6 only; nil: the defaults).
    public var transparentHugepage: TransparentHugepageSettings?
    /// A real machine's /proc files in typed form (`ProcImage`): the machine is laid out and filled to
    /// match them (`MachineConfig+Proc.swift`, `ProcPlanner`); `memoryMiB` and `zoneLayout` are unused then.
    public var procImage: ProcImage? = nil

    public init(preset: ArchPreset = .x86_64, memoryMiB: Int? = 1024, nodes: Int = 1, distances: [[Int]]? = nil,
                zoneLayout: [[ZoneSpec]]? = nil, seed: UInt64 = 1, compaction: Bool = true, kernel: KernelRelease? = nil,
                swapMiB: Int = 0, sysctl: SysctlSettings = SysctlSettings(), kernelReservedKiB: Int? = nil, bootMemory: Bool = true,
                transparentHugepage: TransparentHugepageSettings? = nil) {
        self.kernelReservedKiB = kernelReservedKiB
        self.bootMemory = bootMemory
        self.preset = preset
        self.memoryMiB = memoryMiB
        self.nodes = nodes
        self.distances = distances
        self.zoneLayout = zoneLayout
        self.seed = seed
        self.kernel = kernel ?? (compaction ? .v2_6_35 : .v2_6_34)
        self.swapMiB = swapMiB
        self.sysctl = sysctl
        self.transparentHugepage = transparentHugepage
    }

    public static let maxNodes = 64
    public static let maxOrders = 16

    /// Checks the configuration and computes the physical layout. Throws `MMError.invalidConfig` naming
    /// the field (`FieldPath`: `page_shift`, `memory_mib`, `nodes`, zones 1, 0, `mib`, …).
    public func validate() throws(MMError) -> MachineLayout {
        let p = preset
        guard (12...16).contains(p.pageShift) else {
            throw .invalidConfig(field: FieldPath("page_shift"), value: "\(p.pageShift)", reason: "base page size must be 4 KiB to 64 KiB (shift 12..16)")
        }
        guard (1...MachineConfig.maxOrders).contains(p.nrOrders) else {
            throw .invalidConfig(field: FieldPath("nr_orders"), value: "\(p.nrOrders)", reason: "must be 1..\(MachineConfig.maxOrders)")
        }
        guard p.pageblockOrder >= 0 && p.pageblockOrder < p.nrOrders else {
            throw .invalidConfig(field: FieldPath("pageblock_order"), value: "\(p.pageblockOrder)", reason: "must be 0..\(p.nrOrders - 1) (below nr_orders)")
        }
        guard (1...MachineConfig.maxNodes).contains(nodes) else {
            throw .invalidConfig(field: FieldPath("nodes"), value: "\(nodes)", reason: "must be 1..\(MachineConfig.maxNodes)")
        }
        guard swapMiB >= 0 && swapMiB <= (1 << 24) else {
            throw .invalidConfig(field: FieldPath("swap_mib"), value: "\(swapMiB)", reason: "must be 0..16777216")
        }
        let dist = try validatedDistances()
        try validateSysctl()
        try validateModernSettings()
        if let image = procImage { return try procLayout(image, distances: dist) }

        let unit = LayoutUnit(preset: p)
        let zones: [ZoneLayout], nodeSpans: NodeSpans
        if let layout = zoneLayout {
            (zones, nodeSpans) = try explicitLayout(layout, unit)
        } else {
            (zones, nodeSpans) = try evenLayout(unit)
        }
        let pageBytes = unit.pageBytes, unitPages = unit.pages, unitMiB = unit.mib

        let totalPages = nodeSpans.reduce(0) { $0 + $1.pages }
        guard totalPages >= 2 * unitPages else {
            throw .invalidConfig(field: FieldPath("memory_mib"), value: "\((totalPages * pageBytes) >> 20)", reason: "too small: at least \(2 * unitMiB) MiB")
        }
        guard totalPages <= UInt64(UInt32.max - 1) else {
            throw .invalidConfig(field: FieldPath("memory_mib"), value: "\((totalPages * pageBytes) >> 20)", reason: "too large: at most 2^32-2 pages")
        }
        var layout = MachineLayout(preset: p, nodeSpans: nodeSpans, zones: zones, distances: dist)
        layout.indexesFreeLists = kernel.isModern
        return layout
    }

    /// Zones are laid out in units of the larger of the max-order block and the pageblock, so that every
    /// buddy block and every pageblock lies inside one zone.
    struct LayoutUnit {
        let pageBytes: UInt64
        let pages: UInt64
        var bytes: UInt64 { pages * pageBytes }
        var mib: UInt64 { max(1, bytes >> 20) }

        init(preset p: ArchPreset) {
            pageBytes = UInt64(1) << UInt64(p.pageShift)
            pages = UInt64(1) << UInt64(max(p.nrOrders - 1, p.pageblockOrder))
        }
    }

    typealias NodeSpans = [(start: UInt64, pages: UInt64)]

    /// `zones` given per node: each zone a whole number of units, of a type the preset has, in zone
    /// order, below its type's physical limit; `memory_mib`, if given, must equal the total.
    private func explicitLayout(_ layout: [[ZoneSpec]], _ unit: LayoutUnit) throws(MMError) -> ([ZoneLayout], NodeSpans) {
        let p = preset
        let pageBytes = unit.pageBytes, unitBytes = unit.bytes, unitMiB = unit.mib
        var zones: [ZoneLayout] = []
        var nodeSpans: NodeSpans = []
        guard layout.count == nodes else {
            throw .invalidConfig(field: FieldPath("zones"), value: "\(layout.count) nodes", reason: "needs one zone list per node (\(nodes))")
        }
        var pfn: UInt64 = 0
        var lastGeneral = -1
        for (nid, list) in layout.enumerated() {
            guard !list.isEmpty else {
                throw .invalidConfig(field: FieldPath("zones").index(nid), value: "[]", reason: "a node needs at least one zone")
            }
            let nodeStart = pfn
            var lastIdx = -1
            for (i, spec) in list.enumerated() {
                let field = FieldPath("zones").index(nid).index(i)
                guard let idx = p.zoneTypes.firstIndex(of: spec.type) else {
                    throw .invalidConfig(field: field.key("type"), value: spec.type.name,
                                         reason: "preset \(p.name) has zones \(p.zoneTypes.map(\.name).joined(separator: ", "))")
                }
                guard idx > lastIdx else {
                    throw .invalidConfig(field: field.key("type"), value: spec.type.name, reason: "zones of a node must be listed in zone order, each once")
                }
                lastIdx = idx
                guard spec.mib > 0, UInt64(spec.mib) % unitMiB == 0, (UInt64(spec.mib) << 20) % unitBytes == 0 else {
                    throw .invalidConfig(field: field.key("mib"), value: "\(spec.mib)", reason: "must be a positive multiple of \(unitMiB) MiB (the largest buddy block or pageblock)")
                }
                let pages = (UInt64(spec.mib) << 20) / pageBytes
                let startBytes = pfn * pageBytes
                let endBytes = (pfn + pages) * pageBytes
                if spec.type != .movable {
                    guard idx >= lastGeneral else {
                        throw .invalidConfig(field: field.key("type"), value: spec.type.name, reason: "a lower zone cannot lie above a higher one in physical memory")
                    }
                    lastGeneral = idx
                    // The zone must end below its type's physical limit (DMA below 16 MiB, …). It may
                    // start lower than the types beneath it would (a layout without a DMA zone).
                    if let limit = p.zoneLimits.first(where: { $0.0 == spec.type })?.1, endBytes > limit {
                        throw .invalidConfig(field: field.key("mib"), value: "\(spec.mib)",
                                             reason: "\(spec.type.name) must end at or below \(limit >> 20) MiB on \(p.name) (this zone would end at \(endBytes >> 20) MiB)")
                    }
                    _ = startBytes
                    guard p.zoneLimits.contains(where: { $0.0 == spec.type }) else {
                        throw .invalidConfig(field: field.key("type"), value: spec.type.name, reason: "\(p.name) places no memory in \(spec.type.name)")
                    }
                }
                zones.append(ZoneLayout(node: nid, type: spec.type, indexInNode: idx, startPfn: pfn, pages: pages))
                pfn += pages
            }
            nodeSpans.append((nodeStart, pfn - nodeStart))
        }
        if let m = memoryMiB, UInt64(m) << 20 != pfn * pageBytes {
            throw .invalidConfig(field: FieldPath("memory_mib"), value: "\(m)", reason: "does not match the zone layout's total of \((pfn * pageBytes) >> 20) MiB")
        }
        return (zones, nodeSpans)
    }

    /// `memory_mib` split evenly over the nodes, each node's memory cut into the preset's zones at their
    /// physical limits (on unit boundaries).
    private func evenLayout(_ unit: LayoutUnit) throws(MMError) -> ([ZoneLayout], NodeSpans) {
        let p = preset
        let pageBytes = unit.pageBytes, unitPages = unit.pages, unitBytes = unit.bytes, unitMiB = unit.mib
        var zones: [ZoneLayout] = []
        var nodeSpans: NodeSpans = []
        guard let m = memoryMiB else {
            throw .invalidConfig(field: FieldPath("memory_mib"), value: "null", reason: "memory_mib or zones is required")
        }
        guard m > 0 else {
            throw .invalidConfig(field: FieldPath("memory_mib"), value: "\(m)", reason: "must be positive")
        }
        let total = UInt64(m) << 20
        guard total <= p.maxMemoryBytes else {
            throw .invalidConfig(field: FieldPath("memory_mib"), value: "\(m)", reason: "\(p.name) addresses at most \(p.maxMemoryBytes >> 20) MiB")
        }
        let perNode = total / UInt64(nodes)
        guard total % UInt64(nodes) == 0, perNode % unitBytes == 0 else {
            throw .invalidConfig(field: FieldPath("memory_mib"), value: "\(m)", reason: "must split into \(nodes) node(s) of a multiple of \(unitMiB) MiB each")
        }
        let nodePages = perNode / pageBytes
        for nid in 0..<nodes {
            let nodeStart = UInt64(nid) * nodePages
            let nodeEnd = nodeStart + nodePages
            var lowPfn: UInt64 = 0
            for (t, limit) in p.zoneLimits {
                let highPfn = limit == UInt64.max ? UInt64.max : limit / pageBytes
                let s = max(lowPfn, nodeStart), e = min(highPfn, nodeEnd)
                if s < e {
                    guard (s % unitPages) == 0 && (e % unitPages) == 0 else {
                        throw .invalidConfig(field: FieldPath("memory_mib"), value: "\(m)", reason: "zone \(t.name) boundaries must align to \(unitMiB) MiB")
                    }
                    let idx = p.zoneTypes.firstIndex(of: t)!
                    zones.append(ZoneLayout(node: nid, type: t, indexInNode: idx, startPfn: s, pages: e - s))
                }
                lowPfn = highPfn
            }
            nodeSpans.append((nodeStart, nodePages))
        }
        return (zones, nodeSpans)
    }

    private func validatedDistances() throws(MMError) -> [[Int]] {
        guard let d = distances else {
            return (0..<nodes).map { a in (0..<nodes).map { b in a == b ? 10 : 20 } }
        }
        guard d.count == nodes, d.allSatisfy({ $0.count == nodes }) else {
            throw .invalidConfig(field: FieldPath("distances"), value: "\(d.count)x\(d.first?.count ?? 0)", reason: "must be a \(nodes)x\(nodes) matrix")
        }
        for a in 0..<nodes {
            for b in 0..<nodes {
                let v = d[a][b]
                if a == b {
                    guard v == 10 else {
                        throw .invalidConfig(field: FieldPath("distances").index(a).index(b), value: "\(v)", reason: "local distance must be 10")
                    }
                } else {
                    guard (11...254).contains(v) else {
                        throw .invalidConfig(field: FieldPath("distances").index(a).index(b), value: "\(v)", reason: "remote distance must be 11..254")
                    }
                }
            }
        }
        return d
    }

    private func validateSysctl() throws(MMError) {
        if let v = sysctl.extfragThreshold, !(0...1000).contains(v) {
            throw .invalidConfig(field: FieldPath("sysctl", "extfrag_threshold"), value: "\(v)", reason: "must be 0..1000")
        }
        if let v = sysctl.compactUnevictableAllowed, !(0...1).contains(v) {
            throw .invalidConfig(field: FieldPath("sysctl", "compact_unevictable_allowed"), value: "\(v)", reason: "must be 0 or 1")
        }
        if let v = sysctl.minFreeKbytes, !(1...(1 << 30)).contains(v) {
            throw .invalidConfig(field: FieldPath("sysctl", "min_free_kbytes"), value: "\(v)", reason: "must be 1..1073741824")
        }
        for (name, v) in [("dirty_ratio", sysctl.dirtyRatio), ("dirty_background_ratio", sysctl.dirtyBackgroundRatio)] {
            if let v, !(0...100).contains(v) { throw .invalidConfig(field: FieldPath("sysctl", name), value: "\(v)", reason: "must be 0..100") }
        }
    }
}

/// One zone's place in physical memory, as computed by `MachineConfig.validate()`.
public struct ZoneLayout: Sendable, Equatable {
    public var node: Int
    public var type: ZoneType
    /// `zone_idx`: position of the type in the preset's zone list.
    public var indexInNode: Int
    public var startPfn: UInt64
    public var pages: UInt64
}

/// The validated shape of a machine: everything needed to build it.
public struct MachineLayout: Sendable {
    public var preset: ArchPreset
    public var nodeSpans: [(start: UInt64, pages: UInt64)]
    public var zones: [ZoneLayout]
    public var distances: [[Int]]
    /// A machine built from /proc text (`MachineConfig.procImage`): the pages it allocates at creation
    /// (each may take a handle slot), for the memory budget's estimate.
    public var procAllocatedPages: Int = 0
    /// A 6.6 machine indexes its MOVABLE free lists (`FreeListIndex`), for the memory budget's estimate.
    public var indexesFreeLists = false
    public var totalPages: UInt64 { nodeSpans.reduce(0) { $0 + $1.pages } }
}
