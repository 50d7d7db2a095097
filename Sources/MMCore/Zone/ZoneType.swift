/// Zone types. The index of a zone inside a node is the position of its type in the preset's
/// `zoneTypes` (the kernel's `zone_idx`), so x86-64 has DMA=0, DMA32=1, Normal=2, Movable=3 and
/// 32-bit x86 has DMA=0, Normal=1, HighMem=2, Movable=3.
public enum ZoneType: UInt8, CaseIterable, Sendable, Comparable {
    case dma, dma32, normal, highmem, movable

    public static func < (a: ZoneType, b: ZoneType) -> Bool { a.rawValue < b.rawValue }

    /// The name printed in /proc files (`zone_names[]`).
    public var name: String {
        switch self {
        case .dma: return "DMA"
        case .dma32: return "DMA32"
        case .normal: return "Normal"
        case .highmem: return "HighMem"
        case .movable: return "Movable"
        }
    }

    /// The suffix of per-zone vmstat events (`TEXTS_FOR_ZONES`: pgalloc_dma, …, pgalloc_high, pgalloc_movable).
    public var vmstatSuffix: String {
        switch self {
        case .dma: return "dma"
        case .dma32: return "dma32"
        case .normal: return "normal"
        case .highmem: return "high"
        case .movable: return "movable"
        }
    }

    public init?(name: String) {
        guard let t = ZoneType.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else { return nil }
        self = t
    }

    /// `sysctl_lowmem_reserve_ratio` default for a lower zone of this type (256 for DMA/DMA32, 32 above).
    public var lowmemReserveRatio: Int {
        switch self {
        case .dma, .dma32: return 256
        default: return 32
        }
    }
}
