/// /proc/buddyinfo as `frag_show_print` (mm/vmstat.c) prints it, unchanged from 2.6.x to 6.x: per
/// populated zone `"Node %d, zone %8s "` and `nr_free` of each order as `"%6lu "`.
struct BuddyinfoText {
    struct Row {
        var zone: NodeZone
        var counts: [Int]
        var line: Int
    }
    var rows: [Row]

    init(_ text: String) throws(ProcTextError) {
        rows = []
        for l in ProcLine.lines(text) where !l.trimmed.isEmpty {
            guard let (nz, rest) = l.nodeZonePrefix() else {
                throw .malformed("buddyinfo", l.number, "expected 'Node <n>, zone <name> <count per order>…', got '\(l.text.prefix(80))'")
            }
            var counts: [Int] = []
            for w in rest {
                guard let v = Int(w), v >= 0, v <= ProcLine.maxCount else { throw .malformed("buddyinfo", l.number, "'\(w.prefix(20))' is not a free block count") }
                counts.append(v)
            }
            guard !counts.isEmpty else { throw .malformed("buddyinfo", l.number, "\(nz) lists no orders") }
            if let first = rows.first, first.counts.count != counts.count {
                throw .inconsistent("buddyinfo", l.number, "\(nz) lists \(counts.count) orders, line \(first.line) \(first.counts.count)")
            }
            if rows.contains(where: { $0.zone == nz }) { throw .inconsistent("buddyinfo", l.number, "\(nz) appears twice") }
            rows.append(Row(zone: nz, counts: counts, line: l.number))
        }
        guard !rows.isEmpty else { throw .malformed("buddyinfo", nil, "no 'Node <n>, zone <name>' line") }
    }
}
