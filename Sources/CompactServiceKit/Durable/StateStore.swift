import MMCore
import MMFormat
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `--state-dir`: where machines, their journals and snapshots, and finished jobs live, so that every
/// change answered 2xx survives a crash (README "Durable state").
///
///     DIR/LOCK                          held (flock) while a service uses DIR
///     DIR/machines/m<instance>/         one directory per machine
///         journal-<seq>.log             records from <seq> on (JournalFormat)
///         snapshot-<seq>.snap           the machine before record <seq> (SnapshotFormat)
///     DIR/jobs/<id>.json                a job as last saved (queued, or finished with its result)
///     DIR/jobs/next-id                  the next job number, once a job has been forgotten
///     DIR/trash/                        deleted machines on their way out
final class StateStore: Sendable {
    let root: String
    let committer = Committer()
    let log: Logger
    /// Mutating requests are refused (507) when the file system has less free than this.
    let minFreeBytes: Int
    /// A snapshot is taken once a machine's journal has this many records or bytes since the last.
    let snapshotRecords: Int
    let snapshotBytes: Int
    private let lockFD: Int32
    /// Free bytes as last measured, and when (admission measures at most every 100 ms).
    private let free = Mutex<(bytes: Int, atNs: UInt64)>((Int.max, 0))
    let metrics = StoreMetrics()

    var machinesDir: String { root + "/machines" }
    var jobsDir: String { root + "/jobs" }
    var trashDir: String { root + "/trash" }

    init(root: String, minFreeBytes: Int, snapshotRecords: Int = 20_000, snapshotBytes: Int = 64 << 20, log: Logger) throws(StoreError) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        self.minFreeBytes = minFreeBytes
        self.snapshotRecords = snapshotRecords
        self.snapshotBytes = snapshotBytes
        self.log = log
        try Files.makeDirectories(self.root)
        for d in ["/machines", "/jobs", "/trash"] { try Files.makeDirectories(self.root + d) }
        let fd = open(self.root + "/LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .errno("cannot open", self.root + "/LOCK") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(fd)
            throw StoreError("\(self.root) is in use by another compact-service (its LOCK is held)")
        }
        lockFD = fd
        for n in Files.list(trashDir) { Files.removeTree(trashDir + "/" + n) }
        try Files.fsyncDirectory(self.root)
    }

    private let closed = Atomic<Bool>(false)

    deinit { close() }

    /// Lets the directory go (its lock, the committer's thread): the end of `Server.stop`.
    func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        committer.stop()
        flock(lockFD, LOCK_UN)
        Glibc.close(lockFD)
    }

    // MARK: - Admission

    /// Refuses a change (507, nothing changed) when the state directory is short of space: the disk
    /// refused to reserve room for a journal, or has less than `minFreeBytes` free.
    func admit() throws(Problem) {
        if committer.lowOnSpace.load(ordering: .relaxed) {
            // Measure again: space may have been freed.
            if freeBytes(refresh: true) >= minFreeBytes { committer.lowOnSpace.store(false, ordering: .relaxed) }
        }
        let f = freeBytes(refresh: false)
        guard f >= minFreeBytes && !committer.lowOnSpace.load(ordering: .relaxed) else {
            metrics.diskRefusals.add(1, ordering: .relaxed)
            var p = Problem(507, "the state directory (--state-dir) has \(max(0, f)) bytes free, less than the \(minFreeBytes) it keeps in reserve (--state-min-free): changes are refused until there is room; reads still work",
                            field: nil)
            p.members = [("free_bytes", max(0, f)), ("reserve_bytes", minFreeBytes)]
            throw p
        }
    }

    private func freeBytes(refresh: Bool) -> Int {
        let now = monotonicNs()
        if !refresh, let f = free.withLock({ now &- $0.atNs < 100_000_000 ? $0.bytes : nil }) { return f }
        let f = Files.freeBytes(root) ?? Int.max
        free.withLock { $0 = (f, now) }
        return f
    }

    /// Refuses a change to a machine whose journal can no longer be written.
    func admit(_ journal: Journal?) throws(Problem) {
        try admit()
        if let f = journal?.failure {
            throw Problem(507, "machine '\(journal!.machineName)' can no longer be changed: its journal could not be written (\(f.description))", field: "name")
        }
    }

    /// Waits until the journal positions are durable.
    func awaitDurable(_ waits: [(Journal, UInt64)]) throws(StoreError) {
        for (j, p) in waits { try committer.waitDurable(j, p) }
    }

    // MARK: - Machines

    func directory(instance: Int) -> String { machinesDir + "/m\(instance)" }

    /// A new machine's directory and journal (its first record, `create`, is the caller's to append).
    /// The directory holds `machine.json` too, the machine's name and instance, so that a machine whose
    /// journal and snapshots are all damaged is still reported by its name.
    func newMachine(name: String, instance: Int) throws(StoreError) -> Journal {
        let dir = directory(instance: instance)
        Files.removeTree(dir)
        guard mkdir(dir, 0o755) == 0 else { throw .errno("cannot create", dir) }
        var w = JSONWriter()
        w.beginObject()
        w.field("name", name)
        w.field("instance", instance)
        w.endObject()
        try Files.writeAtomically(dir + "/machine.json", w.bytes)
        try Files.fsyncDirectory(machinesDir)
        return Journal(directory: dir, machineName: name, nextSeq: 0, fileSeq: 0, coveredBefore: 0)
    }

    /// The name `machine.json` gives a machine directory, if it can be read.
    func savedName(dir: String) -> String? {
        guard let b = try? Files.read(dir + "/machine.json"), case .string(let n)? = (try? JSON.parse(bytes: b))?["name"] else { return nil }
        return n
    }

    /// A new machine made from a state image (an uploaded snapshot, a clone): its directory with that
    /// snapshot, durable before this returns.
    func newMachine(image: MachineStateImage, identity: SnapshotFormat.Identity) throws(StoreError) -> Journal {
        let journal = try newMachine(name: identity.name, instance: identity.instance)
        let bytes = SnapshotFormat.encode(image, identity)
        try Files.writeAtomically(journal.directory + "/" + StateStore.snapshotName(0), bytes)
        return journal
    }

    /// Instance numbers are never used twice (jobs name a machine by name and instance): the next one
    /// is saved when a machine is deleted, so a restart does not give a deleted machine's number again.
    func saveNextInstance(_ next: Int) throws(StoreError) {
        try counterLock.withLock { (_) throws(StoreError) in
            try Files.writeAtomically(machinesDir + "/next-instance", Array("\(max(next, savedNextInstance))\n".utf8))
        }
    }

    /// Serialises the writers of `next-instance` and `jobs/next-id` (each keeps the larger number).
    private let counterLock = Mutex<Void>(())

    var savedNextInstance: Int {
        guard let b = try? Files.read(machinesDir + "/next-instance") else { return 1 }
        return Int(String(decoding: b, as: UTF8.self).trimmingASCIIWhitespace()) ?? 1
    }

    /// Deletes a machine's directory durably (moved to the trash, then removed).
    func deleteMachine(_ journal: Journal) throws(StoreError) {
        journal.close()
        let name = journal.directory.split(separator: "/").last.map(String.init) ?? "m"
        let target = trashDir + "/" + name + "-\(monotonicNs())"
        guard rename(journal.directory, target) == 0 else { throw .errno("cannot move to the trash", journal.directory) }
        try Files.fsyncDirectory(machinesDir)
        Files.removeTree(target)
    }

    /// Deletes the directory of a machine that could not be recovered.
    func deleteDirectory(_ dir: String) throws(StoreError) {
        let target = trashDir + "/" + (dir.split(separator: "/").last.map(String.init) ?? "m") + "-\(monotonicNs())"
        guard rename(dir, target) == 0 else { throw .errno("cannot move to the trash", dir) }
        try Files.fsyncDirectory(machinesDir)
        Files.removeTree(target)
    }

    static func snapshotName(_ seq: UInt64) -> String {
        let d = String(seq)
        return "snapshot-" + String(repeating: "0", count: max(0, 16 - d.count)) + d + ".snap"
    }

    static func snapshotSeq(ofFile name: String) -> UInt64? {
        guard name.hasPrefix("snapshot-"), name.hasSuffix(".snap") else { return nil }
        return UInt64(name.dropFirst(9).dropLast(5))
    }

    /// Writes a snapshot taken at `identity.journalSeq` durably, then drops the journal before it and
    /// older snapshots. Returns the file's size.
    @discardableResult
    func writeSnapshot(_ image: MachineStateImage, _ identity: SnapshotFormat.Identity, journal: Journal) throws(StoreError) -> Int {
        let t0 = monotonicNs()
        let bytes = SnapshotFormat.encode(image, identity)
        let seq = identity.journalSeq
        try Files.writeAtomically(journal.directory + "/" + StateStore.snapshotName(seq), bytes)
        journal.dropBefore(seq)
        for n in Files.list(journal.directory) where (StateStore.snapshotSeq(ofFile: n).map { $0 < seq } ?? false) {
            unlink(journal.directory + "/" + n)
        }
        metrics.snapshots.add(1, ordering: .relaxed)
        metrics.snapshotBytes.add(bytes.count, ordering: .relaxed)
        metrics.snapshotNs.add(monotonicNs() &- t0, ordering: .relaxed)
        return bytes.count
    }

    // MARK: - Jobs

    func saveJob(id: String, _ bytes: [UInt8]) throws(StoreError) {
        try Files.writeAtomically(jobsDir + "/" + id + ".json", bytes)
    }

    /// Forgets a job's file; `nextId` (the job counter now) is saved first, so the number is not reused.
    func removeJob(id: String, nextId: Int) {
        do throws(StoreError) {
            try counterLock.withLock { (_) throws(StoreError) in
                try Files.writeAtomically(jobsDir + "/next-id", Array("\(max(nextId, savedNextJobId))\n".utf8))
            }
        } catch {
            log.error("state: cannot save the job counter: \(error)")
        }
        unlink(jobsDir + "/" + id + ".json")
        try? Files.fsyncDirectory(jobsDir)
    }

    /// `DIR/experiments.json`: the experiments started by name (`PUT /v1/experiments/{name}`).
    func saveExperimentNames(_ bytes: [UInt8]) throws(StoreError) {
        try Files.writeAtomically(root + "/experiments.json", bytes)
    }

    func loadExperimentNames() -> [UInt8]? { try? Files.read(root + "/experiments.json") }

    var savedNextJobId: Int {
        guard let b = try? Files.read(jobsDir + "/next-id") else { return 1 }
        return Int(String(decoding: b, as: UTF8.self).trimmingASCIIWhitespace()) ?? 1
    }

    /// Saved jobs, in id order, and the saved next job number.
    func loadJobs() -> (jobs: [(id: String, bytes: [UInt8])], nextId: Int) {
        var out: [(String, [UInt8])] = []
        for n in Files.list(jobsDir) {
            if n.contains(".tmp-") {
                unlink(jobsDir + "/" + n)
                continue
            }
            guard n.hasSuffix(".json") else { continue }
            do {
                if let b = try Files.read(jobsDir + "/" + n) { out.append((String(n.dropLast(5)), b)) }
            } catch {
                log.error("state: cannot read job \(n): \(error)")
            }
        }
        let next = savedNextJobId
        func num(_ id: String) -> Int { Int(id.dropFirst(4)) ?? 0 }
        return (out.sorted { num($0.0) < num($1.0) }, next)
    }
}

/// The durable state's counters for /metrics.
final class StoreMetrics: Sendable {
    let snapshots = Atomic<Int>(0)
    let snapshotBytes = Atomic<Int>(0)
    let snapshotNs = Atomic<UInt64>(0)
    let snapshotFailures = Atomic<Int>(0)
    let diskRefusals = Atomic<Int>(0)
    /// Per machine recovered at start-up: seconds, records replayed, outcome.
    let recoveries = Mutex<[(name: String, seconds: Double, records: Int, available: Bool)]>([])
}
