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

    private func recover(dir: String, instance: Int) throws -> RecoveredMachine {
        var warnings: [String] = []
        var names = Files.list(dir)
        for n in names where n.contains(".tmp-") { unlink(dir + "/" + n) }
        names.removeAll { $0.contains(".tmp-") }
        let snapshots = names.compactMap { StateStore.snapshotSeq(ofFile: $0) }.sorted(by: >)
        let journalSeqs = names.compactMap { Journal.firstSeq(ofFile: $0) }.sorted()
        let gateLog = GateLog()
        var name: String?, createdAt = "", machine: Machine?
        var startSeq: UInt64 = 0
        // The newest snapshot that reads back; an older one only when the journal still reaches back to it.
        var damaged: [String] = []
        for seq in snapshots {
            let file = StateStore.snapshotName(seq)
            do {
                guard let bytes = try Files.read(dir + "/" + file) else { continue }
                let (id, image) = try SnapshotFormat.decode(bytes)
                guard id.instance == instance else { throw SnapshotFormat.DecodeError("it is of instance \(id.instance), not \(instance)") }
                let m = try Machine(id.config, restoring: image, stateGrowthGate: gateLog.gate)
                if !damaged.isEmpty {
                    guard journalSeqs.contains(where: { $0 <= seq }) || seq == 0 else { break }
                    warnings.append("passed over \(damaged.joined(separator: "; ")); recovered from \(file) and the journal after it")
                }
                (name, createdAt, machine, startSeq) = (id.name, id.createdAt, m, seq)
                break
            } catch {
                damaged.append("\(file) (\(error))")
            }
        }
        if machine == nil && !damaged.isEmpty && journalSeqs.first != 0 {
            throw Failure(name: nil, reason: "snapshot damaged: \(damaged.joined(separator: "; "))")
        }
        var expected = startSeq
        var replayed = 0
        let runs = MachineRuns()
        var lastFile: (seq: UInt64, path: String, records: Int)?
        for (fi, fseq) in journalSeqs.enumerated() {
            let path = dir + "/" + Journal.fileName(fseq)
            guard let bytes = try Files.read(path) else { continue }
            let parsed = JournalFormat.parse(bytes)
            let isLast = fi == journalSeqs.count - 1
            if case .corrupt(let offset, let reason) = parsed.ending {
                throw Failure(name: name, reason: "\(Journal.fileName(fseq)) is damaged at byte \(offset): \(reason)")
            }
            if parsed.records.isEmpty, case .torn = parsed.ending {
                // A file cut short before its first record (a crash as it was created).
                if isLast {
                    unlink(path)
                    warnings.append("\(Journal.fileName(fseq)) held no complete record and was removed")
                    continue
                }
                throw Failure(name: name, reason: "\(Journal.fileName(fseq)) is damaged before its first record, and later files follow")
            }
            guard parsed.firstSeq == fseq else { throw Failure(name: name, reason: "\(Journal.fileName(fseq)) says it starts at record \(parsed.firstSeq)") }
            if fseq > expected && machine != nil {
                throw Failure(name: name, reason: "journal records \(expected)..\(fseq - 1) are missing")
            }
            for rec in parsed.records {
                if rec.seq < expected { continue }
                guard rec.seq == expected else {
                    throw Failure(name: name, reason: "\(Journal.fileName(fseq)): record \(rec.seq) where \(expected) was expected")
                }
                let record: MachineRecord
                do { record = try MachineRecord(payload: rec.payload) } catch {
                    throw Failure(name: name, reason: "\(Journal.fileName(fseq)) record \(rec.seq): \(error)")
                }
                if case .create(let n, let inst, let at, let config) = record.op {
                    guard rec.seq == 0, machine == nil, inst == instance else {
                        throw Failure(name: name, reason: "record \(rec.seq) creates a machine in the middle of a journal")
                    }
                    let m = try Machine(config)
                    m.stateGrowthGate = gateLog.gate
                    (name, createdAt, machine) = (n, at, m)
                } else {
                    guard let m = machine else {
                        throw Failure(name: name, reason: damaged.isEmpty ? "the journal does not start with the machine's creation" : "snapshot damaged: \(damaged.joined(separator: "; "))")
                    }
                    do {
                        gateLog.begin(replaying: record.gate)
                        defer { _ = gateLog.end() }
                        _ = try MachineOps.perform(record.op, on: m, runs: runs, limit: StateStore.replayLimit(record.op))
                    } catch {
                        throw Failure(name: name, reason: "\(Journal.fileName(fseq)) record \(rec.seq) does not apply: \(error)")
                    }
                    replayed += 1
                }
                expected += 1
            }
            if case .torn(let offset, let reason) = parsed.ending {
                guard isLast else {
                    throw Failure(name: name, reason: "\(Journal.fileName(fseq)) is damaged at byte \(offset) (\(reason)), and later files follow")
                }
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                if fd >= 0 {
                    _ = ftruncate(fd, off_t(offset))
                    _ = fsync(fd)
                    Glibc.close(fd)
                }
                warnings.append("the last record of \(Journal.fileName(fseq)) was incomplete (\(reason)) and was cut off at byte \(offset): it had not been acknowledged")
            }
            lastFile = (fseq, path, parsed.records.count)
        }
        guard let m = machine, let machineName = name else {
            if !damaged.isEmpty { throw Failure(name: nil, reason: "snapshot damaged: \(damaged.joined(separator: "; "))") }
            if snapshots.isEmpty && expected == 0 { throw Incomplete() }
            throw Failure(name: nil, reason: "neither a snapshot nor the start of a journal")
        }
        // A file named after the next record (empty after a cut) is in the way of the new one.
        if let l = lastFile, l.seq == expected { unlink(l.path) }
        if gateLog.mismatches > 0 {
            warnings.append("\(gateLog.mismatches) refusals of the memory budget were replayed where the journal's bytes differed (malloc's capacities; README \"Durable state\")")
        }
        // Operations the crash interrupted: requests run to their end, workload jobs stop.
        gateLog.begin()
        let (finishing, interrupted) = try MachineOps.finishInterrupted(m, runs: runs)
        let refusals = gateLog.end()
        let errors = m.checkConsistency(limit: 5)
        guard errors.isEmpty else {
            throw Failure(name: machineName, reason: "the machine is inconsistent after recovery: \(errors.joined(separator: "; "))")
        }
        let journal = Journal(directory: dir, machineName: machineName, nextSeq: expected, fileSeq: expected, coveredBefore: startSeq)
        journal.noteReplayed(records: replayed)
        if !finishing.isEmpty {
            precondition(refusals.isEmpty, "the gate refused nothing: it has no budget to ask during recovery")
            if let p = journal.append(finishing.map { MachineRecord(op: $0) }) {
                committer.schedule(journal)
                try committer.waitDurable(journal, p)
            }
            warnings.append("\(finishing.count) records end what the crash interrupted (requests run to their end, workload jobs stopped)")
        }
        return RecoveredMachine(name: machineName, instance: instance, createdAt: createdAt, machine: m, gateLog: gateLog, journal: journal,
                                interrupted: interrupted, recordsReplayed: replayed, seconds: 0, warnings: warnings)
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
