import MMCore
import MMFormat

/// Kernel-shaped read-only text files: /proc/{buddyinfo,pagetypeinfo,vmstat,zoneinfo} and the debugfs
/// extfrag files. The text comes from MMCore's ProcFormat, cached per machine generation.
enum ProcRoutes {
    static func register(_ t: inout RouteTable) {
        file(&t, "/v1/machines/{name}/proc/buddyinfo", .buddyinfo) { $0.renderBuddyinfo() }
        file(&t, "/v1/machines/{name}/proc/pagetypeinfo", .pagetypeinfo) { $0.renderPagetypeinfo() }
        file(&t, "/v1/machines/{name}/proc/vmstat", .vmstat) { $0.renderVmstat() }
        file(&t, "/v1/machines/{name}/proc/zoneinfo", .zoneinfo) { $0.renderZoneinfo() }
        file(&t, "/v1/machines/{name}/debug/extfrag/unusable_index", .unusableIndex) { $0.renderUnusableIndex() }
        file(&t, "/v1/machines/{name}/debug/extfrag/extfrag_index", .extfragIndex) { $0.renderExtfragIndex() }
    }

    private static func file(_ t: inout RouteTable, _ path: String, _ kind: DocKind,
                             _ render: @escaping @Sendable (Machine) -> String) {
        t.get(path, cached: { ctx in
            try ctx.machine().cachedDocument(kind).map { Response(status: 200, contentType: "text/plain; charset=utf-8", body: $0) }
        }) { ctx in
            let bytes = try ctx.machine().document(kind) { Array(render($0).utf8) }
            return Response(status: 200, contentType: "text/plain; charset=utf-8", body: bytes)
        }
    }
}
