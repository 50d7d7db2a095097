/// kcompactd, the per-node compaction daemon of the modern profile (kernel 6.6, mm/compaction.c
/// `kcompactd`, `kcompactd_do_work`, `wakeup_kcompactd`, `kcompactd_node_suitable`, and proactive
/// compaction: `proactive_compact_node`, `fragmentation_score_*`, `should_proactive_compact_node`;
/// kernel-compaction.md §6.4, §6.5).
///
/// Like kswapd here (Vmscan/Kswapd.swift), kcompactd runs on its own CPU: it has its own simulated clock,
/// which may run up to the machine's clock whenever the machine lets its daemons run (after an
/// allocation's slow path and while a workload idles). Its compaction is stepped (a zone compaction can
/// span several such calls, its pages isolated in between) and its time is never the allocations'.
/// Asleep, it wakes when woken (`wakeup_kcompactd`, the proactiveness sysctl) or when its timeout
/// (HPAGE_FRAG_CHECK_INTERVAL_MSEC = 500 ms, 32 s after a proactive run that did not lower the node's
/// score, none when proactiveness is 0) expires.
struct KcompactdState {
    /// `kcompactd_max_order`, `kcompactd_highest_zoneidx`, `proactive_compact_trigger`.
    var maxOrder = 0
    var highestZoneidx: Int
    var proactiveTrigger = false
    /// kcompactd's own clock (ns of machine time it has reached).
    var clock: UInt64 = 0
    /// Asleep in `wait_event_freezable_timeout` since `sleptAt`, woken at `wokenAt` (nil: not woken).
    var sleeping = true
    var sleptAt: UInt64 = 0
    var wokenAt: UInt64?
    /// The timeout of the current sleep (ns; nil: none).
    var timeoutNs: UInt64? = Machine.kcompactdIntervalNs
    /// The work in progress while awake.
    var job: KcompactdJob?

    init(nrZoneTypes: Int) { highestZoneidx = nrZoneTypes - 1 }
}

/// kcompactd's work while awake: `kcompactd_do_work` or `proactive_compact_node`, zone by zone.
struct KcompactdJob {
    enum Kind { case doWork, proactive(prevScore: Int) }
    var kind: Kind
    var order: Int
    var highestZoneidx: Int
    /// The node's zone ids still to look at, and the compaction in progress.
    var zones: [ZoneID]
    var next = 0
    var cc: CompactControl?
    /// `compact_control` fields that carry from one zone to the next (the kernel reuses one cc).
    var carried: ModernCompactFields
}

extension Machine {
    /// HPAGE_FRAG_CHECK_INTERVAL_MSEC.
    static let kcompactdIntervalNs: UInt64 = 500_000_000

    /// `fragmentation_score_zone_weighted`: present pages × score / (node present pages + 1).
    public func fragmentationScoreZoneWeighted(_ z: ZoneID) -> Int {
        let nodePresent = nodes[zones[z].node].zoneIds.reduce(0) { $0 + zones[$1].presentPages }
        return zones[z].presentPages * fragmentationScoreZone(z) / (nodePresent + 1)
    }

    /// `fragmentation_score_node`: the weighted scores of the node's populated zones, summed.
    public func fragmentationScoreNode(_ nid: NodeID) -> Int {
        nodes[nid].zoneIds.filter { zones[$0].populated }.reduce(0) { $0 + fragmentationScoreZoneWeighted($1) }
    }

    /// `should_proactive_compact_node`: proactiveness on, kswapd not running, node score above the high mark.
    public func shouldProactiveCompactNode(_ nid: NodeID) -> Bool {
        guard let m = modern, m.compactionProactiveness != 0, !kswapdIsRunning(node: nid) else { return false }
        return fragmentationScoreNode(nid) > Machine.fragmentationScoreWmark(proactiveness: m.compactionProactiveness, low: false)
    }

    /// `kcompactd_node_suitable`: some populated zone up to `kcompactd_highest_zoneidx` fails the MIN
    /// watermark at `kcompactd_max_order` and passes `compaction_suitable`.
    func kcompactdNodeSuitable(_ nid: NodeID) -> Bool {
        let k = ms.kcompactd[nid]
        for (i, z) in nodes[nid].zoneIds.enumerated() where i <= k.highestZoneidx && zones[z].populated {
            if modernZoneWatermarkOk(zone: z, order: k.maxOrder, mark: wmarkPages(zone: z, .min), highestZoneidx: k.highestZoneidx, flags: []) { continue }
            if modernCompactionSuitable(zone: z, order: k.maxOrder, highestZoneidx: k.highestZoneidx) { return true }
        }
        return false
    }

    /// `wakeup_kcompactd`: remember the highest order and tightest zone index asked for; wake a sleeping
    /// kcompactd if the node would profit.
    public func wakeupKcompactd(node nid: NodeID, order: Int, highestZoneidx hz: Int) {
        guard modern != nil, order > 0 else { return }
        if ms.kcompactd[nid].maxOrder < order { ms.kcompactd[nid].maxOrder = order }
        if ms.kcompactd[nid].highestZoneidx > hz { ms.kcompactd[nid].highestZoneidx = hz }
        guard ms.kcompactd[nid].sleeping else { return }
        guard kcompactdNodeSuitable(nid) else { return }
        tracer?.modern(.wakeupKcompactd(node: nid.rawValue, order: order, zoneType: zoneTypeName(node: nid, index: hz)))
        kcompactdWake(node: nid)
    }

    /// Wakes a sleeping kcompactd now (machine time).
    func kcompactdWake(node nid: NodeID) {
        if ms.kcompactd[nid].sleeping && ms.kcompactd[nid].wokenAt == nil { ms.kcompactd[nid].wokenAt = clockNs }
    }

    func zoneTypeName(node nid: NodeID, index: Int) -> String {
        let ids = nodes[nid].zoneIds
        return index >= 0 && index < ids.count ? zones[ids[index]].name : ""
    }

    /// Lets every node's kcompactd run up to the machine's clock.
    func runPendingKcompactd() {
        guard modern != nil else { return }
        let now = clockNs
        for nid in nodeIDs { runKcompactd(node: nid, until: now) }
    }

    /// kcompactd's main loop (`kcompactd`) for one node, in its own time, up to `now`.
    func runKcompactd(node nid: NodeID, until now: UInt64) {
        var guardSteps = 0
        while guardSteps < 1 << 24 {
            guardSteps += 1
            if ms.kcompactd[nid].job != nil {
                if ms.kcompactd[nid].clock >= now { return }
                stepKcompactdJob(node: nid)
                continue
            }
            // Asleep: what wakes it first, if anything, before `now`?
            let k = ms.kcompactd[nid]
            let timeoutAt: UInt64? = (ms.compactionProactiveness == 0 ? nil : k.timeoutNs).map { k.sleptAt &+ $0 }
            let workRequested = k.maxOrder > 0 || k.proactiveTrigger
            if let w = k.wokenAt, w <= now, workRequested {
                ms.kcompactd[nid].clock = max(k.clock, w)
                wakeKcompactd(node: nid, byTimeout: false)
                continue
            }
            if let t = timeoutAt, t <= now {
                ms.kcompactd[nid].clock = max(k.clock, t)
                wakeKcompactd(node: nid, byTimeout: true)
                continue
            }
            ms.kcompactd[nid].clock = max(k.clock, now)
            return
        }
    }

    /// kcompactd returns from its wait: woken for work (`kcompactd_do_work`), or by its timeout or the
    /// proactiveness trigger (the proactive check). A timeout with work pending (an order asked for
    /// while no wake-up was sent) also does the work, as `wait_event_freezable_timeout` then reports
    /// the condition true.
    func wakeKcompactd(node nid: NodeID, byTimeout: Bool) {
        ms.kcompactd[nid].sleeping = false
        ms.kcompactd[nid].wokenAt = nil
        let k = ms.kcompactd[nid]
        if k.maxOrder > 0 && !k.proactiveTrigger {
            startKcompactdDoWork(node: nid)
            return
        }
        // Timeout (or trigger): the proactive check, at the default timeout.
        ms.kcompactd[nid].timeoutNs = Machine.kcompactdIntervalNs
        if shouldProactiveCompactNode(nid) {
            let prev = fragmentationScoreNode(nid)
            ev.modern.compactProactiveRuns &+= 1
            let fields = Machine.modernFields(mode: .syncLight, proactive: true, wholeZone: true, ignoreSkipHint: true, kcompactd: true,
                                              highestZoneidx: nodes[nid].zoneIds.count - 1, order: -1)
            ms.kcompactd[nid].job = KcompactdJob(kind: .proactive(prevScore: prev), order: -1, highestZoneidx: fields.highestZoneidx,
                                                  zones: nodes[nid].zoneIds.filter { zones[$0].populated }, carried: fields)
            return
        }
        ms.kcompactd[nid].proactiveTrigger = false
        kcompactdSleep(node: nid)
    }

    /// `kcompactd_do_work` begins: `compact_daemon_wake`, and the zones up to the highest index asked for.
    func startKcompactdDoWork(node nid: NodeID) {
        let k = ms.kcompactd[nid]
        ms.kcompactd[nid].timeoutNs = Machine.kcompactdIntervalNs
        tracer?.modern(.kcompactdWake(node: nid.rawValue, order: k.maxOrder, zoneType: zoneTypeName(node: nid, index: k.highestZoneidx)))
        ev.modern.compactDaemonWake &+= 1
        let ids = nodes[nid].zoneIds.enumerated().filter { $0.offset <= k.highestZoneidx && zones[$0.element].populated }.map(\.element)
        let fields = Machine.modernFields(mode: .syncLight, kcompactd: true, highestZoneidx: k.highestZoneidx, order: k.maxOrder)
        ms.kcompactd[nid].job = KcompactdJob(kind: .doWork, order: k.maxOrder, highestZoneidx: k.highestZoneidx, zones: ids, carried: fields)
    }

    /// One step of kcompactd's job: start the next zone's compaction (skipping zones the kernel skips),
    /// or advance the current one; its simulated time is kcompactd's.
    func stepKcompactdJob(node nid: NodeID) {
        var job = ms.kcompactd[nid].job!
        ms.kcompactd[nid].job = nil
        var jobDone = false
        defer { if !jobDone { ms.kcompactd[nid].job = job } }
        if var cc = job.cc {
            let before = cc.progress, d0 = cc.durationNs
            var finished = modernCompactZoneStep(&cc)
            if !finished && cc.progress == before {
                modernEndStalled(&cc)
                finished = true
            }
            ms.kcompactd[nid].clock &+= cc.durationNs &- d0
            if finished {
                kcompactdZoneDone(job: &job, cc)
                job.cc = nil
            } else {
                job.cc = cc
            }
            return
        }
        while job.next < job.zones.count {
            let z = job.zones[job.next]
            job.next += 1
            if case .doWork = job.kind {
                if modernCompactionDeferred(zone: z, order: job.order) { continue }
                let zoneid = zones[z].indexInNode
                if modernZoneWatermarkOk(zone: z, order: job.order, mark: wmarkPages(zone: z, .min), highestZoneidx: zoneid, flags: []) { continue }
                if !modernCompactionSuitable(zone: z, order: job.order, highestZoneidx: zoneid) { continue }
            }
            var cc = makeModernCompactControl(zone: z, order: job.order, migratetype: .unmovable, fields: job.carried)
            let d0 = cc.durationNs
            if modernCompactZoneBegin(&cc) != nil {
                ms.kcompactd[nid].clock &+= cc.durationNs &- d0
                kcompactdZoneDone(job: &job, cc)
                return
            }
            job.cc = cc
            return
        }
        finishKcompactdJob(node: nid, job)
        jobDone = true
    }

    /// After one zone of kcompactd's job: the deferral bookkeeping of `kcompactd_do_work` (SUCCESS resets
    /// it; COMPLETE or PARTIAL_SKIPPED drain the zone's per-CPU pages and defer). The scanned counts went
    /// to `compact_daemon_*_scanned` when the zone finished. The fields the kernel's shared
    /// `compact_control` carries to the next zone are kept.
    func kcompactdZoneDone(job: inout KcompactdJob, _ cc: CompactControl) {
        var carried = cc.modern!
        carried.result = nil
        carried.rescan = false
        carried.finishPageblock = false
        carried.freeScanEmpty = false
        job.carried = carried
        guard case .doWork = job.kind, let r = cc.modern!.result else { return }
        if r == .success {
            modernCompactionDeferReset(zone: cc.zone, order: job.order, allocSuccess: false)
        } else if r == .partialSkipped || r == .complete {
            drainZonePages(cc.zone)
            modernDeferCompaction(zone: cc.zone, order: job.order)
        }
    }

    /// The end of kcompactd's work: after `kcompactd_do_work` the order and zone index asked for are
    /// forgotten unless a higher / tighter one came meanwhile; after a proactive run, a node score that
    /// did not fall backs the next check off to 32 s. Then kcompactd sleeps (straight back to work if
    /// work is still requested).
    func finishKcompactdJob(node nid: NodeID, _ job: KcompactdJob) {
        switch job.kind {
        case .doWork:
            if ms.kcompactd[nid].maxOrder <= job.order { ms.kcompactd[nid].maxOrder = 0 }
            if ms.kcompactd[nid].highestZoneidx >= job.highestZoneidx { ms.kcompactd[nid].highestZoneidx = nodes[nid].zoneIds.count - 1 }
            ms.kcompactd[nid].timeoutNs = Machine.kcompactdIntervalNs
        case .proactive(let prev):
            let score = fragmentationScoreNode(nid)
            if score >= prev { ms.kcompactd[nid].timeoutNs = Machine.kcompactdIntervalNs << UInt64(Machine.compactMaxDeferShift) }
            ms.kcompactd[nid].proactiveTrigger = false
        }
        kcompactdSleep(node: nid)
    }

    /// kcompactd goes to sleep (`mm_compaction_kcompactd_sleep`); with work still requested it returns
    /// at once.
    func kcompactdSleep(node nid: NodeID) {
        ms.kcompactd[nid].sleeping = true
        ms.kcompactd[nid].sleptAt = ms.kcompactd[nid].clock
        tracer?.modern(.kcompactdSleep(node: nid.rawValue))
        if ms.kcompactd[nid].maxOrder > 0 || ms.kcompactd[nid].proactiveTrigger { ms.kcompactd[nid].wokenAt = ms.kcompactd[nid].clock }
    }

    /// What kcompactd of a node is doing (for tests and the stats document).
    public func kcompactdStatus(node nid: NodeID) -> KcompactdStatus? {
        guard modern != nil else { return nil }
        let k = ms.kcompactd[nid]
        var phase = "sleeping"
        if let j = k.job {
            switch j.kind {
            case .doWork: phase = "compacting"
            case .proactive: phase = "proactive"
            }
        }
        return KcompactdStatus(node: nid.rawValue, phase: phase, maxOrder: k.maxOrder, highestZoneidx: k.highestZoneidx, clockNs: k.clock,
                               timeoutMs: k.timeoutNs.map { Int($0 / 1_000_000) } ?? -1, score: fragmentationScoreNode(nid))
    }
}

/// kcompactd's state as the stats document shows it.
public struct KcompactdStatus: Sendable, Equatable {
    public var node: Int
    /// `sleeping`, `compacting` (`kcompactd_do_work`) or `proactive`.
    public var phase: String
    public var maxOrder: Int
    public var highestZoneidx: Int
    public var clockNs: UInt64
    public var timeoutMs: Int
    /// `fragmentation_score_node`.
    public var score: Int
}
