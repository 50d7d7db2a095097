import MMCore
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
}

/// What the memory budget was asked for when it refused (the `operation` label of
/// `compact_service_memory_refusals_total`).
enum BudgetOperation: String, CaseIterable, Sendable {
    case createMachine = "create_machine"
    case allocation, workload, experiment
    case jobResult = "job_result"
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
    let jobs = JobRegistry()
    /// Experiments started by name (`PUT /v1/experiments/{name}`).
    let experimentNames = ExperimentNames()
    /// The threads that run requests taken off libmicrohttpd's threads, and renders for streams.
    let requestPool = WorkerPool(name: "requests", minThreads: 2, maxThreads: 64)
    /// The service's own request metrics. They live here because the registry is the one shared object
    /// every handler (and the HTTP layer) is handed: /metrics renders them beside the machines'.
    let metrics = ServiceMetrics()
    /// Refusals of the memory budget, by `BudgetOperation` (in `allCases` order).
    private let refusalCounts = Mutex<[Int]>(Array(repeating: 0, count: BudgetOperation.allCases.count))

    init(maxMachines: Int, memoryBudget: Int) {
        self.maxMachines = maxMachines
        self.memoryBudget = memoryBudget
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    /// What a machine of this layout will hold before any allocation: 10 bytes a page (page arrays),
    /// pageblock flags and zone ids, the max-order blocks' links, plus fixed overhead (an upper bound of
    /// its first `stateBytes`). Its real `stateBytes` replaces this once built.
    static func estimatedStateBytes(_ layout: MachineLayout) -> Int {
        let pages = Int(layout.totalPages)
        let blocks = pages >> layout.preset.pageblockOrder + 1
        let maxBlocks = pages >> (layout.preset.nrOrders - 1) + 1
        return pages * 10 + blocks * 3 + maxBlocks * 9 + 64 << 10
    }

    /// What a registered machine is charged beside its state from the start: its event ring, full, and
    /// room for its cached documents (`MachineBox.overheadBytes` replaces the latter with their size).
    static var machineOverheadBytes: Int { MachineEvents.maxBytes }

    /// Builds and registers a machine. Validates the configuration (MMError names the field), reserves
    /// the name and its budget share, builds the machine outside the registry lock, then publishes it.
    func create(name: String, config: MachineConfig) throws -> MachineBox {
        let layout = try config.validate()
        let estimate = MachineRegistry.estimatedStateBytes(layout) + MachineRegistry.machineOverheadBytes
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
            let box = MachineBox(name: name, instance: instance, machine: try Machine(config))
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

    func get(_ name: String) throws(RegistryError) -> MachineBox {
        guard let box = slots.withLock({ s -> MachineBox? in
            if case .ready(let b)? = s.byName[name] { return b }
            return nil
        }) else { throw .unknownMachine(name) }
        return box
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
    @discardableResult
    func remove(_ name: String) throws(RegistryError) -> MachineBox {
        try slots.withLock { (s: inout Slots) throws(RegistryError) -> MachineBox in
            guard case .ready(let box)? = s.byName.removeValue(forKey: name) else { throw .unknownMachine(name) }
            box.removed.store(true, ordering: .releasing)
            s.retired.append(WeakBox(box: box))
            MachineRegistry.pruneRetired(&s)
            return box
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
            }
        }
        return total
    }
}

/// A deleted machine as the registry still sees it: only while something else holds it.
struct WeakBox: Sendable {
    weak var box: MachineBox?
}
