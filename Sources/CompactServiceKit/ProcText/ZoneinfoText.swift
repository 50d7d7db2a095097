/// /proc/zoneinfo as `zoneinfo_show_print` (mm/vmstat.c) prints it. A zone's section starts with
/// `"Node %d, zone %8s"` at the start of a line; what is read from it, by name, is what every release
/// from 2.6.35 to 6.x has in some form:
/// - `pages free`, `min`, `low`, `high`, `spanned`, `present` (all releases), `scanned` (to 4.x), `managed`
///   (3.8+), `boost` (5.0+), `cma`, `promo` (6.x), each `"\n        %-9s %lu"`-like, without a colon;
/// - `start_pfn:` (with a colon) and `protection: (…)`;
/// - 4.8+ print the node's counters once per node under `per-node stats`, 4.14+ print unpopulated zones
///   too (up to `protection:`); both are skipped like the per-zone counters and the pagesets (whose
///   `high:`/`batch:` carry a colon, so they never read as the watermarks).
struct ZoneinfoText {
    struct Section {
        var zone: NodeZone
        var line: Int
        var values: [String: Int] = [:]
        var lines: [String: Int] = [:]
        var hasPerNodeStats = false

        func value(_ k: String) -> Int? { values[k] }
    }
    var sections: [Section]
    var hasPerNodeStats: Bool { sections.contains(where: \.hasPerNodeStats) }
    var hasManaged: Bool { sections.contains { $0.values["managed"] != nil } }

    /// The fields read; a section keeps the first of each (the `high:` of a pageset has a colon).
    static let keys: Set<String> = ["pages free", "min", "low", "high", "spanned", "present", "managed", "start_pfn:"]

    init(_ text: String) throws(ProcTextError) {
        sections = []
        for l in ProcLine.lines(text) {
            if l.text.hasPrefix("Node ") {
                guard let (nz, rest) = l.nodeZonePrefix(), rest.isEmpty else {
                    throw .malformed("zoneinfo", l.number, "expected 'Node <n>, zone <name>', got '\(l.text.prefix(80))'")
                }
                if sections.contains(where: { $0.zone == nz }) { throw .inconsistent("zoneinfo", l.number, "\(nz) appears twice") }
                sections.append(Section(zone: nz, line: l.number))
                continue
            }
            let t = l.trimmed
            if t.isEmpty { continue }
            guard !sections.isEmpty else { throw .malformed("zoneinfo", l.number, "text before the first 'Node <n>, zone <name>' line") }
            if t == "per-node stats" { sections[sections.count - 1].hasPerNodeStats = true; continue }
            let w = t.split(separator: " ", omittingEmptySubsequences: true)
            guard w.count >= 2 else { continue }
            let key = w[0] == "pages" && w[1] == "free" ? "pages free" : String(w[0])
            guard ZoneinfoText.keys.contains(key) else { continue }
            let raw = key == "pages free" ? (w.count > 2 ? w[2] : "") : w[1]
            guard let v = Int(raw), v >= 0, v <= ProcLine.maxCount else { throw .malformed("zoneinfo", l.number, "'\(key)' needs a non-negative integer, got '\(raw.prefix(20))'") }
            let i = sections.count - 1
            if sections[i].values[key] == nil {
                sections[i].values[key] = v
                sections[i].lines[key] = l.number
            }
        }
        guard !sections.isEmpty else { throw .malformed("zoneinfo", nil, "no 'Node <n>, zone <name>' section") }
        for s in sections where (s.values["present"] ?? 0) > 0 {
            for k in ["pages free", "min", "low", "high", "spanned", "present"] where s.values[k] == nil {
                throw .malformed("zoneinfo", s.line, "\(s.zone) has no '\(k)' line")
            }
        }
    }
}

/// /proc/meminfo (`meminfo_proc_show`, fs/proc/meminfo.c): `"Name:   value kB"` lines; read for MemTotal
/// (the page size, against the managed pages), AnonPages and Cached (the anonymous share of movable
/// memory).
struct MeminfoText {
    var kB: [String: Int] = [:]

    init(_ text: String) throws(ProcTextError) {
        for l in ProcLine.lines(text) {
            let t = l.trimmed
            if t.isEmpty { continue }
            let w = t.split(separator: " ", omittingEmptySubsequences: true)
            guard w.count >= 2, w[0].hasSuffix(":"), let v = Int(w[1]), v >= 0, v <= ProcLine.maxCount else {
                throw .malformed("meminfo", l.number, "expected 'Name: value [kB]', got '\(l.text.prefix(80))'")
            }
            kB[String(w[0].dropLast())] = v
        }
        guard kB["MemTotal"] != nil else { throw .malformed("meminfo", nil, "no MemTotal line") }
    }
}
