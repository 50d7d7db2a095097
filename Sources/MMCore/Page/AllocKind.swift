/// What an allocation is for. The kind fixes the migratetype it asks for, the highest zone it may use,
/// and what reclaim and migration may later do with its pages.
public enum AllocKind: UInt8, CaseIterable, Sendable {
    /// Anonymous user memory, mapped by one owner: movable; swapped out by reclaim when swap exists.
    case anon = 0
    /// Page cache: movable; clean pages are dropped by reclaim, dirty ones written back first.
    case file = 1
    /// Reclaimable kernel memory (dentries, inodes): shrunk in proportion to reclaim pressure.
    case slab = 2
    /// Unmovable kernel memory: never migrated, never reclaimed.
    case kernel = 3
    /// Movable-typed but held (get_user_pages, or mlocked with compact_unevictable_allowed=0): migration fails.
    case pinned = 4

    /// Number of kinds (raw values 0..<count), as a constant for flat per-kind tables.
    static let count = 5

    public var name: String {
        switch self {
        case .anon: return "anon"
        case .file: return "file"
        case .slab: return "slab"
        case .kernel: return "kernel"
        case .pinned: return "pinned"
        }
    }

    public init?(name: String) {
        guard let k = AllocKind.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }

    /// `gfpflags_to_migratetype`: which free lists the allocation prefers.
    public var migratetype: Migratetype {
        switch self {
        case .anon, .file, .pinned: return .movable
        case .slab: return .reclaimable
        case .kernel: return .unmovable
        }
    }

    /// User pages (GFP_HIGHUSER_MOVABLE) may come from HighMem and Movable; kernel memory (GFP_KERNEL) stops at Normal.
    /// Pinned pages are user pages that cannot move, so like the kernel they avoid ZONE_MOVABLE.
    public func highestZoneType(available: [ZoneType]) -> ZoneType {
        switch self {
        case .anon, .file:
            return available.last!
        case .pinned:
            return available.last(where: { $0 != .movable }) ?? available.last!
        case .slab, .kernel:
            return available.last(where: { $0 == .normal || $0 == .dma32 || $0 == .dma }) ?? available.first!
        }
    }
}
