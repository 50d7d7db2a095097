import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One machine's journal: records are appended in memory while the machine's lock is held (so their
/// order is the order of the critical sections), and the committer writes and fsyncs them; a request
/// waits for its records to be durable before it is answered (`Committer.waitDurable`).
///
/// Files: `journal-<first seq, 16 digits>.log` in the machine's directory. A snapshot rotates the
/// journal (records from then on go to a new file), and once the snapshot is durable the files before
/// it are deleted (`dropBefore`).
final class Journal: Sendable {
    let directory: String
    let machineName: String

    struct Pending: Sendable {
        var firstSeq: UInt64
        var bytes: [UInt8]
        /// `appended` once these bytes are in.
        var end: UInt64
    }

    struct State: Sendable {
        var nextSeq: UInt64
        /// First record of the file records go to now.
        var fileSeq: UInt64
        var pending: [Pending] = []
        /// Bytes appended since the journal was opened, and how many of them are durable.
        var appended: UInt64 = 0
        var durable: UInt64 = 0
        /// Records before this are in a durable snapshot: they need not be written.
        var coveredBefore: UInt64 = 0
        /// Open files by first seq (the committer's; created when first written).
        var files: [UInt64: AppendFile] = [:]
        var failure: StoreError?
        var closed = false
        /// Since the last snapshot: records and bytes (the snapshot policy).
        var recordsSinceSnapshot = 0
        var bytesSinceSnapshot = 0
        /// A record since the last snapshot had a refusal of the memory budget (replaying it is exact
        /// only while array capacities agree, so the next snapshot comes sooner).
        var refusalsSinceSnapshot = false
    }

    let state: Mutex<State>

    init(directory: String, machineName: String, nextSeq: UInt64, fileSeq: UInt64, coveredBefore: UInt64) {
        self.directory = directory
        self.machineName = machineName
        state = Mutex(State(nextSeq: nextSeq, fileSeq: fileSeq, coveredBefore: coveredBefore))
    }

    static func fileName(_ firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return "journal-" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits + ".log"
    }

    /// The first seq of a journal file's name, or nil.
    static func firstSeq(ofFile name: String) -> UInt64? {
        guard name.hasPrefix("journal-"), name.hasSuffix(".log") else { return nil }
        return UInt64(name.dropFirst(8).dropLast(4))
    }

    /// Appends records (in order); returns the position a caller waits for, nil when the journal is
    /// closed (its machine was deleted: nothing of it needs to last).
    func append(_ records: [MachineRecord]) -> UInt64? {
        let frames = records.map { $0.payload }
        return state.withLock { s -> UInt64? in
            if s.closed { return nil }
            var bytes: [UInt8] = []
            for f in frames {
                bytes += JournalFormat.frame(seq: s.nextSeq, payload: f)
                s.nextSeq += 1
            }
            s.appended += UInt64(bytes.count)
            if let last = s.pending.last, last.firstSeq == s.fileSeq, last.bytes.count < 1 << 20 {
                s.pending[s.pending.count - 1].bytes += bytes
                s.pending[s.pending.count - 1].end = s.appended
            } else {
                s.pending.append(Pending(firstSeq: s.fileSeq, bytes: bytes, end: s.appended))
            }
            s.recordsSinceSnapshot += records.count
            s.bytesSinceSnapshot += bytes.count
            if records.contains(where: { !$0.gate.isEmpty }) { s.refusalsSinceSnapshot = true }
            return s.appended
        }
    }

    /// Starts a new file at the next record (a snapshot is being taken of everything before it);
    /// returns that record's seq. Called with the machine's lock held.
    func rotate() -> UInt64 {
        state.withLock { s in
            s.fileSeq = s.nextSeq
            s.recordsSinceSnapshot = 0
            s.bytesSinceSnapshot = 0
            s.refusalsSinceSnapshot = false
            return s.nextSeq
        }
    }

    /// After a snapshot of every record before `seq` is durable: those records need not be written any
    /// more, and the files holding only them are deleted.
    func dropBefore(_ seq: UInt64) {
        let doomed = state.withLock { s -> [String] in
            s.coveredBefore = max(s.coveredBefore, seq)
            for k in Array(s.files.keys) where k < seq { s.files.removeValue(forKey: k) }
            return Files.list(directory).filter { name in Journal.firstSeq(ofFile: name).map { $0 < seq } ?? false }
        }
        for name in doomed { unlink(directory + "/" + name) }
    }

    func close() { state.withLock { $0.closed = true; $0.pending = [] } }

    var failure: StoreError? { state.withLock { $0.failure } }

    /// The position after everything appended so far.
    var appendedPosition: UInt64 { state.withLock { $0.appended } }

    /// Records and bytes since the last snapshot, and whether one of them had a refusal of the budget.
    var sinceSnapshot: (records: Int, bytes: Int, refusals: Bool) {
        state.withLock { ($0.recordsSinceSnapshot, $0.bytesSinceSnapshot, $0.refusalsSinceSnapshot) }
    }

    /// What a round of the committer wrote to one journal: the files to sync, and the position that is
    /// durable once they are.
    struct Written {
        var files: [AppendFile]
        var end: UInt64
        var failure: StoreError?
    }

    /// Writes what is pending, without syncing (the committer, one thread): nil when there was nothing.
    func writePending(lowOnSpace: inout Bool) -> Written? {
        // Take the pending bytes and the files they go to under the lock; write outside it.
        let work = state.withLock { s -> [(AppendFile?, Pending, String?)]? in
            if s.pending.isEmpty || s.failure != nil { return nil }
            let taken = s.pending
            s.pending = []
            return taken.map { p -> (AppendFile?, Pending, String?) in
                if p.firstSeq < s.coveredBefore { return (nil, p, nil) }
                if let f = s.files[p.firstSeq] { return (f, p, nil) }
                let path = directory + "/" + Journal.fileName(p.firstSeq)
                do {
                    let f = try AppendFile(path: path, create: true)
                    var low = false
                    try f.append(JournalFormat.fileHeader(firstSeq: p.firstSeq), lowOnSpace: &low)
                    s.files[p.firstSeq] = f
                    return (f, p, nil)
                } catch {
                    return (nil, p, "\(error)")
                }
            }
        }
        guard let work else { return nil }
        var w = Written(files: [], end: 0)
        for (file, p, error) in work {
            if let error { w.failure = StoreError(error); break }
            if let f = file {
                do throws(StoreError) {
                    try f.append(p.bytes, lowOnSpace: &lowOnSpace)
                } catch {
                    w.failure = error
                    break
                }
                if !w.files.contains(where: { $0 === f }) { w.files.append(f) }
            }
            w.end = p.end
        }
        return w
    }

    /// After the round's syncs: what was written is durable, or the journal has failed.
    func settle(_ w: Written, syncFailure: StoreError?) {
        state.withLock { s in
            if let failure = w.failure ?? syncFailure {
                s.failure = failure
            } else {
                s.durable = max(s.durable, w.end)
            }
        }
    }

    /// Whether everything up to `position` is durable; throws the journal's failure.
    func isDurable(_ position: UInt64) throws(StoreError) -> Bool {
        try state.withLock { (s) throws(StoreError) -> Bool in
            if s.durable >= position || s.closed { return true }
            if let f = s.failure { throw f }
            return false
        }
    }
}

/// Writes the journals' pending records and fsyncs them, on its own thread, for every journal at
/// once: a group commit. A request's records wait at most one round behind the one in progress.
final class Committer: Sendable {
    private struct State: Sendable {
        var dirty: [ObjectIdentifier: Journal] = [:]
        var waiters: [DispatchSemaphore] = []
        var stopping = false
    }
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// Threads that fsync a round's files side by side (a sync waits on the disk, not the CPU).
    private let syncPool = WorkerPool(name: "fsync", minThreads: 0, maxThreads: 16)
    /// Set when the disk refused to reserve room for a journal (admission then refuses changes).
    let lowOnSpace = Atomic<Bool>(false)
    /// Rounds and fsyncs so far, and the time they took (for /metrics).
    let rounds = Atomic<Int>(0)
    let syncedBytes = Atomic<Int>(0)
    let syncNs = Atomic<UInt64>(0)

    init() {
        let ctx = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let c = Unmanaged<Committer>.fromOpaque(arg!).takeRetainedValue()
            c.run()
            return nil
        }, ctx)
        precondition(rc == 0, "cannot start the journal's committer thread")
        pthread_detach(tid)
    }

    /// Marks a journal as having records to write.
    func schedule(_ j: Journal) {
        state.withLock { $0.dirty[ObjectIdentifier(j)] = j }
        wake.signal()
    }

    /// Blocks until `position` of `journal` is durable; throws when writing it failed.
    func waitDurable(_ journal: Journal, _ position: UInt64) throws(StoreError) {
        while !(try journal.isDurable(position)) {
            let sem = DispatchSemaphore(value: 0)
            let stopping = state.withLock { s -> Bool in
                s.waiters.append(sem)
                s.dirty[ObjectIdentifier(journal)] = journal
                return s.stopping
            }
            if stopping { throw StoreError("the service is stopping") }
            wake.signal()
            _ = sem.wait(timeout: .now() + .milliseconds(200))
        }
    }

    func stop() {
        state.withLock { $0.stopping = true }
        wake.signal()
    }

    private func run() {
        while true {
            wake.wait()
            while true {
                let (journals, waiters, stopping) = state.withLock { s in
                    defer { s.dirty = [:]; s.waiters = [] }
                    return (Array(s.dirty.values), s.waiters, s.stopping)
                }
                if journals.isEmpty {
                    for w in waiters { w.signal() }
                    if stopping { return }
                    break
                }
                let t0 = monotonicNs()
                var low = false
                // Write every journal's records, then sync all the files at once: the file system
                // commits concurrent syncs together (ext4's journal takes them in one transaction),
                // so a round costs about one sync however many machines changed.
                let written = journals.compactMap { j in j.writePending(lowOnSpace: &low).map { (j, $0) } }
                if low { lowOnSpace.store(true, ordering: .relaxed) }
                let files = written.flatMap { $0.1.failure == nil ? $0.1.files : [] }
                let failures = Mutex<[ObjectIdentifier: StoreError]>([:])
                let done = DispatchSemaphore(value: 0)
                for (i, f) in files.enumerated() {
                    let sync: @Sendable () -> Void = {
                        do throws(StoreError) { try f.sync() } catch { failures.withLock { $0[ObjectIdentifier(f)] = error } }
                        done.signal()
                    }
                    // The last on this thread; the others on threads of their own, at once.
                    if i == files.count - 1 || !syncPool.submit(sync) { sync() }
                }
                for _ in files { done.wait() }
                let failed = failures.withLock { $0 }
                for (j, w) in written {
                    j.settle(w, syncFailure: w.files.lazy.compactMap { failed[ObjectIdentifier($0)] }.first)
                }
                if !written.isEmpty {
                    rounds.add(1, ordering: .relaxed)
                    syncNs.add(monotonicNs() &- t0, ordering: .relaxed)
                }
                for w in waiters { w.signal() }
            }
        }
    }
}
