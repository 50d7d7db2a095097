/// One high-order allocation attempt of a workload.
public struct AttemptRecord: Sendable, Equatable {
    public var index: Int
    public var success: Bool
    public var latencyNs: UInt64
    public var stalledInCompaction: Bool
    public var stalledInReclaim: Bool
    /// Simulated time of the attempt (ns since the workload started).
    public var atNs: UInt64
}

/// A stats sample taken at a named point.
public struct WorkloadSample: Sendable, Equatable {
    public var name: String
    public var atNs: UInt64
    public var freePages: Int
    /// Free blocks per order, summed over zones.
    public var freeBlocksPerOrder: [Int]
    /// Unusable free space index at the huge page order, per populated zone ("Node 0 DMA32" → index).
    public var unusableIndexHugepage: [String: Int]
    public var counters: VmCounters
}

/// How many copies an actor with `copies` ran as, on this machine (`ActorCopies`).
public struct ActorCopiesRecord: Sendable, Equatable {
    public var actor: String
    public var copies: Int
}

/// What a workload run measured, on one machine.
public struct WorkloadResult: Sendable {
    public var workload: String
    public var machine: MachineConfig
    public var attempts: [AttemptRecord] = []
    public var samples: [WorkloadSample] = []
    public var selftest: CompactionSelftestResult?
    public var countersBefore: VmCounters
    public var countersAfter: VmCounters
    public var simulatedNs: UInt64 = 0
    public var kswapdNs: UInt64 = 0
    public var stepsDone = 0
    public var cancelled = false
    /// High-order blocks the workload's high_alloc and hugetlb_pool steps requested in all (the seed's
    /// "of attempted": 466 of 512 requested, whatever the number of calls made).
    public var requested = 0
    /// The counters when the first high_alloc or hugetlb_pool step began (nil if none ran): what reclaim
    /// and compaction did while huge pages were being allocated, apart from the steps before.
    public var countersAtHighAlloc: VmCounters?
    /// The actors started with `copies`, in start order, and the copies each ran as.
    public var actorCopies: [ActorCopiesRecord] = []

    public var highAllocAttempts: Int { attempts.count }
    public var highAllocSuccesses: Int { attempts.filter(\.success).count }
    public var successPercent: Double { attempts.isEmpty ? 0 : 100 * Double(highAllocSuccesses) / Double(attempts.count) }
    /// Share of the request allocated (%), as the seed and mmtests report it.
    public var requestPercent: Double { requested == 0 ? 0 : 100 * Double(highAllocSuccesses) / Double(requested) }
    public var latency: LatencySummary { LatencySummary(attempts.map(\.latencyNs)) }

    /// A counter's growth since the first high-order allocation step began (0 without one).
    public func allocPhaseDelta(_ k: KeyPath<VmCounters, UInt64>) -> UInt64 {
        guard let c = countersAtHighAlloc else { return 0 }
        return countersAfter[keyPath: k] &- c[keyPath: k]
    }

    /// A counter's growth over the run.
    public func delta(_ k: KeyPath<VmCounters, UInt64>) -> UInt64 { countersAfter[keyPath: k] &- countersBefore[keyPath: k] }
}
