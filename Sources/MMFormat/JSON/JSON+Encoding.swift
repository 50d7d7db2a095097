/// Encoding: a value is written through `JSONWriter`, the project's one JSON writer, so a document
/// built from `JSON` values and one written member by member come out alike, without re-encoding.
extension JSON {
    /// Compact encoding; object members keep their order; a number prints its literal text.
    public var encoded: String { String(decoding: encodedBytes, as: UTF8.self) }

    /// The compact encoding as UTF-8 bytes.
    public var encodedBytes: [UInt8] {
        var w = JSONWriter()
        write(into: &w)
        return w.bytes
    }

    /// Writes this value as the next value of `w`.
    public func write(into w: inout JSONWriter) {
        switch self {
        case .null: w.null()
        case .bool(let b): w.bool(b)
        case .number(let t): w.numberText(t)
        case .string(let s): w.string(s)
        case .array(let a):
            w.beginArray()
            for v in a { v.write(into: &w) }
            w.endArray()
        case .object(let m):
            w.beginObject()
            for (k, v) in m {
                w.key(k)
                v.write(into: &w)
            }
            w.endObject()
        }
    }

    /// A number's text for a value: integral values below 10^15 without a fraction, others as Swift's
    /// shortest round-trip text; non-finite values as `null`.
    public static func format(_ d: Double) -> String {
        if !d.isFinite { return "null" }
        if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}

extension JSONWriter {
    /// Writes a `JSON` value.
    public mutating func json(_ v: JSON) { v.write(into: &self) }
}
