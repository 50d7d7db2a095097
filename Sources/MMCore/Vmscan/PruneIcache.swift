/// The icache's shrinker as 2.6.35 runs it (fs/inode.c `shrink_icache_memory` → `prune_icache`).
///
/// `prune_icache(nr)` scans up to `nr` inodes from the tail of `inode_unused` (an inode is there once no
/// dentry holds it). An inode that still has page-cache pages is not freed at once: its clean pages are
/// invalidated first (`invalidate_mapping_pages(mapping, 0, -1)`: a page that is dirty, under
/// writeback, locked (here: isolated by reclaim or compaction) or mapped (here: mlocked) is skipped,
/// `invalidate_inode_page`), the count going to `pginodesteal`, or to `kswapd_inodesteal` when kswapd
/// runs the shrinker; 2.6.35 does not count these pages in `pgsteal_*` (nor in reclaim's
/// `nr_reclaimed`: they are freed by `put_page`, not by the slab). The final `iput` puts the inode back at
/// the head of `inode_unused`; it is freed only if `can_unuse` then holds (no page left, `nrpages == 0`),
/// else it stays cached there. The inode's metadata buffers (`remove_inode_buffers`) are not modelled:
/// ext3 data files have none on `mapping->private_list` here.
extension Machine {
    /// `prune_icache(nr)`; `kswapd` says which counter the invalidated pages go to. Returns the slab
    /// pages freed with the inodes.
    func pruneIcache(_ nr: Int, kswapd: Bool) -> Int {
        let c = SlabCache.inode.rawValue
        var pages = 0, reap = 0
        for _ in 0..<nr {
            let t = slab.caches[c].unusedTail
            guard t != NONE else { break }
            let i = Int(t)
            if pageCache.mappings[UInt32(i)] != nil {
                reap += invalidateMappingPages(inode: i)
                // iput: back at the head of inode_unused, where prune_icache looks for it again.
                objLruDel(c, i)
                objLruAdd(c, i)
                // can_unuse: pages left (dirty, locked, mapped) keep the inode cached.
                if pageCache.mappings[UInt32(i)] != nil { continue }
            }
            if slabFreeObject(i).pageFreed { pages += 1 }
        }
        if kswapd { ev.kswapdInodesteal &+= UInt64(reap) } else { ev.pginodesteal &+= UInt64(reap) }
        return pages
    }

    /// `invalidate_mapping_pages(mapping, 0, -1)` over inode `ino`'s page cache, in the order the pages
    /// were added: frees each clean page that is not locked or mapped (`invalidate_inode_page` →
    /// `invalidate_complete_page`: its buffers released, `remove_mapping`, the page freed). Returns the
    /// pages freed.
    func invalidateMappingPages(inode ino: Int) -> Int {
        var freed = 0
        var s = pageCache.mappings[UInt32(ino)]?.head ?? NONE
        while s != NONE {
            let slot = Int(s)
            s = pageCache.slotNext[slot]
            let pfn = Pfn(link: handles.pfn[slot])
            let st = pages.state[pfn]
            if st & (PageState.dirty | PageState.isolated) != 0 { continue }
            if pages.order[pfn] & PageOrderByte.mlocked != 0 { continue }
            noteOwnerlessFree(slot: slot, pfn: pfn)
            freeAllocation(slot: slot)
            freed += 1
        }
        if freed > 0 { bumpGeneration() }
        return freed
    }
}
