/// What one zone's compaction did.
public struct ZoneCompaction: Sendable, Equatable {
    public var zone: Int
    public var node: Int
    public var zoneName: String
    public var result: CompactResult
    public var migrateScanned: Int
    public var freeScanned: Int
    public var isolated: Int
    public var migrated: Int
    public var failed: Int
    public var freedWhileIsolated: Int
    public var durationNs: UInt64
    public var migratePfn: Int
    public var freePfn: Int

    init(_ cc: CompactControl, _ zone: Zone) {
        self.zone = cc.zone.rawValue
        node = zone.node.rawValue
        zoneName = zone.name
        result = cc.result ?? .continue
        migrateScanned = cc.migrateScanned
        freeScanned = cc.freeScanned
        isolated = cc.isolatedMigrate + cc.isolatedFree
        migrated = cc.migrated
        failed = cc.failed
        freedWhileIsolated = cc.freedWhileIsolated
        durationNs = cc.durationNs
        migratePfn = cc.migratePfn.rawValue
        freePfn = cc.freePfn.rawValue
    }
}

/// A manual compaction (`/proc/sys/vm/compact_memory` or `/sys/devices/system/node/nodeN/compact`) in
/// progress: every populated zone of the chosen nodes, one after another, with order -1. The caller
/// drives it with `Machine.step(_:maxSteps:)`, so other work can run between steps.
public final class CompactionRun {
    public let zoneIds: [ZoneID]
    public let countersBefore: VmCounters
    public let clockBefore: UInt64
    public private(set) var results: [ZoneCompaction] = []
    var current: CompactControl?
    var next = 0
    public internal(set) var cancelled = false
    /// The last `step` call ended early on a step that only waited for pages another run holds isolated:
    /// the caller should let other work run before it calls again.
    public internal(set) var waitingForIsolated = false

    init(zoneIds: [ZoneID], countersBefore: VmCounters, clockBefore: UInt64) {
        self.zoneIds = zoneIds
        self.countersBefore = countersBefore
        self.clockBefore = clockBefore
    }

    public var isDone: Bool { current == nil && next >= zoneIds.count }
    /// Fraction of zones finished (0...1).
    public var progress: Double { zoneIds.isEmpty ? 1 : Double(results.count) / Double(zoneIds.count) }
    /// The zone compaction in progress, if any (scanner positions for progress reports).
    public var currentControl: CompactControl? { current }

    func record(_ r: ZoneCompaction) { results.append(r) }
}

/// The outcome of a manual compaction.
public struct CompactionReport: Sendable {
    public var zones: [ZoneCompaction]
    public var countersBefore: VmCounters
    public var countersAfter: VmCounters
    /// Simulated time the compaction took.
    public var durationNs: UInt64
}

extension Machine {
    /// Refuses manual compaction on a kernel without the series.
    func requireCompaction() throws(MMError) {
        guard compactionEnabled else {
            throw .invalidConfig(field: FieldPath("compaction"), value: "false",
                                 reason: "this machine runs a kernel without compaction (2.6.34): there is nothing to trigger")
        }
    }

    /// Starts `compact_memory` (node nil: every node) or `nodeN/compact`. The seed accepted any value
    /// written to either file.
    public func beginCompaction(node: NodeID? = nil) throws(MMError) -> CompactionRun {
        try requireCompaction()
        if let n = node, !(0..<nodes.count).contains(n.rawValue) { throw .unknownNode(field: FieldPath("node"), node: n.rawValue) }
        let ids = nodes.filter { node == nil || $0.id == node }.flatMap { $0.zoneIds }.filter { zones[$0].populated }
        return CompactionRun(zoneIds: ids, countersBefore: counters, clockBefore: clockNs)
    }

    /// Advances a manual compaction by up to `maxSteps` steps. Returns true when it has finished.
    ///
    /// A step that did not move the run (it waited in `too_many_isolated` for pages another run holds
    /// isolated) ends the call early: those pages go back only when their holder is stepped, which
    /// cannot happen inside this call, so repeating the step here would only repeat the wait. The caller
    /// lets other work run (the service releases the machine's lock) and calls again.
    @discardableResult
    public func step(_ run: CompactionRun, maxSteps: Int = 64) -> Bool {
        var steps = 0
        run.waitingForIsolated = false
        while steps < maxSteps && !run.isDone {
            startNextZoneIfIdle(run)
            let before = run.current!.progress
            if compactZoneStep(&run.current!) {
                recordCurrentZone(run)
            } else if run.current!.progress == before {
                run.waitingForIsolated = true
                break
            }
            steps += 1
        }
        return run.isDone
    }

    /// Runs a manual compaction to its end with nothing else running in between: each zone by
    /// `compactZoneToEnd`, which ends a zone that only another run could move on (PARTIAL).
    public func compactToEnd(_ run: CompactionRun) {
        while !run.isDone {
            startNextZoneIfIdle(run)
            _ = compactZoneToEnd(&run.current!)
            recordCurrentZone(run)
        }
    }

    /// Starts the compaction of the run's next zone unless one is in progress.
    private func startNextZoneIfIdle(_ run: CompactionRun) {
        guard run.current == nil else { return }
        let z = run.zoneIds[run.next]
        run.next += 1
        run.current = makeCompactControl(zone: z, order: -1, migratetype: .movable)
    }

    /// Records the run's finished (or abandoned) zone compaction.
    private func recordCurrentZone(_ run: CompactionRun) {
        run.record(ZoneCompaction(run.current!, zones[run.current!.zone]))
        run.current = nil
    }

    /// Stops a manual compaction early: pages held in isolation go back, nothing is lost.
    public func cancel(_ run: CompactionRun) {
        if run.current != nil {
            abortCompactZone(&run.current!)
            recordCurrentZone(run)
        }
        run.next = run.zoneIds.count
        run.cancelled = true
    }

    /// The report of a finished (or cancelled) manual compaction.
    public func report(_ run: CompactionRun) -> CompactionReport {
        CompactionReport(zones: run.results, countersBefore: run.countersBefore, countersAfter: counters,
                         durationNs: clockNs &- run.clockBefore)
    }

    /// Writing /proc/sys/vm/compact_memory: compacts every populated zone of every node, to the end.
    @discardableResult
    public func compactMemory() throws(MMError) -> CompactionReport {
        let run = try beginCompaction()
        compactToEnd(run)
        return report(run)
    }

    /// Writing /sys/devices/system/node/nodeN/compact: compacts every populated zone of one node.
    @discardableResult
    public func compactNode(_ nid: NodeID) throws(MMError) -> CompactionReport {
        let run = try beginCompaction(node: nid)
        compactToEnd(run)
        return report(run)
    }
}
