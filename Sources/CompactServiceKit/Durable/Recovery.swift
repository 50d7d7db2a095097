import Dispatch
import MMCore
import MMFormat
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A machine brought back from its directory: the newest valid snapshot, then the journal after it.
struct RecoveredMachine {
    var name: String
    var instance: Int
    var createdAt: String
    var machine: Machine
    var gateLog: GateLog
    var journal: Journal
    /// Workload jobs a crash interrupted on this machine, with their results up to their last section.
    var interrupted: [String: WorkloadResult]
    var recordsReplayed: Int
    var seconds: Double
    /// Notes for the log (a torn record cut off, a damaged older file passed over, replay mismatches).
    var warnings: [String]
}

enum RecoveryOutcome {
    case ready(RecoveredMachine)
    /// The directory could not be brought back: it stays as it is, the machine answers with `reason`.
    case unavailable(name: String?, instance: Int?, directory: String, reason: String)
    /// A creation the crash cut short before it was answered (the directory holds no snapshot and no
    /// record): the machine never existed, and its directory is removed.
    case incomplete(directory: String)
}

extension StateStore {
    /// Every machine directory, recovered (README "Durable state", recovery), several at once (one per
    /// core): machines are independent.
    func recoverMachines() -> [RecoveryOutcome] {
        var dirs: [(dir: String, instance: Int)] = []
        for n in Files.list(machinesDir) {
            let dir = machinesDir + "/" + n
            if n.hasPrefix("next-instance") {
                if n.contains(".tmp-") { unlink(dir) }
                continue
            }
            guard Files.isDirectory(dir), n.hasPrefix("m"), let instance = Int(n.dropFirst()) else {
                log.warning("state: ignoring \(dir) (not a machine directory)")
                continue
            }
            dirs.append((dir, instance))
        }
        let all = dirs
        let results = RecoveryResults(count: all.count)
        DispatchQueue.concurrentPerform(iterations: all.count) { i in
            results.set(i, recoverAndReport(dir: all[i].dir, instance: all[i].instance))
        }
        return results.take()
    }

    private func recoverAndReport(dir: String, instance: Int) -> RecoveryOutcome {
        let t0 = monotonicNs()
        var outcome = recoverMachine(dir: dir, instance: instance)
        let seconds = Double(monotonicNs() &- t0) / 1e9
        switch outcome {
        case .ready(var r):
            r.seconds = seconds
            for w in r.warnings { log.warning("state: machine '\(r.name)' (\(dir)): \(w)") }
            log.info("state: recovered machine '\(r.name)' (instance \(r.instance)) in \(Int(seconds * 1000)) ms: \(r.recordsReplayed) journal records replayed")
            metrics.recoveries.withLock { $0.append((r.name, seconds, r.recordsReplayed, true)) }
            outcome = .ready(r)
        case .unavailable(let name, _, _, let reason):
            log.error("state: machine '\(name ?? "?")' in \(dir) cannot be recovered: \(reason); it is marked unavailable")
            metrics.recoveries.withLock { $0.append((name ?? "m\(instance)", seconds, 0, false)) }
        case .incomplete:
            log.info("state: \(dir) holds a machine whose creation was not finished (never answered); removing it")
            try? deleteDirectory(dir)
        }
        return outcome
    }

    private struct Failure: Error {
        var name: String?
        var reason: String
    }

    private struct Incomplete: Error {}

    func recoverMachine(dir: String, instance: Int) -> RecoveryOutcome {
        do {
            return .ready(try recover(dir: dir, instance: instance))
        } catch is Incomplete {
            return .incomplete(directory: dir)
        } catch let f as Failure {
            return .unavailable(name: f.name ?? savedName(dir: dir), instance: instance, directory: dir, reason: f.reason)
        } catch {
            return .unavailable(name: savedName(dir: dir), instance: instance, directory: dir, reason: "\(error)")
        }
    }

    /// What recovery has brought back of one machine so far, as it walks the snapshots and the journal.
    private struct Progress {
        let dir: String
        let instance: Int
        let gateLog = GateLog()
        let runs = MachineRuns()
        var name: String?
        var createdAt = ""
        var machine: Machine?
        /// The record the snapshot covers up to (the journal's records before it are already in it).
        var startSeq: UInt64 = 0
        /// The next record the journal must hold.
        var expected: UInt64 = 0
        var replayed = 0
        /// Snapshots that did not read back, with the reason.
        var damaged: [String] = []
        var warnings: [String] = []
        /// The last journal file read: a file named after the next record is in the way of the new one.
        var lastFile: (seq: UInt64, path: String)?

        init(dir: String, instance: Int) { (self.dir, self.instance) = (dir, instance) }

        func failure(_ reason: String) -> Failure { Failure(name: name, reason: reason) }
        var damagedText: String { damaged.joined(separator: "; ") }
    }

    private func recover(dir: String, instance: Int) throws -> RecoveredMachine {
        var names = Files.list(dir)
        for n in names where n.contains(".tmp-") { unlink(dir + "/" + n) }
        names.removeAll { $0.contains(".tmp-") }
        let snapshots = names.compactMap { StateStore.snapshotSeq(ofFile: $0) }.sorted(by: >)
        let journalSeqs = names.compactMap { Journal.firstSeq(ofFile: $0) }.sorted()
        var p = Progress(dir: dir, instance: instance)
        try loadNewestSnapshot(&p, snapshots: snapshots, journalSeqs: journalSeqs)
        p.expected = p.startSeq
        for (i, fseq) in journalSeqs.enumerated() {
            try replayJournalFile(&p, fseq: fseq, isLast: i == journalSeqs.count - 1)
        }
        guard let m = p.machine, let machineName = p.name else {
            if !p.damaged.isEmpty { throw Failure(name: nil, reason: "snapshot damaged: \(p.damagedText)") }
            if snapshots.isEmpty && p.expected == 0 { throw Incomplete() }
            throw Failure(name: nil, reason: "neither a snapshot nor the start of a journal")
        }
        if let l = p.lastFile, l.seq == p.expected { unlink(l.path) }
        if p.gateLog.mismatches > 0 {
            p.warnings.append("\(p.gateLog.mismatches) refusals of the memory budget were replayed where the journal's bytes differed (malloc's capacities; README \"Durable state\")")
        }
        return try finishRecovery(&p, m, machineName)
    }

    /// The newest snapshot that reads back; an older one only when the journal still reaches back to it.
    private func loadNewestSnapshot(_ p: inout Progress, snapshots: [UInt64], journalSeqs: [UInt64]) throws {
        for seq in snapshots {
            let file = StateStore.snapshotName(seq)
            do {
                guard let bytes = try Files.read(p.dir + "/" + file) else { continue }
                let (id, image) = try SnapshotFormat.decode(bytes)
                guard id.instance == p.instance else { throw SnapshotFormat.DecodeError("it is of instance \(id.instance), not \(p.instance)") }
                let m = try Machine(id.config, restoring: image, stateGrowthGate: p.gateLog.gate)
                if !p.damaged.isEmpty {
                    guard journalSeqs.contains(where: { $0 <= seq }) || seq == 0 else { break }
                    p.warnings.append("passed over \(p.damagedText); recovered from \(file) and the journal after it")
                }
                (p.name, p.createdAt, p.machine, p.startSeq) = (id.name, id.createdAt, m, seq)
                return
            } catch {
                p.damaged.append("\(file) (\(error))")
            }
        }
        if p.machine == nil && !p.damaged.isEmpty && journalSeqs.first != 0 {
            throw Failure(name: nil, reason: "snapshot damaged: \(p.damagedText)")
        }
    }

    /// Replays one journal file's records after the snapshot; cuts off a torn last record of the last file.
    private func replayJournalFile(_ p: inout Progress, fseq: UInt64, isLast: Bool) throws {
        let file = Journal.fileName(fseq), path = p.dir + "/" + file
        guard let bytes = try Files.read(path) else { return }
        let parsed = JournalFormat.parse(bytes)
        if case .corrupt(let offset, let reason) = parsed.ending {
            throw p.failure("\(file) is damaged at byte \(offset): \(reason)")
        }
        if parsed.records.isEmpty, case .torn = parsed.ending {
            // A file cut short before its first record (a crash as it was created).
            guard isLast else { throw p.failure("\(file) is damaged before its first record, and later files follow") }
            unlink(path)
            p.warnings.append("\(file) held no complete record and was removed")
            return
        }
        guard parsed.firstSeq == fseq else { throw p.failure("\(file) says it starts at record \(parsed.firstSeq)") }
        if fseq > p.expected && p.machine != nil {
            throw p.failure("journal records \(p.expected)..\(fseq - 1) are missing")
        }
        for rec in parsed.records where rec.seq >= p.expected {
            guard rec.seq == p.expected else { throw p.failure("\(file): record \(rec.seq) where \(p.expected) was expected") }
            let record: MachineRecord
            do { record = try MachineRecord(payload: rec.payload) } catch {
                throw p.failure("\(file) record \(rec.seq): \(error)")
            }
            try apply(&p, record, seq: rec.seq, file: file)
            p.expected += 1
        }
        if case .torn(let offset, let reason) = parsed.ending {
            guard isLast else { throw p.failure("\(file) is damaged at byte \(offset) (\(reason)), and later files follow") }
            cutOff(path, at: offset)
            p.warnings.append("the last record of \(file) was incomplete (\(reason)) and was cut off at byte \(offset): it had not been acknowledged")
        }
        p.lastFile = (fseq, path)
    }

    /// One journal record: the machine's creation (record 0 only) or an operation replayed on it.
    private func apply(_ p: inout Progress, _ record: MachineRecord, seq: UInt64, file: String) throws {
        if case .create(let n, let inst, let at, let config) = record.op {
            guard seq == 0, p.machine == nil, inst == p.instance else {
                throw p.failure("record \(seq) creates a machine in the middle of a journal")
            }
            let m = try Machine(config)
            m.stateGrowthGate = p.gateLog.gate
            (p.name, p.createdAt, p.machine) = (n, at, m)
            return
        }
        guard let m = p.machine else {
            throw p.failure(p.damaged.isEmpty ? "the journal does not start with the machine's creation" : "snapshot damaged: \(p.damagedText)")
        }
        do {
            p.gateLog.begin(replaying: record.gate)
            defer { _ = p.gateLog.end() }
            _ = try MachineOps.perform(record.op, on: m, runs: p.runs, limit: StateStore.replayLimit(record.op))
        } catch {
            throw p.failure("\(file) record \(seq) does not apply: \(error)")
        }
        p.replayed += 1
    }

    /// Truncates a journal file after its last complete record, durably.
    private func cutOff(_ path: String, at offset: Int) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = ftruncate(fd, off_t(offset))
        _ = fsync(fd)
        Glibc.close(fd)
    }

    /// Ends what the crash interrupted (requests run to their end, workload jobs stop), checks the
    /// machine, and opens its journal after the last record.
    private func finishRecovery(_ p: inout Progress, _ m: Machine, _ machineName: String) throws -> RecoveredMachine {
        p.gateLog.begin()
        let (finishing, interrupted) = try MachineOps.finishInterrupted(m, runs: p.runs)
        let refusals = p.gateLog.end()
        let errors = m.checkConsistency(limit: 5)
        guard errors.isEmpty else {
            throw Failure(name: machineName, reason: "the machine is inconsistent after recovery: \(errors.joined(separator: "; "))")
        }
        let journal = Journal(directory: p.dir, machineName: machineName, nextSeq: p.expected, fileSeq: p.expected, coveredBefore: p.startSeq)
        journal.noteReplayed(records: p.replayed)
        if !finishing.isEmpty {
            precondition(refusals.isEmpty, "the gate refused nothing: it has no budget to ask during recovery")
            if let pos = journal.append(finishing.map { MachineRecord(op: $0) }) {
                committer.schedule(journal)
                try committer.waitDurable(journal, pos)
            }
            p.warnings.append("\(finishing.count) records end what the crash interrupted (requests run to their end, workload jobs stopped)")
        }
        return RecoveredMachine(name: machineName, instance: p.instance, createdAt: p.createdAt, machine: m, gateLog: p.gateLog,
                                journal: journal, interrupted: interrupted, recordsReplayed: p.replayed, seconds: 0, warnings: p.warnings)
    }

    /// How much of a stepped operation a record's section did.
    static func replayLimit(_ op: MachineRecord.Op) -> SectionLimit {
        switch op {
        case .allocSteps(_, _, let c), .compact(_, _, let c), .workload(_, _, _, let c): return .calls(c)
        default: return .unbounded
        }
    }
}

extension Journal {
    /// After recovery: the records replayed count toward the next snapshot.
    func noteReplayed(records: Int) {
        state.withLock { $0.recordsSinceSnapshot = records }
    }
}

/// The outcomes of machines recovered side by side, by position.
private final class RecoveryResults: @unchecked Sendable {
    // Why @unchecked Sendable is safe: each recovering thread writes only its own index, under `lock`,
    // and `take` reads them all after `concurrentPerform` has returned (every write happened before);
    // a recovered machine is used by the thread that built it and then, after `take`, by its caller only.
    private let lock = Mutex<Void>(())
    private var outcomes: [RecoveryOutcome?]

    init(count: Int) { outcomes = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ o: RecoveryOutcome) { lock.withLock { _ in outcomes[i] = o } }

    func take() -> [RecoveryOutcome] { lock.withLock { _ in outcomes.compactMap { $0 } } }
}
