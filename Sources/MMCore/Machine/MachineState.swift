// A machine's whole state as named flat arrays, and a machine rebuilt from them.
//
// This is what a snapshot of a machine holds: the per-page arrays, the free lists, the handle table,
// the LRU and per-CPU lists, the slab object table, the tags and files, the counters, the sysctls, the
// simulated clock and the random generator, each as it is in memory. MMCore defines no file format: the
// service writes the sections (and their checksums, compression and versions) as it chooses.
//
// Whatever the machine holds that changes after creation must be here: a machine restored from
// `exportState()` continues exactly as the original would (same answers, same bytes of /proc text, the
// same results of the same further requests). Things that only follow from the configuration (zone
// layout, zonelists, lookup tables) are rebuilt by `Machine.init` and not exported.
// `MachineStateTests` checks this by continuing both machines with the same requests.

/// A machine's state as named arrays of little-endian integers. Each section stores only the stretches
/// of its bytes that are not all zero (a machine's page arrays are mostly zero until it is used).
public struct MachineStateImage: Sendable, Equatable {
    /// Bumped whenever a section is added, dropped or changes meaning; `restore` refuses other versions
    /// except those it converts (`convertibleVersions`).
    /// Version 2 (issue 11): the page cache's radix trees (`pagecache.*`), the `radix_tree_node` cache
    /// (a sixteenth in `slab.caches`), slab page words with 5 bits of cache and 11 of count (version 1:
    /// 4 and 12), the counters `pginodesteal` and `kswapd_inodesteal`.
    /// Version 3: the zone counters NR_PAGETABLE (`zone.page_tables`), NR_KERNEL_STACK
    /// (`zone.kernel_stacks`) and the `kernel` kind's pages that are not slab (`zone.kernel_not_slab`),
    /// and the hugetlb pool's slots (`hugetlb.slots`).
    /// Version 4: the reclaim counters by zone type (`vmstat.pgsteal_by_zone`,
    /// `vmstat.pgscan_kswapd_by_zone`, `vmstat.pgscan_direct_by_zone`, `vmstat.pgrefill_by_zone`) and
    /// 6.6's `vmstat.allocstall_by_zone`.
    /// Version 5: the flusher (`writeback.list`, `writeback.dirtied_at`, `writeback.state`,
    /// `writeback.capacities`) and its sysctls (`sysctl.dirty_ratios`).
    public static let version = 5
    /// Older versions `restore` reads, converting them: version 1 has no page-cache trees (its files'
    /// pages load outside any tree, as they were), no radix-tree nodes and zero inode-steal counters;
    /// versions 1 and 2 have none of version 3's counters (they load as zero: such a machine's page
    /// tables, stacks and pool pages stay counted as unreclaimable slab) and no hugetlb pool slots;
    /// versions 1–3 have only the machine-wide reclaim counters, and their totals load into the machine's
    /// highest zone type (so the per-zone counters still add up to them; where the pages came from is
    /// not known); versions 1–4 have no flusher: their dirty pages join its list in pfn order, as
    /// dirtied when the machine loads, and the flusher starts idle.
    public static let convertibleVersions: Set<Int> = [1, 2, 3, 4]

    public struct Extent: Sendable, Equatable {
        /// Byte offset in the section.
        public let offset: Int
        public let bytes: [UInt8]
        public init(offset: Int, bytes: [UInt8]) {
            self.offset = offset
            self.bytes = bytes
        }
    }

    public struct Section: Sendable, Equatable {
        public let name: String
        /// Bytes of one element: 1, 2, 4 or 8.
        public let elementBytes: Int
        /// Elements.
        public let count: Int
        /// Stretches of the section's bytes that are not all zero, in order and not overlapping; every
        /// byte outside them is zero.
        public let extents: [Extent]

        public init(name: String, elementBytes: Int, count: Int, extents: [Extent]) {
            self.name = name
            self.elementBytes = elementBytes
            self.count = count
            self.extents = extents
        }

        public var byteCount: Int { elementBytes * count }
        /// Bytes the extents hold.
        public var storedBytes: Int { extents.reduce(0) { $0 + $1.bytes.count } }
    }

    public var version: Int
    public var sections: [Section]

    public init(version: Int = MachineStateImage.version, sections: [Section]) {
        self.version = version
        self.sections = sections
    }

    /// Bytes of all sections' extents.
    public var storedBytes: Int { sections.reduce(0) { $0 + $1.storedBytes } }
}

/// Granularity of extents: stretches of this many bytes that are all zero are left out.
private let extentChunk = 4096

/// The extents of `n` bytes at `p`: runs of `extentChunk`-byte chunks that are not all zero.
private func sparseExtents(_ p: UnsafeRawBufferPointer) -> [MachineStateImage.Extent] {
    var out: [MachineStateImage.Extent] = []
    let n = p.count
    var runStart = -1
    var off = 0
    func isZero(_ from: Int, _ to: Int) -> Bool {
        var i = from
        while i + 8 <= to {
            if p.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < to {
            if p[i] != 0 { return false }
            i += 1
        }
        return true
    }
    while off < n {
        let end = min(n, off + extentChunk)
        if isZero(off, end) {
            if runStart >= 0 {
                out.append(.init(offset: runStart, bytes: Array(p[runStart..<off])))
                runStart = -1
            }
        } else if runStart < 0 {
            runStart = off
        }
        off = end
    }
    if runStart >= 0 { out.append(.init(offset: runStart, bytes: Array(p[runStart..<n]))) }
    return out
}

/// Collects sections.
private struct ImageBuilder {
    var sections: [MachineStateImage.Section] = []

    mutating func add(_ name: String, elementBytes: Int, count: Int, _ bytes: UnsafeRawBufferPointer) {
        sections.append(.init(name: name, elementBytes: elementBytes, count: count, extents: sparseExtents(bytes)))
    }

    /// The first `count` elements (all by default) of a raw array.
    mutating func raw<T: FixedWidthInteger>(_ name: String, _ a: RawArray<T>, count: Int? = nil) {
        let n = count ?? a.count
        precondition(n <= a.count)
        a.withBuffer { b in add(name, elementBytes: MemoryLayout<T>.size, count: n, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(b)[0..<(n * MemoryLayout<T>.size)])) }
    }

    /// The first `count` elements of one of two interleaved arrays, as the section a separate array of
    /// them makes (the same extents, built a chunk at a time, so no copy of the whole array is made).
    mutating func raw<T: FixedWidthInteger>(_ name: String, _ a: InterleavedLane<T>, count: Int) {
        precondition(count <= a.count)
        let size = MemoryLayout<T>.size
        let perChunk = extentChunk / size
        var extents: [MachineStateImage.Extent] = []
        var run: [UInt8] = []
        var runStart = -1
        var chunk = [T](repeating: 0, count: perChunk)
        var i = 0
        while i < count {
            let n = min(perChunk, count - i)
            let zero = chunk.withUnsafeMutableBufferPointer { buf -> Bool in
                var any: T = 0
                for k in 0..<n {
                    let v = a[i &+ k]
                    buf[k] = v
                    any |= v
                }
                return any == 0
            }
            if zero {
                if runStart >= 0 { extents.append(.init(offset: runStart, bytes: run)); run = []; runStart = -1 }
            } else {
                if runStart < 0 { runStart = i * size }
                chunk.withUnsafeBytes { run.append(contentsOf: $0[0..<(n * size)]) }
            }
            i += n
        }
        if runStart >= 0 { extents.append(.init(offset: runStart, bytes: run)) }
        sections.append(.init(name: name, elementBytes: size, count: count, extents: extents))
    }

    mutating func array<T: FixedWidthInteger>(_ name: String, _ a: [T]) {
        a.withUnsafeBytes { add(name, elementBytes: MemoryLayout<T>.size, count: a.count, $0) }
    }

    mutating func scalar(_ name: String, _ v: Int) { array(name, [Int64(v)]) }
    mutating func scalar(_ name: String, _ v: UInt64) { array(name, [v]) }
}

/// Reads sections back, checking each against what the machine expects.
private struct ImageReader {
    let byName: [String: MachineStateImage.Section]
    let version: Int

    init(_ image: MachineStateImage) throws(MMError) {
        version = image.version
        guard image.version == MachineStateImage.version || MachineStateImage.convertibleVersions.contains(image.version) else {
            throw .invalidConfig(field: FieldPath("snapshot", "version"), value: "\(image.version)",
                                 reason: "this service reads machine state version \(MachineStateImage.version)")
        }
        var d: [String: MachineStateImage.Section] = [:]
        for s in image.sections {
            guard d[s.name] == nil else { throw ImageReader.bad(s.name, "appears twice") }
            var end = 0
            for e in s.extents {
                guard e.offset >= end, e.offset + e.bytes.count <= s.byteCount else {
                    throw ImageReader.bad(s.name, "has an extent outside its \(s.byteCount) bytes or out of order")
                }
                end = e.offset + e.bytes.count
            }
            d[s.name] = s
        }
        byName = d
    }

    static func bad(_ name: String, _ reason: String) -> MMError {
        .invalidConfig(field: FieldPath("snapshot").key(name), value: name, reason: reason)
    }

    func section(_ name: String, elementBytes: Int, count: Int?) throws(MMError) -> MachineStateImage.Section {
        guard let s = byName[name] else { throw ImageReader.bad(name, "is missing") }
        guard s.elementBytes == elementBytes else {
            throw ImageReader.bad(name, "has \(s.elementBytes)-byte elements, not \(elementBytes)")
        }
        if let c = count, s.count != c { throw ImageReader.bad(name, "has \(s.count) elements; this machine has \(c)") }
        return s
    }

    /// Writes a section into the first `count` elements of a raw array (all by default), zeroing what the
    /// section leaves out (a chunk already zero is not written, so untouched memory stays untouched).
    /// Writes a section into the first `count` elements of one of two interleaved arrays, zeroing what
    /// the section leaves out (an element already zero is not written).
    func raw<T: FixedWidthInteger>(_ name: String, into a: InterleavedLane<T>, count: Int) throws(MMError) {
        let size = MemoryLayout<T>.size
        let s = try section(name, elementBytes: size, count: count)
        var at = 0
        func zero(to end: Int) {
            while at < end {
                if a[at] != 0 { a[at] = 0 }
                at += 1
            }
        }
        for e in s.extents {
            // Extents start at a multiple of `extentChunk` bytes and cover whole elements.
            guard e.offset % size == 0, e.bytes.count % size == 0 else {
                throw ImageReader.bad(name, "has an extent that splits an element")
            }
            zero(to: e.offset / size)
            e.bytes.withUnsafeBytes { src in
                for k in 0..<(src.count / size) {
                    a[at + k] = src.loadUnaligned(fromByteOffset: k * size, as: T.self)
                }
            }
            at += e.bytes.count / size
        }
        zero(to: count)
    }

    func raw<T: FixedWidthInteger>(_ name: String, into a: RawArray<T>, count: Int? = nil) throws(MMError) {
        let n = count ?? a.count
        let s = try section(name, elementBytes: MemoryLayout<T>.size, count: n)
        a.withMutableBuffer { b in
            let dst = UnsafeMutableRawBufferPointer(b)
            let total = n * MemoryLayout<T>.size
            var at = 0
            func zero(_ from: Int, _ to: Int) {
                var off = from
                while off < to {
                    let end = min(to, (off / extentChunk + 1) * extentChunk)
                    var nonzero = false
                    var i = off
                    while i < end { if dst[i] != 0 { nonzero = true; break }; i += 1 }
                    if nonzero { dst.baseAddress!.advanced(by: off).initializeMemory(as: UInt8.self, repeating: 0, count: end - off) }
                    off = end
                }
            }
            for e in s.extents {
                zero(at, e.offset)
                e.bytes.withUnsafeBytes { src in
                    dst.baseAddress!.advanced(by: e.offset).copyMemory(from: src.baseAddress!, byteCount: src.count)
                }
                at = e.offset + e.bytes.count
            }
            zero(at, total)
        }
    }

    /// A section as an array.
    func array<T: FixedWidthInteger>(_ name: String, count: Int? = nil, as: T.Type = T.self) throws(MMError) -> [T] {
        let s = try section(name, elementBytes: MemoryLayout<T>.size, count: count)
        var out = [T](repeating: 0, count: s.count)
        out.withUnsafeMutableBytes { dst in
            for e in s.extents {
                e.bytes.withUnsafeBytes { src in
                    dst.baseAddress!.advanced(by: e.offset).copyMemory(from: src.baseAddress!, byteCount: src.count)
                }
            }
        }
        return out
    }

    func int(_ name: String) throws(MMError) -> Int { Int(try array(name, count: 1, as: Int64.self)[0]) }
    func uint64(_ name: String) throws(MMError) -> UInt64 { try array(name, count: 1, as: UInt64.self)[0] }
}

extension Machine {
    /// Names of the vmstat event counters a state image holds, each once (the lists name one counter
    /// twice: kswapd_steal is pgsteal_kswapd). Counters computed from the per-zone arrays
    /// (`pgscan_kswapd`, `pgscan_direct`, `pgsteal_direct`, `pgdeactivate`) are not stored: the arrays are.
    static var imageCounterFields: [(name: String, key: WritableKeyPath<VmCounters, UInt64>)] {
        var seen: Set<KeyPath<VmCounters, UInt64>> = []
        var out: [(String, WritableKeyPath<VmCounters, UInt64>)] = []
        for f in VmCounters.fieldsBeforePgalloc + VmCounters.fieldsAfterPgalloc where seen.insert(f.value).inserted {
            if let w = f.value as? WritableKeyPath<VmCounters, UInt64> { out.append((f.name, w)) }
        }
        return out
    }

    /// The counters versions 1–3 stored whole and version 4 stores by zone type.
    static let countersSplitByZone = ["pgscan_kswapd", "pgscan_direct", "pgsteal_direct", "pgdeactivate"]

    /// Distinct event counters a state image holds (a test compares it with the counters' stored fields).
    public static var imageCounterCount: Int { imageCounterFields.count }

    /// The machine's whole state (see the top of MachineState.swift). O(pages): a copy of the page
    /// arrays without their all-zero stretches. The machine is not changed.
    public func exportState() -> MachineStateImage {
        var w = ImageBuilder()
        exportPages(into: &w)
        exportFreeArea(into: &w)
        exportHandlesAndLists(into: &w)
        exportZones(into: &w)
        exportCounters(into: &w)
        exportMachineScalars(into: &w)
        exportSlab(into: &w)
        exportPageCache(into: &w)
        exportTags(into: &w)
        exportFiles(into: &w)
        exportWriteback(into: &w)
        if let ms = modern { exportModern(ms, into: &w) }
        return MachineStateImage(sections: w.sections)
    }

    /// Page and pageblock words.
    private func exportPages(into w: inout ImageBuilder) {
        w.raw("pages.state", pages.state.raw)
        w.raw("pages.order", pages.order.raw)
        w.raw("pages.a", pages.nextOrOwner.raw, count: pages.count)
        w.raw("pages.b", pages.prevOrContent.raw, count: pages.count)
        w.raw("pageblock.flags", pageblockFlags)
    }

    /// The buddy free lists.
    private func exportFreeArea(into w: inout ImageBuilder) {
        w.raw("free.heads", freeArea.heads)
        w.raw("free.tails", freeArea.tails)
        w.raw("free.lengths", freeArea.lengths)
        w.raw("free.nr_free", freeArea.nrFree)
        w.raw("free.max_state", freeArea.maxState)
        w.raw("free.max_next", freeArea.maxNext)
        w.raw("free.max_prev", freeArea.maxPrev)
    }

    /// Handles (the slots ever issued), their LRU links, the LRU and per-CPU lists.
    private func exportHandlesAndLists(into w: inout ImageBuilder) {
        let used = handles.used
        w.raw("handles.pfn", handles.pfn.raw, count: used)
        w.raw("handles.generation", handles.generation.raw, count: used)
        w.raw("handles.lru_next", handles.lruNext, count: used)
        w.raw("handles.lru_prev", handles.lruPrev, count: used)
        w.array("handles.counters", [Int64(used), Int64(handles.freeHead), Int64(handles.live), Int64(handles.slotLimit),
                                     Int64(handles.retired)])
        w.raw("lru.heads", lru.heads)
        w.raw("lru.tails", lru.tails)
        w.raw("lru.pages", lru.pages)
        w.raw("pcp.heads", pcp.heads)
        w.raw("pcp.tails", pcp.tails)
        w.raw("pcp.count", pcp.count)
        w.raw("pcp.high", pcp.high)
        w.raw("pcp.batch", pcp.batch)
    }

    /// Per-zone figures: free pages, counters, watermarks, reserves, compaction deferral.
    private func exportZones(into w: inout ImageBuilder) {
        w.raw("zone.free_pages", zoneCounters.freePages.raw)
        w.raw("zone.pgalloc", zoneCounters.pgalloc.raw)
        w.raw("zone.allocations", zoneCounters.allocations.raw)
        w.raw("zone.kind_pages", zoneCounters.kindPages.raw)
        w.raw("zone.dirty_pages", zoneCounters.dirty.raw)
        w.raw("zone.isolated_pages", zoneCounters.isolated.raw)
        w.raw("zone.page_tables", zoneCounters.pageTables.raw)
        w.raw("zone.kernel_stacks", zoneCounters.kernelStacks.raw)
        w.raw("zone.kernel_not_slab", zoneCounters.kernelNotSlab.raw)
        w.raw("zone.pages_scanned", zonePagesScanned)
        w.raw("zone.all_unreclaimable", zoneAllUnreclaimable)
        w.raw("zone.lowmem_reserve_flat", zoneLowmemReserve)
        w.raw("zone.wmark_flat", zoneWmark)
        w.raw("zone.order0_low_mark", zoneOrder0LowMark)
        w.array("zone.watermark", zones.flatMap { [Int64($0.watermark.min), Int64($0.watermark.low), Int64($0.watermark.high)] })
        w.array("zone.lowmem_reserve", zones.flatMap { z in (0..<zoneTypeCount).map { Int64(z.lowmemReserve.indices.contains($0) ? z.lowmemReserve[$0] : 0) } })
        w.array("zone.lowmem_reserve_count", zones.map { Int64($0.lowmemReserve.count) })
        w.array("zone.compact", zones.flatMap { [Int64($0.compactConsidered), Int64($0.compactDeferShift)] })
    }

    /// The event counters.
    private func exportCounters(into w: inout ImageBuilder) {
        for f in Machine.imageCounterFields { w.scalar("vmstat.\(f.name)", ev[keyPath: f.key]) }
        w.array("vmstat.pgalloc", ev.pgalloc)
        w.array("vmstat.pgsteal_by_zone", ev.pgstealByZone)
        w.array("vmstat.pgscan_kswapd_by_zone", ev.pgscanKswapdByZone)
        w.array("vmstat.pgscan_direct_by_zone", ev.pgscanDirectByZone)
        w.array("vmstat.allocstall_by_zone", ev.allocstallByZone)
        w.array("vmstat.pgrefill_by_zone", ev.pgrefillByZone)
    }

    /// The flusher: the dirty pages' list from its next entry on, and its scalars.
    private func exportWriteback(into w: inout ImageBuilder) {
        // The entries from the head on (stale ones too: when they are dropped depends on the room, which
        // is saved), and the room.
        let wb = writeback
        w.array("writeback.list", Array(wb.handles[wb.head...]))
        w.array("writeback.dirtied_at", Array(wb.dirtiedAt[wb.head...]))
        w.scalar("writeback.capacities", wb.room)
        w.array("writeback.state", [Int64(bitPattern: wb.clock), Int64(bitPattern: wb.diskBusyNs),
                                    Int64(bitPattern: wb.lastOldFlush), wb.kupdateCutoff.map { Int64(bitPattern: $0) } ?? -1,
                                    Int64(wb.requestedPages), wb.background ? 1 : 0, Int64(wb.chunkLeft),
                                    wb.dirtyExceeded ? 1 : 0, Int64(wb.ratelimitCount), Int64(bitPattern: wb.flusherPages),
                                    Int64(bitPattern: wb.throttledPages), Int64(bitPattern: wb.throttledNs), wb.full ? 1 : 0])
    }

    private func restoreWriteback(_ r: ImageReader) throws(MMError) {
        writeback = WritebackState()
        guard r.version >= 5 else {
            // Older images: every dirty page, in pfn order, as dirtied now.
            var pfn = 0
            while pfn < totalPages {
                let s = pages.state[Pfn(pfn)]
                if s & PageState.codeMask == PageState.allocated, s & PageState.dirty != 0, pages.nextOrOwner[Pfn(pfn)] != NONE {
                    let slot = Int(pages.nextOrOwner[Pfn(pfn)])
                    writeback.handles.append(handles.handle(ofSlot: slot).raw)
                    writeback.dirtiedAt.append(clockNs)
                }
                pfn += 1
            }
            writeback.room = writeback.handles.count
            writeback.clock = clockNs
            writeback.lastOldFlush = clockNs
            return
        }
        let list: [UInt64] = try r.array("writeback.list")
        let at: [UInt64] = try r.array("writeback.dirtied_at", count: list.count)
        let st = try r.array("writeback.state", count: 13, as: Int64.self)
        guard st[3] >= -1, st[4] >= 0, st[4] <= Int64(totalPages), st[6] >= 0, st[6] <= Int64(WritebackState.maxWritebackPages),
              st[8] >= 0, st[8] <= Int64(totalPages) else { throw ImageReader.bad("writeback.state", "holds a count out of range") }
        writeback.handles = list
        writeback.dirtiedAt = at
        // The list's room as the saved machine had it (the state's bytes count it, and it decides when
        // the list is cleaned and grows).
        let room = try r.int("writeback.capacities")
        guard room >= list.count, room <= 4 * totalPages + 4096 else { throw ImageReader.bad("writeback.capacities", "is out of range") }
        writeback.room = room
        writeback.handles.reserveCapacity(room)
        writeback.dirtiedAt.reserveCapacity(room)
        writeback.clock = UInt64(bitPattern: st[0])
        writeback.diskBusyNs = UInt64(bitPattern: st[1])
        writeback.lastOldFlush = UInt64(bitPattern: st[2])
        writeback.kupdateCutoff = st[3] < 0 ? nil : UInt64(st[3])
        writeback.requestedPages = Int(st[4])
        writeback.background = st[5] != 0
        writeback.chunkLeft = Int(st[6])
        writeback.dirtyExceeded = st[7] != 0
        writeback.ratelimitCount = Int(st[8])
        writeback.flusherPages = UInt64(bitPattern: st[9])
        writeback.throttledPages = UInt64(bitPattern: st[10])
        writeback.throttledNs = UInt64(bitPattern: st[11])
        writeback.full = st[12] != 0
    }

    /// Sysctls, clock, generator, kswapd, the state gate's refusals.
    private func exportMachineScalars(into w: inout ImageBuilder) {
        w.scalar("sysctl.min_free_kbytes", minFreeKbytes)
        w.scalar("sysctl.extfrag_threshold", extfragThreshold)
        w.scalar("sysctl.compact_unevictable_allowed", compactUnevictableAllowed)
        w.scalar("sysctl.hugepages_treat_as_movable", hugepagesTreatAsMovable)
        w.array("sysctl.dirty_ratios", [Int64(dirtyRatio), Int64(dirtyBackgroundRatio)])
        w.scalar("hugetlb.next_nid", hugetlbNextNid)
        w.array("hugetlb.slots", hugetlbSlots.sorted().map { Int64($0) })
        w.array("kswapd.held_owed", [Int64(kswapdHeld), kswapdOwed ? 1 : 0])
        w.scalar("machine.swap_used", swapUsed)
        w.scalar("machine.clock_ns", clockNs)
        w.scalar("machine.rng", rng.stateWord)
        w.scalar("machine.generation", generation)
        w.scalar("machine.state_refusals", stateRefusals)
        w.scalar("machine.last_refused_bytes", lastRefusedBytes)
        w.array("kswapd.pending", kswapdPending.map { Int64($0) })
        w.array("kswapd.credit", kswapdCredit)
        w.scalar("kswapd.clock", kswapdClock)
        w.scalar("kswapd.ns", kswapdNs)
    }

    /// Slab: per-slot words of the slots ever issued, the object table, the caches.
    private func exportSlab(into w: inout ImageBuilder) {
        let used = handles.used
        w.raw("slab.info", slab.info, count: used)
        w.raw("slab.buffer_heads", slab.bufferHeads, count: used)
        w.array("slab.obj_slab", slab.objSlab)
        w.array("slab.obj_generation", slab.objGeneration)
        w.array("slab.obj_next", slab.objNext)
        w.array("slab.obj_prev", slab.objPrev)
        w.array("slab.obj_link", slab.objLink)
        w.array("slab.obj_parent", slab.objParent)
        w.array("slab.obj_children", slab.objChildren)
        w.array("slab.obj_flags", slab.objFlags)
        w.scalar("slab.obj_capacity", slab.objectCapacity)
        w.array("slab.caches", slab.caches.flatMap { c in
            [Int64(c.objects), Int64(c.slabs), Int64(c.partialHead), Int64(c.unusedHead), Int64(c.unusedTail), Int64(c.nrUnused), Int64(c.deferred)]
        })
        w.scalar("slab.free_obj", Int(slab.freeObj))
        w.scalar("slab.page_shrinker_deferred", slab.pageShrinkerDeferred)
        w.array("slab.info_granules", slab.infoGranules.map { $0 ? UInt8(1) : 0 })
        w.array("slab.buffer_head_granules", slab.bufferHeadGranules.map { $0 ? UInt8(1) : 0 })
        w.scalar("slab.word_bytes", slab.wordBytes)
    }

    /// Page cache: per-slot words of the slots ever issued, the trees (sorted: dictionaries have no order).
    private func exportPageCache(into w: inout ImageBuilder) {
        let used = handles.used
        w.raw("pagecache.slot_inode", pageCache.slotInode, count: used)
        w.raw("pagecache.slot_index", pageCache.slotIndex, count: used)
        w.raw("pagecache.slot_next", pageCache.slotNext, count: used)
        w.raw("pagecache.slot_prev", pageCache.slotPrev, count: used)
        w.array("pagecache.granules", pageCache.granules.map { $0 ? UInt8(1) : 0 })
        w.scalar("pagecache.word_bytes", pageCache.wordBytes)
        let mkeys = pageCache.mappings.keys.sorted()
        w.array("pagecache.mapping_keys", mkeys)
        w.array("pagecache.mappings", mkeys.flatMap { k -> [UInt32] in
            let a = pageCache.mappings[k]!
            return [a.nrpages, UInt32(a.height), a.hasZero ? 1 : 0, a.head, a.tail, a.last]
        })
        let nkeys = pageCache.nodes.keys.sorted()
        w.array("pagecache.node_keys", nkeys)
        w.array("pagecache.nodes", nkeys.flatMap { k -> [UInt32] in
            let n = pageCache.nodes[k]!
            return [n.object, n.count]
        })
    }

    /// Tags, by name: each list as it is (stale handles included) and its capacity.
    private func exportTags(into w: inout ImageBuilder) {
        let tagNames = tags.keys.sorted()
        var tagCounts: [UInt32] = [], tagCaps: [UInt32] = [], tagHandles: [UInt64] = []
        for t in tagNames {
            let l = tags[t] ?? []
            tagCounts.append(UInt32(l.count))
            tagCaps.append(UInt32(l.capacity))
            for h in l { tagHandles.append(h.raw) }
        }
        w.array("tags.names", Machine.joinNames(tagNames))
        w.array("tags.counts", tagCounts)
        w.array("tags.capacities", tagCaps)
        w.array("tags.handles", tagHandles)
        w.scalar("tags.sweep_at", tags.sweepAt)
    }

    /// Files, by tag.
    private func exportFiles(into w: inout ImageBuilder) {
        let fileTags = files.lists.keys.sorted()
        var fCounts: [UInt32] = [], fCaps: [UInt32] = [], pCounts: [UInt32] = [], pCaps: [UInt32] = []
        var fPages: [UInt64] = [], fDentry: [UInt64] = [], fInode: [UInt64] = [], fFlags: [UInt8] = []
        for t in fileTags {
            let l = files[t] ?? []
            fCounts.append(UInt32(l.count))
            fCaps.append(UInt32(l.capacity))
            for f in l {
                pCounts.append(UInt32(f.pages.count))
                pCaps.append(UInt32(f.pages.capacity))
                for h in f.pages { fPages.append(h.raw) }
                fDentry.append(f.dentry?.raw ?? 0)
                fInode.append(f.inode?.raw ?? 0)
                fFlags.append((f.dentry != nil ? 1 : 0) | (f.inode != nil ? 2 : 0))
            }
        }
        w.array("files.tags", Machine.joinNames(fileTags))
        w.array("files.counts", fCounts)
        w.array("files.capacities", fCaps)
        w.array("files.page_counts", pCounts)
        w.array("files.page_capacities", pCaps)
        w.array("files.pages", fPages)
        w.array("files.dentry", fDentry)
        w.array("files.inode", fInode)
        w.array("files.flags", fFlags)

    }

    /// Whether `exportState()` may be called now: not while kcompactd is in the middle of its work (a
    /// compaction in progress, whose scanners and isolated pages no image holds) or a direct compactor's
    /// capture is set. Between two operations of a seed-kernel machine, always.
    public var canExportState: Bool {
        guard let ms = modern else { return true }
        return ms.kcompactd.allSatisfy { $0.job == nil } && ms.captureZone == nil
    }

    /// The modern profile's state (ModernState): its sysctls, per-zone and per-node fields, counters.
    private func exportModern(_ ms: ModernState, into w: inout ImageBuilder) {
        precondition(canExportState, "exportState while kcompactd works or a capture is set (check canExportState)")
        w.array("modern.sysctls", [Int64(ms.compactionProactiveness), Int64(ms.watermarkBoostFactor), Int64(ms.watermarkScaleFactor),
                                   Int64(THPEnabled.allCases.firstIndex(of: ms.thpEnabled)!), Int64(THPDefrag.allCases.firstIndex(of: ms.thpDefrag)!)])
        w.array("modern.zone.cached_migrate_pfn0", ms.cachedMigratePfn0.map { Int64($0.rawValue) })
        w.array("modern.zone.cached_migrate_pfn1", ms.cachedMigratePfn1.map { Int64($0.rawValue) })
        w.array("modern.zone.cached_free_pfn", ms.cachedFreePfn.map { Int64($0.rawValue) })
        w.array("modern.zone.init_migrate_pfn", ms.initMigratePfn.map { Int64($0.rawValue) })
        w.array("modern.zone.init_free_pfn", ms.initFreePfn.map { Int64($0.rawValue) })
        w.array("modern.zone.order_failed", ms.orderFailed.map { Int64($0) })
        w.array("modern.zone.blockskip_flush", ms.blockskipFlush.map { $0 ? UInt8(1) : 0 })
        w.array("modern.zone.base_wmark", ms.baseWmark.flatMap { [Int64($0.min), Int64($0.low), Int64($0.high)] })
        w.array("modern.zone.watermark_boost", ms.watermarkBoost.map { Int64($0) })
        w.array("modern.zone.boosted", ms.boostedFlag.map { $0 ? UInt8(1) : 0 })
        w.array("modern.zone.nr_reserved_highatomic", ms.nrReservedHighatomic.map { Int64($0) })
        // kcompactd per node, asleep or awake without work (see canExportState): its fields, with an
        // absent optional as -1.
        w.array("modern.node.kcompactd", ms.kcompactd.flatMap { k -> [Int64] in
            [Int64(k.maxOrder), Int64(k.highestZoneidx), k.proactiveTrigger ? 1 : 0, Int64(bitPattern: k.clock), k.sleeping ? 1 : 0,
             Int64(bitPattern: k.sleptAt), k.wokenAt.map { Int64(bitPattern: $0) } ?? -1, k.timeoutNs.map { Int64(bitPattern: $0) } ?? -1]
        })
        w.array("modern.node.kswapd_alloc_order", ms.kswapdAllocOrder.map { Int64($0) })
        w.array("modern.node.kswapd_reclaimed", ms.kswapdReclaimed.map { Int64($0) })
        for f in Machine.modernCounterFields { w.scalar("vmstat.modern.\(f.name)", ev.modern[keyPath: f.key]) }
    }

    /// The modern profile's event counters, by name (a test checks that these are all of them).
    static var modernCounterFields: [(name: String, key: WritableKeyPath<ModernVmCounters, UInt64>)] {
        [("compact_daemon_wake", \.compactDaemonWake), ("compact_daemon_migrate_scanned", \.compactDaemonMigrateScanned),
         ("compact_daemon_free_scanned", \.compactDaemonFreeScanned), ("thp_fault_alloc", \.thpFaultAlloc),
         ("thp_fault_fallback", \.thpFaultFallback), ("compact_captured", \.compactCaptured),
         ("compact_fast_migrate_scanned", \.compactFastMigrateScanned), ("compact_fast_free_scanned", \.compactFastFreeScanned),
         ("compact_proactive_runs", \.compactProactiveRuns), ("watermark_boosts", \.watermarkBoosts)]
    }

    public static var imageModernCounterCount: Int { modernCounterFields.count }

    private func restoreModern(_ ms: ModernState, _ r: ImageReader) throws(MMError) {
        let sys = try r.array("modern.sysctls", count: 5, as: Int64.self)
        guard sys[3] >= 0, Int(sys[3]) < THPEnabled.allCases.count, sys[4] >= 0, Int(sys[4]) < THPDefrag.allCases.count else {
            throw ImageReader.bad("modern.sysctls", "names no transparent_hugepage setting")
        }
        ms.compactionProactiveness = Int(sys[0])
        ms.watermarkBoostFactor = Int(sys[1])
        ms.watermarkScaleFactor = Int(sys[2])
        ms.thpEnabled = THPEnabled.allCases[Int(sys[3])]
        ms.thpDefrag = THPDefrag.allCases[Int(sys[4])]
        let nz = zones.count, nn = nodes.count
        func ints(_ name: String, _ n: Int) throws(MMError) -> [Int] { try r.array(name, count: n, as: Int64.self).map { Int($0) } }
        func pfns(_ name: String) throws(MMError) -> [Pfn] {
            let a = try ints(name, nz)
            guard a.allSatisfy({ $0 >= 0 && $0 <= totalPages }) else { throw ImageReader.bad(name, "holds a pfn out of range") }
            return a.map(Pfn.init(rawValue:))
        }
        ms.cachedMigratePfn0 = try pfns("modern.zone.cached_migrate_pfn0")
        ms.cachedMigratePfn1 = try pfns("modern.zone.cached_migrate_pfn1")
        ms.cachedFreePfn = try pfns("modern.zone.cached_free_pfn")
        ms.initMigratePfn = try pfns("modern.zone.init_migrate_pfn")
        ms.initFreePfn = try pfns("modern.zone.init_free_pfn")
        ms.orderFailed = try ints("modern.zone.order_failed", nz)
        ms.blockskipFlush = try r.array("modern.zone.blockskip_flush", count: nz, as: UInt8.self).map { $0 != 0 }
        let bw = try ints("modern.zone.base_wmark", 3 * nz)
        ms.baseWmark = (0..<nz).map { (i: Int) in (bw[3 * i], bw[3 * i + 1], bw[3 * i + 2]) }
        ms.watermarkBoost = try ints("modern.zone.watermark_boost", nz)
        ms.boostedFlag = try r.array("modern.zone.boosted", count: nz, as: UInt8.self).map { $0 != 0 }
        ms.nrReservedHighatomic = try ints("modern.zone.nr_reserved_highatomic", nz)
        let k = try r.array("modern.node.kcompactd", count: 8 * nn, as: Int64.self)
        for n in 0..<nn {
            let f = k[(8 * n)..<(8 * n + 8)].map { $0 }
            guard (0..<nrOrders).contains(Int(f[0])), (0..<zoneTypeCount).contains(Int(f[1])) else {
                throw ImageReader.bad("modern.node.kcompactd", "holds an order or zone index out of range")
            }
            ms.kcompactd[n].maxOrder = Int(f[0])
            ms.kcompactd[n].highestZoneidx = Int(f[1])
            ms.kcompactd[n].proactiveTrigger = f[2] != 0
            ms.kcompactd[n].clock = UInt64(bitPattern: f[3])
            ms.kcompactd[n].sleeping = f[4] != 0
            ms.kcompactd[n].sleptAt = UInt64(bitPattern: f[5])
            ms.kcompactd[n].wokenAt = f[6] < 0 ? nil : UInt64(bitPattern: f[6])
            ms.kcompactd[n].timeoutNs = f[7] < 0 ? nil : UInt64(bitPattern: f[7])
            ms.kcompactd[n].job = nil
        }
        let ko = try ints("modern.node.kswapd_alloc_order", nn)
        guard ko.allSatisfy({ $0 >= -1 && $0 < nrOrders }) else { throw ImageReader.bad("modern.node.kswapd_alloc_order", "holds an order out of range") }
        ms.kswapdAllocOrder = ko
        ms.kswapdReclaimed = try ints("modern.node.kswapd_reclaimed", nn)
        ms.captureZone = nil
        ms.captureOrder = -1
        ms.capturedPfn = nil
        for f in Machine.modernCounterFields { ev.modern[keyPath: f.key] = try r.uint64("vmstat.modern.\(f.name)") }
    }

    /// Names joined by NUL bytes.
    private static func joinNames(_ names: [String]) -> [UInt8] {
        var out: [UInt8] = []
        for (i, n) in names.enumerated() {
            if i > 0 { out.append(0) }
            out.append(contentsOf: n.utf8)
        }
        return out
    }

    private static func splitNames(_ bytes: [UInt8], count: Int, section: String) throws(MMError) -> [String] {
        if count == 0 {
            guard bytes.isEmpty else { throw ImageReader.bad(section, "has names for no entries") }
            return []
        }
        let parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == count, Set(parts).count == count, parts.allSatisfy({ !$0.isEmpty }) else {
            throw ImageReader.bad(section, "does not hold \(count) distinct names")
        }
        return parts
    }

    /// Builds the machine `config` describes with the state of `image` (taken by `exportState()` from a
    /// machine of the same configuration). `stateGrowthGate` is installed before the state is restored,
    /// so the handle table's slot limit is the image's. Throws, naming the section, when the image does
    /// not fit the configuration or holds an index out of range; a machine that restores may still be
    /// inconsistent if its image was (the caller runs `checkConsistency`).
    public convenience init(_ config: MachineConfig, restoring image: MachineStateImage,
                            stateGrowthGate gate: ((Int) -> Bool)? = nil) throws(MMError) {
        // A 6.6 machine saved before 6.6 refused vm.hugepages_treat_as_movable may name it; 6.6 never
        // read it, so the machine loads without it.
        var config = config
        if !config.kernel.hasHugepagesTreatAsMovable { config.sysctl.hugepagesTreatAsMovable = nil }
        try self.init(config)
        stateGrowthGate = gate
        try restore(ImageReader(image))
    }

    private func restore(_ r: ImageReader) throws(MMError) {
        // Handles first: their count bounds the slot-indexed sections.
        let hc = try r.array("handles.counters", count: 5, as: Int64.self)
        let cap = handles.pfn.count
        guard hc[0] >= 0, Int(hc[0]) <= cap, hc[2] >= 0, hc[2] <= hc[0], hc[3] >= hc[0], Int(hc[3]) <= cap,
              hc[1] == Int64(NONE) || (hc[1] >= 0 && hc[1] < hc[0]), hc[4] >= 0, hc[4] + hc[2] <= hc[0] else {
            throw ImageReader.bad("handles.counters", "holds impossible counts \(hc) for \(cap) slots")
        }
        let used = Int(hc[0])
        try restorePagesAndFreeArea(r)
        try restoreHandlesAndLists(r, counters: hc)
        try restoreZones(r)
        try restoreCounters(r)
        try restoreMachineScalars(r)
        try restoreSlab(r, used: used)
        try restoreTags(r)
        try restoreFiles(r)
        try restoreWriteback(r)
        if let ms = modern {
            try restoreModern(ms, r)
        } else if r.byName["modern.sysctls"] != nil {
            throw ImageReader.bad("modern.sysctls", "the image is of a kernel 6.6 machine; the configuration is not")
        }
        try checkIndices()
        // The 6.6 free-list index is not in the image: it is rebuilt from the lists (their segments may
        // differ from the saved machine's; no result depends on them).
        rebuildFreeListIndex()
    }

    /// Page and pageblock words, the buddy free lists.
    private func restorePagesAndFreeArea(_ r: ImageReader) throws(MMError) {
        try r.raw("pages.state", into: pages.state.raw)
        try r.raw("pages.order", into: pages.order.raw)
        try r.raw("pages.a", into: pages.nextOrOwner.raw, count: pages.count)
        try r.raw("pages.b", into: pages.prevOrContent.raw, count: pages.count)
        try r.raw("pageblock.flags", into: pageblockFlags)
        try r.raw("free.heads", into: freeArea.heads)
        try r.raw("free.tails", into: freeArea.tails)
        try r.raw("free.lengths", into: freeArea.lengths)
        try r.raw("free.nr_free", into: freeArea.nrFree)
        try r.raw("free.max_state", into: freeArea.maxState)
        try r.raw("free.max_next", into: freeArea.maxNext)
        try r.raw("free.max_prev", into: freeArea.maxPrev)
    }

    /// Handles (the `counters` checked by `restore`), their LRU links, the LRU and per-CPU lists.
    private func restoreHandlesAndLists(_ r: ImageReader, counters hc: [Int64]) throws(MMError) {
        let used = Int(hc[0])
        try r.raw("handles.pfn", into: handles.pfn.raw, count: used)
        try r.raw("handles.generation", into: handles.generation.raw, count: used)
        try r.raw("handles.lru_next", into: handles.lruNext, count: used)
        try r.raw("handles.lru_prev", into: handles.lruPrev, count: used)
        handles.restoreCounters(used: used, freeHead: UInt32(truncatingIfNeeded: hc[1]), live: Int(hc[2]), slotLimit: Int(hc[3]),
                                retired: Int(hc[4]))
        try r.raw("lru.heads", into: lru.heads)
        try r.raw("lru.tails", into: lru.tails)
        try r.raw("lru.pages", into: lru.pages)
        try r.raw("pcp.heads", into: pcp.heads)
        try r.raw("pcp.tails", into: pcp.tails)
        try r.raw("pcp.count", into: pcp.count)
        try r.raw("pcp.high", into: pcp.high)
        try r.raw("pcp.batch", into: pcp.batch)
    }

    /// Per-zone figures: free pages, counters, watermarks, reserves, compaction deferral.
    private func restoreZones(_ r: ImageReader) throws(MMError) {
        try r.raw("zone.free_pages", into: zoneCounters.freePages.raw)
        try r.raw("zone.pgalloc", into: zoneCounters.pgalloc.raw)
        try r.raw("zone.allocations", into: zoneCounters.allocations.raw)
        try r.raw("zone.kind_pages", into: zoneCounters.kindPages.raw)
        try r.raw("zone.dirty_pages", into: zoneCounters.dirty.raw)
        try r.raw("zone.isolated_pages", into: zoneCounters.isolated.raw)
        if r.version >= 3 {
            try r.raw("zone.page_tables", into: zoneCounters.pageTables.raw)
            try r.raw("zone.kernel_stacks", into: zoneCounters.kernelStacks.raw)
            try r.raw("zone.kernel_not_slab", into: zoneCounters.kernelNotSlab.raw)
        }
        try r.raw("zone.pages_scanned", into: zonePagesScanned)
        try r.raw("zone.all_unreclaimable", into: zoneAllUnreclaimable)
        try r.raw("zone.lowmem_reserve_flat", into: zoneLowmemReserve)
        try r.raw("zone.wmark_flat", into: zoneWmark)
        try r.raw("zone.order0_low_mark", into: zoneOrder0LowMark)
        let wm = try r.array("zone.watermark", count: zones.count * 3, as: Int64.self)
        let lr = try r.array("zone.lowmem_reserve", count: zones.count * zoneTypeCount, as: Int64.self)
        let lrc = try r.array("zone.lowmem_reserve_count", count: zones.count, as: Int64.self)
        let cs = try r.array("zone.compact", count: zones.count * 2, as: Int64.self)
        for z in zones.indices {
            zones[z].watermark = (Int(wm[3 * z]), Int(wm[3 * z + 1]), Int(wm[3 * z + 2]))
            guard lrc[z] >= 0 && lrc[z] <= Int64(zoneTypeCount) else { throw ImageReader.bad("zone.lowmem_reserve_count", "is out of range") }
            zones[z].lowmemReserve = (0..<Int(lrc[z])).map { Int(lr[z * zoneTypeCount + $0]) }
            zones[z].compactConsidered = Int(cs[2 * z])
            zones[z].compactDeferShift = Int(cs[2 * z + 1])
        }
    }

    /// The event counters (the modern ones follow in restoreModern).
    private func restoreCounters(_ r: ImageReader) throws(MMError) {
        var c = VmCounters(zoneTypes: zoneTypeCount)
        for f in Machine.imageCounterFields {
            // Version 1 had no inode-steal counters.
            if r.version == 1 && (f.name == "pginodesteal" || f.name == "kswapd_inodesteal") { continue }
            c[keyPath: f.key] = try r.uint64("vmstat.\(f.name)")
        }
        c.pgalloc = try r.array("vmstat.pgalloc", count: ev.pgalloc.count)
        let zoneTypes = ev.pgalloc.count
        if r.version >= 4 {
            c.pgstealByZone = try r.array("vmstat.pgsteal_by_zone", count: zoneTypes)
            c.pgscanKswapdByZone = try r.array("vmstat.pgscan_kswapd_by_zone", count: zoneTypes)
            c.pgscanDirectByZone = try r.array("vmstat.pgscan_direct_by_zone", count: zoneTypes)
            c.pgrefillByZone = try r.array("vmstat.pgrefill_by_zone", count: zoneTypes)
            c.allocstallByZone = try r.array("vmstat.allocstall_by_zone", count: zoneTypes)
            // kswapd's steal is part of the zones' (pgsteal_direct, their difference, cannot be negative);
            // only 6.6 counts stalls per zone, one for each of its `allocstall`.
            guard c.pgstealKswapd <= c.pgstealByZone.reduce(0, &+) else {
                throw ImageReader.bad("vmstat.pgsteal_by_zone", "adds up to less than kswapd_steal")
            }
            guard c.allocstallByZone.reduce(0, &+) == (modern == nil ? 0 : c.allocstall) else {
                throw ImageReader.bad("vmstat.allocstall_by_zone", modern == nil ? "is kept on kernel 6.6 only" : "does not add up to allocstall")
            }
        } else {
            // Versions 1–3 kept the totals only (MachineStateImage.convertibleVersions): they go to the
            // highest populated zone type.
            var old: [String: UInt64] = [:]
            for name in Machine.countersSplitByZone { old[name] = try r.uint64("vmstat.\(name)") }
            let top = zones.filter(\.populated).map(\.indexInNode).max() ?? 0
            c.pgstealByZone[top] = c.pgstealKswapd &+ old["pgsteal_direct"]!
            c.pgscanKswapdByZone[top] = old["pgscan_kswapd"]!
            c.pgscanDirectByZone[top] = old["pgscan_direct"]!
            c.pgrefillByZone[top] = old["pgdeactivate"]!
            if modern != nil { c.allocstallByZone[top] = c.allocstall }
        }
        ev = c  // (the modern counters follow in restoreModern)
    }

    /// Sysctls, the hugetlb node cursor, kswapd, clock, generator, the state gate's refusals.
    private func restoreMachineScalars(_ r: ImageReader) throws(MMError) {
        minFreeKbytes = try r.int("sysctl.min_free_kbytes")
        extfragThreshold = try r.int("sysctl.extfrag_threshold")
        compactUnevictableAllowed = try r.int("sysctl.compact_unevictable_allowed")
        hugepagesTreatAsMovable = try r.int("sysctl.hugepages_treat_as_movable")
        if r.version >= 5 {
            let d = try r.array("sysctl.dirty_ratios", count: 2, as: Int64.self)
            guard d.allSatisfy({ (0...100).contains($0) }) else { throw ImageReader.bad("sysctl.dirty_ratios", "holds a ratio out of 0..100") }
            dirtyRatio = Int(d[0])
            dirtyBackgroundRatio = Int(d[1])
        }
        let nextNid = try r.int("hugetlb.next_nid")
        guard (0..<Swift.max(1, nodes.count)).contains(nextNid) else { throw ImageReader.bad("hugetlb.next_nid", "names no node") }
        hugetlbNextNid = nextNid
        hugetlbSlots = []
        hugetlbPoolPages = 0
        if r.version >= 3 {
            // Each a live, in-memory `kernel` allocation of more than one page (checked against the
            // handles restored before).
            for v in try r.array("hugetlb.slots", as: Int64.self) {
                guard v >= 0, v < Int64(handles.capacity), handles.pfn[Int(v)] < SWAPPED,
                      PageState.kind(pages.state[Pfn(link: handles.pfn[Int(v)])]) == .kernel,
                      pages.order[Pfn(link: handles.pfn[Int(v)])] & PageOrderByte.orderMask != 0,
                      hugetlbSlots.insert(UInt32(v)).inserted
                else { throw ImageReader.bad("hugetlb.slots", "names \(v), which is no live pool page") }
                hugetlbPoolPages += 1 << Int(pages.order[Pfn(link: handles.pfn[Int(v)])] & PageOrderByte.orderMask)
            }
        }
        let held = try r.array("kswapd.held_owed", count: 2, as: Int64.self)
        kswapdHeld = Int(held[0])
        kswapdOwed = held[1] != 0
        swapUsed = try r.int("machine.swap_used")
        clockNs = try r.uint64("machine.clock_ns")
        rng = SeededRandom(seed: try r.uint64("machine.rng"))
        generation = try r.uint64("machine.generation")
        stateRefusals = try r.int("machine.state_refusals")
        lastRefusedBytes = try r.int("machine.last_refused_bytes")
        let kp = try r.array("kswapd.pending", count: nodes.count, as: Int64.self)
        guard kp.allSatisfy({ $0 >= -1 && $0 < Int64(nrOrders) }) else { throw ImageReader.bad("kswapd.pending", "holds an order out of range") }
        kswapdPending = kp.map { Int($0) }
        kswapdCredit = try r.array("kswapd.credit", count: nodes.count)
        kswapdClock = try r.uint64("kswapd.clock")
        kswapdNs = try r.uint64("kswapd.ns")
    }

    private func restoreSlab(_ r: ImageReader, used: Int) throws(MMError) {
        if r.version == 1 {
            // Version 1's words: 4 bits of cache above 12 of count.
            let old: [UInt16] = try r.array("slab.info", count: used)
            for (s, w) in old.enumerated() where w != 0 {
                let n = Int(w & 0x0FFF)
                guard n <= Int(SlabStore.countMask) else { throw ImageReader.bad("slab.info", "element \(s) counts more objects than a slab holds") }
                slab.info[s] = SlabStore.word(cache: Int(w >> 12) - 1, count: n)
            }
        } else {
            try r.raw("slab.info", into: slab.info, count: used)
        }
        try r.raw("slab.buffer_heads", into: slab.bufferHeads, count: used)
        let objSlab: [UInt32] = try r.array("slab.obj_slab")
        let n = objSlab.count
        let capacity = try r.int("slab.obj_capacity")
        guard capacity >= n, capacity <= handles.pfn.count * 64 else { throw ImageReader.bad("slab.obj_capacity", "is out of range") }
        func sized<T: FixedWidthInteger>(_ name: String) throws(MMError) -> [T] {
            var a = [T]()
            a.reserveCapacity(capacity)
            a.append(contentsOf: try r.array(name, count: n, as: T.self))
            return a
        }
        var s = objSlab
        s.reserveCapacity(capacity)
        slab.objSlab = s
        slab.objGeneration = try sized("slab.obj_generation")
        slab.objNext = try sized("slab.obj_next")
        slab.objPrev = try sized("slab.obj_prev")
        slab.objLink = try sized("slab.obj_link")
        slab.objParent = try sized("slab.obj_parent")
        slab.objChildren = try sized("slab.obj_children")
        slab.objFlags = try sized("slab.obj_flags")
        // Version 1 had the caches before radix_tree_node.
        let cacheCount = r.version == 1 ? SlabCache.radixTreeNode.rawValue : slab.caches.count
        let cs = try r.array("slab.caches", count: cacheCount * 7, as: Int64.self)
        for i in 0..<cacheCount {
            let v = cs[(7 * i)..<(7 * i + 7)].map { $0 }
            slab.caches[i].objects = Int(v[0])
            slab.caches[i].slabs = Int(v[1])
            slab.caches[i].partialHead = UInt32(truncatingIfNeeded: v[2])
            slab.caches[i].unusedHead = UInt32(truncatingIfNeeded: v[3])
            slab.caches[i].unusedTail = UInt32(truncatingIfNeeded: v[4])
            slab.caches[i].nrUnused = Int(v[5])
            slab.caches[i].deferred = Int(v[6])
        }
        slab.freeObj = UInt32(truncatingIfNeeded: try r.int("slab.free_obj"))
        slab.pageShrinkerDeferred = try r.int("slab.page_shrinker_deferred")
        slab.infoGranules = try r.array("slab.info_granules", count: slab.infoGranules.count, as: UInt8.self).map { $0 != 0 }
        slab.bufferHeadGranules = try r.array("slab.buffer_head_granules", count: slab.bufferHeadGranules.count, as: UInt8.self).map { $0 != 0 }
        slab.wordBytes = try r.int("slab.word_bytes")
        try restorePageCache(r, used: used)
    }

    private func restoreTags(_ r: ImageReader) throws(MMError) {
        let counts: [UInt32] = try r.array("tags.counts")
        let caps: [UInt32] = try r.array("tags.capacities", count: counts.count)
        let names = try Machine.splitNames(try r.array("tags.names"), count: counts.count, section: "tags.names")
        let hs: [UInt64] = try r.array("tags.handles")
        guard hs.count == counts.reduce(0, { $0 + Int($1) }) else { throw ImageReader.bad("tags.handles", "does not match tags.counts") }
        for t in Array(tags.keys) { tags.removeValue(forKey: t) }
        var at = 0
        for (i, name) in names.enumerated() {
            guard caps[i] >= counts[i], Int(caps[i]) <= handles.pfn.count * 2 + 64 else { throw ImageReader.bad("tags.capacities", "is out of range") }
            var l: [PageHandle] = []
            l.reserveCapacity(Int(caps[i]))
            for k in 0..<Int(counts[i]) { l.append(PageHandle(raw: hs[at + k])) }
            at += Int(counts[i])
            tags[name] = l
        }
        tags.sweepAt = try r.int("tags.sweep_at")
    }

    private func restoreFiles(_ r: ImageReader) throws(MMError) {
        let counts: [UInt32] = try r.array("files.counts")
        let caps: [UInt32] = try r.array("files.capacities", count: counts.count)
        let names = try Machine.splitNames(try r.array("files.tags"), count: counts.count, section: "files.tags")
        let nFiles = counts.reduce(0) { $0 + Int($1) }
        let pCounts: [UInt32] = try r.array("files.page_counts", count: nFiles)
        let pCaps: [UInt32] = try r.array("files.page_capacities", count: nFiles)
        let pages: [UInt64] = try r.array("files.pages", count: pCounts.reduce(0) { $0 + Int($1) })
        let dentry: [UInt64] = try r.array("files.dentry", count: nFiles)
        let inode: [UInt64] = try r.array("files.inode", count: nFiles)
        let flags: [UInt8] = try r.array("files.flags", count: nFiles)
        for t in Array(files.lists.keys) { files[t] = nil }
        var fi = 0, pi = 0
        let bound = handles.pfn.count * 2 + 64
        for (i, name) in names.enumerated() {
            guard caps[i] >= counts[i], Int(caps[i]) <= bound else { throw ImageReader.bad("files.capacities", "is out of range") }
            var l: [FileRecord] = []
            l.reserveCapacity(Int(caps[i]))
            for _ in 0..<Int(counts[i]) {
                guard pCaps[fi] >= pCounts[fi], Int(pCaps[fi]) <= bound else { throw ImageReader.bad("files.page_capacities", "is out of range") }
                var ps: [PageHandle] = []
                ps.reserveCapacity(Int(pCaps[fi]))
                for k in 0..<Int(pCounts[fi]) { ps.append(PageHandle(raw: pages[pi + k])) }
                pi += Int(pCounts[fi])
                let d = flags[fi] & 1 != 0 ? SlabObjectRef(raw: dentry[fi]) : nil
                let n = flags[fi] & 2 != 0 ? SlabObjectRef(raw: inode[fi]) : nil
                l.append(FileRecord(pages: ps, dentry: d, inode: n))
                fi += 1
            }
            files[name] = l
        }
    }

    /// Every link and index in the restored state is in range (NONE or below its bound), so that no walk
    /// of a list, not even the consistency checker's, leaves its array. Lengths and agreement between the
    /// structures are `checkConsistency`'s to judge.
    private func checkIndices() throws(MMError) {
        let n = totalPages, used = handles.used
        func inRange(_ v: UInt32, _ bound: Int) -> Bool { v == NONE || Int(v) < bound }
        func check<T: FixedWidthInteger>(_ name: String, _ a: RawArray<T>, count: Int? = nil, bound: Int) throws(MMError) {
            let c = count ?? a.count
            let bad = a.withBuffer { b -> Int? in
                for i in 0..<c where !inRange(UInt32(truncatingIfNeeded: b[i]), bound) { return i }
                return nil
            }
            if let i = bad { throw ImageReader.bad(name, "element \(i) is out of range (bound \(bound))") }
        }
        // Free and per-CPU heads link pfns; allocated heads name their slot.
        let bad = pages.state.withBuffer { st -> (Pfn, String)? in
            for pfn in Pfn(0)..<Pfn(n) {
                let s = st[pfn.rawValue], code = PageState.code(s)
                if code == PageState.buddy || code == PageState.pcp {
                    if !inRange(pages.nextOrOwner[pfn], n) || !inRange(pages.prevOrContent[pfn], n) { return (pfn, "a free page's links") }
                    if code == PageState.buddy && Int(pages.order[pfn] & PageOrderByte.orderMask) >= nrOrders { return (pfn, "a free page's order") }
                } else if code == PageState.allocated {
                    if !PageState.isIsolatedFreePage(s) && !inRange(pages.nextOrOwner[pfn], used) { return (pfn, "an allocation's slot") }
                    if Int(pages.order[pfn] & PageOrderByte.orderMask) >= nrOrders { return (pfn, "an allocation's order") }
                }
            }
            return nil
        }
        if let (pfn, what) = bad { throw ImageReader.bad("pages", "pfn \(pfn): \(what) is out of range") }
        try check("free.heads", freeArea.heads, bound: n)
        try check("free.tails", freeArea.tails, bound: n)
        try check("free.max_next", freeArea.maxNext, bound: n)
        try check("free.max_prev", freeArea.maxPrev, bound: n)
        let maxBad = freeArea.maxState.withBuffer { b in b.firstIndex { Int($0) > Migratetype.count } }
        if let i = maxBad { throw ImageReader.bad("free.max_state", "element \(i) is out of range") }
        let pfnBad = (0..<used).first { handles.pfn[$0] != SWAPPED && !inRange(handles.pfn[$0], n) }
        if let i = pfnBad { throw ImageReader.bad("handles.pfn", "element \(i) is out of range (bound \(n))") }
        // (A swapped-out allocation keeps its content word and order in its links.)
        for s in 0..<used where handles.pfn[s] != SWAPPED {
            guard inRange(handles.lruNext[s], used), inRange(handles.lruPrev[s], used) else {
                throw ImageReader.bad("handles.lru_next", "slot \(s)'s links are out of range (bound \(used))")
            }
        }
        try check("lru.heads", lru.heads, bound: used)
        try check("lru.tails", lru.tails, bound: used)
        try check("pcp.heads", pcp.heads, bound: n)
        try check("pcp.tails", pcp.tails, bound: n)
        let objects = slab.objSlab.count
        for (name, a, bound) in [("slab.obj_slab", slab.objSlab, used), ("slab.obj_next", slab.objNext, objects),
                                 ("slab.obj_prev", slab.objPrev, objects), ("slab.obj_parent", slab.objParent, objects)] {
            if let i = a.firstIndex(where: { !inRange($0, bound) }) { throw ImageReader.bad(name, "element \(i) is out of range") }
        }
        // A buffer head's link names a page slot; a dentry's its inode (an object).
        for i in 0..<objects where slab.objSlab[i] != NONE {
            let c = Int(slab.objFlags[i] & 0x0F)
            guard c < slab.caches.count else { throw ImageReader.bad("slab.obj_flags", "element \(i) names no cache") }
            let bound = c == SlabCache.bufferHead.rawValue ? used : objects
            if !inRange(slab.objLink[i], bound) { throw ImageReader.bad("slab.obj_link", "element \(i) is out of range") }
        }
        for c in slab.caches {
            guard inRange(c.partialHead, used), inRange(c.unusedHead, objects), inRange(c.unusedTail, objects) else {
                throw ImageReader.bad("slab.caches", "holds a list head out of range")
            }
        }
        guard inRange(slab.freeObj, objects) else { throw ImageReader.bad("slab.free_obj", "is out of range") }
        let slotBad = slab.bufferHeads.withBuffer { b in (0..<used).first { b[$0] != 0 && Int(b[$0]) - 1 >= objects } }
        if let s = slotBad { throw ImageReader.bad("slab.buffer_heads", "element \(s) is out of range") }
        let infoBad = slab.info.withBuffer { b in (0..<used).first { b[$0] != 0 && Int(b[$0] >> SlabStore.cacheShift) - 1 >= slab.caches.count } }
        if let s = infoBad { throw ImageReader.bad("slab.info", "element \(s) names no cache") }
        guard zoneCounters.kindPages.raw.count == zones.count * AllocKind.count else { throw ImageReader.bad("zone.kind_pages", "has the wrong size") }
    }
}

extension Machine {
    /// The page-cache trees of a version-2 image (a version-1 image has none: its files' pages stay
    /// outside any tree).
    private func restorePageCache(_ r: ImageReader, used: Int) throws(MMError) {
        guard r.version >= 2 else { return }
        try r.raw("pagecache.slot_inode", into: pageCache.slotInode, count: used)
        try r.raw("pagecache.slot_index", into: pageCache.slotIndex, count: used)
        try r.raw("pagecache.slot_next", into: pageCache.slotNext, count: used)
        try r.raw("pagecache.slot_prev", into: pageCache.slotPrev, count: used)
        pageCache.granules = try r.array("pagecache.granules", count: pageCache.granules.count, as: UInt8.self).map { $0 != 0 }
        pageCache.wordBytes = try r.int("pagecache.word_bytes")
        let objects = slab.objSlab.count
        let mkeys: [UInt32] = try r.array("pagecache.mapping_keys")
        let mv: [UInt32] = try r.array("pagecache.mappings", count: mkeys.count * 6)
        var mappings: [UInt32: AddressSpace] = [:]
        for (j, k) in mkeys.enumerated() {
            let v = mv[(6 * j)..<(6 * j + 6)].map { $0 }
            guard Int(k) < objects, slab.objSlab[Int(k)] != NONE, Int(slab.objFlags[Int(k)] & 0x0F) == SlabCache.inode.rawValue,
                  v[1] <= 6, v[3] == NONE || Int(v[3]) < used, v[4] == NONE || Int(v[4]) < used, mappings[k] == nil else {
                throw ImageReader.bad("pagecache.mappings", "entry \(j) is out of range")
            }
            mappings[k] = AddressSpace(nrpages: v[0], height: UInt8(v[1]), hasZero: v[2] != 0, head: v[3], tail: v[4], last: v[5])
        }
        let nkeys: [UInt64] = try r.array("pagecache.node_keys")
        let nv: [UInt32] = try r.array("pagecache.nodes", count: nkeys.count * 2)
        var nodes: [UInt64: RadixNode] = [:]
        for (j, k) in nkeys.enumerated() {
            let o = nv[2 * j]
            guard Int(o) < objects, slab.objSlab[Int(o)] != NONE, Int(slab.objFlags[Int(o)] & 0x0F) == SlabCache.radixTreeNode.rawValue,
                  mappings[UInt32(k >> 32)] != nil, nodes[k] == nil else {
                throw ImageReader.bad("pagecache.nodes", "entry \(j) is out of range")
            }
            nodes[k] = RadixNode(object: o, count: nv[2 * j + 1])
        }
        let bad = pageCache.slotInode.withBuffer { b in (0..<used).first { b[$0] != 0 && mappings[b[$0] &- 1] == nil } }
        if let s = bad { throw ImageReader.bad("pagecache.slot_inode", "element \(s) names no tree") }
        for (name, a) in [("pagecache.slot_next", pageCache.slotNext), ("pagecache.slot_prev", pageCache.slotPrev)] {
            let linkBad = a.withBuffer { b in (0..<used).first { pageCache.slotInode[$0] != 0 && b[$0] != NONE && Int(b[$0]) >= used } }
            if let s = linkBad { throw ImageReader.bad(name, "element \(s) is out of range") }
        }
        pageCache.mappings = mappings
        pageCache.nodes = nodes
    }
}

extension SlabObjectRef {
    /// A reference from its raw value (as `raw` gives it).
    init(raw: UInt64) { self.init(id: UInt32(truncatingIfNeeded: raw), generation: UInt32(truncatingIfNeeded: raw >> 32)) }
}
