import MMCore
import Synchronization

/// Registry errors: the service's own domain errors, mapped to problems in `Problem.from(_:)`.
enum RegistryError: Error, Sendable, Equatable {
    case unknownMachine(String)
    case duplicateName(String)
    case tooManyMachines(max: Int)
    case overBudget(needed: Int, available: Int, budget: Int)
    case shuttingDown
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

    private let slots = Mutex<[String: Slot]>([:])
    /// Workload and experiment jobs.
    let jobs = JobRegistry()
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
        try slots.withLock { (s: inout [String: Slot]) throws(RegistryError) in
            guard !isShuttingDown else { throw .shuttingDown }
            guard s[name] == nil else { throw .duplicateName(name) }
            guard s.count < maxMachines else { throw .tooManyMachines(max: maxMachines) }
            let used = MachineRegistry.usedBytes(s)
            guard used + estimate <= memoryBudget else {
                throw .overBudget(needed: estimate, available: max(0, memoryBudget - used), budget: memoryBudget)
            }
            s[name] = .creating(estimate: estimate)
        }
        do {
            let box = MachineBox(name: name, machine: try Machine(config))
            slots.withLock { $0[name] = .ready(box) }
            return box
        } catch {
            slots.withLock { _ = $0.removeValue(forKey: name) }
            throw error
        }
    }

    func get(_ name: String) throws(RegistryError) -> MachineBox {
        guard let box = slots.withLock({ s -> MachineBox? in
            if case .ready(let b)? = s[name] { return b }
            return nil
        }) else { throw .unknownMachine(name) }
        return box
    }

    /// Ready machines, by name.
    func list() -> [MachineBox] {
        slots.withLock { s in
            s.values.compactMap { slot -> MachineBox? in
                if case .ready(let b) = slot { return b }
                return nil
            }
        }.sorted { $0.name < $1.name }
    }

    /// Unregisters a machine. A long operation still running on it finishes on the orphaned box; its
    /// memory goes when the last reference does.
    func remove(_ name: String) throws(RegistryError) {
        try slots.withLock { (s: inout [String: Slot]) throws(RegistryError) in
            guard case .ready(let box)? = s[name] else { throw .unknownMachine(name) }
            s.removeValue(forKey: name)
            box.removed.store(true, ordering: .releasing)
        }
    }

    /// Bytes currently charged against the budget.
    var usedBytes: Int { slots.withLock { MachineRegistry.usedBytes($0) } }

    var count: Int { slots.withLock { $0.count } }

    private static func usedBytes(_ s: [String: Slot]) -> Int {
        s.values.reduce(0) { acc, slot in
            switch slot {
            case .creating(let e): return acc + e
            case .ready(let b): return acc + b.accountedBytes.load(ordering: .relaxed)
            }
        }
    }
}
