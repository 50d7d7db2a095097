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

extension Machine {
    /// Runs the selftest's steps: read MemFree; mmap 100 MiB MAP_LOCKED anonymous chunks, touching every
    /// page, until 80 % of MemFree is covered or a mapping fails; unmap every other chunk (newest first:
    /// the 1st, 3rd, 5th …); then write 100000 to nr_hugepages and count how many were allocated: one
    /// write, so `set_max_huge_pages` grows the pool through the machine's kernel's own path
    /// (`allocFreshHugePage`: 2.6.35's GFP_HIGHUSER|__GFP_REPEAT, 6.6's movable mask and
    /// __GFP_RETRY_MAYFAIL; nodes round-robin) until its first failure on every node. The test needs
    /// compact_unevictable_allowed = 1 (it reports a pass otherwise, as the selftest does).
    public func runCompactionSelftest(maxHugepages: Int = 100_000) throws(MMError) -> CompactionSelftestResult {
        let memFreeKB = nrFreePagesTotal * pageKB
        let hugepageKB = pageblockPages * pageKB
        guard compactUnevictableAllowed == 1 else {
            return CompactionSelftestResult(memFreeKB: memFreeKB, chunksMapped: 0, chunksUnmapped: 0, hugepages: 0,
                                            hugepageKB: hugepageKB, compactionIndex: 0, passed: true, hugepageAllocNs: 0)
        }
        let chunkPages = (100 << 20) >> pageShift
        let targetKB = memFreeKB * 8 / 10
        var chunks: [String] = []
        var mappedKB = 0
        while mappedKB < targetKB {
            let tag = "selftest-chunk-\(chunks.count)"
            let r = try allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .kernel, mlock: true), count: chunkPages,
                                     tag: tag, keepHandles: 0, stopAfterFailures: 1)
            if r.failed > 0 || r.stateLimitBytes != nil {
                // mmap(MAP_LOCKED) failed: the partial mapping is undone and the loop stops. (The machine's
                // state gate refusing the chunk's bookkeeping ends the whole test: nothing is measured.)
                if r.succeeded > 0 { try freeTag(tag, pattern: .all) }
                if let bytes = r.stateLimitBytes { throw .stateLimit(bytes: bytes) }
                break
            }
            chunks.append(tag)
            mappedKB += chunkPages * pageKB
        }
        var unmapped = 0
        for (i, tag) in chunks.reversed().enumerated() where i % 2 == 0 {
            try freeTag(tag, pattern: .all)
            unmapped += 1
        }
        let start = clockNs
        var n = 0
        var noretry: UInt64 = 0
        while n < maxHugepages {
            guard let h = try allocFreshHugePage(order: pageblockOrder, noretry: &noretry).handle else { break }
            guard appendToTag("selftest-hugepages", CollectionOfOne(h)) else {
                undoAllocations(CollectionOfOne(h))
                throw .stateLimit(bytes: lastRefusedBytes)
            }
            n += 1
        }
        let index = n > 0 ? (memFreeKB * 8 / 10) / (n * hugepageKB) : -1
        return CompactionSelftestResult(memFreeKB: memFreeKB, chunksMapped: chunks.count, chunksUnmapped: unmapped,
                                        hugepages: n, hugepageKB: hugepageKB, compactionIndex: index,
                                        passed: n > 0 && index <= 3, hugepageAllocNs: clockNs &- start)
    }
}
