import MMCore

/// A spread experiment's parts send their replicates as records (`replicates_exact`).
extension ReplicateRecord {
    /// `{"row": [...], "figures": [...]}`, each figure as the shortest text that reads back as the same
    /// Double (Swift's `description`), never rounded.
    public var json: JSON {
        .object([("row", .array(row.map { .string($0) })), ("figures", .array(figures.map { .number($0.isFinite ? "\($0)" : "0") }))])
    }

    public init(json: JSON, path: FieldPath) throws(MMError) {
        let r = try JSONObjectReader(json, path: path)
        try r.rejectUnknown(["row", "figures"])
        guard case .array(let cells)? = r["row"], case .array(let figs)? = r["figures"] else {
            throw .invalidConfig(field: path, value: "", reason: "a replicate record has a row and figures")
        }
        var row: [String] = []
        for c in cells {
            guard case .string(let t) = c else { throw .invalidConfig(field: path.key("row"), value: "", reason: "cells are strings") }
            row.append(t)
        }
        var figures: [Double] = []
        for f in figs {
            guard case .number(let t) = f, let d = Double(t) else { throw .invalidConfig(field: path.key("figures"), value: "", reason: "figures are numbers") }
            figures.append(d)
        }
        guard figures.count == ExperimentFigures.all.count else {
            throw .invalidConfig(field: path.key("figures"), value: String(figures.count), reason: "needs \(ExperimentFigures.all.count) figures")
        }
        self.init(row: row, figures: figures)
    }
}

extension ExperimentResult {
    /// The records of a part's result document (`replicates_exact`: per variant, its replicates), checked
    /// against this result's variants and columns.
    public func exactRecords(ofPart doc: JSON, path: FieldPath) throws(MMError) -> [[ReplicateRecord]] {
        guard case .array(let perVariant)? = doc["replicates_exact"], perVariant.count == variants.count else {
            throw .invalidConfig(field: path.key("replicates_exact"), value: "", reason: "a part's result lists the replicates of each of the \(variants.count) variants")
        }
        var out: [[ReplicateRecord]] = []
        for (v, list) in perVariant.enumerated() {
            guard case .array(let items) = list else {
                throw .invalidConfig(field: path.key("replicates_exact").index(v), value: "", reason: "an array of replicate records")
            }
            var recs: [ReplicateRecord] = []
            for (k, item) in items.enumerated() {
                let r = try ReplicateRecord(json: item, path: path.key("replicates_exact").index(v).index(k))
                guard r.row.count == columnNames.count, r.row.first == variants[v].name else {
                    throw .invalidConfig(field: path.key("replicates_exact").index(v).index(k).key("row"), value: r.row.first ?? "",
                                         reason: "not a row of variant '\(variants[v].name)' with \(columnNames.count) columns")
                }
                recs.append(r)
            }
            out.append(recs)
        }
        return out
    }
}
