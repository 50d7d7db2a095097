/// Simulated time. Every page the simulation touches costs simulated nanoseconds, so allocations have a
/// latency and compactions a duration; wall-clock time never enters a result.
///
/// The compaction constants follow mmtests' compaction cost model (workloads-and-results.md §2.1):
/// with Ca = 56/8 (touching a `struct page`) and a page read or write of Ca + pagesize/8, scanning a page
/// costs Ca, isolating it Ca + 12, migrating it two page r/w (read the old, write the new) and a failed
/// migration 2·Ca. We read one cost unit as one nanosecond. Reclaim and I/O costs are ours: dropping a
/// clean page is an LRU walk plus a page-cache delete; writeback and swap-out model a 4 KiB write to a
/// disk at 100 MB/s (scaled by page size), which is what made lumpy reclaim slow.
public struct CostModel: Sendable, Equatable {
    public var structPage: UInt64
    public var pageReadWrite: UInt64
    public var scanPage: UInt64
    public var isolatePage: UInt64
    public var migratePage: UInt64
    public var migrateFail: UInt64
    /// A fast-path allocation: zonelist walk, watermark check, list removal.
    public var allocFastPath: UInt64
    /// Each buddy split or merge step.
    public var buddyStep: UInt64
    /// Reclaim: scanning one LRU page.
    public var reclaimScan: UInt64
    /// Reclaim: dropping one clean page.
    public var reclaimDrop: UInt64
    /// Writing one page to disk (dirty page-cache writeback or swap-out).
    public var writePage: UInt64
    /// The seed's congestion_wait(HZ/10) after lumpy direct reclaim that freed fewer pages than it isolated.
    public var congestionWait: UInt64

    public init(pageSize: Int) {
        structPage = 7
        pageReadWrite = 7 + UInt64(pageSize) / 8
        scanPage = 7
        isolatePage = 7 + 12
        migratePage = 2 * pageReadWrite
        migrateFail = 2 * 7
        allocFastPath = 150
        buddyStep = 10
        reclaimScan = 40
        reclaimDrop = 400
        writePage = UInt64(pageSize) * 1_000_000_000 / 100_000_000
        congestionWait = 100_000_000
    }
}
