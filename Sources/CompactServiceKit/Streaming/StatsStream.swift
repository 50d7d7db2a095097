import MMCore
import MMFormat
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a client asked for on GET …/stats/stream, validated.
struct StreamSubscription: Sendable {
    let box: MachineBox
    let intervalMs: Int
    let categories: EventCategory
    /// `Last-Event-ID`: replay the ring's events after it.
    let lastEventID: UInt64?
    /// Where a stale stats document is rendered (never on the stream's HTTP thread).
    let renderPool: WorkerPool
    /// With `pageblocks`: the generation of the client's pageblock document (`pageblocks_since`); the
    /// first `pageblocks` event lists the blocks changed after it. Nil: from the machine's generation
    /// when the stream opens.
    var pageblocksSince: UInt64? = nil

    /// The categories the machine's event ring serves (`pageblocks` events are cut per stream).
    var ringCategories: EventCategory { categories.subtracting(.pageblocks) }
}

/// What a parked stream waits on, asked by the ticker (without the connection's thread): whether
/// something arrived after the stream's cursor, or the thing it follows went away.
protocol StreamSource: Sendable {
    func hasNews(after cursor: UInt64) -> Bool
    /// What the stream follows is gone (a deleted machine): the stream only has its end to send.
    var isGone: Bool { get }
}

extension StreamSource {
    var isGone: Bool { false }
}

/// What one kind of stream sends (stats of a machine, progress of a job). Touched only by the
/// connection's thread, like `StreamWriter`, which frames keep-alives and the stream's end around it.
protocol StreamContent: AnyObject {
    /// The last id this stream has dealt with.
    var cursor: UInt64 { get }
    /// When the content has something due by the clock alone (`UInt64.max`: never).
    var nextDueNs: UInt64 { get }
    /// Appends the events due at `now`; returns true when the last one is queued (the stream then ends).
    func produce(_ out: inout [UInt8], now: UInt64, closing: Bool) -> Bool
}

/// The stats stream's source: the machine's event ring and its deletion.
struct StatsSource: StreamSource {
    let subscription: StreamSubscription
    func hasNews(after cursor: UInt64) -> Bool {
        subscription.box.removed.load(ordering: .acquiring) || subscription.box.events.latestID(subscription.ringCategories) > cursor
    }
    var isGone: Bool { subscription.box.isRemoved }
}

/// The part of a stream the ticker and the connection's thread share: whether the connection is parked
/// (suspended in libmicrohttpd) and when it next has something to send.
///
/// The connection pointer is only ever resumed by whoever moves `phase` from `.suspended` to
/// `.running` under the lock, so it is resumed once per suspension, and always while libmicrohttpd
/// still holds it suspended (a suspended connection is never closed, so the pointer is valid).
final class ParkedStream: Sendable {
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
        /// When the ticker first saw the source gone while the stream was still open (0: not yet).
        var goneSinceNs: UInt64 = 0
        /// The socket has been shut down (`closeIfAbandoned`).
        var shutDown = false
    }

    /// How long a stream whose source is gone may take to send its end before its socket is shut down
    /// (a client that stopped reading would otherwise keep it until the connection timeout).
    static let abandonAfterNs: UInt64 = 1_000_000_000

    let source: any StreamSource
    /// The `MHD_Connection *` as an integer (raw pointers are not Sendable); see the type's comment for
    /// when it may be used.
    let connection: UInt
    /// The connection's socket, -1 if unknown. Used only under `control` while `phase` is not `.closed`:
    /// libmicrohttpd frees the response (→ `.closed`) before it closes the socket, so the number still
    /// names this connection's socket then.
    let socket: Int32
    let control = Mutex(Control())

    init(_ source: any StreamSource, connection: UInt, socket: Int32 = -1) {
        self.source = source
        self.connection = connection
        self.socket = socket
    }

    /// Called by the ticker: once the source has been gone for `abandonAfterNs` and the stream is still
    /// open (its client is not reading the end), shuts the socket down so libmicrohttpd closes the
    /// connection and frees the stream. Returns whether it did.
    func closeIfAbandoned(now: UInt64) -> Bool {
        guard source.isGone else { return false }
        return control.withLock { c -> Bool in
            guard c.phase != .closed, !c.shutDown else { return false }
            if c.goneSinceNs == 0 {
                c.goneSinceNs = now
                return false
            }
            guard now &- c.goneSinceNs >= ParkedStream.abandonAfterNs, socket >= 0 else { return false }
            c.shutDown = true
            shutdown(socket, Int32(SHUT_RDWR))
            return true
        }
    }

    /// Whether something would make the stream produce now: news from its source, a due time or the
    /// server's shutdown.
    func hasWork(_ c: Control, now: UInt64, closing: Bool) -> Bool {
        closing || now >= c.nextDueNs || source.hasNews(after: c.cursor)
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

/// The connection-side state of one stream: bytes waiting to be sent, the keep-alive schedule and the
/// end. Not Sendable and needs no lock: only libmicrohttpd's content-reader callback touches it, and
/// libmicrohttpd runs one connection's callbacks on one thread at a time.
final class StreamWriter {
    let stream: ParkedStream
    let hub: StreamHub
    private let content: any StreamContent
    private var pending: [UInt8] = []
    private var offset = 0
    private var lastWriteNs: UInt64
    /// The end event is queued: after it is flushed the stream ends.
    private(set) var ending = false

    init(stream: ParkedStream, content: any StreamContent, hub: StreamHub, now: UInt64) {
        self.stream = stream
        self.content = content
        self.hub = hub
        lastWriteNs = now
        SSEFormat.retry(&pending, ms: 2000)
    }

    var hasPending: Bool { offset < pending.count }

    var nextDueNs: UInt64 { min(content.nextDueNs, lastWriteNs &+ hub.keepAliveNs.load(ordering: .relaxed)) }
    var currentCursor: UInt64 { content.cursor }

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

    /// Queues whatever is due at `now` (a keep-alive comment after a silence); returns whether anything
    /// was queued.
    func produce(now: UInt64) -> Bool {
        guard !ending else { return false }
        let before = pending.count
        ending = content.produce(&pending, now: now, closing: hub.closing.load(ordering: .acquiring))
        if pending.count == before, now >= lastWriteNs &+ hub.keepAliveNs.load(ordering: .relaxed) {
            SSEFormat.comment(&pending, "keep-alive")
        }
        if pending.count > before {
            lastWriteNs = now
            return true
        }
        return false
    }

    /// `event: end` with the reason a stream stops before its natural end.
    static func end(_ out: inout [UInt8], reason: String) {
        var w = JSONWriter()
        w.beginObject()
        w.field("reason", reason)
        w.endObject()
        SSEFormat.event(&out, id: nil, name: "end", data: w.bytes)
    }
}

/// A machine's stats stream: a stats document every interval, the tracepoint events the client asked
/// for, and `event: end` when the machine is deleted or the service shuts down.
final class StatsContent: StreamContent {
    static let maxEventsPerBatch = 256
    let subscription: StreamSubscription
    private(set) var cursor: UInt64
    private var nextStatsNs: UInt64
    private let intervalNs: UInt64
    /// With `pageblocks`: the generation the client's pageblocks are at (what it has been sent).
    private var pageblocksSince: UInt64

    init(_ sub: StreamSubscription, now: UInt64) {
        subscription = sub
        intervalNs = UInt64(sub.intervalMs) * 1_000_000
        pageblocksSince = sub.pageblocksSince ?? sub.box.generation
        let last = sub.box.events.lastID
        // Replay only from an id this machine has handed out; an id from elsewhere starts afresh.
        if let id = sub.lastEventID, id <= last { cursor = id } else { cursor = last }
        nextStatsNs = now
    }

    /// While the stats document is being rendered: when to look for it again. The stream parks until
    /// then (the ticker wakes it), instead of asking again and again on its HTTP thread while a worker
    /// waits for a busy machine's lock to render it.
    private var renderRetryNs: UInt64 = 0

    var nextDueNs: UInt64 { max(nextStatsNs, renderRetryNs) }

    func produce(_ out: inout [UInt8], now: UInt64, closing: Bool) -> Bool {
        let sub = subscription
        if closing || sub.box.removed.load(ordering: .acquiring) {
            StreamWriter.end(&out, reason: closing ? "shutdown" : "machine_deleted")
            return true
        }
        // The stats document is read without the machine's lock (this runs on an HTTP thread); when the
        // cached one is stale, a worker renders it and the event goes out on a later tick.
        let box = sub.box
        var doc: [UInt8]?
        var blocks: [UInt8]?
        if now >= nextStatsNs {
            doc = box.cachedDocument(.stats)
            if doc == nil {
                box.render(.stats, on: sub.renderPool) { StatsDocument.build(name: box.name, $0) }
                renderRetryNs = now &+ StreamHub.tickNs
            }
            if sub.categories.contains(.pageblocks) { blocks = pageblocksEvent(now: now) }
        }
        let (batch, statsID) = sub.box.events.take(after: cursor, sub.ringCategories, limit: StatsContent.maxEventsPerBatch,
                                                   withStatsID: doc != nil)
        cursor = batch.cursor
        if let lost = batch.lost {
            var w = JSONWriter()
            w.beginObject()
            w.field("first_id", lost.lowerBound)
            w.field("last_id", lost.upperBound)
            w.endObject()
            SSEFormat.event(&out, id: nil, name: "lost", data: w.bytes)
        }
        for (id, e) in batch.events {
            let (name, data) = SSEFormat.trace(e, pageblockOrder: sub.box.events.pageblockOrder)
            SSEFormat.event(&out, id: id, name: name, data: data)
        }
        if let blocks { SSEFormat.event(&out, id: nil, name: "pageblocks", data: blocks) }
        if let id = statsID, let doc {
            SSEFormat.event(&out, id: id, name: "stats", data: doc)
            // Keep the cadence; an event that went out late (its document rendered first, a slow client)
            // moves the next one so that no two are closer than three quarters of the interval.
            nextStatsNs = max(nextStatsNs &+ intervalNs, now &+ intervalNs &- intervalNs / 4)
        }
        return false
    }

    /// The blocks changed since the last `pageblocks` event, from the machine's latest snapshot (no
    /// machine lock: this runs on an HTTP thread). A snapshot older than the machine is rebuilt on a
    /// worker, as often as `PageblockTracker.mayRebuild` allows; its changes go out on a later tick.
    private func pageblocksEvent(now: UInt64) -> [UInt8]? {
        let box = subscription.box
        let snap = box.pageblocks.current
        if snap == nil || snap!.generation != box.generation, box.pageblocks.mayRebuild(now: now) {
            box.render(.pageblocks, on: subscription.renderPool) { PageblockWire.document(box, $0) }
        }
        guard let s = snap, s.generation > pageblocksSince else { return nil }
        let data = PageblockWire.event(s, since: pageblocksSince)
        pageblocksSince = s.generation
        return data
    }
}
