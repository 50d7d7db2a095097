/// The seed kernel's (2.6.35) migratetypes, in enum order: the order fixes /proc/pagetypeinfo's columns
/// (kernel-compaction.md §1.3). MIGRATE_RESERVE was replaced by HIGHATOMIC in later kernels; a modern
/// profile would bring its own enum.
public enum Migratetype: UInt8, CaseIterable, Sendable {
    case unmovable = 0
    case reclaimable = 1
    case movable = 2
    case reserve = 3
    case isolate = 4

    /// MIGRATE_TYPES: sizes per-migratetype arrays.
    public static let count = 5
    /// MIGRATE_PCPTYPES: the types an allocation can ask for.
    public static let pcpTypes = 3

    /// The name printed in /proc/pagetypeinfo (`migratetype_names[]`).
    public var name: String {
        switch self {
        case .unmovable: return "Unmovable"
        case .reclaimable: return "Reclaimable"
        case .movable: return "Movable"
        case .reserve: return "Reserve"
        case .isolate: return "Isolate"
        }
    }
}
