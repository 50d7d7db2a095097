import MMCore
import MMFormat
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One critical section's changes to a machine: each goes through `perform`, which applies it (the
/// same code replays it from the journal) and keeps the record of what it did.
struct Section {
    let machine: Machine
    let runs: MachineRuns
    let gateLog: GateLog
    private(set) var performed: [MachineRecord] = []

    init(machine: Machine, runs: MachineRuns, gateLog: GateLog) {
        self.machine = machine
        self.runs = runs
        self.gateLog = gateLog
    }

    /// Applies `op` (a stepped operation's section up to `limit`); a throw changed nothing.
    @discardableResult
    mutating func perform(_ op: MachineRecord.Op, limit: SectionLimit = .unbounded,
                          each: ((BulkAllocResult) -> Void)? = nil) throws -> OpOutcome {
        gateLog.begin()
        let result: (performed: MachineRecord.Op, outcome: OpOutcome)
        do {
            result = try MachineOps.perform(op, on: machine, runs: runs, limit: limit, each: each)
        } catch {
            _ = gateLog.end()
            throw error
        }
        performed.append(MachineRecord(op: result.performed, gate: gateLog.end()))
        return result.outcome
    }
}

/// Documents rendered from a machine's state and cached per machine generation.
enum DocKind: Int, CaseIterable, Sendable {
    case stats, buddyinfo, pagetypeinfo, vmstat, zoneinfo, unusableIndex, extfragIndex, description, pageblocks
}

/// How long one step of a long operation (a manual compaction, a workload job, an allocation batch of
/// more than 256 attempts) holds its machine's lock before releasing it: the longest a read of the same
/// machine (stats, /proc) waits, and short enough that a client sees no stall (a screen refresh is
/// 16 ms). One budget for every kind of step, so no operation can hold a machine longer than another.
enum OperationBudget {
    static let stepNs: UInt64 = 2_000_000
}

/// What one step of a long operation says about the operation.
enum StepOutcome: Sendable {
    case more
    case done
}

/// One named machine: the `Machine` behind its own lock, documents cached by generation, and the
/// bytes of state it is charged against the memory budget.
///
/// Every use of the machine goes through `withMachine` (one short critical section) or `runInSteps`
/// (a long operation as a sequence of short critical sections), so a reader waits at most one step.
/// Neither runs on libmicrohttpd's threads: those read only `cachedDocument`, which takes no machine
/// lock.
final class MachineBox: Sendable {
    let name: String
    /// Distinguishes this machine from earlier and later machines of the same name (jobs name both).
    let instance: Int
    /// Wall-clock creation time, RFC 3339.
    let createdAt: String
    /// The definition the machine was created from (what `PUT /v1/machines/{name}` compares).
    let config: MachineConfig
    private let machine: Mutex<Machine>
    /// Rendered documents by `DocKind.rawValue`, each with the generation it was rendered at. Taken
    /// alone by `cachedDocument`, or while `machine` is locked (lock order: machine, then docs); never
    /// held across machine work.
    private let docs: Mutex<[CachedDoc?]>
    /// The machine's generation as of the end of the last critical section: what `cachedDocument`
    /// compares a cached document with, without the machine's lock.
    private let publishedGeneration: Atomic<UInt64>
    /// `stateBytes` after the last change, plus what the machine's state gate approved since (in the
    /// critical section running now): the machine's state as charged against --memory-budget.
    let accountedBytes: Atomic<Int>
    /// State of the workload runs on this machine (`WorkloadRun.stateBytes`), as each job last set it.
    let runBytes = Atomic<Int>(0)
    /// Bytes of the documents cached for this machine.
    let docBytes = Atomic<Int>(0)
    /// The machine's tracer and event ring, which its SSE streams read.
    let events: MachineEvents
    /// Set when the machine is deleted: operations stop at their next step, streams end at their next
    /// tick, new operations find no machine.
    let removed = Atomic<Bool>(false)
    /// Threads waiting for the machine's lock: a long operation lets them in between its steps.
    private let waiters = Atomic<Int>(0)
    /// The latest pageblock table and when each block last changed (GET …/pageblocks, the streams'
    /// `pageblocks` events).
    let pageblocks = PageblockTracker()

    /// Per `DocKind`: a render is queued or running on a worker (`render(_:on:_:)`), so streams ask once.
    private let rendering = Mutex<UInt32>(0)

    private struct CachedDoc: Sendable {
        var generation: UInt64
        var bytes: [UInt8]
    }

    /// The machine's state gate (installed on the machine by whoever built it, before this box), which
    /// notes the memory budget's refusals for the journal.
    let gateLog: GateLog
    /// Stepped operations in progress (used inside critical sections only).
    let runs: MachineRuns
    /// The machine's journal, with `--state-dir`; nil: the service keeps no durable state.
    let journal: Journal?
    let store: StateStore?

    /// A box for a machine whose state gate is `gateLog.gate` already (or that has no gate yet: one is
    /// installed when `gateLog` is nil, for tests and the experiments' machines).
    init(name: String, instance: Int = 0, createdAt: String? = nil, machine: consuming sending Machine, gateLog: GateLog? = nil,
         runs: MachineRuns = MachineRuns(), journal: Journal? = nil, store: StateStore? = nil) {
        self.name = name
        self.instance = instance
        self.createdAt = createdAt ?? Logger.timestamp()
        if let gateLog {
            self.gateLog = gateLog
        } else {
            let g = GateLog()
            machine.stateGrowthGate = g.gate
            self.gateLog = g
        }
        self.runs = runs
        self.journal = journal
        self.store = store
        config = machine.config
        let bytes = machine.stateBytes
        let events = MachineEvents(pageblockOrder: machine.pageblockOrder)
        machine.tracer = events
        self.events = events
        publishedGeneration = Atomic(machine.generation)
        self.machine = Mutex(machine)
        docs = Mutex(Array(repeating: nil, count: DocKind.allCases.count))
        accountedBytes = Atomic(bytes)
    }

    var isRemoved: Bool { removed.load(ordering: .acquiring) }

    /// The machine's generation as of the end of the last critical section (no lock taken).
    var generation: UInt64 { publishedGeneration.load(ordering: .acquiring) }

    /// What this machine is charged against --memory-budget: its state, the workload runs on it, its
    /// event ring (at its full size from the start) and its cached documents.
    var chargedBytes: Int {
        accountedBytes.load(ordering: .relaxed) + runBytes.load(ordering: .relaxed) + docBytes.load(ordering: .relaxed)
            + MachineEvents.maxBytes
    }

    /// Sets what the machine's state gate asks (MMCore asks it before its state grows; see
    /// StateGrowth.swift): the memory budget.
    func installStateGate(_ gate: @escaping @Sendable (Int) -> Bool) {
        gateLog.setLive(gate)
        machine.withLock { (m: inout sending Machine) in
            accountedBytes.store(m.stateBytes, ordering: .relaxed)
        }
    }

    /// A critical section that may change the machine: `body` changes it only through
    /// `Section.perform`, whose records are appended to the journal (when the service is durable)
    /// before the lock is released, in the order of the sections; the request being handled then
    /// waits for them to be durable before it is answered (`DurableContext`). Refused with 507 before
    /// anything happens when the state directory is out of space, unless `ending` (the record that ends
    /// an operation: a cancellation, a stop, which must not be refused halfway).
    func mutate<R: Sendable>(ending: Bool = false, _ body: (inout Section) throws -> R) throws -> R {
        if let store, !ending { try store.admit(journal) }
        return try withMachine(mutating: true) { m in
            var section = Section(machine: m, runs: runs, gateLog: gateLog)
            defer {
                if let journal, !section.performed.isEmpty, let position = journal.append(section.performed) {
                    store?.committer.schedule(journal)
                    DurableContext.note(journal, position)
                }
            }
            return try body(&section)
        }
    }

    /// The machine's state and where its journal stands, for a snapshot: nil while a stepped operation
    /// is in progress on it (its run's state is not in the image), or kcompactd is at work (kernel 6.6). With a journal, the journal moves on
    /// to a new file at the returned seq.
    func captureSnapshot(rotatingJournal: Bool = true) throws -> (image: MachineStateImage, identity: SnapshotFormat.Identity)? {
        try withMachine { m -> (MachineStateImage, SnapshotFormat.Identity)? in
            guard runs.isEmpty, m.canExportState else { return nil }
            let image = m.exportState()
            let seq = rotatingJournal ? journal?.rotate() ?? 0 : 0
            return (image, SnapshotFormat.Identity(name: name, instance: instance, createdAt: createdAt, config: m.config,
                                                   journalSeq: seq, generation: m.generation, takenAt: Logger.timestamp()))
        }
    }

    /// Runs `body` with the machine locked. For operations that may change state, pass `mutating: true`
    /// so the budget accounting follows the machine's size. A machine deleted before the lock was taken
    /// is unknown (404), as it would be to a request arriving a moment later.
    func withMachine<R: Sendable>(mutating: Bool = false, _ body: (Machine) throws -> R) throws -> R {
        waiters.add(1, ordering: .relaxed)
        return try machine.withLock { (m: inout sending Machine) throws -> R in
            waiters.subtract(1, ordering: .relaxed)
            if isRemoved { throw RegistryError.unknownMachine(name) }
            let m2 = m
            defer {
                if mutating { accountedBytes.store(m2.stateBytes, ordering: .relaxed) }
                publishedGeneration.store(m2.generation, ordering: .releasing)
            }
            return try body(m2)
        }
    }

    /// Drives a long operation: `step` runs with the lock held and returns whether there is more to do;
    /// the lock is released between steps so that reads (stats, /proc) and other clients interleave,
    /// and a thread waiting for the lock is let in before the next step (the lock itself does not queue
    /// its waiters). Stops early, without error, when `shouldStop` says so (shutdown, a cancelled job);
    /// returns whether it finished. Throws `deletedDuringOperation` when the machine is deleted between
    /// two steps: the operation's work went with the machine.
    /// After its first 10 ms the operation's thread runs at background priority (`CPUPriority`).
    @discardableResult
    func runInSteps(shouldStop: () -> Bool, _ step: (inout Section) throws -> StepOutcome) throws -> Bool {
        try CPUPriority.demotingWhenLong { tick in
            var first = true
            while true {
                let outcome: StepOutcome
                do {
                    outcome = try mutate { s in try step(&s) }
                } catch RegistryError.unknownMachine(let n) where !first {
                    throw RegistryError.deletedDuringOperation(n)
                }
                first = false
                if case .done = outcome { return true }
                if isRemoved { throw RegistryError.deletedDuringOperation(name) }
                if shouldStop() { return false }
                tick()
                letWaitersIn()
            }
        }
    }

    /// Gives threads waiting for the lock a moment to take it (bounded: about 100 yields).
    private func letWaitersIn() {
        var spins = 0
        while waiters.load(ordering: .relaxed) > 0 && spins < 100 {
            sched_yield()
            spins += 1
        }
    }

    /// A document rendered from the machine, rebuilt only when the machine's generation has moved since
    /// the last build: repeated reads of an unchanged machine cost a lock and a copy.
    func document(_ kind: DocKind, _ build: (Machine) -> [UInt8]) throws -> [UInt8] {
        try withMachine { m -> [UInt8] in
            let g = m.generation
            if let c = docs.withLock({ $0[kind.rawValue] }), c.generation == g { return c.bytes }
            let bytes = build(m)
            let old = docs.withLock { d -> Int in
                let old = d[kind.rawValue]?.bytes.capacity ?? 0
                d[kind.rawValue] = CachedDoc(generation: g, bytes: bytes)
                return old
            }
            docBytes.add(bytes.capacity - old, ordering: .relaxed)
            return bytes
        }
    }

    /// The cached document when it is current, without taking the machine's lock (so an HTTP thread
    /// may call it); nil when it must be rendered. A deleted machine has no documents.
    func cachedDocument(_ kind: DocKind) -> [UInt8]? {
        guard !isRemoved else { return nil }
        let g = publishedGeneration.load(ordering: .acquiring)
        return docs.withLock { d -> [UInt8]? in
            guard let c = d[kind.rawValue], c.generation == g else { return nil }
            return c.bytes
        }
    }

    /// Renders a document on `pool` into the cache, unless such a render is already queued or running.
    /// For callers that may not wait for the machine's lock (streams on HTTP threads).
    func render(_ kind: DocKind, on pool: WorkerPool, _ build: @escaping @Sendable (Machine) -> [UInt8]) {
        let bit = UInt32(1) << UInt32(kind.rawValue)
        let queued = rendering.withLock { r -> Bool in
            if r & bit != 0 { return false }
            r |= bit
            return true
        }
        guard queued else { return }
        let accepted = pool.submit { [self] in
            _ = try? document(kind, build)
            rendering.withLock { $0 &= ~bit }
        }
        if !accepted { rendering.withLock { $0 &= ~bit } }
    }
}
