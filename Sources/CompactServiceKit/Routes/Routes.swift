import MMCore
import MMFormat

/// The route table: every resource mounts its routes here, once, at start-up.
enum Routes {
    static func register(_ t: inout RouteTable) {
        HealthRoutes.register(&t)
        MachineRoutes.register(&t)
        SnapshotRoutes.register(&t)
        AllocationRoutes.register(&t)
        ProcRoutes.register(&t)
        SysctlRoutes.register(&t)
        ModernRoutes.register(&t)
        StatsRoutes.register(&t)
        PageblockRoutes.register(&t)
        CompactRoutes.register(&t)
        WorkloadRoutes.register(&t)
        StreamRoutes.register(&t)
        MetricsRoutes.register(&t)
        UIRoutes.register(&t)
        FleetRoutes.register(&t)
    }

    /// The machine `--demo-machine` creates: x86_64, 4096 MiB, one node.
    static let demoConfig = MachineConfig(preset: .x86_64, memoryMiB: 4096, nodes: 1, seed: 1)
}

enum HealthRoutes {
    static let ok = StaticBytes("{\"status\":\"ok\"}\n")
    static let spec = StaticBytes(PackageResources.openapi_yaml)

    static func register(_ t: inout RouteTable) {
        t.fixed("/healthz", contentType: "application/json", ok)
        t.get("/readyz", execution: .inline) { ctx in
            var w = JSONWriter()
            w.beginObject()
            if ctx.registry.isShuttingDown {
                w.field("status", "shutting_down")
                w.endObject()
                return .json(503, w)
            }
            w.field("status", "ready")
            w.field("machines", ctx.registry.count)
            // Which requests need a bearer token (the dashboard asks for it before the first that does).
            w.field("auth", ctx.auth.rawValue)
            w.endObject()
            return .json(200, w)
        }
        t.fixed("/openapi.yaml", contentType: "application/yaml", spec)
    }
}
