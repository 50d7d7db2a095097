import MMCore
import MMFormat

/// The files only a kernel 6.6 machine has: /proc/sys/vm/{compaction_proactiveness,
/// watermark_boost_factor, watermark_scale_factor} (GET the value and a newline, PUT what `echo` would
/// write) and /sys/kernel/mm/transparent_hugepage/{enabled,defrag} (GET the choices with the current one
/// in brackets, as the kernel prints them; PUT one word). On 2.6.34 and 2.6.35 they do not exist (404).
enum ModernRoutes {
    /// A sysctl's name and how to read it; a write is a journal record (`MachineRecord.Op.sysctl`).
    struct Sysctl: Sendable {
        let name: String
        let get: @Sendable (Machine) -> Int?
    }

    static let sysctls: [Sysctl] = [
        Sysctl(name: "compaction_proactiveness", get: { $0.compactionProactiveness }),
        Sysctl(name: "watermark_boost_factor", get: { $0.watermarkBoostFactor }),
        Sysctl(name: "watermark_scale_factor", get: { $0.watermarkScaleFactor }),
    ]

    /// The 404 for a file the machine's kernel does not have (the 6.6 files here, and
    /// hugepages_treat_as_movable on 6.6: `SysctlRoutes`).
    static func noSuchFile(_ m: Machine, _ path: String) -> Problem {
        Problem.notFound("name", "kernel \(m.kernel.name) has no \(path) (only \(m.kernel.kernelsWithOwnSettings))")
    }

    static func register(_ t: inout RouteTable) {
        for s in sysctls {
            let path = "/v1/machines/{name}/proc/sys/vm/\(s.name)"
            t.get(path) { ctx in
                let v = try ctx.machine().withMachine { m throws -> Int in
                    guard let v = s.get(m) else { throw noSuchFile(m, "/proc/sys/vm/\(s.name)") }
                    return v
                }
                return .text("\(v)\n")
            }
            t.add("PUT", path, body: .text, scope: .admin) { ctx in
                let box = try ctx.machine()
                let v = try Validation.sysctlValue(ctx.request.body, field: s.name)
                let now = try box.mutate { section throws -> Int in
                    let m = section.machine
                    guard s.get(m) != nil else { throw noSuchFile(m, "/proc/sys/vm/\(s.name)") }
                    try section.perform(.sysctl(name: s.name, value: v))
                    return s.get(m)!
                }
                return .text("\(now)\n")
            }
        }
        for file in ["enabled", "defrag"] {
            let path = "/v1/machines/{name}/sys/kernel/mm/transparent_hugepage/\(file)"
            t.get(path) { ctx in
                let text = try ctx.machine().withMachine { m throws -> String in
                    guard let e = m.thpEnabled, let d = m.thpDefrag else { throw noSuchFile(m, "/sys/kernel/mm/transparent_hugepage/\(file)") }
                    return file == "enabled" ? choices(THPEnabled.allCases.map(\.rawValue), e.rawValue) : choices(THPDefrag.allCases.map(\.rawValue), d.rawValue)
                }
                return .text(text)
            }
            t.add("PUT", path, body: .text, scope: .admin) { ctx in
                let box = try ctx.machine()
                guard let word = String(validating: ctx.request.body, as: UTF8.self)?.trimmingASCIIWhitespace() else {
                    throw Problem.malformed("the body is not UTF-8 text", field: file)
                }
                let text = try box.mutate { section throws -> String in
                    let m = section.machine
                    guard m.thpEnabled != nil else { throw noSuchFile(m, "/sys/kernel/mm/transparent_hugepage/\(file)") }
                    if file == "enabled" {
                        guard let e = THPEnabled(rawValue: word) else { throw Problem.invalid(file, "must be one of \(THPEnabled.names)") }
                        try section.perform(.thp(file: file, value: e.rawValue))
                        return choices(THPEnabled.allCases.map(\.rawValue), e.rawValue)
                    }
                    guard let d = THPDefrag(rawValue: word) else { throw Problem.invalid(file, "must be one of \(THPDefrag.names)") }
                    try section.perform(.thp(file: file, value: d.rawValue))
                    return choices(THPDefrag.allCases.map(\.rawValue), d.rawValue)
                }
                return .text(text)
            }
        }
    }

    /// `"always defer defer+madvise [madvise] never\n"`.
    static func choices(_ all: [String], _ current: String) -> String {
        all.map { $0 == current ? "[\($0)]" : $0 }.joined(separator: " ") + "\n"
    }

    /// A write to /proc/sys/vm/compact_memory on 6.6 must be the integer 1 (`sysctl_compaction_handler`
    /// answers EINVAL otherwise); the seed took any value.
    static func checkCompactMemoryWrite(_ ctx: RequestContext) throws {
        let box = try ctx.machine()
        guard try box.withMachine({ $0.isModernKernel }) else { return }
        let v = try Validation.sysctlValue(ctx.request.body, field: "compact_memory")
        guard try box.withMachine({ $0.compactMemoryAccepts(v) }) else {
            throw Problem.invalid("compact_memory", "kernel 6.6 accepts only 1 (EINVAL)")
        }
    }
}
