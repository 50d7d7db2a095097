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
        if !kernel.isModern {
            let field: String? = m.compactionProactiveness != nil ? "sysctl.compaction_proactiveness"
                : m.watermarkBoostFactor != nil ? "sysctl.watermark_boost_factor"
                : m.watermarkScaleFactor != nil ? "sysctl.watermark_scale_factor"
                : transparentHugepage != nil ? "transparent_hugepage" : nil
            if let f = field {
                throw .invalidConfig(field: f, value: kernel.name, reason: "kernel \(kernel.name) has no such setting (only kernel 6.6 has)")
            }
            return
        }
        if let v = m.compactionProactiveness, !ModernSysctlSettings.proactivenessRange.contains(v) {
            throw .invalidConfig(field: "sysctl.compaction_proactiveness", value: "\(v)", reason: "must be 0..100")
        }
        if let v = m.watermarkBoostFactor, !ModernSysctlSettings.boostFactorRange.contains(v) {
            throw .invalidConfig(field: "sysctl.watermark_boost_factor", value: "\(v)", reason: "must be 0..2147483647")
        }
        if let v = m.watermarkScaleFactor, !ModernSysctlSettings.scaleFactorRange.contains(v) {
            throw .invalidConfig(field: "sysctl.watermark_scale_factor", value: "\(v)", reason: "must be 1..3000")
        }
    }

    /// Reads `kernel` (and checks it against `compaction` when both are given) and the modern settings
    /// (`sysctl.compaction_proactiveness`, `sysctl.watermark_boost_factor`, `sysctl.watermark_scale_factor`,
    /// `transparent_hugepage: {enabled, defrag}`).
    static func readKernel(_ r: JSONObjectReader) throws(MMError) -> KernelRelease? {
        guard let name = try r.string("kernel") else { return nil }
        guard let k = KernelRelease(name: name) else {
            throw .invalidConfig(field: r.field("kernel"), value: name, reason: "unknown kernel (\(KernelRelease.names))")
        }
        if let c = try r.bool("compaction"), c != k.hasCompaction {
            throw .invalidConfig(field: r.field("kernel"), value: name,
                                 reason: "compaction: \(c) contradicts kernel \(name) (compaction: false is kernel 2.6.34)")
        }
        return k
    }

    static let modernSysctlKeys = ["compaction_proactiveness", "watermark_boost_factor", "watermark_scale_factor"]

    static func readModernSysctl(_ s: JSONObjectReader) throws(MMError) -> ModernSysctlSettings {
        ModernSysctlSettings(compactionProactiveness: try s.int("compaction_proactiveness", in: ModernSysctlSettings.proactivenessRange),
                             watermarkBoostFactor: try s.int("watermark_boost_factor", in: ModernSysctlSettings.boostFactorRange),
                             watermarkScaleFactor: try s.int("watermark_scale_factor", in: ModernSysctlSettings.scaleFactorRange))
    }

    static func readTransparentHugepage(_ r: JSONObjectReader) throws(MMError) -> TransparentHugepageSettings? {
        guard let t = try r.object("transparent_hugepage") else { return nil }
        try t.rejectUnknown(["enabled", "defrag"])
        var out = TransparentHugepageSettings()
        if let e = try t.string("enabled") {
            guard let v = THPEnabled(rawValue: e) else {
                throw .invalidConfig(field: t.field("enabled"), value: e, reason: "must be one of \(THPEnabled.names)")
            }
            out.enabled = v
        }
        if let d = try t.string("defrag") {
            guard let v = THPDefrag(rawValue: d) else {
                throw .invalidConfig(field: t.field("defrag"), value: d, reason: "must be one of \(THPDefrag.names)")
            }
            out.defrag = v
        }
        return out
    }

    /// The JSON of the modern settings, appended to `json`'s keys only for a 6.6 machine (so the text of
    /// the two old kernels' configurations is what it always was).
    func appendModernJSON(_ m: inout [(String, JSON)]) {
        guard kernel.isModern else { return }
        m.append(("kernel", .string(kernel.name)))
        if let t = transparentHugepage {
            var o: [(String, JSON)] = []
            if let e = t.enabled { o.append(("enabled", .string(e.rawValue))) }
            if let d = t.defrag { o.append(("defrag", .string(d.rawValue))) }
            m.append(("transparent_hugepage", .object(o)))
        }
    }

    func appendModernSysctlJSON(_ s: inout [(String, JSON)]) {
        let v = sysctl.modern
        if let x = v.compactionProactiveness { s.append(("compaction_proactiveness", .number(Double(x)))) }
        if let x = v.watermarkBoostFactor { s.append(("watermark_boost_factor", .number(Double(x)))) }
        if let x = v.watermarkScaleFactor { s.append(("watermark_scale_factor", .number(Double(x)))) }
    }
}
