/// The kernel selftest `tools/testing/selftests/mm/compaction_test.c` (kernel-compaction.md §9.2).
public struct CompactionSelftestResult: Sendable, Equatable {
    /// MemFree at the start, in kB.
    public var memFreeKB: Int
    /// 100 MiB chunks mapped (mlocked anon) before 80 % of MemFree was covered or a mapping failed.
    public var chunksMapped: Int
    public var chunksUnmapped: Int
    /// Huge pages the kernel could allocate when asked for 100000.
    public var hugepages: Int
    public var hugepageKB: Int
    /// `(0.8 × MemFree) / (N × hugepage size)` in integer arithmetic; -1 when N = 0.
    public var compactionIndex: Int
    /// The selftest's verdict: pass iff the index is at most 3 (and N > 0).
    public var passed: Bool
    /// Simulated time spent allocating the huge pages (ns).
    public var hugepageAllocNs: UInt64
}

/// The selftest in progress, phase by phase, so a workload step runs it a part at a time (a chunk mapped
/// or unmapped, or one huge page) and the service can cancel its job between parts.
/// (Exclusivity as for a run's own state: one thread drives it, and no access stays open across a call
/// that reaches the same property again.)
final class SelftestProgress {
    enum Phase { case map, unmap, hugepages }
    let memFreeKB: Int, hugepageKB: Int, chunkPages: Int, targetKB: Int, maxHugepages: Int
    @exclusivity(unchecked) var phase = Phase.map
    @exclusivity(unchecked) var chunks: [String] = []
    @exclusivity(unchecked) var mappedKB = 0
    /// Chunks looked at by the unmapping, newest first.
    @exclusivity(unchecked) var unmapIndex = 0
    @exclusivity(unchecked) var unmapped = 0
    @exclusivity(unchecked) var start: UInt64 = 0
    @exclusivity(unchecked) var hugepages = 0
    @exclusivity(unchecked) var noretry: UInt64 = 0

    init(memFreeKB: Int, hugepageKB: Int, chunkPages: Int, maxHugepages: Int) {
        self.memFreeKB = memFreeKB; self.hugepageKB = hugepageKB; self.chunkPages = chunkPages
        targetKB = memFreeKB * 8 / 10
        self.maxHugepages = maxHugepages
    }

    func result(clockNs: UInt64) -> CompactionSelftestResult {
        let index = hugepages > 0 ? (memFreeKB * 8 / 10) / (hugepages * hugepageKB) : -1
        return CompactionSelftestResult(memFreeKB: memFreeKB, chunksMapped: chunks.count, chunksUnmapped: unmapped,
                                        hugepages: hugepages, hugepageKB: hugepageKB, compactionIndex: index,
                                        passed: hugepages > 0 && index <= 3, hugepageAllocNs: clockNs &- start)
    }
}

extension Machine {
    /// Runs the selftest's steps: read MemFree; mmap 100 MiB MAP_LOCKED anonymous chunks, touching every
    /// page, until 80 % of MemFree is covered or a mapping fails; unmap every other chunk (newest first:
    /// the 1st, 3rd, 5th …); then write 100000 to nr_hugepages and count how many were allocated: one
    /// write, so `set_max_huge_pages` grows the pool through the machine's kernel's own path
    /// (`allocFreshHugePage`: 2.6.35's GFP_HIGHUSER|__GFP_REPEAT, 6.6's movable mask and
    /// __GFP_RETRY_MAYFAIL; nodes round-robin) until its first failure on every node. The test needs
    /// compact_unevictable_allowed = 1 (it reports a pass otherwise, as the selftest does).
    public func runCompactionSelftest(maxHugepages: Int = 100_000) throws(MMError) -> CompactionSelftestResult {
        switch beginCompactionSelftest(maxHugepages: maxHugepages) {
        case .done(let r): return r
        case .running(let p):
            while try !continueCompactionSelftest(p, events: Int.max).done {}
            return p.result(clockNs: clockNs)
        }
    }

    enum SelftestStart { case done(CompactionSelftestResult), running(SelftestProgress) }

    /// Reads MemFree: the test's result at once without compact_unevictable_allowed, else its progress.
    func beginCompactionSelftest(maxHugepages: Int = 100_000) -> SelftestStart {
        let memFreeKB = nrFreePagesTotal * pageKB
        let hugepageKB = pageblockPages * pageKB
        guard compactUnevictableAllowed == 1 else {
            return .done(CompactionSelftestResult(memFreeKB: memFreeKB, chunksMapped: 0, chunksUnmapped: 0, hugepages: 0,
                                                  hugepageKB: hugepageKB, compactionIndex: 0, passed: true, hugepageAllocNs: 0))
        }
        return .running(SelftestProgress(memFreeKB: memFreeKB, hugepageKB: hugepageKB, chunkPages: (100 << 20) >> pageShift,
                                         maxHugepages: maxHugepages))
    }

    /// Goes on with the selftest, part after part in the order the whole test makes them (a chunk mapped
    /// or unmapped, weighing its pages; a huge page asked for, weighing a costly attempt's events),
    /// until the parts made weigh `events` or more (at least one part); returns whether it is done and
    /// the weight of the parts it made.
    func continueCompactionSelftest(_ p: SelftestProgress, events: Int) throws(MMError) -> (done: Bool, used: Int) {
        var used = 0
        while used < events {
            switch p.phase {
            case .map:
                guard p.mappedKB < p.targetKB else { p.phase = .unmap; continue }
                let tag = "selftest-chunk-\(p.chunks.count)"
                let r = try allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .kernel, mlock: true), count: p.chunkPages,
                                         tag: tag, keepHandles: 0, stopAfterFailures: 1)
                if r.failed > 0 || r.stateLimitBytes != nil {
                    // mmap(MAP_LOCKED) failed: the partial mapping is undone and the loop stops. (The machine's
                    // state gate refusing the chunk's bookkeeping ends the whole test: nothing is measured.)
                    if r.succeeded > 0 { try freeTag(tag, pattern: .all) }
                    if let bytes = r.stateLimitBytes { throw .stateLimit(bytes: bytes) }
                    p.phase = .unmap
                    continue
                }
                p.chunks.append(tag)
                p.mappedKB += p.chunkPages * pageKB
                used += p.chunkPages
            case .unmap:
                guard p.unmapIndex < p.chunks.count else {
                    p.phase = .hugepages
                    p.start = clockNs
                    continue
                }
                if p.unmapIndex % 2 == 0 {
                    try freeTag(p.chunks[p.chunks.count - 1 - p.unmapIndex], pattern: .all)
                    p.unmapped += 1
                    used += p.chunkPages
                } else {
                    used += 1
                }
                p.unmapIndex += 1
            case .hugepages:
                used += attemptEvents(order: pageblockOrder)
                guard p.hugepages < p.maxHugepages else { return (true, used) }
                guard let h = try allocFreshHugePage(order: pageblockOrder, noretry: &p.noretry).handle else { return (true, used) }
                guard appendToTag("selftest-hugepages", CollectionOfOne(h)) else {
                    undoAllocations(CollectionOfOne(h))
                    throw .stateLimit(bytes: lastRefusedBytes)
                }
                p.hugepages += 1
            }
        }
        return (false, used)
    }
}
