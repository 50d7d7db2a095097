import MMCore
import Synchronization

/// Registry errors: the service's own domain errors, mapped to problems in `Problem.from(_:)`.
enum RegistryError: Error, Sendable, Equatable {
    case unknownMachine(String)
    case duplicateName(String)
    case tooManyMachines(max: Int)
    case overBudget(needed: Int, available: Int, budget: Int)
    case shuttingDown
    /// The machine was deleted while an operation on it was running; what the operation did is gone.
    case deletedDuringOperation(String)
}

/// Name → machine. Enforces --max-machines and --memory-budget; a name is reserved while its machine
/// is being built, so two concurrent creations of one name give one 201 and one 409.
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
    /// The threads that run requests taken off libmicrohttpd's threads, and renders for streams.
    let requestPool = WorkerPool(name: "requests", minThreads: 2, maxThreads: 64)
    /// The service's own request metrics. They live here because the registry is the one shared object
    /// every handler (and the HTTP layer) is handed: /metrics renders them beside the machines'.
    let metrics = ServiceMetrics()

    init(maxMachines: Int, memoryBudget: Int) {
        self.maxMachines = maxMachines
        self.memoryBudget = memoryBudget
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    /// What a machine of this layout will hold before any allocation: 10 bytes a page (page arrays),
    /// pageblock flags and zone ids, plus fixed overhead. Its real `stateBytes` replaces this once built.
    static func estimatedStateBytes(_ layout: MachineLayout) -> Int {
        let pages = Int(layout.totalPages)
        let blocks = pages >> layout.preset.pageblockOrder + 1
        return pages * 10 + blocks * 3 + 64 << 10
    }

    /// Builds and registers a machine. Validates the configuration (MMError names the field), reserves
    /// the name and its budget share, builds the machine outside the registry lock, then publishes it.
    func create(name: String, config: MachineConfig) throws -> MachineBox {
        let layout = try config.validate()
        let estimate = MachineRegistry.estimatedStateBytes(layout)
        let instance = try slots.withLock { (s: inout Slots) throws(RegistryError) -> Int in
            guard !isShuttingDown else { throw .shuttingDown }
            guard s.byName[name] == nil else { throw .duplicateName(name) }
            guard s.byName.count < maxMachines else { throw .tooManyMachines(max: maxMachines) }
            let used = MachineRegistry.usedBytes(&s)
            guard used + estimate <= memoryBudget else {
                throw .overBudget(needed: estimate, available: max(0, memoryBudget - used), budget: memoryBudget)
            }
            s.byName[name] = .creating(estimate: estimate)
            s.nextInstance += 1
            return s.nextInstance - 1
        }
        do {
            let box = MachineBox(name: name, instance: instance, machine: try Machine(config))
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
    func reserve(_ bytes: Int) throws(RegistryError) -> Int {
        try slots.withLock { (s: inout Slots) throws(RegistryError) -> Int in
            guard !isShuttingDown else { throw .shuttingDown }
            let used = MachineRegistry.usedBytes(&s)
            guard used + bytes <= memoryBudget else {
                throw .overBudget(needed: bytes, available: max(0, memoryBudget - used), budget: memoryBudget)
            }
            let id = s.nextReservation
            s.nextReservation += 1
            s.reserved[id] = bytes
            return id
        }
    }

    func release(reservation id: Int) { slots.withLock { _ = $0.reserved.removeValue(forKey: id) } }

    /// Bytes currently charged against the budget.
    var usedBytes: Int { slots.withLock { MachineRegistry.usedBytes(&$0) } }

    var count: Int { slots.withLock { $0.byName.count } }

    /// Deleted machines still charged (something still holds them).
    var retiredCount: Int { slots.withLock { s in MachineRegistry.pruneRetired(&s); return s.retired.count } }

    private static func pruneRetired(_ s: inout Slots) {
        s.retired.removeAll { $0.box == nil }
    }

    private static func usedBytes(_ s: inout Slots) -> Int {
        pruneRetired(&s)
        var total = s.reserved.values.reduce(0, +)
        for w in s.retired { if let b = w.box { total += b.accountedBytes.load(ordering: .relaxed) } }
        for slot in s.byName.values {
            switch slot {
            case .creating(let e): total += e
            case .ready(let b): total += b.accountedBytes.load(ordering: .relaxed)
            }
        }
        return total
    }
}

/// A deleted machine as the registry still sees it: only while something else holds it.
struct WeakBox: Sendable {
    weak var box: MachineBox?
}
