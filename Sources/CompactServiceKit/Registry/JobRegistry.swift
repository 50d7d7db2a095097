import Dispatch
import MMCore
import MMFormat
import Synchronization

/// A job's lifecycle.
enum JobState: String, Sendable {
    /// `interrupted`: the service stopped (a crash, SIGKILL) while the job was queued or running; its
    /// machine keeps what the job did up to its last section (README "Durable state").
    case queued, running, succeeded, failed, cancelled, interrupted
    var finished: Bool { self == .succeeded || self == .failed || self == .cancelled || self == .interrupted }
}

/// A workload on a machine or an experiment, running on the bounded job pool.
final class Job: Sendable {
    let id: String
    let kind: String
    let machine: String?
    /// `MachineBox.instance` of the machine the job runs on: a later machine of the same name is
    /// another machine.
    let machineInstance: Int?
    let workload: String
    let createdAt: String
    let cancelRequested = Atomic<Bool>(false)
    /// Bytes of the memory budget this job holds (its base charge, then its result documents too),
    /// given back when it is forgotten (`JobRegistry.forget`).
    let chargedBytes = Atomic<Int>(0)
    private let status: Mutex<Status>
    /// `Status.version`, readable without the lock (by the SSE ticker).
    let latestVersion = Atomic<UInt64>(1)

    struct Status: Sendable {
        var state: JobState = .queued
        var step = 0
        var steps = 0
        var variant = 0
        var variants = 1
        var variantName: String?
        /// Encoded result documents once the job has finished (partial ones for a cancelled job).
        var resultJSON: [UInt8]?
        var csv: String?
        var markdown: String?
        var error: Problem?
        /// Grows by one whenever the state or the progress changes (the job stream's event ids).
        var version: UInt64 = 1

        /// What a progress event reports.
        var progressKey: [String?] { [state.rawValue, String(step), String(steps), String(variant), String(variants), variantName] }
    }

    /// Set once the job's final state is saved (with a state directory; at once without): a client
    /// waiting for the job is answered only then.
    let settled = Atomic<Bool>(false)

    init(id: String, kind: String, machine: String?, machineInstance: Int?, workload: String, steps: Int, variants: Int,
         createdAt: String? = nil, status: Status? = nil) {
        self.id = id
        self.kind = kind
        self.machine = machine
        self.machineInstance = machineInstance
        self.workload = workload
        self.createdAt = createdAt ?? Logger.timestamp()
        self.status = Mutex(status ?? Status(steps: steps, variants: variants))
    }

    var snapshot: Status { status.withLock { $0 } }

    func update(_ body: (inout Status) -> Void) {
        status.withLock { s in
            let before = s.progressKey
            body(&s)
            if s.progressKey != before {
                s.version += 1
                latestVersion.store(s.version, ordering: .releasing)
            }
        }
    }

    /// Percent done: variants finished plus the current one's steps.
    static func percent(_ s: Status) -> Double {
        if s.state == .succeeded { return 100 }
        let per = s.steps > 0 ? Double(s.step) / Double(s.steps) : 0
        return ((Double(s.variant) + per) / Double(max(1, s.variants)) * 1000).rounded() / 10
    }

    /// The `progress` object of the job document (also the data of the job stream's progress events).
    /// A job's error as its document and its saved state carry it: the problem's members, or null.
    static func writeError(_ error: Problem?, into w: inout JSONWriter) {
        guard let e = error else { return w.null() }
        w.beginObject()
        w.field("status", e.status)
        w.field("detail", e.detail)
        w.field("field", e.field)
        for (k, v) in e.members { w.field(k, v) }
        w.endObject()
    }

    static func writeProgress(_ s: Status, into w: inout JSONWriter) {
        w.beginObject()
        w.field("step", s.step)
        w.field("steps", s.steps)
        w.field("variant", s.variant)
        w.field("variants", s.variants)
        w.field("variant_name", s.variantName)
        w.field("percent", Job.percent(s))
        w.endObject()
    }

    func write(into w: inout JSONWriter, includeResult: Bool) {
        write(snapshot, into: &w, includeResult: includeResult)
    }

    func write(_ s: Status, into w: inout JSONWriter, includeResult: Bool) {
        w.beginObject()
        w.field("id", id)
        w.field("kind", kind)
        w.field("state", s.state.rawValue)
        w.field("machine", machine)
        w.key("machine_instance")
        if let i = machineInstance { w.int(i) } else { w.null() }
        w.field("workload", workload)
        w.field("created_at", createdAt)
        w.key("progress")
        Job.writeProgress(s, into: &w)
        w.key("result")
        if includeResult, let r = s.resultJSON { w.raw(r) } else { w.null() }
        w.key("error")
        Job.writeError(s.error, into: &w)
        w.endObject()
    }
}

/// Jobs by id, run at most `workers` at a time; finished jobs are kept (the oldest dropped past `keep`).
/// What the jobs hold is charged to the memory budget (`heldBytes`, charged through
/// `MachineRegistry.charge(jobBytes:for:releasing:)`) until a job is forgotten.
final class JobRegistry: Sendable {
    let workers: Int
    let keep = 256
    /// What a job holds before it has a result (the job, its definition, its status), charged when it is
    /// submitted: a fixed estimate plus its request body's size.
    static let baseBytes = 4096
    private let held = Atomic<Int>(0)
    private let jobs = Mutex<(order: [String], byId: [String: Job], next: Int)>(([], [:], 1))
    /// The jobs' own threads, `workers` of them, at a lower CPU priority (nice 10) than the threads
    /// that serve requests: a job never holds back a request on another machine, and one on its own
    /// machine waits at most one step (`MachineBox.runInSteps`). Queued jobs wait without a thread.
    private let pool: WorkerPool
    /// Jobs whose body is running.
    private let running = Atomic<Int>(0)
    /// Set by `stop`: queued jobs end cancelled without running.
    private let stopping = Atomic<Bool>(false)

    /// `--state-dir`: jobs are saved there when submitted and when they finish.
    let store: StateStore?

    init(workers: Int = 2, store: StateStore? = nil) {
        self.workers = workers
        self.store = store
        pool = WorkerPool(name: "jobs", minThreads: 0, maxThreads: workers, niceness: CPUPriority.background)
    }

    /// Saves a job as it is now (with a state directory).
    func save(_ job: Job) throws(StoreError) {
        guard let store else { return }
        try store.saveJob(id: job.id, job.persistedDocument())
    }

    /// Saves a job's final state and lets its waiters go. A failure to save is logged: the job keeps
    /// its result in memory, and after a restart it shows as it was last saved.
    private func settle(_ job: Job) {
        do throws(StoreError) { try save(job) } catch {
            store?.log.error("state: cannot save job \(job.id): \(error)")
        }
        job.settled.store(true, ordering: .releasing)
    }

    /// Jobs saved in the state directory (at start-up, before anything runs): finished ones as they
    /// were; queued or running ones `interrupted`, with the partial result `results` gives for them.
    /// Returns the highest machine instance the jobs name.
    @discardableResult
    func restore(_ saved: [(id: String, bytes: [UInt8])], nextId: Int, results: (Job) -> Job.Status?) -> Int {
        var maxInstance = 0
        var restored: [Job] = []
        for (id, bytes) in saved {
            guard let job = Job(persisted: bytes), job.id == id else {
                store?.log.error("state: job file \(id).json is damaged; it is ignored")
                continue
            }
            maxInstance = max(maxInstance, job.machineInstance ?? 0)
            if !job.snapshot.state.finished {
                let partial = results(job)
                let was = job.snapshot.state.rawValue
                job.update { s in
                    if let p = partial { s = p }
                    s.state = .interrupted
                    s.error = Problem(500, "the service stopped (a crash or SIGKILL) while this job was \(was); it did not resume. Its machine keeps what the job did up to its last completed step.", field: nil)
                }
                settle(job)
            }
            job.settled.store(true, ordering: .releasing)
            restored.append(job)
        }
        jobs.withLock { j in
            for job in restored {
                j.order.append(job.id)
                j.byId[job.id] = job
                j.next = max(j.next, (Int(job.id.dropFirst(4)) ?? 0) + 1)
            }
            j.next = max(j.next, nextId)
        }
        return maxInstance
    }

    /// Bytes all held jobs are charged.
    var heldBytes: Int { held.load(ordering: .relaxed) }
    func addHeld(_ bytes: Int) { held.add(bytes, ordering: .relaxed) }

    /// Gives back what a job that is no longer held was charged.
    private func forget(_ job: Job) { held.subtract(job.chargedBytes.exchange(0, ordering: .relaxed), ordering: .relaxed) }

    /// Forgets a job dropped to keep `keep` (its file too).
    private func drop(_ job: Job) {
        forget(job)
        store?.removeJob(id: job.id, nextId: jobs.withLock { $0.next })
    }

    /// Submits a job that was charged `chargedBytes` (its base charge) already. `discarded` is called
    /// instead of `body` when the body never runs (the job was cancelled while queued, or the service
    /// stopped first): what the submitter set aside for the body (an experiment's reservation) goes back.
    /// With a state directory the job is saved (queued) before it can run; throws when it cannot be
    /// (nothing was submitted, and `discarded` is not called: the caller gives back what it set aside).
    func submit(kind: String, machine: String?, machineInstance: Int? = nil, workload: String, steps: Int, variants: Int,
                chargedBytes: Int = 0, discarded: (@Sendable () -> Void)? = nil,
                _ body: @escaping @Sendable (Job) throws -> Void) throws -> Job {
        let (job, dropped) = jobs.withLock { j -> (Job, Job?) in
            let job = Job(id: "job-\(j.next)", kind: kind, machine: machine, machineInstance: machineInstance, workload: workload,
                          steps: steps, variants: variants)
            job.chargedBytes.store(chargedBytes, ordering: .relaxed)
            j.next += 1
            j.order.append(job.id)
            j.byId[job.id] = job
            var dropped: Job?
            if j.order.count > keep, let oldest = j.order.first(where: { j.byId[$0]?.snapshot.state.finished ?? true }) {
                j.order.removeAll { $0 == oldest }
                dropped = j.byId.removeValue(forKey: oldest)
            }
            return (job, dropped)
        }
        if let dropped { drop(dropped) }
        do throws(StoreError) { try save(job) } catch {
            remove(job.id)
            throw RegistryError.storage(error.description)
        }
        let accepted = pool.submit { [self] in
            if job.cancelRequested.load(ordering: .relaxed) || stopping.load(ordering: .acquiring) {
                discarded?()
                job.update { $0.state = .cancelled }
                settle(job)
                return
            }
            running.add(1, ordering: .relaxed)
            defer { running.subtract(1, ordering: .releasing) }
            job.update { $0.state = .running }
            do {
                try body(job)
                job.update { if !$0.state.finished { $0.state = job.cancelRequested.load(ordering: .relaxed) ? .cancelled : .succeeded } }
            } catch {
                job.update { $0.state = .failed; $0.error = Problem.from(error) }
            }
            settle(job)
        }
        if !accepted {
            discarded?()
            job.update { $0.state = .cancelled }
            settle(job)
        }
        return job
    }

    /// Stops the jobs: queued ones end cancelled without running; running ones (which stop at their next
    /// step once the registry is shutting down) are waited for, at most `timeoutNs`. Returns whether
    /// none runs any more.
    @discardableResult
    func stop(timeoutNs: UInt64 = 5_000_000_000) -> Bool {
        stopping.store(true, ordering: .releasing)
        pool.stop()
        let deadline = monotonicNs() &+ timeoutNs
        while running.load(ordering: .acquiring) > 0 || pool.queued > 0 {
            if monotonicNs() > deadline { return false }
            usleep(1000)
        }
        return true
    }

    func get(_ id: String) -> Job? { jobs.withLock { $0.byId[id] } }

    func list() -> [Job] { jobs.withLock { j in j.order.compactMap { j.byId[$0] } } }

    func remove(_ id: String) {
        let (job, next) = jobs.withLock { j -> (Job?, Int) in
            j.order.removeAll { $0 == id }
            return (j.byId.removeValue(forKey: id), j.next)
        }
        if let job {
            forget(job)
            store?.removeJob(id: job.id, nextId: next)
        }
    }

    /// Blocks until the job has finished (and its final state is saved) or `timeoutNs` passed; returns
    /// whether it finished.
    func wait(_ job: Job, timeoutNs: UInt64, shouldStop: () -> Bool) -> Bool {
        let start = monotonicNs()
        while !(job.snapshot.state.finished && job.settled.load(ordering: .acquiring)) {
            if monotonicNs() &- start > timeoutNs || shouldStop() { return false }
            usleepNs(2_000_000)
        }
        return true
    }
}

#if canImport(Glibc)
import Glibc
#endif

func usleepNs(_ ns: UInt64) { usleep(useconds_t(ns / 1000)) }
