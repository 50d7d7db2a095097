import MMCore
import Synchronization

/// Documents rendered from a machine's state and cached per machine generation.
enum DocKind: Int, CaseIterable, Sendable {
    case stats, buddyinfo, pagetypeinfo, vmstat, zoneinfo, unusableIndex, extfragIndex
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
final class MachineBox: Sendable {
    let name: String
    /// Wall-clock creation time, RFC 3339.
    let createdAt: String
    private let machine: Mutex<Machine>
    /// Rendered documents by `DocKind.rawValue`, each with the generation it was rendered at. Only
    /// touched while `machine` is locked (lock order: machine, then docs).
    private let docs: Mutex<[CachedDoc?]>
    /// `stateBytes` after the last change: what this machine is charged against --memory-budget.
    let accountedBytes: Atomic<Int>
    /// The machine's tracer and event ring, which its SSE streams read.
    let events: MachineEvents
    /// Set when the machine is deleted: its streams end at their next tick.
    let removed = Atomic<Bool>(false)

    private struct CachedDoc: Sendable {
        var generation: UInt64
        var bytes: [UInt8]
    }

    init(name: String, machine: consuming sending Machine) {
        self.name = name
        createdAt = Logger.timestamp()
        let bytes = machine.stateBytes
        let events = MachineEvents(pageblockOrder: machine.pageblockOrder)
        machine.tracer = events
        self.events = events
        self.machine = Mutex(machine)
        docs = Mutex(Array(repeating: nil, count: DocKind.allCases.count))
        accountedBytes = Atomic(bytes)
    }

    /// Runs `body` with the machine locked. For operations that may change state, pass `mutating: true`
    /// so the budget accounting follows the machine's size.
    func withMachine<R: Sendable>(mutating: Bool = false, _ body: (Machine) throws -> R) throws -> R {
        try machine.withLock { (m: inout sending Machine) throws -> R in
            let m2 = m
            defer { if mutating { accountedBytes.store(m2.stateBytes, ordering: .relaxed) } }
            return try body(m2)
        }
    }

    /// Drives a long operation: `step` runs with the lock held and returns whether there is more to do;
    /// the lock is released between steps so that reads (stats, /proc) and other clients interleave.
    /// Stops early, without error, when `shouldStop` says so (shutdown); returns whether it finished.
    @discardableResult
    func runInSteps(shouldStop: () -> Bool, _ step: (Machine) throws -> StepOutcome) throws -> Bool {
        while true {
            let outcome = try withMachine(mutating: true) { m in try step(m) }
            if case .done = outcome { return true }
            if shouldStop() { return false }
        }
    }

    /// A document rendered from the machine, rebuilt only when the machine's generation has moved since
    /// the last build: repeated reads of an unchanged machine cost a lock and a copy.
    func document(_ kind: DocKind, _ build: (Machine) -> [UInt8]) -> [UInt8] {
        // Nothing in here throws; `try!` only satisfies withMachine's signature.
        try! withMachine { m -> [UInt8] in
            let g = m.generation
            if let c = docs.withLock({ $0[kind.rawValue] }), c.generation == g { return c.bytes }
            let bytes = build(m)
            docs.withLock { $0[kind.rawValue] = CachedDoc(generation: g, bytes: bytes) }
            return bytes
        }
    }
}
