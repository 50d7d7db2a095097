/// Receives the kernel-tracepoint-like events of a machine (kernel-compaction.md §8.2). The service
/// installs one to stream events; MMCore never depends on what it does with them.
public protocol MachineTracer: AnyObject {
    func extfrag(_ e: ExtfragEvent)
    func compactionBegin(_ e: CompactionTraceBegin)
    func compactionEnd(_ e: CompactionTraceEnd)
    func compactionMigratepages(nrMigrated: Int, nrFailed: Int)
    /// The modern profile's tracepoints (kernel 6.6: Modern/ModernTrace.swift).
    func modern(_ e: ModernTraceEvent)
}

public extension MachineTracer {
    func extfrag(_ e: ExtfragEvent) {}
    func compactionBegin(_ e: CompactionTraceBegin) {}
    func compactionEnd(_ e: CompactionTraceEnd) {}
    func compactionMigratepages(nrMigrated: Int, nrFailed: Int) {}
    func modern(_ e: ModernTraceEvent) {}
}

/// `mm_compaction_begin`: zone_start, migrate_pfn, free_pfn, zone_end, mode.
public struct CompactionTraceBegin: Sendable, Equatable {
    public var node: Int
    public var zone: String
    public var zoneStart: Int
    public var migratePfn: Int
    public var freePfn: Int
    public var zoneEnd: Int
    public var mode: String
}

/// `mm_compaction_end`: as begin plus the result string.
public struct CompactionTraceEnd: Sendable, Equatable {
    public var node: Int
    public var zone: String
    public var zoneStart: Int
    public var migratePfn: Int
    public var freePfn: Int
    public var zoneEnd: Int
    public var mode: String
    public var status: String
}
