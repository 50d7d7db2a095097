import MMCore

/// The JSON of an experiment result: the table, the summary over seeds and each variant's first result.
extension FigureSummary {
    public var json: JSON {
        func r(_ d: Double) -> JSON { .number((d * 100).rounded() / 100) }
        return .object([("n", .number(Double(n))), ("mean", r(mean)), ("sd", r(sd)), ("ci95_low", r(ciLow)), ("ci95_high", r(ciHigh))])
    }
}

extension ExperimentResult {
    /// `variants` carries the first seed's full result per variant; `summary` (per variant, per figure:
    /// the values by seed, mean, sd, 95 % CI, and the paired difference from the first variant) covers
    /// every seed.
    public var json: JSON {
        let figs = ExperimentFigures.all
        let summaryJSON: [JSON] = summary.map { s in
            .object([("variant", .string(s.name)),
                     ("figures", .object(figs.indices.map { i in
                         var o: [(String, JSON)] = [("values", .array(s.values[i].map { .number(($0 * 100).rounded() / 100) }))]
                         if case .object(let f) = s.figures[i].json { o += f }
                         o.append(("difference_from_first", s.differenceFromFirst.map { $0[i].json } ?? .null))
                         return (figs[i].name, .object(o))
                     }))])
        }
        var doc: [(String, JSON)] = [
            ("name", .string(name)),
            ("workload", .string(workload)),
            ("repeat", .number(Double(repeatCount))),
            ("columns", .array(columnNames.map { .string($0) })),
            ("rows", .array(rows.map { .array($0.map { .string($0) }) })),
            ("summary", .array(summaryJSON)),
            ("variants", .array(variants.map { .object([("name", .string($0.name)), ("result", $0.result.json)]) })),
        ]
        if carriesExactRecords {
            doc.append(("replicates_exact", .array(variants.indices.map { v in .array(records(variant: v).map(\.json)) })))
        }
        return .object(doc)
    }
}
