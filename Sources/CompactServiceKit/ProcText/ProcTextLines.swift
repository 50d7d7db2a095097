/// Shared pieces of the /proc text readers (ProcText/*.swift): numbered lines, the tokens of a line,
/// and the error that names the file and line.

/// A line of a /proc file with its 1-based number.
struct ProcLine {
    /// The largest count or page number read (a machine has at most 2^32-2 pages): bounds the sums.
    static let maxCount = 1 << 40
    var number: Int
    var text: String
    /// The line's words, split at spaces and tabs, with the commas the kernel's `"Node %d, zone %8s, "`
    /// prefixes carry removed.
    var words: [Substring] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," })
    }
    var trimmed: Substring {
        text.drop(while: { $0 == " " || $0 == "\t" })
    }

    static func lines(_ s: String) -> [ProcLine] {
        var out: [ProcLine] = []
        var n = 0
        for l in s.split(separator: "\n", omittingEmptySubsequences: false) {
            n += 1
            let t = l.hasSuffix("\r") ? String(l.dropLast()) : String(l)
            out.append(ProcLine(number: n, text: t))
        }
        return out
    }
}

/// What is wrong with a /proc text: the file (`buddyinfo`, `pagetypeinfo`, `zoneinfo`, `meminfo`), the
/// line (nil when no one line is to blame), and whether the text does not parse (400) or parses but
/// disagrees with itself or another file (422).
struct ProcTextError: Error, Sendable {
    var file: String
    var line: Int?
    var detail: String
    var malformed: Bool

    static func malformed(_ file: String, _ line: Int?, _ detail: String) -> ProcTextError {
        ProcTextError(file: file, line: line, detail: detail, malformed: true)
    }
    static func inconsistent(_ file: String, _ line: Int?, _ detail: String) -> ProcTextError {
        ProcTextError(file: file, line: line, detail: detail, malformed: false)
    }

    /// The problem+json answer: field `from_proc.<file>`, the line in `detail` and as member `line`.
    var problem: Problem {
        let where_ = line.map { "line \($0): " } ?? ""
        var p = Problem(malformed ? 400 : 422, "from_proc.\(file) \(where_)\(detail)", field: "from_proc.\(file)")
        if let line { p.members = [("line", line)] }
        return p
    }
}

/// "Node <n>, zone <name>" as the kernel prints it (`"Node %d, zone %8s"`), with the node id.
struct NodeZone: Hashable, Sendable, CustomStringConvertible {
    var node: Int
    var zone: String
    var description: String { "Node \(node), zone \(zone)" }
}

extension ProcLine {
    /// Reads the `"Node %d, zone %8s"` prefix: the node and zone, and the words after them; nil when the
    /// line does not start with it.
    func nodeZonePrefix() -> (NodeZone, ArraySlice<Substring>)? {
        let w = words
        guard w.count >= 4, w[0] == "Node", let n = Int(w[1]), n >= 0, n < 1 << 16, w[2] == "zone" else { return nil }
        return (NodeZone(node: n, zone: String(w[3])), w[4...])
    }
}
