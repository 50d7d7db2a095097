/// The page cache of a file as 2.6.35 keeps it: its inode's `address_space`, whose pages sit in a radix
/// tree (`mapping->page_tree`) of `radix_tree_node` slab objects (SLAB_RECLAIM_ACCOUNT, so their slab
/// pages are MIGRATE_RECLAIMABLE: `SlabCache.radixTreeNode`).
///
/// The tree follows lib/radix-tree.c with RADIX_TREE_MAP_SHIFT 6 (64 slots a node):
/// * `radix_tree_insert` / `radix_tree_extend`: a tree of height h holds indices up to 64^h - 1; a
///   single page at index 0 of an empty tree sits in the root itself (height 0, no node). Inserting an
///   index beyond the height first adds new roots above the old one (each holding the old root in its
///   slot 0; nothing is allocated while the tree is empty), then the missing nodes on the path down.
///   So a file of 2..64 pages has one node, one of 65..128 pages three (a root and two leaves).
/// * `radix_tree_delete`: a node whose count drops to 0 is freed, and so is every ancestor this
///   empties; when the deletion stops at the root, `radix_tree_shrink` lowers the height while the root
///   holds only its slot 0. An empty tree has height 0.
/// * the nodes an insertion may need are allocated before the tree is touched (`radix_tree_preload`,
///   called by `add_to_page_cache_locked` with the mapping's gfp mask, here GFP_KERNEL); if one cannot
///   be allocated the page is not added (-ENOMEM). Freed nodes go back at once (the kernel's `call_rcu`
///   grace period is not modelled).
///
/// A tree is keyed by its inode (the slab object id of the file's inode) and exists while it holds
/// pages: an empty `address_space` holds nothing the model needs. Nodes are identified by (inode,
/// level, index >> 6·(level + 1)), level 0 being the leaves. Each page-cache page's handle slot names its
/// inode and index, and the pages of one file are linked in insertion order, so `prune_icache` can walk
/// them (`invalidate_mapping_pages`, Vmscan/PruneIcache.swift).
struct RadixNode: Equatable {
    /// The node's `radix_tree_node` slab object.
    var object: UInt32
    /// `node->count`: pages in a leaf, child nodes in an interior node.
    var count: UInt32
}

/// One file's page tree (`struct address_space` fields the model needs).
struct AddressSpace: Equatable {
    /// `mapping->nrpages`.
    var nrpages: UInt32 = 0
    /// `page_tree.height`.
    var height: UInt8 = 0
    /// Whether index 0 holds a page (`radix_tree_shrink` tests the root's slot 0).
    var hasZero = false
    /// The file's pages in insertion order, through the slots' `next` / `prev` words.
    var head: UInt32 = NONE
    var tail: UInt32 = NONE
    /// The highest index ever inserted (an index above it is not in the tree).
    var last: UInt32 = 0
}

/// The machine's page-cache trees. Per handle slot of a page-cache page, four 32-bit words (its
/// inode's object id + 1 or 0, its index, and its file's list links), mapped lazily like the handle
/// table so that only granules of slots that were ever page-cache pages of a file cost memory
/// (`granules`, asked for before first written: `Machine.touchPageCacheWords`).
struct PageCacheStore {
    let slotInode: RawArray<UInt32>
    let slotIndex: RawArray<UInt32>
    let slotNext: RawArray<UInt32>
    let slotPrev: RawArray<UInt32>
    var mappings: [UInt32: AddressSpace] = [:]
    var nodes: [UInt64: RadixNode] = [:]
    var granules: [Bool]
    var wordBytes = 0

    /// RADIX_TREE_MAP_SHIFT.
    static let mapShift = 6
    /// Bytes of a dictionary entry of each table (buckets at the lowest load a dictionary keeps).
    static let mappingEntryBytes = 2 * (4 + MemoryLayout<AddressSpace>.stride)
    static let nodeEntryBytes = 2 * (8 + MemoryLayout<RadixNode>.stride)

    init(capacity: Int, arena: RawArena) {
        slotInode = RawArray(zeroed: capacity, arena: arena, lazy: true)
        slotIndex = RawArray(zeroed: capacity, arena: arena, lazy: true)
        slotNext = RawArray(zeroed: capacity, arena: arena, lazy: true)
        slotPrev = RawArray(zeroed: capacity, arena: arena, lazy: true)
        granules = Array(repeating: false, count: (slotInode.byteCount + slotInode.granule - 1) / slotInode.granule)
    }

    var byteCount: Int {
        wordBytes + granules.count + mappings.count * PageCacheStore.mappingEntryBytes + nodes.count * PageCacheStore.nodeEntryBytes
    }

    /// `radix_tree_maxindex(height)`: the largest index a tree of that height holds.
    static func maxIndex(height h: Int) -> Int {
        h == 0 ? 0 : (h * mapShift >= 63 ? Int.max : (1 << (h * mapShift)) - 1)
    }

    /// The key of the node at `level` on the path to `index` in the tree of inode `ino`.
    @inline(__always)
    static func key(inode ino: UInt32, level: Int, index: Int) -> UInt64 {
        UInt64(ino) << 32 | UInt64(level) << 27 | UInt64(truncatingIfNeeded: index >> (mapShift * (level + 1))) & 0x07FF_FFFF
    }
}

extension Machine {
    /// Pages of a file (by its inode) in the page cache, and the radix-tree nodes its tree holds.
    public func pageCacheStats(inode: SlabObjectRef) -> (nrpages: Int, height: Int, nodes: Int) {
        guard let ino = slab.resolve(inode), let a = pageCache.mappings[UInt32(ino)] else { return (0, 0, 0) }
        var n = 0
        for k in pageCache.nodes.keys where k >> 32 == UInt64(ino) { n += 1 }
        return (Int(a.nrpages), Int(a.height), n)
    }

    /// Before the per-slot words of `slot` are first written: counts their granule when it is a new one,
    /// asking the state gate; false if it refuses.
    func touchPageCacheWords(slot: Int) -> Bool {
        let g = pageCache.slotInode.granuleIndex(of: slot)
        if pageCache.granules[g] { return true }
        let bytes = 4 * pageCache.slotInode.granule
        guard mayGrowState(by: bytes) else { return false }
        pageCache.granules[g] = true
        pageCache.wordBytes += bytes
        return true
    }

    /// The nodes inserting `index` into inode `ino`'s tree would allocate (`radix_tree_extend`, then
    /// `radix_tree_insert`'s walk down).
    func radixNodesNeeded(inode ino: UInt32, index i: Int) -> Int {
        let rec = pageCache.mappings[ino]
        let h = Int(rec?.height ?? 0)
        var top = h
        while i > PageCacheStore.maxIndex(height: top) { top += 1 }
        var need = 0
        // Extending a non-empty tree adds a node a level, each with the old root in slot 0.
        let extended = rec != nil && top > h
        if extended { need += top - h }
        for l in stride(from: top - 1, through: 0, by: -1) {
            let k = PageCacheStore.key(inode: ino, level: l, index: i)
            let made = extended && l >= h && i >> (PageCacheStore.mapShift * (l + 1)) == 0
            if pageCache.nodes[k] == nil && !made { need += 1 }
        }
        return need
    }

    /// `add_to_page_cache_lru` of a new page-cache page `h` at `index` of the file whose inode is `inode`:
    /// `radix_tree_preload` (the nodes it may need, each a GFP_KERNEL slab allocation that may reclaim),
    /// then `radix_tree_insert`. Returns false, the page left outside any file's tree, when a node cannot
    /// be allocated, the page or the inode went meanwhile, the index is taken, or the state gate refuses.
    @discardableResult
    func addToPageCache(_ h: PageHandle, inode: SlabObjectRef, index i: Int) -> Bool {
        guard i >= 0, i <= Int(UInt32.max), slab.resolve(inode) != nil else { return false }
        var pool: [Int] = []
        func dropPool() { for o in pool { slabFreeId(o) } }
        while true {
            guard let ino = slab.resolve(inode) else { dropPool(); return false }
            if pool.count >= radixNodesNeeded(inode: UInt32(ino), index: i) { break }
            guard let r = slabAlloc(.radixTreeNode, unused: false) else { dropPool(); return false }
            pool.append(r.id)
        }
        guard let ino32 = slab.resolve(inode).map({ UInt32($0) }), let slot = handles.resolve(h),
              PageState.kind(pages.state[Pfn(link: handles.pfn[slot])]) == .file, pageCache.slotInode[slot] == 0,
              touchPageCacheWords(slot: slot) else { dropPool(); return false }
        let newMapping = pageCache.mappings[ino32] == nil
        let growth = (newMapping ? PageCacheStore.mappingEntryBytes : 0) + pool.count * PageCacheStore.nodeEntryBytes
        guard mayGrowState(by: growth) else { dropPool(); return false }
        var a = pageCache.mappings[ino32] ?? AddressSpace()
        // An index already present: -EEXIST (the writers here never rewrite one).
        if a.nrpages > 0 && i <= Int(a.last) && pageIsCached(inode: ino32, tree: a, index: i) {
            dropPool(); return false
        }
        let h0 = Int(a.height)
        var top = h0
        while i > PageCacheStore.maxIndex(height: top) { top += 1 }
        if top > h0 {
            // radix_tree_extend: on a non-empty tree, a new root a level, the old root in its slot 0.
            if a.nrpages > 0 {
                for l in h0..<top {
                    pageCache.nodes[PageCacheStore.key(inode: ino32, level: l, index: 0)] = RadixNode(object: UInt32(pool.removeLast()), count: 1)
                }
            }
            a.height = UInt8(top)
        }
        // radix_tree_insert: the missing nodes on the path down, each counted in its parent.
        for l in stride(from: top - 1, through: 0, by: -1) {
            let k = PageCacheStore.key(inode: ino32, level: l, index: i)
            if pageCache.nodes[k] == nil {
                pageCache.nodes[k] = RadixNode(object: UInt32(pool.removeLast()), count: 0)
                if l < top - 1 { pageCache.nodes[PageCacheStore.key(inode: ino32, level: l + 1, index: i)]!.count += 1 }
            }
            if l == 0 { pageCache.nodes[k]!.count += 1 }
        }
        dropPool()
        a.nrpages += 1
        if i == 0 { a.hasZero = true }
        if a.nrpages == 1 || UInt32(i) > a.last { a.last = UInt32(i) }
        // The file's list of pages, in insertion order.
        pageCache.slotInode[slot] = ino32 &+ 1
        pageCache.slotIndex[slot] = UInt32(i)
        pageCache.slotNext[slot] = NONE
        pageCache.slotPrev[slot] = a.tail
        if a.tail != NONE { pageCache.slotNext[Int(a.tail)] = UInt32(slot) } else { a.head = UInt32(slot) }
        a.tail = UInt32(slot)
        pageCache.mappings[ino32] = a
        bumpGeneration()
        return true
    }

    /// Whether index `i` of a tree holds a page (the leaf's count is not enough: walk the file's list).
    private func pageIsCached(inode ino: UInt32, tree a: AddressSpace, index i: Int) -> Bool {
        if a.height > 0 && pageCache.nodes[PageCacheStore.key(inode: ino, level: 0, index: i)] == nil { return false }
        var s = a.head
        while s != NONE {
            if Int(pageCache.slotIndex[Int(s)]) == i { return true }
            s = pageCache.slotNext[Int(s)]
        }
        return false
    }

    /// `remove_from_page_cache` → `radix_tree_delete` for the page at handle slot `slot` (reclaim dropping
    /// it, truncation, invalidation, its owner freeing it): the leaf's count drops, nodes this empties are
    /// freed up to the root, and `radix_tree_shrink` lowers the tree when the walk stops at the root.
    func removeFromPageCache(slot: Int) {
        let w = pageCache.slotInode[slot]
        guard w != 0 else { return }
        let ino = w &- 1
        let i = Int(pageCache.slotIndex[slot])
        guard var a = pageCache.mappings[ino] else { preconditionFailure("page-cache slot \(slot) names inode \(ino) without a tree") }
        let height = Int(a.height)
        if height > 0 {
            var l = 0
            while true {
                let k = PageCacheStore.key(inode: ino, level: l, index: i)
                guard var n = pageCache.nodes[k] else { preconditionFailure("radix tree of inode \(ino) lacks a node on index \(i)'s path") }
                n.count -= 1
                if n.count > 0 {
                    pageCache.nodes[k] = n
                    if i == 0 { a.hasZero = false }
                    if l == height - 1 { radixTreeShrink(inode: ino, &a) }
                    break
                }
                pageCache.nodes[k] = nil
                slabFreeId(Int(n.object))
                if l == height - 1 {
                    // The root emptied: the tree is empty.
                    a.height = 0
                    break
                }
                l += 1
            }
        }
        if i == 0 { a.hasZero = false }
        a.nrpages -= 1
        let next = pageCache.slotNext[slot], prev = pageCache.slotPrev[slot]
        if prev != NONE { pageCache.slotNext[Int(prev)] = next } else { a.head = next }
        if next != NONE { pageCache.slotPrev[Int(next)] = prev } else { a.tail = prev }
        pageCache.slotInode[slot] = 0
        pageCache.slotIndex[slot] = 0
        pageCache.slotNext[slot] = 0
        pageCache.slotPrev[slot] = 0
        if a.nrpages == 0 {
            precondition(a.height == 0 || height == 0, "an empty radix tree keeps height \(a.height)")
            pageCache.mappings[ino] = nil
        } else {
            pageCache.mappings[ino] = a
        }
    }

    /// `radix_tree_shrink`: while the root holds one entry and it is in slot 0, that entry becomes the root.
    private func radixTreeShrink(inode ino: UInt32, _ a: inout AddressSpace) {
        while a.height > 0 {
            let h = Int(a.height)
            let rk = PageCacheStore.key(inode: ino, level: h - 1, index: 0)
            guard let root = pageCache.nodes[rk], root.count == 1 else { break }
            let slotZero = h == 1 ? a.hasZero : pageCache.nodes[PageCacheStore.key(inode: ino, level: h - 2, index: 0)] != nil
            guard slotZero else { break }
            pageCache.nodes[rk] = nil
            slabFreeId(Int(root.object))
            a.height -= 1
        }
    }

    /// `truncate_inode_pages` as an inode goes (iput_final of a deleted file, or an inode freed with pages
    /// still cached, which the model's callers avoid by freeing the pages first): frees every page left in
    /// its tree. O(pages of the file).
    func truncateInodePages(inode ino: Int) {
        while let a = pageCache.mappings[UInt32(ino)], a.head != NONE {
            let s = Int(a.head)
            freeAllocation(slot: s)
            // An isolated page's owner lets go in `freeAllocation`, which removes it from the tree too.
            if pageCache.slotInode[s] != 0 { removeFromPageCache(slot: s) }
        }
    }
}
