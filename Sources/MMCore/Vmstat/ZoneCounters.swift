/// The per-zone page counters: the `zone->vm_stat[]` items the model keeps (NR_FREE_PAGES, the
/// per-kind gauges, NR_FILE_DIRTY, NR_ISOLATED_ANON/FILE) and the zone's share of the allocation
/// events (PGALLOC and the successful allocations the NUMA counters are made of). One flat array of
/// small integers per counter, indexed by `ZoneID` (and kind, or anon/file), so callers never compute
/// an offset: `zoneCounters.kindPages[z, .anon]`, `zoneCounters.isolated[z, .file]`.
///
/// Owned by one `Machine` (its arrays live in the machine's arena); the machine's snapshot writes and
/// reads each array whole (`MachineState.swift`), under the names the fields had before.
struct ZoneCounters {
    /// NR_FREE_PAGES: pages on the zone's buddy free lists (not its per-CPU lists).
    let freePages: PerZone<Int>
    /// PGALLOC of the zone, in pages.
    let pgalloc: PerZone<UInt64>
    /// Successful allocations from the zone (numa_hit + numa_miss, summed in `Machine.counters`).
    let allocations: PerZone<UInt64>
    /// Allocated pages per kind: the nr_anon_pages / nr_file_pages / nr_slab_* gauges.
    let kindPages: PerZoneKind
    /// NR_FILE_DIRTY: dirty page-cache pages (nr_dirty).
    let dirty: PerZone<Int64>
    /// NR_ISOLATED_ANON and NR_ISOLATED_FILE: pages taken off the LRU by compaction or reclaim.
    let isolated: PerZoneIsolated
    /// NR_PAGETABLE (nr_page_table_pages): the PTE pages of processes' page tables, which 2.6.35 counts
    /// in `pgtable_page_ctor` (called by `pte_alloc_one`, not for the PGD and upper levels).
    let pageTables: PerZone<Int64>
    /// NR_KERNEL_STACK (nr_kernel_stack): kernel stacks, one per task (`account_kernel_stack` in
    /// dup_task_struct and free_task), in the zone of the stack's page, whatever THREAD_SIZE is.
    let kernelStacks: PerZone<Int64>
    /// Pages of the `kernel` kind that are not slab: every page-table page (all levels), the stacks'
    /// page blocks and the hugetlb pool's pages. 2.6.35 counts none of them in NR_SLAB_UNRECLAIMABLE,
    /// which is the kind's pages less these.
    let kernelNotSlab: PerZone<Int64>

    init(zones: Int, arena: RawArena) {
        freePages = PerZone(zones: zones, arena: arena)
        pgalloc = PerZone(zones: zones, arena: arena)
        allocations = PerZone(zones: zones, arena: arena)
        kindPages = PerZoneKind(zones: zones, arena: arena)
        dirty = PerZone(zones: zones, arena: arena)
        isolated = PerZoneIsolated(zones: zones, arena: arena)
        pageTables = PerZone(zones: zones, arena: arena)
        kernelStacks = PerZone(zones: zones, arena: arena)
        kernelNotSlab = PerZone(zones: zones, arena: arena)
    }

    /// Bytes of the counters' arrays.
    var byteCount: Int {
        freePages.raw.byteCount + pgalloc.raw.byteCount + allocations.raw.byteCount + kindPages.raw.byteCount
            + dirty.raw.byteCount + isolated.raw.byteCount + pageTables.raw.byteCount + kernelStacks.raw.byteCount
            + kernelNotSlab.raw.byteCount
    }
}

/// One integer per zone, indexed by `ZoneID`.
struct PerZone<Element: FixedWidthInteger> {
    /// The flat array, zone id at its index (snapshots write and read it whole).
    let raw: RawArray<Element>

    init(zones: Int, arena: RawArena) { raw = RawArray(zeroed: zones, arena: arena) }

    subscript(z: ZoneID) -> Element {
        @inline(__always) get { raw[z.rawValue] }
        @inline(__always) nonmutating set { raw[z.rawValue] = newValue }
    }
}

/// One `Int64` gauge per (zone, allocation kind): `raw[zone * AllocKind.count + kind]`.
struct PerZoneKind {
    let raw: RawArray<Int64>

    init(zones: Int, arena: RawArena) { raw = RawArray(zeroed: zones * AllocKind.count, arena: arena) }

    subscript(z: ZoneID, kind: AllocKind) -> Int64 {
        @inline(__always) get { self[z, kindRaw: Int(kind.rawValue)] }
        @inline(__always) nonmutating set { self[z, kindRaw: Int(kind.rawValue)] = newValue }
    }

    /// The same by the kind's raw value, as the hot paths decode it from a page's state byte
    /// (`PageState.kindRawValue`) without building the enum.
    subscript(z: ZoneID, kindRaw kind: Int) -> Int64 {
        @inline(__always) get { raw[z.rawValue &* AllocKind.count &+ kind] }
        @inline(__always) nonmutating set { raw[z.rawValue &* AllocKind.count &+ kind] = newValue }
    }
}

/// Which of a zone's two isolated counters a page counts in: `NR_ISOLATED_ANON + page_is_file_cache(page)`.
enum IsolatedLru: Int {
    case anon = 0
    case file = 1

    /// The counter of a page of that kind (page-cache pages are file, every other kind anon).
    @inline(__always) init(kind: AllocKind) { self = kind == .file ? .file : .anon }
    /// The same from a page's state byte (`PageState.kindRawValue`), without building the kind.
    @inline(__always) init(kindRaw: Int) { self = kindRaw == Int(AllocKind.file.rawValue) ? .file : .anon }
}

/// NR_ISOLATED_ANON and NR_ISOLATED_FILE per zone: `raw[zone * 2 + (file ? 1 : 0)]`.
struct PerZoneIsolated {
    let raw: RawArray<Int64>

    init(zones: Int, arena: RawArena) { raw = RawArray(zeroed: zones * 2, arena: arena) }

    subscript(z: ZoneID, lru: IsolatedLru) -> Int64 {
        @inline(__always) get { raw[z.rawValue &* 2 &+ lru.rawValue] }
        @inline(__always) nonmutating set { raw[z.rawValue &* 2 &+ lru.rawValue] = newValue }
    }

    /// Both counters of the zone: what `too_many_isolated` compares with the LRU sizes.
    @inline(__always) func total(_ z: ZoneID) -> Int64 { self[z, .anon] &+ self[z, .file] }
}
