/// An owner's name for one allocation: the simulator's stand-in for a virtual address. It stays valid
/// while the pages it names are migrated (the handle → pfn table plays the role of the page tables, the
/// per-page owner slot that of the reverse map), and becomes invalid when the allocation is freed.
///
/// The raw value is `generation << 32 | slot`; generations make a stale handle (freed, slot reused)
/// fail to resolve instead of naming someone else's pages. Raw values stay below 2^53, so JSON carries
/// them exactly.
public struct PageHandle: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let raw: UInt64
    public init(raw: UInt64) { self.raw = raw }
    init(slot: UInt32, generation: UInt32) { raw = UInt64(generation) << 32 | UInt64(slot) }
    public var slot: UInt32 { UInt32(truncatingIfNeeded: raw) }
    public var generation: UInt32 { UInt32(truncatingIfNeeded: raw >> 32) }
    public static func < (a: PageHandle, b: PageHandle) -> Bool { a.raw < b.raw }
    public var description: String { String(raw) }
}

/// The handle table: per slot the allocation's head pfn, its generation, and its LRU links (the LRU
/// lists link allocations, so migration never touches them). Free slots are chained through `lruNext`.
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
public struct HandleTable {
    /// Head pfn of the allocation, or NONE for a free slot.
    let pfn: RawArray<UInt32>
    /// Generation of the slot (1...2^20-1, wrapping); part of the external handle.
    let generation: RawArray<UInt32>
    let lruNext: RawArray<UInt32>
    let lruPrev: RawArray<UInt32>
    // Exclusivity: a HandleTable belongs to one Machine, used by one thread at a time, and no method
    // keeps an access to these scalars open across a call.
    /// Slots ever used: slots at or above this index were never issued.
    public private(set) var used: Int = 0
    var freeHead: UInt32 = NONE
    public private(set) var live: Int = 0
    /// Slots below this may be issued; see the type's comment.
    public internal(set) var slotLimit: Int

    static let generationMask: UInt32 = (1 << 20) - 1

    init(capacity: Int, arena: RawArena) {
        pfn = RawArray(zeroed: capacity, arena: arena, lazy: true)
        generation = RawArray(zeroed: capacity, arena: arena, lazy: true)
        lruNext = RawArray(zeroed: capacity, arena: arena, lazy: true)
        lruPrev = RawArray(zeroed: capacity, arena: arena, lazy: true)
        slotLimit = capacity
    }

    /// Slots that may hold a live allocation (those ever issued).
    var capacity: Int { used }
    /// Bytes the OS maps for the slots ever used: the granules of the four arrays that hold them (the
    /// untouched rest of the mapping costs nothing).
    public var byteCount: Int { bytes(slots: used) }

    /// Bytes the table holds once `slots` slots have been issued.
    func bytes(slots: Int) -> Int { pfn.touchedBytes(elements: slots) &* 4 }

    /// Slots in one granule of the table's arrays.
    var slotsPerGranule: Int { pfn.granule / MemoryLayout<UInt32>.stride }

    /// Whether a new slot may not be issued: every issued slot is in use and the next is at the limit.
    @inline(__always) var atSlotLimit: Bool { freeHead == NONE && used >= slotLimit }


    /// Takes a free slot (or a new one) for an allocation at `headPfn`. The caller sets the slot's LRU
    /// links (puts it on a list, or sets both to NONE).
    @inline(__always)
    mutating func issue(headPfn: Int) -> PageHandle { issue(headPfn: headPfn, freeHead: freeHead) }

    /// `issue` for a caller that has just read `freeHead` (and changed nothing of the table since): the
    /// order-0 fast path, which tests it against the slot limit first and so compares it only once.
    @inline(__always)
    mutating func issue(headPfn: Int, freeHead fh: UInt32) -> PageHandle {
        let s: Int
        if fh != NONE {
            s = Int(fh)
            freeHead = lruNext[s]
        } else {
            precondition(used < slotLimit, "handle table full")
            s = used
            used += 1
        }
        // The next generation, wrapping from 2^20-1 to 1 (a stored generation is 0 for a new slot, else
        // in 1...2^20-1: this is the only writer).
        let old = generation[s]
        let g = old == HandleTable.generationMask ? 1 : old &+ 1
        generation[s] = g
        pfn[s] = UInt32(truncatingIfNeeded: headPfn)
        live &+= 1
        return PageHandle(slot: UInt32(truncatingIfNeeded: s), generation: g)
    }

    /// The slot of a live handle, or nil if the handle is stale, unknown or freed.
    @inline(__always)
    func resolve(_ h: PageHandle) -> Int? {
        guard let s = resolveIssued(h), pfn[s] != NONE else { return nil }
        return s
    }

    /// `resolve` without its last test: the slot if the handle names an issued slot's current generation,
    /// whose `pfn` is NONE when that allocation has been freed.
    ///
    /// A handle with generation 0 or with bits at or above 52 (generation 2^20 or more) never resolves:
    /// every slot below `used` has been issued, and `issue` is the only writer of `generation`, so the
    /// slot's generation is in 1...2^20-1 and the comparison fails for both without testing them apart.
    @inline(__always)
    func resolveIssued(_ h: PageHandle) -> Int? {
        let s = Int(h.slot)
        guard s < used, generation[s] == h.generation else { return nil }
        return s
    }

    @inline(__always)
    func handle(ofSlot s: Int) -> PageHandle { PageHandle(slot: UInt32(truncatingIfNeeded: s), generation: generation[s]) }

    /// Sets the table's counters as a machine snapshot recorded them (MachineState.swift); the slots'
    /// arrays are written by the caller.
    mutating func restoreCounters(used: Int, freeHead: UInt32, live: Int, slotLimit: Int) {
        self.used = used
        self.freeHead = freeHead
        self.live = live
        self.slotLimit = slotLimit
    }

    /// Returns a slot to the free chain; its handle stops resolving at once.
    @inline(__always)
    mutating func release(slot s: Int) {
        pfn[s] = NONE
        lruNext[s] = freeHead
        lruPrev[s] = NONE
        freeHead = UInt32(truncatingIfNeeded: s)
        live &-= 1
    }
}
