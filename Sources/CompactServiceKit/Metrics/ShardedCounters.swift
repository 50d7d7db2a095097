import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A small number per thread, `0..<ThreadShard.count`, given out round-robin on a thread's first use.
/// The HTTP threads (the first to ask) each get one of their own, so counters they update every request
/// can live on cache lines no other thread writes: an atomic add on a line the other core just wrote
/// costs a cache-line transfer, about as much as the rest of the counting together.
enum ThreadShard {
    static let count = 8
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        precondition(pthread_key_create(&k, nil) == 0, "pthread_key_create failed")
        return k
    }()
    private static let next = Atomic<Int>(0)

    @inline(__always) static var current: Int {
        // The value stored is shard + 1, so that "not set yet" (nil) is distinguishable from shard 0.
        if let v = pthread_getspecific(key) { return Int(bitPattern: UInt(bitPattern: v)) &- 1 }
        let s = next.add(1, ordering: .relaxed).oldValue % count
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: UInt(s + 1)))
        return s
    }
}

/// `slots` relaxed atomic counters per thread shard. Every shard's counters start on their own 128-byte
/// boundary (two cache lines, because of the adjacent-line prefetcher), so a thread adding to its
/// shard never touches a line another HTTP thread writes. A read sums the shards.
final class ShardedCounters: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `base` is allocated and every slot initialised in `init`, before
    // the object can be shared; it is never reallocated, and it is freed only in `deinit`, when no
    // other reference exists. After `init` every access to a slot goes through `Atomic`'s operations,
    // so concurrent use from any number of threads is free of data races.
    private let base: UnsafeMutablePointer<Atomic<UInt64>>
    /// Slots per shard, rounded up to whole 128-byte blocks.
    private let stride: Int
    let slots: Int

    init(slots: Int) {
        self.slots = slots
        stride = (slots + 15) / 16 * 16
        let n = stride * ThreadShard.count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<UInt64>.stride, alignment: 128)
        base = raw.bindMemory(to: Atomic<UInt64>.self, capacity: n)
        for i in 0..<n { (base + i).initialize(to: Atomic(0)) }
    }

    deinit {
        base.deinitialize(count: stride * ThreadShard.count)
        UnsafeMutableRawPointer(base).deallocate()
    }

    /// The counters as a plain value, for the per-request path: using it touches no reference count.
    /// (Retains and releases of an object both HTTP threads use write to its first cache line, so
    /// every read of that object's fields then misses.) Valid as long as this object lives: keep both.
    var handle: CounterHandle { CounterHandle(base: UInt(bitPattern: base), stride: stride, slots: slots) }

    /// Adds `n` to `slot` in the calling thread's shard (wrapping: a decrement is the two's complement).
    func add(_ slot: Int, _ n: UInt64, shard: Int = ThreadShard.current) { handle.add(slot, n, shard: shard) }

    /// The sum over the shards.
    func load(_ slot: Int) -> UInt64 {
        precondition(slot >= 0 && slot < slots)
        var sum: UInt64 = 0
        for s in 0..<ThreadShard.count { sum &+= base[s &* stride &+ slot].load(ordering: .relaxed) }
        return sum
    }
}

/// `ShardedCounters`' memory as a plain value (see `ShardedCounters.handle`).
struct CounterHandle: Sendable {
    let base: UInt
    let stride: Int
    let slots: Int

    @inline(__always) private func slot(_ slot: Int, _ shard: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        precondition(slot >= 0 && slot < slots && shard >= 0 && shard < ThreadShard.count)
        return UnsafeMutablePointer<Atomic<UInt64>>(bitPattern: base).unsafelyUnwrapped + (shard &* stride &+ slot)
    }

    /// Adds `n` to `slot` in the calling thread's shard (wrapping: a decrement is the two's complement).
    @inline(__always) func add(_ slot: Int, _ n: UInt64, shard: Int = ThreadShard.current) {
        self.slot(slot, shard).pointee.wrappingAdd(n, ordering: .relaxed)
    }

    /// Adds 1 to `slot` in the calling thread's shard and returns the shard's new value.
    @inline(__always) func increment(_ slot: Int, shard: Int = ThreadShard.current) -> UInt64 {
        self.slot(slot, shard).pointee.wrappingAdd(1, ordering: .relaxed).newValue
    }
}
