/// The page cache's part of `checkConsistency`: every page-cache slot that names a file is a live
/// page-cache page on its file's list; each file's list, `nrpages`, height and index 0 agree with its
/// pages; each radix-tree node is a live `radix_tree_node` object counting exactly its pages (a leaf) or
/// child nodes (an interior node), on the path of some page, below the height; and every live object of
/// the cache is a node of some tree.
extension Machine {
    func checkPageCache(_ fail: (@autoclosure () -> String) -> Void) {
        var leafCount: [UInt64: UInt32] = [:]
        var pagesOf: [UInt32: Int] = [:]
        for s in 0..<handles.capacity where pageCache.slotInode[s] != 0 {
            let ino = pageCache.slotInode[s] &- 1
            let pfn = handles.pfn[s]
            if pfn == NONE || pfn == SWAPPED || PageState.kind(pages.state[Pfn(link: pfn)]) != .file {
                fail("slot \(s) is in inode \(ino)'s page cache but is not a live page-cache page"); continue
            }
            guard let a = pageCache.mappings[ino] else { fail("slot \(s) names inode \(ino), which has no tree"); continue }
            let i = Int(pageCache.slotIndex[s])
            pagesOf[ino, default: 0] += 1
            if i > PageCacheStore.maxIndex(height: Int(a.height)) { fail("inode \(ino): index \(i) above its tree's height \(a.height)") }
            if a.height > 0 {
                var k = PageCacheStore.key(inode: ino, level: 0, index: i)
                leafCount[k, default: 0] += 1
                for l in 0..<Int(a.height) {
                    k = PageCacheStore.key(inode: ino, level: l, index: i)
                    if pageCache.nodes[k] == nil { fail("inode \(ino): no level-\(l) node on index \(i)'s path") }
                }
            }
        }
        for (ino, a) in pageCache.mappings {
            if Int(ino) >= slab.objSlab.count || slab.objSlab[Int(ino)] == NONE || Int(slab.objFlags[Int(ino)] & 0x0F) != SlabCache.inode.rawValue {
                fail("page-cache tree of \(ino), which is not a live inode")
            }
            if a.nrpages == 0 { fail("inode \(ino): an empty tree is kept") }
            if Int(a.nrpages) != pagesOf[ino, default: 0] { fail("inode \(ino): nrpages \(a.nrpages) but \(pagesOf[ino, default: 0]) pages name it") }
            var n = 0, s = a.head, prev = NONE, zero = false
            while s != NONE && n <= Int(a.nrpages) {
                if pageCache.slotInode[Int(s)] != ino &+ 1 || pageCache.slotPrev[Int(s)] != prev { fail("inode \(ino): its page list is broken at slot \(s)"); break }
                if pageCache.slotIndex[Int(s)] == 0 { zero = true }
                n += 1; prev = s; s = pageCache.slotNext[Int(s)]
            }
            if n != Int(a.nrpages) || prev != a.tail { fail("inode \(ino): its page list holds \(n) pages, nrpages \(a.nrpages)") }
            if zero != a.hasZero { fail("inode \(ino): index 0 present \(zero) but recorded \(a.hasZero)") }
            if a.height == 0 && a.nrpages > 1 { fail("inode \(ino): \(a.nrpages) pages in a tree of height 0") }
        }
        var childCount: [UInt64: UInt32] = [:]
        for (k, _) in pageCache.nodes {
            let ino = UInt32(k >> 32), level = Int((k >> 27) & 0x1F), prefix = k & 0x07FF_FFFF
            guard let a = pageCache.mappings[ino], level < Int(a.height) else { fail("radix node \(k) lies outside its tree"); continue }
            if level + 1 < Int(a.height) {
                let parentPrefix = prefix >> UInt64(PageCacheStore.mapShift)
                childCount[UInt64(ino) << 32 | UInt64(level + 1) << 27 | parentPrefix, default: 0] += 1
            } else if prefix != 0 {
                fail("radix node \(k): a root with prefix \(prefix)")
            }
        }
        var objects = 0
        for (k, n) in pageCache.nodes {
            objects += 1
            let o = Int(n.object)
            if o >= slab.objSlab.count || slab.objSlab[o] == NONE || Int(slab.objFlags[o] & 0x0F) != SlabCache.radixTreeNode.rawValue {
                fail("radix node \(k): object \(o) is not a live radix_tree_node")
            }
            let level = Int((k >> 27) & 0x1F)
            let expected = level == 0 ? leafCount[k, default: 0] : childCount[k, default: 0]
            if n.count != expected || n.count == 0 { fail("radix node \(k): count \(n.count) but \(expected) entries") }
        }
        let cached = slab.caches[SlabCache.radixTreeNode.rawValue].objects
        if cached != objects { fail("\(cached) live radix_tree_node objects but \(objects) nodes in the trees") }
    }
}
