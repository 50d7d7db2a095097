/// Slab caches of small objects: the dentry and inode caches of 2.6.35, whose shrinkers
/// (`shrink_dcache_memory`, `shrink_icache_memory`) free objects, not pages.
///
/// A slab page is an order-0 allocation of kind `slab` (MIGRATE_RECLAIMABLE, never migrated, never
/// taken by lumpy reclaim) that holds up to `objectsPerSlab` objects of one cache. Objects go into a
/// partly full slab of their cache first (as SLAB and SLUB do), a new slab page is allocated only when
/// none has room, and a slab page goes back to the page allocator when its last object is freed. So
/// objects of different ages share pages, and freeing the oldest objects empties few of them.
///
/// Objects a shrinker may free sit on their cache's LRU of unused objects, newest at the head: every
/// file's dentry from its creation (the files are closed), an inode only once its dentry is gone (a
/// dentry holds a reference on its inode), a directory's dentry only once it has no children (each
/// child dentry holds a reference on its parent, `d_count`). Deleting a file frees its dentry and its
/// inode.
///
/// Buffer heads (`buffer_head`, SLAB_RECLAIM_ACCOUNT) are in use for as long as their page-cache page
/// lives: 2.6.35 registers no shrinker for them; they go with their page (`try_to_release_page` when
/// reclaim drops it, truncate when the file is deleted).
///
/// Slab allocations made without a cache (`allocate` with kind `slab`, fills, actors, aging) are the
/// "page cache" of slab: one object per page, on the zone's `slab_reclaimable` LRU, shrunk oldest page
/// first by a third shrinker with the same formula.
///
/// The per-process caches (`task_struct` … `pgtable-2^4`, kernel-memory-2.6.35.md §2–§4) have no
/// SLAB_RECLAIM_ACCOUNT, so their slab pages are UNMOVABLE (kind `kernel`, no LRU, never shrunk): they
/// go back only when every object on them is freed, at exit. Like the other caches here their slabs
/// are order 0 (SLAB-like; SLUB would use order 1-3 slabs for the 2-KiB objects: not modelled).
public enum SlabCache: Int, CaseIterable, Sendable {
    case dentry = 0, inode = 1, bufferHead = 2
    case taskStruct = 3, mmStruct = 4, signalCache = 5, sighandCache = 6, filesCache = 7, credJar = 8, vmAreaStruct = 9
    case anonVma = 10, anonVmaChain = 11
    /// ppc64 with 64 KiB pages: 16 KiB kernel stacks (`alloc_thread_info`, arch/powerpc/kernel/process.c).
    case threadInfo = 12
    /// ppc64 64K page tables: PMD tables of 32 KiB and PGDs of 128 B (`pgtable_cache_add`, arch/powerpc/mm/init_64.c).
    case pgtable12 = 13, pgtable4 = 14
    /// The page cache's radix-tree nodes (`radix_tree_node`, lib/radix-tree.c `radix_tree_init`:
    /// SLAB_PANIC|SLAB_RECLAIM_ACCOUNT, so RECLAIMABLE; PageCache/AddressSpace.swift).
    case radixTreeNode = 15

    public var name: String {
        ["dentry", "inode_cache", "buffer_head", "task_struct", "mm_struct", "signal_cache", "sighand_cache", "files_cache",
         "cred_jar", "vm_area_struct", "anon_vma", "anon_vma_chain", "thread_info", "pgtable-2^12", "pgtable-2^4",
         "radix_tree_node"][rawValue]
    }
    /// Object size in bytes (2.6.35 x86-64: `struct dentry` 192 B; an ext3 inode about 600 B;
    /// `struct buffer_head` 104 B; per process, kernel-memory-2.6.35.md §4: task_struct ≈1728 B [U],
    /// mm_struct ≈896 B [U], signal_struct ≈1024 B [U], sighand 2112 B, files_struct ≈704 B, cred ≈192 B [U],
    /// vm_area_struct 176 B (NUMA), anon_vma 32 B stride, anon_vma_chain 48 B; ppc64 thread_info 16 KiB,
    /// PMD 32 KiB, PGD 128 B; `struct radix_tree_node` 552 B, a SLUB stride of 560 B with its ctor's free
    /// pointer, kernel-memory-2.6.35.md §5). The 64-bit sizes serve every preset (the 32-bit ones are about half).
    public var objectSize: Int {
        [192, 600, 104, 1728, 896, 1024, 2112, 704, 192, 176, 32, 48, 16384, 32768, 128, 560][rawValue]
    }
    /// Whether `shrink_slab` has a shrinker for the cache (the dcache and icache only).
    public var hasShrinker: Bool { self == .dentry || self == .inode }
    /// SLAB_RECLAIM_ACCOUNT: the reclaimable caches' slab pages are kind `slab` (MIGRATE_RECLAIMABLE),
    /// the others' kind `kernel` (MIGRATE_UNMOVABLE).
    public var pageKind: AllocKind {
        rawValue <= SlabCache.bufferHead.rawValue || self == .radixTreeNode ? .slab : .kernel
    }
    /// Objects in one slab page of `pageSize` bytes (at least one: a cache whose objects do not fit a page
    /// is used only where they do; at most the 11 bits of count a slab page's word holds, `SlabStore.countMask`:
    /// only ppc64's 32-byte anon_vma objects would fit more, 2048 in a 64 KiB page).
    public func objectsPerSlab(pageSize: Int) -> Int { Swift.min(Int(SlabStore.countMask), Swift.max(1, pageSize / objectSize)) }
}

/// A reference to one slab object: `generation << 32 | id`, so a stale reference (object freed, id
/// reused) resolves to nothing.
public struct SlabObjectRef: Hashable, Sendable {
    public let raw: UInt64
    init(id: UInt32, generation: UInt32) { raw = UInt64(generation) << 32 | UInt64(id) }
    var id: Int { Int(UInt32(truncatingIfNeeded: raw)) }
    var generation: UInt32 { UInt32(truncatingIfNeeded: raw >> 32) }
}

/// A file a workload made: its page-cache pages and its metadata objects (a directory of updatedb's
/// tree is a record without pages whose dentry its files' dentries pin).
struct FileRecord {
    var pages: [PageHandle]
    var dentry: SlabObjectRef?
    var inode: SlabObjectRef?
}

/// Per cache: its objects and slab pages, its partial slabs (threaded through the slab pages' handle
/// LRU links, which slab pages do not otherwise use), its LRU of unused objects and its shrinker's
/// deferred scan count (`shrinker->nr`).
struct SlabCacheState {
    let objectsPerSlab: Int
    var objects = 0
    var slabs = 0
    var partialHead: UInt32 = NONE
    var unusedHead: UInt32 = NONE
    var unusedTail: UInt32 = NONE
    var nrUnused = 0
    var deferred = 0
}

/// The slab state of a machine. Per handle slot of a slab page, a 16-bit word: 0 for a page without a
/// cache, else `(cache + 1) << 12 | objects in use`. The array spans the handle table and is mapped
/// lazily like it, so only granules holding a slot that was ever a cache's slab page cost memory (an
/// anon or page-cache slot never writes its word). Per handle slot of a page-cache page, a 32-bit
/// word: 0, or 1 + the first of its buffer heads (so freeing a page finds them in O(1)); mapped the
/// same way, so only granules of pages that ever had buffer heads cost memory. Which granules were
/// written is kept (`infoGranules`, `bufferHeadGranules`), and a new one is asked for before it is
/// written (`Machine.touchSlabWord`).
/// Objects live in a table of their own (slab page slot, generation, LRU links, the inode a dentry pins
/// or the page slot a buffer head belongs to, the parent dentry and the children of a dentry, cache and
/// LRU flag). A page's buffer heads are chained through `objNext` (a buffer head is never on an LRU).
struct SlabStore {
    let info: RawArray<UInt16>
    let bufferHeads: RawArray<UInt32>
    var caches: [SlabCacheState]
    var objSlab: [UInt32] = []
    var objGeneration: [UInt32] = []
    var objNext: [UInt32] = []
    var objPrev: [UInt32] = []
    var objLink: [UInt32] = []
    /// A dentry's parent dentry (NONE for a root or another cache's object).
    var objParent: [UInt32] = []
    /// A dentry's child dentries (its d_count from them).
    var objChildren: [UInt32] = []
    /// Bits 0-3: cache; bit 7: on the cache's unused LRU.
    var objFlags: [UInt8] = []
    var freeObj: UInt32 = NONE
    /// The default cache's shrinker's deferred count (pages on the slab_reclaimable LRU).
    var pageShrinkerDeferred = 0
    /// Granules of `info` and `bufferHeads` written so far (see the type's comment), and their bytes.
    var infoGranules: [Bool]
    var bufferHeadGranules: [Bool]
    var wordBytes = 0

    /// A slab page's word: `(cache + 1) << cacheShift | objects in use` (5 bits of cache, 11 of count;
    /// machine state version 1 had 4 and 12, converted when such an image is restored).
    static let countMask: UInt16 = 0x07FF
    static let cacheShift: UInt16 = 11
    static let onLru: UInt8 = 0x80
    /// A buffer head's block lies past the end of its file (a page straddling i_size): writeback never
    /// writes it (`__block_write_full_page` cleans such buffers instead of submitting them). Clear on old
    /// images, whose pages were all within their files.
    static let beyondEOF: UInt8 = 0x40
    /// Bytes of one object in the eight object arrays.
    static let objectBytes = 4 * 7 + 1

    init(capacity: Int, pageSize: Int, arena: RawArena) {
        info = RawArray(zeroed: capacity, arena: arena, lazy: true)
        bufferHeads = RawArray(zeroed: capacity, arena: arena, lazy: true)
        caches = SlabCache.allCases.map { SlabCacheState(objectsPerSlab: $0.objectsPerSlab(pageSize: pageSize)) }
        precondition(caches.allSatisfy { $0.objectsPerSlab >= 1 && $0.objectsPerSlab <= Int(SlabStore.countMask) })
        infoGranules = Array(repeating: false, count: (info.byteCount + info.granule - 1) / info.granule)
        bufferHeadGranules = Array(repeating: false, count: (bufferHeads.byteCount + bufferHeads.granule - 1) / bufferHeads.granule)
    }

    /// Capacity of the object arrays (they grow together, `Machine.growSlabObjects`; the smallest, as
    /// the allocator may round one up).
    var objectCapacity: Int {
        Swift.min(objSlab.capacity, objGeneration.capacity, objNext.capacity, objPrev.capacity, objLink.capacity,
                  objFlags.capacity, objParent.capacity, objChildren.capacity)
    }

    /// Bytes of the object arrays at a capacity of `objects`.
    static func objectArrayBytes(capacity objects: Int) -> Int {
        objects == 0 ? 0 : objects * objectBytes + 8 * HeapCost.arrayOverhead
    }

    /// Bytes this store holds: the granules of per-slot words written, the object arrays, the bitmaps.
    var byteCount: Int {
        wordBytes + SlabStore.objectArrayBytes(capacity: objectCapacity) + infoGranules.count + bufferHeadGranules.count
            + caches.count * MemoryLayout<SlabCacheState>.stride
    }

    @inline(__always) func cache(ofSlot s: Int) -> Int { Int(info[s] >> SlabStore.cacheShift) - 1 }
    @inline(__always) static func word(cache c: Int, count n: Int) -> UInt16 { UInt16(c + 1) << cacheShift | UInt16(n) }
    @inline(__always) func count(ofSlot s: Int) -> Int { Int(info[s] & SlabStore.countMask) }

    /// A live object's id, or nil for a stale reference.
    func resolve(_ r: SlabObjectRef) -> Int? {
        let i = r.id
        guard i < objSlab.count, objSlab[i] != NONE, objGeneration[i] == r.generation else { return nil }
        return i
    }
}

extension Machine {
    public static let shrinkBatch = 128
    /// DEFAULT_SEEKS of the dcache and icache shrinkers.
    public static let defaultSeeks = 2
    /// sysctl_vfs_cache_pressure.
    public static let vfsCachePressure = 100

    /// Live objects, slab pages and unused (shrinkable) objects of a cache.
    public func slabCacheStats(_ c: SlabCache) -> (objects: Int, slabs: Int, unused: Int, objectsPerSlab: Int) {
        let s = slab.caches[c.rawValue]
        return (s.objects, s.slabs, s.nrUnused, s.objectsPerSlab)
    }

    /// Whether a slab object is still allocated.
    public func isLive(_ r: SlabObjectRef) -> Bool { slab.resolve(r) != nil }

    /// The pfn of the slab page holding a live object.
    public func slabPfn(of r: SlabObjectRef) -> Pfn? {
        guard let i = slab.resolve(r) else { return nil }
        return Pfn(link: handles.pfn[Int(slab.objSlab[i])])
    }

    // MARK: partial lists

    private func partialPush(_ c: Int, slot: Int) {
        let h = slab.caches[c].partialHead
        handles.lruNext[slot] = h
        handles.lruPrev[slot] = NONE
        if h != NONE { handles.lruPrev[Int(h)] = UInt32(slot) }
        slab.caches[c].partialHead = UInt32(slot)
    }

    private func partialRemove(_ c: Int, slot: Int) {
        let n = handles.lruNext[slot], p = handles.lruPrev[slot]
        if p != NONE { handles.lruNext[Int(p)] = n } else { slab.caches[c].partialHead = n }
        if n != NONE { handles.lruPrev[Int(n)] = p }
        handles.lruNext[slot] = NONE
        handles.lruPrev[slot] = NONE
    }

    // MARK: object LRU

    func objLruAdd(_ c: Int, _ i: Int) {
        let h = slab.caches[c].unusedHead
        slab.objNext[i] = h
        slab.objPrev[i] = NONE
        if h != NONE { slab.objPrev[Int(h)] = UInt32(i) } else { slab.caches[c].unusedTail = UInt32(i) }
        slab.caches[c].unusedHead = UInt32(i)
        slab.objFlags[i] |= SlabStore.onLru
        slab.caches[c].nrUnused += 1
    }

    func objLruDel(_ c: Int, _ i: Int) {
        let n = slab.objNext[i], p = slab.objPrev[i]
        if p != NONE { slab.objNext[Int(p)] = n } else { slab.caches[c].unusedHead = n }
        if n != NONE { slab.objPrev[Int(n)] = p } else { slab.caches[c].unusedTail = p }
        slab.objNext[i] = NONE
        slab.objPrev[i] = NONE
        slab.objFlags[i] &= ~SlabStore.onLru
        slab.caches[c].nrUnused -= 1
    }

    // MARK: allocation and free

    /// Allocates one object of a cache (`kmem_cache_alloc`, GFP_KERNEL): into a partly full slab if the
    /// cache has one, else into a new slab page (which may reclaim). `unused` puts it on the cache's LRU
    /// at once; `pins` makes it hold a reference on another object (a dentry on its inode). Returns nil
    /// when no slab page can be allocated.
    /// `parent` makes a dentry a child of a directory's dentry, which it keeps off the LRU.
    ///
    /// With a state gate, growth is asked for first: the object arrays before anything changes, the slab
    /// word of a new slab page once the page is known (a refusal then frees the page again); either
    /// refusal returns nil.
    ///
    /// kswapd, which an allocation of a new slab page may wake, runs once the object is in place: in the
    /// kernel it runs beside the allocating task, and the new page is never on an LRU list, but here it
    /// runs when the allocation returns, and would meet the new page on the page-level slab list before
    /// the cache took it off, and free it under the cache (`cache_grow` owns the page from the moment
    /// `kmem_getpages` returns it).
    func slabAlloc(_ cache: SlabCache, unused: Bool, pins: SlabObjectRef? = nil, parent: SlabObjectRef? = nil,
                   gfp: GFPFlags = .kernel) -> SlabObjectRef? {
        kswapdHeld += 1
        defer {
            kswapdHeld -= 1
            if kswapdHeld == 0 && kswapdOwed {
                kswapdOwed = false
                runPendingKswapd()
            }
        }
        let c = cache.rawValue
        if slab.freeObj == NONE && slab.objSlab.count == slab.objectCapacity && !growSlabObjects() { return nil }
        if slab.caches[c].partialHead == NONE {
            let kind = cache.pageKind
            guard let o = try? allocate(AllocRequest(order: 0, kind: kind, gfp: gfp)), let h = o.handle else { return nil }
            let s = handles.slot(of: h)
            guard touchSlabWord(info: true, slot: s) else {
                freeAllocation(slot: s)
                return nil
            }
            // A cache's slab page lives on its cache's lists, not on the page-level slab LRU (an
            // unmovable cache's page is on no LRU at all).
            if kind == .slab { lruDel(slot: s, zone: ZoneID(o.zone), list: .slab, pages: 1) }
            slab.info[s] = SlabStore.word(cache: c, count: 0)
            slab.caches[c].slabs += 1
            partialPush(c, slot: s)
        }
        let s = Int(slab.caches[c].partialHead)
        let n = slab.count(ofSlot: s) + 1
        slab.info[s] = SlabStore.word(cache: c, count: n)
        if n == slab.caches[c].objectsPerSlab { partialRemove(c, slot: s) }
        slab.caches[c].objects += 1
        let i: Int
        if slab.freeObj != NONE {
            i = Int(slab.freeObj)
            slab.freeObj = slab.objNext[i]
        } else {
            i = slab.objSlab.count
            slab.objSlab.append(NONE); slab.objGeneration.append(0); slab.objNext.append(NONE)
            slab.objPrev.append(NONE); slab.objLink.append(NONE); slab.objFlags.append(0)
            slab.objParent.append(NONE); slab.objChildren.append(0)
        }
        // Never wraps: an id at UInt32.max is retired when freed (`slabFreeObject`).
        let g = slab.objGeneration[i] &+ 1
        slab.objGeneration[i] = g
        slab.objSlab[i] = UInt32(s)
        slab.objNext[i] = NONE
        slab.objPrev[i] = NONE
        slab.objLink[i] = pins.flatMap { slab.resolve($0) }.map { UInt32($0) } ?? NONE
        slab.objFlags[i] = UInt8(c)
        slab.objParent[i] = NONE
        slab.objChildren[i] = 0
        if let p = parent.flatMap({ slab.resolve($0) }) {
            // d_alloc takes a reference on the parent (dget): a dentry with children is in use.
            slab.objParent[i] = UInt32(p)
            slab.objChildren[p] += 1
            if slab.objFlags[p] & SlabStore.onLru != 0 { objLruDel(Int(slab.objFlags[p] & 0x0F), p) }
        }
        if unused { objLruAdd(c, i) }
        bumpGeneration()
        return SlabObjectRef(id: UInt32(i), generation: g)
    }

    /// Frees a live object (`kmem_cache_free`); the slab page goes back to the page allocator when this
    /// was its last object. Returns the object it pinned (NONE if none), its parent dentry (NONE if none;
    /// the reference on it is dropped) and whether a page was freed.
    @discardableResult
    func slabFreeObject(_ i: Int) -> (pinned: UInt32, parent: UInt32, pageFreed: Bool) {
        let c = Int(slab.objFlags[i] & 0x0F)
        // An inode goes with its page cache (`truncate_inode_pages` as it is evicted; prune_icache frees
        // only inodes without pages, and a deleted file's pages are freed first).
        if c == SlabCache.inode.rawValue && pageCache.mappings[UInt32(i)] != nil { truncateInodePages(inode: i) }
        if slab.objFlags[i] & SlabStore.onLru != 0 { objLruDel(c, i) }
        let s = Int(slab.objSlab[i])
        let pinned = c == SlabCache.bufferHead.rawValue ? NONE : slab.objLink[i]
        let parent = slab.objParent[i]
        if parent != NONE { slab.objChildren[Int(parent)] -= 1 }
        slab.objSlab[i] = NONE
        slab.objLink[i] = NONE
        slab.objParent[i] = NONE
        slab.objFlags[i] = 0
        // An id freed at its last generation is retired (never reused), so that a stale reference can
        // never name a later object (as `HandleTable` retires slots).
        if slab.objGeneration[i] == UInt32.max {
            slab.objNext[i] = NONE
        } else {
            slab.objNext[i] = slab.freeObj
            slab.freeObj = UInt32(i)
        }
        slab.caches[c].objects -= 1
        let per = slab.caches[c].objectsPerSlab
        let n = slab.count(ofSlot: s) - 1
        let wasFull = n + 1 == per
        bumpGeneration()
        if n == 0 {
            if !wasFull { partialRemove(c, slot: s) }
            // The page is off every LRU (its info still names the cache), so freeing it touches none.
            freeAllocation(slot: s)
            slab.info[s] = 0
            slab.caches[c].slabs -= 1
            return (pinned, parent, true)
        }
        slab.info[s] = SlabStore.word(cache: c, count: n)
        if wasFull { partialPush(c, slot: s) }
        return (pinned, parent, false)
    }

    /// Frees one live object of a cache without references (`kmem_cache_free`); nothing for a stale
    /// reference.
    func slabFree(_ r: SlabObjectRef) {
        if let i = slab.resolve(r) { slabFreeObject(i) }
    }

    /// `slabFree` of a live object by id (the page cache's radix-tree nodes, which it names by id).
    func slabFreeId(_ i: Int) { slabFreeObject(i) }

    /// `dput` of a file's dentry when its last user closes it: it goes on the dentry LRU (unused) unless
    /// it has children or is there already. Nothing for a stale reference.
    func dentryRelease(_ r: SlabObjectRef?) {
        guard let r, let i = slab.resolve(r), slab.objChildren[i] == 0, slab.objFlags[i] & SlabStore.onLru == 0 else { return }
        objLruAdd(Int(slab.objFlags[i] & 0x0F), i)
        bumpGeneration()
    }

    /// Deletes a file's metadata (unlink, then the last iput): its dentry and its inode are freed. The
    /// dentry's parent, if this was its last child, becomes unused (dput puts it on the LRU). A directory
    /// that still has children is not deleted (rmdir fails with ENOTEMPTY): returns false.
    @discardableResult
    func deleteFileMetadata(_ f: FileRecord) -> Bool {
        if let d = f.dentry, let i = slab.resolve(d), slab.objChildren[i] > 0 { return false }
        if let d = f.dentry, let i = slab.resolve(d) {
            let parent = slabFreeObject(i).parent
            if parent != NONE && slab.objChildren[Int(parent)] == 0 && slab.objFlags[Int(parent)] & SlabStore.onLru == 0 {
                objLruAdd(Int(slab.objFlags[Int(parent)] & 0x0F), Int(parent))
            }
        }
        if let n = f.inode, let i = slab.resolve(n) { slabFreeObject(i) }
        return true
    }

    /// Creates a file's metadata as `open(O_CREAT)` or a lookup does: an inode, then the dentry that
    /// pins it (a child of `parent`, a directory's dentry, if given). The dentry is unused (on its LRU)
    /// at once unless the file stays `open`, until `dentryRelease`.
    func createFileMetadata(parent: SlabObjectRef? = nil, open: Bool = false) -> (dentry: SlabObjectRef?, inode: SlabObjectRef?) {
        let inode = slabAlloc(.inode, unused: false)
        let dentry = slabAlloc(.dentry, unused: !open, pins: inode, parent: parent)
        return (dentry, inode)
    }

    // MARK: growth

    /// Makes room in the object arrays (twice the capacity, at least 64 objects), asking the state gate
    /// first; false (nothing changed) if it refuses.
    func growSlabObjects() -> Bool {
        let cap = slab.objectCapacity
        let newCap = Swift.max(64, cap * 2)
        // The new buffers whole: the old ones are only freed once their elements are copied over.
        guard mayGrowState(by: SlabStore.objectArrayBytes(capacity: newCap)) else {
            return false
        }
        slab.objSlab.reserveCapacity(newCap); slab.objGeneration.reserveCapacity(newCap); slab.objNext.reserveCapacity(newCap)
        slab.objPrev.reserveCapacity(newCap); slab.objLink.reserveCapacity(newCap); slab.objFlags.reserveCapacity(newCap)
        slab.objParent.reserveCapacity(newCap); slab.objChildren.reserveCapacity(newCap)
        return true
    }

    /// Before the slab word (`info`) or buffer-head word of `slot` is first written: counts its granule
    /// when it is a new one, asking the state gate; false if it refuses.
    func touchSlabWord(info: Bool, slot: Int) -> Bool {
        let g = info ? slab.info.granuleIndex(of: slot) : slab.bufferHeads.granuleIndex(of: slot)
        if info ? slab.infoGranules[g] : slab.bufferHeadGranules[g] { return true }
        let bytes = info ? slab.info.granule : slab.bufferHeads.granule
        guard mayGrowState(by: bytes) else { return false }
        if info { slab.infoGranules[g] = true } else { slab.bufferHeadGranules[g] = true }
        slab.wordBytes += bytes
        return true
    }

    // MARK: buffer heads

    /// Attaches `count` buffer heads to a live page-cache page (`create_empty_buffers` from ext3's
    /// write_begin, allocated GFP_NOFS unless told otherwise). Each records the page's handle slot; the
    /// page's slot names the first and they are chained. If the page went while they were allocated (the
    /// kernel holds the page locked, so reclaim would skip it; the simulator re-checks) they are freed
    /// again. With `withinEOF` < `count` the page straddles the end of its file: the buffer heads of its
    /// last `count - withinEOF` blocks are marked past it (`SlabStore.beyondEOF`). Returns whether every
    /// buffer head could be allocated.
    @discardableResult
    func attachBuffers(_ h: PageHandle, count: Int, withinEOF: Int? = nil, gfp: GFPFlags = [.wait, .io]) -> Bool {
        var first = NONE, last = NONE
        var ok = true
        for _ in 0..<count {
            guard let r = slabAlloc(.bufferHead, unused: false, gfp: gfp) else { ok = false; break }
            let i = UInt32(r.id)
            if last != NONE { slab.objNext[Int(last)] = i } else { first = i }
            last = i
        }
        guard let slot = handles.resolve(h), PageState.kind(pages.state[Pfn(link: handles.pfn[slot])]) == .file,
              slab.bufferHeads[slot] == 0, first == NONE || touchSlabWord(info: false, slot: slot) else {
            freeBufferChain(first)
            return false
        }
        var cur = first
        var block = 0
        let eof = withinEOF ?? count
        while cur != NONE {
            slab.objLink[Int(cur)] = UInt32(slot)
            if block >= eof { slab.objFlags[Int(cur)] |= SlabStore.beyondEOF }
            block += 1
            cur = slab.objNext[Int(cur)]
        }
        slab.bufferHeads[slot] = first == NONE ? 0 : first &+ 1
        return ok
    }

    /// The bytes writeback writes for a dirty page-cache page (`pageout` → `block_write_full_page`): the
    /// whole page without buffer heads; with them, only its blocks within the file's size (their share
    /// of the page: the buffer heads split it evenly).
    func writebackBytes(slot: Int) -> Int {
        let pageBytes = 1 << pageShift
        var cur = slab.bufferHeads[slot]
        guard cur != 0 else { return pageBytes }
        cur &-= 1
        var blocks = 0, written = 0
        while cur != NONE {
            blocks += 1
            if slab.objFlags[Int(cur)] & SlabStore.beyondEOF == 0 { written += 1 }
            cur = slab.objNext[Int(cur)]
        }
        return written == blocks ? pageBytes : pageBytes / blocks * written
    }

    /// `try_to_free_buffers`: frees a page-cache page's buffer heads as the page goes (reclaim, truncate).
    /// Returns the slab pages freed with them.
    @inline(__always) @discardableResult
    func releaseBuffers(slot: Int) -> Int {
        guard slab.caches[SlabCache.bufferHead.rawValue].objects != 0 else { return 0 }
        let b = slab.bufferHeads[slot]
        guard b != 0 else { return 0 }
        slab.bufferHeads[slot] = 0
        return freeBufferChain(b &- 1)
    }

    @discardableResult
    private func freeBufferChain(_ first: UInt32) -> Int {
        var cur = first, pages = 0
        while cur != NONE {
            let i = Int(cur)
            cur = slab.objNext[i]
            if slabFreeObject(i).pageFreed { pages += 1 }
        }
        return pages
    }

    /// The buffer heads of a live page-cache page.
    public func bufferHeadCount(of h: PageHandle) -> Int {
        guard let slot = handles.resolve(h) else { return 0 }
        var n = 0, cur = slab.bufferHeads[slot] &- 1
        while slab.bufferHeads[slot] != 0 && cur != NONE { n += 1; cur = slab.objNext[Int(cur)] }
        return n
    }

    // MARK: shrinkers

    /// `shrink_dcache_memory` / `shrink_icache_memory` with nr = 0: the unused objects, counted as the
    /// kernel does (nr_unused / 100 × vfs_cache_pressure).
    func shrinkerCount(_ c: Int) -> Int { slab.caches[c].nrUnused / 100 * Machine.vfsCachePressure }

    /// `prune_dcache`: free up to `nr` unused objects from the tail of the cache's LRU (oldest first). A
    /// pruned dentry drops its reference on its inode, which becomes unused. Returns the slab pages
    /// freed. (The icache's shrinker is `pruneIcache`, Vmscan/PruneIcache.swift.)
    func pruneCache(_ c: Int, _ nr: Int) -> Int {
        var pages = 0
        var left = nr
        while left > 0, slab.caches[c].unusedTail != NONE {
            let i = Int(slab.caches[c].unusedTail)
            var (pinned, parent, freed) = slabFreeObject(i)
            if freed { pages += 1 }
            if pinned != NONE, slab.objSlab[Int(pinned)] != NONE, slab.objFlags[Int(pinned)] & SlabStore.onLru == 0 {
                objLruAdd(Int(slab.objFlags[Int(pinned)] & 0x0F), Int(pinned))
            }
            // prune_one_dentry prunes the ancestors whose last reference this was at once.
            while parent != NONE && slab.objChildren[Int(parent)] == 0 {
                let r = slabFreeObject(Int(parent))
                if r.pageFreed { pages += 1 }
                if r.pinned != NONE, slab.objSlab[Int(r.pinned)] != NONE, slab.objFlags[Int(r.pinned)] & SlabStore.onLru == 0 {
                    objLruAdd(Int(slab.objFlags[Int(r.pinned)] & 0x0F), Int(r.pinned))
                }
                parent = r.parent
            }
            left -= 1
        }
        return pages
    }

    /// One shrinker's turn in `shrink_slab` (2.6.35): delta = 4 × scanned / seeks × max_pass / (lru_pages + 1)
    /// is added to the deferred count (capped at 2 × max_pass), and the shrinker is called in batches of
    /// SHRINK_BATCH while that many remain; the remainder is deferred to the next call. `count` and
    /// `shrink` are the shrinker's callbacks. Returns the objects freed (as the kernel counts them:
    /// the drop in the shrinker's count) and the pages freed.
    /// A shrinker that cannot run in this context (the dcache and icache ones without __GFP_FS return -1)
    /// defers everything.
    func runShrinker(scanned: Int, lruPages: Int, deferred: inout Int, mayShrink: Bool = true, count: () -> Int,
                     shrink: (Int) -> Int) -> (objects: Int, pages: Int) {
        let maxPass = count()
        var nr = deferred + 4 * scanned / Machine.defaultSeeks * maxPass / (lruPages + 1)
        if nr > 2 * maxPass { nr = 2 * maxPass }
        var totalScan = nr
        var objects = 0, pages = 0
        while totalScan >= Machine.shrinkBatch && mayShrink {
            let before = count()
            pages += shrink(Machine.shrinkBatch)
            let after = count()
            if after < before { objects += before - after }
            ev.slabsScanned &+= UInt64(Machine.shrinkBatch)
            totalScan -= Machine.shrinkBatch
        }
        deferred = totalScan
        return (objects, pages)
    }
}
