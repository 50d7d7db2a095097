#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Every open SSE stream of the server (machine stats, job progress), and the ticker thread that resumes parked streams when they
/// have something to send.
///
/// A stream's connection parks (MHD_suspend_connection) whenever it has nothing to send, so it costs
/// its worker thread nothing and never delays the other connections that thread serves (reference
/// §3: a blocking reader starves them). The ticker looks at every parked stream every few milliseconds
/// and resumes those with something to send: a due stats event or keep-alive, news from the stream's
/// source (tracepoint events, a deleted machine, a job's progress) or a server shutting down.
final class StreamHub: Sendable {
    /// How often the ticker looks at parked streams.
    static let tickNs: UInt64 = 5_000_000
    static let defaultKeepAliveNs: UInt64 = 15_000_000_000

    /// Resumes a connection (MHD_resume_connection); given by the HTTP layer, which owns the pointers.
    private let resume: @Sendable (UInt) -> Void
    /// Called on every tick of the ticker (every 5 ms with streams open, 50 ms without).
    private let onTick: @Sendable () -> Void
    private let metrics: ServiceMetrics
    /// Runs a closure off the HTTP threads (the request pool); false when it cannot.
    let offload: @Sendable (@escaping @Sendable () -> Void) -> Bool
    private let streams = Mutex<[ObjectIdentifier: ParkedStream]>([:])
    /// Set when shutdown begins: streams end, new ones are refused.
    let closing = Atomic<Bool>(false)
    /// A comment line goes out when a stream has been silent this long (tests shorten it).
    let keepAliveNs = Atomic<UInt64>(StreamHub.defaultKeepAliveNs)
    private let tickerRunning = Atomic<Bool>(false)
    /// The ticker's pthread_t (an integer on Linux), 0 when none runs.
    private let tickerThread = Atomic<UInt>(0)

    init(metrics: ServiceMetrics, onTick: @escaping @Sendable () -> Void = {},
         offload: @escaping @Sendable (@escaping @Sendable () -> Void) -> Bool = { _ in false },
         resume: @escaping @Sendable (UInt) -> Void) {
        self.metrics = metrics
        self.offload = offload
        self.onTick = onTick
        self.resume = resume
    }

    var count: Int { streams.withLock { $0.count } }

    /// Registers a stream; nil when the server is shutting down.
    func open(_ source: any StreamSource, _ content: any StreamContent, connection: UInt, socket: Int32 = -1) -> StreamWriter? {
        let s = ParkedStream(source, connection: connection, socket: socket)
        let ok = streams.withLock { m -> Bool in
            guard !closing.load(ordering: .acquiring) else { return false }
            m[ObjectIdentifier(s)] = s
            return true
        }
        guard ok else { return nil }
        metrics.openStreams.add(1, ordering: .relaxed)
        return StreamWriter(stream: s, content: content, hub: self, now: monotonicNs())
    }

    /// The stream's response was freed.
    func close(_ s: ParkedStream) {
        s.markClosed()
        if streams.withLock({ $0.removeValue(forKey: ObjectIdentifier(s)) }) != nil {
            metrics.openStreams.subtract(1, ordering: .relaxed)
        }
    }

    private func snapshot() -> [ParkedStream] { streams.withLock { Array($0.values) } }

    /// One pass over the parked streams.
    func tick(force: Bool = false) {
        let now = monotonicNs(), closing = closing.load(ordering: .acquiring)
        for s in snapshot() {
            if s.wake(now: now, closing: closing, force: force) { resume(s.connection) }
            _ = s.closeIfAbandoned(now: now)
        }
    }

    /// Shutdown, first half: every stream sends `event: end` and finishes.
    func beginShutdown() {
        closing.store(true, ordering: .releasing)
        tick(force: true)
    }

    /// Shutdown, second half: waits (bounded) until no stream is parked, so that libmicrohttpd never
    /// stops with a suspended connection, then stops the ticker.
    func finishShutdown(timeoutNs: UInt64 = 2_000_000_000) {
        closing.store(true, ordering: .releasing)
        let deadline = monotonicNs() &+ timeoutNs
        while snapshot().contains(where: { $0.isParked }) && monotonicNs() < deadline {
            tick(force: true)
            usleep(1000)
        }
        stopTicker()
    }

    // MARK: - The ticker thread

    func startTicker() {
        guard !tickerRunning.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let ctx = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            let hub = Unmanaged<StreamHub>.fromOpaque(arg!).takeRetainedValue()
            hub.runTicker()
            return nil
        }, ctx)
        if rc != 0 {
            Unmanaged<StreamHub>.fromOpaque(ctx).release()
            tickerRunning.store(false, ordering: .releasing)
            return
        }
        tickerThread.store(UInt(tid), ordering: .releasing)
    }

    private func runTicker() {
        while tickerRunning.load(ordering: .acquiring) {
            tick()
            onTick()
            // Without streams, look ten times less often: a new stream sends its first event itself, and
            // its next one is at least 100 ms away.
            usleep(UInt32(StreamHub.tickNs / 1000) * (count == 0 ? 10 : 1))
        }
    }

    func stopTicker() {
        tickerRunning.store(false, ordering: .releasing)
        let tid = tickerThread.exchange(0, ordering: .acquiringAndReleasing)
        if tid != 0 { pthread_join(pthread_t(tid), nil) }
    }
}
