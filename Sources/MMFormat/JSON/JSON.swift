/// A JSON value (RFC 8259): the one value type of the project's wire format. Definitions (machines,
/// workloads, experiments) and request bodies are read from it (`JSON+Parsing.swift`,
/// `JSONObjectReader`), results are written through `JSONWriter` (`JSON+Encoding.swift`), so
/// parsing errors carry a path and output is byte-stable. A number keeps its literal text, so "2" and "2.5" stay apart and
/// large integers are not rounded before anyone checks them.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text (`-0`, `1e3`, `2.50`).
    case number(String)
    case string(String)
    case array([JSON])
    /// Members in document order, duplicates included (readers refuse them, naming the field).
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// A number from a value (integral values print without a fraction).
    public static func number(_ d: Double) -> JSON { .number(JSON.format(d)) }

    /// An integer literal: no fraction, no exponent.
    public static func isIntegerText(_ t: String) -> Bool {
        !t.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    }

    /// The number's value, if this is a number.
    public var doubleValue: Double? {
        if case .number(let t) = self { return Double(t) }
        return nil
    }

    public subscript(key: String) -> JSON? {
        if case .object(let m) = self { return m.first { $0.0 == key }?.1 }
        return nil
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number(let t): return JSON.isIntegerText(t) ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}
