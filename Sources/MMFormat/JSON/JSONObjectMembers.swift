/// The members of one JSON object as every reader sees them, with the project's one rule for absent and
/// `null`: an absent member is nil (the reader's default applies); an explicit `null` is a value like any
/// other, so a typed read of it fails naming the field (`{"seed": null}` is "must be an integer"),
/// except for the members a schema declares nullable (openapi.yaml: an allocation's `node` and `tag`),
/// which `allowNull(_:)` turns into absent. Both the definition reader (`JSONObjectReader`) and the
/// service's request reader word their errors on top of this; neither decides presence itself.
public struct JSONObjectMembers: Sendable {
    /// Where this object sits in the document ("" for the document itself, `sysctl`, `zones[0][1]`).
    public let path: String
    /// The members in document order, duplicates included (each reader refuses them in its words).
    public let list: [(String, JSON)]
    private var nullable: Set<String> = []

    /// Nil when `value` is not an object.
    public init?(_ value: JSON, path: String) {
        guard case .object(let m) = value else { return nil }
        self.path = path
        self.list = m
    }

    /// The path of a member.
    public func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The member by the rule above: nil when absent (or null and declared nullable).
    public subscript(key: String) -> JSON? {
        guard let v = list.first(where: { $0.0 == key })?.1 else { return nil }
        if case .null = v, nullable.contains(key) { return nil }
        return v
    }

    /// Declares a member nullable: its explicit `null` reads as absent.
    public mutating func allowNull(_ key: String) { nullable.insert(key) }

    public var keys: [String] { list.map(\.0) }

    /// The first name that appears twice, if any.
    public var firstDuplicate: String? {
        var seen = Set<String>()
        return list.first { !seen.insert($0.0).inserted }?.0
    }
}
