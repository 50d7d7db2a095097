import MMCore

/// Strict reading of a JSON object for definitions (machines, workloads, experiments): every key must be
/// known, every value of the right type and range; errors name the full path of the offending field
/// (`steps[2].high_alloc.order`). Presence and `null` follow `JSONObjectMembers`' one rule.
public struct JSONObjectReader: Sendable {
    let members: JSONObjectMembers
    /// Where this object sits in the document (`.root` for the document itself).
    public let path: FieldPath

    public init(_ value: JSON, path: FieldPath) throws(MMError) {
        guard let m = JSONObjectMembers(value) else {
            // The document itself is named `$`, as JSONPath does.
            throw .invalidConfig(field: path.isRoot ? FieldPath("$") : path, value: value.typeName, reason: "must be an object")
        }
        if let k = m.firstDuplicate {
            throw .invalidConfig(field: path.key(k), value: k, reason: "field '\(k)' appears twice")
        }
        if let k = m.firstRefusedNull {
            throw .invalidConfig(field: path.key(k), value: "null", reason: JSONObjectMembers.nullRefused)
        }
        members = m
        self.path = path
    }

    /// The path of a member.
    public func field(_ key: String) -> FieldPath { path.key(key) }

    /// The member; nil when absent. No member of a definition is nullable (openapi.yaml): an explicit
    /// null was refused when the object was read.
    public subscript(key: String) -> JSON? { members[key] }

    public var keys: [String] { members.keys }

    /// Throws for the first key not in `allowed`.
    public func rejectUnknown(_ allowed: Set<String>) throws(MMError) {
        for k in members.keys where !allowed.contains(k) {
            throw .invalidConfig(field: field(k), value: k, reason: "unknown field (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    public func int(_ key: String, in range: ClosedRange<Int>) throws(MMError) -> Int? {
        guard let v = self[key] else { return nil }
        guard case .number(let t) = v, let d = Double(t), d == d.rounded(), abs(d) < 9e15 else {
            throw .invalidConfig(field: field(key), value: v.encoded, reason: "must be an integer")
        }
        let i = Int(d)
        guard range.contains(i) else {
            throw .invalidConfig(field: field(key), value: String(i), reason: "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return i
    }

    public func requiredInt(_ key: String, in range: ClosedRange<Int>) throws(MMError) -> Int {
        guard let i = try int(key, in: range) else { throw .invalidConfig(field: field(key), value: "missing", reason: "is required") }
        return i
    }

    public func double(_ key: String, in range: ClosedRange<Double>) throws(MMError) -> Double? {
        guard let v = self[key] else { return nil }
        guard case .number(let t) = v, let d = Double(t) else { throw .invalidConfig(field: field(key), value: v.encoded, reason: "must be a number") }
        guard range.contains(d) else {
            throw .invalidConfig(field: field(key), value: JSON.format(d), reason: "must be between \(JSON.format(range.lowerBound)) and \(JSON.format(range.upperBound))")
        }
        return d
    }

    public func string(_ key: String) throws(MMError) -> String? {
        guard let v = self[key] else { return nil }
        guard case .string(let s) = v else { throw .invalidConfig(field: field(key), value: v.encoded, reason: "must be a string") }
        return s
    }

    public func requiredString(_ key: String) throws(MMError) -> String {
        guard let s = try string(key) else { throw .invalidConfig(field: field(key), value: "missing", reason: "is required") }
        return s
    }

    public func bool(_ key: String) throws(MMError) -> Bool? {
        guard let v = self[key] else { return nil }
        guard case .bool(let b) = v else { throw .invalidConfig(field: field(key), value: v.encoded, reason: "must be true or false") }
        return b
    }

    public func object(_ key: String) throws(MMError) -> JSONObjectReader? {
        guard let v = self[key] else { return nil }
        return try JSONObjectReader(v, path: field(key))
    }

    public func array(_ key: String, maxCount: Int = 10_000) throws(MMError) -> [JSON]? {
        guard let v = self[key] else { return nil }
        guard case .array(let a) = v else { throw .invalidConfig(field: field(key), value: v.typeName, reason: "must be an array") }
        guard a.count <= maxCount else { throw .invalidConfig(field: field(key), value: "\(a.count) items", reason: "at most \(maxCount) items") }
        return a
    }
}
