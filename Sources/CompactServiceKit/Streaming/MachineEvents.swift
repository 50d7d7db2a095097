import MMCore
import MMFormat
import Synchronization

/// One kernel-tracepoint-like event of a machine (kernel-compaction.md §8.2 and §2.5), as recorded.
enum TraceEvent: Sendable {
    case compactionBegin(CompactionTraceBegin)
    case compactionEnd(CompactionTraceEnd)
    case compactionMigratepages(nrMigrated: Int, nrFailed: Int)
    case extfrag(ExtfragEvent)
    /// A workload job on this machine moved on (not a kernel tracepoint: the service's own).
    case jobProgress(JobProgress)
    /// Where a manual compaction's two scanners stand between its steps (the service's own).
    case scanners(ScannerPositions)
    /// A tracepoint only kernel 6.6 has (MMCore's `ModernTraceEvent`), in the `compaction` family.
    case modern(ModernTraceEvent)

    var category: EventCategory {
        switch self {
        case .compactionBegin, .compactionEnd, .compactionMigratepages, .modern: return .compaction
        case .extfrag: return .extfrag
        case .jobProgress: return .jobs
        case .scanners: return .scanners
        }
    }
}

/// What a `compaction_scanners` event says: the zone a manual compaction is working on and its
/// scanners' pfns (the migration scanner moves up from `zone_start`, the free scanner down from
/// `zone_end`; they meet where the zone's compaction ends), with the run's totals so far in that zone.
struct ScannerPositions: Sendable, Equatable {
    var node: Int
    var zone: String
    var zoneStart: Int
    var zoneEnd: Int
    var migratePfn: Int
    var freePfn: Int
    var migrateScanned: Int
    var freeScanned: Int
    var migrated: Int
}

/// What a `job_progress` event says.
struct JobProgress: Sendable {
    var id: String
    var state: String
    var step: Int
    var steps: Int
    var percent: Double
}

/// What `?events=` selects: the tracepoint families a stream carries besides `stats`.
struct EventCategory: OptionSet, Sendable, Hashable {
    let rawValue: UInt8
    static let compaction = EventCategory(rawValue: 1)
    static let extfrag = EventCategory(rawValue: 2)
    static let jobs = EventCategory(rawValue: 4)
    /// `compaction_scanners`: a manual compaction's scanner positions, recorded in the ring like the others.
    static let scanners = EventCategory(rawValue: 8)
    /// `pageblocks`: the pageblocks changed since the last one (per stream, from the machine's
    /// `PageblockTracker`, not from the ring).
    static let pageblocks = EventCategory(rawValue: 16)

    static let byName: [(String, EventCategory)] = [("compaction", .compaction), ("extfrag", .extfrag), ("jobs", .jobs),
                                                    ("scanners", .scanners), ("pageblocks", .pageblocks)]
}

/// A machine's event hub: the `MachineTracer` installed on it, a bounded ring of recent tracepoint
/// events with monotonic ids (for `Last-Event-ID` replay), and the id counter every stream of the
/// machine draws its `stats` event ids from, so ids on one stream only ever grow.
///
/// The tracer is called with the machine's lock held; it only appends to the ring under its own small
/// mutex (lock order: machine, then events) and does no I/O. Recording starts with the first stream
/// that asks for tracepoint events and then stays on, so a client that reconnects finds what happened
/// while it was away.
final class MachineEvents: MachineTracer, Sendable {
    static let defaultCapacity = 4096
    /// The most a machine's ring holds in memory (its items at the default capacity, with the array's
    /// overhead; an event's strings, a job id and a state name, are short enough to live inside it):
    /// charged to each machine against --memory-budget from its creation.
    static let maxBytes = MemoryLayout<(id: UInt64, event: TraceEvent)>.stride * defaultCapacity + 64

    let pageblockOrder: Int
    let capacity: Int
    private let recording = Atomic<Bool>(false)
    /// The id of the newest event per category (0: none yet), readable without the lock by the ticker.
    private let latestCompaction = Atomic<UInt64>(0)
    private let latestExtfrag = Atomic<UInt64>(0)
    private let latestJobs = Atomic<UInt64>(0)
    private let latestScanners = Atomic<UInt64>(0)
    private let state: Mutex<Ring>

    struct Ring: Sendable {
        /// The last id handed out, to an event or a stats snapshot.
        var seq: UInt64 = 0
        /// Events in id order; at most `capacity`, the oldest dropped first.
        var items: [(id: UInt64, event: TraceEvent)] = []
        var head = 0
        /// The id of the newest event dropped from the ring (0: none).
        var droppedThrough: UInt64 = 0
    }

    /// What a stream gets from `take`: the events after its cursor and whether some were dropped.
    struct Batch: Sendable {
        var events: [(id: UInt64, event: TraceEvent)] = []
        /// Events with ids in `lost` fell out of the ring before the stream could read them.
        var lost: ClosedRange<UInt64>?
        /// The stream's new cursor.
        var cursor: UInt64
    }

    init(pageblockOrder: Int, capacity: Int = MachineEvents.defaultCapacity) {
        precondition(capacity > 0)
        self.pageblockOrder = pageblockOrder
        self.capacity = capacity
        state = Mutex(Ring())
    }

    /// Turns recording on (it stays on for the machine's life).
    func startRecording() { recording.store(true, ordering: .relaxed) }

    /// The last id handed out.
    var lastID: UInt64 { state.withLock { $0.seq } }

    /// The newest event id among `categories` (0: none).
    func latestID(_ categories: EventCategory) -> UInt64 {
        var v: UInt64 = 0
        if categories.contains(.compaction) { v = max(v, latestCompaction.load(ordering: .relaxed)) }
        if categories.contains(.extfrag) { v = max(v, latestExtfrag.load(ordering: .relaxed)) }
        if categories.contains(.jobs) { v = max(v, latestJobs.load(ordering: .relaxed)) }
        if categories.contains(.scanners) { v = max(v, latestScanners.load(ordering: .relaxed)) }
        return v
    }

    /// Events after `cursor` in `categories` (at most `limit`), plus a fresh id for a stats snapshot when
    /// `withStatsID` is set. Taken in one critical section so the ids a stream sends keep growing.
    func take(after cursor: UInt64, _ categories: EventCategory, limit: Int, withStatsID: Bool) -> (Batch, UInt64?) {
        state.withLock { r in
            var b = Batch(cursor: max(cursor, 0))
            if !categories.isEmpty {
                if r.droppedThrough > cursor { b.lost = (cursor + 1)...r.droppedThrough }
                let n = r.items.count
                // Ids grow along the ring from `head`: find the first one after the cursor by bisection,
                // so a stream that keeps up costs O(log capacity) a call, not a walk of the whole ring
                // under the lock the tracer (holding the machine's lock) needs too.
                var lo = 0, hi = n
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if r.items[(r.head + mid) % n].id > cursor { hi = mid } else { lo = mid + 1 }
                }
                for k in lo..<n {
                    let item = r.items[(r.head + k) % n]
                    if b.events.count == limit { break }
                    b.cursor = item.id
                    if categories.contains(item.event.category) { b.events.append(item) }
                }
                if b.events.count < limit { b.cursor = max(b.cursor, r.seq) }
            } else {
                b.cursor = max(cursor, r.seq)
            }
            var statsID: UInt64?
            // A stats id is only handed out when nothing is left to send before it.
            if withStatsID && b.events.count < limit {
                r.seq += 1
                statsID = r.seq
                b.cursor = r.seq
            }
            return (b, statsID)
        }
    }

    /// Records a workload job's progress (always, so a stream opened later can replay it).
    func jobProgress(_ p: JobProgress) { record(.jobProgress(p), always: true) }

    /// Records a manual compaction's scanner positions (once a stream has asked for events).
    func scanners(_ p: ScannerPositions) { record(.scanners(p)) }

    private func record(_ e: TraceEvent, always: Bool = false) {
        guard always || recording.load(ordering: .relaxed) else { return }
        let id = state.withLock { r -> UInt64 in
            r.seq += 1
            if r.items.count < capacity {
                r.items.append((r.seq, e))
            } else {
                r.droppedThrough = r.items[r.head].id
                r.items[r.head] = (r.seq, e)
                r.head = (r.head + 1) % capacity
            }
            return r.seq
        }
        switch e.category {
        case .compaction: latestCompaction.store(id, ordering: .relaxed)
        case .jobs: latestJobs.store(id, ordering: .relaxed)
        case .scanners: latestScanners.store(id, ordering: .relaxed)
        default: latestExtfrag.store(id, ordering: .relaxed)
        }
    }

    // MARK: MachineTracer (called with the machine's lock held)

    func extfrag(_ e: ExtfragEvent) { record(.extfrag(e)) }
    func compactionBegin(_ e: CompactionTraceBegin) { record(.compactionBegin(e)) }
    func compactionEnd(_ e: CompactionTraceEnd) { record(.compactionEnd(e)) }
    func modern(_ e: ModernTraceEvent) { record(.modern(e)) }
    func compactionMigratepages(nrMigrated: Int, nrFailed: Int) {
        record(.compactionMigratepages(nrMigrated: nrMigrated, nrFailed: nrFailed))
    }
}
