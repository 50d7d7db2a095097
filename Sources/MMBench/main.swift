// mm-bench: figures for MMCore, one per line as `name value unit` (release build: `make bench`).
// Each case times only the measured part and checks its result with a precondition, so a wrong
// answer cannot look fast.
import Foundation
import MMCore
import MMFormat

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// CPU time of the calling thread, seconds.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func report(_ name: String, _ value: Double, _ unit: String) {
    let v = value >= 100 ? String(format: "%.0f", value) : String(format: "%.4g", value)
    print("\(name) \(v) \(unit)")
    fflush(nil)
}

/// Resident set size of this process in bytes (from /proc/self/statm).
func rssBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let f = s.split(separator: " ")
    return (Int(f[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func machine(_ mib: Int, nodes: Int = 1, preset: ArchPreset = .x86_64, seed: UInt64 = 1) -> Machine {
    try! Machine(MachineConfig(preset: preset, memoryMiB: mib, nodes: nodes, seed: seed))
}

/// Runs `body` `slices` times, each doing `perSlice` operations, and returns the median rate and the
/// rate over all slices together (operations per second). The median is the figure reported: this
/// shared machine's speed drifts by ±15 % within seconds, and a slow spell then costs one or two slices,
/// not the whole figure.
func sliceRates(slices: Int, perSlice: Int, _ body: (Int) -> Void) -> (median: Double, whole: Double) {
    var rates: [Double] = []
    var total = 0.0
    for _ in 0..<slices {
        let t0 = now()
        body(perSlice)
        let dt = now() - t0
        total += dt
        rates.append(Double(perSlice) / dt)
    }
    rates.sort()
    let median = slices % 2 == 1 ? rates[slices / 2] : (rates[slices / 2 - 1] + rates[slices / 2]) / 2
    return (median, Double(slices * perSlice) / total)
}

let args = Set(CommandLine.arguments.dropFirst())
func enabled(_ group: String) -> Bool { args.isEmpty || args.contains(group) }

if args.contains("pairs") {
    let m = machine(4096)
    _ = try! m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: m.totalPages * 3 / 4, tag: "age", keepHandles: 0)
    try! m.freeTag("age", pattern: .random(fraction: 1.0 / 3.0, seed: 3))
    let req = AllocRequest(order: 0, kind: .anon)
    var same = 0, last = -1
    let n = Int(ProcessInfo.processInfo.environment["MM_BENCH_PAIRS"] ?? "") ?? 50_000_000
    let rate = sliceRates(slices: 10, perSlice: max(1, n / 10)) { k in
        for _ in 0..<k {
            let o = try! m.allocate(req)
            if o.pfn == last { same += 1 }
            last = o.pfn
            try! m.free(o.handle!)
        }
    }
    report("order0_pairs_per_second", rate.median, "pairs/s")
    report("order0_pairs_per_second_whole_run", rate.whole, "pairs/s")
    report("order0_pairs_same_pfn", Double(same), "pairs")
}

if enabled("alloc") {
    // State per simulated page: a fresh 16 GiB machine, then the same machine with every page owned by
    // an order-0 allocation (per-allocation bookkeeping included), measured from allocated buffers and RSS.
    do {
        let rss0 = rssBytes()
        let m = machine(16 * 1024)
        let fresh = Double(m.stateBytes) / Double(m.totalPages)
        let r = try! m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, keepHandles: 0)
        precondition(r.succeeded > m.totalPages * 9 / 10)
        let rss1 = rssBytes()
        report("bytes_per_page", fresh, "bytes")
        report("bytes_per_page_all_allocated", Double(m.stateBytes) / Double(m.totalPages), "bytes")
        report("rss_bytes_per_page_all_allocated", Double(rss1 - rss0) / Double(m.totalPages), "bytes")
    }
    do {
        let t0 = now()
        let m = machine(1024 * 1024)
        let t1 = now()
        precondition(m.totalPages == 1 << 28)
        report("create_1tib_seconds", t1 - t0, "s")
        report("create_1tib_state_bytes_per_page", Double(m.stateBytes) / Double(m.totalPages), "bytes")
    }
    do {
        // A 4 GiB machine aged to a steady state: 3/4 of its pages allocated as order-0 anon, then a
        // random third of those freed, so free lists hold blocks of every order.
        let m = machine(4096)
        let filled = try! m.allocateBulk(AllocRequest(order: 0, kind: .anon), count: m.totalPages * 3 / 4, tag: "age", keepHandles: 0)
        precondition(filled.succeeded == m.totalPages * 3 / 4)
        try! m.freeTag("age", pattern: .random(fraction: 1.0 / 3.0, seed: 3))
        var hs = m.handles(ofTag: "age")
        let live = hs.count
        var rng = SeededRandom(seed: 7)
        let req = AllocRequest(order: 0, kind: .anon)
        // Order-0 allocate+free pairs, each page freed right after it was allocated (the allocator's hot
        // path: the block comes off a list head and goes back, merging where its buddy is free).
        let rate = sliceRates(slices: 10, perSlice: 2_000_000) { k in
            for _ in 0..<k {
                let h = try! m.allocate(req).handle!
                try! m.free(h)
            }
        }
        precondition(m.liveAllocations == live)
        report("order0_pairs_per_second", rate.median, "pairs/s")
        report("order0_pairs_per_second_whole_run", rate.whole, "pairs/s")
        // The same with a random victim: each pair allocates one page and frees a randomly chosen live
        // one, so every free touches cold memory (bounded by cache misses, not by the allocator).
        let rpairs = 5_000_000
        let t0 = now()
        for _ in 0..<rpairs {
            let o = try! m.allocate(req)
            let i = rng.below(live)
            try! m.free(hs[i])
            hs[i] = o.handle!
        }
        let t1 = now()
        precondition(m.liveAllocations == live)
        report("order0_random_pairs_per_second", Double(rpairs) / (t1 - t0), "pairs/s")
    }
    do {
        // Order-9 allocations on a free 16 GiB machine: allocate until watermarks stop it, free all, repeat.
        let m = machine(16 * 1024)
        var total = 0
        let req = AllocRequest(order: 9, kind: .anon, gfp: .nowait)
        let t0 = now()
        for _ in 0..<10 {
            var hs: [PageHandle] = []
            hs.reserveCapacity(8192)
            while let h = try! m.allocate(req).handle { hs.append(h) }
            total += hs.count
            for h in hs { try! m.free(h) }
        }
        let t1 = now()
        precondition(total > 10 * 8000)
        report("order9_allocs_per_second", Double(total) / (t1 - t0), "allocs/s")
    }
}

if enabled("compact") {
    // Full compaction of a fragmented machine: every page allocated as order-0 anon, then 7 of every 8
    // freed, so every pageblock keeps movable pages and no order-9 block is free.
    func fragmented(_ gib: Int) -> Machine {
        let m = machine(gib * 1024)
        let r = try! m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: m.totalPages, tag: "fill", keepHandles: 0)
        precondition(r.succeeded > m.totalPages * 9 / 10)
        let hs = m.handles(ofTag: "fill")
        for (i, h) in hs.enumerated() where i % 8 != 0 { try! m.free(h) }
        return m
    }
    func order9Free(_ m: Machine) -> Int {
        m.populatedZones.reduce(0) { $0 + m.nrFree(zone: $1.id, order: 9) + 2 * m.nrFree(zone: $1.id, order: 10) }
    }
    for gib in [1, 4, 16, 64] {
        let m = fragmented(gib)
        let before = order9Free(m)
        let t0 = now()
        let rep = try! m.compactMemory()
        let t1 = now()
        let c = rep.countersAfter
        precondition(rep.zones.allSatisfy { $0.result == .complete })
        precondition(c.compactPagesMoved > 0)
        let secs = t1 - t0
        report("compact_\(gib)gib_seconds", secs, "s")
        if gib == 64 {
            report("compact_migrate_scanned_per_second", Double(c.compactMigrateScanned) / secs, "pages/s")
            report("compact_free_scanned_per_second", Double(c.compactFreeScanned) / secs, "pages/s")
            report("compact_pages_migrated_per_second", Double(c.compactPagesMoved) / secs, "pages/s")
            report("compact_64gib_order9_free_before", Double(before), "blocks")
            report("compact_64gib_order9_free_after", Double(order9Free(m)), "blocks")
            report("compact_64gib_simulated_seconds", Double(rep.durationNs) / 1e9, "s")
        }
    }
}

if enabled("compact") || args.contains("compact-sparse") {
    // The yardstick's `sparse` recipe (../shared/yardstick/cref.c, `cref 65536 sparse`), for a side-by-side
    // rate: one 64 GiB Normal zone; 100 MiB chunks of order-0 movable pages until 80 % of its pages are
    // used (the kernel selftest's recipe), more chunks until the zone is full; then, newest first, every
    // other one of the 80 % chunks and every filler chunk keep one page in 8; then a whole-zone
    // compaction. MM_BENCH_SPARSE_MIB: another zone size.
    let mib = Int(ProcessInfo.processInfo.environment["MM_BENCH_SPARSE_MIB"] ?? "") ?? 65536
    let label = mib == 65536 ? "64gib" : "\(mib)mib"
    let m = try! Machine(MachineConfig(preset: .x86_64, memoryMiB: nil, zoneLayout: [[ZoneSpec(type: .normal, mib: mib)]], seed: 1))
    let chunkPages = (100 << 20) >> 12
    // `(long)(MemFree kB * 0.8 / 1024)` MiB, in 100 MiB chunks.
    var fragMiB = Int(Double(m.totalPages * 4) * 0.8 / 1024)
    var chunks: [[PageHandle]] = []
    var full = false
    func chunk() -> [PageHandle] {
        // GFP_ATOMIC: the zone is filled to its last pages (the yardstick has no watermarks).
        let tag = "c\(chunks.count)"
        let r = try! m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: chunkPages, tag: tag, keepHandles: 0,
                                    stopAfterFailures: 1)
        if r.succeeded < chunkPages { full = true }
        return m.handles(ofTag: tag)
    }
    while fragMiB > 0 && !full {
        chunks.append(chunk())
        fragMiB -= 100
    }
    let n80 = chunks.count
    while !full { chunks.append(chunk()) }
    // MM_BENCH_SPARSE_LAYOUT=pfn: the chunks take their roles by physical position (lowest pfn first), as
    // the yardstick's do. Its fresh zone links blocks lowest pfn first and so allocates bottom-up; 2.6.35
    // frees boot memory onto the heads of the free lists (free_all_bootmem -> __free_pages ->
    // __free_one_page's list_add), so a fresh zone here allocates top-down and, in allocation order, the
    // chunks lie in the mirror image: the sparse filler chunks at the bottom, where the migration
    // scanner starts. Sorted, both programs compact the same pattern (but for the boot memory reserved
    // at the bottom of this zone and where the one partial chunk lies). The default keeps allocation order.
    if ProcessInfo.processInfo.environment["MM_BENCH_SPARSE_LAYOUT"] == "pfn" {
        chunks.sort { try! m.pfn(of: $0[0]) < m.pfn(of: $1[0]) }
    }
    for c in stride(from: n80 - 1, through: 0, by: -2) {
        for (i, h) in chunks[c].enumerated() where i % 8 != 0 { try! m.free(h) }
    }
    for c in n80..<chunks.count {
        for (i, h) in chunks[c].enumerated() where i % 8 != 0 { try! m.free(h) }
    }
    let z = m.populatedZones[0].id
    let before = m.nrFree(zone: z, order: 9) + 2 * m.nrFree(zone: z, order: 10)
    let t0 = now(), cpu0 = threadCPUSeconds()
    let rep = try! m.compactMemory()
    let secs = now() - t0, cpuSecs = threadCPUSeconds() - cpu0
    let c = rep.countersAfter
    precondition(rep.zones.allSatisfy { $0.result == .complete } && c.compactPagesMoved > 0)
    precondition(m.checkConsistency().isEmpty)
    report("compact_sparse_\(label)_chunks", Double(chunks.count), "chunks")
    report("compact_sparse_\(label)_allocated_pages", Double(m.liveAllocations), "pages")
    report("compact_sparse_\(label)_order9_free_before", Double(before), "blocks")
    report("compact_sparse_\(label)_order9_free_after", Double(m.nrFree(zone: z, order: 9) + 2 * m.nrFree(zone: z, order: 10)), "blocks")
    report("compact_sparse_\(label)_seconds", secs, "s")
    // The compaction's CPU time (this thread's): on a shared machine a 0.2 s window is often descheduled.
    report("compact_sparse_\(label)_cpu_seconds", cpuSecs, "s")
    report("compact_sparse_\(label)_migrate_scanned", Double(c.compactMigrateScanned), "pages")
    report("compact_sparse_\(label)_free_scanned", Double(c.compactFreeScanned), "pages")
    report("compact_sparse_\(label)_pages_moved", Double(c.compactPagesMoved), "pages")
    report("compact_sparse_\(label)_isolated", Double(c.compactIsolated), "pages")
    report("compact_sparse_\(label)_blocks_moved", Double(c.compactBlocksMoved), "batches")
    report("compact_sparse_\(label)_pagemigrate_failed", Double(c.compactPagemigrateFailed), "pages")
    report("compact_sparse_\(label)_scanned_per_second", Double(c.compactMigrateScanned + c.compactFreeScanned) / secs, "pages/s")
    report("compact_sparse_\(label)_pages_migrated_per_second", Double(c.compactPagesMoved) / secs, "pages/s")
}

if enabled("pageblocks") {
    // GET …/pageblocks of a 1 TiB machine (524,288 pageblocks): the one pass over the page arrays
    // (`pageblockTable`) and the binary encoding, timed together, and the document's size; fresh, then
    // aged: 3/4 of its pages allocated as order-0 anon (every block head an order-0 page, the pass's
    // worst case) and a random third of those freed, so blocks differ and run-length coding has little
    // to merge. The document is decoded back and compared with the table, so a wrong one cannot look fast.
    func measure(_ m: Machine, _ label: String) {
        let t0 = now()
        let doc = m.renderPageblockMap(name: "bench")
        let t1 = now()
        let table = m.pageblockTable()
        let t2 = now()
        precondition((try? PageblockMap.decode(doc))?.table == table)
        precondition(table.count == m.totalPages >> 9)
        precondition((0..<table.count).reduce(0) { $0 + table.info($1).pages } == m.totalPages)
        report("pageblocks_\(size)_\(label)_seconds", t1 - t0, "s")
        report("pageblocks_\(size)_\(label)_pass_seconds", t2 - t1, "s")
        report("pageblocks_\(size)_\(label)_bytes", Double(doc.count), "bytes")
    }
    // MM_BENCH_PAGEBLOCKS_GIB: another size (default 1024; the figures are named after it).
    let gib = Int(ProcessInfo.processInfo.environment["MM_BENCH_PAGEBLOCKS_GIB"] ?? "") ?? 1024
    let size = gib == 1024 ? "1tib" : "\(gib)gib"
    let m = machine(gib * 1024)
    measure(m, "fresh")
    let n = m.totalPages * 3 / 4
    let r = try! m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: n, tag: "age", keepHandles: 0)
    precondition(r.succeeded == n)
    _ = try! m.freeTag("age", pattern: .random(fraction: 1.0 / 3.0, seed: 3))
    measure(m, "aged")
}

/// A workload `fill` of `fraction` (90 %) of a fresh x86_64 machine of `mib` MiB as anon pages (one writer,
/// seed 1), stepped 1024 events at a time as the service's workload jobs step it (WorkloadRoutes), so a
/// cost paid per step that grows with what the fill has done shows up: the seconds it takes, checked to
/// have filled what it was asked to (less 1 % of memory).
func fill(mib: Int, fraction: Double = 0.9) -> Double {
    let m = machine(mib)
    let def = try! WorkloadDefinition(json: try! JSON.parse("""
        {"name": "fill", "seed": 1, "steps": [{"fill": {"kind": "anon", "fraction": \(fraction), "tag": "f"}}]}
        """))
    let events = Int(ProcessInfo.processInfo.environment["MM_BENCH_FILL_EVENTS"] ?? "") ?? 1024
    let t0 = now()
    let run = try! m.beginWorkload(def)
    while !m.step(run, maxEvents: events) {}
    let t1 = now()
    precondition(run.failure == nil && run.result.stepsDone == 1)
    // A fill's fraction is of MemTotal (the pages boot left to the buddy allocator), not of every page.
    precondition(Double(m.liveAllocations) >= Double(m.memTotalPages) * (fraction - 0.01))
    return t1 - t0
}

if enabled("fill") {
    // A fill's cost should grow with memory, not faster: 4 GiB and 16 GiB side by side.
    for gib in [4, 16] { report("fill_90pct_\(gib)gib_seconds", fill(mib: gib * 1024), "s") }
}

if args.contains("fill-one") {
    // mm-bench fill-one MIB: one machine size (MM_BENCH_FILL_FRACTION, default 0.9; MM_BENCH_FILL_EVENTS
    // events a step, default 1024).
    let mib = Int(Array(CommandLine.arguments.dropFirst())[1])!
    let f = Double(ProcessInfo.processInfo.environment["MM_BENCH_FILL_FRACTION"] ?? "") ?? 0.9
    report("fill_\(Int((f * 100).rounded()))pct_\(mib)mib_seconds", fill(mib: mib, fraction: f), "s")
}

if args.contains("experiment") {
    // mm-bench experiment FILE.json: runs an experiment definition and prints its table and wall time.
    let a = Array(CommandLine.arguments.dropFirst())
    let text = try! String(contentsOfFile: a[1], encoding: .utf8)
    let e = try! Experiment(json: try! JSON.parse(text))
    let t0 = now()
    let r = try! e.run()
    report("experiment_seconds", now() - t0, "s")
    print(r.markdown)
}

if args.contains("one-workload") {
    // mm-bench one-workload NAME MIB: runs one preset once and prints its wall time and table row.
    let a = Array(CommandLine.arguments.dropFirst())
    let name = a[1], mib = Int(a[2])!
    let m = machine(mib)
    let t0 = now()
    let r = try! m.runWorkload(WorkloadPresets.definition(named: name)!)
    report("workload_seconds", now() - t0, "s")
    print(ExperimentResult(name: name, workload: name, variants: [("compaction", r)]).markdown)
    print(m.renderVmstat())
}

if args.contains("result-json") {
    // mm-bench result-json NAME MIB [EVENTS]: a preset's result JSON on a fresh x86_64 machine (seed 1; MMBENCH_ARCH and
    // MMBENCH_COMPACTION=0 choose another preset and the vanilla kernel, MMBENCH_KERNEL=6.6 the modern one),
    // run to its end or stepped EVENTS events at a time as the service steps it, then the machine's
    // /proc/vmstat and /proc/buddyinfo. mm-bench result-json FILE.json: an experiment's result JSON.
    // scripts/result-snapshots.sh writes them all to a directory, to compare two builds byte for byte.
    let a = Array(CommandLine.arguments.dropFirst())
    if a.count >= 3, let mib = Int(a[2]) {
        // MMBENCH_ARCH=x86|ppc64 picks another preset (default x86_64).
        let arch = ProcessInfo.processInfo.environment["MMBENCH_ARCH"].flatMap { ArchPreset.named($0) } ?? .x86_64
        // MMBENCH_COMPACTION=0 runs the vanilla kernel (2.6.34) instead of 2.6.35.
        let compaction = ProcessInfo.processInfo.environment["MMBENCH_COMPACTION"] != "0"
        // MMBENCH_KERNEL=6.6 runs the modern profile (its defaults) instead.
        let modern = ProcessInfo.processInfo.environment["MMBENCH_KERNEL"] == "6.6"
        let m = try! Machine(modern ? MachineConfig(preset: arch, memoryMiB: mib, seed: 1, kernel: .v6_6)
                                    : MachineConfig(preset: arch, memoryMiB: mib, seed: 1, compaction: compaction))
        let run = try! m.beginWorkload(WorkloadPresets.definition(named: a[1])!)
        let events = a.count >= 4 ? Int(a[3])! : 1 << 30
        // MMBENCH_STEP_TIMES=1: the longest call of `step` (the service checks for a cancel between calls).
        var longest = 0.0, longestAt = 0
        while true {
            let t0 = now()
            let done = m.step(run, maxEvents: events)
            let dt = now() - t0
            if dt > longest { longest = dt; longestAt = run.result.stepsDone }
            if done { break }
        }
        if ProcessInfo.processInfo.environment["MMBENCH_STEP_TIMES"] == "1" {
            FileHandle.standardError.write("longest step call \(String(format: "%.3f", longest)) s, ending with \(longestAt) steps done\n".data(using: .utf8)!)
        }
        if let f = run.failure { FileHandle.standardError.write("the run failed: \(f)\n".data(using: .utf8)!); exit(1) }
        print(run.result.json.encoded)
        print(m.renderVmstat())
        print(m.renderBuddyinfo())
        let wb = m.writebackStats
        print("writeback flusher_pages \(wb.flusherPages) throttled_pages \(wb.throttledPages) throttled_ms \(wb.throttledNs / 1_000_000) dirty \(wb.dirtyPages) background_thresh \(wb.backgroundThreshold) dirty_thresh \(wb.dirtyLimit) clock_ms \(m.clockNs / 1_000_000)")
    } else {
        let text = try! String(contentsOfFile: a[1], encoding: .utf8)
        let e = try! Experiment(json: try! JSON.parse(text))
        print(try! e.run().json.encoded)
    }
}

if args.contains("experiment-parallel") {
    // mm-bench experiment-parallel FILE.json [JOBS] [csv|markdown|json]: an experiment (with its `repeat`) run with
    // its units (variant × seed) spread over JOBS threads (default 2), as the service's lanes run them;
    // prints the result and, on stderr, the wall time.
    let a = Array(CommandLine.arguments.dropFirst())
    let text = try! String(contentsOfFile: a[1], encoding: .utf8)
    let e = try! Experiment(json: try! JSON.parse(text))
    let jobs = a.count >= 3 ? Int(a[2]) ?? 2 : 2
    let format = a.count >= 4 ? a[3] : "markdown"
    let units = e.repeatCount * e.variants.count
    // Each lane takes the next unit not yet started, as the service's `ExperimentLanes` do, so a variant
    // that runs longer than another does not leave one lane idle (a fixed stride of `jobs` units would
    // give each lane one variant when there are as many variants as lanes).
    // @unchecked Sendable: `next` and `results` are read and written only with `lock` held.
    final class Slots: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        var results: [[WorkloadResult?]]
        var cpu: [Double] = []
        init(_ v: Int, _ k: Int) { results = Array(repeating: Array(repeating: nil, count: k), count: v) }
        func take() -> Int { lock.lock(); defer { lock.unlock() }; next += 1; return next - 1 }
        func file(_ v: Int, _ k: Int, _ r: WorkloadResult) { lock.lock(); results[v][k] = r; lock.unlock() }
        func addCPU(_ s: Double) { lock.lock(); cpu.append(s); lock.unlock() }
    }
    let slots = Slots(e.variants.count, e.repeatCount)
    let t0 = now()
    DispatchQueue.concurrentPerform(iterations: jobs) { _ in
        let c0 = threadCPUSeconds()
        while true {
            let u = slots.take()
            if u >= units { break }
            let k = u / e.variants.count, v = u % e.variants.count
            let unit = e.unit(variant: v, replicate: k)
            slots.file(v, k, try! Machine(unit.config).runWorkload(unit.workload))
        }
        slots.addCPU(threadCPUSeconds() - c0)
    }
    let t1 = now()
    let res = e.result(replicates: slots.results.map { $0.map { $0! } })
    switch format {
    case "csv": print(res.csv, terminator: "")
    case "json": print(res.json.encoded)
    default: print(res.markdown, terminator: "")
    }
    FileHandle.standardError.write("experiment \(e.name): \(units) units on \(jobs) threads in \(String(format: "%.2f", t1 - t0)) s (CPU of the lanes: \(slots.cpu.sorted().map { String(format: "%.2f", $0) }.joined(separator: ", ")) s)\n".data(using: .utf8)!)
}

if args.contains("workloads") || args.contains("workloads-table") {
    // Wall time of each built-in workload on a 4 GiB x86_64 machine (compaction on), and with
    // `workloads-table` the vanilla-vs-compaction table of each.
    for (name, _, _) in WorkloadPresets.all {
        let def = WorkloadPresets.definition(named: name)!
        let m = machine(4096)
        let t0 = now()
        let r = try! m.runWorkload(def)
        let t1 = now()
        precondition(r.stepsDone == def.steps.count)
        report("workload_\(name.replacingOccurrences(of: "-", with: "_"))_4gib_seconds", t1 - t0, "s")
        if args.contains("workloads-table") {
            let exp = try! Experiment(json: try! JSON.parse("""
                {"template": {"preset": "x86_64", "memory_mib": 4096, "seed": 1},
                 "variants": [{"name": "vanilla", "compaction": false}, {"name": "compaction", "compaction": true}],
                 "preset": "\(name)"}
                """))
            print(try! exp.run().markdown)
        }
    }
}

if args.contains("experiment-repeat") {
    // mm-bench experiment-repeat FILE.json [REPEAT]: an experiment run REPEAT times (default 1), the template's
    // and the workload's seed going 1, 2, …; per variant the mean and range of its figures over the runs, as Markdown,
    // then the wall time and the peak resident memory of the whole run.
    let a = Array(CommandLine.arguments.dropFirst())
    let file = a[a.firstIndex(of: "experiment-repeat")! + 1]
    let repeats = a.count > a.firstIndex(of: "experiment-repeat")! + 2 ? Int(a[a.firstIndex(of: "experiment-repeat")! + 2]) ?? 1 : 1
    let text = try! String(contentsOfFile: file, encoding: .utf8)
    let t0 = now()
    var tables: [ExperimentResult] = []
    for k in 0..<repeats {
        var j = try! JSON.parse(text)
        if case .object(var top) = j, let ti = top.firstIndex(where: { $0.0 == "template" }), case .object(var tpl) = top[ti].1 {
            tpl.removeAll { $0.0 == "seed" }
            tpl.append(("seed", .number(Double(k + 1))))
            top[ti].1 = .object(tpl)
            j = .object(top)
        }
        var e = try! Experiment(json: j)
        e.workload.seed = UInt64(k + 1)
        let r = try! e.run()
        tables.append(r)
        if repeats == 1 { print(r.markdown) }
        fflush(nil)
    }
    if repeats > 1 {
        let cols = tables[0].columnNames
        let numeric = cols.indices.filter { i in tables.allSatisfy { t in t.rows.allSatisfy { Double($0[i]) != nil } } }
        print("| variant | " + numeric.map { cols[$0] }.joined(separator: " | ") + " |")
        print("|---|" + numeric.map { _ in "---" }.joined(separator: "|") + "|")
        for v in tables[0].rows.indices {
            var cells: [String] = []
            for i in numeric {
                let xs = tables.map { Double($0.rows[v][i])! }
                let mean = xs.reduce(0, +) / Double(xs.count)
                func f(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(format: "%.1f", d) }
                cells.append("\(f(mean)) (\(f(xs.min()!))–\(f(xs.max()!)))")
            }
            print("| \(tables[0].rows[v][0]) | " + cells.joined(separator: " | ") + " |")
        }
    }
    let hwm = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8))?.split(separator: "\n")
        // "VmHWM:\t  724208 kB": a tab, then spaces only while the figure is under 8 digits (from 10^7 kB,
        // about 9.5 GiB, none), so split on both.
        .first { $0.hasPrefix("VmHWM:") }.map { Double($0.split(whereSeparator: { $0 == " " || $0 == "\t" })[1])! * 1024 } ?? 0
    report("experiment_wall_seconds", now() - t0, "s")
    report("experiment_peak_rss_mib", hwm / 1048576, "MiB")
}

if args.contains("modern-trace") {
    // mm-bench modern-trace PRESET MIB PROACTIVENESS [SEED]: a preset on a kernel 6.6 x86_64 machine with a
    // counting tracer; prints how many of each tracepoint fired (with the result strings of
    // mm_compaction_suitable / _finished / _end by mode), and at every sample and every 2000 huge-page
    // attempts the first zone's compaction state (deferral, skip bits, cached pfns). A diagnostic for the
    // modern profile's counters (docs/results.md).
    let a = Array(CommandLine.arguments.dropFirst())
    let i = a.firstIndex(of: "modern-trace")!
    let name = a[i + 1], mib = Int(a[i + 2])!, pro = Int(a[i + 3])!
    let seed = a.count > i + 4 ? UInt64(a[i + 4])! : 1
    var s = SysctlSettings()
    s.modern.compactionProactiveness = pro
    // MODERN_TRACE_KERNEL=2.6.35: the same workload on the seed's kernel (only clocks and counters printed).
    let old = ProcessInfo.processInfo.environment["MODERN_TRACE_KERNEL"] == "2.6.35"
    let m = try! Machine(MachineConfig(preset: .x86_64, memoryMiB: mib, seed: seed, kernel: old ? .v2_6_35 : .v6_6, sysctl: old ? SysctlSettings() : s))
    // MODERN_TRACE_ENDS=1: also a line for every zone compaction's end (its status, where the scanners
    // stopped, and the zone's free pages and order-9 fragmentation index then).
    let ends = ProcessInfo.processInfo.environment["MODERN_TRACE_ENDS"] == "1"
    final class Counter: MachineTracer {
        var counts: [String: Int] = [:]
        var onEnd: ((CompactionTraceEnd) -> Void)?
        func compactionEnd(_ e: CompactionTraceEnd) {
            counts["end \(e.zone) \(e.mode) \(e.status)", default: 0] += 1
            onEnd?(e)
        }
        func compactionBegin(_ e: CompactionTraceBegin) { counts["begin \(e.zone) \(e.mode)", default: 0] += 1 }
        func modern(_ e: ModernTraceEvent) {
            switch e {
            case .suitable(_, let z, let o, let r): counts["suitable \(z) o\(o) \(r)", default: 0] += 1
            case .finished(_, let z, let o, let r) where r != "continue": counts["finished \(z) o\(o) \(r)", default: 0] += 1
            case .deferred(let d): counts["deferred \(d.zone)", default: 0] += 1
            case .deferCompaction(let d): counts["defer_compaction \(d.zone)", default: 0] += 1
            case .finished: break
            case .tryToCompactPages(_, let g, let p): counts["try_to_compact_pages prio \(p) \(g)", default: 0] += 1
            default: counts[e.name, default: 0] += 1
            }
        }
    }
    let c = Counter()
    m.tracer = c
    if ends {
        c.onEnd = { [unowned m] e in
            let z = m.populatedZones.first { $0.name == e.zone }!.id
            print("compaction end \(e.zone) \(e.status) clock \(m.clockNs / 1_000_000) ms migrate_pfn \(e.migratePfn - e.zoneStart) free_pfn \(e.freePfn - e.zoneStart) of \(e.zoneEnd - e.zoneStart) free_pages \(m.nrFreePages(zone: z)) low \(m.wmarkPages(zone: z, .low)) fragindex9 \(m.fragmentationIndex(zone: z, order: 9)) stall \(m.counters.compactStall)")
        }
    }
    var def = WorkloadPresets.definition(named: name)!
    def.seed = seed
    // MODERN_TRACE_DELAY_MS: the high_alloc steps paced by a fixed delay after each attempt instead of
    // their mb_per_sec; MODERN_TRACE_EVERY: print the state every that many attempts (default 2000).
    let env = ProcessInfo.processInfo.environment
    if let d = env["MODERN_TRACE_DELAY_MS"].flatMap(Double.init) {
        def.steps = def.steps.map { st in
            if case .highAlloc(var h) = st { h.mbPerSec = nil; h.delayMs = d; return .highAlloc(h) }
            return st
        }
    }
    let every = env["MODERN_TRACE_EVERY"].flatMap(Int.init) ?? 2000
    let run = try! m.beginWorkload(def)
    let z = m.nodes[0].zoneIds.last { m.zones[$0].populated }!
    func state(_ label: String) {
        if old {
            print("\(label): free_pages \(m.nrFreePages(zone: z)) clock \(m.clockNs / 1_000_000) ms pgalloc \(m.counters.pgalloc.reduce(0, +)) kswapd_wake \(m.counters.kswapdWakeups) stall \(m.counters.compactStall) fail \(m.counters.compactFail) success \(m.counters.compactSuccess)")
            return
        }
        let st = m.modernCompactionState(zone: z)!
        let k = m.kcompactdStatus(node: NodeID(0))!
        print("\(label): zone \(m.zones[z].name) shift \(st.deferShift) considered \(st.considered) order_failed \(st.orderFailed) skip \(st.skippedPageblocks)/\(m.zones[z].spannedPages >> m.pageblockOrder) flush \(st.blockskipFlush) migrate \(st.cachedMigratePfnAsync)/\(st.cachedMigratePfnSync) free \(st.cachedFreePfn) init \(st.initMigratePfn)/\(st.initFreePfn) free_pages \(m.nrFreePages(zone: z)) score \(k.score) kcompactd \(k.phase) kclock \(k.clockNs / 1_000_000) ms clock \(m.clockNs / 1_000_000) ms isolated \(m.counters.compactIsolated) kswapd_wakeups \(m.counters.kswapdWakeups) kswapd_ms \(m.kswapdNs / 1_000_000) pgalloc \(m.counters.pgalloc.reduce(0, +)) pgfree \(m.counters.pgfree) kswapd_wake \(m.counters.kswapdWakeups) stall \(m.counters.compactStall) fail \(m.counters.compactFail) success \(m.counters.compactSuccess)")
    }
    var lastSamples = 0, lastAttempts = 0
    while !m.step(run, maxEvents: 256) {
        if run.result.samples.count != lastSamples { lastSamples = run.result.samples.count; state("sample \(run.result.samples.last!.name)") }
        let att = run.result.attempts.count
        if let zi = env["MODERN_TRACE_ZONEINFO_AT"].flatMap(Int.init), att >= zi, lastAttempts < zi { print(m.renderZoneinfo()) }
        if att / every != lastAttempts / every { state("attempts \(att) ok \(run.result.attempts.filter(\.success).count)") }
        lastAttempts = att
    }
    state("end")
    for (k, v) in c.counts.sorted(by: { $0.key < $1.key }) { print("\(k): \(v)") }
    print(run.result.json.encoded.prefix(600))
}
