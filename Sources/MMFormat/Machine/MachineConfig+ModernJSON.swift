import MMCore

/// The JSON of the modern profile's settings (kernel 6.6): `kernel`, its sysctls and `transparent_hugepage`.
extension MachineConfig {
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
