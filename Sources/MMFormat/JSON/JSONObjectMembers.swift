/// The members of one JSON object as every reader sees them, with the project's one rule for absent and
/// `null`: an absent member is nil (the reader's default applies); an explicit `null` is refused when the
/// object is read, naming the member, unless the schema declares the member nullable (openapi.yaml: an
/// allocation's `node` and `tag`), where it reads as absent. So `{"seed": null}` is refused whether or
/// not anything reads `seed` later, and before any other check of the object's values. Both the
/// definition reader (`JSONObjectReader`) and the service's request reader word their errors on top of
/// this; neither decides presence itself.
public struct JSONObjectMembers: Sendable {
    /// The members in document order, duplicates included (each reader refuses them in its words).
    public let list: [(String, JSON)]
    /// The members whose explicit `null` reads as absent.
    public let nullable: Set<String>

    /// Why an explicit `null` is refused, in every reader's message.
    public static let nullRefused = "may not be null (leave the field out for its default)"

    /// Nil when `value` is not an object.
    public init?(_ value: JSON, nullable: Set<String> = []) {
        guard case .object(let m) = value else { return nil }
        self.list = m
        self.nullable = nullable
    }

    /// The member by the rule above: nil when absent (or null and declared nullable).
    public subscript(key: String) -> JSON? {
        guard let v = list.first(where: { $0.0 == key })?.1 else { return nil }
        if case .null = v, nullable.contains(key) { return nil }
        return v
    }

    public var keys: [String] { list.map(\.0) }

    /// The first name that appears twice, if any.
    public var firstDuplicate: String? {
        var seen = Set<String>()
        return list.first { !seen.insert($0.0).inserted }?.0
    }

    /// The first member that is an explicit `null` and not declared nullable, if any.
    public var firstRefusedNull: String? {
        list.first { if case .null = $0.1 { !nullable.contains($0.0) } else { false } }?.0
    }
}
