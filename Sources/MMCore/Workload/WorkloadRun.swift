/// A workload running on a machine: a resumable interpreter of the steps in simulated time. The caller
/// drives it with `Machine.step(_:maxEvents:)`, so a service can interleave other requests, report
/// progress and cancel it.
public final class WorkloadRun {
    public let definition: WorkloadDefinition
    // Exclusivity: a WorkloadRun is driven by one thread at a time (under its machine's lock), and no
    // method keeps an access to these properties open across a call that reaches them again.
    @exclusivity(unchecked) public internal(set) var result: WorkloadResult
    @exclusivity(unchecked) public internal(set) var stepIndex = 0
    /// Allocation/free events executed so far (bounded by `maxEvents`).
    @exclusivity(unchecked) public internal(set) var events = 0
    /// A run stops with an error past this many events (a definition's `run` and actors' rates could
    /// otherwise ask for 10^15): about 12 minutes of CPU at the 4 GiB stress run's 1.4 million events a
    /// second. It was 50 million until the stress preset's
    /// builds scaled with MemTotal as mmtests' do; on a 4 GiB machine that preset now takes about 85
    /// million, and its work grows with the square of the machine (builds × attempts).
    public static let maxEvents = 1_000_000_000
    /// This run's bound: `maxEvents`, or four events per page of its machine when that is more (filling
    /// all of a 1 TiB machine in base pages alone takes 268 million; 4 TiB would pass 10^9).
    public let eventLimit: Int

    @exclusivity(unchecked) var rng: SeededRandom
    @exclusivity(unchecked) var actors: [ActorState] = []
    @exclusivity(unchecked) var queue = EventQueue()
    /// Per actor mix entry with a unit (`ActorAlloc.unitBytes`), at the actor's `unitBase` + entry: the
    /// bytes counted towards the next page, or for a stream of files the offset reached in the current
    /// file, and that file's size. Kept here, flat, not in `ActorState`, so that the event loop updates
    /// them without copy-on-write checks of the actor's own arrays.
    @exclusivity(unchecked) var unitCarry: [Int] = []
    @exclusivity(unchecked) var unitFileSize: [Int] = []
    let startNs: UInt64
    @exclusivity(unchecked) var pending: PendingStep?
    /// Live processes of the run's actors (ProcessRecord), by slot; nil entries are free slots (`freePids`).
    /// A process id is its slot with the slot's generation above bit 32 (`processGen`), so an exit event
    /// of a process the OOM killer already took finds nothing; `processOwner` is its actor.
    @exclusivity(unchecked) var processes: [ProcessRecord?] = []
    @exclusivity(unchecked) var processGen: [Int] = []
    @exclusivity(unchecked) var processOwner: [Int] = []
    @exclusivity(unchecked) var freePids: [Int] = []
    /// Heap bytes of the live processes' lists.
    @exclusivity(unchecked) var processBytes = 0
    public internal(set) var failure: MMError?
    /// The machine's `stateRefusals` when the current `step` call began: a refusal since then stops the
    /// run (`Machine.throwIfRefused`).
    @exclusivity(unchecked) var refusalMark = 0

    struct ActorState {
        var spec: ActorSpec
        var running = true
        /// Its allocations without a lifetime, in allocation order (some may since have been freed by
        /// reclaim: the list is pruned of those when it has doubled since the last pruning, `prunedAt`).
        var live: [PageHandle] = []
        var prunedAt = 0
        /// Its processes without a lifetime (ids in the run's process table).
        var livePids: [Int] = []
        /// Pages it holds: its allocations and its processes' pages, less what it freed, what its
        /// processes freed as they exited, and what reclaim took (`owner`).
        var pages = 0
        /// Its owner id in the machine's page-owner table (Workload/PageOwners.swift), 0 once released,
        /// and the table's count of its pages freed by reclaim when it last looked.
        var owner: Int
        var reclaimedSeen = 0
        var cumulative: [Double]
        var rng: SeededRandom
        /// Per mix entry: whether an event is exactly one allocation with nothing to remember
        /// (`ActorAlloc.isOneAllocation`), the case `actorAllocate` takes without `allocationsForEvent`.
        var oneAllocation: [Bool]
        /// Where its entries' unit state starts in the run's `unitCarry` and `unitFileSize`.
        var unitBase: Int
        /// The file sizes' own stream, so that entries without them draw exactly as before.
        var fileRng: SeededRandom
        /// Simulated nanoseconds between its events (`ActorSpec.intervalNs`, for its copies).
        var intervalNs: UInt64
    }

    /// A step that takes many events (a fill, a run, a series of attempts), with its own progress.
    enum PendingStep {
        case fill(FillProgress)
        case metadata(MetadataProgress)
        case runUntil(UInt64)
        case highAlloc(spec: HighAllocSpec, order: Int, total: Int, increment: Int, done: Int, inIncrement: Int, stoppedIncrement: Bool, nextAt: UInt64)
        /// A hugetlb pool growing: the current write's target, the pool reached, the writes made.
        /// `noretry`: 6.6's `node_alloc_noretry` of the current write (`allocFreshHugePage`).
        case hugetlbPool(spec: HugetlbPoolSpec, order: Int, total: Int, increment: Int, target: Int, pool: Int, nextAt: UInt64, noretry: UInt64)
        /// The kernel selftest, a part at a time (Selftest.swift).
        case selftest(SelftestProgress)
    }

    /// A fill in progress. Its lists grow by one entry an allocation for the whole fill, across however
    /// many calls of `step(_:maxEvents:)` it takes, so they live in an object and grow in place: held in
    /// an enum payload, a call that took them out still shared their buffers with the payload, and its
    /// first append copied everything written so far (a fill stepped 1024 events at a time, as the
    /// service steps a job, was quadratic in its size).
    /// (Exclusivity as for the run's own state: one thread drives it, and no access stays open across a
    /// call that reaches the same property again.)
    final class FillProgress {
        let total: Int, kind: AllocKind, chunk: Int, writers: Int, tag: String, order: Int, dirty: Double, mlock: Bool
        let filePages: Int, buffers: Int
        /// Each writer is this process (forked before its first page, exiting when the fill ends), if given.
        let writerProcess: ProcessSpec?
        @exclusivity(unchecked) var processes: [ProcessRecord?]
        @exclusivity(unchecked) var processBytes = 0
        @exclusivity(unchecked) var done = 0
        /// Allocations of this fill that failed; more than 64 end it, however many calls it took.
        @exclusivity(unchecked) var failures = 0
        /// Each writer's allocations, in the order it wrote them.
        @exclusivity(unchecked) var handles: [[PageHandle]]
        /// Each writer's files (with `filePages`), their pages filled in when the fill ends.
        @exclusivity(unchecked) var files: [[FileRecord]]

        init(total: Int, kind: AllocKind, chunk: Int, writers: Int, tag: String, order: Int, dirty: Double, mlock: Bool,
             filePages: Int, buffers: Int, writerProcess: ProcessSpec? = nil) {
            self.total = total; self.kind = kind; self.chunk = chunk; self.writers = writers; self.tag = tag
            self.order = order; self.dirty = dirty; self.mlock = mlock; self.filePages = filePages; self.buffers = buffers
            self.writerProcess = writerProcess
            processes = Array(repeating: nil, count: writerProcess == nil ? 0 : writers)
            handles = Array(repeating: [], count: writers)
            files = Array(repeating: [], count: filePages > 0 ? writers : 0)
        }

        /// Bytes its lists hold.
        var byteCount: Int {
            HeapCost.array(capacity: handles.capacity, stride: MemoryLayout<[PageHandle]>.stride)
                + handles.reduce(0) { $0 + HeapCost.array(capacity: $1.capacity, stride: MemoryLayout<PageHandle>.stride) }
                + HeapCost.array(capacity: files.capacity, stride: MemoryLayout<[FileRecord]>.stride)
                + files.reduce(0) { $0 + HeapCost.array(capacity: $1.capacity, stride: MemoryLayout<FileRecord>.stride) }
                + HeapCost.array(capacity: processes.capacity, stride: MemoryLayout<ProcessRecord?>.stride) + processBytes
        }
    }

    /// A metadata walk in progress (its list of files grows in place, as a fill's lists do).
    final class MetadataProgress {
        let total: Int, tag: String, perDirectory: Int
        @exclusivity(unchecked) var done = 0
        @exclusivity(unchecked) var files: [FileRecord] = []
        /// The directory the walk is in.
        @exclusivity(unchecked) var directory: FileRecord?

        init(total: Int, tag: String, perDirectory: Int) {
            self.total = total; self.tag = tag; self.perDirectory = perDirectory
        }
    }

    init(_ d: WorkloadDefinition, machine m: Machine) {
        definition = d
        rng = SeededRandom(seed: d.seed)
        startNs = m.clockNs
        eventLimit = max(WorkloadRun.maxEvents, 4 * m.totalPages)
        result = WorkloadResult(workload: d.name, machine: m.config, countersBefore: m.counters, countersAfter: m.counters)
    }

    public var isDone: Bool { (stepIndex >= definition.steps.count && pending == nil) || result.cancelled || failure != nil }

    /// Bytes of state the run itself holds beside its machine's (its result's attempts and samples, its
    /// actors' lists, its event queue, the lists of a fill or metadata walk in progress); they grow
    /// through the machine's state gate like the machine's own. O(writers + actors).
    public var stateBytes: Int {
        var b = 1024
        b += HeapCost.array(capacity: result.attempts.capacity, stride: MemoryLayout<AttemptRecord>.stride)
        b += HeapCost.array(capacity: result.samples.capacity, stride: MemoryLayout<WorkloadSample>.stride)
        for smp in result.samples { b += WorkloadRun.sampleHeapBytes(smp) }
        b += HeapCost.array(capacity: actors.capacity, stride: MemoryLayout<ActorState>.stride)
        for a in actors {
            b += HeapCost.array(capacity: a.live.capacity, stride: MemoryLayout<PageHandle>.stride)
                + HeapCost.array(capacity: a.cumulative.capacity, stride: MemoryLayout<Double>.stride)
        }
        b += queue.byteCount
        b += HeapCost.array(capacity: processes.capacity, stride: MemoryLayout<ProcessRecord?>.stride)
            + 2 * HeapCost.array(capacity: processGen.capacity, stride: MemoryLayout<Int>.stride)
            + HeapCost.array(capacity: freePids.capacity, stride: MemoryLayout<Int>.stride) + processBytes
        for a in actors { b += HeapCost.array(capacity: a.livePids.capacity, stride: MemoryLayout<Int>.stride) }
        switch pending {
        case .fill(let f): b += f.byteCount
        case .metadata(let w): b += HeapCost.array(capacity: w.files.capacity, stride: MemoryLayout<FileRecord>.stride)
        default: break
        }
        return b
    }

    /// Heap bytes of a sample beside its own stride (its name, its per-order list, its per-zone index).
    static func sampleHeapBytes(_ s: WorkloadSample) -> Int {
        HeapCost.array(capacity: s.freeBlocksPerOrder.capacity, stride: MemoryLayout<Int>.stride)
            + HeapCost.entry(key: "", valueStride: 8) * 2 * s.unusableIndexHugepage.count + 32 * s.unusableIndexHugepage.count
            + HeapCost.arrayOverhead + s.name.utf8.count
    }
    /// 0...1 by steps completed.
    public var progress: Double { definition.steps.isEmpty ? 1 : Double(result.stepsDone) / Double(definition.steps.count) }
}

/// A min-heap of timed events (ties broken by insertion order, so runs are deterministic), kept as two
/// 4-ary heaps of small plain structs with one ordering: the actors' ticks (one pending per actor) and
/// the expiries and exits (thousands: a slab object lives seconds). Every allocation pops its actor's
/// tick and pushes the next one; kept apart, that tick sifts through a heap of a few entries instead of
/// the large one. A pop takes the earlier of the two tops, so events come out in the order one heap of
/// them all gives.
struct EventQueue {
    enum Event { case tick(actor: Int), expire(actor: Int, handle: PageHandle), exit(actor: Int, pid: Int) }
    /// Marks an entry's actor field for a process exit (its handle field is then pid + 1).
    private static let exitBit: Int32 = 1 << 30
    fileprivate struct Entry {
        var at: UInt64
        var seq: UInt64
        var actor: Int32
        /// 0 for a tick, else the handle to free.
        var handle: UInt64
        /// Time, then sequence: one 128-bit comparison, which compiles without branches (the heaps'
        /// child selection mispredicted the branch on `at` about every other time).
        @inline(__always) func before(_ o: Entry) -> Bool { key < o.key }
        @inline(__always) private var key: UInt128 { UInt128(at) &<< 64 | UInt128(seq) }
    }
    private var ticks = EventHeap()
    private var timed = EventHeap()
    private var seq: UInt64 = 0

    var isEmpty: Bool { ticks.isEmpty && timed.isEmpty }

    /// The next event's time and the heap it is the top of, for `pop(_:)`: the event loop looks at
    /// the next event before it takes it, and so compares the two tops once, not twice.
    struct Next { let at: UInt64; fileprivate let fromTicks: Bool }
    func peek() -> Next? {
        nextFromTicks ? ticks.top.map { Next(at: $0.at, fromTicks: true) } : timed.top.map { Next(at: $0.at, fromTicks: false) }
    }
    /// Events queued. The room asked for (`capacity`, `reserveCapacity`) is the large heap's: it can hold
    /// them all, and the ticks' heap never holds more than one entry per actor.
    var count: Int { ticks.count + timed.count }
    var capacity: Int { timed.capacity }
    /// Bytes of the heaps' storage.
    var byteCount: Int {
        HeapCost.array(capacity: ticks.capacity, stride: MemoryLayout<Entry>.stride)
            + HeapCost.array(capacity: timed.capacity, stride: MemoryLayout<Entry>.stride)
    }
    static var entryStride: Int { MemoryLayout<Entry>.stride }
    mutating func reserveCapacity(_ n: Int) { timed.reserveCapacity(n) }

    /// Whether the next event is the ticks' heap's top (the earlier of the two tops).
    private var nextFromTicks: Bool {
        guard let t = ticks.top else { return false }
        guard let o = timed.top else { return true }
        return t.before(o)
    }

    mutating func push(_ at: UInt64, _ ev: Event) {
        seq &+= 1
        switch ev {
        case .tick(let a): ticks.push(Entry(at: at, seq: seq, actor: Int32(a), handle: 0))
        case .expire(let a, let h): timed.push(Entry(at: at, seq: seq, actor: Int32(a), handle: h.raw))
        case .exit(let a, let pid): timed.push(Entry(at: at, seq: seq, actor: Int32(a) | EventQueue.exitBit, handle: UInt64(pid) + 1))
        }
    }

    /// Takes the event `peek` just gave (nothing pushed or popped since).
    mutating func pop(_ next: Next) -> (at: UInt64, ev: Event) {
        let top = next.fromTicks ? ticks.pop()! : timed.pop()!
        let ev: Event
        if top.handle == 0 {
            ev = .tick(actor: Int(top.actor))
        } else if top.actor & EventQueue.exitBit != 0 {
            ev = .exit(actor: Int(top.actor & ~EventQueue.exitBit), pid: Int(top.handle) - 1)
        } else {
            ev = .expire(actor: Int(top.actor), handle: PageHandle(raw: top.handle))
        }
        return (top.at, ev)
    }
}

/// One of `EventQueue`'s heaps: a 4-ary min-heap of entries, sifted with a moving hole.
private struct EventHeap {
    typealias Entry = EventQueue.Entry
    private var heap: ContiguousArray<Entry> = []

    var isEmpty: Bool { heap.isEmpty }
    var top: Entry? { heap.first }
    var count: Int { heap.count }
    var capacity: Int { heap.capacity }
    mutating func reserveCapacity(_ n: Int) { heap.reserveCapacity(n) }

    mutating func push(_ e: Entry) {
        heap.append(e)
        heap.withUnsafeMutableBufferPointer { h in EventHeap.siftUp(h, e, from: h.count &- 1) }
    }

    mutating func pop() -> Entry? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            // Sift the hole down through unchecked storage (the hot loop of a long workload). Floyd's
            // bottom-up pop (the hole to a leaf, then `last` sifted up) was tried: with the branchless
            // comparison it took more instructions and more cache misses than this.
            heap.withUnsafeMutableBufferPointer { h in
                var i = 0
                let n = h.count
                while true {
                    let c = 4 &* i &+ 1
                    if c >= n { break }
                    var m = c
                    var k = c &+ 1
                    let end = Swift.min(c &+ 4, n)
                    while k < end { if h[k].before(h[m]) { m = k }; k &+= 1 }
                    if !h[m].before(last) { break }
                    h[i] = h[m]
                    i = m
                }
                h[i] = last
            }
        }
        return top
    }

    /// Puts `e` into the hole at `i`, moving it up past the parents that come after it.
    @inline(__always)
    private static func siftUp(_ h: UnsafeMutableBufferPointer<Entry>, _ e: Entry, from i: Int) {
        var i = i
        while i > 0 {
            let p = (i &- 1) &>> 2
            if !e.before(h[p]) { break }
            h[i] = h[p]
            i = p
        }
        h[i] = e
    }
}

extension Machine {
    /// Starts a workload on this machine after checking it against the machine. While it runs, the OOM
    /// killer may kill its actors' processes.
    public func beginWorkload(_ d: WorkloadDefinition) throws(MMError) -> WorkloadRun {
        try d.validate(for: config)
        let run = WorkloadRun(d, machine: self)
        oomKiller = { [unowned self, weak run] in
            guard let run else { return false }
            return self.oomKillLargest(run)
        }
        return run
    }

    /// Runs a workload to its end.
    public func runWorkload(_ d: WorkloadDefinition) throws(MMError) -> WorkloadResult {
        let run = try beginWorkload(d)
        while !step(run, maxEvents: 1 << 30) {}
        if let f = run.failure { throw f }
        return run.result
    }

    /// Cancels a workload: it stops where it is (what it allocated stays allocated).
    public func cancel(_ run: WorkloadRun) {
        run.result.cancelled = true
        finishResult(run)
    }

    /// Advances a workload by up to about `maxEvents` allocation events. Returns true when it has finished.
    @discardableResult
    ///
    /// With a state gate on the machine, a refusal of any growth the run needs (its machine's state or
    /// its own) ends it with `failure` `stateLimit`, where it is: what it allocated stays, except a fill
    /// or metadata walk in progress, which is undone (its pages and objects are in no tag yet).
    public func step(_ run: WorkloadRun, maxEvents: Int = 4096) -> Bool {
        let budgetEnd = run.events + maxEvents
        run.refusalMark = stateRefusals
        while !run.isDone && run.events < budgetEnd {
            if run.events >= run.eventLimit {
                run.failure = .invalidConfig(field: FieldPath("steps"), value: "\(run.events) events",
                                             reason: "the workload exceeds \(run.eventLimit) allocation events")
                break
            }
            do {
                if run.pending != nil {
                    try continuePending(run, budgetEnd: budgetEnd)
                } else {
                    try startStep(run, run.definition.steps[run.stepIndex])
                    run.stepIndex += 1
                }
                if run.pending == nil { run.result.stepsDone = run.stepIndex }
            } catch {
                run.failure = error
            }
            if run.failure == nil && stateRefusals != run.refusalMark { run.failure = .stateLimit(bytes: lastRefusedBytes) }
        }
        if run.isDone { finishResult(run) }
        return run.isDone
    }

    func finishResult(_ run: WorkloadRun) {
        oomKiller = nil
        for a in run.actors.indices where run.actors[a].owner != 0 {
            releasePageOwner()
            run.actors[a].owner = 0
        }
        run.result.countersAfter = counters
        run.result.simulatedNs = clockNs &- run.startNs
        run.result.kswapdNs = kswapdNs
    }

    private func relNs(_ run: WorkloadRun) -> UInt64 { clockNs &- run.startNs }

    private func pagesFor(_ a: Amount, order: Int) -> Int {
        switch a {
        case .fraction(let f): return Int(Double(memTotalPages) * f) >> order
        case .mib(let m): return ((m << 20) >> pageShift) >> order
        case .count(let c): return c
        }
    }

    /// Starts one step: a step that takes time leaves its progress in `run.pending` (driven by
    /// `continuePending`); the others do all their work here.
    private func startStep(_ run: WorkloadRun, _ s: WorkloadStep) throws(MMError) {
        switch s {
        case .fill(let kind, let amount, let chunk, let writers, let tag, let order, let dirty, let mlock, let filePages, let blockSize,
                   let writerProcess):
            try startFill(run, kind: kind, amount: amount, chunk: chunk, writers: writers, tag: tag, order: order, dirty: dirty,
                          mlock: mlock, filePages: filePages, blockSize: blockSize, writerProcess: writerProcess)
        case .metadata(let amount, let tag, let perDirectory):
            startMetadata(run, amount: amount, tag: tag, perDirectory: perDirectory)
        case .free(let tag, let pattern, let unit) where files[tag] != nil:
            deleteFiles(tag: tag, pattern: pattern, unit: unit)
        case .free(let tag, let pattern, let unit):
            try freeTagInUnits(tag, pattern: pattern, unit: unit)
        case .keepOneIn(let tag, let period):
            keepOneIn(tag: tag, period: period)
        case .startActor(let spec):
            try startActor(run, spec)
        case .stopActor(let name, let freeAll):
            stopActor(run, name: name, freeAll: freeAll)
        case .run(let ms):
            run.pending = .runUntil(clockNs &+ UInt64(ms * 1e6))
        case .highAlloc(let h):
            startHighAlloc(run, h)
        case .hugetlbPool(let h):
            startHugetlbPool(run, h)
        case .compact(let node):
            if compactionEnabled {
                if let n = node { try compactNode(NodeID(n)) } else { try compactMemory() }
            }
        case .sysctl(let name, let value):
            try applySysctl(name, value)
        case .sample(let name):
            let smp = sample(name: name, at: relNs(run))
            guard reserveGated(&run.result.samples), mayGrowState(by: WorkloadRun.sampleHeapBytes(smp)) else {
                throw .stateLimit(bytes: lastRefusedBytes)
            }
            run.result.samples.append(smp)
        case .age(let recipe):
            var r = recipe
            r.seed ^= run.definition.seed
            try age(r)
        case .selftest:
            switch beginCompactionSelftest() {
            case .done(let r): run.result.selftest = r
            case .running(let p): run.pending = .selftest(p)
            }
        }
    }

    private func startFill(_ run: WorkloadRun, kind: AllocKind, amount: Amount, chunk: Int, writers: Int, tag: String, order: Int,
                           dirty: Double, mlock: Bool, filePages: Int, blockSize: Int, writerProcess: ProcessSpec?) throws(MMError) {
        let bytes = writerProcess == nil ? 0 : HeapCost.array(capacity: writers, stride: MemoryLayout<ProcessRecord?>.stride)
        guard mayGrowState(by: bytes) else { throw .stateLimit(bytes: lastRefusedBytes) }
        run.pending = .fill(WorkloadRun.FillProgress(total: pagesFor(amount, order: order), kind: kind, chunk: chunk, writers: writers,
                                                     tag: tag, order: order, dirty: dirty, mlock: mlock, filePages: filePages,
                                                     buffers: blockSize > 0 ? (1 << pageShift) / blockSize : 0,
                                                     writerProcess: writerProcess))
    }

    private func startMetadata(_ run: WorkloadRun, amount: Amount, tag: String, perDirectory: Int) {
        // Bytes of objects per file: its dentry and inode, plus its share of its directory's.
        let pair = Double(SlabCache.dentry.objectSize + SlabCache.inode.objectSize)
        let perFile = perDirectory > 0 ? pair * (1 + 1 / Double(perDirectory)) : pair
        let total: Int
        switch amount {
        case .count(let c): total = c
        case .fraction(let f): total = Int(Double(memTotalPages << pageShift) * f / perFile)
        case .mib(let m): total = Int(Double(m << 20) / perFile)
        }
        run.pending = .metadata(WorkloadRun.MetadataProgress(total: total, tag: tag, perDirectory: perDirectory))
    }

    /// Frees a tag's live allocations by pattern, `unit` consecutive ones at a time, in place (the tag's
    /// list keeps its storage).
    private func freeTagInUnits(_ tag: String, pattern: FreePattern, unit: Int) throws(MMError) {
        guard var hs = tags.removeValue(forKey: tag) else { return }
        Machine.filterInPlace(&hs) { handles.resolve($0) != nil }
        if hs.isEmpty { return }
        if unit <= 1 { tags[tag] = hs; try freeTag(tag, pattern: pattern); return }
        var draw = FreePatternDraw(pattern)
        var w = 0
        for (u, start) in stride(from: 0, to: hs.count, by: unit).enumerated() {
            let end = min(start + unit, hs.count)
            let drop = draw.drops(unit: u)
            if drop {
                for k in start..<end { _ = freeIfLive(hs[k]) }
            } else {
                for k in start..<end { hs[w] = hs[k]; w += 1 }
            }
        }
        hs.removeLast(hs.count - w)
        tags[tag] = hs.isEmpty ? nil : hs
    }

    /// Keeps one live allocation in every `period` of a tag, in allocation order, and frees the rest.
    private func keepOneIn(tag: String, period: Int) {
        guard var hs = tags.removeValue(forKey: tag) else { return }
        var i = 0
        Machine.filterInPlace(&hs) { h in
            guard handles.resolve(h) != nil else { return false }
            defer { i += 1 }
            if i % period == 0 { return true }
            _ = freeIfLive(h)
            return false
        }
        tags[tag] = hs.isEmpty ? nil : hs
    }

    private func startActor(_ run: WorkloadRun, _ spec: ActorSpec) throws(MMError) {
        var cum: [Double] = []
        var acc = 0.0
        for m in spec.mix { acc += m.weight; cum.append(acc) }
        let idx = run.actors.count
        guard let owner = registerPageOwner() else { throw .stateLimit(bytes: lastRefusedBytes) }
        let seed = run.definition.seed ^ UInt64(idx + 1) &* 0x9E37
        let one = spec.mix.map { $0.isOneAllocation(pageBytes: 1 << pageShift) }
        let copies = spec.copyCount(memTotalMiB: (memTotalPages << pageShift) >> 20)
        if spec.copies != nil { run.result.actorCopies.append(ActorCopiesRecord(actor: spec.name, copies: copies)) }
        run.actors.append(WorkloadRun.ActorState(spec: spec, owner: owner, cumulative: cum, rng: SeededRandom(seed: seed),
                                                 oneAllocation: one, unitBase: run.unitCarry.count,
                                                 fileRng: SeededRandom(seed: seed ^ 0xF11E_5123_5A7E_0001),
                                                 intervalNs: spec.intervalNs(copies: copies)))
        run.unitCarry.append(contentsOf: repeatElement(0, count: spec.mix.count))
        run.unitFileSize.append(contentsOf: repeatElement(0, count: spec.mix.count))
        run.queue.push(clockNs, .tick(actor: idx))
    }

    /// Stops the running actor of that name; with `freeAll` its allocations are freed and its
    /// processes exit.
    private func stopActor(_ run: WorkloadRun, name: String, freeAll: Bool) {
        guard let i = run.actors.firstIndex(where: { $0.spec.name == name && $0.running }) else { return }
        run.actors[i].running = false
        guard freeAll else { return }
        for h in run.actors[i].live { _ = freeIfLive(h) }
        run.actors[i].live = []
        for pid in run.actors[i].livePids { _ = endProcess(run, pid) }
        run.actors[i].livePids = []
        run.actors[i].pages = 0
    }

    private func startHighAlloc(_ run: WorkloadRun, _ h: HighAllocSpec) {
        if run.result.countersAtHighAlloc == nil { run.result.countersAtHighAlloc = counters }
        let order = h.order < 0 ? pageblockOrder : h.order
        let total = pagesFor(h.total, order: order)
        let inc = h.incrementFraction.map { max(1, Int(Double(memTotalPages) * $0) >> order) } ?? total
        run.pending = .highAlloc(spec: h, order: order, total: total, increment: inc, done: 0, inIncrement: 0,
                                 stoppedIncrement: false, nextAt: clockNs)
        run.result.requested += total
    }

    private func startHugetlbPool(_ run: WorkloadRun, _ h: HugetlbPoolSpec) {
        if run.result.countersAtHighAlloc == nil { run.result.countersAtHighAlloc = counters }
        // The default hstate's order: the huge page is one pageblock on every preset.
        let order = pageblockOrder
        let total = pagesFor(h.total, order: order)
        let inc = h.incrementFraction.map { max(1, Int(Double(memTotalPages) * $0) >> order) } ?? total
        run.pending = .hugetlbPool(spec: h, order: order, total: total, increment: inc, target: min(inc, total), pool: 0, nextAt: clockNs,
                                   noretry: 0)
        run.result.requested += total
    }

    /// A sysctl step. `WorkloadDefinition.validate` (run before any step) admits only the settable
    /// names and a value for every one but min_free_kbytes, whose absent value means hugeadm's.
    private func applySysctl(_ name: String, _ value: Int?) throws(MMError) {
        switch name {
        case "extfrag_threshold": try setExtfragThreshold(value!)
        case "min_free_kbytes": try setMinFreeKbytes(value ?? recommendedMinFreeKbytes)
        case "hugepages_treat_as_movable": try setHugepagesTreatAsMovable(value!)
        case "dirty_ratio": try setDirtyRatio(value!)
        case "dirty_background_ratio": try setDirtyBackgroundRatio(value!)
        default: try setCompactUnevictableAllowed(value!)
        }
    }

    /// Deletes files of a tag by pattern, `unit` consecutive files at a time: each deleted file's pages
    /// are freed (those reclaim has not dropped already) and its dentry and inode.
    ///
    /// Both lists are filtered in place (they keep their storage), so a free step needs no memory.
    func deleteFiles(tag: String, pattern: FreePattern, unit: Int) {
        var fs = files[tag] ?? []
        files[tag] = nil
        var draw = FreePatternDraw(pattern)
        var w = 0
        bumpGeneration()
        for (u, start) in stride(from: 0, to: fs.count, by: unit).enumerated() {
            let end = min(start + unit, fs.count)
            let drop = draw.drops(unit: u)
            for k in start..<end {
                let f = fs[k]
                if drop {
                    for h in f.pages { _ = freeIfLive(h) }
                    // A directory that still has files is kept (rmdir: ENOTEMPTY).
                    if deleteFileMetadata(f) { continue }
                }
                fs[w] = f
                w += 1
            }
        }
        fs.removeLast(fs.count - w)
        files[tag] = fs.isEmpty ? nil : fs
        // What the deleted files held is freed (or was dropped by reclaim before): the tag keeps what lives.
        if var hs = tags.removeValue(forKey: tag) {
            Machine.filterInPlace(&hs) { isLive($0) }
            tags[tag] = hs.isEmpty ? nil : hs
        }
    }

    func sample(name: String, at: UInt64) -> WorkloadSample {
        var perOrder = Array(repeating: 0, count: nrOrders)
        var uidx: [String: Int] = [:]
        for z in populatedZones {
            for o in 0..<nrOrders { perOrder[o] += nrFree(zone: z.id, order: o) }
            uidx["Node \(z.node) \(z.name)"] = unusableIndex(zone: z.id, order: pageblockOrder)
        }
        return WorkloadSample(name: name, atNs: at, freePages: nrFreePagesTotal,
                              freeBlocksPerOrder: perOrder, unusableIndexHugepage: uidx, counters: counters)
    }

    /// Processes actor events due before `until` (letting kswapd use the gaps), within the event budget.
    /// Returns true when every event up to `until` has been processed.
    private func runActors(_ run: WorkloadRun, until: UInt64, budgetEnd: Int) -> Bool {
        while let next = run.queue.peek(), next.at <= until {
            if run.events >= budgetEnd { return false }
            // The state gate refused something: `step` ends the run.
            if stateRefusals != run.refusalMark { return false }
            let (t, ev) = run.queue.pop(next)
            if t > clockNs { idle(ns: t - clockNs) }
            switch ev {
            case .tick(let a):
                guard run.actors[a].running else { continue }
                actorAllocate(run, a)
                let interval = run.actors[a].intervalNs
                guard reserveQueueRoom(run) else { return false }
                // The allocation ran in the actor's own context (`__alloc_pages_slowpath` →
                // `__alloc_pages_direct_reclaim` / `try_to_compact_pages` and their congestion_wait sleep
                // in the caller, mm/page_alloc.c): one that stalled past the next tick's time delays it to
                // the stall's end, so a stalled actor does not make up the allocations it missed.
                run.queue.push(Swift.max(t &+ interval, clockNs), .tick(actor: a))
            case .expire(let a, let h):
                if let order = freeIfLiveOrder(h) { run.actors[a].pages -= 1 << order }
                run.events += 1
            case .exit(let a, let pid):
                run.actors[a].pages -= endProcess(run, pid)
                run.events += 1
            }
        }
        if clockNs < until { idle(ns: until - clockNs) }
        return true
    }

    /// One allocation of an actor. (ActorState is mutated in place: copying it out would copy its list of
    /// live handles on every allocation.)
    private func actorAllocate(_ run: WorkloadRun, _ a: Int) {
        run.events += 1
        // What reclaim took from it since it last looked is no longer held (Workload/PageOwners.swift).
        if run.actors[a].owner != 0 {
            let reclaimed = pagesReclaimed(fromOwner: run.actors[a].owner)
            run.actors[a].pages -= reclaimed &- run.actors[a].reclaimedSeen
            run.actors[a].reclaimedSeen = reclaimed
        }
        if Double(run.actors[a].pages) >= Double(memTotalPages) * run.actors[a].spec.maxFraction { return }
        let x = run.actors[a].rng.unit() * run.actors[a].cumulative.last!
        let mixIndex = run.actors[a].cumulative.firstIndex { x < $0 } ?? run.actors[a].spec.mix.count - 1
        let mix = run.actors[a].spec.mix[mixIndex]
        if let spec = mix.process {
            actorFork(run, a, spec, lifetimeMs: mix.lifetimeMs)
            return
        }
        if run.actors[a].oneAllocation[mixIndex] {
            _ = actorAllocatePage(run, a, mix, fileBytes: nil)
        } else {
            actorAllocateUnits(run, a, mixIndex, mix)
        }
    }

    /// An event of a mix entry whose unit is not simply one page (`allocationsForEvent`).
    @inline(never)
    private func actorAllocateUnits(_ run: WorkloadRun, _ a: Int, _ mixIndex: Int, _ mix: ActorAlloc) {
        let k = run.actors[a].unitBase &+ mixIndex
        let (n, firstPage) = allocationsForEvent(run, a, k, mix, unit: mix.unitBytes!)
        for i in 0..<n {
            // A page of a file holds the file's bytes from its index on, up to a page of them.
            let bytes = mix.fileSizes == nil ? nil : Swift.min(1 << pageShift, run.unitFileSize[k] - ((firstPage + i) << pageShift))
            guard actorAllocatePage(run, a, mix, fileBytes: bytes) else { return }
        }
    }

    /// How many allocations one event of a mix entry with a unit (`ActorAlloc.unitBytes`) makes: as many
    /// as the pages (of the entry's order) whose first byte the event's `unit` bytes reach, the bytes being
    /// packed (heap, slab objects) or, with `fileSizes`, the next bytes of the current file. Returns the
    /// count and, for files, the index in the file of the first page (0 otherwise). `k`: the entry's index
    /// in the run's unit state.
    private func allocationsForEvent(_ run: WorkloadRun, _ a: Int, _ k: Int, _ mix: ActorAlloc, unit: Int) -> (count: Int, firstPage: Int) {
        let bytes = (1 << pageShift) << mix.order
        guard let sizes = mix.fileSizes else {
            let carry = run.unitCarry[k] + unit
            let n = carry / bytes
            run.unitCarry[k] = carry - n * bytes
            return (n, 0)
        }
        var start = run.unitCarry[k]
        if start >= run.unitFileSize[k] {
            run.unitFileSize[k] = sizes.drawBytes(&run.actors[a].fileRng)
            start = 0
        }
        let end = Swift.min(start + unit, run.unitFileSize[k])
        run.unitCarry[k] = start + unit
        let first = (start + bytes - 1) / bytes
        return ((end + bytes - 1) / bytes - first, first)
    }

    /// One allocation of an actor's mix entry; false when the event ends there (the allocation failed, or
    /// the state gate refused room, which stops the run: `step`). `fileBytes`: for a page of a file, the
    /// file's bytes in it (a page written gets buffer heads for the whole page, those past the file's end
    /// marked so: `attachBuffers`).
    @inline(__always)
    private func actorAllocatePage(_ run: WorkloadRun, _ a: Int, _ mix: ActorAlloc, fileBytes: Int?) -> Bool {
        let dirty = mix.kind == .file && run.actors[a].rng.unit() < mix.dirtyFraction
        let req = AllocRequest(order: mix.order, kind: mix.kind, gfp: .kernel, mlock: mix.mlock, dirty: dirty)
        // Room to remember the allocation first (a refusal stops the run: `step`).
        if mix.lifetimeMs != nil {
            guard reserveQueueRoom(run) else { return false }
        } else {
            guard reserveGated(&run.actors[a].live) else { return false }
        }
        guard let o = try? allocate(req), let h = o.handle else { return false }
        // Tagged as the actor's, so that reclaim taking it tells the actor (a refusal ends the run: `step`).
        guard run.actors[a].owner == 0 || setPageOwner(h, owner: run.actors[a].owner) else { return false }
        // A page written gets its buffers (write_begin); one read in gets none.
        if dirty && mix.blockSize > 0 {
            let count = max(1, (1 << pageShift) / mix.blockSize)
            attachBuffers(h, count: count, withinEOF: fileBytes.map { ($0 + mix.blockSize - 1) / mix.blockSize })
        }
        run.actors[a].pages += 1 << mix.order
        if let life = mix.lifetimeMs {
            let u = max(run.actors[a].rng.unit(), 1e-12)
            let ns = UInt64(-(life * 1e6) * _log(u))
            run.queue.push(clockNs &+ ns, .expire(actor: a, handle: h))
        } else {
            run.actors[a].live.append(h)
            // Reclaim may have freed some of the list (its pages are already subtracted): the dead handles
            // are pruned once the list has doubled since it was last pruned (amortised O(1) an allocation).
            if run.actors[a].live.count >= Swift.max(1024, 2 &* run.actors[a].prunedAt) {
                run.actors[a].live.removeAll { !isLive($0) }
                run.actors[a].prunedAt = run.actors[a].live.count
            }
        }
        return true
    }

    /// An actor forks a process; it exits after an exponentially distributed lifetime of mean
    /// `lifetimeMs`, or when the actor stops.
    private func actorFork(_ run: WorkloadRun, _ a: Int, _ spec: ProcessSpec, lifetimeMs: Double?) {
        if lifetimeMs != nil {
            guard reserveQueueRoom(run) else { return }
        } else {
            guard reserveGated(&run.actors[a].livePids) else { return }
        }
        if run.freePids.isEmpty {
            guard reserveGated(&run.processes), reserveGated(&run.freePids), reserveGated(&run.processGen),
                  reserveGated(&run.processOwner) else { return }
        }
        guard let p = forkProcess(spec) else { return }
        let slot: Int
        if let f = run.freePids.popLast() {
            slot = f
            run.processes[slot] = p
            run.processGen[slot] += 1
            run.processOwner[slot] = a
        } else {
            slot = run.processes.count
            run.processes.append(p)
            run.processGen.append(0)
            run.processOwner.append(a)
        }
        let pid = slot | run.processGen[slot] << 32
        run.processBytes += p.heapBytes
        run.actors[a].pages += p.pages
        if let life = lifetimeMs {
            let u = max(run.actors[a].rng.unit(), 1e-12)
            run.queue.push(clockNs &+ UInt64(-(life * 1e6) * _log(u)), .exit(actor: a, pid: pid))
        } else {
            run.actors[a].livePids.append(pid)
        }
    }

    /// A process of the run exits: its memory is freed and its slot reused. Returns the pages it held (0
    /// for a process that is already gone).
    func endProcess(_ run: WorkloadRun, _ pid: Int) -> Int {
        let slot = pid & 0xFFFF_FFFF
        guard slot < run.processes.count, run.processGen[slot] == pid >> 32, let p = run.processes[slot] else { return 0 }
        exitProcess(p)
        run.processes[slot] = nil
        run.freePids.append(slot)
        run.processBytes -= p.heapBytes
        return p.pages
    }

    /// `out_of_memory` for a run with processes: `select_bad_process` takes the process with the most
    /// pages (its RSS and page tables; the first such by slot on a tie), which is killed and exits.
    /// Returns false when the run has no process.
    func oomKillLargest(_ run: WorkloadRun) -> Bool {
        var best = -1, bestPages = -1
        for (slot, p) in run.processes.enumerated() {
            if let p, p.pages > bestPages { best = slot; bestPages = p.pages }
        }
        guard best >= 0 else { return false }
        let owner = run.processOwner[best]
        run.actors[owner].pages -= endProcess(run, best | run.processGen[best] << 32)
        return true
    }

    /// Room for one more event in the run's queue, asking the state gate when it must grow.
    func reserveQueueRoom(_ run: WorkloadRun) -> Bool {
        if run.queue.count < run.queue.capacity { return true }
        let newCap = Swift.max(16, run.queue.capacity * 2), stride = EventQueue.entryStride
        // The new buffer whole: the old one is only freed once its elements are copied over.
        guard mayGrowState(by: HeapCost.array(capacity: newCap, stride: stride)) else {
            return false
        }
        run.queue.reserveCapacity(newCap)
        return true
    }

    /// Goes on with the pending step within the event budget; it stays pending unless it finished. A
    /// fill or metadata walk the state gate stops is undone before the error goes on (what it made is
    /// in no tag yet, so nothing else could free it).
    private func continuePending(_ run: WorkloadRun, budgetEnd: Int) throws(MMError) {
        let p = run.pending!
        run.pending = nil
        switch p {
        case .runUntil(let t):
            if !runActors(run, until: t, budgetEnd: budgetEnd) { run.pending = p }
        case .metadata(let w):
            do {
                try continueMetadata(w, run: run, budgetEnd: budgetEnd)
            } catch {
                if case .stateLimit = error { undoMetadata(w) }
                throw error
            }
            if w.done < w.total { run.pending = p }
        case .fill(let f):
            do {
                try continueFill(f, run: run, budgetEnd: budgetEnd)
            } catch {
                if case .stateLimit = error { undoFill(f) }
                throw error
            }
            if f.done < f.total { run.pending = p }
        case .highAlloc(let spec, let order, let total, let increment, let done, let inIncrement, let stopped, let nextAt):
            try continueHighAlloc(run, spec, order: order, total: total, increment: increment, done: done, inIncrement: inIncrement,
                                  stopped: stopped, nextAt: nextAt, budgetEnd: budgetEnd)
        case .hugetlbPool(let spec, let order, let total, let increment, let target, let pool, let nextAt, let noretry):
            try continueHugetlbPool(run, spec, order: order, total: total, increment: increment, target: target, pool: pool,
                                    nextAt: nextAt, noretry: noretry, budgetEnd: budgetEnd)
        case .selftest(let s):
            // A part is weighed as the pages it may touch (a chunk's, a huge page's), so a call of `step`
            // does a bounded share of the test and a job can be cancelled between (its parts are made in
            // the same order however the calls divide them).
            let r = try continueCompactionSelftest(s, events: budgetEnd - run.events)
            run.events += r.used
            if r.done { run.result.selftest = s.result(clockNs: clockNs) } else { run.pending = p }
        }
    }

    /// The high-order attempts of a `high_alloc` step, in increments, paced as VMRegress paced them, until
    /// all are made or the event budget is spent (then the step stays pending where it stopped).
    private func continueHighAlloc(_ run: WorkloadRun, _ spec: HighAllocSpec, order: Int, total: Int, increment: Int, done: Int,
                                   inIncrement: Int, stopped: Bool, nextAt: UInt64, budgetEnd: Int) throws(MMError) {
        var done = done, inIncrement = inIncrement, stopped = stopped, nextAt = nextAt
        while done < total && run.events < budgetEnd {
            if stopped && inIncrement < increment {
                // This increment gave up at a failure: skip its remaining attempts.
                done += increment - inIncrement
                inIncrement = increment
            }
            if inIncrement >= increment { inIncrement = 0; stopped = false; continue }
            if !runActors(run, until: nextAt, budgetEnd: budgetEnd) { break }
            // Room for the attempt's record and its handle first.
            guard reserveGated(&run.result.attempts), ensureTagRoom(spec.tag, 1) else { throw .stateLimit(bytes: lastRefusedBytes) }
            let at = relNs(run)
            let startedAt = clockNs
            let outcome = try highAllocAttempt(run, spec, order: order)
            run.events += attemptEvents(order: order)
            run.result.attempts.append(AttemptRecord(index: done, success: outcome.succeeded, latencyNs: outcome.latencyNs,
                                                     stalledInCompaction: outcome.stalledInCompaction,
                                                     stalledInReclaim: outcome.stalledInReclaim, atNs: at))
            if let h = outcome.handle { tags[spec.tag, default: []].append(h) } else if spec.stopOnFailure { stopped = true }
            try throwIfRefused(run)
            done += 1
            inIncrement += 1
            nextAt = nextHighAllocAt(spec, order: order, startedAt: startedAt)
        }
        if done < total {
            run.pending = .highAlloc(spec: spec, order: order, total: total, increment: increment, done: done,
                                     inIncrement: inIncrement, stoppedIncrement: stopped, nextAt: nextAt)
        }
    }

    /// The events an attempt of a `high_alloc` or `hugetlb_pool` step, or a huge page of the selftest,
    /// counts for: one, or 64 at a costly order, whose attempt may compact or reclaim a zone (a call of
    /// 4096 events then makes up to 64 such attempts, and a job can be cancelled between calls; where
    /// calls divide a run changes none of its results).
    @inline(__always) func attemptEvents(order: Int) -> Int { order > Machine.pageAllocCostlyOrder ? 64 : 1 }

    /// One attempt of a `high_alloc` step: a huge-page fault for a THP step, otherwise an allocation on
    /// each node in turn while `__GFP_THISNODE` fails it.
    private func highAllocAttempt(_ run: WorkloadRun, _ spec: HighAllocSpec, order: Int) throws(MMError) -> AllocOutcome {
        // A huge page fault (Workload+THP.swift).
        if let t = spec.thp { return try thpFault(t, order: order, kind: spec.kind, tag: spec.tag, run: run) }
        var req = AllocRequest(order: order, kind: spec.kind, gfp: spec.gfp)
        var outcome = AllocOutcome()
        for node in nodes.indices {
            req.node = node
            outcome = try allocate(req)
            if outcome.succeeded || !spec.gfp.contains(.thisnode) { break }
        }
        return outcome
    }

    /// When the next attempt starts: VMRegress's ms_delay from this attempt's start with a rate
    /// (HighAllocSpec.mbPerSec), otherwise the fixed delay after it ended.
    private func nextHighAllocAt(_ spec: HighAllocSpec, order: Int, startedAt: UInt64) -> UInt64 {
        if let rate = spec.mbPerSec {
            let msDelay = ((1 << pageShift) << order) / (rate * 1_048_576 / 1000)
            return startedAt &+ UInt64(msDelay) &* 1_000_000
        }
        return clockNs &+ UInt64(spec.delayMs * 1e6)
    }

    /// Writes of nr_hugepages: set_max_huge_pages allocates until the pool reaches the target or an
    /// alloc_fresh_huge_page fails on every node; then the next write raises the target.
    private func continueHugetlbPool(_ run: WorkloadRun, _ spec: HugetlbPoolSpec, order: Int, total: Int, increment: Int, target: Int,
                                     pool: Int, nextAt: UInt64, noretry: UInt64, budgetEnd: Int) throws(MMError) {
        var target = target, pool = pool, nextAt = nextAt, noretry = noretry
        while run.events < budgetEnd {
            if pool >= target {
                if target >= total { return }
                // The next write: set_max_huge_pages starts with no node marked (6.6's node_alloc_noretry).
                target = min(total, target + increment)
                noretry = 0
            }
            if !runActors(run, until: nextAt, budgetEnd: budgetEnd) { break }
            guard reserveGated(&run.result.attempts), ensureTagRoom(spec.tag, 1) else { throw .stateLimit(bytes: lastRefusedBytes) }
            let at = relNs(run)
            let outcome = try allocFreshHugePage(order: order, noretry: &noretry)
            run.events += attemptEvents(order: order)
            run.result.attempts.append(AttemptRecord(index: run.result.attempts.count, success: outcome.succeeded, latencyNs: outcome.latencyNs,
                                                     stalledInCompaction: outcome.stalledInCompaction,
                                                     stalledInReclaim: outcome.stalledInReclaim, atNs: at))
            if let h = outcome.handle {
                tags[spec.tag, default: []].append(h)
                pool += 1
            } else {
                // The write ends short; the next one (if any) asks for its own target again.
                if target >= total { return }
                target = min(total, target + increment)
                noretry = 0
            }
            try throwIfRefused(run)
            nextAt = clockNs &+ UInt64(spec.delayMs * 1e6)
        }
        run.pending = .hugetlbPool(spec: spec, order: order, total: total, increment: increment, target: target, pool: pool, nextAt: nextAt,
                                   noretry: noretry)
    }

    /// Walks on through the metadata step's tree (lookups make a dentry and an inode per file) until it is
    /// done or the event budget is spent.
    private func continueMetadata(_ w: WorkloadRun.MetadataProgress, run: WorkloadRun, budgetEnd: Int) throws(MMError) {
        while w.done < w.total && run.events < budgetEnd {
            if w.perDirectory > 0 && w.done % w.perDirectory == 0 {
                // The walk enters the next directory: its inode and dentry are looked up first.
                if let dir = w.directory {
                    guard reserveGated(&w.files) else { throw .stateLimit(bytes: lastRefusedBytes) }
                    w.files.append(dir)
                    w.directory = nil
                }
                let (d, i) = createFileMetadata()
                w.directory = FileRecord(pages: [], dentry: d, inode: i)
                try throwIfRefused(run)
                run.events += 2
                if d == nil || i == nil { w.done = w.total; break }
            }
            guard reserveGated(&w.files) else { throw .stateLimit(bytes: lastRefusedBytes) }
            let (d, i) = createFileMetadata(parent: w.directory?.dentry)
            run.events += 2
            w.done += 1
            if d == nil || i == nil { w.done = w.total }
            w.files.append(FileRecord(pages: [], dentry: d, inode: i))
            try throwIfRefused(run)
        }
        if w.done >= w.total {
            if let dir = w.directory {
                guard reserveGated(&w.files) else { throw .stateLimit(bytes: lastRefusedBytes) }
                w.files.append(dir)
                w.directory = nil
            }
            guard reserveFileRoom(w.tag, files: w.files.count, pageLists: 0) else { throw .stateLimit(bytes: lastRefusedBytes) }
            files[w.tag, default: []].append(contentsOf: w.files)
        }
    }

    /// Room in `files` for `n` more files under `tag` whose page lists hold `pageLists` bytes, asking
    /// the state gate; false, with nothing grown, when it refuses.
    func reserveFileRoom(_ tag: String, files n: Int, pageLists: Int) -> Bool {
        let list = files[tag]
        let count = list?.count ?? 0, cap = list?.capacity ?? 0
        let needed = count + n
        let stride = MemoryLayout<FileRecord>.stride
        var bytes = pageLists
        if list == nil { bytes += HeapCost.entry(key: tag, valueStride: MemoryLayout<[FileRecord]>.stride) }
        // The new buffer whole: the old one is only freed once its elements are copied over.
        if needed > cap { bytes += HeapCost.array(capacity: needed, stride: stride) }
        guard mayGrowState(by: bytes) else { return false }
        if needed > cap { files[tag, default: []].reserveCapacity(needed) }
        return true
    }

    /// Takes back what a metadata walk stopped by the state gate made: its files' and directories'
    /// dentries and inodes (children before their directory).
    func undoMetadata(_ w: WorkloadRun.MetadataProgress) {
        for f in w.files { deleteFileMetadata(f) }
        if let dir = w.directory { deleteFileMetadata(dir) }
        w.files = []
        w.directory = nil
    }

    /// Takes back what a fill stopped by the state gate made: its pages (with their buffer heads), then
    /// its files' dentries and inodes.
    func undoFill(_ f: WorkloadRun.FillProgress) {
        endWriterProcesses(f)
        for list in f.handles { undoAllocations(list) }
        for fl in f.files { for file in fl { deleteFileMetadata(file) } }
        f.handles = Array(repeating: [], count: f.writers)
        f.files = Array(repeating: [], count: f.files.count)
    }

    /// The fill's writer processes exit.
    func endWriterProcesses(_ f: WorkloadRun.FillProgress) {
        for (w, p) in f.processes.enumerated() {
            if let p { exitProcess(p); f.processes[w] = nil }
        }
        f.processBytes = 0
    }

    /// Writes on with the fill's writers until it is done or the event budget is spent; at its end the
    /// tag (and the files) get what each writer wrote.
    private func continueFill(_ f: WorkloadRun.FillProgress, run: WorkloadRun, budgetEnd: Int) throws(MMError) {
        // Writers take turns, each writing `chunk` allocations at a time (parallel dd's interleave).
        while f.done < f.total && run.events < budgetEnd {
            let w = (f.done / f.chunk) % f.writers
            if let spec = f.writerProcess, f.processes[w] == nil, f.handles[w].isEmpty {
                // The writer starts: fork (a failed fork leaves it writing without a process).
                if let p = forkProcess(spec) { f.processes[w] = p; f.processBytes += p.heapBytes }
                try throwIfRefused(run)
            }
            for _ in 0..<min(f.chunk, f.total - f.done) {
                if f.filePages > 0 && f.files[w].count * f.filePages <= f.handles[w].count {
                    // The writer closes its file (the dentry becomes unused) and creat()s its next one:
                    // an inode and a dentry, in use while it writes.
                    dentryRelease(f.files[w].last?.dentry)
                    guard reserveGated(&f.files[w]) else { throw .stateLimit(bytes: lastRefusedBytes) }
                    let (d, i) = createFileMetadata(open: true)
                    f.files[w].append(FileRecord(pages: [], dentry: d, inode: i))
                    try throwIfRefused(run)
                    run.events += 2
                }
                guard reserveGated(&f.handles[w]) else { throw .stateLimit(bytes: lastRefusedBytes) }
                let req = AllocRequest(order: f.order, kind: f.kind, gfp: .kernel, mlock: f.mlock, dirty: run.rng.unit() < f.dirty)
                let o = try allocate(req)
                run.events += 1
                f.done += 1
                if let h = o.handle {
                    f.handles[w].append(h)
                    // add_to_page_cache_lru: the page enters its file's radix tree at its index.
                    if f.filePages > 0, let inode = f.files[w].last?.inode {
                        addToPageCache(h, inode: inode, index: f.handles[w].count - 1 - (f.files[w].count - 1) * f.filePages)
                    }
                    // write_begin attaches the page's buffers.
                    if f.buffers > 0 { attachBuffers(h, count: f.buffers) }
                    try throwIfRefused(run)
                } else { f.failures += 1 }
            }
            _ = runActors(run, until: clockNs, budgetEnd: Int.max)
            if f.failures > 64 { f.done = f.total }
        }
        guard f.done >= f.total else { return }
        endWriterProcesses(f)
        // The writers close their last files.
        for fl in f.files { dentryRelease(fl.last?.dentry) }
        // Room for the files (their records and page lists) and the tag's handles first.
        if f.filePages > 0 {
            var n = 0, pageLists = 0
            for (w, fl) in f.files.enumerated() {
                for k in fl.indices {
                    let lo = min(k * f.filePages, f.handles[w].count), hi = min(lo + f.filePages, f.handles[w].count)
                    pageLists += HeapCost.array(capacity: hi - lo, stride: MemoryLayout<PageHandle>.stride)
                    n += 1
                }
            }
            // (`out` below is built and dropped within the step: its bytes are asked for too.)
            let out = HeapCost.array(capacity: n, stride: MemoryLayout<FileRecord>.stride)
            guard reserveFileRoom(f.tag, files: n, pageLists: pageLists + out) else { throw .stateLimit(bytes: lastRefusedBytes) }
        }
        // The tag lists each writer's allocations together, in the order it wrote them, so a writer's
        // consecutive runs are its files. A lone writer without files hands its list over (the file
        // records below read the writers' lists).
        let appended = f.writers == 1 && f.filePages == 0 ? appendToTag(f.tag, taking: &f.handles[0])
                                                           : appendToTag(f.tag, f.handles.joined())
        guard appended else { throw .stateLimit(bytes: lastRefusedBytes) }
        if f.filePages > 0 {
            // File k of a writer is its k-th run of `filePages` pages.
            var out: [FileRecord] = []
            for (w, fl) in f.files.enumerated() {
                for (k, var file) in fl.enumerated() {
                    let lo = min(k * f.filePages, f.handles[w].count), hi = min(lo + f.filePages, f.handles[w].count)
                    file.pages = Array(f.handles[w][lo..<hi])
                    out.append(file)
                }
            }
            files[f.tag, default: []].append(contentsOf: out)
        }
    }
}

/// Natural logarithm without Foundation (a few Newton steps on exp; precise enough for lifetimes).
@inline(__always) func _log(_ x: Double) -> Double {
    guard x > 0 else { return -745 }
    // log(x) = log(m * 2^e) = log(m) + e*ln2 with m in [1, 2).
    let e = Double(x.exponent)
    let m = x.significand
    // atanh series: log(m) = 2 * atanh((m-1)/(m+1))
    let t = (m - 1) / (m + 1), t2 = t * t
    var term = t, sum = 0.0
    var k = 1.0
    for _ in 0..<12 { sum += term / k; term *= t2; k += 2 }
    return 2 * sum + e * 0.693_147_180_559_945_3
}

extension ActorAlloc {
    /// Whether every event of this entry is one allocation that needs no unit state: no unit, or a unit of
    /// one page of the entry's order, packed or read as files whose pages have at most one buffer head
    /// each (a file's end inside a page then marks nothing). The file sizes drawn for such an entry would
    /// change nothing, and they have a stream of their own, so not drawing them changes no result.
    func isOneAllocation(pageBytes: Int) -> Bool {
        guard let unit = unitBytes else { return true }
        guard unit == pageBytes << order else { return false }
        return fileSizes == nil || blockSize == 0 || blockSize >= pageBytes
    }
}
