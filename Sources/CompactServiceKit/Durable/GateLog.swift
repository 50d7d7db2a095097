import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A machine's state gate as the journal sees it: live, it asks the memory budget and notes each
/// refusal (its position among the section's questions and the bytes asked for) for the section's
/// record; in replay, it answers from the record instead (the budget then was another process's).
///
/// Asked only from inside the machine's critical sections (MMCore asks its gate there), so questions
/// and records of one machine never interleave.
final class GateLog: Sendable {
    private struct State: Sendable {
        var ordinal = 0
        var refusals: [MachineRecord.Refusal] = []
        /// Replaying a record: its refusals.
        var replay: [MachineRecord.Refusal]?
        /// Replayed questions whose bytes differed from the record's at a refusal.
        var mismatches = 0
    }
    private let state = Mutex(State())
    /// The live question (the memory budget), boxed; nil: every growth is allowed.
    ///
    /// Boxed because a function value kept in a generic container and reached through `withLock`'s
    /// `inout` is reabstracted on every access and written back wrapped: each question wrapped the
    /// stored closure in two more thunks, until calling the chain (or freeing it with its machine)
    /// overflowed a thread's stack after some 10^5 questions (the soak's crashes). A class reference
    /// is copied as it is.
    private final class LiveQuestion: Sendable {
        let ask: @Sendable (Int) -> Bool
        init(_ ask: @escaping @Sendable (Int) -> Bool) { self.ask = ask }
    }
    private let live = Mutex<LiveQuestion?>(nil)

    func setLive(_ gate: @escaping @Sendable (Int) -> Bool) {
        let q = LiveQuestion(gate)
        live.withLock { $0 = q }
    }

    /// The gate to install on the machine.
    var gate: (Int) -> Bool { { [self] bytes in decide(bytes) } }

    /// Starts a section: live (`replay` nil) or replaying a record's refusals.
    func begin(replaying replay: [MachineRecord.Refusal]? = nil) {
        state.withLock { s in
            s.ordinal = 0
            s.refusals = []
            s.replay = replay
        }
    }

    /// Ends a section: the refusals it saw.
    func end() -> [MachineRecord.Refusal] {
        state.withLock { s in
            s.replay = nil
            return s.refusals
        }
    }

    /// Replayed refusals whose bytes did not match the question asked at that position (README
    /// "Durable state": array capacities come from malloc and may differ by a few bytes between runs).
    var mismatches: Int { state.withLock { $0.mismatches } }

    func decide(_ bytes: Int) -> Bool {
        let replayed = state.withLock { s -> Bool? in
            defer { s.ordinal += 1 }
            guard let r = s.replay else { return nil }
            if let refusal = r.first(where: { $0.ordinal == s.ordinal }) {
                if refusal.bytes != bytes { s.mismatches += 1 }
                s.refusals.append(MachineRecord.Refusal(ordinal: s.ordinal, bytes: bytes))
                return false
            }
            return true
        }
        if let replayed { return replayed }
        let ok = live.withLock { $0 }?.ask(bytes) ?? true
        if !ok {
            state.withLock { s in s.refusals.append(MachineRecord.Refusal(ordinal: s.ordinal - 1, bytes: bytes)) }
        }
        return ok
    }
}

/// The journal positions the request being handled on this thread must see durable before it is
/// answered: `MachineBox.mutate` notes them, the router waits for them (`Router.dispatch`). A thread
/// that handles no request (a job's) notes nothing.
enum DurableContext {
    final class Box {
        var waits: [(Journal, UInt64)] = []
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        precondition(pthread_key_create(&k, nil) == 0, "pthread_key_create failed")
        return k
    }()

    /// Runs `body` collecting the positions it notes (also when it throws: what it changed before
    /// is journaled all the same).
    static func collecting<R>(_ body: () throws -> R) -> (Result<R, any Error>, [(Journal, UInt64)]) {
        let box = Box()
        let previous = pthread_getspecific(key)
        let ptr = Unmanaged.passRetained(box).toOpaque()
        pthread_setspecific(key, ptr)
        defer {
            pthread_setspecific(key, previous)
            Unmanaged<Box>.fromOpaque(ptr).release()
        }
        let r = Result { try body() }
        return (r, box.waits)
    }

    static func note(_ journal: Journal, _ position: UInt64) {
        guard let p = pthread_getspecific(key) else { return }
        let box = Unmanaged<Box>.fromOpaque(p).takeUnretainedValue()
        if let i = box.waits.firstIndex(where: { $0.0 === journal }) {
            box.waits[i].1 = max(box.waits[i].1, position)
        } else {
            box.waits.append((journal, position))
        }
    }
}
