/// /proc/pagetypeinfo as mm/vmstat.c prints it, per node with memory (`pagetypeinfo_show`):
/// `"Page block order: %d"`, `"Pages per block:  %lu"`, the free-count table (`pagetypeinfo_showfree_print`:
/// `"Node %4d, zone %8s, type %12s "` and a count per order — `"%6lu "` up to 5.x, `"%s%6lu "` with a
/// `>` prefix on counts capped at 100000 since 5.4), the block-count table (`pagetypeinfo_showblockcount_print`:
/// header `"Number of blocks type "` with a column per migratetype, rows `"Node %d, zone %8s "` and
/// `"%12lu "`), and with page_owner `"Number of mixed blocks "` in the same layout
/// (`pagetypeinfo_showmixedcount_print`, 4.6+).
///
/// Migratetypes are read by name, so every column layout from 2.6.35 to 6.x reads alike: Unmovable,
/// Reclaimable, Movable, Reserve, Isolate (2.6.24–3.x; CMA before Isolate with CONFIG_CMA, 3.5+), and
/// Unmovable, Movable, Reclaimable, HighAtomic, CMA, Isolate (4.4+, HighAtomic in Reserve's place).
struct PagetypeinfoText {
    struct FreeRow {
        var type: String
        var counts: [Int]
        /// Orders whose count was printed capped (`>100000`).
        var capped: [Bool]
        var line: Int
    }
    struct Zone {
        var zone: NodeZone
        var free: [FreeRow] = []
        var blocks: [String: Int] = [:]
        var blocksLine: Int?
        var mixed: [String: Int]?
        var mixedLine: Int?
        var firstLine: Int
    }

    var pageblockOrder: Int
    var nrOrders: Int
    /// Migratetype names of the block-count header, in column order.
    var typeNames: [String]
    var zones: [Zone]
    var hasMixedSection: Bool { zones.contains { $0.mixed != nil } }

    private enum Table { case none, free, blocks, mixed }

    init(_ text: String) throws(ProcTextError) {
        var r = Reader()
        for l in ProcLine.lines(text) where !l.trimmed.isEmpty {
            if try r.header(l) { continue }
            guard let (nz, rest) = l.nodeZonePrefix() else { throw r.fail(l, "unrecognised line '\(l.text.prefix(80))'") }
            switch r.table {
            case .free: try r.freeRow(l, nz, rest)
            case .blocks, .mixed: try r.countRow(l, nz, rest)
            case .none: throw r.fail(l, "a zone row outside a table")
            }
        }
        (pageblockOrder, nrOrders, typeNames, zones) = try r.finish()
    }

    /// The parse in progress: what the headers said so far, the table being read, the zones met.
    private struct Reader {
        var pbOrder: Int?, orders: Int?
        var names: [String]?
        var zones: [Zone] = []
        var table = Table.none
        var columns: [String] = []

        func fail(_ l: ProcLine, _ d: String) -> ProcTextError { .malformed("pagetypeinfo", l.number, d) }

        /// A header line (pageblock order, pages per block, a table's header): true when `l` was one.
        mutating func header(_ l: ProcLine) throws(ProcTextError) -> Bool {
            let t = l.trimmed
            if t.hasPrefix("Page block order:") {
                guard let v = Int(t.dropFirst("Page block order:".count).trimmedBlanks()), (0..<16).contains(v) else { throw fail(l, "bad pageblock order") }
                if let p = pbOrder, p != v { throw .inconsistent("pagetypeinfo", l.number, "pageblock order \(v), earlier \(p)") }
                pbOrder = v
                table = .none
            } else if t.hasPrefix("Pages per block:") {
                guard let v = Int(t.dropFirst("Pages per block:".count).trimmedBlanks()), let p = pbOrder, v == 1 << p else {
                    throw .inconsistent("pagetypeinfo", l.number, "pages per block must be 2^(page block order) and follow it")
                }
            } else if t.hasPrefix("Free pages count per migrate type at order") {
                let w = t.dropFirst("Free pages count per migrate type at order".count).split(separator: " ")
                guard !w.isEmpty, w.enumerated().allSatisfy({ Int($0.element) == $0.offset }) else { throw fail(l, "the order header must count 0, 1, 2, …") }
                if let o = orders, o != w.count { throw .inconsistent("pagetypeinfo", l.number, "\(w.count) orders, earlier \(o)") }
                orders = w.count
                table = .free
            } else if t.hasPrefix("Number of blocks type") || t.hasPrefix("Number of mixed blocks") {
                let mixed = t.hasPrefix("Number of mixed blocks")
                columns = t.dropFirst(mixed ? "Number of mixed blocks".count : "Number of blocks type".count).split(separator: " ").map(String.init)
                guard !columns.isEmpty else { throw fail(l, "no migratetype columns") }
                if !mixed {
                    if let n = names, n != columns { throw .inconsistent("pagetypeinfo", l.number, "block columns \(columns) differ from earlier \(n)") }
                    names = columns
                }
                table = mixed ? .mixed : .blocks
            } else {
                return false
            }
            return true
        }

        /// `Node <n>, zone <name>, type <migratetype> <count per order>…` (a count may read `>100000`).
        mutating func freeRow(_ l: ProcLine, _ nz: NodeZone, _ rest: ArraySlice<Substring>) throws(ProcTextError) {
            guard rest.count >= 2, rest.first == "type" else { throw fail(l, "expected 'Node <n>, zone <name>, type <migratetype> <count per order>…'") }
            let type = String(rest[rest.startIndex + 1])
            var counts: [Int] = [], capped: [Bool] = []
            for w in rest.dropFirst(2) {
                let c = w.hasPrefix(">")
                guard let v = Int(c ? w.dropFirst() : w), v >= 0, v <= ProcLine.maxCount else { throw fail(l, "'\(w.prefix(20))' is not a free block count") }
                counts.append(v)
                capped.append(c)
            }
            guard counts.count == orders else { throw .inconsistent("pagetypeinfo", l.number, "\(counts.count) counts, the header has \(orders ?? 0) orders") }
            let i = PagetypeinfoText.zoneIndex(&zones, nz, l.number)
            if zones[i].free.contains(where: { $0.type == type }) { throw .inconsistent("pagetypeinfo", l.number, "\(nz) type \(type) appears twice") }
            zones[i].free.append(FreeRow(type: type, counts: counts, capped: capped, line: l.number))
        }

        /// A row of the block-count or mixed-block table: a count per migratetype column.
        mutating func countRow(_ l: ProcLine, _ nz: NodeZone, _ rest: ArraySlice<Substring>) throws(ProcTextError) {
            var counts: [String: Int] = [:]
            guard rest.count == columns.count else { throw .inconsistent("pagetypeinfo", l.number, "\(rest.count) counts for \(columns.count) migratetype columns") }
            for (name, w) in zip(columns, rest) {
                guard let v = Int(w), v >= 0, v <= ProcLine.maxCount else { throw fail(l, "'\(w.prefix(20))' is not a pageblock count") }
                counts[name] = v
            }
            let i = PagetypeinfoText.zoneIndex(&zones, nz, l.number)
            if table == .blocks {
                guard zones[i].blocksLine == nil else { throw .inconsistent("pagetypeinfo", l.number, "\(nz) has two block-count rows") }
                zones[i].blocks = counts
                zones[i].blocksLine = l.number
            } else {
                zones[i].mixed = counts
                zones[i].mixedLine = l.number
            }
        }

        /// The whole text read: the headers present and every zone in both tables.
        func finish() throws(ProcTextError) -> (pageblockOrder: Int, nrOrders: Int, typeNames: [String], zones: [Zone]) {
            guard let pbOrder, let orders else { throw .malformed("pagetypeinfo", nil, "no 'Page block order:' and order header") }
            guard let names else { throw .malformed("pagetypeinfo", nil, "no 'Number of blocks type' table") }
            guard pbOrder < orders else { throw .inconsistent("pagetypeinfo", nil, "page block order \(pbOrder) is not below the \(orders) orders") }
            for z in zones {
                guard z.blocksLine != nil else { throw .inconsistent("pagetypeinfo", z.firstLine, "\(z.zone) has free counts but no block-count row") }
                guard !z.free.isEmpty else { throw .inconsistent("pagetypeinfo", z.blocksLine, "\(z.zone) has a block-count row but no free counts") }
            }
            return (pbOrder, orders, names, zones)
        }
    }

    private static func zoneIndex(_ zones: inout [Zone], _ nz: NodeZone, _ line: Int) -> Int {
        if let i = zones.firstIndex(where: { $0.zone == nz }) { return i }
        zones.append(Zone(zone: nz, firstLine: line))
        return zones.count - 1
    }
}

extension Substring {
    func trimmedBlanks() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
