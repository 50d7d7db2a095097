import MMCore

extension FieldPath {
    /// The path as the wire format names fields: members joined by `.`, positions in brackets
    /// (`steps[3].high_alloc.order`, `zones[0][1].mib`); "" for the top of the document.
    public var jsonPath: String {
        var out = ""
        for s in steps {
            switch s {
            case .key(let k):
                if !out.isEmpty { out += "." }
                out += k
            case .index(let i):
                out += "[\(i)]"
            }
        }
        return out
    }
}
