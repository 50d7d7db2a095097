import MMCore

extension ExperimentResult {
    /// The table as Markdown, like the seed's cover letter tables; with more than one seed, the summary
    /// table follows.
    public var markdown: String {
        func table(_ cols: [String], _ rows: [[String]]) -> String {
            var out = "| " + cols.joined(separator: " | ") + " |\n"
            out += "|" + cols.map { _ in "---" }.joined(separator: "|") + "|\n"
            for r in rows { out += "| " + r.joined(separator: " | ") + " |\n" }
            return out
        }
        var out = table(columnNames, rows)
        if repeatCount > 1 { out += "\n" + table(ExperimentResult.summaryColumns, summaryRows) }
        return out
    }
}
