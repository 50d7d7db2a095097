import MMCore

extension ExperimentResult {
    /// The table as CSV (RFC 4180; a header line, then one line per variant and seed). With more than one
    /// seed, a blank line and the summary table follow (`summaryColumns`: per variant and figure the mean,
    /// sd, 95 % CI, and the paired difference from the first variant with its 95 % CI).
    public var csv: String {
        func q(_ s: String) -> String { s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingAll("\"", "\"\"") + "\"" : s }
        var out = ([columnNames] + rows).map { $0.map(q).joined(separator: ",") }.joined(separator: "\n") + "\n"
        if repeatCount > 1 {
            out += "\n" + ([ExperimentResult.summaryColumns] + summaryRows).map { $0.map(q).joined(separator: ",") }.joined(separator: "\n") + "\n"
        }
        return out
    }
}

extension String {
    /// Every occurrence of the one-character `a` replaced by `b`.
    func replacingAll(_ a: String, _ b: String) -> String { split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b) }
}
