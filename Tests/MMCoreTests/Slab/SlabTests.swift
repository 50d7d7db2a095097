import MMFormat
import XCTest
@testable import MMCore

/// Slab caches with objects: partial slabs first, pages freed only with their last object, the
/// 2.6.35 shrink_slab formula, file deletion, determinism and the consistency checker.
final class SlabTests: XCTestCase {
    func testObjectsPerSlabFollowPageSize() {
        XCTAssertEqual(SlabCache.dentry.objectsPerSlab(pageSize: 4096), 21)
        XCTAssertEqual(SlabCache.inode.objectsPerSlab(pageSize: 4096), 6)
        XCTAssertEqual(SlabCache.dentry.objectsPerSlab(pageSize: 65536), 341)
        XCTAssertEqual(SlabCache.inode.objectsPerSlab(pageSize: 65536), 109)
        let m = makeMachine(.ppc64, mib: 256)
        XCTAssertEqual(m.slabCacheStats(.inode).objectsPerSlab, 109)
    }

    func testObjectsFillPartialSlabsFirst() throws {
        let m = makeMachine(.x86_64, mib: 64)
        var refs: [SlabObjectRef] = []
        for _ in 0..<(21 * 3) { refs.append(try XCTUnwrap(m.slabAlloc(.dentry, unused: true))) }
        XCTAssertEqual(m.slabCacheStats(.dentry).slabs, 3)
        XCTAssertEqual(Set(refs.prefix(21).map { m.slabPfn(of: $0)! }).count, 1, "the first 21 share one page")
        // Free one object in the first slab: the next object goes into that hole, not a new page.
        let firstPfn = m.slabPfn(of: refs[0])!
        m.deleteFileMetadata(FileRecord(pages: [], dentry: refs[5], inode: nil))
        let again = try XCTUnwrap(m.slabAlloc(.dentry, unused: true))
        XCTAssertEqual(m.slabPfn(of: again), firstPfn)
        XCTAssertEqual(m.slabCacheStats(.dentry).slabs, 3)
        // A 64th object needs a fourth page.
        _ = try XCTUnwrap(m.slabAlloc(.dentry, unused: true))
        XCTAssertEqual(m.slabCacheStats(.dentry).slabs, 4)
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, 64)
        assertConsistent(m)
    }

    func testShrinkingFreesOnlyPagesWhoseLastObjectWent() throws {
        let m = makeMachine(.x86_64, mib: 64)
        // Two interleaved generations: old and new objects alternate, so every page holds both.
        var old: [SlabObjectRef] = [], young: [SlabObjectRef] = []
        for i in 0..<(21 * 10) {
            let r = try XCTUnwrap(m.slabAlloc(.dentry, unused: i % 2 == 0))
            if i % 2 == 0 { old.append(r) } else { young.append(r) }
        }
        XCTAssertEqual(m.slabCacheStats(.dentry).slabs, 10)
        let free0 = m.nrFreePagesTotal + m.pcpPages
        // Prune every unused (old) object: no page empties, because each still holds young ones.
        XCTAssertEqual(m.pruneCache(SlabCache.dentry.rawValue, old.count), 0)
        XCTAssertTrue(old.allSatisfy { !m.isLive($0) })
        XCTAssertEqual(m.slabCacheStats(.dentry).slabs, 10)
        XCTAssertEqual(m.nrFreePagesTotal + m.pcpPages, free0)
        assertConsistent(m, "after pruning the old")
        // Deleting the young ones of the first two pages frees exactly those two pages.
        let firstTwo = Set(young.prefix(21).map { m.slabPfn(of: $0)! })
        XCTAssertEqual(firstTwo.count, 2)
        for r in young where firstTwo.contains(m.slabPfn(of: r)!) { m.deleteFileMetadata(FileRecord(pages: [], dentry: r, inode: nil)) }
        XCTAssertEqual(m.slabCacheStats(.dentry).slabs, 8)
        XCTAssertEqual(m.nrFreePagesTotal + m.pcpPages, free0 + 2)
        assertConsistent(m, "after deleting")
    }

    func testPrunedDentryReleasesItsInode() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let (d, i) = m.createFileMetadata()
        XCTAssertEqual(m.slabCacheStats(.inode).unused, 0, "an inode pinned by its dentry is not shrinkable")
        XCTAssertEqual(m.slabCacheStats(.dentry).unused, 1)
        _ = m.pruneCache(SlabCache.dentry.rawValue, 1)
        XCTAssertFalse(m.isLive(d!))
        XCTAssertTrue(m.isLive(i!))
        XCTAssertEqual(m.slabCacheStats(.inode).unused, 1)
        XCTAssertEqual(m.pruneCache(SlabCache.inode.rawValue, 1), 1, "its page held nothing else")
        XCTAssertFalse(m.isLive(i!))
        XCTAssertEqual(m.slabCacheStats(.inode).slabs, 0)
        assertConsistent(m)
    }

    /// shrink_slab with hand-computed numbers: 1000 unused dentries count as 1000 (1000/100×100);
    /// 4 × 300 scanned / 2 seeks = 600; × 1000 / (5999 + 1) = 100 objects; below SHRINK_BATCH, so all of
    /// it is deferred. The next call adds 600 × 1000 / 6000 = 100 → 200: one batch of 128 runs, 72 stay
    /// deferred. 1050 unused count as 1000 (the kernel's /100 rounding).
    func testShrinkSlabFormula() throws {
        let m = makeMachine(.x86_64, mib: 64)
        for _ in 0..<1000 { _ = try XCTUnwrap(m.slabAlloc(.dentry, unused: true)) }
        var deferred = 0
        var r = m.runShrinker(scanned: 300, lruPages: 5999, deferred: &deferred, count: { m.shrinkerCount(0) }, shrink: { m.pruneCache(0, $0) })
        XCTAssertEqual(deferred, 100)
        XCTAssertEqual(r.objects, 0)
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, 1000)
        r = m.runShrinker(scanned: 300, lruPages: 5999, deferred: &deferred, count: { m.shrinkerCount(0) }, shrink: { m.pruneCache(0, $0) })
        XCTAssertEqual(deferred, 72)
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, 1000 - 128)
        // The kernel counts what the shrinker's rounded count dropped by: 1000 → 800.
        XCTAssertEqual(r.objects, 200)
        // Oldest first: 128 objects = 6 whole pages of 21 (126) and 2 of the seventh.
        XCTAssertEqual(r.pages, 6)
        for _ in 0..<178 { _ = try XCTUnwrap(m.slabAlloc(.dentry, unused: true)) }
        XCTAssertEqual(m.slabCacheStats(.dentry).unused, 1050)
        XCTAssertEqual(m.shrinkerCount(0), 1000)
        // Capped at twice the count.
        deferred = 0
        _ = m.runShrinker(scanned: 1_000_000, lruPages: 0, deferred: &deferred, mayShrink: false, count: { m.shrinkerCount(0) }, shrink: { m.pruneCache(0, $0) })
        XCTAssertEqual(deferred, 2000)
        assertConsistent(m)
    }

    func testDeletedFilesFreeTheirMetadata() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let d = WorkloadDefinition(name: "files", steps: [
            .fill(kind: .file, amount: .count(400), chunkPages: 1, writers: 4, tag: "f", order: 0, dirtyFraction: 0, mlock: false, filePages: 10),
        ])
        _ = try m.runWorkload(d)
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, 40)
        XCTAssertEqual(m.slabCacheStats(.inode).objects, 40)
        XCTAssertEqual(m.files["f"]?.count, 40)
        XCTAssertTrue(m.files["f"]!.allSatisfy { $0.pages.count == 10 })
        _ = try m.runWorkload(WorkloadDefinition(name: "rm", steps: [.free(tag: "f", pattern: .everyOther, unit: 1)]))
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, 20)
        XCTAssertEqual(m.slabCacheStats(.inode).objects, 20)
        XCTAssertEqual(m.handles(ofTag: "f").count, 200)
        assertConsistent(m)
        _ = try m.runWorkload(WorkloadDefinition(name: "rm", steps: [.free(tag: "f", pattern: .all, unit: 1)]))
        XCTAssertEqual(m.slabCacheStats(.dentry).slabs, 0)
        XCTAssertEqual(m.slabCacheStats(.inode).slabs, 0)
        XCTAssertTrue(m.handles(ofTag: "f").isEmpty)
        assertConsistent(m)
    }

    func testMetadataStepSizesFromAmount() throws {
        let m = makeMachine(.x86_64, mib: 64)
        _ = try m.runWorkload(WorkloadDefinition(name: "u", steps: [.metadata(amount: .mib(1), tag: "u")]))
        XCTAssertEqual(m.slabCacheStats(.dentry).objects, (1 << 20) / 792)
        XCTAssertEqual(m.slabCacheStats(.dentry).unused, (1 << 20) / 792)
        XCTAssertEqual(m.slabCacheStats(.inode).unused, 0)
        assertConsistent(m)
    }

    func testBadMetadataFieldsAreNamed() throws {
        func field(_ s: String) -> String? {
            do { _ = try WorkloadDefinition(json: try JSON.parse(s)); return nil } catch let e as MMError { return e.jsonField } catch { return "?" }
        }
        XCTAssertEqual(field(#"{"steps":[{"fill":{"kind":"anon","count":3,"tag":"a","file_pages":8}}]}"#), "steps[0].fill.file_pages")
        XCTAssertEqual(field(#"{"steps":[{"fill":{"kind":"file","count":3,"tag":"a","file_pages":0}}]}"#), "steps[0].fill.file_pages")
        XCTAssertEqual(field(#"{"steps":[{"metadata":{"tag":"a"}}]}"#), "steps[0].metadata.fraction")
        XCTAssertEqual(field(#"{"steps":[{"metadata":{"count":5,"tag":"a","cache":"x"}}]}"#), "steps[0].metadata.cache")
        XCTAssertNil(field(#"{"steps":[{"metadata":{"count":5,"tag":"a"}}]}"#))
    }

    /// Random object traffic under memory pressure (reclaim runs the shrinkers) keeps the machine
    /// consistent: directories, files, page cache with buffer heads (`slabTraffic`).
    func testInvariantsAfterRandomOperations() throws {
        for seed in UInt64(1)...3 {
            let m = makeMachine(.x86_64, mib: 16, seed: seed, compaction: seed != 2)
            try slabTraffic(m, seed: seed &* 7, steps: 20_000)
            XCTAssertGreaterThan(m.counters.slabsScanned, 0, "the shrinkers ran")
        }
    }

    func testEasyPresetIsDeterministic() throws {
        let def = WorkloadPresets.definition(named: "seed-easy-hugepages")!
        func run() throws -> (String, Int, Int) {
            let m = makeMachine(.x86_64, mib: 128, compaction: true)
            let r = try m.runWorkload(def)
            assertConsistent(m)
            return (r.json.encoded, m.slabCacheStats(.dentry).objects, m.slabCacheStats(.inode).slabs)
        }
        let a = try run(), b = try run()
        XCTAssertEqual(a.0, b.0)
        XCTAssertEqual(a.1, b.1)
        XCTAssertEqual(a.2, b.2)
    }
}

extension SlabTests {
    /// A slab cache's new page is the cache's from the moment the page allocator returns it: kswapd,
    /// which that allocation woke, runs only once the object is in place. (It ran as the allocation
    /// returned, and its page-level slab shrinker could free the new page from the slab list before
    /// the cache took it off: the soak's negative slab count and double frees.)
    func testKswapdWokenByANewSlabPageRunsAfterTheCacheTookIt() throws {
        let m = makeMachine(.x86_64, mib: 16, seed: 3)
        // Pages on the page-level slab list for the page shrinker to work on.
        for _ in 0..<64 { _ = try m.allocate(AllocRequest(order: 0, kind: .slab, gfp: .atomic)) }
        // Clean page cache (what kswapd can reclaim) until every zone is below its LOW mark, without reclaim.
        var guardCount = 0
        while m.populatedZones.contains(where: { m.nrFreePages(zone: $0.id) > m.wmarkPages(zone: $0.id, .low) }) && guardCount < 100_000 {
            guardCount += 1
            if try m.allocate(AllocRequest(order: 0, kind: .file, gfp: .atomic)).handle == nil { break }
        }
        // Let the page shrinker, when kswapd runs it, free everything on the slab list.
        m.slab.pageShrinkerDeferred = 1 << 30
        let scannedBefore = m.counters.slabsScanned
        let (d, i) = m.createFileMetadata()
        XCTAssertNotNil(d)
        XCTAssertNotNil(i)
        XCTAssertTrue(m.isLive(d!) && m.isLive(i!))
        XCTAssertGreaterThan(m.counters.slabsScanned, scannedBefore, "kswapd ran its shrinkers")
        assertConsistent(m)
        // The objects stay usable: freeing them frees their pages cleanly.
        m.deleteFileMetadata(FileRecord(pages: [], dentry: d, inode: i))
        assertConsistent(m)
    }
}
