import MMCore
import MMFormat
#if canImport(Glibc)
import Glibc
#endif

/// GET /metrics: the Prometheus text format (0.0.4).
///
/// Per machine, the series node_exporter exposes for a real kernel, under the same names, types and
/// help texts, with a `machine` label added, so dashboards built for node_exporter work unchanged:
/// `node_buddyinfo_blocks{node,zone,size}` (free blocks per order, /proc/buddyinfo) and
/// `node_vmstat_<field>` (every /proc/vmstat field; untyped, as node_exporter's vmstat collector
/// declares them). Then the service's own `compact_service_*` metrics.
enum MetricsRoutes {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func register(_ t: inout RouteTable) {
        t.get("/metrics") { ctx in
            Response(status: 200, contentType: contentType, body: Array(render(ctx.registry).text.utf8))
        }
    }

    /// What one machine contributes, read in one short critical section.
    struct MachineSample: Sendable {
        var name: String
        /// (node, zone name, free blocks per order) for every populated zone.
        var buddy: [(node: Int, zone: String, blocks: [Int])]
        var vmstat: [(String, Int64)]
        var stateBytes: Int
        var generation: UInt64
    }

    static func sample(_ box: MachineBox) throws -> MachineSample {
        try box.withMachine { m in
            var buddy: [(node: Int, zone: String, blocks: [Int])] = []
            for node in m.nodes {
                for zid in node.zoneIds where m.zones[zid].populated {
                    buddy.append((node.id.rawValue, m.zones[zid].name, m.nrFreeByOrder(zone: zid)))
                }
            }
            return MachineSample(name: box.name, buddy: buddy, vmstat: m.vmstatPairs(), stateBytes: m.stateBytes,
                                 generation: m.generation)
        }
    }

    static func render(_ registry: MachineRegistry) -> PrometheusText {
        let machines = registry.list().compactMap { try? sample($0) }
        var p = PrometheusText()

        if machines.contains(where: { !$0.buddy.isEmpty }) {
            p.family("node_buddyinfo_blocks", .gauge, help: "Count of free blocks according to size.")
            for m in machines {
                for z in m.buddy {
                    for (order, n) in z.blocks.enumerated() {
                        p.sample("node_buddyinfo_blocks",
                                 ["machine": m.name, "node": String(z.node), "zone": z.zone, "size": String(order)], n)
                    }
                }
            }
        }

        // vmstat fields in /proc/vmstat order; a field only some machines have (a zone type another
        // architecture lacks) keeps its first position.
        var names: [String] = []
        var seen: Set<String> = []
        for m in machines { for (k, _) in m.vmstat where seen.insert(k).inserted { names.append(k) } }
        let values = machines.map { m in Dictionary(m.vmstat, uniquingKeysWith: { a, _ in a }) }
        for k in names {
            let metric = "node_vmstat_\(k)"
            p.family(metric, .untyped, help: "/proc/vmstat information field \(k).")
            for (m, v) in zip(machines, values) { if let x = v[k] { p.sample(metric, ["machine": m.name], x) } }
        }

        p.family("compact_service_machines", .gauge, help: "Machines the service holds.")
        p.sample("compact_service_machines", [:], machines.count)
        p.family("compact_service_memory_budget_bytes", .gauge, help: "Bytes the service may hold for machines, runs, experiments and job results (--memory-budget).")
        p.sample("compact_service_memory_budget_bytes", [:], registry.memoryBudget)
        p.family("compact_service_memory_used_bytes", .gauge, help: "Bytes charged against the memory budget now.")
        p.sample("compact_service_memory_used_bytes", [:], registry.usedBytes)
        p.family("compact_service_memory_refusals_total", .counter, help: "Operations the memory budget refused or stopped, by operation.")
        for (op, n) in registry.refusals { p.sample("compact_service_memory_refusals_total", ["operation": op.rawValue], n) }
        if let rss = ProcessMemory.residentBytes() {
            p.family("process_resident_memory_bytes", .gauge, help: "Resident memory size in bytes.")
            p.sample("process_resident_memory_bytes", [:], rss)
        }
        if !machines.isEmpty {
            p.family("compact_service_state_bytes", .gauge, help: "Bytes of simulator state a machine holds.")
            for m in machines { p.sample("compact_service_state_bytes", ["machine": m.name], m.stateBytes) }
            p.family("compact_service_machine_generation", .gauge, help: "Changes of a machine's state since it was created.")
            for m in machines { p.sample("compact_service_machine_generation", ["machine": m.name], m.generation) }
        }
        if let store = registry.store { durable(store, registry, into: &p) }
        p.family("compact_service_sse_streams", .gauge, help: "Open Server-Sent Events streams.")
        p.sample("compact_service_sse_streams", [:], registry.metrics.openStreams.load(ordering: .relaxed))

        let snap = registry.metrics.snapshot()
        let keys = snap.keys.sorted { ($0.route, $0.method) < ($1.route, $1.method) }
        if !keys.isEmpty {
            p.family("compact_service_http_requests_total", .counter, help: "HTTP requests answered, by route pattern, method and status.")
            for k in keys {
                for (status, n) in snap[k]!.statuses.sorted(by: { $0.status < $1.status }) {
                    p.sample("compact_service_http_requests_total", ["route": k.route, "method": k.method, "status": String(status)], n)
                }
            }
            let name = "compact_service_http_request_duration_seconds"
            p.family(name, .histogram, help: "Time from a request's arrival until its response is queued (for a stream: until it opens).")
            for k in keys {
                let h = snap[k]!.duration
                var cumulative: UInt64 = 0
                for (i, le) in ServiceMetrics.buckets.enumerated() {
                    cumulative += h.counts[i]
                    p.sample("\(name)_bucket", ["route": k.route, "method": k.method, "le": PrometheusText.format(le)], cumulative)
                }
                p.sample("\(name)_bucket", ["route": k.route, "method": k.method, "le": "+Inf"], h.count)
                p.sample("\(name)_sum", ["route": k.route, "method": k.method], h.sum)
                p.sample("\(name)_count", ["route": k.route, "method": k.method], h.count)
            }
        }
        return p
    }
}

extension MetricsRoutes {
    /// The durable state's series (with --state-dir).
    static func durable(_ store: StateStore, _ registry: MachineRegistry, into p: inout PrometheusText) {
        let recoveries = store.metrics.recoveries.withLock { $0 }
        if !recoveries.isEmpty {
            p.family("compact_service_recovery_seconds", .gauge, help: "Time start-up took to recover a machine from the state directory (snapshot and journal).")
            for r in recoveries { p.sample("compact_service_recovery_seconds", ["machine": r.name], r.seconds) }
            p.family("compact_service_recovery_records", .gauge, help: "Journal records replayed to recover a machine at start-up.")
            for r in recoveries { p.sample("compact_service_recovery_records", ["machine": r.name], r.records) }
        }
        p.family("compact_service_machines_unavailable", .gauge, help: "Machines in the state directory that could not be recovered.")
        p.sample("compact_service_machines_unavailable", [:], registry.unavailable.count)
        let c = store.committer
        p.family("compact_service_journal_commits_total", .counter, help: "Group commits: rounds that wrote and fsynced journal records.")
        p.sample("compact_service_journal_commits_total", [:], c.rounds.load(ordering: .relaxed))
        p.family("compact_service_journal_commit_seconds_total", .counter, help: "Time spent writing and fsyncing journal records.")
        p.sample("compact_service_journal_commit_seconds_total", [:], Double(c.syncNs.load(ordering: .relaxed)) / 1e9)
        let m = store.metrics
        p.family("compact_service_snapshots_total", .counter, help: "Snapshots written to the state directory.")
        p.sample("compact_service_snapshots_total", [:], m.snapshots.load(ordering: .relaxed))
        p.family("compact_service_snapshot_failures_total", .counter, help: "Snapshots that could not be taken or written (retried later).")
        p.sample("compact_service_snapshot_failures_total", [:], m.snapshotFailures.load(ordering: .relaxed))
        p.family("compact_service_snapshot_bytes_total", .counter, help: "Bytes of snapshots written.")
        p.sample("compact_service_snapshot_bytes_total", [:], m.snapshotBytes.load(ordering: .relaxed))
        p.family("compact_service_snapshot_seconds_total", .counter, help: "Time spent encoding and writing snapshots.")
        p.sample("compact_service_snapshot_seconds_total", [:], Double(m.snapshotNs.load(ordering: .relaxed)) / 1e9)
        p.family("compact_service_state_disk_refusals_total", .counter, help: "Changes refused because the state directory was short of space.")
        p.sample("compact_service_state_disk_refusals_total", [:], m.diskRefusals.load(ordering: .relaxed))
    }
}

/// The process's own memory, as the kernel counts it.
enum ProcessMemory {
    /// Resident set size in bytes (/proc/self/statm), nil where there is none.
    static func residentBytes() -> Int? {
        guard let f = fopen("/proc/self/statm", "r") else { return nil }
        defer { fclose(f) }
        var buf = [UInt8](repeating: 0, count: 128)
        let n = fread(&buf, 1, buf.count, f)
        guard n > 0 else { return nil }
        let fields = String(decoding: buf[0..<n], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
