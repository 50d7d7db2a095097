import MMCore
import MMFormat

/// /proc/sys/vm/{extfrag_threshold,min_free_kbytes,compact_unevictable_allowed,hugepages_treat_as_movable,dirty_ratio,
/// dirty_background_ratio}: GET gives the value
/// and a newline, PUT takes what `echo 500 >` would write and answers with the new value.
/// hugepages_treat_as_movable is 2.6.34's and 2.6.35's only: on a 6.6 machine it does not exist (404).
enum SysctlRoutes {
    /// A sysctl's name and how to read it (nil: the machine's kernel has no such file); a write is a
    /// journal record (`MachineRecord.Op.sysctl`, applied by `MachineOps.perform`).
    struct Sysctl: Sendable {
        let name: String
        let get: @Sendable (Machine) -> Int?
    }

    static let all: [Sysctl] = [
        Sysctl(name: "extfrag_threshold", get: { $0.extfragThreshold }),
        Sysctl(name: "min_free_kbytes", get: { $0.minFreeKbytes }),
        Sysctl(name: "compact_unevictable_allowed", get: { $0.compactUnevictableAllowed }),
        Sysctl(name: "hugepages_treat_as_movable", get: { $0.kernel.hasHugepagesTreatAsMovable ? $0.hugepagesTreatAsMovable : nil }),
        Sysctl(name: "dirty_ratio", get: { $0.dirtyRatio }),
        Sysctl(name: "dirty_background_ratio", get: { $0.dirtyBackgroundRatio }),
    ]

    static func register(_ t: inout RouteTable) {
        for s in all {
            let path = "/v1/machines/{name}/proc/sys/vm/\(s.name)"
            t.get(path) { ctx in
                let v = try ctx.machine().withMachine { m throws -> Int in
                    guard let v = s.get(m) else { throw ModernRoutes.noSuchFile(m, "/proc/sys/vm/\(s.name)") }
                    return v
                }
                return .text("\(v)\n")
            }
            t.add("PUT", path, body: .text, scope: .admin) { ctx in
                let box = try ctx.machine()
                let v = try Validation.sysctlValue(ctx.request.body, field: s.name)
                let now = try box.mutate { section throws -> Int in
                    guard s.get(section.machine) != nil else { throw ModernRoutes.noSuchFile(section.machine, "/proc/sys/vm/\(s.name)") }
                    try section.perform(.sysctl(name: s.name, value: v))
                    return s.get(section.machine)!
                }
                return .text("\(now)\n")
            }
        }
    }
}
