/// An owner's name for one allocation: the simulator's stand-in for a virtual address. It stays valid
/// while the pages it names are migrated (the handle → pfn table plays the role of the page tables, the
/// per-page owner slot that of the reverse map), and becomes invalid when the allocation is freed.
///
/// The raw value is `generation << slotBits | slot`, with `slotBits` just enough for the machine's handle
/// table (`HandleTable.slotBits`); generations make a stale handle (freed, slot reused) fail to resolve
/// instead of naming someone else's pages. Raw values stay below 2^53, so JSON carries them exactly.
public struct PageHandle: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let raw: UInt64
    public init(raw: UInt64) { self.raw = raw }
    public static func < (a: PageHandle, b: PageHandle) -> Bool { a.raw < b.raw }
    public var description: String { String(raw) }
}

/// The handle table: per slot the allocation's head pfn, its generation, and its LRU links (the LRU
/// lists link allocations, so migration never touches them). Free slots are chained through `lruNext`.
///
/// A slot's generation never wraps: a slot freed at `maxGeneration` is retired, never issued again, so a
/// stale handle can never name a later allocation. (Generations that wrapped made a handle freed long
/// before, still held by a client or a workload's list, name whatever the slot held a million reuses
/// later, a slab cache's page among them, whose objects were then freed twice.) Handles use only the slot
/// bits the table needs, leaving the rest of the 53 to the generation: at least 2^20 - 1 reuses of a slot
/// (2^32 - 1 for tables of up to 2^21 slots), so a machine issues at least capacity × 2^20 handles, and
/// at least 2^44 even for the smallest, before a new allocation may find no slot (`growHandleTable`).
///
/// A machine can never have more live allocations than pages, so the table is sized to the page count
/// up front; its storage is mapped lazily (`RawArray`, `lazy`), so only slots ever used cost memory:
/// 16 bytes per allocation, in whole granules (`byteCount`).
///
/// Growth is bounded by `slotLimit`: slots at or above it are not issued. Without a state gate on the
/// machine it is the table's capacity (never reached: a machine has fewer allocations than slots); with
/// one, it is the end of the granules already counted, and the next granule is asked for before a slot
/// in it is issued (`Machine.growHandleTable`, on the general allocation path). The order-0 fast path
/// takes a new slot only below the limit (`Machine.allocate`).
struct HandleTable {
    /// Head pfn of the allocation (`Pfn.link`), SWAPPED while it is swapped out, or NONE for a free slot.
    let pfn: HandleLane
    /// Generation of the slot (1...maxGeneration, 0 for a slot never issued); part of the external handle.
    /// Interleaved with `pfn`: resolving a handle reads the generation and then the pfn of one slot (every
    /// expiry, exit and free of a workload), so the two cost one cache miss, not two.
    let generation: HandleLane
    /// A slot's LRU links (or, for a free slot, the next free slot in `lruNext`): interleaved, since
    /// `list_del` and `list_add` read or write both of one slot, so they cost one cache miss, not two.
    let lruNext: InterleavedLane<UInt32>
    let lruPrev: InterleavedLane<UInt32>
    // Exclusivity: a HandleTable belongs to one Machine, used by one thread at a time, and no method
    // keeps an access to these scalars open across a call.
    /// Slots ever used: slots at or above this index were never issued.
    private(set) var used: Int = 0
    var freeHead: UInt32 = NONE
    private(set) var live: Int = 0
    /// Slots below this may be issued; see the type's comment.
    var slotLimit: Int

    /// Slots retired at `maxGeneration` (see the type's comment).
    private(set) var retired = 0
    /// Bits of a handle's raw value that hold its slot: enough for `capacity` slots.
    let slotBits: UInt64
    let slotMask: UInt64
    /// The last generation a slot is issued with: the most the raw value's bits above `slotBits` hold
    /// below 2^53, and at most 2^32 - 1.
    let maxGeneration: UInt32

    init(capacity: Int, arena: RawArena) {
        precondition(capacity >= 1 && capacity <= 1 << 33)
        slotBits = UInt64(Swift.max(1, 64 - UInt64(capacity - 1).leadingZeroBitCount))
        slotMask = (1 << slotBits) - 1
        maxGeneration = UInt32(Swift.min(UInt64(UInt32.max), (1 << (53 - slotBits)) - 1))
        let (p, g) = InterleavedLane<UInt32>.pair(count: capacity, arena: arena, lazy: true)
        (pfn, generation) = (HandleLane(p), HandleLane(g))
        (lruNext, lruPrev) = InterleavedLane.pair(count: capacity, arena: arena, lazy: true)
        slotLimit = capacity
    }

    /// Slots that may hold a live allocation (those ever issued).
    var capacity: Int { used }
    /// Bytes the OS maps for the slots ever used: the granules of the four arrays that hold them (the
    /// untouched rest of the mapping costs nothing). The two interleaved pairs (pfn and generation, the
    /// links) are mapped in granules of the size each array would have alone, so a pair never maps more
    /// than two separate arrays:
    /// four times one array's granules is exact at a granule boundary (where `slotLimit` moves) and an
    /// upper bound between.
    var byteCount: Int { bytes(slots: used) }

    /// Bytes the table holds once `slots` slots have been issued.
    func bytes(slots: Int) -> Int { pfn.touchedBytes(elements: slots) &* 4 }

    /// Slots in one granule of the table's arrays.
    var slotsPerGranule: Int { pfn.granule / MemoryLayout<UInt32>.stride }

    /// Whether a new slot may not be issued: every issued slot is in use and the next is at the limit.
    @inline(__always) var atSlotLimit: Bool { freeHead == NONE && used >= slotLimit }


    /// Takes a free slot (or a new one) for an allocation at `headPfn`. The caller sets the slot's LRU
    /// links (puts it on a list, or sets both to NONE).
    @inline(__always)
    mutating func issue(headPfn: Pfn) -> PageHandle { issue(headPfn: headPfn, freeHead: freeHead) }

    /// `issue` for a caller that has just read `freeHead` (and changed nothing of the table since): the
    /// order-0 fast path, which tests it against the slot limit first and so compares it only once.
    @inline(__always)
    mutating func issue(headPfn: Pfn, freeHead fh: UInt32) -> PageHandle {
        let s: Int
        if fh != NONE {
            s = Int(fh)
            freeHead = lruNext[s]
        } else {
            precondition(used < slotLimit, "handle table full")
            s = used
            used += 1
        }
        // The next generation: 1 for a new slot; a slot on the free chain is below `maxGeneration`
        // (`release` retires it there), so this never wraps. The only writer of `generation`.
        let g = generation[s] &+ 1
        generation[s] = g
        pfn[s] = headPfn.link
        live &+= 1
        return handle(slot: s, generation: g)
    }

    /// The handle of generation `g` of slot `s`.
    @inline(__always)
    func handle(slot s: Int, generation g: UInt32) -> PageHandle {
        PageHandle(raw: UInt64(g) &<< slotBits | UInt64(truncatingIfNeeded: s))
    }

    /// The slot a handle names (issued or not; see `resolveIssued`).
    @inline(__always)
    func slot(of h: PageHandle) -> Int { Int(truncatingIfNeeded: h.raw & slotMask) }

    /// The slot of a live handle, or nil if the handle is stale, unknown or freed.
    @inline(__always)
    func resolve(_ h: PageHandle) -> Int? {
        guard let s = resolveIssued(h), pfn[s] != NONE else { return nil }
        return s
    }

    /// `resolve` without its last test: the slot if the handle names an issued slot's current generation,
    /// whose `pfn` is NONE when that allocation has been freed.
    ///
    /// A handle with generation 0 or above `maxGeneration` never resolves: every slot below `used` has
    /// been issued, and `issue` is the only writer of `generation`, so the slot's generation is in
    /// 1...maxGeneration and the comparison (of all the bits above the slot's) fails for both.
    @inline(__always)
    func resolveIssued(_ h: PageHandle) -> Int? {
        let s = slot(of: h)
        guard s < used, UInt64(generation[s]) == h.raw &>> slotBits else { return nil }
        return s
    }

    @inline(__always)
    func handle(ofSlot s: Int) -> PageHandle { handle(slot: s, generation: generation[s]) }

    /// Sets the table's counters as a machine snapshot recorded them (MachineState.swift); the slots'
    /// arrays are written by the caller.
    mutating func restoreCounters(used: Int, freeHead: UInt32, live: Int, slotLimit: Int, retired: Int) {
        self.used = used
        self.freeHead = freeHead
        self.live = live
        self.slotLimit = slotLimit
        self.retired = retired
    }

    /// Returns a slot to the free chain, or retires it at `maxGeneration`; its handle stops resolving at
    /// once.
    @inline(__always)
    mutating func release(slot s: Int) {
        pfn[s] = NONE
        live &-= 1
        if _slowPath(generation[s] == maxGeneration) {
            lruNext[s] = NONE
            lruPrev[s] = NONE
            retired &+= 1
            return
        }
        lruNext[s] = freeHead
        lruPrev[s] = NONE
        freeHead = UInt32(truncatingIfNeeded: s)
    }
}

/// One of the handle table's interleaved per-slot words (`pfn`, `generation`), addressed in bytes
/// (`InterleavedLane.loadByteAddressed`: no instruction of its own for the index on the order-0 path).
struct HandleLane {
    let raw: InterleavedLane<UInt32>

    init(_ raw: InterleavedLane<UInt32>) { self.raw = raw }

    subscript(slot: Int) -> UInt32 {
        @inline(__always) get { raw.loadByteAddressed(slot) }
        @inline(__always) nonmutating set { raw.storeByteAddressed(slot, newValue) }
    }

    var count: Int { raw.count }
    var granule: Int { raw.granule }
    func touchedBytes(elements: Int) -> Int { raw.touchedBytes(elements: elements) }
}
