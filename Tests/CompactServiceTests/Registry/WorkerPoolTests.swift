@testable import CompactServiceKit
import Dispatch
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Worker pools")
struct WorkerPoolTests {
    /// Work that blocks does not hold back later work: the pool grows up to its maximum.
    @Test func blockedWorkDoesNotHoldBackLaterWork() {
        let pool = WorkerPool(name: "t", minThreads: 1, maxThreads: 8)
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<4 { pool.submit { release.wait() } }
        pool.submit { done.signal() }
        #expect(done.wait(timeout: .now() + 5) == .success)
        for _ in 0..<4 { release.signal() }
        pool.stop()
    }

    /// A pool of one runs its queue in order, one at a time.
    @Test func fixedPoolRunsInOrder() {
        let pool = WorkerPool(name: "t", minThreads: 0, maxThreads: 1, niceness: 10)
        let order = Mutex<[Int]>([])
        let running = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        for i in 0..<50 {
            pool.submit {
                let n = running.add(1, ordering: .relaxed).newValue
                if n > most.load(ordering: .relaxed) { most.store(n, ordering: .relaxed) }
                order.withLock { $0.append(i) }
                running.subtract(1, ordering: .relaxed)
                if i == 49 { done.signal() }
            }
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(order.withLock { $0 } == Array(0..<50))
        #expect(most.load(ordering: .relaxed) == 1)
        pool.stop()
    }

    /// A stopped pool refuses new work and still runs what was queued.
    @Test func stopRefusesNewWork() {
        let pool = WorkerPool(name: "t", minThreads: 0, maxThreads: 1)
        let ran = Atomic<Int>(0)
        let gate = DispatchSemaphore(value: 0)
        pool.submit { gate.wait(); ran.add(1, ordering: .relaxed) }
        pool.submit { ran.add(1, ordering: .relaxed) }
        pool.stop()
        #expect(pool.submit { ran.add(1, ordering: .relaxed) } == false)
        gate.signal()
        var waited = 0
        while ran.load(ordering: .relaxed) < 2 && waited < 500 { usleep(10_000); waited += 1 }
        #expect(ran.load(ordering: .relaxed) == 2)
    }
}
