#if canImport(Glibc)
import Glibc
#endif

/// CPU priorities of the service's threads, as Linux nice values (a per-thread attribute there).
///
/// Answering comes before computing: libmicrohttpd's threads, which answer `/healthz` and cached
/// documents and hand everything else to workers, run at `http` where the process may raise a
/// priority (root or CAP_SYS_NICE; elsewhere they stay at 0); a long operation drops to `background`
/// once it has run for `demoteAfterNs` (jobs run there from the start), so requests on other machines
/// never wait for a core behind it.
enum CPUPriority {
    static let http: Int32 = -5
    static let background: Int32 = 10
    /// A long operation's first 10 ms run at the priority it started with, so short requests that take a
    /// few steps are not slowed.
    static let demoteAfterNs: UInt64 = 10_000_000

    /// The calling thread's nice value.
    static var current: Int32 {
        errno = 0
        let v = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        return errno == 0 ? v : 0
    }

    /// Sets the calling thread's nice value; false when not permitted (raising needs privilege).
    @discardableResult
    static func set(_ nice: Int32) -> Bool {
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) == 0
    }

    private static let raisedKey: pthread_key_t = {
        var k = pthread_key_t()
        precondition(pthread_key_create(&k, nil) == 0, "pthread_key_create failed")
        return k
    }()

    /// Called on every request's first callback: the first time on each HTTP thread, raises it to `http`
    /// (once; a refusal is remembered too).
    @inline(__always) static func raiseHTTPThreadOnce() {
        guard pthread_getspecific(raisedKey) == nil else { return }
        pthread_setspecific(raisedKey, UnsafeRawPointer(bitPattern: 1))
        _ = set(http)
    }

    /// Runs `body`, which calls `tick()` now and then; once `demoteAfterNs` have passed the thread drops
    /// to `background`. Afterwards the thread's priority is put back; when that is not permitted (a
    /// lowered priority can only be raised again with privilege), the worker thread retires after its
    /// current work so the pool never runs a request at a priority it did not choose.
    static func demotingWhenLong<R>(_ body: (_ tick: () -> Void) throws -> R) rethrows -> R {
        let start = monotonicNs()
        let original = current
        var demoted = false
        defer {
            if demoted && !set(original) { WorkerPool.retireCurrentThread() }
        }
        return try body {
            if !demoted && original < background && monotonicNs() &- start >= demoteAfterNs {
                demoted = set(background)
            }
        }
    }
}
