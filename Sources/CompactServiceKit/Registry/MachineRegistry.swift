import MMCore
import MMFormat
import Synchronization

/// Registry errors: the service's own domain errors, mapped to problems in `Problem.from(_:)`.
enum RegistryError: Error, Sendable, Equatable {
    case unknownMachine(String)
    case duplicateName(String)
    case tooManyMachines(max: Int)
    /// The operation needs `needed` more bytes of the memory budget; `used` of `budget` are in use.
    /// `what` says what needed them (a machine, an allocation batch, a workload…) and `field` the input
    /// to change.
    case overBudget(what: String, needed: Int, used: Int, budget: Int, field: String?)
    case shuttingDown
    /// The machine was deleted while an operation on it was running; what the operation did is gone.
    case deletedDuringOperation(String)
    /// The machine's state directory could not be recovered at start-up (`reason`); it answers nothing
    /// else until it is deleted.
    case unavailable(name: String, reason: String)
    /// The state directory could not record the change (`--state-dir`); nothing changed.
    case storage(String)
}

/// What the memory budget was asked for when it refused (the `operation` label of
/// `compact_service_memory_refusals_total`).
enum BudgetOperation: String, CaseIterable, Sendable {
    case createMachine = "create_machine"
    case allocation, workload, experiment
    case jobResult = "job_result"
    case snapshot
}

/// Name → machine. Enforces --max-machines and --memory-budget; a name is reserved while its machine
/// is being built, so two concurrent creations of one name give one 201 and one 409.
///
/// The memory budget covers everything the service holds that grows with use (README "Memory budget"):
/// - each machine's `chargedBytes`: its `stateBytes` (with what its state gate approved since its last
///   critical section ended), the state of workload runs on it, its event ring and cached documents;
/// - machines being created (their estimate) and deleted machines something still holds;
/// - experiments' reservations (their machines are not in the registry), which grow as they do;
/// - jobs: each held job's base charge and its result documents.
/// Growth asks first (`approveGrowth`, the machines' state gates; `charge`): what would take the total
/// past the budget is refused and counted (`refusals`). All of it is decided under `slots`' lock, which
/// is taken with a machine's lock held (lock order: machine, then registry) and never the reverse.
final class MachineRegistry: Sendable {
    let maxMachines: Int
    /// Bytes of simulator state all machines together may hold.
    let memoryBudget: Int
    /// Set when shutdown begins: long operations stop at their next step, creations are refused.
    let shuttingDown = Atomic<Bool>(false)

    private enum Slot: Sendable {
        /// Being built; charged with the estimate until it exists.
        case creating(estimate: Int)
        case ready(MachineBox)
        /// Found in the state directory but not recoverable: kept, named and explained, until deleted.
        case unavailable(UnavailableMachine)
    }

    struct UnavailableMachine: Sendable {
        var name: String
        var instance: Int?
        var directory: String
        var reason: String
    }

    private struct Slots: Sendable {
        var byName: [String: Slot] = [:]
        /// Deleted machines, held weakly: one that some operation, job or stream still holds is still
        /// charged to the budget; it is freed, and no longer charged, when the last of them lets go.
        var retired: [WeakBox] = []
        /// Bytes reserved by running or queued experiments (their machines are not in `byName`).
        var reserved: [Int: Int] = [:]
        var nextReservation = 1
        var nextInstance = 1
    }
    private let slots = Mutex(Slots())
    /// Workload and experiment jobs, on their own threads (`JobRegistry`).
    let jobs: JobRegistry
    /// Experiments started by name (`PUT /v1/experiments/{name}`).
    let experimentNames: ExperimentNames
    /// The threads that run requests taken off libmicrohttpd's threads, and renders for streams.
    let requestPool = WorkerPool(name: "requests", minThreads: 2, maxThreads: 64)
    /// The service's own request metrics. They live here because the registry is the one shared object
    /// every handler (and the HTTP layer) is handed: /metrics renders them beside the machines'.
    let metrics = ServiceMetrics()
    /// Refusals of the memory budget, by `BudgetOperation` (in `allCases` order).
    private let refusalCounts = Mutex<[Int]>(Array(repeating: 0, count: BudgetOperation.allCases.count))

    /// `--state-dir`: machines, jobs and their changes are kept there; nil: in memory only.
    let store: StateStore?

    init(maxMachines: Int, memoryBudget: Int, store: StateStore? = nil) {
        self.maxMachines = maxMachines
        self.memoryBudget = memoryBudget
        self.store = store
        jobs = JobRegistry(store: store)
        experimentNames = ExperimentNames(store: store)
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    /// What a machine of this layout will hold before any allocation (MMCore's estimate, an upper bound
    /// of its first `stateBytes`); its real `stateBytes` replaces this once built.
    static func estimatedStateBytes(_ layout: MachineLayout) -> Int { layout.estimatedStateBytes }

    /// What a registered machine is charged beside its state from the start: its event ring, full, and
    /// room for its cached documents (`MachineBox.overheadBytes` replaces the latter with their size).
    static var machineOverheadBytes: Int { MachineEvents.maxBytes }

    /// Builds and registers a machine. Validates the configuration (MMError names the field), reserves
    /// the name and its budget share, builds the machine outside the registry lock, then publishes it.
    /// With a state directory the machine's directory and its first journal record (`create`) are
    /// written too; the request waits for that record (`DurableContext`).
    func create(name: String, config: MachineConfig) throws -> MachineBox {
        let layout = try config.validate()
        let estimate = MachineRegistry.estimatedStateBytes(layout) + MachineRegistry.machineOverheadBytes
        return try publish(name: name, estimate: estimate) { instance in
            let createdAt = Logger.timestamp()
            let gateLog = GateLog()
            let m = try Machine(config)
            m.stateGrowthGate = gateLog.gate
            var journal: Journal?
            if let store {
                do throws(StoreError) { journal = try store.newMachine(name: name, instance: instance) } catch { throw RegistryError.storage(error.description) }
            }
            let box = MachineBox(name: name, instance: instance, createdAt: createdAt, machine: m, gateLog: gateLog, journal: journal, store: store)
            if let journal, let p = journal.append([MachineRecord(op: .create(name: name, instance: instance, createdAt: createdAt, config: config))]) {
                store?.committer.schedule(journal)
                DurableContext.note(journal, p)
            }
            return box
        }
    }

    /// Registers a machine made from a state image (an uploaded snapshot, a clone). With a state
    /// directory the image is written there as the machine's first snapshot before this returns.
    func create(name: String, config: MachineConfig, image: MachineStateImage) throws -> MachineBox {
        let layout = try config.validate()
        let estimate = MachineRegistry.estimatedStateBytes(layout) + image.storedBytes + MachineRegistry.machineOverheadBytes
        return try publish(name: name, estimate: estimate) { instance in
            let createdAt = Logger.timestamp()
            let gateLog = GateLog()
            let m = try Machine(config, restoring: image, stateGrowthGate: gateLog.gate)
            let errors = m.checkConsistency(limit: 3)
            guard errors.isEmpty else {
                throw Problem.invalid("snapshot", "the snapshot's machine is inconsistent: \(errors.joined(separator: "; "))")
            }
            var journal: Journal?
            if let store {
                let id = SnapshotFormat.Identity(name: name, instance: instance, createdAt: createdAt, config: config, journalSeq: 0,
                                                 generation: m.generation, takenAt: createdAt)
                do throws(StoreError) { journal = try store.newMachine(image: image, identity: id) } catch { throw RegistryError.storage(error.description) }
            }
            return MachineBox(name: name, instance: instance, createdAt: createdAt, machine: m, gateLog: gateLog, journal: journal, store: store)
        }
    }

    /// Reserves the name and `estimate` of the budget, builds the box outside the registry's lock, then
    /// publishes it with the memory budget as its state gate; on any error the name is free again.
    private func publish(name: String, estimate: Int, _ build: (Int) throws -> MachineBox) throws -> MachineBox {
        if let store { try store.admit() }
        let instance = try slots.withLock { (s: inout Slots) throws(RegistryError) -> Int in
            guard !isShuttingDown else { throw .shuttingDown }
            guard s.byName[name] == nil else { throw .duplicateName(name) }
            guard s.byName.count < maxMachines else { throw .tooManyMachines(max: maxMachines) }
            let used = jobs.heldBytes + MachineRegistry.usedBytes(&s)
            guard used + estimate <= memoryBudget else {
                countRefusal(.createMachine)
                throw .overBudget(what: "the machine", needed: estimate, used: used, budget: memoryBudget, field: "memory_mib")
            }
            s.byName[name] = .creating(estimate: estimate)
            s.nextInstance += 1
            return s.nextInstance - 1
        }
        do {
            let box = try build(instance)
            box.installStateGate { [weak self, weak box] bytes in
                guard let self, let box else { return false }
                return self.approveGrowth(of: box, bytes: bytes)
            }
            slots.withLock { $0.byName[name] = .ready(box) }
            return box
        } catch {
            slots.withLock { _ = $0.byName.removeValue(forKey: name) }
            throw error
        }
    }

    /// Registers what recovery found in the state directory (before the service serves).
    func restore(_ outcomes: [RecoveryOutcome]) {
        slots.withLock { s in
            for o in outcomes {
                switch o {
                case .ready(let r):
                    // Two directories of one name: the later instance was created after the earlier was
                    // deleted (its deletion was not yet durable); the later one is the machine.
                    if case .ready(let other)? = s.byName[r.name], other.instance > r.instance {
                        store?.log.warning("state: machine '\(r.name)' instance \(r.instance) is older than instance \(other.instance); deleting it")
                        try? store?.deleteMachine(r.journal)
                        continue
                    }
                    if case .ready(let other)? = s.byName[r.name], let j = other.journal {
                        store?.log.warning("state: machine '\(r.name)' instance \(other.instance) is older than instance \(r.instance); deleting it")
                        try? store?.deleteMachine(j)
                    }
                    // Safe: recovery built this machine on this thread and handed it over in `outcomes`, which
                    // nothing else holds; the box takes it from here and nothing else ever touches it.
                    nonisolated(unsafe) let machine = r.machine
                    let box = MachineBox(name: r.name, instance: r.instance, createdAt: r.createdAt, machine: machine, gateLog: r.gateLog,
                                         journal: r.journal, store: store)
                    box.installStateGate { [weak self, weak box] bytes in
                        guard let self, let box else { return false }
                        return self.approveGrowth(of: box, bytes: bytes)
                    }
                    s.byName[r.name] = .ready(box)
                    s.nextInstance = max(s.nextInstance, r.instance + 1)
                case .incomplete:
                    continue
                case .unavailable(let name, let instance, let dir, let reason):
                    let n = name ?? dir.split(separator: "/").last.map(String.init) ?? dir
                    if let instance { s.nextInstance = max(s.nextInstance, instance + 1) }
                    if s.byName[n] == nil { s.byName[n] = .unavailable(UnavailableMachine(name: n, instance: instance, directory: dir, reason: reason)) }
                }
            }
        }
    }

    /// Makes later instance numbers larger than `n` (jobs name instances of machines long deleted), and
    /// than any the state directory has given.
    func reserveInstances(through n: Int) {
        let saved = store?.savedNextInstance ?? 1
        slots.withLock { $0.nextInstance = max($0.nextInstance, n + 1, saved) }
    }

    /// Whether a machine of this name is registered (ready, being created or unavailable).
    func holds(_ name: String) -> Bool { slots.withLock { $0.byName[name] != nil } }

    /// Machines recovery could not bring back.
    var unavailable: [UnavailableMachine] {
        slots.withLock { s in
            s.byName.values.compactMap { slot -> UnavailableMachine? in
                if case .unavailable(let u) = slot { return u }
                return nil
            }
        }.sorted { $0.name < $1.name }
    }

    func get(_ name: String) throws(RegistryError) -> MachineBox {
        let slot = slots.withLock { $0.byName[name] }
        switch slot {
        case .ready(let b)?: return b
        case .unavailable(let u)?: throw .unavailable(name: name, reason: u.reason)
        default: throw .unknownMachine(name)
        }
    }

    /// Ready machines, by name.
    func list() -> [MachineBox] {
        slots.withLock { s in
            s.byName.values.compactMap { slot -> MachineBox? in
                if case .ready(let b) = slot { return b }
                return nil
            }
        }.sorted { $0.name < $1.name }
    }

    /// Unregisters a machine. Operations running on it stop at their next step (jobs end cancelled,
    /// requests answer 409); until the last has, the machine stays charged against the budget, and its
    /// memory goes with the last reference. Returns the machine, so that the caller (not the registry's
    /// lock) drops what may be that last reference: freeing a large machine takes a while.
    /// With a state directory the machine's directory goes too, durably, before this returns (an
    /// unavailable machine is deleted so). Not refused when the state directory is short of space:
    /// deleting frees some.
    @discardableResult
    func remove(_ name: String) throws -> MachineBox? {
        let removed = try slots.withLock { (s: inout Slots) throws(RegistryError) -> Slot in
            switch s.byName[name] {
            case .ready(let box)?:
                s.byName.removeValue(forKey: name)
                box.removed.store(true, ordering: .releasing)
                s.retired.append(WeakBox(box: box))
                MachineRegistry.pruneRetired(&s)
                return .ready(box)
            case .unavailable(let u)?:
                s.byName.removeValue(forKey: name)
                return .unavailable(u)
            default:
                throw .unknownMachine(name)
            }
        }
        let next = slots.withLock { $0.nextInstance }
        do throws(StoreError) { try store?.saveNextInstance(next) } catch { throw RegistryError.storage(error.description) }
        switch removed {
        case .ready(let box):
            if let store, let j = box.journal {
                do throws(StoreError) { try store.deleteMachine(j) } catch {
                    store.log.error("state: machine '\(name)' is deleted, but its directory could not be: \(error)")
                    throw RegistryError.storage(error.description)
                }
            }
            return box
        case .unavailable(let u):
            do throws(StoreError) { try store?.deleteDirectory(u.directory) } catch { throw RegistryError.storage(error.description) }
            return nil
        case .creating:
            return nil
        }
    }

    /// Reserves `bytes` of the budget for work outside the registry (an experiment's machines) until
    /// `release(reservation:)`; refused like a machine creation when the budget has not that much left.
    func reserve(_ bytes: Int, for operation: BudgetOperation = .experiment, what: String = "the experiment's largest machine",
                 field: String? = "variants") throws(RegistryError) -> Int {
        try slots.withLock { (s: inout Slots) throws(RegistryError) -> Int in
            guard !isShuttingDown else { throw .shuttingDown }
            let used = jobs.heldBytes + MachineRegistry.usedBytes(&s)
            guard used + bytes <= memoryBudget else {
                countRefusal(operation)
                throw .overBudget(what: what, needed: bytes, used: used, budget: memoryBudget, field: field)
            }
            let id = s.nextReservation
            s.nextReservation += 1
            s.reserved[id] = bytes
            return id
        }
    }

    func release(reservation id: Int) { slots.withLock { _ = $0.reserved.removeValue(forKey: id) } }

    /// Sets a reservation to what its work holds now (it grew through `approveGrowth(reservation:)`,
    /// and may have shrunk).
    func setReservation(_ id: Int, to bytes: Int) { slots.withLock { s in if s.reserved[id] != nil { s.reserved[id] = bytes } } }

    /// The state gate of an experiment's machine: `bytes` more for reservation `id`, if the budget has
    /// them. (The experiment counts the refusal when it stops.)
    func approveGrowth(reservation id: Int, bytes: Int) -> Bool {
        slots.withLock { s in
            guard let r = s.reserved[id] else { return false }
            guard jobs.heldBytes + MachineRegistry.usedBytes(&s) + bytes <= memoryBudget else { return false }
            s.reserved[id] = r + bytes
            return true
        }
    }

    /// The state gate of a registered machine: `bytes` more of state (or of a workload run on it), if
    /// the budget has them; charged to the machine at once (`MachineBox.accountedBytes`), so that the
    /// next request anywhere sees them, until the machine's critical section ends and its charge is set
    /// to what it really holds. (The operation that asked counts the refusal when it stops.)
    func approveGrowth(of box: MachineBox, bytes: Int) -> Bool {
        slots.withLock { s in
            guard jobs.heldBytes + MachineRegistry.usedBytes(&s) + bytes <= memoryBudget else { return false }
            box.accountedBytes.add(bytes, ordering: .relaxed)
            return true
        }
    }

    /// Charges `bytes` of job state (a job's base charge, a result) to the jobs, after giving back what
    /// it replaces (an experiment's reservation, a workload run's state on its machine) in the same
    /// critical section; false (and counted against `operation`) when the budget has not that much left.
    func charge(jobBytes bytes: Int, for operation: BudgetOperation, releasingReservation rid: Int? = nil,
                releasingRun run: (box: MachineBox, bytes: Int)? = nil) -> Bool {
        slots.withLock { s in
            if let rid { s.reserved.removeValue(forKey: rid) }
            if let run { run.box.runBytes.subtract(run.bytes, ordering: .relaxed) }
            guard jobs.heldBytes + MachineRegistry.usedBytes(&s) + bytes <= memoryBudget else {
                countRefusal(operation)
                return false
            }
            jobs.addHeld(bytes)
            return true
        }
    }

    /// Refuses `needed` more bytes, before anything changed, when the budget has not that much left:
    /// the check an allocation batch makes with its worst-case growth. (Not a reservation: batches on
    /// other machines at the same time share what is left, and one may then stop at the budget.)
    func checkHeadroom(_ needed: Int, for operation: BudgetOperation, what: String, field: String?) throws(RegistryError) {
        let used = usedBytes
        guard used + needed <= memoryBudget else {
            countRefusal(operation)
            throw .overBudget(what: what, needed: needed, used: used, budget: memoryBudget, field: field)
        }
    }

    /// The error for growth a state gate refused (`MMError.stateLimit`), with the budget's figures now.
    func overBudget(_ what: String, needed: Int, field: String?) -> RegistryError {
        .overBudget(what: what, needed: needed, used: usedBytes, budget: memoryBudget, field: field)
    }

    func countRefusal(_ op: BudgetOperation) {
        let i = BudgetOperation.allCases.firstIndex(of: op)!
        refusalCounts.withLock { $0[i] += 1 }
    }

    /// Refusals so far, by operation.
    var refusals: [(BudgetOperation, Int)] {
        let counts = refusalCounts.withLock { $0 }
        return BudgetOperation.allCases.enumerated().map { ($1, counts[$0]) }
    }

    /// Bytes currently charged against the budget.
    var usedBytes: Int { slots.withLock { jobs.heldBytes + MachineRegistry.usedBytes(&$0) } }

    var count: Int { slots.withLock { $0.byName.count } }

    /// Deleted machines still charged (something still holds them).
    var retiredCount: Int { slots.withLock { s in MachineRegistry.pruneRetired(&s); return s.retired.count } }

    private static func pruneRetired(_ s: inout Slots) {
        s.retired.removeAll { $0.box == nil }
    }

    private static func usedBytes(_ s: inout Slots) -> Int {
        pruneRetired(&s)
        var total = s.reserved.values.reduce(0, +)
        for w in s.retired { if let b = w.box { total += b.chargedBytes } }
        for slot in s.byName.values {
            switch slot {
            case .creating(let e): total += e
            case .ready(let b): total += b.chargedBytes
            case .unavailable: break
            }
        }
        return total
    }
}

/// A deleted machine as the registry still sees it: only while something else holds it.
struct WeakBox: Sendable {
    weak var box: MachineBox?
}
