import MMCore
import Synchronization

/// What a client asked for on GET …/stats/stream, validated.
struct StreamSubscription: Sendable {
    let box: MachineBox
    let intervalMs: Int
    let categories: EventCategory
    /// `Last-Event-ID`: replay the ring's events after it.
    let lastEventID: UInt64?
}

/// The part of a stream the ticker and the connection's thread share: whether the connection is parked
/// (suspended in libmicrohttpd) and when it next has something to send.
///
/// The connection pointer is only ever resumed by whoever moves `phase` from `.suspended` to
/// `.running` under the lock, so it is resumed once per suspension, and always while libmicrohttpd
/// still holds it suspended (a suspended connection is never closed, so the pointer is valid).
final class StatsStream: Sendable {
    enum Phase: Sendable {
        /// The connection's thread is producing or sending.
        case running
        /// The connection's thread decided to park and is inside MHD_suspend_connection.
        case suspending
        /// Parked: only a wake (ticker, deletion, shutdown) resumes it.
        case suspended
        /// The response was freed: never touch the connection again.
        case closed
    }

    struct Control: Sendable {
        var phase = Phase.running
        /// Set by a waker that found the stream `.suspending`; the connection's thread resumes itself.
        var wakeRequested = false
        /// The last id this stream has dealt with.
        var cursor: UInt64 = 0
        /// When the next stats event or keep-alive is due (monotonic ns).
        var nextDueNs: UInt64 = 0
    }

    let subscription: StreamSubscription
    /// The `MHD_Connection *` as an integer (raw pointers are not Sendable); see the type's comment for
    /// when it may be used.
    let connection: UInt
    let control = Mutex(Control())

    init(_ subscription: StreamSubscription, connection: UInt) {
        self.subscription = subscription
        self.connection = connection
    }

    var box: MachineBox { subscription.box }

    /// Whether something would make the stream produce now: an event for its categories, a due time,
    /// its machine's deletion or the server's shutdown.
    func hasWork(_ c: Control, now: UInt64, closing: Bool) -> Bool {
        closing || box.removed.load(ordering: .acquiring) || now >= c.nextDueNs
            || box.events.latestID(subscription.categories) > c.cursor
    }

    /// Called by a waker: returns true when the caller must resume the connection.
    func wake(now: UInt64, closing: Bool, force: Bool) -> Bool {
        control.withLock { c in
            switch c.phase {
            case .suspended where force || hasWork(c, now: now, closing: closing):
                c.phase = .running
                return true
            case .suspending where force || hasWork(c, now: now, closing: closing):
                c.wakeRequested = true
                return false
            default:
                return false
            }
        }
    }

    enum ParkDecision { case produceAgain, suspend }

    /// The connection's thread has nothing to send: park unless something arrived meanwhile.
    func beginPark(cursor: UInt64, nextDueNs: UInt64, now: UInt64, closing: Bool) -> ParkDecision {
        control.withLock { c in
            c.cursor = cursor
            c.nextDueNs = nextDueNs
            if c.wakeRequested || hasWork(c, now: now, closing: closing) {
                c.wakeRequested = false
                return .produceAgain
            }
            c.phase = .suspending
            return .suspend
        }
    }

    /// After MHD_suspend_connection returned: returns true when a wake came in between, in which case the
    /// connection's thread resumes the connection itself.
    func finishPark() -> Bool {
        control.withLock { c in
            if c.wakeRequested {
                c.wakeRequested = false
                c.phase = .running
                return true
            }
            c.phase = .suspended
            return false
        }
    }

    func markClosed() { control.withLock { $0.phase = .closed } }

    var isParked: Bool {
        control.withLock { $0.phase == .suspended || $0.phase == .suspending }
    }
}

/// The connection-side state of one stream: bytes waiting to be sent and the schedule. Not Sendable and
/// needs no lock: only libmicrohttpd's content-reader callback touches it, and libmicrohttpd runs one
/// connection's callbacks on one thread at a time.
final class StreamWriter {
    static let maxEventsPerBatch = 256
    let stream: StatsStream
    let hub: StreamHub
    private var pending: [UInt8] = []
    private var offset = 0
    private var cursor: UInt64
    private var nextStatsNs: UInt64
    private var lastWriteNs: UInt64
    private let intervalNs: UInt64
    /// The end event is queued: after it is flushed the stream ends.
    private(set) var ending = false

    init(stream: StatsStream, hub: StreamHub, now: UInt64) {
        self.stream = stream
        self.hub = hub
        let sub = stream.subscription
        intervalNs = UInt64(sub.intervalMs) * 1_000_000
        let last = sub.box.events.lastID
        // Replay only from an id this machine has handed out; an id from elsewhere starts afresh.
        if let id = sub.lastEventID, id <= last { cursor = id } else { cursor = last }
        nextStatsNs = now
        lastWriteNs = now
        SSEFormat.retry(&pending, ms: 2000)
    }

    var hasPending: Bool { offset < pending.count }

    var nextDueNs: UInt64 { min(nextStatsNs, lastWriteNs &+ hub.keepAliveNs.load(ordering: .relaxed)) }
    var currentCursor: UInt64 { cursor }

    /// Copies up to `max` pending bytes to `dst`; returns how many.
    func copyPending(to dst: UnsafeMutableRawPointer, max: Int) -> Int {
        let n = Swift.min(max, pending.count - offset)
        pending.withUnsafeBytes { src in dst.copyMemory(from: src.baseAddress! + offset, byteCount: n) }
        offset += n
        if offset == pending.count {
            pending.removeAll(keepingCapacity: pending.capacity <= 1 << 16)
            offset = 0
        }
        return n
    }

    /// Queues whatever is due at `now`; returns whether anything was queued.
    func produce(now: UInt64) -> Bool {
        guard !ending else { return false }
        let sub = stream.subscription
        let closing = hub.closing.load(ordering: .acquiring)
        if closing || sub.box.removed.load(ordering: .acquiring) {
            var w = JSONWriter()
            w.beginObject()
            w.field("reason", closing ? "shutdown" : "machine_deleted")
            w.endObject()
            SSEFormat.event(&pending, id: nil, name: "end", data: w.bytes)
            ending = true
            return true
        }
        let before = pending.count
        let statsDue = now >= nextStatsNs
        let (batch, statsID) = sub.box.events.take(after: cursor, sub.categories, limit: StreamWriter.maxEventsPerBatch,
                                                   withStatsID: statsDue)
        cursor = batch.cursor
        if let lost = batch.lost {
            var w = JSONWriter()
            w.beginObject()
            w.field("first_id", lost.lowerBound)
            w.field("last_id", lost.upperBound)
            w.endObject()
            SSEFormat.event(&pending, id: nil, name: "lost", data: w.bytes)
        }
        for (id, e) in batch.events {
            let (name, data) = SSEFormat.trace(e, pageblockOrder: sub.box.events.pageblockOrder)
            SSEFormat.event(&pending, id: id, name: name, data: data)
        }
        if let id = statsID {
            let box = sub.box
            let doc = box.document(.stats) { StatsDocument.build(name: box.name, $0) }
            SSEFormat.event(&pending, id: id, name: "stats", data: doc)
            // Keep the cadence; a stream that fell behind (slow client) skips to the next slot.
            nextStatsNs &+= intervalNs
            if nextStatsNs <= now { nextStatsNs = now &+ intervalNs }
        }
        if pending.count == before, now >= lastWriteNs &+ hub.keepAliveNs.load(ordering: .relaxed) {
            SSEFormat.comment(&pending, "keep-alive")
        }
        if pending.count > before {
            lastWriteNs = now
            return true
        }
        return false
    }
}
