import MMFormat
import XCTest
@testable import MMCore

/// Buffer heads tied to their page-cache pages, and directory dentries pinned by their children.
final class BufferHeadTests: XCTestCase {
    private func writeFiles(_ m: Machine, pages: Int, blockSize: Int = 4096, tag: String = "f") throws {
        _ = try m.runWorkload(WorkloadDefinition(name: "dd", steps: [
            .fill(kind: .file, amount: .count(pages), chunkPages: 1, writers: 1, tag: tag, order: 0, dirtyFraction: 0, mlock: false,
                  filePages: 1, blockSize: blockSize),
        ]))
    }

    /// The path a definition's error names, parsing and checking it against a machine of `preset`.
    private func field(_ s: String, preset: ArchPreset = .x86_64) -> String? {
        do {
            let d = try WorkloadDefinition(json: try JSON.parse(s))
            try d.validate(for: makeMachine(preset, mib: 64).config)
            return nil
        } catch let e as MMError { return e.jsonField } catch { return "?" }
    }

    func testBufferHeadsPerSlabAndPerPage() throws {
        XCTAssertEqual(SlabCache.bufferHead.objectsPerSlab(pageSize: 4096), 39)
        XCTAssertEqual(SlabCache.bufferHead.objectsPerSlab(pageSize: 65536), 630)
        XCTAssertFalse(SlabCache.bufferHead.hasShrinker)
        // ppc64: a 64 KiB page of a filesystem with 4 KiB blocks has 16 buffer heads.
        let m = makeMachine(.ppc64, mib: 256)
        try writeFiles(m, pages: 10)
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, 160)
        XCTAssertTrue(m.handles(ofTag: "f").allSatisfy { m.bufferHeadCount(of: $0) == 16 })
        XCTAssertEqual(m.slabCacheStats(.bufferHead).slabs, 1)
        assertConsistent(m)
        // block_size 0: page cache without buffers.
        let n = makeMachine(.x86_64, mib: 64)
        try writeFiles(n, pages: 10, blockSize: 0)
        XCTAssertEqual(n.slabCacheStats(.bufferHead).objects, 0)
    }

    func testBufferHeadsGoWithTheirFileOnDelete() throws {
        let m = makeMachine(.x86_64, mib: 64)
        try writeFiles(m, pages: 390)
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, 390)
        XCTAssertEqual(m.slabCacheStats(.bufferHead).slabs, 10)
        _ = try m.runWorkload(WorkloadDefinition(name: "rm", steps: [.free(tag: "f", pattern: .everyOther, unit: 1)]))
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, 195)
        XCTAssertEqual(m.slabCacheStats(.bufferHead).slabs, 10, "every slab still holds buffer heads of kept files")
        assertConsistent(m)
        _ = try m.runWorkload(WorkloadDefinition(name: "rm", steps: [.free(tag: "f", pattern: .all, unit: 1)]))
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, 0)
        XCTAssertEqual(m.slabCacheStats(.bufferHead).slabs, 0)
        assertConsistent(m)
    }

    func testSlabPageSurvivesWhileAnyOfItsPagesLives() throws {
        let m = makeMachine(.x86_64, mib: 64)
        try writeFiles(m, pages: 39)
        let hs = m.handles(ofTag: "f")
        XCTAssertEqual(m.slabCacheStats(.bufferHead).slabs, 1)
        let free0 = m.nrFreePagesTotal + m.pcpPages
        for h in hs.dropLast() { XCTAssertTrue(m.freeIfLive(h)) }
        XCTAssertEqual(m.slabCacheStats(.bufferHead).slabs, 1)
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, 1)
        XCTAssertEqual(m.nrFreePagesTotal + m.pcpPages, free0 + 38)
        assertConsistent(m)
        XCTAssertTrue(m.freeIfLive(hs.last!))
        XCTAssertEqual(m.slabCacheStats(.bufferHead).slabs, 0)
        XCTAssertEqual(m.nrFreePagesTotal + m.pcpPages, free0 + 40, "the last page took its buffer_head slab page with it")
        assertConsistent(m)
    }

    func testReclaimFreesBufferHeadsWithTheirPages() throws {
        let m = makeMachine(.x86_64, mib: 64, compaction: false)
        try writeFiles(m, pages: m.totalPages * 9 / 10)
        let written = m.handles(ofTag: "f").count
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, written)
        let before = m.counters
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .kernel), count: m.totalPages / 2, tag: "a", keepHandles: 0)
        let live = m.handles(ofTag: "f").filter { m.isLive($0) }
        XCTAssertLessThan(live.count, written, "reclaim dropped page cache")
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, live.count, "exactly the reclaimed pages' buffer heads went")
        XCTAssertTrue(live.allSatisfy { m.bufferHeadCount(of: $0) == 1 })
        XCTAssertLessThan(m.slabCacheStats(.bufferHead).slabs, (written + 38) / 39)
        // The slab pages freed with them count as reclaimed (reclaimed_slab).
        let c = m.counters
        XCTAssertGreaterThan(c.pagesReclaimed - before.pagesReclaimed, (c.pgstealDirect + c.pgstealKswapd) - (before.pgstealDirect + before.pgstealKswapd))
        XCTAssertEqual(m.slabCacheStats(.bufferHead).unused, 0, "no buffer head is ever shrinkable")
        assertConsistent(m)
    }

    func testDirectoryDentryPinnedByItsChildren() throws {
        let m = makeMachine(.x86_64, mib: 64)
        _ = try m.runWorkload(WorkloadDefinition(name: "u", steps: [.metadata(amount: .count(9), tag: "u", filesPerDirectory: 3)]))
        // Three directories of three files: 12 dentries, the 3 directories' pinned by their files.
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, 12)
        XCTAssertEqual(m.slabCacheStats(.dentry).unused, 9)
        XCTAssertEqual(m.files["u"]?.count, 12)
        assertConsistent(m)
        // Pruning the two oldest files leaves their directory: it still has a child.
        _ = m.pruneCache(SlabCache.dentry.rawValue, 2)
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, 10)
        // The third prunes the directory too (prune_one_dentry prunes ancestors left unused).
        _ = m.pruneCache(SlabCache.dentry.rawValue, 1)
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, 8)
        XCTAssertEqual(m.slabCacheStats(.inode).unused, 4, "three files' inodes and the directory's are unused")
        assertConsistent(m)
    }

    func testNonEmptyDirectoryIsNotDeleted() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let (dir, _) = m.createFileMetadata()
        let (a, ai) = m.createFileMetadata(parent: dir)
        let (b, bi) = m.createFileMetadata(parent: dir)
        let dirRec = FileRecord(pages: [], dentry: dir, inode: nil)
        XCTAssertFalse(m.deleteFileMetadata(dirRec), "rmdir of a non-empty directory fails")
        XCTAssertTrue(m.isLive(dir!))
        XCTAssertEqual(m.slabCacheStats(.dentry).unused, 2)
        XCTAssertTrue(m.deleteFileMetadata(FileRecord(pages: [], dentry: a, inode: ai)))
        XCTAssertEqual(m.slabCacheStats(.dentry).unused, 1)
        XCTAssertTrue(m.deleteFileMetadata(FileRecord(pages: [], dentry: b, inode: bi)))
        XCTAssertEqual(m.slabCacheStats(.dentry).unused, 1, "the empty directory is unused now")
        XCTAssertEqual(m.pruneCache(SlabCache.dentry.rawValue, 1), 1, "the directory was the last dentry on its page")
        XCTAssertFalse(m.isLive(dir!))
        assertConsistent(m)
    }

    func testBadBufferAndDirectoryFieldsAreNamed() throws {
        XCTAssertEqual(field(#"{"steps":[{"fill":{"kind":"anon","count":3,"tag":"a","block_size":4096}}]}"#), "steps[0].fill.block_size")
        XCTAssertEqual(field(#"{"steps":[{"fill":{"kind":"file","count":3,"tag":"a","block_size":3000}}]}"#), "steps[0].fill.block_size")
        XCTAssertEqual(field(#"{"steps":[{"fill":{"kind":"file","count":3,"tag":"a","block_size":65536}}]}"#), "steps[0].fill.block_size")
        XCTAssertNil(field(#"{"steps":[{"fill":{"kind":"file","count":3,"tag":"a","block_size":65536}}]}"#, preset: .ppc64))
        XCTAssertEqual(field(#"{"steps":[{"metadata":{"count":3,"tag":"a","files_per_directory":-1}}]}"#), "steps[0].metadata.files_per_directory")
        // The defaults: ext3's 4 KiB blocks for page cache, ten files a directory.
        let d = try WorkloadDefinition(json: try JSON.parse(#"{"steps":[{"fill":{"kind":"file","count":3,"tag":"a"}},{"metadata":{"count":3,"tag":"u"}}]}"#))
        XCTAssertEqual(d.steps[0], .fill(kind: .file, amount: .count(3), chunkPages: 1, writers: 1, tag: "a", order: 0, dirtyFraction: 0, mlock: false,
                                         filePages: 0, blockSize: 4096))
        XCTAssertEqual(d.steps[1], .metadata(amount: .count(3), tag: "u", filesPerDirectory: 10))
    }

    /// Pages written (dirty) by an actor or by aging get buffers; pages read in do not.
    func testWrittenPagesOfActorsAndAgingGetBuffers() throws {
        let m = makeMachine(.x86_64, mib: 64)
        var recipe = AgingRecipe()
        recipe.fileFraction = 0.3; recipe.slabFraction = 0; recipe.kernelFraction = 0
        recipe.freeFileFraction = 0; recipe.dirtyFraction = 0.5
        try m.age(recipe)
        let aged = m.handles(ofTag: "aging-file")
        let dirty = aged.filter { m.bufferHeadCount(of: $0) == 1 }.count
        XCTAssertEqual(m.slabCacheStats(.bufferHead).objects, dirty)
        XCTAssertGreaterThan(dirty, aged.count / 3)
        XCTAssertLessThan(dirty, aged.count * 2 / 3)
        assertConsistent(m)

        let n = makeMachine(.x86_64, mib: 64)
        let d = try WorkloadDefinition(json: try JSON.parse(#"""
            {"steps": [{"start_actor": {"name": "w", "rate_per_ms": 10, "mix": [{"kind": "file", "dirty_fraction": 0.5}]}},
                       {"run": {"ms": 100}}, {"stop_actor": {"name": "w", "free": false}}]}
            """#))
        _ = try n.runWorkload(d)
        let objects = n.slabCacheStats(.bufferHead).objects
        XCTAssertGreaterThan(objects, 200)
        XCTAssertLessThan(objects, 800, "about half of the 1000 pages were written")
        assertConsistent(n)
        // block_size 0: none.
        let o = makeMachine(.x86_64, mib: 64)
        var r0 = recipe
        r0.blockSize = 0
        try o.age(r0)
        XCTAssertEqual(o.slabCacheStats(.bufferHead).objects, 0)
    }

    func testBadActorAndAgingBlockSizesAreNamed() throws {
        XCTAssertEqual(field(#"{"steps":[{"start_actor":{"name":"a","mix":[{"kind":"anon","block_size":4096}]}}]}"#),
                       "steps[0].start_actor.mix[0].block_size")
        XCTAssertEqual(field(#"{"steps":[{"start_actor":{"name":"a","mix":[{"kind":"file","block_size":16384}]}}]}"#),
                       "steps[0].start_actor.mix[0].block_size")
        XCTAssertEqual(field(#"{"steps":[{"age":{"block_size":100}}]}"#), "steps[0].age.block_size")
        XCTAssertEqual(field(#"{"steps":[{"age":{"block_size":8192}}]}"#), "steps[0].age.block_size")
        XCTAssertNil(field(#"{"steps":[{"age":{"block_size":8192}}]}"#, preset: .ppc64))
    }

    /// Page cache with buffers, directories and files under pressure and compaction (pages with buffers
    /// migrate with them) stays consistent, and runs are deterministic.
    func testInvariantsUnderPressureAndDeterminism() throws {
        func run(_ seed: UInt64) throws -> (Int, Int, Int, UInt64) {
            let m = makeMachine(.x86_64, mib: 16, seed: seed, compaction: seed != 2)
            try slabTraffic(m, seed: seed, steps: 20_000)
            if seed != 2 { XCTAssertGreaterThan(m.counters.pgmigrateSuccess, 0, "compaction migrated pages") }
            return (m.slabCacheStats(.bufferHead).objects, m.slabCacheStats(.dentry).objects, m.nrFreePagesTotal, m.counters.pagesReclaimed)
        }
        for seed in UInt64(1)...3 {
            let a = try run(seed), b = try run(seed)
            XCTAssertEqual(a.0, b.0); XCTAssertEqual(a.1, b.1); XCTAssertEqual(a.2, b.2); XCTAssertEqual(a.3, b.3)
            XCTAssertGreaterThan(a.0, 0)
            XCTAssertGreaterThan(a.3, 0, "reclaim dropped pages (with their buffers)")
        }
    }
}

/// Random slab traffic under memory pressure: directories and files made and deleted, dentries and
/// inodes pruned, page cache with buffer heads and slab pages allocated and freed, order-4 requests
/// (reclaim runs the shrinkers, compaction migrates pages with buffers). Checks consistency every 5000 steps.
func slabTraffic(_ m: Machine, seed: UInt64, steps: Int, file: StaticString = #filePath, line: UInt = #line) throws {
    var rng = SeededRandom(seed: seed)
    var dirs: [SlabObjectRef?] = [nil]
    var recs: [FileRecord] = []
    var handles: [PageHandle] = []
    for step in 0..<steps {
        switch rng.below(12) {
        case 0:
            dirs.append(m.createFileMetadata(parent: dirs[rng.below(dirs.count)]).dentry)
        case 1, 2, 3:
            let (d, i) = m.createFileMetadata(parent: dirs[rng.below(dirs.count)])
            recs.append(FileRecord(pages: [], dentry: d, inode: i))
        case 4 where !recs.isEmpty:
            m.deleteFileMetadata(recs.remove(at: rng.below(recs.count)))
        case 5:
            _ = m.pruneCache(rng.below(2), 1 + rng.below(40))
        case 6 where !handles.isEmpty:
            _ = m.freeIfLive(handles.remove(at: rng.below(handles.count)))
        case 7:
            // A higher-order request that reclaims or compacts, given back at once.
            if let h = try m.allocate(AllocRequest(order: 4, kind: .anon, gfp: .kernel)).handle { _ = m.freeIfLive(h) }
        default:
            let kind: AllocKind = rng.below(4) == 0 ? .slab : .file
            if let h = try m.allocate(AllocRequest(order: rng.below(8) == 0 && kind == .slab ? 2 : 0, kind: kind, gfp: .kernel)).handle {
                handles.append(h)
                if kind == .file { m.attachBuffers(h, count: 1 + rng.below(2)) }
            }
        }
        if step % 5000 == 4999 { assertConsistent(m, "seed \(seed) step \(step)", file: file, line: line) }
    }
}

/// Writeback of a page that straddles its file's end writes only its blocks within the file
/// (`__block_write_full_page` cleans the buffers past `last_block` instead of submitting them).
final class WritebackBytesTests: XCTestCase {
    private func dirtyFilePage(_ m: Machine) throws -> (PageHandle, Int) {
        let h = try XCTUnwrap(m.allocate(AllocRequest(order: 0, kind: .file, gfp: .kernel, dirty: true)).handle)
        return (h, try XCTUnwrap(m.handles.resolve(h)))
    }

    func testOnlyTheBlocksWithinTheFileAreWritten() throws {
        let m = makeMachine(.ppc64, mib: 256)
        let (_, bareSlot) = try dirtyFilePage(m)
        XCTAssertEqual(m.writebackBytes(slot: bareSlot), 65536, "without buffers the whole page")
        let (whole, wholeSlot) = try dirtyFilePage(m)
        XCTAssertTrue(m.attachBuffers(whole, count: 16))
        XCTAssertEqual(m.writebackBytes(slot: wholeSlot), 65536)
        let (tail, tailSlot) = try dirtyFilePage(m)
        XCTAssertTrue(m.attachBuffers(tail, count: 16, withinEOF: 3))
        XCTAssertEqual(m.writebackBytes(slot: tailSlot), 3 * 4096, "a 10 KiB file's page: three 4 KiB blocks")
        XCTAssertEqual(m.bufferHeadCount(of: tail), 16, "create_empty_buffers covers the whole page")
        assertConsistent(m)
        // On 4 KiB pages with 4 KiB blocks a page is one block: written whole.
        let x = makeMachine(.x86_64, mib: 64)
        let (p, slot) = try dirtyFilePage(x)
        XCTAssertTrue(x.attachBuffers(p, count: 1, withinEOF: 1))
        XCTAssertEqual(x.writebackBytes(slot: slot), 4096)
    }

    /// A state image keeps which buffers lie past their file's end.
    func testTheMarksSurviveAStateImage() throws {
        let m = makeMachine(.ppc64, mib: 256)
        let (tail, _) = try dirtyFilePage(m)
        XCTAssertTrue(m.attachBuffers(tail, count: 16, withinEOF: 5))
        let copy = try Machine(m.config, restoring: m.exportState())
        XCTAssertEqual(copy.writebackBytes(slot: try XCTUnwrap(copy.handles.resolve(tail))), 5 * 4096)
        assertConsistent(copy)
    }

    /// The stress test's builds write whole files of the 2.6.35 tree: on ppc64 a written page holds about
    /// 113,477 blocks / 34,521 pages = 13.1 KiB of its file on average, on x86_64 a whole page.
    func testActorFilesMarkTheirLastBlocks() throws {
        for (preset, low, high) in [(ArchPreset.ppc64, 11 << 10, 15 << 10), (.x86_64, 4096, 4096)] {
            let m = makeMachine(preset, mib: 2048)
            var entry = ActorAlloc(kind: .file)
            entry.unitBytes = 4096
            entry.fileSizes = .linux2635
            entry.dirtyFraction = 1
            entry.blockSize = 4096
            let run = try m.beginWorkload(WorkloadDefinition(name: "w", seed: 2, steps: [
                .startActor(ActorSpec(name: "a", ratePerMs: 10, mix: [entry])), .run(ms: 1000)]))
            while !m.step(run, maxEvents: 1 << 20) {}
            let slots = run.actors[0].live.compactMap { m.handles.resolve($0) }
            XCTAssertGreaterThan(slots.count, 2000)
            let mean = slots.reduce(0) { $0 + m.writebackBytes(slot: $1) } / slots.count
            XCTAssertGreaterThanOrEqual(mean, low, "\(preset.name)")
            XCTAssertLessThanOrEqual(mean, high, "\(preset.name)")
            assertConsistent(m)
        }
    }
}
