#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size array of plain integers in memory MMCore owns: the one door to unsafe memory in MMCore.
///
/// Per-page and per-list state lives in these (flat arrays of small integers, never an object per page).
/// Large arrays come straight from anonymous `mmap` (zero-filled by the kernel, backed by transparent
/// huge pages where the host allows it, so a 1 TiB machine's 2.7 GB of page state faults in a few
/// thousand 2 MiB pages rather than 700,000 small ones); small ones from `calloc`, except lazy ones
/// (tables that grow from the front), which are always mapped so that only what is written costs memory. Either way encodings
/// are chosen so that zero is the common state and only what differs is written.
///
/// Safety: `count` is fixed at init and every subscript asserts `0 <= i < count` in debug builds; the
/// pointer never escapes this type (no accessor returns it). The memory belongs to a `RawArena`, which
/// frees it when the arena dies; every arena belongs to one `Machine`, and the machine's `RawArray`s are
/// internal stored properties of that machine (or of its stores), so no `RawArray` outlives its arena.
/// The value itself is a pointer and a count: copying it costs no reference counting, which is the point.
/// A `RawArray` is not `Sendable`: it belongs to one `Machine`, which is used by one thread at a time.
struct RawArray<Element: FixedWidthInteger> {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    /// Zero-filled storage for `count` elements (count may be 0), owned by `arena`. A `lazy` array is
    /// one whose elements are written from the front as a table grows (a handle table, and the per-slot
    /// words beside it): it is always mapped, never taken from the heap, so the OS maps only the granules
    /// it writes, and `touchedBytes` says what those cost.
    init(zeroed count: Int, arena: RawArena, lazy: Bool = false) {
        precondition(count >= 0)
        self.count = count
        let storage = RawStorage(bytes: max(1, count) * MemoryLayout<Element>.stride, lazy: lazy)
        arena.keep(storage)
        base = storage.raw.bindMemory(to: Element.self, capacity: max(1, count))
    }

    /// Storage for `count` elements, each set to `value`, owned by `arena`.
    init(repeating value: Element, count: Int, arena: RawArena) {
        self.init(zeroed: count, arena: arena)
        if value != 0 { base.update(repeating: value, count: count) }
    }

    subscript(i: Int) -> Element {
        @inline(__always) get {
            assert(i >= 0 && i < count, "RawArray index \(i) out of range 0..<\(count)")
            return base[i]
        }
        @inline(__always) nonmutating set {
            assert(i >= 0 && i < count, "RawArray index \(i) out of range 0..<\(count)")
            base[i] = newValue
        }
    }

    /// Sets every element to `value`.
    func fill(_ value: Element) { base.update(repeating: value, count: count) }

    /// Bytes of storage this array holds.
    var byteCount: Int { count * MemoryLayout<Element>.stride }

    /// Bytes of the granules the OS maps a lazy array's storage in (see `RawStorage.granule`; the
    /// granule follows from the size, so the array stays a pointer and a count).
    var granule: Int { RawStorage.granule(lazyBytes: Swift.max(1, count) &* MemoryLayout<Element>.stride) }

    /// Bytes the OS has mapped for a lazy array once its first `elements` elements have been written:
    /// whole granules, never more than the array.
    @inline(__always)
    func touchedBytes(elements: Int) -> Int {
        let b = elements &* MemoryLayout<Element>.stride
        let g = granule
        return Swift.min((b &+ g &- 1) / g &* g, (byteCount &+ g &- 1) / g &* g)
    }

    /// The granule element `i` is in.
    @inline(__always)
    func granuleIndex(of i: Int) -> Int { i &* MemoryLayout<Element>.stride / granule }

    /// Calls `body` with a read-only view of the elements (for bulk reductions and encoding).
    func withBuffer<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: base, count: count))
    }

    /// Calls `body` with a writable view of the elements (restoring a machine's state in bulk,
    /// MachineState.swift); the view must not escape `body`.
    func withMutableBuffer<R>(_ body: (UnsafeMutableBufferPointer<Element>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }
}

/// One of two arrays of plain integers stored interleaved, element `i` of the first beside element `i`
/// of the second, in memory MMCore owns: for a pair of words that are read and written together for
/// the same index (a list entry's next and prev links), so the pair costs one cache miss, not two.
///
/// Safety: as `RawArray`'s. `count` is fixed at init and every subscript asserts `0 <= i < count` in
/// debug builds; the pointer (lane 0 or 1 of storage for `2 * count` elements, which the arena keeps)
/// never escapes this type.
struct InterleavedLane<Element: FixedWidthInteger> {
    private let base: UnsafeMutablePointer<Element>
    let count: Int

    private init(base: UnsafeMutablePointer<Element>, count: Int) {
        self.base = base
        self.count = count
    }

    /// Two zero-filled arrays of `count` elements, interleaved, owned by `arena`. `lazy` as for
    /// `RawArray`; the storage is mapped in the granules each array would have alone, so the pair
    /// never maps more than two separate arrays would.
    static func pair(count: Int, arena: RawArena, lazy: Bool = false) -> (InterleavedLane, InterleavedLane) {
        precondition(count >= 0)
        let laneBytes = Swift.max(1, count) &* MemoryLayout<Element>.stride
        let storage = RawStorage(bytes: 2 &* laneBytes, lazy: lazy, granuleBytes: laneBytes)
        arena.keep(storage)
        let base = storage.raw.bindMemory(to: Element.self, capacity: 2 &* Swift.max(1, count))
        return (InterleavedLane(base: base, count: count), InterleavedLane(base: base + 1, count: count))
    }

    subscript(i: Int) -> Element {
        @inline(__always) get {
            assert(i >= 0 && i < count, "InterleavedLane index \(i) out of range 0..<\(count)")
            return base[i &* 2]
        }
        @inline(__always) nonmutating set {
            assert(i >= 0 && i < count, "InterleavedLane index \(i) out of range 0..<\(count)")
            base[i &* 2] = newValue
        }
    }

    /// Element `i` addressed in bytes (`i * 2 * stride` from the lane's base), so the compiler scales `i`
    /// in each load and store, where `self[i]` may keep `i * 2` in a register of its own: one
    /// instruction more on each handle-table access of the order-0 path (`HandleLane`). Not used for
    /// every lane, since the buddy merge loop of `free_pcppages_bulk` compiles to more instructions
    /// this way (measured: 14 % more in that function).
    @inline(__always)
    func loadByteAddressed(_ i: Int) -> Element {
        assert(i >= 0 && i < count, "InterleavedLane index \(i) out of range 0..<\(count)")
        return UnsafeRawPointer(base).load(fromByteOffset: i &* (2 &* MemoryLayout<Element>.stride), as: Element.self)
    }

    @inline(__always)
    func storeByteAddressed(_ i: Int, _ v: Element) {
        assert(i >= 0 && i < count, "InterleavedLane index \(i) out of range 0..<\(count)")
        UnsafeMutableRawPointer(base).storeBytes(of: v, toByteOffset: i &* (2 &* MemoryLayout<Element>.stride), as: Element.self)
    }

    /// `RawArray.granule` of a separate array of the lane's elements: the pair is mapped in those
    /// granules (`pair`).
    var granule: Int { RawStorage.granule(lazyBytes: Swift.max(1, count) &* MemoryLayout<Element>.stride) }

    /// `RawArray.touchedBytes` of a separate lazy array of the lane's elements: what one lane accounts
    /// for once its first `elements` elements have been written (the pair maps twice that).
    func touchedBytes(elements: Int) -> Int {
        let laneBytes = count &* MemoryLayout<Element>.stride
        let b = elements &* MemoryLayout<Element>.stride
        let g = granule
        return Swift.min((b &+ g &- 1) / g &* g, (laneBytes &+ g &- 1) / g &* g)
    }
}

/// Owns the memory of a machine's `RawArray`s and frees all of it when the machine goes.
final class RawArena {
    private var storages: [RawStorage] = []
    func keep(_ s: RawStorage) { storages.append(s) }
}

/// The memory behind a `RawArray`: mapped or allocated once, released once in `deinit`.
final class RawStorage {
    let raw: UnsafeMutableRawPointer
    /// Bytes mapped with mmap (0 when the storage came from calloc).
    private let mappedBytes: Int

    static let hugePageBytes = 2 << 20
    static let basePageBytes = 4096

    /// What the OS maps at a time when a byte of lazy storage of `bytes` bytes is first written: a huge
    /// page for storage of 2 MiB and more (advised MADV_HUGEPAGE; counted so even when the host's THP
    /// gives small pages, since khugepaged may collapse them later, so the count is never below what is
    /// resident), a base page for smaller storage (too small for a huge page).
    static func granule(lazyBytes bytes: Int) -> Int { bytes >= hugePageBytes ? hugePageBytes : basePageBytes }

    /// `granuleBytes`: the size that chooses the granule, when it is not `bytes` (interleaved arrays map
    /// in the granules each of them would have alone; see `InterleavedLane`).
    init(bytes: Int, lazy: Bool = false, granuleBytes: Int? = nil) {
        #if os(Linux)
        if bytes >= RawStorage.hugePageBytes || lazy {
            // Round up to whole granules (huge pages, so the kernel can back all of it with THP).
            let huge = (granuleBytes ?? bytes) >= RawStorage.hugePageBytes
            let g = RawStorage.granule(lazyBytes: granuleBytes ?? bytes)
            let len = (bytes + g - 1) / g * g
            let p = mmap(nil, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            guard let p, p != MAP_FAILED else { fatalError("out of memory mapping \(len) bytes") }
            if huge { _ = madvise(p, len, MADV_HUGEPAGE) }
            mappedBytes = len
            raw = p
            return
        }
        #endif
        guard let p = calloc(1, bytes) else { fatalError("out of memory allocating \(bytes) bytes") }
        mappedBytes = 0
        raw = p
    }

    deinit {
        #if os(Linux)
        if mappedBytes > 0 { munmap(raw, mappedBytes); return }
        #endif
        free(raw)
    }
}
