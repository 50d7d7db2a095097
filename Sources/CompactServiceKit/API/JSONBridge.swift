import MMCore

extension JSONWriter {
    /// Writes an MMCore `JSON` value.
    mutating func json(_ v: JSON) { raw(Array(v.encoded.utf8)) }
}
