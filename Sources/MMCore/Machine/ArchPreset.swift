/// An architecture preset: base page size, number of buddy orders, `pageblock_order`, which zone types
/// exist and where their physical boundaries lie (kernel-compaction.md §1.2, §1.5).
public struct ArchPreset: Sendable, Equatable {
    public var name: String
    /// log2 of the base page size in bytes (12 = 4 KiB, 16 = 64 KiB).
    public var pageShift: Int
    /// Number of buddy orders (the seed's MAX_ORDER, an exclusive bound): orders 0..<nrOrders.
    public var nrOrders: Int
    /// log2 of the pages in a pageblock, the unit that carries a migratetype.
    public var pageblockOrder: Int
    /// The zone types this kernel configuration has, in zone-index order (ZONE_MOVABLE last).
    public var zoneTypes: [ZoneType]
    /// Physical end (bytes, exclusive) of each zone type below the last general one, in zone order:
    /// memory below the first limit goes to the first type, and so on. Movable is never placed by default.
    public var zoneLimits: [(ZoneType, UInt64)]
    /// The largest memory this architecture can address (32-bit x86 without PAE: 4 GiB).
    public var maxMemoryBytes: UInt64

    public static func == (a: ArchPreset, b: ArchPreset) -> Bool {
        a.name == b.name && a.pageShift == b.pageShift && a.nrOrders == b.nrOrders
            && a.pageblockOrder == b.pageblockOrder && a.zoneTypes == b.zoneTypes
            && a.zoneLimits.map(\.0) == b.zoneLimits.map(\.0) && a.zoneLimits.map(\.1) == b.zoneLimits.map(\.1)
            && a.maxMemoryBytes == b.maxMemoryBytes
    }

    public var pageSize: Int { 1 << pageShift }

    /// Kernel 6.6's `hugepage_movable_supported` for the preset's huge page (include/linux/hugetlb.h):
    /// the arch selects ARCH_ENABLE_HUGEPAGE_MIGRATION (x86 only for X86_64; powerpc for PPC_BOOK3S_64)
    /// and the page is not gigantic, its shift a page-table level's (`arch_hugetlb_migration_supported`:
    /// 2 MiB = PMD_SHIFT on x86_64, 16 MiB = PMD_SHIFT with ppc64's 64 KiB hash tables).
    public var hugepageMigrationSupported: Bool { name == "x86_64" || name == "ppc64" }

    static let mib: UInt64 = 1 << 20
    static let gib: UInt64 = 1 << 30

    /// x86-64: 4 KiB pages, orders 0..10, 2 MiB pageblocks; DMA below 16 MiB, DMA32 below 4 GiB, Normal above.
    public static let x86_64 = ArchPreset(
        name: "x86_64", pageShift: 12, nrOrders: 11, pageblockOrder: 9,
        zoneTypes: [.dma, .dma32, .normal, .movable],
        zoneLimits: [(.dma, 16 * mib), (.dma32, 4 * gib), (.normal, UInt64.max)],
        maxMemoryBytes: 16 << 40)

    /// 32-bit x86 without PAE: 4 KiB pages, orders 0..10, 4 MiB pageblocks (the 4 MiB huge page);
    /// DMA below 16 MiB, Normal below 896 MiB, HighMem above; at most 4 GiB.
    public static let x86 = ArchPreset(
        name: "x86", pageShift: 12, nrOrders: 11, pageblockOrder: 10,
        zoneTypes: [.dma, .normal, .highmem, .movable],
        zoneLimits: [(.dma, 16 * mib), (.normal, 896 * mib), (.highmem, UInt64.max)],
        maxMemoryBytes: 4 * gib)

    /// ppc64 with 64 KiB pages: orders 0..8 (16 MiB largest block), pageblock order 8 (16 MiB huge page).
    /// The 2.6.3x ppc64 kernel put all memory in ZONE_DMA, which is what its /proc files show.
    public static let ppc64 = ArchPreset(
        name: "ppc64", pageShift: 16, nrOrders: 9, pageblockOrder: 8,
        zoneTypes: [.dma, .normal, .movable],
        zoneLimits: [(.dma, UInt64.max)],
        maxMemoryBytes: 16 << 40)

    public static let all: [ArchPreset] = [.x86_64, .x86, .ppc64]

    public static func named(_ name: String) -> ArchPreset? { all.first { $0.name == name } }
}
