/// Which input an error is about, as typed steps from the top of a definition or request: member names
/// and list positions (`zones`, 1, `mib`). MMCore names fields this way and never spells a path; the
/// format layer (MMFormat) writes one as a JSON path (`zones[1].mib`) wherever an error is shown.
public struct FieldPath: Sendable, Hashable {
    public enum Step: Sendable, Hashable {
        /// An object member.
        case key(String)
        /// A position in a list.
        case index(Int)
    }

    public var steps: [Step]

    public init(steps: [Step]) { self.steps = steps }

    /// A path of member names, outermost first: `FieldPath("sysctl", "min_free_kbytes")`.
    public init(_ keys: String...) { steps = keys.map(Step.key) }

    /// The top of the document.
    public static let root = FieldPath(steps: [])

    public var isRoot: Bool { steps.isEmpty }

    /// This path followed by a member.
    public func key(_ name: String) -> FieldPath { FieldPath(steps: steps + [.key(name)]) }

    /// This path followed by a list position.
    public func index(_ i: Int) -> FieldPath { FieldPath(steps: steps + [.index(i)]) }

    /// This path followed by a path relative to it (an error of a part, placed in the whole).
    public func appending(_ relative: FieldPath) -> FieldPath { FieldPath(steps: steps + relative.steps) }

    /// Whether this path starts with `prefix`.
    public func hasPrefix(_ prefix: FieldPath) -> Bool { steps.starts(with: prefix.steps) }
}
