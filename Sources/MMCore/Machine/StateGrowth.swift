/// What a machine's state costs in memory, and how a caller bounds its growth.
///
/// `Machine.stateBytes` counts what the machine holds: the fixed part (page arrays, pageblock arrays,
/// free lists, per-zone arrays) whole from creation, since the machine may touch any of it at any time
/// without growing anything; and the parts that grow with use, as they grow: the handle table (with the
/// LRU links) and the per-slot slab and buffer-head words in the granules the OS maps for them
/// (`RawArray.touchedBytes`), the slab object tables, tag lists and files by their capacity (Swift
/// arrays keep what they once grew to, and so does the process).
///
/// A machine with a `stateGrowthGate` asks it before any of those grows, with the bytes the growth
/// adds to `stateBytes` (or to the `stateBytes` of a workload run it steps), and does not grow when it
/// refuses: the allocation, slab object or step that needed it fails instead (see each operation), and
/// `stateRefusals` counts it. A machine without a gate never asks and behaves exactly as before the
/// gate existed; a gate that always answers yes changes nothing either.

/// Heap costs of Swift containers, for `stateBytes`.
enum HeapCost {
    /// An array buffer's header (32 bytes) and malloc's own overhead (16).
    static let arrayOverhead = 48

    /// An array of `capacity` elements of `stride` bytes (an empty array shares one static buffer).
    @inline(__always)
    static func array(capacity: Int, stride: Int) -> Int { capacity == 0 ? 0 : arrayOverhead + capacity * stride }

    /// A dictionary entry keyed by a string with a value of `valueStride` bytes: its buckets (key 16
    /// bytes and the value, at most two buckets an entry at the lowest load a dictionary keeps) and the
    /// key's own buffer when it does not fit in the string (more than 15 UTF-8 bytes).
    static func entry(key: String, valueStride: Int) -> Int {
        2 * (16 + valueStride) + (key.utf8.count > 15 ? arrayOverhead + key.utf8.count : 0)
    }
}

/// Tag → handles in allocation order, with the bytes it holds kept up to date by every change (a change
/// through the subscripts recounts the entry it changes).
struct TagTable {
    private(set) var lists: [String: [PageHandle]] = [:]
    private(set) var bytes = 0
    /// When a new tag is added to a table of this many, tags without live allocations are dropped first
    /// (`Machine.sweepTags`), so tags a client stopped using cost nothing.
    var sweepAt = 64

    static func cost(_ tag: String, _ list: [PageHandle]?) -> Int {
        guard let l = list else { return 0 }
        return HeapCost.entry(key: tag, valueStride: MemoryLayout<[PageHandle]>.stride)
            + HeapCost.array(capacity: l.capacity, stride: MemoryLayout<PageHandle>.stride)
    }

    var count: Int { lists.count }
    var keys: Dictionary<String, [PageHandle]>.Keys { lists.keys }

    subscript(tag: String) -> [PageHandle]? {
        get { lists[tag] }
        _modify {
            bytes -= TagTable.cost(tag, lists[tag])
            defer { bytes += TagTable.cost(tag, lists[tag]) }
            yield &lists[tag]
        }
    }

    subscript(tag: String, default d: @autoclosure () -> [PageHandle]) -> [PageHandle] {
        get { lists[tag] ?? d() }
        _modify {
            bytes -= TagTable.cost(tag, lists[tag])
            defer { bytes += TagTable.cost(tag, lists[tag]) }
            yield &lists[tag, default: d()]
        }
    }

    @discardableResult
    mutating func removeValue(forKey tag: String) -> [PageHandle]? {
        bytes -= TagTable.cost(tag, lists[tag])
        return lists.removeValue(forKey: tag)
    }
}

/// Tag → files a workload made, with the bytes it holds (each file's own page list included) kept up
/// to date by every change.
struct FileTable {
    private(set) var lists: [String: [FileRecord]] = [:]
    private(set) var bytes = 0

    static func cost(_ tag: String, _ list: [FileRecord]?) -> Int {
        guard let l = list else { return 0 }
        return HeapCost.entry(key: tag, valueStride: MemoryLayout<[FileRecord]>.stride)
            + HeapCost.array(capacity: l.capacity, stride: MemoryLayout<FileRecord>.stride)
            + l.reduce(0) { $0 + HeapCost.array(capacity: $1.pages.capacity, stride: MemoryLayout<PageHandle>.stride) }
    }

    subscript(tag: String) -> [FileRecord]? {
        get { lists[tag] }
        _modify {
            bytes -= FileTable.cost(tag, lists[tag])
            defer { bytes += FileTable.cost(tag, lists[tag]) }
            yield &lists[tag]
        }
    }

    subscript(tag: String, default d: @autoclosure () -> [FileRecord]) -> [FileRecord] {
        get { lists[tag] ?? d() }
        _modify {
            bytes -= FileTable.cost(tag, lists[tag])
            defer { bytes += FileTable.cost(tag, lists[tag]) }
            yield &lists[tag, default: d()]
        }
    }
}

extension Machine {
    /// Bytes of state this machine holds (see the comment at the top of StateGrowth.swift): the fixed
    /// part, the handle table's and slab words' mapped granules, slab objects, tags and files. O(1).
    public var stateBytes: Int {
        fixedStateBytes + handles.byteCount + slab.byteCount + pageCache.byteCount + tags.bytes + files.bytes + pageOwners.byteCount
            + writeback.heapBytes
    }

    /// The parts of `stateBytes`, by name (for the stats document).
    public var stateBytesByPart: [(part: String, bytes: Int)] {
        // page_owners only while a workload's actors are running (Workload/PageOwners.swift).
        [("pages", fixedStateBytes), ("handles", handles.byteCount), ("slab", slab.byteCount),
         ("page_cache", pageCache.byteCount), ("tags", tags.bytes), ("files", files.bytes)]
            + (pageOwners.byteCount > 0 ? [("page_owners", pageOwners.byteCount)] : [])
            // The flusher's list only once a page has been dirtied (PageCache/Writeback.swift).
            + (writeback.heapBytes > 0 ? [("writeback", writeback.heapBytes)] : [])
    }

    /// Asks the state gate for `bytes` more of state: true when there is no gate, the growth is nothing
    /// or the gate agrees. A refusal is counted (`stateRefusals`, `lastRefusedBytes`).
    @inline(never)
    func mayGrowState(by bytes: Int) -> Bool {
        guard bytes > 0, let gate = stateGrowthGate else { return true }
        if gate(bytes) { return true }
        stateRefusals &+= 1
        lastRefusedBytes = bytes
        return false
    }

    /// Sets the handle table's slot limit for the current gate: the slots of the granules already
    /// counted with a gate, the whole table without one.
    func resetSlotLimit() {
        let cap = handles.pfn.count
        if stateGrowthGate == nil {
            handles.slotLimit = cap
        } else {
            let per = handles.slotsPerGranule
            handles.slotLimit = Swift.min(cap, (handles.used + per - 1) / per * per)
        }
        refreshOrder0LowMarks()
    }

    /// Before a new handle slot at the slot limit is issued: asks for the table's next granule (in each
    /// of its four arrays). Throws `stateLimit` when refused, or when every slot has been issued and none
    /// is free (a machine has more slots than it can have allocations, so only slots retired at their
    /// last generation can fill the table: after capacity × 2^20 allocations at the very least; see
    /// `HandleTable`); nothing has changed then.
    @inline(never)
    func growHandleTable() throws(MMError) {
        let cap = handles.pfn.count
        guard handles.slotLimit < cap else {
            stateRefusals &+= 1
            throw .stateLimit(bytes: 0)
        }
        let per = handles.slotsPerGranule
        let newLimit = Swift.min(cap, (handles.used / per + 1) * per)
        let bytes = handles.bytes(slots: newLimit) - handles.bytes(slots: handles.used)
        guard mayGrowState(by: bytes) else { throw .stateLimit(bytes: bytes) }
        handles.slotLimit = newLimit
        refreshOrder0LowMarks()
    }

    /// The most `stateBytes` can grow by when `count` allocations are made and recorded under `tag` (as
    /// `allocateBulk` makes them): a new handle slot for each beyond the free slots, in whole granules,
    /// and the tag list's growth (doubling, as `reserveTagRoom` grows it, without the stale handles it
    /// may prune first). A caller compares it with what it may still spend before it starts.
    public func allocationGrowthBound(count: Int, tag: String?) -> Int {
        let freeSlots = handles.used - handles.live - handles.retired
        let newSlots = Swift.max(0, count - freeSlots)
        let slotsEnd = Swift.min(handles.pfn.count, handles.used + newSlots)
        var bound = handles.bytes(slots: slotsEnd) - handles.bytes(slots: handles.used)
        if let tag, count > 0 {
            // Each growth asks for its new buffer whole (`growTagList`), one at a time as the list fills.
            let list = tags[tag] ?? []
            // (A list grows only when full, to the next power of two; pruning first only ever delays that.)
            var cap = list.capacity
            let needed = list.count + count
            while needed > cap {
                cap = Machine.tagListCapacity(for: cap + 1)
                bound += HeapCost.array(capacity: cap, stride: MemoryLayout<PageHandle>.stride)
            }
            if tags[tag] == nil { bound += HeapCost.entry(key: tag, valueStride: MemoryLayout<[PageHandle]>.stride) }
        }
        return bound
    }

    /// The capacity a tag list grows to when it must hold `n`: the next power of two, at least 16. (What
    /// the allocator gives may be a little more; the next growth is still to the next power of two, so
    /// `allocationGrowthBound` can follow the sequence from the list's capacity.)
    static func tagListCapacity(for n: Int) -> Int { Swift.max(16, 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount)) }

    /// Room for `n` more handles in a tag's list `list` (held by the caller, out of the table): handles
    /// no longer live are pruned first (the list keeps its order; only live handles are ever read from
    /// it), then the list grows to `tagListCapacity(count + n)`, asking the state gate. A list
    /// without capacity is a new entry of `tags` (its entry is counted too; the table is swept first when
    /// it has grown to `sweepAt` tags). False, with nothing grown, when the gate refuses.
    @inline(__always)
    func reserveTagRoom(_ list: inout [PageHandle], _ n: Int, tag: String) -> Bool {
        if list.count &+ n <= list.capacity { return true }
        return growTagList(&list, n, tag: tag)
    }

    @inline(never)
    func growTagList(_ list: inout [PageHandle], _ n: Int, tag: String) -> Bool {
        let stride = MemoryLayout<PageHandle>.stride
        var entry = 0
        if list.capacity == 0 {
            if tags[tag] == nil { entry = newTagEntryBytes(tag) }
        } else {
            list.removeAll { handles.resolve($0) == nil }
            if list.count + n <= list.capacity { return true }
        }
        let newCap = Machine.tagListCapacity(for: list.count + n)
        // The new buffer whole: the old one is only freed once its elements are copied over.
        guard mayGrowState(by: entry + HeapCost.array(capacity: newCap, stride: stride)) else {
            return false
        }
        list.reserveCapacity(newCap)
        return true
    }

    /// The bytes of a new entry of `tags`, after sweeping the table if it has grown to `sweepAt` tags.
    private func newTagEntryBytes(_ tag: String) -> Int {
        if tags.count >= tags.sweepAt { sweepTags() }
        return HeapCost.entry(key: tag, valueStride: MemoryLayout<[PageHandle]>.stride)
    }

    /// `appendToTag` of a whole list that the caller gives up: a tag not yet in the table takes the list
    /// as it is (asking the state gate for its entry only), where a copy would hold the handles twice
    /// until the list is dropped (8 bytes a page twice over at the end of a fill of a 1 TiB machine).
    func appendToTag(_ tag: String, taking list: inout [PageHandle]) -> Bool {
        guard tags[tag] == nil, !list.isEmpty else { return appendToTag(tag, list) }
        guard mayGrowState(by: newTagEntryBytes(tag)) else { return false }
        tags[tag] = list
        list = []
        return true
    }

    /// Appends handles to a tag's list, asking the state gate for the room first; false, with nothing
    /// changed, when it refuses.
    func appendToTag<C: Collection>(_ tag: String, _ hs: C) -> Bool where C.Element == PageHandle {
        guard !hs.isEmpty else { return true }
        var list = tags.removeValue(forKey: tag) ?? []
        defer { if !list.isEmpty { tags[tag] = list } }
        guard reserveTagRoom(&list, hs.count, tag: tag) else { return false }
        list.append(contentsOf: hs)
        return true
    }

    /// Drops tags none of whose handles is live any more, and sets the next sweep at twice the tags
    /// left (at least 64). What a tag lists is only ever read through live handles, so nothing else
    /// changes.
    func sweepTags() {
        for t in Array(tags.keys) where !(tags[t] ?? []).contains(where: { handles.resolve($0) != nil }) {
            tags.removeValue(forKey: t)
        }
        tags.sweepAt = Swift.max(64, 2 * tags.count)
    }

    /// Frees allocations that a step made but could not record (its state gate refused the room for
    /// them): they go back as if never made, so nothing is left that no tag can free.
    func undoAllocations<C: Collection>(_ hs: C) where C.Element == PageHandle {
        for h in hs { _ = freeIfLive(h) }
    }
}

extension Machine {
    /// Room for `n` more elements in an array the machine's work grows (a workload run's lists, or one
    /// an operation builds and then records): it grows to max(needed, twice its capacity, 16), asking
    /// the state gate first. False, with nothing grown, when the gate refuses.
    @inline(__always)
    func reserveGated<T>(_ a: inout [T], _ n: Int = 1) -> Bool {
        if a.count &+ n <= a.capacity { return true }
        return growGated(&a, n)
    }

    @inline(never)
    func growGated<T>(_ a: inout [T], _ n: Int) -> Bool {
        let newCap = Swift.max(a.count + n, a.capacity * 2, 16)
        let stride = MemoryLayout<T>.stride
        // The new buffer whole: the old one is only freed once its elements are copied over.
        guard mayGrowState(by: HeapCost.array(capacity: newCap, stride: stride)) else {
            return false
        }
        a.reserveCapacity(newCap)
        return true
    }

    /// Room for `n` more handles in the list of `tag` as `tags` holds it (`reserveTagRoom`).
    func ensureTagRoom(_ tag: String, _ n: Int) -> Bool {
        if let l = tags[tag], l.count + n <= l.capacity { return true }
        var list = tags.removeValue(forKey: tag) ?? []
        defer { if !list.isEmpty || list.capacity > 0 { tags[tag] = list } }
        return reserveTagRoom(&list, n, tag: tag)
    }

    /// Throws `stateLimit` when the state gate refused something since the run's current step began.
    @inline(__always)
    func throwIfRefused(_ run: WorkloadRun) throws(MMError) {
        if _slowPath(stateRefusals != run.refusalMark) { throw .stateLimit(bytes: lastRefusedBytes) }
    }
}

extension MachineLayout {
    /// What a machine of this layout holds before any allocation, as an upper bound of its first
    /// `stateBytes`: 10 bytes a page (the page arrays), 3 a pageblock (flags and zone ids), 9 a
    /// max-order block (free-list links), 64 KiB of fixed parts, and for a machine from /proc text,
    /// which allocates its pages at creation, a handle slot (16 bytes) for each; on 6.6 the free-list
    /// index (`FreeListIndex.bytes`: 4 bytes a page, 25 a segment for up to a sixteenth of the pages) and
    /// its count of sampled free heads (a byte a pageblock).
    /// The memory budget admits a machine by this before building it (`MachineRegistry.create`).
    public var estimatedStateBytes: Int {
        let pages = Int(totalPages)
        let blocks = pages >> preset.pageblockOrder + 1
        let maxBlocks = pages >> (preset.nrOrders - 1) + 1
        let index = indexesFreeLists
            ? FreeListIndex.bytes(totalPages: pages, lists: zones.count * preset.nrOrders * Migratetype.count) : 0
        return pages * 10 + blocks * (indexesFreeLists ? 4 : 3) + maxBlocks * 9 + 64 << 10 + procAllocatedPages * 16 + index
    }
}
