extension MachineConfig {
    /// A machine definition for a real machine's /proc files: the image's preset, its nodes, and the
    /// `min_free_kbytes` its MIN watermarks add up to (unless `sysctl` sets one); no boot estimate (the
    /// image says what boot reserved: spanned minus managed).
    public init(procImage image: ProcImage, seed: UInt64 = 1, kernel: KernelRelease, distances: [[Int]]? = nil,
                swapMiB: Int = 0, sysctl: SysctlSettings = SysctlSettings(), transparentHugepage: TransparentHugepageSettings? = nil) {
        var s = sysctl
        if s.minFreeKbytes == nil { s.minFreeKbytes = image.minFreeKbytes }
        self.init(preset: image.preset ?? .x86_64, memoryMiB: nil, nodes: Swift.max(1, image.nodes.count), distances: distances,
                  seed: seed, kernel: kernel, swapMiB: swapMiB, sysctl: s, bootMemory: false, transparentHugepage: transparentHugepage)
        procImage = image
    }

    /// The layout of a machine built from /proc text: per node its zones in zone order, one after
    /// another from pfn 0, each exactly the pageblocks pagetypeinfo counts for it (zones need not be
    /// whole max-order blocks: a buddy never merges across a zone's edge). Whether the counts fit
    /// into those pageblocks is `ProcPlanner`'s check, made here so that an impossible image is refused
    /// before anything is built. Field names are `proc_image.nodes[n].zones[i].<field>`.
    func procLayout(_ image: ProcImage, distances: [[Int]]) throws(MMError) -> MachineLayout {
        guard let p = image.preset else {
            throw .invalidConfig(field: FieldPath("proc_image", "arch"), value: image.arch, reason: "unknown architecture (x86_64, x86, ppc64)")
        }
        guard p.pageShift == preset.pageShift, p.nrOrders == preset.nrOrders, p.pageblockOrder == preset.pageblockOrder, p.name == preset.name else {
            throw .invalidConfig(field: FieldPath("preset"), value: preset.name, reason: "must be the proc image's (\(p.name), page_shift \(p.pageShift), nr_orders \(p.nrOrders), pageblock_order \(p.pageblockOrder))")
        }
        guard image.nodes.count == nodes else {
            throw .invalidConfig(field: FieldPath("nodes"), value: "\(nodes)", reason: "the proc image has \(image.nodes.count) node(s)")
        }
        let pbPages = UInt64(1) << UInt64(p.pageblockOrder)
        var zones: [ZoneLayout] = []
        var spans: NodeSpans = []
        var pfn: UInt64 = 0
        var allocated = 0
        for (nid, node) in image.nodes.enumerated() {
            guard !node.zones.isEmpty else {
                throw .invalidConfig(field: FieldPath("proc_image", "nodes").index(nid).key("zones"), value: "[]", reason: "a node needs at least one populated zone")
            }
            let nodeStart = pfn
            var lastIdx = -1
            for (i, z) in node.zones.enumerated() {
                let field = FieldPath("proc_image", "nodes").index(nid).key("zones").index(i)
                guard let idx = p.zoneTypes.firstIndex(of: z.type), idx > lastIdx else {
                    throw .invalidConfig(field: field.key("type"), value: z.type.name, reason: "\(p.name) zones must be listed once each in zone order (\(p.zoneTypes.map(\.name).joined(separator: ", ")))")
                }
                lastIdx = idx
                guard z.free.count == Migratetype.count, z.free.allSatisfy({ $0.count == p.nrOrders }),
                      z.pageblocks.count == Migratetype.count, z.watermark.count == 3 else {
                    throw .invalidConfig(field: field, value: "shape", reason: "free needs \(Migratetype.count) rows of \(p.nrOrders) orders, pageblocks \(Migratetype.count) counts, watermark 3")
                }
                guard z.nrPageblocks > 0 else {
                    throw .invalidConfig(field: field.key("pageblocks"), value: "0", reason: "a populated zone has at least one pageblock")
                }
                guard pfn + UInt64(z.nrPageblocks) * pbPages <= UInt64(UInt32.max - 1) else {
                    throw .invalidConfig(field: field.key("pageblocks"), value: "\(z.nrPageblocks)", reason: "too large: a machine has at most 2^32-2 pages")
                }
                try ProcPlanner.checkFits(z, startPfn: Pfn(Int(pfn)), preset: p, seed: seed, field: field)
                let pages = UInt64(z.nrPageblocks) * pbPages
                zones.append(ZoneLayout(node: nid, type: z.type, indexInNode: idx, startPfn: pfn, pages: pages))
                allocated += z.managed - z.freePages
                pfn += pages
            }
            spans.append((nodeStart, pfn - nodeStart))
        }
        guard pfn <= UInt64(UInt32.max - 1) else {
            throw .invalidConfig(field: FieldPath("proc_image"), value: "\(pfn) pages", reason: "too large: at most 2^32-2 pages")
        }
        var layout = MachineLayout(preset: p, nodeSpans: spans, zones: zones, distances: distances)
        layout.procAllocatedPages = allocated
        layout.indexesFreeLists = kernel.isModern
        return layout
    }
}
