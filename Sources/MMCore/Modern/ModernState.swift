/// The state only the modern profile (kernel 6.6) keeps, beside the seed's: the zone fields compaction
/// added after 2.6.35 (`struct zone` in include/linux/mmzone.h: `compact_cached_free_pfn`,
/// `compact_cached_migrate_pfn[2]`, `compact_init_{migrate,free}_pfn`, `compact_order_failed`,
/// `compact_blockskip_flush`, `watermark_boost`, `nr_reserved_highatomic`), kcompactd's per-node
/// fields (`kcompactd_max_order`, `kcompactd_highest_zoneidx`, `proactive_compact_trigger`), the
/// sysctls of that release, and the direct compactor's `capture_control`. A machine of an older
/// kernel has none (`Machine.modern` is nil). Small per-zone and per-node arrays, indexed by zone id
/// and node id; the kernel zero-initialises its fields, and so does this.
final class ModernState {
    // Sysctls (mm/compaction.c, mm/page_alloc.c) and the THP switches (mm/huge_memory.c).
    var compactionProactiveness: Int
    var watermarkBoostFactor: Int
    var watermarkScaleFactor: Int
    var thpEnabled: THPEnabled
    var thpDefrag: THPDefrag

    // Per zone.
    /// `compact_cached_migrate_pfn[0]` (async) and `[1]` (sync).
    var cachedMigratePfn0: [Pfn]
    var cachedMigratePfn1: [Pfn]
    var cachedFreePfn: [Pfn]
    var initMigratePfn: [Pfn]
    var initFreePfn: [Pfn]
    /// `compact_order_failed` (0 at boot: deferral applies to every order until a success raises it).
    var orderFailed: [Int]
    var blockskipFlush: [Bool]
    /// `_watermark[WMARK_MIN, LOW, HIGH]` without the boost (`zoneWmark` holds them with it, as
    /// `wmark_pages()` reads them), and `watermark_boost`.
    var baseWmark: [(min: Int, low: Int, high: Int)]
    var watermarkBoost: [Int]
    /// `ZONE_BOOSTED_WATERMARK`: a fallback boosted the zone; the next allocation wakes kswapd.
    var boostedFlag: [Bool]
    var nrReservedHighatomic: [Int]

    // Per node: kcompactd (Kcompactd.swift); `kswapd_order` (the order kswapd was woken for, -1 asleep)
    // and what kswapd reclaimed since it woke.
    var kcompactd: [KcompactdState]
    var kswapdAllocOrder: [Int]
    var kswapdReclaimed: [Int]

    /// `current->capture_control` of the direct compactor: the zone and order it compacts for, and the
    /// block a free captured (nil while none). Zone nil when no direct compaction is running.
    var captureZone: ZoneID? = nil
    var captureOrder = -1
    var capturedPfn: Pfn? = nil

    init(config: MachineConfig, zones: Int, nodes: Int, nrZoneTypes: Int) {
        let s = config.sysctl.modern
        compactionProactiveness = s.compactionProactiveness ?? ModernSysctlSettings.defaultCompactionProactiveness
        watermarkBoostFactor = s.watermarkBoostFactor ?? ModernSysctlSettings.defaultWatermarkBoostFactor
        watermarkScaleFactor = s.watermarkScaleFactor ?? ModernSysctlSettings.defaultWatermarkScaleFactor
        thpEnabled = config.transparentHugepage?.enabled ?? .always
        thpDefrag = config.transparentHugepage?.defrag ?? .madvise
        cachedMigratePfn0 = Array(repeating: Pfn(0), count: zones)
        cachedMigratePfn1 = Array(repeating: Pfn(0), count: zones)
        cachedFreePfn = Array(repeating: Pfn(0), count: zones)
        initMigratePfn = Array(repeating: Pfn(0), count: zones)
        initFreePfn = Array(repeating: Pfn(0), count: zones)
        orderFailed = Array(repeating: 0, count: zones)
        blockskipFlush = Array(repeating: false, count: zones)
        baseWmark = Array(repeating: (0, 0, 0), count: zones)
        watermarkBoost = Array(repeating: 0, count: zones)
        boostedFlag = Array(repeating: false, count: zones)
        nrReservedHighatomic = Array(repeating: 0, count: zones)
        kcompactd = (0..<nodes).map { _ in KcompactdState(nrZoneTypes: nrZoneTypes) }
        kswapdAllocOrder = Array(repeating: -1, count: nodes)
        kswapdReclaimed = Array(repeating: 0, count: nodes)
    }
}

/// The modern profile's event counters (include/linux/vm_event_item.h of 6.6), kept in `VmCounters`
/// so that deltas, samples and the vmstat text see them; always zero on the old kernels.
public struct ModernVmCounters: Sendable, Equatable {
    /// KCOMPACTD_WAKE, KCOMPACTD_MIGRATE_SCANNED, KCOMPACTD_FREE_SCANNED.
    public var compactDaemonWake: UInt64 = 0
    public var compactDaemonMigrateScanned: UInt64 = 0
    public var compactDaemonFreeScanned: UInt64 = 0
    /// THP_FAULT_ALLOC, THP_FAULT_FALLBACK (huge page faults, `do_huge_pmd_anonymous_page`).
    public var thpFaultAlloc: UInt64 = 0
    public var thpFaultFallback: UInt64 = 0
    /// Simulator extras: blocks captured by a direct compactor (`compaction_capture`), proactive
    /// compaction runs of kcompactd (`proactive_compact_node`), and watermark boosts (`boost_watermark`).
    public var compactCaptured: UInt64 = 0
    /// Simulator extras: the part of compact_migrate_scanned / compact_free_scanned that the fast
    /// searches spent walking free lists (`fast_find_migrateblock`, `fast_isolate_freepages`).
    public var compactFastMigrateScanned: UInt64 = 0
    public var compactFastFreeScanned: UInt64 = 0
    public var compactProactiveRuns: UInt64 = 0
    public var watermarkBoosts: UInt64 = 0
    public init() {}
}

extension VmCounters {
    public var compactDaemonWake: UInt64 { modern.compactDaemonWake }
    public var compactDaemonMigrateScanned: UInt64 { modern.compactDaemonMigrateScanned }
    public var compactDaemonFreeScanned: UInt64 { modern.compactDaemonFreeScanned }
    public var thpFaultAlloc: UInt64 { modern.thpFaultAlloc }
    public var thpFaultFallback: UInt64 { modern.thpFaultFallback }
    public var compactCaptured: UInt64 { modern.compactCaptured }
    public var compactFastMigrateScanned: UInt64 { modern.compactFastMigrateScanned }
    public var compactFastFreeScanned: UInt64 { modern.compactFastFreeScanned }
    public var compactProactiveRuns: UInt64 { modern.compactProactiveRuns }
    public var watermarkBoosts: UInt64 { modern.watermarkBoosts }
}

extension Machine {
    /// The modern profile's state; only called on the modern paths, where it exists.
    @inline(__always) var ms: ModernState { modern.unsafelyUnwrapped }

    /// This machine runs the modern profile (kernel 6.6).
    @inline(__always) public var isModernKernel: Bool { modern != nil }

    // MARK: - The modern sysctls

    public var compactionProactiveness: Int? { modern?.compactionProactiveness }
    public var watermarkBoostFactor: Int? { modern?.watermarkBoostFactor }
    public var watermarkScaleFactor: Int? { modern?.watermarkScaleFactor }
    public var thpDefrag: THPDefrag? { modern?.thpDefrag }
    public var thpEnabled: THPEnabled? { modern?.thpEnabled }

    func requireModern(_ field: FieldPath) throws(MMError) {
        guard modern != nil else {
            throw kernel.lacksSetting(field, value: kernel.name)
        }
    }

    /// Writing /proc/sys/vm/compaction_proactiveness (0..100). A non-zero write sets every node's
    /// `proactive_compact_trigger` and wakes its kcompactd (`compaction_proactiveness_sysctl_handler`).
    public func setCompactionProactiveness(_ v: Int) throws(MMError) {
        try requireModern(FieldPath("compaction_proactiveness"))
        guard ModernSysctlSettings.proactivenessRange.contains(v) else {
            throw .invalidConfig(field: FieldPath("compaction_proactiveness"), value: "\(v)", reason: "must be 0..100")
        }
        ms.compactionProactiveness = v
        if v != 0 {
            for nid in nodeIDs where !ms.kcompactd[nid].proactiveTrigger {
                ms.kcompactd[nid].proactiveTrigger = true
                tracer?.modern(.wakeupKcompactd(node: nid.rawValue, order: -1, zoneType: highestPopulatedZoneName(node: nid)))
                kcompactdWake(node: nid)
            }
        }
        bumpGeneration()
    }

    /// Writing /proc/sys/vm/watermark_boost_factor (>= 0).
    public func setWatermarkBoostFactor(_ v: Int) throws(MMError) {
        try requireModern(FieldPath("watermark_boost_factor"))
        guard ModernSysctlSettings.boostFactorRange.contains(v) else {
            throw .invalidConfig(field: FieldPath("watermark_boost_factor"), value: "\(v)", reason: "must be 0..2147483647")
        }
        ms.watermarkBoostFactor = v
        bumpGeneration()
    }

    /// Writing /proc/sys/vm/watermark_scale_factor (1..3000): the watermarks are computed again
    /// (`watermark_scale_factor_sysctl_handler` → `setup_per_zone_wmarks`).
    public func setWatermarkScaleFactor(_ v: Int) throws(MMError) {
        try requireModern(FieldPath("watermark_scale_factor"))
        guard ModernSysctlSettings.scaleFactorRange.contains(v) else {
            throw .invalidConfig(field: FieldPath("watermark_scale_factor"), value: "\(v)", reason: "must be 1..3000")
        }
        ms.watermarkScaleFactor = v
        setupPerZoneWmarks()
        bumpGeneration()
    }

    /// Writing /sys/kernel/mm/transparent_hugepage/defrag.
    public func setTHPDefrag(_ d: THPDefrag) throws(MMError) {
        try requireModern(FieldPath("defrag"))
        ms.thpDefrag = d
        bumpGeneration()
    }

    /// Writing /sys/kernel/mm/transparent_hugepage/enabled.
    public func setTHPEnabled(_ e: THPEnabled) throws(MMError) {
        try requireModern(FieldPath("enabled"))
        ms.thpEnabled = e
        bumpGeneration()
    }

    /// The name of the highest populated zone of a node (the `classzone_idx` tracepoints print).
    func highestPopulatedZoneName(node nid: NodeID) -> String {
        nodes[nid].zoneIds.last(where: { zones[$0].populated }).map { zones[$0].name } ?? ""
    }
}
