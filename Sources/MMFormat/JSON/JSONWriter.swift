/// The project's one JSON writer: builds a document straight into bytes, keys in the order written (so
/// output is deterministic). `JSON` values are written through it too (`JSON+Encoding.swift`). About three
/// times cheaper per document than Foundation's JSONEncoder (reference §5), which matters for the stats
/// document.
///
/// Commas are placed automatically: every value or key written after another one at the same level
/// gets a separator; `key(_:)` suppresses it for the value that follows.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needComma = false

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    private mutating func separate() {
        if needComma { bytes.append(UInt8(ascii: ",")) }
    }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needComma = false }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needComma = true }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needComma = false }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needComma = true }

    public mutating func key(_ k: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needComma = false
    }

    /// A key that is not a literal (vmstat names, migratetype names): escaped like any string.
    public mutating func key(_ k: String) {
        string(k)
        bytes.append(UInt8(ascii: ":"))
        needComma = false
    }

    /// A complete JSON value rendered elsewhere (a cached document, a description).
    public mutating func raw(_ value: [UInt8]) { separate(); bytes.append(contentsOf: value); needComma = true }

    /// A number given by its literal JSON text (a parsed number keeps it: `2.50`, `1e3`, `-0`).
    public mutating func numberText(_ t: String) { separate(); bytes.append(contentsOf: t.utf8); needComma = true }

    public mutating func null() { separate(); bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]); needComma = true }

    public mutating func bool(_ v: Bool) {
        separate()
        bytes.append(contentsOf: v ? Array("true".utf8) : Array("false".utf8))
        needComma = true
    }

    public mutating func int<I: BinaryInteger>(_ v: I) {
        separate()
        appendDecimal(v)
        needComma = true
    }

    /// A double as the shortest text that reads back the same; non-finite values become null.
    public mutating func double(_ v: Double) {
        guard v.isFinite else { null(); return }
        separate()
        if v == v.rounded(), abs(v) < 1e15 {
            appendDecimal(Int64(v))
            bytes.append(contentsOf: [UInt8(ascii: "."), UInt8(ascii: "0")])
        } else {
            bytes.append(contentsOf: Array(v.description.utf8))
        }
        needComma = true
    }

    /// A value kept in thousandths written as the kernel prints it (`%d.%03d`), e.g. -1.000 or 0.473;
    /// a valid JSON number.
    public mutating func thousandths(_ v: Int) {
        separate()
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        let a = v.magnitude
        appendDecimal(a / 1000)
        bytes.append(UInt8(ascii: "."))
        let f = a % 1000
        if f < 100 { bytes.append(UInt8(ascii: "0")) }
        if f < 10 { bytes.append(UInt8(ascii: "0")) }
        appendDecimal(f)
        needComma = true
    }

    public mutating func string(_ s: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(c >> 4)], hex[Int(c & 15)]])
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        needComma = true
    }

    // Convenience: one member per call.
    public mutating func field(_ k: StaticString, _ v: String) { key(k); string(v) }
    public mutating func field(_ k: StaticString, _ v: String?) { key(k); if let v { string(v) } else { null() } }
    public mutating func field<I: BinaryInteger>(_ k: StaticString, _ v: I) { key(k); int(v) }
    public mutating func field(_ k: StaticString, _ v: Bool) { key(k); bool(v) }
    public mutating func field(_ k: StaticString, _ v: Double) { key(k); double(v) }
    public mutating func field<I: BinaryInteger>(_ k: StaticString, ints: [I]) {
        key(k)
        beginArray()
        for v in ints { int(v) }
        endArray()
    }

    private mutating func appendDecimal<I: BinaryInteger>(_ v: I) {
        if v == 0 { bytes.append(UInt8(ascii: "0")); return }
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { buf in
            while m > 0 {
                buf[n] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: m % 10)
                m /= 10
                n += 1
            }
            for k in stride(from: n - 1, through: 0, by: -1) { bytes.append(buf[k]) }
        }
    }
}
