import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A pool of the service's own threads running submitted closures in FIFO order. Two pools exist:
/// requests taken off libmicrohttpd's threads (elastic: a thread is started whenever work waits and no
/// thread is idle, up to `maxThreads`, since such a request may block on a busy machine's lock or wait
/// for a job), and jobs (fixed: at most `maxThreads` run at once, the rest wait in the queue without a
/// thread, at a lower CPU priority so requests always get the processor first).
///
/// Why not Dispatch's global queues: their width follows the number of cores, so two CPU-bound jobs on
/// two cores held back every request handed to the same pool (seconds for a 6 ms request).
final class WorkerPool: Sendable {
    let name: String
    let maxThreads: Int
    /// `nice` increment of the pool's threads (Linux: a per-thread attribute).
    let niceness: Int32
    /// Idle threads exit after this long without work, down to `minThreads`.
    let minThreads: Int
    private static let idleExitNs: UInt64 = 5_000_000_000

    private struct State: Sendable {
        var queue: [@Sendable () -> Void] = []
        var head = 0
        var threads = 0
        var idle = 0
        var stopping = false
    }
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    init(name: String, minThreads: Int, maxThreads: Int, niceness: Int32 = 0) {
        precondition(maxThreads >= 1 && minThreads >= 0 && minThreads <= maxThreads)
        self.name = name
        self.minThreads = minThreads
        self.maxThreads = maxThreads
        self.niceness = niceness
    }

    /// Work waiting for a thread.
    var queued: Int { state.withLock { $0.queue.count - $0.head } }
    /// Threads alive (running work or idle).
    var threads: Int { state.withLock { $0.threads } }

    /// Queues `work`; starts a thread when none is idle and the pool may grow. Returns false when the
    /// pool has been stopped (the work is not run).
    @discardableResult
    func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        let (accepted, start) = state.withLock { s -> (Bool, Bool) in
            guard !s.stopping else { return (false, false) }
            s.queue.append(work)
            let waiting = s.queue.count - s.head
            if s.idle < waiting && s.threads < maxThreads {
                s.threads += 1
                return (true, true)
            }
            return (true, false)
        }
        guard accepted else { return false }
        if start && !startThread() {
            state.withLock { $0.threads -= 1 }
            // Without a new thread the work still runs on an existing one (or the first one started later).
        }
        wake.signal()
        return true
    }

    /// Lets the threads finish what is queued and exit; queued work still runs, new work is refused.
    func stop() {
        let n = state.withLock { s -> Int in
            s.stopping = true
            return s.threads
        }
        for _ in 0..<n { wake.signal() }
    }

    private func startThread() -> Bool {
        let ctx = Unmanaged.passRetained(self).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        defer { pthread_attr_destroy(&attr) }
        var tid = pthread_t()
        let rc = pthread_create(&tid, &attr, { arg in
            let pool = Unmanaged<WorkerPool>.fromOpaque(arg!).takeRetainedValue()
            pool.runThread()
            return nil
        }, ctx)
        if rc != 0 {
            Unmanaged<WorkerPool>.fromOpaque(ctx).release()
            return false
        }
        return true
    }

    private static let retireKey: pthread_key_t = {
        var k = pthread_key_t()
        precondition(pthread_key_create(&k, nil) == 0, "pthread_key_create failed")
        return k
    }()

    /// Called by work running on a pool thread: the thread exits once that work returns (for example
    /// because the work lowered the thread's priority and may not raise it again). No effect elsewhere.
    static func retireCurrentThread() {
        pthread_setspecific(retireKey, UnsafeRawPointer(bitPattern: 1))
    }

    private func runThread() {
        // Always set: a thread inherits its creator's nice value, and the request pool's threads are
        // started from libmicrohttpd's threads, which run raised (CPUPriority.http). Lowering is always
        // permitted.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        while true {
            state.withLock { $0.idle += 1 }
            let timedOut = wake.wait(timeout: .now() + .nanoseconds(Int(WorkerPool.idleExitNs))) == .timedOut
            let next = state.withLock { s -> (@Sendable () -> Void)?? in
                s.idle -= 1
                if s.head < s.queue.count {
                    let w = s.queue[s.head]
                    s.head += 1
                    if s.head > 64 && s.head * 2 > s.queue.count {
                        s.queue.removeFirst(s.head)
                        s.head = 0
                    }
                    return .some(w)
                }
                // Nothing queued: exit when stopping, or when idle too long and above the minimum.
                if s.stopping || (timedOut && s.threads > minThreads) {
                    s.threads -= 1
                    return .none
                }
                return .some(nil)
            }
            guard let work = next else { return }
            work?()
            if pthread_getspecific(WorkerPool.retireKey) != nil {
                state.withLock { $0.threads -= 1 }
                return
            }
        }
    }
}
