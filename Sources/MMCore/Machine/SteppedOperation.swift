/// What one call of a stepped operation says about it.
public enum StepResult: Equatable, Sendable {
    /// More to do: call again.
    case more
    /// The operation has ended (finished, cancelled, failed or stopped by the state gate: the operation
    /// says which).
    case done
    /// It cannot move until another operation on the same machine does: a compaction whose next batch
    /// waits in `too_many_isolated` for pages another run holds isolated. The caller lets other work run
    /// before calling again.
    case waiting
}

/// A long operation on one machine done as a sequence of calls of bounded work (a manual compaction, a
/// workload run, a batch of single allocations), so that whoever drives it can hold the machine for a
/// short section of calls and let others in between. The work of one call is the operation's own
/// (scanner steps, allocation events, one allocation); how many calls make a section is the driver's.
public protocol SteppedOperation: AnyObject {
    /// Whether the operation has ended (a call now would do nothing).
    var isDone: Bool { get }
    /// One call of bounded work.
    func step(on machine: Machine) throws(MMError) -> StepResult
    /// How many calls the driver may make between two looks at its clock: 1 unless a call is so short
    /// that reading the clock would cost a good share of it.
    var callsPerClockRead: Int { get }
}

extension SteppedOperation {
    public var callsPerClockRead: Int { 1 }
}

extension CompactionRun: SteppedOperation {
    /// Compaction steps per call: a few hundred microseconds of scanning on the largest machines.
    public static let stepsPerCall = 16

    public func step(on machine: Machine) -> StepResult {
        if machine.step(self, maxSteps: CompactionRun.stepsPerCall) { return .done }
        return waitingForIsolated ? .waiting : .more
    }
}

extension WorkloadRun: SteppedOperation {
    /// Allocation events per call of a run whose machine others share (a run on a machine of its own,
    /// an experiment's, takes larger calls through `Machine.step(_:maxEvents:)`).
    public static let eventsPerCall = 1024

    public func step(on machine: Machine) -> StepResult {
        machine.step(self, maxEvents: WorkloadRun.eventsPerCall) ? .done : .more
    }
}

/// `count` allocations of one block each, made one per call (the service's stepped allocation batches:
/// requests of many attempts, whose answer tallies every allocation). Ends when all were attempted or
/// the machine's state gate refused the growth the next one needed (`refusedBytes`).
public final class AllocationBatch: SteppedOperation {
    public let request: AllocRequest
    public let tag: String?
    /// Attempts still to make.
    public private(set) var remaining: Int
    /// The bytes the state gate refused, when a refusal ended the batch.
    public private(set) var refusedBytes: Int?
    /// Sees every attempt's result (the live caller's tally); not part of the batch's state.
    public var onAttempt: ((BulkAllocResult) -> Void)?

    /// A batch of `count` attempts, checked as an allocation of `request` on `machine` would be.
    public init(_ request: AllocRequest, count: Int, tag: String?, on machine: Machine) throws(MMError) {
        try machine.validateRequest(request)
        if let tag { try Machine.validateTag(tag) }
        self.request = request
        self.tag = tag
        remaining = count
    }

    public var isDone: Bool { remaining == 0 || refusedBytes != nil }

    /// One allocation takes about a microsecond: the driver reads its clock every 32.
    public var callsPerClockRead: Int { 32 }

    public func step(on machine: Machine) throws(MMError) -> StepResult {
        guard !isDone else { return .done }
        let r = try machine.allocateBulk(request, count: 1, tag: tag, keepHandles: 1)
        if let bytes = r.stateLimitBytes {
            refusedBytes = bytes
            return .done
        }
        onAttempt?(r)
        remaining -= 1
        return isDone ? .done : .more
    }
}
