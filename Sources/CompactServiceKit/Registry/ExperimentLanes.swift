import Dispatch
import MMCore
import MMFormat
import Synchronization

/// The units of an experiment (every variant on every seed) shared out to its lanes: each lane takes the
/// next unit, runs it on a fresh machine of its own and files the result by variant and seed, so the
/// outcome does not depend on which lane ran what. The first stop (a cancel, the budget, an error) ends
/// every lane before its next unit.
final class ExperimentLanes: Sendable {
    enum Stop: Sendable {
        case cancelled
        case stateLimit(variant: Int, bytes: Int)
        case failed(MMError)
    }

    let exp: Experiment
    let units: Int
    /// The state every unit starts from instead of a fresh machine (`start`), if given.
    let start: WorkloadRoutes.StartState?
    private let next = Atomic<Int>(0)
    private struct Shared: Sendable {
        var results: [[WorkloadResult?]]
        var stop: Stop?
        /// Per unit: its step (-1 before it starts) and whether it finished.
        var unitStep: [Int]
        var finished: [Bool]
    }
    private let shared: Mutex<Shared>

    init(_ exp: Experiment, units: Int, start: WorkloadRoutes.StartState? = nil) {
        self.exp = exp
        self.units = units
        self.start = start
        shared = Mutex(Shared(results: Array(repeating: Array(repeating: nil, count: exp.repeatCount), count: exp.variants.count),
                              unitStep: Array(repeating: -1, count: units), finished: Array(repeating: false, count: units)))
    }

    /// Records unit `u` at `step` (or finished) and reports the job's progress: the first unit not
    /// finished (units in order: seed by seed, variant by variant within a seed) and its step, so that
    /// progress only moves forward whichever lane runs ahead.
    private func progress(_ u: Int, step: Int?, job: Job) {
        shared.withLock { s in
            if let step { s.unitStep[u] = step } else { s.finished[u] = true }
            let f = s.finished.firstIndex(of: false) ?? units - 1
            let name = exp.variants[f % exp.variants.count].name
            let st = s.finished[f] ? exp.workload.steps.count : max(0, s.unitStep[f])
            job.update { $0.variant = f; $0.variantName = name; $0.step = st }
        }
    }

    private var stopped: Bool { shared.withLock { $0.stop != nil } }

    /// Runs units until none is left or the experiment stops.
    func lane(reservation rid: Int, largest: Int, registry: MachineRegistry, job: Job) {
        let nv = exp.variants.count
        while !stopped {
            let u = next.add(1, ordering: .relaxed).oldValue
            if u >= units { return }
            let k = u / nv, v = u % nv
            progress(u, step: 0, job: job)
            do {
                let unit = exp.unit(variant: v, replicate: k)
                let gate: (Int) -> Bool = { bytes in registry.approveGrowth(reservation: rid, bytes: bytes) }
                let m: Machine
                if let start {
                    // The start state's machine, seed included: replicates vary the workload's seed.
                    var config = unit.config
                    config.seed = start.config.seed
                    m = try WorkloadRoutes.machine(ExperimentVariant(name: exp.variants[v].name, config: config), from: start, gate: gate)
                } else {
                    m = try Machine(unit.config)
                    m.stateGrowthGate = gate
                }
                let run = try m.beginWorkload(unit.workload)
                while !m.step(run, maxEvents: 4096) {
                    registry.setReservation(rid, to: max(largest, m.stateBytes + run.stateBytes))
                    progress(u, step: run.result.stepsDone, job: job)
                    if registry.isShuttingDown || job.cancelRequested.load(ordering: .relaxed) || stopped {
                        m.cancel(run)
                        file(v, k, run.result, stop: .cancelled)
                        return
                    }
                }
                registry.setReservation(rid, to: largest)
                if case .stateLimit(let bytes)? = run.failure {
                    file(v, k, run.result, stop: .stateLimit(variant: v, bytes: bytes))
                    return
                }
                if let f = run.failure { file(v, k, nil, stop: .failed(f)); return }
                file(v, k, run.result, stop: nil)
                progress(u, step: nil, job: job)
            } catch {
                file(v, k, nil, stop: .failed(error))
                return
            }
        }
    }

    private func file(_ v: Int, _ k: Int, _ r: WorkloadResult?, stop: Stop?) {
        shared.withLock { s in
            if let r { s.results[v][k] = r }
            if s.stop == nil, let stop { s.stop = stop }
        }
    }

    /// Every variant's results in seed order (units that did not finish left out), and why the
    /// experiment stopped early, if it did.
    func outcome() -> ([[WorkloadResult]], Stop?) {
        shared.withLock { s in (s.results.map { $0.compactMap { $0 } }, s.stop) }
    }

    /// The experiment's result from what ran; nil when no variant has a result.
    static func result(_ exp: Experiment, _ reps: [[WorkloadResult]]) -> ExperimentResult? {
        let kept = exp.variants.indices.filter { !reps[$0].isEmpty }
        guard !kept.isEmpty else { return nil }
        var r = ExperimentResult(name: exp.name, workload: exp.workload.name,
                                 variants: kept.map { (exp.variants[$0].name, reps[$0][0]) }, replicates: kept.map { reps[$0] })
        r.carriesExactRecords = exp.partOf != nil
        return r
    }
}
