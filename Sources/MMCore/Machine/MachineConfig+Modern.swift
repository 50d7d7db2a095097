/// The settings only the modern profile (kernel 6.6) has: its sysctls and the transparent huge page
/// switches. A machine of an older kernel refuses them, naming the field; nil means the 6.6 default.
public struct ModernSysctlSettings: Sendable, Equatable {
    /// `vm.compaction_proactiveness` (0...100, default 20; mm/compaction.c).
    public var compactionProactiveness: Int?
    /// `vm.watermark_boost_factor` (>= 0, default 15000; mm/page_alloc.c).
    public var watermarkBoostFactor: Int?
    /// `vm.watermark_scale_factor` (1...3000, default 10; mm/page_alloc.c).
    public var watermarkScaleFactor: Int?
    public init(compactionProactiveness: Int? = nil, watermarkBoostFactor: Int? = nil, watermarkScaleFactor: Int? = nil) {
        self.compactionProactiveness = compactionProactiveness
        self.watermarkBoostFactor = watermarkBoostFactor
        self.watermarkScaleFactor = watermarkScaleFactor
    }
    var isEmpty: Bool { compactionProactiveness == nil && watermarkBoostFactor == nil && watermarkScaleFactor == nil }

    public static let defaultCompactionProactiveness = 20
    public static let defaultWatermarkBoostFactor = 15000
    public static let defaultWatermarkScaleFactor = 10
    /// The ranges `proc_dointvec_minmax` enforces (SYSCTL_ZERO..SYSCTL_ONE_HUNDRED, SYSCTL_ZERO..,
    /// SYSCTL_ONE..SYSCTL_THREE_THOUSAND).
    public static let proactivenessRange = 0...100
    public static let boostFactorRange = 0...Int(Int32.max)
    public static let scaleFactorRange = 1...3000
}

/// `/sys/kernel/mm/transparent_hugepage/defrag` (mm/huge_memory.c, `defrag_store`).
public enum THPDefrag: String, Sendable, CaseIterable {
    case always, `defer`, deferMadvise = "defer+madvise", madvise, never
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// `/sys/kernel/mm/transparent_hugepage/enabled`.
public enum THPEnabled: String, Sendable, CaseIterable {
    case always, madvise, never
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// The transparent huge page switches of a 6.6 machine. Defaults as the kernel's Kconfig leaves them:
/// `enabled` always (TRANSPARENT_HUGEPAGE_ALWAYS is the default choice), `defrag` madvise.
public struct TransparentHugepageSettings: Sendable, Equatable {
    public var enabled: THPEnabled?
    public var defrag: THPDefrag?
    public init(enabled: THPEnabled? = nil, defrag: THPDefrag? = nil) { self.enabled = enabled; self.defrag = defrag }
}

extension MachineConfig {
    /// The modern settings are only for a 6.6 machine, and in range.
    func validateModernSettings() throws(MMError) {
        let m = sysctl.modern
        if !kernel.hasHugepagesTreatAsMovable, let v = sysctl.hugepagesTreatAsMovable {
            throw kernel.lacksSetting(FieldPath("sysctl", "hugepages_treat_as_movable"), value: "\(v)")
        }
        if !kernel.isModern {
            let field: FieldPath? = m.compactionProactiveness != nil ? FieldPath("sysctl", "compaction_proactiveness")
                : m.watermarkBoostFactor != nil ? FieldPath("sysctl", "watermark_boost_factor")
                : m.watermarkScaleFactor != nil ? FieldPath("sysctl", "watermark_scale_factor")
                : transparentHugepage != nil ? FieldPath("transparent_hugepage") : nil
            if let f = field { throw kernel.lacksSetting(f, value: kernel.name) }
            return
        }
        if let v = m.compactionProactiveness, !ModernSysctlSettings.proactivenessRange.contains(v) {
            throw .invalidConfig(field: FieldPath("sysctl", "compaction_proactiveness"), value: "\(v)", reason: "must be 0..100")
        }
        if let v = m.watermarkBoostFactor, !ModernSysctlSettings.boostFactorRange.contains(v) {
            throw .invalidConfig(field: FieldPath("sysctl", "watermark_boost_factor"), value: "\(v)", reason: "must be 0..2147483647")
        }
        if let v = m.watermarkScaleFactor, !ModernSysctlSettings.scaleFactorRange.contains(v) {
            throw .invalidConfig(field: FieldPath("sysctl", "watermark_scale_factor"), value: "\(v)", reason: "must be 1..3000")
        }
    }
}
