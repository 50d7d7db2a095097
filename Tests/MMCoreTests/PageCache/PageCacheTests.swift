import MMFormat
import XCTest
@testable import MMCore

/// The page cache's radix trees (lib/radix-tree.c as of 2.6.35) and `prune_icache` invalidating a
/// pruned inode's clean pages (fs/inode.c), with the consistency checker and the machine state image.
final class PageCacheTests: XCTestCase {
    /// A file of `n` page-cache pages written in order, with its inode and (unused) dentry.
    private func writeFile(_ m: Machine, pages n: Int, dirty: Bool = false) throws -> (inode: SlabObjectRef, dentry: SlabObjectRef, pages: [PageHandle]) {
        let (d, i) = m.createFileMetadata(open: true)
        let inode = try XCTUnwrap(i), dentry = try XCTUnwrap(d)
        var hs: [PageHandle] = []
        for k in 0..<n {
            let h = try XCTUnwrap(try m.allocate(AllocRequest(order: 0, kind: .file, dirty: dirty)).handle)
            XCTAssertTrue(m.addToPageCache(h, inode: inode, index: k))
            hs.append(h)
        }
        return (inode, dentry, hs)
    }

    /// Writeback completes: the page is clean.
    private func clean(_ m: Machine, _ h: PageHandle) {
        let pfn = Pfn(link: m.handles.pfn[m.handles.resolve(h)!])
        m.pages.state[pfn] &= ~PageState.dirty
        m.zoneCounters.dirty[m.zoneId(ofPfn: pfn)] &-= 1
    }

    func testRadixTreeNodesFollowTheFileSize() throws {
        let m = makeMachine(.x86_64, mib: 64)
        // radix_tree_insert: index 0 of an empty tree sits in the root; 2..64 pages one leaf; 65..128 a
        // root and two leaves; 4097 pages height 3.
        for (n, height, nodes) in [(1, 0, 0), (2, 1, 1), (64, 1, 1), (65, 2, 3), (128, 2, 3), (129, 2, 4), (4097, 3, 1 + 2 + 65)] {
            let f = try writeFile(m, pages: n)
            let s = m.pageCacheStats(inode: f.inode)
            XCTAssertEqual(s.nrpages, n, "\(n) pages")
            XCTAssertEqual(s.height, height, "\(n) pages")
            XCTAssertEqual(s.nodes, nodes, "\(n) pages")
            assertConsistent(m, "\(n) pages")
            for h in f.pages { XCTAssertTrue(m.freeIfLive(h)) }
            XCTAssertEqual(m.pageCacheStats(inode: f.inode).nodes, 0, "\(n) pages freed")
            m.deleteFileMetadata(FileRecord(pages: [], dentry: f.dentry, inode: f.inode))
        }
        XCTAssertEqual(m.slabCacheStats(.radixTreeNode).objects, 0)
        XCTAssertEqual(m.slabCacheStats(.radixTreeNode).slabs, 0, "the cache's pages go back with their last node")
        assertConsistent(m)
    }

    func testRadixTreeDeleteFreesEmptiedNodesAndShrinks() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let f = try writeFile(m, pages: 130)   // root, leaves for 0..63, 64..127, 128..129
        XCTAssertEqual(m.pageCacheStats(inode: f.inode).nodes, 4)
        // The last leaf empties: it is freed, the root stays.
        _ = m.freeIfLive(f.pages[128]); _ = m.freeIfLive(f.pages[129])
        XCTAssertEqual(m.pageCacheStats(inode: f.inode).nodes, 3)
        XCTAssertEqual(m.pageCacheStats(inode: f.inode).height, 2)
        // Leaves 1 and 0 (but index 0) empty: the root holds one leaf, in slot 0, which holds only
        // index 0: radix_tree_shrink lowers the tree to height 0 (the page in the root, no node).
        for k in 1..<128 { _ = m.freeIfLive(f.pages[k]) }
        XCTAssertEqual(m.pageCacheStats(inode: f.inode).nodes, 0)
        XCTAssertEqual(m.pageCacheStats(inode: f.inode).height, 0)
        XCTAssertEqual(m.pageCacheStats(inode: f.inode).nrpages, 1)
        assertConsistent(m)
        // A root whose one child is not in slot 0 is kept: index 64 alone keeps height 2 and two nodes.
        let g = try writeFile(m, pages: 65)
        for k in 0..<64 { _ = m.freeIfLive(g.pages[k]) }
        XCTAssertEqual(m.pageCacheStats(inode: g.inode).height, 2)
        XCTAssertEqual(m.pageCacheStats(inode: g.inode).nodes, 2)
        assertConsistent(m)
    }

    func testRadixNodesAreReclaimableSlab() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let f = try writeFile(m, pages: 70)
        let node = try XCTUnwrap(m.pageCache.nodes.values.first)
        let pfn = try XCTUnwrap(m.slabPfn(of: SlabObjectRef(id: node.object, generation: m.slab.objGeneration[Int(node.object)])))
        XCTAssertEqual(PageState.kind(m.pages.state[pfn]), .slab, "SLAB_RECLAIM_ACCOUNT: a RECLAIMABLE slab page")
        XCTAssertEqual(m.slabCacheStats(.radixTreeNode).objectsPerSlab, 7, "560-byte objects, 7 in a 4 KiB page")
        _ = f
    }

    func testPruneIcacheInvalidatesCleanPagesAndCountsInodesteal() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let tidy = try writeFile(m, pages: 100)
        let dirty = try writeFile(m, pages: 3, dirty: true)
        // Both files closed, their dentries pruned: the inodes are unused.
        m.dentryRelease(tidy.dentry); m.dentryRelease(dirty.dentry)
        _ = m.pruneCache(SlabCache.dentry.rawValue, 10)
        XCTAssertEqual(m.slabCacheStats(.inode).unused, 2)
        let steal0 = m.counters.pginodesteal, pgsteal0 = m.counters.pgstealDirect + m.counters.pgstealKswapd
        let free0 = m.nrFreePagesTotal + m.pcpPages
        _ = m.pruneIcache(10, kswapd: false)
        // The clean file's pages are invalidated (pginodesteal, not pgsteal) and its inode freed; the
        // dirty file's pages keep its inode cached (can_unuse fails).
        XCTAssertEqual(m.counters.pginodesteal - steal0, 100)
        XCTAssertEqual(m.counters.pgstealDirect + m.counters.pgstealKswapd, pgsteal0)
        XCTAssertEqual(m.counters.kswapdInodesteal, 0)
        XCTAssertFalse(m.isLive(tidy.inode))
        XCTAssertTrue(tidy.pages.allSatisfy { !m.isLive($0) })
        XCTAssertTrue(m.isLive(dirty.inode))
        XCTAssertEqual(m.pageCacheStats(inode: dirty.inode).nrpages, 3)
        XCTAssertGreaterThanOrEqual(m.nrFreePagesTotal + m.pcpPages, free0 + 100)
        XCTAssertEqual(m.slabCacheStats(.inode).unused, 1, "the dirty file's inode stays on inode_unused")
        assertConsistent(m)
        // kswapd's invalidations go to kswapd_inodesteal. Cleaned (written back), the pages go too.
        for h in dirty.pages { clean(m, h) }
        _ = m.pruneIcache(10, kswapd: true)
        XCTAssertEqual(m.counters.kswapdInodesteal, 3)
        XCTAssertFalse(m.isLive(dirty.inode))
        assertConsistent(m)
    }

    /// A fill of files larger than memory (reclaim drops pages under the trees, prune_icache invalidates
    /// files whose dentries went), then every second file deleted: the checker finds every tree, node
    /// and page accounted for at each step, and the same seed gives the same machine byte for byte.
    func testOverflowingFillKeepsTreesConsistentAndDeterministic() throws {
        func run() throws -> Machine {
            let m = makeMachine(.x86_64, mib: 64)
            let d = try WorkloadDefinition(json: try JSON.parse("""
                {"name": "files", "seed": 7, "steps": [
                  {"metadata": {"count": 200, "files_per_directory": 10, "tag": "meta"}},
                  {"fill": {"kind": "file", "count": 24576, "writers": 16, "file_pages": 8, "block_size": 4096, "tag": "f", "dirty_fraction": 0.05}},
                  {"free": {"tag": "f", "pattern": "every_other"}}]}
                """))
            let r = try m.beginWorkload(d)
            var steps = 0
            while !m.step(r, maxEvents: 2000) {
                steps += 1
                if steps % 10 == 0 { assertConsistent(m, "step \(steps)") }
            }
            XCTAssertNil(r.failure)
            assertConsistent(m, "end")
            return m
        }
        let a = try run(), b = try run()
        XCTAssertGreaterThan(a.counters.pginodesteal + a.counters.kswapdInodesteal, 0, "prune_icache invalidated pages")
        XCTAssertGreaterThan(a.slabCacheStats(.radixTreeNode).objects, 0)
        // (Swift arrays' capacities, which the image records, follow malloc's usable sizes and may differ
        // between two runs of one process; every other byte must not.)
        let ia = a.exportState(), ib = b.exportState()
        XCTAssertEqual(ia.sections.map(\.name), ib.sections.map(\.name))
        let differing = zip(ia.sections, ib.sections).filter { p in p.0 != p.1 && !p.0.name.contains("capacit") }.map { p in p.0.name }
        XCTAssertEqual(differing, [], "same seed, same machine")
        XCTAssertEqual(a.renderVmstat(), b.renderVmstat())
    }

    func testStateImageKeepsTheTrees() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let f = try writeFile(m, pages: 70)
        _ = try writeFile(m, pages: 1)
        _ = m.freeIfLive(f.pages[3])
        let image = m.exportState()
        let r = try Machine(m.config, restoring: image)
        XCTAssertEqual(r.checkConsistency(), [])
        XCTAssertEqual(r.pageCache.mappings, m.pageCache.mappings)
        XCTAssertEqual(r.pageCache.nodes, m.pageCache.nodes)
        XCTAssertEqual(r.exportState(), image)
        // Both go on alike: freeing the rest empties the tree in both.
        for h in f.pages { _ = m.freeIfLive(h); _ = r.freeIfLive(h) }
        XCTAssertEqual(r.exportState(), m.exportState())
    }
}
