import MMCore
import MMFormat

/// What one critical section did to a machine, in a form that does it again: the journal's records.
///
/// A machine is deterministic, so its state is its creation plus these, applied in order. Every
/// mutating critical section runs through `MachineOps.perform` (live, on behalf of a request or a job)
/// and the same function replays a record (recovery), so the two cannot drift apart. What the live run
/// decided by the clock or by the memory budget is in the record: how many calls a stepped operation
/// made in the section (`calls`), and which of the machine's state-gate questions were refused (`gate`).
struct MachineRecord: Sendable {
    enum Op: Sendable {
        /// The machine's first record when it was created from a configuration.
        case create(name: String, instance: Int, createdAt: String, config: MachineConfig)
        /// An allocation batch in one section (`allocateBulk`).
        case allocate(AllocRequest, count: Int, tag: String?, keep: Int)
        /// A section of a stepped allocation batch: `calls` allocations of one block (the first section
        /// of run `run` says what the batch is).
        case allocSteps(run: Int, begin: AllocBatchSpec?, calls: Int)
        /// A stepped allocation batch stopped before its end (the service was shutting down).
        case allocStop(run: Int)
        case freeHandles([UInt64])
        case freeTag(String, FreePattern)
        case free(UInt64)
        case sysctl(name: String, value: Int)
        /// A write to /sys/kernel/mm/transparent_hugepage/{enabled,defrag} (kernel 6.6).
        case thp(file: String, value: String)
        /// A section of a manual compaction: `calls` calls of `step(maxSteps: 16)`.
        case compact(run: Int, begin: CompactSpec?, calls: Int)
        case compactCancel(run: Int)
        /// A section of a workload job: `calls` calls of `step(maxEvents: 1024)`.
        case workload(run: Int, job: String, begin: JSON?, calls: Int)
        case workloadCancel(run: Int)
        /// Recovery: a workload job a crash interrupted stops where it was.
        case abandon(run: Int)
    }

    struct AllocBatchSpec: Sendable {
        var request: AllocRequest
        var count: Int
        var tag: String?
    }

    struct CompactSpec: Sendable {
        var node: Int?
    }

    /// A question of the machine's state gate that was refused: its position among the section's
    /// questions and the bytes it asked for.
    struct Refusal: Sendable, Equatable {
        var ordinal: Int
        var bytes: Int
    }

    var op: Op
    var gate: [Refusal] = []

    /// A stepped operation's run, when the record is one.
    var run: Int? {
        switch op {
        case .allocSteps(let r, _, _), .allocStop(let r), .compact(let r, _, _), .compactCancel(let r), .workload(let r, _, _, _),
             .workloadCancel(let r), .abandon(let r):
            return r
        default: return nil
        }
    }
}

/// How much of a stepped operation one section does: live, until its time is up
/// (`OperationBudget.stepNs`); in replay, exactly the calls the record says.
enum SectionLimit: Sendable {
    case time(start: UInt64)
    case calls(Int)
    /// To the operation's end (recovery's `finish`).
    case unbounded

    /// A live section (stopped by the clock), not a replay of a journal's record.
    var isLive: Bool {
        if case .time = self { return true }
        return false
    }

    /// Whether a section that has made `calls` calls stops before the next (a time-limited one always
    /// makes one, and reads the clock only every `clockEvery` calls).
    func reached(calls: Int, clockEvery: Int = 1) -> Bool {
        switch self {
        case .time(let start): calls > 0 && calls % clockEvery == 0 && monotonicNs() &- start >= OperationBudget.stepNs
        case .calls(let k): calls >= k
        case .unbounded: false
        }
    }
}

/// The stepped operations in progress on one machine (a compaction, an allocation batch, a workload
/// job), by run number. Used only while the machine's lock is held.
final class MachineRuns: @unchecked Sendable {
    // Why @unchecked Sendable is safe: every access happens inside a critical section of the machine
    // this table belongs to (`MachineBox.mutate`, replay on the recovering thread before the machine is
    // published), so one thread at a time uses it, as it uses the machine.
    enum Run {
        case alloc(AllocationBatch)
        case compaction(CompactionRun)
        case workload(WorkloadRun, job: String)
    }

    private(set) var table: [Int: Run] = [:]
    private(set) var nextId = 1

    var isEmpty: Bool { table.isEmpty }
    var count: Int { table.count }

    func newId() -> Int {
        defer { nextId += 1 }
        return nextId
    }

    func add(_ id: Int, _ run: Run) {
        table[id] = run
        nextId = max(nextId, id + 1)
    }

    func remove(_ id: Int) { table.removeValue(forKey: id) }

    subscript(id: Int) -> Run? { table[id] }

    /// Run numbers in order.
    var ids: [Int] { table.keys.sorted() }
}

/// A record that cannot be applied: the journal does not describe this machine (a run it names does
/// not exist), or the record is not one this service knows.
struct ReplayError: Error, Sendable, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// What performing a record gave, for the live caller's answer.
enum OpOutcome {
    case none
    case bulk(BulkAllocResult)
    /// A section of an allocation batch: its calls, whether the batch ended with it, and the bytes the
    /// state gate refused when that ended it.
    case allocSection(calls: Int, done: Bool, refused: Int?)
    case compactionSection(CompactionRun, calls: Int, done: Bool)
    case workloadSection(WorkloadRun, calls: Int, done: Bool)
    case freed(Int)
    /// A cancelled compaction (its report is the caller's).
    case compaction(CompactionRun)
}

/// The one place records are applied to a machine, live and in replay.
enum MachineOps {
    /// Applies `op` to `m`. Live callers pass the limit of their section and get back the record as
    /// performed (with the calls made); replay passes the record's own limit. `each` sees every
    /// allocation of a stepped batch (live: the answer's tally).
    static func perform(_ op: MachineRecord.Op, on m: Machine, runs: MachineRuns, limit: SectionLimit,
                        each: ((BulkAllocResult) -> Void)? = nil) throws -> (performed: MachineRecord.Op, outcome: OpOutcome) {
        switch op {
        case .create:
            throw ReplayError("a create record in the middle of a journal")
        case .allocate(let req, let count, let tag, let keep):
            return (op, .bulk(try m.allocateBulk(req, count: count, tag: tag, keepHandles: keep)))
        case .allocSteps(let id, let begin, _):
            return try allocSteps(id, begin: begin, on: m, runs: runs, limit: limit, each: each)
        case .allocStop(let id):
            guard case .alloc? = runs[id] else { throw ReplayError("allocation run \(id) is not in progress") }
            runs.remove(id)
            return (op, .none)
        case .freeHandles, .freeTag, .free:
            return (op, .freed(try free(op, on: m)))
        case .sysctl(let name, let value):
            try setSysctl(name, value, on: m)
            return (op, .none)
        case .thp(let file, let value):
            try setTHP(file, value, on: m)
            return (op, .none)
        case .compact(let id, let begin, _):
            return try compact(id, begin: begin, on: m, runs: runs, limit: limit)
        case .compactCancel(let id):
            guard case .compaction(let run)? = runs[id] else { throw ReplayError("compaction run \(id) is not in progress") }
            m.cancel(run)
            runs.remove(id)
            return (op, .compaction(run))
        case .workload(let id, let job, let begin, _):
            return try workload(id, job: job, begin: begin, on: m, runs: runs, limit: limit)
        case .workloadCancel(let id), .abandon(let id):
            guard case .workload(let run, _)? = runs[id] else { throw ReplayError("workload run \(id) is not in progress") }
            m.cancel(run)
            runs.remove(id)
            return (op, .none)
        }
    }

    /// A section of a stepped allocation batch (the first creates the batch from `begin`).
    private static func allocSteps(_ id: Int, begin: MachineRecord.AllocBatchSpec?, on m: Machine, runs: MachineRuns, limit: SectionLimit,
                                   each: ((BulkAllocResult) -> Void)?) throws -> (performed: MachineRecord.Op, outcome: OpOutcome) {
        let batch: AllocationBatch
        if let begin {
            batch = try AllocationBatch(begin.request, count: begin.count, tag: begin.tag, on: m)
            runs.add(id, .alloc(batch))
        } else {
            guard case .alloc(let b)? = runs[id] else { throw ReplayError("allocation run \(id) is not in progress") }
            batch = b
        }
        batch.onAttempt = each
        defer { batch.onAttempt = nil }
        let (calls, done) = try section(batch, on: m, limit: limit)
        if done { runs.remove(id) }
        return (.allocSteps(run: id, begin: begin, calls: calls), .allocSection(calls: calls, done: done, refused: batch.refusedBytes))
    }

    /// The frees: by handles (all or nothing), by tag and pattern, one handle. Returns the count freed.
    private static func free(_ op: MachineRecord.Op, on m: Machine) throws -> Int {
        switch op {
        case .freeHandles(let hs):
            try m.freeAll(hs.map { PageHandle(raw: $0) })
            return hs.count
        case .freeTag(let tag, let pattern):
            // A tag without live allocations frees nothing; that is an answer, not an error.
            do throws(MMError) {
                return try m.freeTag(tag, pattern: pattern)
            } catch {
                guard case .unknownTag = error else { throw error }
                return 0
            }
        case .free(let h):
            try m.free(PageHandle(raw: h))
            return 1
        default:
            preconditionFailure("not a free")
        }
    }

    /// A write to one of the sysctls a machine has.
    private static func setSysctl(_ name: String, _ value: Int, on m: Machine) throws {
        switch name {
        case "extfrag_threshold": try m.setExtfragThreshold(value)
        case "min_free_kbytes": try m.setMinFreeKbytes(value)
        case "compact_unevictable_allowed": try m.setCompactUnevictableAllowed(value)
        case "dirty_ratio": try m.setDirtyRatio(value)
        case "dirty_background_ratio": try m.setDirtyBackgroundRatio(value)
        case "hugepages_treat_as_movable":
            // A journal written before 6.6 refused the file may hold a write to it on a 6.6 machine, where
            // it never had an effect: replayed as nothing. (A live write on 6.6 is answered 404 before this.)
            if m.kernel.hasHugepagesTreatAsMovable { try m.setHugepagesTreatAsMovable(value) }
        case "compaction_proactiveness": try m.setCompactionProactiveness(value)
        case "watermark_boost_factor": try m.setWatermarkBoostFactor(value)
        case "watermark_scale_factor": try m.setWatermarkScaleFactor(value)
        default: throw ReplayError("no sysctl \(name)")
        }
    }

    /// A write to /sys/kernel/mm/transparent_hugepage/{enabled,defrag}.
    private static func setTHP(_ file: String, _ value: String, on m: Machine) throws {
        switch file {
        case "enabled":
            guard let e = THPEnabled(rawValue: value) else { throw ReplayError("no transparent_hugepage/enabled value \(value)") }
            try m.setTHPEnabled(e)
        case "defrag":
            guard let d = THPDefrag(rawValue: value) else { throw ReplayError("no transparent_hugepage/defrag value \(value)") }
            try m.setTHPDefrag(d)
        default: throw ReplayError("no transparent_hugepage file \(file)")
        }
    }

    /// A section of a manual compaction (the first begins it, on every node or on `begin.node`).
    private static func compact(_ id: Int, begin: MachineRecord.CompactSpec?, on m: Machine, runs: MachineRuns,
                                limit: SectionLimit) throws -> (performed: MachineRecord.Op, outcome: OpOutcome) {
        let run: CompactionRun
        if let begin {
            run = try m.beginCompaction(node: begin.node.map(NodeID.init(rawValue:)))
            runs.add(id, .compaction(run))
        } else {
            guard case .compaction(let r)? = runs[id] else { throw ReplayError("compaction run \(id) is not in progress") }
            run = r
        }
        let (calls, done) = try section(run, on: m, limit: limit)
        if done { runs.remove(id) }
        return (.compact(run: id, begin: begin, calls: calls), .compactionSection(run, calls: calls, done: done))
    }

    /// A section of a workload job (the first begins it from the definition's JSON).
    private static func workload(_ id: Int, job: String, begin: JSON?, on m: Machine, runs: MachineRuns,
                                 limit: SectionLimit) throws -> (performed: MachineRecord.Op, outcome: OpOutcome) {
        let run: WorkloadRun
        if let begin {
            run = try m.beginWorkload(try definition(begin, replaying: !limit.isLive))
            runs.add(id, .workload(run, job: job))
        } else {
            guard case .workload(let r, _)? = runs[id] else { throw ReplayError("workload run \(id) is not in progress") }
            run = r
        }
        let (calls, done) = try section(run, on: m, limit: limit)
        if done { runs.remove(id) }
        return (.workload(run: id, job: job, begin: begin, calls: calls), .workloadSection(run, calls: calls, done: done))
    }

    /// A workload record's definition. A journal written before one rule held for `null` (MMFormat's
    /// reader refuses an explicit null of any member that is not nullable) may hold a null on a member the
    /// reader of its day never read (`"selftest": null`, a free step's `fraction` beside `pattern: all`):
    /// that request was accepted and answered, so replay reads such nulls as that reader did, as absent.
    private static func definition(_ json: JSON, replaying: Bool) throws -> WorkloadDefinition {
        do {
            return try WorkloadDefinition(json: json)
        } catch where replaying {
            return try WorkloadDefinition(json: withoutNullMembers(json))
        }
    }

    private static func withoutNullMembers(_ j: JSON) -> JSON {
        switch j {
        case .object(let members): return .object(members.filter { $0.1 != .null }.map { ($0.0, withoutNullMembers($0.1)) })
        case .array(let items): return .array(items.map(withoutNullMembers))
        default: return j
        }
    }

    /// One section of a stepped operation: calls until it is done, the section's limit, or it waits for
    /// another run (a compaction waiting for pages another run holds isolated: those move only when the
    /// other run is stepped, after this section). The one place stepped work is driven, live and in
    /// replay (where the limit is the record's count of calls).
    static func section(_ op: some SteppedOperation, on m: Machine, limit: SectionLimit) throws(MMError) -> (calls: Int, done: Bool) {
        var calls = 0
        guard !op.isDone else { return (0, true) }
        while !limit.reached(calls: calls, clockEvery: op.callsPerClockRead) {
            let r = try op.step(on: m)
            calls += 1
            switch r {
            case .done: return (calls, true)
            case .waiting: return (calls, false)
            case .more: continue
            }
        }
        return (calls, false)
    }

    /// Drives every run a crash interrupted to its end, in turn (one section each, run by run, so runs
    /// that wait for each other's isolated pages move on), and stops interrupted workloads. Returns the
    /// records of what it did, to append to the journal, and the partial results of the workloads by job.
    static func finishInterrupted(_ m: Machine, runs: MachineRuns) throws -> (records: [MachineRecord.Op], workloads: [String: WorkloadResult]) {
        var records: [MachineRecord.Op] = []
        var results: [String: WorkloadResult] = [:]
        for id in runs.ids {
            if case .workload(let run, let job)? = runs[id] {
                records.append(try perform(.abandon(run: id), on: m, runs: runs, limit: .unbounded).performed)
                results[job] = run.result
            }
        }
        // Round robin: compaction runs may wait for pages another holds isolated. Runs that still have
        // not ended after many rounds (waiting on each other) are cancelled, as shutdown cancels them.
        var rounds = 0
        while !runs.isEmpty {
            rounds += 1
            for id in runs.ids {
                switch runs[id] {
                case .alloc(let b)?:
                    records.append(try perform(.allocSteps(run: id, begin: nil, calls: 0), on: m, runs: runs, limit: .calls(1024)).performed)
                    _ = b
                case .compaction?:
                    let op: MachineRecord.Op = rounds > 10_000 ? .compactCancel(run: id) : .compact(run: id, begin: nil, calls: 0)
                    records.append(try perform(op, on: m, runs: runs, limit: .calls(64)).performed)
                default: runs.remove(id)
                }
            }
        }
        return (records, results)
    }
}
