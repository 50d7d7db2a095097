/// The kernel a machine runs: which rules its memory management follows.
///
/// - `2.6.34`: the kernel without the compaction series (the seed's "vanilla": lumpy reclaim only),
///   what `compaction: false` has always meant;
/// - `2.6.35`: Mel Gorman's compaction series as merged (the seed), the default;
/// - `6.6`: the modern profile, after Linux 6.6 (LTS): `compact_control` modes and priorities, pageblock
///   skip hints, cached scanner positions, fast free-list searches, capture, per-order deferral,
///   kcompactd and proactive compaction, HIGHATOMIC, watermark boosting and `watermark_scale_factor`,
///   no lumpy reclaim. Its rules were read from the 6.6 stable tree (6.6.57: mm/compaction.c,
///   mm/page_alloc.c, mm/vmscan.c, mm/huge_memory.c); each function that follows one cites it.
///
/// Everything the modern profile adds is absent from the two old ones, whose behaviour and text stay
/// those of the seed.
public enum KernelRelease: String, Sendable, CaseIterable, Equatable {
    case v2_6_34 = "2.6.34"
    case v2_6_35 = "2.6.35"
    case v6_6 = "6.6"

    /// The release's name as machines and experiments spell it (`"2.6.35"`).
    public var name: String { rawValue }

    public init?(name: String) { self.init(rawValue: name) }

    /// The kernel has memory compaction (everything but 2.6.34).
    public var hasCompaction: Bool { self != .v2_6_34 }

    /// The kernel has vm.hugepages_treat_as_movable (2.6.34 and 2.6.35; gone by 6.6, whose hugetlb pages
    /// are movable where they can migrate: `Machine.htlbAllocMask`).
    public var hasHugepagesTreatAsMovable: Bool { !isModern }

    /// Which kernels have a setting this one lacks, as the refusals name them.
    public var kernelsWithOwnSettings: String { isModern ? "2.6.34 and 2.6.35 have" : "kernel 6.6 has" }

    /// The refusal of a setting this kernel does not have, naming the field.
    public func lacksSetting(_ field: FieldPath, value: String) -> MMError {
        .invalidConfig(field: field, value: value, reason: "kernel \(name) has no such setting (only \(kernelsWithOwnSettings))")
    }

    /// The modern profile (6.6).
    public var isModern: Bool { self == .v6_6 }

    /// The names a machine definition accepts, for error messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
