import Testing
@testable import MMCore

/// The flusher and the writers' throttle against 2.6.35's rules (PageCache/Writeback.swift):
/// `get_dirty_limits` on `determine_dirtyable_memory`, `balance_dirty_pages` above the dirty limit,
/// background writeback down to the background threshold, kupdate for pages dirtied 30 s ago, and
/// `wakeup_flusher_threads` from direct reclaim.
@Suite struct WritebackTests {
    static let dirtyFile = AllocRequest(order: 0, kind: .file, gfp: .kernel, dirty: true)

    func dirty(_ m: Machine, _ n: Int) throws -> [PageHandle] {
        try (0..<n).map { _ in try #require(try m.allocate(WritebackTests.dirtyFile).handle) }
    }

    @Test func theLimitsAreTheRatiosOfFreeAndReclaimablePages() {
        let m = makeMachine(.x86_64, mib: 64)
        let available = m.zoneIDs.reduce(0) { $0 + m.nrFreePages(zone: $1) + m.zoneReclaimablePages(zone: $1) } + 1
        let l = m.dirtyLimits()
        #expect(l.dirty == 20 * available / 100)
        #expect(l.background == 10 * available / 100)
        // x86 leaves highmem out (vm_highmem_is_dirtyable 0).
        let x = makeMachine(.x86, mib: 1024)
        let high = x.zoneIDs.filter { x.zones[$0].type == .highmem }.reduce(0) { $0 + x.nrFreePages(zone: $1) }
        #expect(high > 0)
        let all = x.zoneIDs.reduce(0) { $0 + x.nrFreePages(zone: $1) }
        #expect(x.dirtyableMemory() == all - high + 1)
        // ratelimit_pages: managed / 32, at most 4 MiB.
        #expect(m.ratelimitPages == min(m.memTotalPages / 32, 1024))
    }

    @Test func theRatiosAreSysctls() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let available = m.dirtyableMemory()
        try m.setDirtyRatio(40)
        try m.setDirtyBackgroundRatio(50)
        // A background ratio not below the dirty one gives half the dirty limit; below 5 counts as 5.
        #expect(m.dirtyLimits().dirty == 40 * available / 100)
        #expect(m.dirtyLimits().background == m.dirtyLimits().dirty / 2)
        try m.setDirtyRatio(1)
        #expect(m.dirtyLimits().dirty == 5 * available / 100)
        #expect(throws: MMError.self) { try m.setDirtyRatio(101) }
        #expect(m.dirtyRatio == 1)
        let c = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 64, sysctl: SysctlSettings(dirtyRatio: 30)))
        #expect(c.dirtyRatio == 30 && c.dirtyBackgroundRatio == 10)
        let copy = try Machine(m.config, restoring: m.exportState())
        #expect(copy.dirtyRatio == 1 && copy.dirtyBackgroundRatio == 50)
    }

    @Test func aWriterAboveTheDirtyLimitWritesAndWaits() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let limit = m.dirtyLimits().dirty
        let clock = m.clockNs
        _ = try dirty(m, limit + 2 * m.ratelimitPages)
        let wb = m.writebackStats
        #expect(wb.throttledPages > 0)
        #expect(wb.throttledNs >= wb.throttledPages * m.costs.writePage)
        // The writer never gets far past the limit: at most the ratelimit's pages between two checks.
        #expect(m.nrDirtyPages <= m.dirtyLimits().dirty + m.ratelimitPages)
        #expect(m.clockNs - clock >= wb.throttledNs)
        #expect(m.counters.pgpgout >= wb.throttledPages * 4)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func backgroundWritebackStopsBelowTheBackgroundThreshold() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let l = m.dirtyLimits()
        // Between the thresholds: the check at the ratelimit starts background writeback, nothing waits.
        _ = try dirty(m, (l.background + l.dirty) / 2)
        #expect(m.writebackStats.throttledPages == 0)
        #expect(m.writeback.background)
        m.idle(ns: 2_000_000_000)
        #expect(!m.writeback.background)
        #expect(m.writebackStats.flusherPages > 0)
        #expect(m.nrDirtyPages < m.dirtyLimits().background)
        // It stopped at a chunk boundary: within MAX_WRITEBACK_PAGES of the threshold.
        #expect(m.nrDirtyPages > m.dirtyLimits().background - WritebackState.maxWritebackPages)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func kupdateWritesWhatWasDirtiedThirtySecondsAgo() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let first = try dirty(m, 100)
        m.idle(ns: 20_000_000_000)
        let second = try dirty(m, 100)
        #expect(m.writebackStats.flusherPages == 0)
        // The wakeup at 35 s finds the first hundred 35 s old, the second 15 s; 100 ms to write them.
        m.idle(ns: 15_100_000_000)
        #expect(m.writebackStats.flusherPages == 100)
        #expect(first.allSatisfy { !m.isDirty($0) })
        #expect(second.allSatisfy { m.isDirty($0) })
        m.idle(ns: 20_000_000_000)
        #expect(m.nrDirtyPages == 0)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func theFlusherWritesAtTheDiskRateLessWhatPageoutUses() throws {
        let m = makeMachine(.x86_64, mib: 64)
        _ = try dirty(m, 1000)
        m.wakeupFlusherThreads(pages: 1000)
        m.writeback.diskBusyNs = 10 * m.costs.writePage
        m.idle(ns: 100 * m.costs.writePage)
        // 100 pages' time, 10 of them the disk's for pageout: 90 written.
        #expect(m.writebackStats.flusherPages == 90)
        #expect(m.writeback.requestedPages == 910)
        m.idle(ns: 2000 * m.costs.writePage)
        #expect(m.writeback.requestedPages == 0)
        #expect(m.nrDirtyPages == 0)
    }

    @Test func directReclaimWakesTheFlusher() throws {
        let m = makeMachine(.x86_64, mib: 64, compaction: false)
        // Below the dirty limit: every page on the LRU stays dirty.
        _ = try dirty(m, m.dirtyLimits().dirty * 3 / 4)
        #expect(m.nrDirtyPages == m.lruPages(zone: m.zoneId(.dma32), list: .inactiveFile) + m.lruPages(zone: m.zoneId(.dma), list: .inactiveFile))
        #expect(m.writeback.requestedPages == 0)
        // A GFP_NOFS reclaim cannot write them: it scans on at every priority, and once past 48 pages
        // asks the flusher for as many as it scanned so far.
        let zl = Array(m.zoneIDs.filter { m.zones[$0].populated })
        let r = m.tryToFreePages(zonelist: zl, order: 0, gfp: [.wait, .io])
        #expect(m.writeback.requestedPages > 48, "reclaimed \(r.reclaimed), scanned \(m.counters.pgscanDirect), dirty \(m.nrDirtyPages)")
        let scanned = Int(m.counters.pgscanDirect)
        #expect(m.writeback.requestedPages <= scanned * 13)
        m.idle(ns: 1_000_000_000)
        #expect(m.writeback.requestedPages == 0)
        #expect(m.writebackStats.flusherPages > 0)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func aRefusedListLeavesPagesUnlistedUntilHalfIsWritten() throws {
        let m = makeMachine(.x86_64, mib: 64)
        _ = try dirty(m, 16)
        #expect(m.writeback.room == 16 && m.writeback.pending == 16)
        // The gate refuses the list more room: the next pages go unlisted, without a second try each.
        m.stateGrowthGate = { _ in false }
        let unlisted = try dirty(m, 40)
        #expect(m.writeback.full)
        #expect(m.writeback.pending == 16)
        #expect(m.stateRefusals == 1)
        #expect(unlisted.allSatisfy { m.isDirty($0) })
        #expect(m.checkConsistency().isEmpty)
        // Once kupdate has written the listed ones, pages are listed again.
        m.idle(ns: 40_000_000_000)
        _ = try dirty(m, 1)
        #expect(!m.writeback.full)
        #expect(m.writeback.pending == 1)
    }

    @Test func aRestoredMachineFlushesAsTheOriginal() throws {
        let m = makeMachine(.x86_64, mib: 64)
        _ = try dirty(m, 300)
        m.idle(ns: 10_000_000_000)
        _ = try dirty(m, m.dirtyLimits().background)
        let copy = try Machine(m.config, restoring: m.exportState())
        for x in [m, copy] {
            x.idle(ns: 25_000_000_000)
            _ = try dirty(x, 200)
            x.idle(ns: 40_000_000_000)
        }
        #expect(copy.exportState() == m.exportState())
        #expect(copy.writebackStats == m.writebackStats)
    }

    @Test func anImageWithoutTheFlusherListsItsDirtyPages() throws {
        let m = makeMachine(.x86_64, mib: 64)
        let hs = try dirty(m, 300)
        var image = m.exportState()
        image.version = 4
        image.sections.removeAll { $0.name.hasPrefix("writeback.") }
        let copy = try Machine(m.config, restoring: image)
        #expect(copy.writeback.pending == 300)
        #expect(copy.checkConsistency().isEmpty)
        copy.idle(ns: 40_000_000_000)
        #expect(hs.allSatisfy { !copy.isDirty($0) })
    }
}

extension Machine {
    /// Whether a live page-cache allocation is dirty.
    func isDirty(_ h: PageHandle) -> Bool {
        guard let s = handles.resolve(h) else { return false }
        return pages.state[Pfn(link: handles.pfn[s])] & PageState.dirty != 0
    }
}
