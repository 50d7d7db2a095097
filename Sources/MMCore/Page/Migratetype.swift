/// A migratetype (`enum migratetype`, include/linux/mmzone.h): the type of a pageblock, of the free lists
/// and per-CPU lists it is kept on, and of what an allocation asks for. A wrapper of one integer, the
/// simulator's slot: it compiles to that integer, and keeps it apart from pfns, orders and zones in
/// signatures. Per-migratetype tables are indexed by it (`freeArea.list(zone:order:mt:)`,
/// `pcp.list(zone:mt:)`, `pageblockCounts(zone:)[mt]`).
///
/// The slots are the seed kernel's (2.6.35) enum order, which fixes its /proc/pagetypeinfo columns
/// (kernel-compaction.md §1.3). Later kernels replaced MIGRATE_RESERVE by MIGRATE_HIGHATOMIC; the modern
/// (6.6) profile keeps HIGHATOMIC in RESERVE's slot, so `.reserve` and `.highatomic` are the same value,
/// and each kernel prints its own names (`name`, `modernName`). The page arrays keep a migratetype in
/// three packed bits; it becomes a `Migratetype` where those bits are read (`init(bits:)`,
/// `PageOrderByte.migratetype`) and turns back into bits where they are written.
@frozen
public struct Migratetype: RawRepresentable, Hashable, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    @inline(__always) public init(rawValue: Int) { self.rawValue = rawValue }
    @inline(__always) public init(_ rawValue: Int) { self.rawValue = rawValue }

    /// The migratetype in three packed bits of a page or pageblock byte (the caller masked or shifted
    /// them out), as a slot; only values below `count` are ever stored.
    @inline(__always) init(bits: UInt8) { rawValue = Int(bits) }

    /// This slot, or MIGRATE_ISOLATE for a value past the last one: how the pageblock map reads three
    /// packed bits holding a value the simulator never stores.
    @inline(__always) public var slotOrIsolate: Migratetype { rawValue < Migratetype.count ? self : .isolate }

    @inline(__always) public static func < (a: Migratetype, b: Migratetype) -> Bool { a.rawValue < b.rawValue }

    /// The slot number, as trace events and invariant messages print a migratetype.
    public var description: String { rawValue.description }

    /// MIGRATE_UNMOVABLE.
    @inlinable public static var unmovable: Migratetype { @inline(__always) get { Migratetype(rawValue: 0) } }
    /// MIGRATE_RECLAIMABLE.
    @inlinable public static var reclaimable: Migratetype { @inline(__always) get { Migratetype(rawValue: 1) } }
    /// MIGRATE_MOVABLE.
    @inlinable public static var movable: Migratetype { @inline(__always) get { Migratetype(rawValue: 2) } }
    /// MIGRATE_RESERVE (2.6.35): the min-watermark's worth of pageblocks kept for the last resort of `__rmqueue`.
    @inlinable public static var reserve: Migratetype { @inline(__always) get { Migratetype(rawValue: 3) } }
    /// MIGRATE_HIGHATOMIC (6.6), in the slot the seed used for RESERVE.
    @inlinable public static var highatomic: Migratetype { @inline(__always) get { Migratetype(rawValue: 3) } }
    /// MIGRATE_ISOLATE.
    @inlinable public static var isolate: Migratetype { @inline(__always) get { Migratetype(rawValue: 4) } }

    /// MIGRATE_TYPES: sizes per-migratetype arrays.
    public static let count = 5
    /// MIGRATE_PCPTYPES: the types an allocation can ask for, the ones with per-CPU lists.
    public static let pcpTypes = 3

    /// Every slot in order (RESERVE and HIGHATOMIC share one): the rows of per-migratetype tables.
    public static let allCases: [Migratetype] = (0..<count).map(Migratetype.init(rawValue:))

    /// The MIGRATE_PCPTYPES types in order (`for (mt = 0; mt < MIGRATE_PCPTYPES; mt++)`).
    @inlinable public static var pcpCases: LazyMapSequence<Range<Int>, Migratetype> {
        (0..<pcpTypes).lazy.map(Migratetype.init(rawValue:))
    }

    /// `migratetype < MIGRATE_PCPTYPES`: a type that has per-CPU lists and that allocations ask for.
    @inline(__always) public var isPcpType: Bool { rawValue < Migratetype.pcpTypes }

    /// 2.6.35's `migratetype_names[MIGRATE_TYPES]` (mm/vmstat.c), by slot: its /proc/pagetypeinfo columns.
    static let seedNames = ["Unmovable", "Reclaimable", "Movable", "Reserve", "Isolate"]

    /// 6.6's `migratetype_names[MIGRATE_TYPES]` (mm/page_alloc.c) in that kernel's enum order, which is its
    /// /proc/pagetypeinfo column order, with the simulator's slot for each: Unmovable, Movable,
    /// Reclaimable, HighAtomic, CMA (none simulated; CONFIG_CMA as distributions build it), Isolate.
    static let modernColumns: [(name: String, slot: Migratetype?)] = [
        ("Unmovable", .unmovable), ("Movable", .movable), ("Reclaimable", .reclaimable),
        ("HighAtomic", .highatomic), ("CMA", nil), ("Isolate", .isolate),
    ]

    /// The name 2.6.35 prints for this slot in /proc/pagetypeinfo (`migratetype_names[]`).
    public var name: String { Migratetype.seedNames[rawValue] }

    /// The name 6.6 prints for this slot ("HighAtomic" where 2.6.35 prints "Reserve").
    public var modernName: String { Migratetype.modernColumns.first { $0.slot == self }!.name }
}

/// Per-migratetype tables are indexed by migratetype: `pageblockCounts(zone:)[mt]`, `fallbacks[mt]`.
extension Array {
    @inlinable public subscript(mt: Migratetype) -> Element {
        @inline(__always) get { self[mt.rawValue] }
        @inline(__always) set { self[mt.rawValue] = newValue }
    }
}
