import MMCore
import MMFormat

/// Turns the /proc texts of a real machine (`from_proc`) into MMCore's `ProcImage`: checks that the
/// files agree with each other, decides the architecture and the kernel profile, and says what it
/// assumed. Nothing here knows about HTTP beyond the error's file and line.
struct ProcImageReader {
    /// The texts of `from_proc`.
    struct Texts {
        var buddyinfo: String?
        var pagetypeinfo: String
        var zoneinfo: String
        var meminfo: String?
        /// `x86_64`, `x86` or `ppc64`; nil: inferred.
        var arch: String?
    }

    /// Where each zone of the image came from, to name the line when MMCore refuses a count.
    struct ZoneSource {
        var zone: NodeZone
        var freeLine: Int
        var blocksLine: Int?
        var mixedLine: Int?
        var zoneinfoLine: Int
        var managedLine: Int?
    }

    var image: ProcImage
    var kernel: KernelRelease
    var kernelReason: String
    var archReason: String
    /// What the reading assumed or noticed (beside `ProcImage.placementAssumptions`).
    var notes: [String] = []
    var sources: [[ZoneSource]] = []

    /// The simulator's migratetype slot of each name pagetypeinfo prints (nil: CMA, which it does not
    /// simulate).
    static func slot(ofType name: String) -> Int?? {
        switch name {
        case "Unmovable": return .some(Migratetype.unmovable.rawValue)
        case "Reclaimable": return .some(Migratetype.reclaimable.rawValue)
        case "Movable": return .some(Migratetype.movable.rawValue)
        case "Reserve": return .some(Migratetype.reserve.rawValue)
        case "HighAtomic": return .some(Migratetype.highatomic.rawValue)
        case "Isolate": return .some(Migratetype.isolate.rawValue)
        case "CMA": return .some(nil)
        default: return nil
        }
    }

    init(_ texts: Texts, kernel explicitKernel: KernelRelease?) throws(ProcTextError) {
        let pti = try PagetypeinfoText(texts.pagetypeinfo)
        let zi = try ZoneinfoText(texts.zoneinfo)
        let bi = try texts.buddyinfo.map { s throws(ProcTextError) in try BuddyinfoText(s) }
        let mi = try texts.meminfo.map { s throws(ProcTextError) in try MeminfoText(s) }
        for name in pti.typeNames where ProcImageReader.slot(ofType: name) == nil {
            throw .malformed("pagetypeinfo", pti.zones.first?.blocksLine, "unknown migratetype '\(name.prefix(20))'")
        }
        (kernel, kernelReason) = ProcImageReader.kernel(pti, zi, explicit: explicitKernel)
        let nrOrders = pti.nrOrders, pbOrder = pti.pageblockOrder
        let pbPages = 1 << pbOrder

        // Nodes 0..<n, each with its zones in pagetypeinfo's order.
        let nodeIds = Array(Set(pti.zones.map(\.zone.node))).sorted()
        guard nodeIds == Array(0..<nodeIds.count) else {
            throw .inconsistent("pagetypeinfo", nil, "nodes \(nodeIds) with memory must be 0..\(nodeIds.count - 1) (memoryless nodes between them are not modelled)")
        }
        var nodes: [ProcImage.Node] = []
        var sources: [[ZoneSource]] = []
        var notes: [String] = []
        for nid in nodeIds {
            var zones: [ProcImage.Zone] = []
            var src: [ZoneSource] = []
            for pz in pti.zones where pz.zone.node == nid {
                let (z, s, note) = try ProcImageReader.zone(pz, zi, bi, nrOrders: nrOrders, pbPages: pbPages)
                zones.append(z)
                src.append(s)
                if let note { notes.append(note) }
            }
            zones.sort { $0.type < $1.type }
            src = zones.map { z in src.first { ZoneType(name: $0.zone.zone) == z.type }! }
            nodes.append(ProcImage.Node(zones: zones))
            sources.append(src)
        }
        if let bi { try ProcImageReader.checkBuddyinfo(bi, pti) }
        for s in zi.sections where (s.value("present") ?? 0) > 0 && !pti.zones.contains(where: { $0.zone == s.zone }) {
            throw .inconsistent("pagetypeinfo", nil, "zoneinfo (line \(s.line)) has a populated \(s.zone) that pagetypeinfo does not list")
        }
        if !zi.hasManaged { notes.append("zoneinfo has no 'managed' lines (before 3.8): managed pages are taken to be the present pages") }

        let allZones = nodes.flatMap(\.zones)
        let (arch, pageShift, archWhy) = try ProcImageReader.arch(texts.arch, zones: allZones, meminfo: mi, nrOrders: nrOrders, pbOrder: pbOrder)
        archReason = archWhy
        for (n, node) in nodes.enumerated() {
            for (i, z) in node.zones.enumerated() where !(ArchPreset.named(arch)?.zoneTypes.contains(z.type) ?? false) {
                throw .inconsistent("zoneinfo", sources[n][i].zoneinfoLine, "\(arch) has no \(z.type.name) zone")
            }
        }
        var anon = 50
        if let mi, let a = mi.kB["AnonPages"], let c = mi.kB["Cached"], a + c > 0 {
            anon = Int((Double(a) * 100 / Double(a + c)).rounded())
            notes.append("meminfo: AnonPages \(a) kB and Cached \(c) kB make \(anon) % of the movable allocated pages anonymous")
        } else {
            notes.append("no meminfo AnonPages/Cached: half of the movable allocated pages are anonymous, half page cache")
        }
        image = ProcImage(arch: arch, pageShift: pageShift, nrOrders: nrOrders, pageblockOrder: pbOrder, nodes: nodes, anonPercent: anon)
        self.notes = notes
        self.sources = sources
    }

    /// The kernel profile: the explicit one, else HighAtomic (4.4+) or `per-node stats` (4.8+) → 6.6,
    /// Reserve (2.6.24–4.3) → 2.6.35.
    static func kernel(_ pti: PagetypeinfoText, _ zi: ZoneinfoText, explicit: KernelRelease?) -> (KernelRelease, String) {
        if let explicit { return (explicit, "given in the request (kernel)") }
        if pti.typeNames.contains("HighAtomic") {
            return (.v6_6, "pagetypeinfo has a HighAtomic column (kernel 4.4 or later): the 6.6 profile")
        }
        if zi.hasPerNodeStats {
            return (.v6_6, "zoneinfo has per-node stats (kernel 4.8 or later): the 6.6 profile")
        }
        if pti.typeNames.contains("Reserve") {
            return (.v2_6_35, "pagetypeinfo has a Reserve column (MIGRATE_RESERVE, kernels 2.6.24 to 4.3): the 2.6.35 profile")
        }
        return (.v2_6_35, "neither Reserve nor HighAtomic in pagetypeinfo: the 2.6.35 profile (the default)")
    }

    /// buddyinfo lists the zones pagetypeinfo lists, and each order's count is the sum of the free
    /// lists' (a count pagetypeinfo capped is checked as at least its cap).
    static func checkBuddyinfo(_ bi: BuddyinfoText, _ pti: PagetypeinfoText) throws(ProcTextError) {
        for row in bi.rows {
            guard let pz = pti.zones.first(where: { $0.zone == row.zone }) else {
                throw .inconsistent("buddyinfo", row.line, "\(row.zone) is not in pagetypeinfo")
            }
            guard row.counts.count == pti.nrOrders else {
                throw .inconsistent("buddyinfo", row.line, "\(row.counts.count) orders, pagetypeinfo has \(pti.nrOrders)")
            }
            for o in 0..<pti.nrOrders {
                let sum = pz.free.reduce(0) { $0 + $1.counts[o] }
                let capped = pz.free.contains { $0.capped[o] }
                if capped ? row.counts[o] < sum : row.counts[o] != sum {
                    throw .inconsistent("buddyinfo", row.line, "\(row.zone) order \(o): \(row.counts[o]) free blocks, but pagetypeinfo's free lists (line \(pz.free[0].line)…) hold \(sum) (texts captured at different moments?)")
                }
            }
        }
        for pz in pti.zones where !bi.rows.contains(where: { $0.zone == pz.zone }) {
            throw .inconsistent("buddyinfo", nil, "\(pz.zone) of pagetypeinfo (line \(pz.firstLine)) is missing")
        }
    }

    /// One zone of the image from its pagetypeinfo rows and zoneinfo section, checked against each other.
    static func zone(_ pz: PagetypeinfoText.Zone, _ zi: ZoneinfoText, _ bi: BuddyinfoText?, nrOrders: Int, pbPages: Int)
        throws(ProcTextError) -> (ProcImage.Zone, ZoneSource, String?) {
        guard let type = ZoneType(name: pz.zone.zone) else {
            throw .inconsistent("pagetypeinfo", pz.firstLine, "zone type '\(pz.zone.zone.prefix(20))' is not simulated (DMA, DMA32, Normal, HighMem, Movable)")
        }
        guard let s = zi.sections.first(where: { $0.zone == pz.zone }), let present = s.value("present"), present > 0 else {
            throw .inconsistent("zoneinfo", nil, "no populated section for \(pz.zone) (pagetypeinfo line \(pz.firstLine))")
        }
        var free = [[Int]](repeating: [Int](repeating: 0, count: nrOrders), count: Migratetype.count)
        for row in pz.free {
            guard let slotOpt = slot(ofType: row.type) else {
                throw .malformed("pagetypeinfo", row.line, "unknown migratetype '\(row.type.prefix(20))'")
            }
            guard let slot = slotOpt else {
                if row.counts.contains(where: { $0 > 0 }) { throw .inconsistent("pagetypeinfo", row.line, "free CMA blocks: CMA is not simulated") }
                continue
            }
            var counts = row.counts
            for o in 0..<nrOrders where row.capped[o] {
                // A capped count is what buddyinfo's total leaves for it, when it is the only one capped.
                guard let bi, let br = bi.rows.first(where: { $0.zone == pz.zone }), pz.free.filter({ $0.capped[o] }).count == 1 else {
                    throw .inconsistent("pagetypeinfo", row.line, "order \(o) count is capped (>100000); give buddyinfo so that it can be recovered")
                }
                counts[o] = br.counts[o] - pz.free.filter { $0.type != row.type }.reduce(0) { $0 + $1.counts[o] }
            }
            for o in 0..<nrOrders { free[slot][o] += counts[o] }
        }
        var blocks = [Int](repeating: 0, count: Migratetype.count)
        for (name, v) in pz.blocks {
            guard let slotOpt = slot(ofType: name) else { throw .malformed("pagetypeinfo", pz.blocksLine, "unknown migratetype '\(name.prefix(20))'") }
            guard let slot = slotOpt else {
                if v > 0 { throw .inconsistent("pagetypeinfo", pz.blocksLine, "\(v) CMA pageblocks in \(pz.zone): CMA is not simulated") }
                continue
            }
            blocks[slot] += v
        }
        var mixed: [Int]?
        if let m = pz.mixed {
            var a = [Int](repeating: 0, count: Migratetype.count)
            for (name, v) in m { if let so = slot(ofType: name), let s = so { a[s] += v } }
            mixed = a
        }
        let spanned = s.value("spanned") ?? present
        let managed = s.value("managed") ?? present
        let nb = blocks.reduce(0, +)
        let freePages = free.reduce(0) { acc, row in row.enumerated().reduce(acc) { $0 + $1.element << $1.offset } }
        let maxBlocks = (spanned + pbPages - 1) / pbPages + 1
        guard nb > 0, nb <= maxBlocks else {
            throw .inconsistent("pagetypeinfo", pz.blocksLine, "\(nb) pageblocks in \(pz.zone), but zoneinfo (line \(s.lines["spanned"] ?? s.line)) spans \(spanned) pages: 1 to \(maxBlocks) pageblocks of \(pbPages)")
        }
        guard nb * pbPages >= managed else {
            throw .inconsistent("pagetypeinfo", pz.blocksLine, "\(nb) pageblocks of \(pbPages) pages in \(pz.zone) hold fewer than its \(managed) managed pages (zoneinfo line \(s.lines["managed"] ?? s.lines["present"] ?? s.line))")
        }
        guard managed >= freePages else {
            throw .inconsistent("zoneinfo", s.lines["managed"] ?? s.lines["present"], "\(pz.zone) manages \(managed) pages, fewer than the \(freePages) free pages of its free lists")
        }
        var note: String?
        if let pf = s.value("pages free"), pf != freePages {
            note = "\(pz.zone): zoneinfo says \(pf) pages free, the free lists hold \(freePages) (NR_FREE_PAGES counts differently or moved between reads); the free lists are used"
        }
        let z = ProcImage.Zone(type: type, startPfn: s.value("start_pfn:") ?? 0, spanned: spanned, present: present, managed: managed,
                               watermark: [s.value("min") ?? 0, s.value("low") ?? 0, s.value("high") ?? 0],
                               free: free, pageblocks: blocks, mixedBlocks: mixed)
        let src = ZoneSource(zone: pz.zone, freeLine: pz.free[0].line, blocksLine: pz.blocksLine, mixedLine: pz.mixedLine,
                             zoneinfoLine: s.line, managedLine: s.lines["managed"] ?? s.lines["present"])
        return (z, src, note)
    }

    /// The architecture and page shift: the request's, else HighMem → x86; else meminfo's MemTotal over
    /// the managed pages (64 KiB → ppc64); else 9 orders with pageblock order 8 → ppc64 with 64 KiB
    /// pages; else x86_64 (4 KiB).
    static func arch(_ given: String?, zones: [ProcImage.Zone], meminfo: MeminfoText?, nrOrders: Int, pbOrder: Int)
        throws(ProcTextError) -> (String, Int, String) {
        var shiftFromMeminfo: Int?
        let managed = zones.reduce(0) { $0 + $1.managed }
        if let kb = meminfo?.kB["MemTotal"], managed > 0 {
            // MemTotal is totalram_pages: the managed pages (present minus boot's reservations before 3.8).
            let bytes = kb * 1024 / managed
            let shift = (12...16).min { abs(bytes - (1 << $0)) < abs(bytes - (1 << $1)) }!
            if abs(bytes - (1 << shift)) * 4 <= 1 << shift { shiftFromMeminfo = shift }
        }
        if let given {
            guard ArchPreset.named(given) != nil else { throw .malformed("arch", nil, "unknown architecture '\(given.prefix(20))' (x86_64, x86, ppc64)") }
            let shift = shiftFromMeminfo ?? (given == "ppc64" && nrOrders <= 9 ? 16 : 12)
            return (given, shift, "given in the request (arch), \(1 << (shift - 10)) KiB pages")
        }
        if zones.contains(where: { $0.type == .highmem }) {
            return ("x86", 12, "a HighMem zone: 32-bit x86, 4 KiB pages")
        }
        if let s = shiftFromMeminfo {
            let arch = s == 16 ? "ppc64" : "x86_64"
            return (arch, s, "meminfo's MemTotal over the managed pages gives \(1 << (s - 10)) KiB pages: \(arch)")
        }
        if nrOrders == 9 && pbOrder == 8 {
            return ("ppc64", 16, "orders 0..8 with pageblock order 8 (16 MiB pageblocks): ppc64 with 64 KiB pages")
        }
        return ("x86_64", 12, "\(nrOrders) orders, pageblock order \(pbOrder), no HighMem: x86_64 with 4 KiB pages")
    }

    /// The line to blame for an MMCore refusal of `proc_image.nodes[n].zones[i].<part>`.
    func blame(_ field: String) -> (String, Int?) {
        let parts = field.split(separator: ".")
        guard parts.count >= 4, parts[1].hasPrefix("nodes["), parts[2].hasPrefix("zones[") else { return ("pagetypeinfo", nil) }
        let n = Int(parts[1].dropFirst(6).dropLast()) ?? -1, i = Int(parts[2].dropFirst(6).dropLast()) ?? -1
        guard sources.indices.contains(n), sources[n].indices.contains(i) else { return ("pagetypeinfo", nil) }
        let s = sources[n][i]
        switch parts[3] {
        case "managed": return ("zoneinfo", s.managedLine ?? s.zoneinfoLine)
        case "pageblocks": return ("pagetypeinfo", s.blocksLine)
        case "mixed_blocks": return ("pagetypeinfo", s.mixedLine)
        default: return ("pagetypeinfo", s.freeLine)
        }
    }
}
