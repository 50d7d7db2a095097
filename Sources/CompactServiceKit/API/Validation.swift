import MMFormat

/// Validation at the edge: request bodies are parsed into `JSON` (MMFormat), then read field by field through
/// `ObjectReader`, which rejects unknown members and wrong types and names the offending path. Nothing
/// reaches MMCore before a whole request has been read, so a rejected request changes nothing.
enum Validation {
    /// Machine names: `[a-z0-9][a-z0-9_-]{0,62}`.
    static func isValidName(_ s: String) -> Bool {
        // On the UTF-8 view itself, with no array of it: every request naming a machine checks this.
        let u = s.utf8
        guard (1...63).contains(u.count) else { return false }
        func ok(_ c: UInt8, first: Bool) -> Bool {
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || (!first && (c == UInt8(ascii: "_") || c == UInt8(ascii: "-")))
        }
        var first = true
        for c in u {
            guard ok(c, first: first) else { return false }
            first = false
        }
        return true
    }

    static let namePattern = "[a-z0-9][a-z0-9_-]{0,62}"

    /// A machine name from the path: a name that cannot exist is a bad request, not a missing machine.
    static func pathName(_ s: String, field: String = "name") throws(Problem) -> String {
        guard isValidName(s) else {
            throw Problem.badPathParameter(field, "\(field == "name" ? "machine" : field) names match \(namePattern)")
        }
        return s
    }

    /// A handle from the path: a decimal integer below 2^53.
    static func pathHandle(_ s: String) throws(Problem) -> UInt64 {
        guard !s.isEmpty, s.utf8.count <= 16, s.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let v = UInt64(s), v < (1 << 53) else {
            throw Problem.badPathParameter("handle", "a handle is a decimal integer below 2^53")
        }
        return v
    }

    /// Parses a JSON request body that must be an object.
    static func jsonObject(_ body: [UInt8]) throws(Problem) -> JSON {
        guard !body.isEmpty else { throw Problem.malformed("the request needs a JSON object body") }
        let v: JSON
        do { v = try JSON.parse(bytes: body) } catch {
            throw Problem.malformed("malformed JSON at byte \(error.offset): \(error.message)")
        }
        guard case .object = v else {
            throw Problem.invalid("body", "expected a JSON object, got \(v.typeName)")
        }
        return v
    }

    /// A sysctl write: the decimal integer a shell's `echo 500 >` would write (surrounding whitespace
    /// allowed). `field` is the sysctl's name.
    static func sysctlValue(_ body: [UInt8], field: String) throws(Problem) -> Int {
        guard let text = String(validating: body, as: UTF8.self) else {
            throw Problem.malformed("the body is not UTF-8 text", field: field)
        }
        let t = text.trimmingASCIIWhitespace()
        guard !t.isEmpty else { throw Problem.malformed("the body must be an integer, like `echo 500`", field: field) }
        guard t.utf8.count <= 20, let v = Int(t) else {
            throw Problem.invalid(field, "'\(t.prefix(40))' is not an integer in range")
        }
        return v
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let u = Array(utf8)
        func ws(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
        var s = 0, e = u.count
        while s < e, ws(u[s]) { s += 1 }
        while e > s, ws(u[e - 1]) { e -= 1 }
        return String(decoding: u[s..<e], as: UTF8.self)
    }
}

/// Reads one JSON object of a request: each accessor converts a member with a range check and names the
/// member's path in any problem. Unknown members are rejected when the reader is created. Presence and
/// `null` are `JSONObjectMembers`' one rule (MMFormat): this reader only words the problems.
struct ObjectReader {
    private let members: JSONObjectMembers
    let path: String

    /// - Parameters:
    ///   - value: must be an object.
    ///   - path: where this object sits in the body ("" for the body itself, "sysctl", "zones[0][1]").
    ///   - allowed: every member name this object may have.
    ///   - nullable: the members whose explicit null reads as absent (openapi.yaml `type: [..., "null"]`);
    ///     any other null is refused here, naming the member.
    init(_ value: JSON, path: String, allowed: [String], nullable: Set<String> = []) throws(Problem) {
        self.path = path
        guard let m = JSONObjectMembers(value, nullable: nullable) else {
            throw Problem.invalid(path.isEmpty ? "body" : path, "expected an object, got \(value.typeName)")
        }
        var seen = Set<String>()
        for k in m.keys {
            guard allowed.contains(k) else {
                throw Problem.invalid(ObjectReader.sub(path, k), "unknown field '\(k)'; allowed: \(allowed.joined(separator: ", "))")
            }
            guard seen.insert(k).inserted else { throw Problem.invalid(ObjectReader.sub(path, k), "field '\(k)' appears twice") }
        }
        if let k = m.firstRefusedNull { throw Problem.invalid(ObjectReader.sub(path, k), "field '\(k)' \(JSONObjectMembers.nullRefused)") }
        members = m
    }

    func sub(_ k: String) -> String { ObjectReader.sub(path, k) }

    /// The path of member `k` of the object at `path`.
    static func sub(_ path: String, _ k: String) -> String { path.isEmpty ? k : "\(path).\(k)" }

    /// The member: nil when absent (or an explicit null of a nullable member).
    func raw(_ k: String) -> JSON? { members[k] }

    func has(_ k: String) -> Bool { raw(k) != nil }

    func require<T>(_ k: String, _ v: T?) throws(Problem) -> T {
        guard let v else { throw Problem.invalid(sub(k), "field '\(k)' is required") }
        return v
    }

    func int(_ k: String, _ range: ClosedRange<Int>) throws(Problem) -> Int? {
        guard let v = raw(k) else { return nil }
        return try ObjectReader.int(v, at: sub(k), range)
    }

    /// An integer member. As in JSON Schema, a number with a zero fraction (`182.0`, `1e3`) is an
    /// integer too; it is read exactly when it lies within ±2^53.
    static func int(_ v: JSON, at field: String, _ range: ClosedRange<Int>) throws(Problem) -> Int {
        guard case .number(let t) = v else {
            throw Problem.invalid(field, "expected an integer, got \(v.typeName)")
        }
        var exact = Int(t)
        if exact == nil, !JSON.isIntegerText(t), let d = Double(t), d.isFinite {
            guard d == d.rounded() else { throw Problem.invalid(field, "expected an integer, got number") }
            if abs(d) <= 9_007_199_254_740_992 { exact = Int(d) }
        }
        guard let n = exact, range.contains(n) else {
            throw Problem.invalid(field, "\(t.prefix(40)) is out of range \(range.lowerBound)..\(range.upperBound)")
        }
        return n
    }

    func uint64(_ k: String) throws(Problem) -> UInt64? {
        guard let v = raw(k) else { return nil }
        guard case .number(let t) = v, JSON.isIntegerText(t) else {
            throw Problem.invalid(sub(k), "expected an integer, got \(v.typeName)")
        }
        guard let n = UInt64(t) else {
            throw Problem.invalid(sub(k), "\(t.prefix(40)) is out of range 0..\(UInt64.max)")
        }
        return n
    }

    func double(_ k: String, _ range: ClosedRange<Double>) throws(Problem) -> Double? {
        guard let v = raw(k) else { return nil }
        guard case .number(let t) = v, let d = Double(t), d.isFinite else {
            throw Problem.invalid(sub(k), "expected a number, got \(v.typeName)")
        }
        guard range.contains(d) else {
            throw Problem.invalid(sub(k), "\(t.prefix(40)) is out of range \(range.lowerBound)...\(range.upperBound)")
        }
        return d
    }

    func bool(_ k: String) throws(Problem) -> Bool? {
        guard let v = raw(k) else { return nil }
        guard case .bool(let b) = v else { throw Problem.invalid(sub(k), "expected a boolean, got \(v.typeName)") }
        return b
    }

    func string(_ k: String, maxBytes: Int = 256) throws(Problem) -> String? {
        guard let v = raw(k) else { return nil }
        guard case .string(let s) = v else { throw Problem.invalid(sub(k), "expected a string, got \(v.typeName)") }
        guard s.utf8.count <= maxBytes else { throw Problem.invalid(sub(k), "longer than \(maxBytes) bytes") }
        return s
    }

    /// A string that must be one of `choices`.
    func choice(_ k: String, _ choices: [String]) throws(Problem) -> String? {
        guard let s = try string(k) else { return nil }
        guard choices.contains(s) else {
            throw Problem.invalid(sub(k), "'\(s.prefix(64))' is not one of \(choices.joined(separator: ", "))")
        }
        return s
    }

    func array(_ k: String, maxCount: Int) throws(Problem) -> [JSON]? {
        guard let v = raw(k) else { return nil }
        guard case .array(let a) = v else { throw Problem.invalid(sub(k), "expected an array, got \(v.typeName)") }
        guard a.count <= maxCount else { throw Problem.invalid(sub(k), "at most \(maxCount) items") }
        return a
    }

    func object(_ k: String, allowed: [String]) throws(Problem) -> ObjectReader? {
        guard let v = raw(k) else { return nil }
        return try ObjectReader(v, path: sub(k), allowed: allowed)
    }
}
