import MMFormat
import XCTest
@testable import MMCore

/// Processes and their kernel memory (Process.swift).
final class ProcessTests: XCTestCase {
    func testX86_64ForkMakesUnmovableKernelMemoryAndExitFreesIt() throws {
        let m = makeMachine(.x86_64, mib: 256)
        let free0 = m.nrFreePagesTotal + m.pcpPages
        let p = try XCTUnwrap(m.forkProcess(ProcessSpec(anonKiB: 5 << 10, vmas: 40)))
        // Order-1 stack, 6 upper-level table pages, 10 base PTE pages + one per 2 MiB of the 5 MiB touched.
        let stack = try XCTUnwrap(p.stack)
        XCTAssertEqual(try m.allocationInfo(stack).order, 1)
        XCTAssertEqual(try m.allocationInfo(stack).kind, .kernel)
        XCTAssertEqual(p.pageTables.count, 6 + 10 + 3)
        XCTAssertTrue(try p.pageTables.allSatisfy { try m.allocationInfo($0).kind == .kernel })
        XCTAssertEqual(p.anon.count, 1280)
        // task, cred, files, sighand, signal, mm, 40 VMAs, 10 anon_vma, 20 anon_vma_chain.
        XCTAssertEqual(p.objects.count, 6 + 40 + 10 + 20)
        // Their slab pages are unmovable kernel pages: no slab (reclaimable) pages were made.
        XCTAssertEqual(m.slabCacheStats(.taskStruct).objects, 1)
        XCTAssertEqual(m.slabCacheStats(.vmAreaStruct).objects, 40)
        for r in p.objects { XCTAssertEqual(PageState.kind(m.pages.state[try XCTUnwrap(m.slabPfn(of: r))]), .kernel) }
        XCTAssertEqual(m.counters.nrForks, 1)
        assertConsistent(m)
        m.exitProcess(p)
        XCTAssertEqual(m.nrFreePagesTotal + m.pcpPages, free0)
        XCTAssertEqual(m.slabCacheStats(.taskStruct).slabs, 0)
        assertConsistent(m)
    }

    func testPpc64StackAndUpperTablesComeFromSlab() throws {
        let m = makeMachine(.ppc64, mib: 2048)
        let p = try XCTUnwrap(m.forkProcess(ProcessSpec(anonKiB: 300 << 10, vmas: 8)))
        XCTAssertNil(p.stack)
        XCTAssertEqual(m.slabCacheStats(.threadInfo).objects, 1)
        XCTAssertEqual(m.slabCacheStats(.threadInfo).objectsPerSlab, 4)   // 16 KiB objects in 64 KiB pages
        XCTAssertEqual(m.slabCacheStats(.pgtable12).objects, 2)
        XCTAssertEqual(m.slabCacheStats(.pgtable4).objects, 1)
        // 3 base PTE pages + one 64 KiB PTE page per 256 MiB (300 MiB: 2).
        XCTAssertEqual(p.pageTables.count, 5)
        m.exitProcess(p)
        assertConsistent(m)
    }

    func testX86PtePagesGoToHighMemButStayUnmovable() throws {
        let m = makeMachine(.x86, mib: 2048)
        let p = try XCTUnwrap(m.forkProcess(ProcessSpec(anonKiB: 8 << 10)))
        // One PGD page (lowmem), 6 base PTE pages + 2 (4 MiB each) with CONFIG_HIGHPTE.
        XCTAssertEqual(p.pageTables.count, 1 + 8)
        let pgd = try m.allocationInfo(p.pageTables[0])
        XCTAssertNotEqual(m.zones[pgd.zone].type, .highmem)
        for h in p.pageTables.dropFirst() {
            let info = try m.allocationInfo(h)
            XCTAssertEqual(m.zones[info.zone].type, .highmem)
            XCTAssertEqual(m.migratetype(ofPageblockAt: Pfn(info.pfn)), .unmovable)
        }
        m.exitProcess(p)
        assertConsistent(m)
    }

    func testForkThatRunsOutOfMemoryLeavesNothingBehind() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let free0 = m.nrFreePagesTotal + m.pcpPages
        XCTAssertNil(m.forkProcess(ProcessSpec(anonKiB: 1 << 20)))
        XCTAssertEqual(m.nrFreePagesTotal + m.pcpPages, free0)
        XCTAssertEqual(m.slabCacheStats(.taskStruct).objects, 0)
        assertConsistent(m)
    }

    func testActorsForkAndReapProcessesDeterministically() throws {
        func run() throws -> (WorkloadResult, [String]) {
            let m = makeMachine(.x86_64, mib: 256)
            let d = try WorkloadDefinition(json: try JSON.parse("""
                {"steps": [{"start_actor": {"name": "builds", "rate_per_ms": 10, "mix": [
                              {"process": {"anon_kib": 2048, "vmas": 30}, "weight": 1, "lifetime_ms": 20},
                              {"process": {"anon_kib": 512}, "weight": 0.2},
                              {"kind": "file", "weight": 5}]}},
                           {"run": {"ms": 200}},
                           {"stop_actor": {"name": "builds"}}]}
                """))
            let r = try m.runWorkload(d)
            return (r, m.checkConsistency())
        }
        let (a, errs) = try run()
        XCTAssertEqual(errs, [])
        XCTAssertGreaterThan(a.delta(\.nrForks), 100)
        let (b, _) = try run()
        XCTAssertEqual(a.countersAfter.pgfree, b.countersAfter.pgfree)
        XCTAssertEqual(a.countersAfter.nrForks, b.countersAfter.nrForks)
    }

    func testProcessMixEntriesAreChecked() {
        for (json, field) in [(#"{"kind": "anon", "process": {"anon_kib": 4}}"#, "process"),
                              (#"{"process": {"anon_kib": 4, "rss": 1}}"#, "rss"),
                              (#"{"process": {"vmas": 0}}"#, "vmas")] {
            let text = #"{"steps": [{"start_actor": {"name": "a", "mix": ["# + json + "]}}]}"
            do {
                _ = try WorkloadDefinition(json: try JSON.parse(text))
                XCTFail("accepted \(json)")
            } catch { XCTAssertTrue("\(error)".contains(field), "\(error)") }
        }
    }
}

extension ProcessTests {
    func testFillWritersAreProcessesUntilTheFillEnds() throws {
        let m = makeMachine(.x86_64, mib: 128)
        let d = try WorkloadDefinition(json: try JSON.parse("""
            {"steps": [{"fill": {"kind": "file", "count": 2048, "writers": 16, "file_pages": 128, "tag": "f",
                                 "writer_process": {"anon_kib": 64, "vmas": 10}}}]}
            """))
        let r = try m.runWorkload(d)
        XCTAssertEqual(r.delta(\.nrForks), 16)
        XCTAssertEqual(m.slabCacheStats(.taskStruct).objects, 0, "every writer exited")
        XCTAssertEqual(m.handles(ofTag: "f").count, 2048)
        assertConsistent(m)
    }
}

extension ProcessTests {
    func testOomKillerTakesTheLargestProcessAndTheAllocationRestarts() throws {
        // No swap, no page cache: anon processes fill memory; the allocation that finds nothing to
        // reclaim gets its page once out_of_memory killed the largest process.
        let m = makeMachine(.x86_64, mib: 64)
        let d = try WorkloadDefinition(json: try JSON.parse("""
            {"steps": [{"start_actor": {"name": "p", "rate_per_ms": 1, "mix": [
                          {"process": {"anon_kib": 4096, "vmas": 10}, "weight": 1}]}},
                       {"run": {"ms": 40}}]}
            """))
        let r = try m.runWorkload(d)
        XCTAssertGreaterThan(r.delta(\.oomKill), 0)
        XCTAssertGreaterThan(r.delta(\.nrForks), r.delta(\.oomKill))
        XCTAssertNil(m.oomKiller, "cleared when the run ends")
        assertConsistent(m)
        // Without a workload there is nobody to kill: the allocation fails.
        let n = makeMachine(.x86_64, mib: 64)
        _ = try n.allocateBulk(AllocRequest(order: 0, kind: .kernel, gfp: .atomic), count: n.memTotalPages, tag: "k", keepHandles: 0)
        XCTAssertFalse(try n.allocate(AllocRequest(order: 0, kind: .kernel, gfp: .kernel)).succeeded)
        XCTAssertEqual(n.counters.oomKill, 0)
    }
}
