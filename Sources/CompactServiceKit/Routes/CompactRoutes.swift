import MMCore
import MMFormat

/// The compaction triggers: `POST …/compact` (every node, as /proc/sys/vm/compact_memory) and
/// `POST …/nodes/{nid}/compact` answer with a report; the kernel-shaped writes `PUT
/// …/proc/sys/vm/compact_memory` and `PUT …/sys/devices/system/node/node{N}/compact` answer 204, as a
/// write to those files prints nothing. A compaction runs in steps, so stats and /proc reads of the
/// same machine are answered while it runs.
enum CompactRoutes {
    static func register(_ t: inout RouteTable) {
        t.add("POST", "/v1/machines/{name}/compact", body: .none) { ctx in
            try respond(ctx, node: nil)
        }
        t.add("POST", "/v1/machines/{name}/nodes/{nid}/compact", body: .none) { ctx in
            guard let s = ctx.params["nid"], let nid = Int(s), nid >= 0, nid < MachineConfig.maxNodes else {
                throw Problem.badPathParameter("nid", "a node id is a small non-negative integer")
            }
            return try respond(ctx, node: nid)
        }
        t.add("PUT", "/v1/machines/{name}/proc/sys/vm/compact_memory", body: .text) { ctx in
            try ModernRoutes.checkCompactMemoryWrite(ctx)
            _ = try run(ctx, node: nil, asFile: true)
            return .noContent()
        }
        t.add("PUT", "/v1/machines/{name}/sys/devices/system/node/{nodedir}/compact", body: .text) { ctx in
            let dir = ctx.params["nodedir"] ?? ""
            guard dir.hasPrefix("node"), let nid = Int(dir.dropFirst(4)), nid >= 0, nid < MachineConfig.maxNodes else {
                throw Problem.notFound("nodedir", "no such directory: /sys/devices/system/node/\(dir.prefix(32))")
            }
            _ = try run(ctx, node: nid, asFile: true)
            return .noContent()
        }
    }

    /// A zone's free blocks and indices at one moment.
    struct ZoneSnapshot: Sendable {
        var zone: Int
        var freeBlocks: [Int]
        var unusable: [Int]
        var fragmentation: [Int]
    }

    static func snapshot(_ m: Machine, zones: [ZoneID]) -> [ZoneSnapshot] {
        zones.map { z in
            ZoneSnapshot(zone: z.rawValue, freeBlocks: m.nrFreeByOrder(zone: z),
                         unusable: (0..<m.nrOrders).map { m.unusableIndex(zone: z, order: $0) },
                         fragmentation: (0..<m.nrOrders).map { m.fragmentationIndex(zone: z, order: $0) })
        }
    }

    struct Outcome: Sendable {
        var report: CompactionReport
        var before: [ZoneSnapshot]
        var after: [ZoneSnapshot]
        var finished: Bool
        var zoneNames: [Int: (node: Int, name: String)]
    }

    /// Runs a manual compaction in steps of `OperationBudget.stepNs` each under the machine's lock.
    static func run(_ ctx: RequestContext, node: Int?, asFile: Bool) throws -> Outcome {
        let box = try ctx.machine()
        // The run's number in the machine's runs; each step borrows the machine under its lock.
        var runId: Int?
        var before: [ZoneSnapshot] = [], after: [ZoneSnapshot] = []
        var report: CompactionReport?
        var names: [Int: (node: Int, name: String)] = [:]
        var lastScannersNs: UInt64 = 0
        let finished = try box.runInSteps(shouldStop: { ctx.registry.isShuttingDown }) { s throws -> StepOutcome in
            let m = s.machine
            let start = monotonicNs()
            let op: MachineRecord.Op
            if let id = runId {
                op = .compact(run: id, begin: nil, calls: 0)
            } else {
                // The zones the run will compact, as they are before its first step.
                let ids = m.nodes.filter { node == nil || $0.id.rawValue == node }.flatMap(\.zoneIds).filter { m.zones[$0].populated }
                before = snapshot(m, zones: ids)
                for z in ids { names[z.rawValue] = (m.zones[z].node.rawValue, m.zones[z].name) }
                let id = s.runs.newId()
                runId = id
                op = .compact(run: id, begin: .init(node: node), calls: 0)
            }
            let outcome: OpOutcome
            do { outcome = try s.perform(op, limit: .time(start: start)) } catch let e as MMError {
                throw problem(e, machine: box.name, asFile: asFile)
            }
            guard case .compactionSection(let run, _, let done) = outcome else { preconditionFailure("a compaction section") }
            // The scanners' positions for the machine's streams (`events=scanners`), at most every 2 ms.
            if let cc = run.currentControl, !done, monotonicNs() &- lastScannersNs >= 2_000_000 {
                let z = m.zones[cc.zone]
                box.events.scanners(ScannerPositions(node: z.node.rawValue, zone: z.name, zoneStart: z.startPfn.rawValue, zoneEnd: z.endPfn.rawValue,
                                                     migratePfn: cc.migratePfn.rawValue, freePfn: cc.freePfn.rawValue,
                                                     migrateScanned: cc.migrateScanned, freeScanned: cc.freeScanned,
                                                     migrated: cc.migrated))
                lastScannersNs = monotonicNs()
            }
            if done {
                after = snapshot(m, zones: run.zoneIds)
                report = m.report(run)
                return .done
            }
            return .more
        }
        if !finished, let id = runId {
            // Shutting down: put isolated pages back and stop.
            try box.mutate(ending: true) { s in
                guard case .compaction(let r) = try s.perform(.compactCancel(run: id)) else { preconditionFailure("a cancelled compaction") }
                after = snapshot(s.machine, zones: r.zoneIds)
                report = s.machine.report(r)
            }
        }
        return Outcome(report: report!, before: before, after: after, finished: finished, zoneNames: names)
    }

    /// MMCore's refusal to begin a compaction, as this route answers it: a kernel without compaction
    /// has no such file (404) or cannot do it (409); a node the machine lacks is a path that names nothing.
    static func problem(_ error: MMError, machine: String, asFile: Bool) -> Problem {
        switch error {
        case .invalidConfig(let field, _, _) where field == FieldPath("compaction"):
            if asFile { return Problem.notFound("compaction", "this kernel (2.6.34, compaction: false) has no such file") }
            return Problem.conflict("compaction", "this machine runs a kernel without compaction (compaction: false)")
        case .unknownNode(_, let n):
            return Problem.notFound(asFile ? "nodedir" : "nid", "machine '\(machine)' has no node \(n)")
        default:
            return Problem.from(error)
        }
    }

    static func respond(_ ctx: RequestContext, node: Int?) throws -> Response {
        let o = try run(ctx, node: node, asFile: false)
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.field("machine", try ctx.machineName())
        if let node { w.field("node", node) } else { w.key("node"); w.null() }
        w.field("complete", o.finished)
        w.field("simulated_ms", Double(o.report.durationNs) / 1e6)
        w.key("zones")
        w.beginArray()
        for z in o.report.zones {
            w.beginObject()
            w.field("node", z.node)
            w.field("zone", z.zoneName)
            w.field("result", z.result.kernelName)
            w.field("migrate_scanned", z.migrateScanned)
            w.field("free_scanned", z.freeScanned)
            w.field("isolated", z.isolated)
            w.field("migrated", z.migrated)
            w.field("migrate_failed", z.failed)
            w.field("freed_while_isolated", z.freedWhileIsolated)
            w.field("migrate_pfn", z.migratePfn)
            w.field("free_pfn", z.freePfn)
            w.field("simulated_ms", Double(z.durationNs) / 1e6)
            if let b = o.before.first(where: { $0.zone == z.zone }), let a = o.after.first(where: { $0.zone == z.zone }) {
                writeSnapshot("before", b, into: &w)
                writeSnapshot("after", a, into: &w)
            }
            w.endObject()
        }
        w.endArray()
        w.key("vmstat_delta")
        w.beginObject()
        let b = o.report.countersBefore, a = o.report.countersAfter
        for f in deltaCounters {
            w.key(f.name)
            w.int(a[keyPath: f.value] &- b[keyPath: f.value])
        }
        w.endObject()
        w.endObject()
        return .json(200, w)
    }

    /// The vmstat counters a compaction's answer gives the change of.
    static let deltaCounters = VmCounters.fields([
        "compact_blocks_moved", "compact_pages_moved", "compact_pagemigrate_failed", "compact_migrate_scanned",
        "compact_free_scanned", "compact_isolated", "pgmigrate_success", "pgmigrate_fail", "compact_freed_while_isolated",
    ])

    static func writeSnapshot(_ key: StaticString, _ s: ZoneSnapshot, into w: inout JSONWriter) {
        w.key(key)
        w.beginObject()
        w.field("free_blocks", ints: s.freeBlocks)
        w.key("unusable_index")
        w.beginArray()
        for v in s.unusable { w.thousandths(v) }
        w.endArray()
        w.key("fragmentation_index")
        w.beginArray()
        for v in s.fragmentation { w.thousandths(v) }
        w.endArray()
        w.endObject()
    }
}
