/// Writeback of dirty page cache besides reclaim's `pageout`: the flusher thread of the machine's one
/// disk, writers throttled as they dirty pages, and direct reclaim waking the flusher, as 2.6.35 does
/// them (fs/fs-writeback.c, mm/page-writeback.c, mm/vmscan.c):
///
/// - `bdi_writeback_task` wakes every `dirty_writeback_interval` (5 s) and runs `wb_do_writeback`: first
///   the queued work items (background writeback, and the pages reclaim asked for), then
///   `wb_check_old_data_flush`, kupdate-style writeback of what was dirtied `dirty_expire_interval`
///   (30 s) or more ago. `wb_writeback` writes the oldest-dirtied first, in chunks of
///   MAX_WRITEBACK_PAGES (1,024); background work stops at the chunk boundary where the dirty pages are
///   below the background threshold (`over_bground_thresh`).
/// - A task that dirties pages calls `balance_dirty_pages_ratelimited_nr` for them; once it has dirtied
///   `ratelimit_pages` (8 while the limit is exceeded) it runs `balance_dirty_pages`, which above the
///   dirty limit makes it write a chunk itself (`writeback_inodes_wb`) and sleep, and above the
///   background threshold starts the flusher's background writeback.
/// - `do_try_to_free_pages`, once a direct reclaim has scanned more than 1.5 × SWAP_CLUSTER_MAX pages,
///   calls `wakeup_flusher_threads(total_scanned)`: write as many pages as it scanned.
///
/// The limits are `get_dirty_limits` on `determine_dirtyable_memory` (free pages and reclaimable LRU
/// pages, highmem left out) with `vm_dirty_ratio` (default 20) and `dirty_background_ratio` (10), both
/// sysctls of the machine.
///
/// What the model simplifies. Pages are written one by one in the order they were dirtied, where the
/// kernel writes whole inodes in the order their first page was dirtied (the model's page cache is
/// written once, page after page, so the two orders are close). A page written is clean at once (no
/// PG_writeback interval): the disk's time is what it costs, at the rate `pageout` pays
/// (`CostModel.writePage`). There is one disk: the flusher works in the simulated time that passes, like
/// kswapd, less the time `pageout` and throttled writers keep the disk busy. With one disk the bdi's share
/// of the dirty limit is the whole limit; `task_dirty_limit`'s cut for heavy dirtiers (at most an eighth)
/// is left out. Kernel 6.6 shares 2.6.35's reclaim in this model and so its writeback too, except
/// `global_dirtyable_memory`'s sum (file LRU only, less `totalreserve_pages`) and the background check
/// at every periodic wakeup (`wb_check_background_flush`).
struct WritebackState {
    /// Handles of the pages dirtied, the oldest from `head` on; an entry whose allocation is gone or
    /// whose page is clean again is skipped when reached (and dropped in `compact`).
    var handles: [UInt64] = []
    /// Machine time each was dirtied (ns), beside `handles`.
    var dirtiedAt: [UInt64] = []
    var head = 0
    /// The list's room in entries from `head` on, as the machine's state counts it: the two buffers hold
    /// at least this many, and when the list is full (`pending == room`) its stale entries are dropped
    /// and the room doubled if still more than half is in use. The room, not the buffers' capacity
    /// (which malloc rounds up, differently from one process to the next), decides, so a restored
    /// machine keeps its list as the saved one would.
    var room = 0
    /// The state gate refused the list more room: pages dirtied go unlisted until half of it has been
    /// written (so a refusal does not make every later page clean the whole list again).
    var full = false
    /// The flusher's clock: how far its work has reached (ns). It runs behind the machine's clock and
    /// catches up in `runFlusher`; a page it started may take it past it.
    var clock: UInt64 = 0
    /// Disk time `pageout` and throttled writers used since the flusher last ran (ns).
    var diskBusyNs: UInt64 = 0
    /// `wb->last_old_flush` (ns), and the cutoff of a kupdate pass under way (`older_than_this`), or nil.
    var lastOldFlush: UInt64 = 0
    var kupdateCutoff: UInt64?
    /// Pages `wakeup_flusher_threads` asked for and not yet written.
    var requestedPages = 0
    /// A background work item is queued (`bdi_start_background_writeback`).
    var background = false
    /// Pages left in the current MAX_WRITEBACK_PAGES chunk of background or kupdate work.
    var chunkLeft = 0
    /// `bdi->dirty_exceeded`.
    var dirtyExceeded = false
    /// The per-CPU `bdp_ratelimits` count of pages dirtied since the last `balance_dirty_pages`.
    var ratelimitCount = 0
    /// Pages the flusher wrote, and pages writers wrote while throttled (the simulator's own counters).
    var flusherPages: UInt64 = 0
    var throttledPages: UInt64 = 0
    /// Simulated time writers spent throttled (ns).
    var throttledNs: UInt64 = 0

    /// Entries not yet reached.
    var pending: Int { handles.count - head }

    /// The flusher has work queued or under way.
    var busy: Bool { requestedPages > 0 || background || kupdateCutoff != nil }

    static let maxWritebackPages = 1024
    /// `dirty_writeback_interval` (500 centiseconds) and `dirty_expire_interval` (3000), in ns.
    static let writebackIntervalNs: UInt64 = 5_000_000_000
    static let expireIntervalNs: UInt64 = 30_000_000_000

    /// Heap bytes of its lists.
    var heapBytes: Int { 2 * HeapCost.array(capacity: room, stride: 8) }
}

extension Machine {
    // MARK: - Limits

    /// `determine_dirtyable_memory` (2.6.35): free pages plus `global_reclaimable_pages` (the file LRU,
    /// and the anon LRU while swap has room), less highmem's share (`vm_highmem_is_dirtyable` 0), plus 1.
    /// 6.6's `global_dirtyable_memory`: free pages less `totalreserve_pages`, plus the file LRU, less
    /// highmem's, plus 1.
    func dirtyableMemory() -> Int {
        var x = 0, high = 0
        let isModern = modern != nil
        for z in zoneIDs where zones[z].populated {
            let file = lruPages(zone: z, list: .inactiveFile) + lruPages(zone: z, list: .activeFile)
            let n = zoneCounters.freePages[z] + (isModern ? file : zoneReclaimablePages(zone: z))
            x += n
            if zones[z].type == .highmem { high += n }
        }
        if isModern { x -= Swift.min(totalreservePages(), x) }
        x -= Swift.min(high, x)
        return x + 1
    }

    /// `calculate_totalreserve_pages` (6.6): per zone its largest lowmem reserve plus its HIGH
    /// watermark, at most its managed pages.
    func totalreservePages() -> Int {
        var total = 0
        for z in zoneIDs where zones[z].populated {
            var m = 0
            for j in 0..<zoneTypeCount { m = Swift.max(m, lowmemReserve(zone: z, classzone: j)) }
            total += Swift.min(m + wmarkPages(zone: z, .high), zones[z].managedPages)
        }
        return total
    }

    /// `get_dirty_limits`: the background threshold and the dirty limit, in pages (a dirty_ratio below 5
    /// counts as 5).
    func dirtyLimits() -> (background: Int, dirty: Int) {
        let available = dirtyableMemory()
        let dirty = Swift.max(dirtyRatio, 5) * available / 100
        var background = dirtyBackgroundRatio * available / 100
        if background >= dirty { background = dirty / 2 }
        return (background, dirty)
    }

    /// NR_FILE_DIRTY (the model has no NFS unstable pages and no pages under writeback).
    var nrDirtyPages: Int { zoneIDs.reduce(0) { $0 + Int(zoneCounters.dirty[$1]) } }

    /// `writeback_set_ratelimit`: vm_total_pages (MemTotal) / (32 × CPUs), at least 16, at most 4 MiB
    /// of pages (one CPU allocates in this model).
    var ratelimitPages: Int { Swift.min(Swift.max(memTotalPages / 32, 16), (4 << 20) >> pageShift) }

    /// Writing /proc/sys/vm/dirty_ratio (0..100, `dirty_ratio_handler`).
    public func setDirtyRatio(_ v: Int) throws(MMError) {
        guard (0...100).contains(v) else { throw .invalidConfig(field: FieldPath("dirty_ratio"), value: "\(v)", reason: "must be 0..100") }
        dirtyRatio = v
        bumpGeneration()
    }

    /// Writing /proc/sys/vm/dirty_background_ratio (0..100).
    public func setDirtyBackgroundRatio(_ v: Int) throws(MMError) {
        guard (0...100).contains(v) else { throw .invalidConfig(field: FieldPath("dirty_background_ratio"), value: "\(v)", reason: "must be 0..100") }
        dirtyBackgroundRatio = v
        bumpGeneration()
    }

    // MARK: - Dirtying

    /// A page of `handle` became dirty (a page-cache page written: `__set_page_dirty_nobuffers`'s
    /// `account_page_dirtied`): it joins the flusher's list, and the writer's
    /// `balance_dirty_pages_ratelimited_nr` runs. `prepNewPage` calls it for every dirty allocation.
    @inline(never)
    func noteDirtied(_ h: PageHandle, pages n: Int) {
        if writeback.full && writeback.pending * 2 <= writeback.room { writeback.full = false }
        if writeback.pending == writeback.room && !writeback.full { makeWritebackRoom() }
        if writeback.pending < writeback.room {
            // The buffers hold `room` entries past the head: the reached ones go first if they are full.
            if writeback.handles.count == writeback.handles.capacity && writeback.head > 0 { dropReachedWritebackEntries() }
            writeback.handles.append(h.raw)
            writeback.dirtiedAt.append(clockNs)
        }
        writeback.ratelimitCount &+= n
        let limit = writeback.dirtyExceeded ? 8 : ratelimitPages
        guard writeback.ratelimitCount >= limit else { return }
        // sync_writeback_pages: what was dirtied, at least ratelimit_pages, and half as much again.
        let dirtied = Swift.max(writeback.ratelimitCount, ratelimitPages)
        writeback.ratelimitCount = 0
        balanceDirtyPages(writeChunk: dirtied + dirtied / 2)
    }

    /// `balance_dirty_pages` for the task that dirtied pages: above the dirty limit (and past the middle
    /// of the background threshold and the limit) it writes `writeChunk` of the oldest dirty pages itself
    /// and sleeps 1, 2, 4 … jiffies up to HZ/10 between tries; above the background threshold it starts
    /// the flusher's background writeback unless the flusher is already writing.
    func balanceDirtyPages(writeChunk: Int) {
        var written = 0
        var pause: UInt64 = jiffyNs
        let start = clockNs
        var dirty = nrDirtyPages
        var limits = dirtyLimits()
        while true {
            if dirty <= limits.dirty { break }
            if dirty < (limits.background + limits.dirty) / 2 { break }
            writeback.dirtyExceeded = true
            let (n, ns) = writeOldest(writeChunk - written, cutoff: nil)
            written += n
            clockNs &+= ns
            writeback.diskBusyNs &+= ns
            dirty = nrDirtyPages
            limits = dirtyLimits()
            // Nothing left to write (every dirty page listed is written): nothing to wait for either.
            if dirty <= limits.dirty || written >= writeChunk || n == 0 { break }
            clockNs &+= pause
            pause = Swift.min(pause * 2, 100_000_000)
        }
        if dirty < limits.dirty && writeback.dirtyExceeded { writeback.dirtyExceeded = false }
        writeback.throttledPages &+= UInt64(written)
        writeback.throttledNs &+= clockNs &- start
        if writeback.busy { return }
        if dirty > limits.background {
            flusherWakes()
            writeback.background = true
            writeback.chunkLeft = 0
        }
    }

    /// An idle flusher gets work: it starts from now (its idle time, and the disk's meanwhile, are not
    /// its to use).
    func flusherWakes() {
        guard !writeback.busy else { return }
        writeback.clock = Swift.max(writeback.clock, clockNs)
        writeback.diskBusyNs = 0
    }

    /// One jiffy of the preset's CONFIG_HZ (2.6.35 defconfigs: 1000 on x86 and x86_64, 100 on ppc64).
    var jiffyNs: UInt64 { preset.name == "ppc64" ? 10_000_000 : 1_000_000 }

    /// `wakeup_flusher_threads(nr_pages)` from direct reclaim: the flusher writes that many more pages.
    func wakeupFlusherThreads(pages n: Int) {
        guard writeback.pending > 0 else { return }
        flusherWakes()
        writeback.requestedPages = Swift.min(writeback.requestedPages + n, totalPages)
    }

    // MARK: - The flusher

    /// Lets the flusher work up to the machine's clock: its periodic wakeups every
    /// `dirty_writeback_interval` since the last, each with its kupdate pass, and the work queued, each
    /// page taking the disk's time. The disk time `pageout` and throttled writers used while it worked
    /// delays it. Called where kswapd gets its time.
    func runFlusher() {
        let now = clockNs
        if writeback.busy { writeback.clock &+= writeback.diskBusyNs }
        writeback.diskBusyNs = 0
        while true {
            if !writeback.busy {
                // Asleep until the next periodic wakeup (`bdi_writeback_task`'s schedule_timeout).
                let interval = WritebackState.writebackIntervalNs
                var tick = writeback.lastOldFlush &+ interval
                if tick > now { break }
                if writeback.pending == 0 {
                    // No dirty page: every wakeup up to now finds nothing.
                    tick = writeback.lastOldFlush &+ (now &- writeback.lastOldFlush) / interval &* interval
                }
                writeback.clock = Swift.max(writeback.clock, tick)
                flusherPeriodicWakeup()
                continue
            }
            if writeback.clock >= now { break }
            let credit = Int64(clamping: now &- writeback.clock)
            let n: Int, ns: UInt64
            if writeback.requestedPages > 0 {
                // A work item of reclaim's: its pages, the oldest first.
                (n, ns) = writeOldest(Swift.min(writeback.requestedPages, WritebackState.maxWritebackPages), cutoff: nil, credit: credit)
                writeback.requestedPages = n == 0 ? 0 : writeback.requestedPages - n
            } else {
                // Background, then kupdate: each chunk starts with its test (`over_bground_thresh`; for
                // kupdate, anything dirtied before the cutoff left).
                if writeback.chunkLeft == 0 {
                    if writeback.background && nrDirtyPages < dirtyLimits().background { writeback.background = false }
                    if !writeback.background && writeback.kupdateCutoff == nil { continue }
                    writeback.chunkLeft = WritebackState.maxWritebackPages
                }
                (n, ns) = writeOldest(writeback.chunkLeft, cutoff: writeback.background ? nil : writeback.kupdateCutoff, credit: credit)
                if n == 0 {
                    // Nothing (old enough) left to write: this work is done.
                    if writeback.background { writeback.background = false } else { writeback.kupdateCutoff = nil }
                    writeback.chunkLeft = 0
                } else {
                    writeback.chunkLeft -= n
                }
            }
            writeback.flusherPages &+= UInt64(n)
            writeback.clock &+= ns
        }
        // An idle flusher banks no time.
        if !writeback.busy { writeback.clock = Swift.max(writeback.clock, now) }
    }

    /// `wb_check_old_data_flush` at a periodic wakeup (the flusher's clock): kupdate for what was
    /// dirtied `dirty_expire_interval` before it; 6.6 also checks the background threshold
    /// (`wb_check_background_flush`).
    func flusherPeriodicWakeup() {
        let t = writeback.clock
        writeback.lastOldFlush = t
        if t >= WritebackState.expireIntervalNs, writeback.pending > 0 {
            writeback.kupdateCutoff = t - WritebackState.expireIntervalNs
            writeback.chunkLeft = 0
        }
        if modern != nil, !writeback.background, nrDirtyPages >= dirtyLimits().background {
            writeback.background = true
            writeback.chunkLeft = 0
        }
    }

    /// Writes up to `limit` of the oldest dirty pages listed (only those dirtied at or before `cutoff`
    /// when given), while the time spent stays within `credit`. Returns the pages written and the disk
    /// time they took. `pgpgout` counts the KiB written, as `pageout`'s writes.
    func writeOldest(_ limit: Int, cutoff: UInt64?, credit: Int64 = .max) -> (pages: Int, ns: UInt64) {
        var n = 0
        var ns: UInt64 = 0
        while n < limit && writeback.head < writeback.handles.count && Int64(clamping: ns) < credit {
            let i = writeback.head
            if let c = cutoff, writeback.dirtiedAt[i] > c { break }
            writeback.head += 1
            guard let slot = handles.resolve(PageHandle(raw: writeback.handles[i])), handles.pfn[slot] < SWAPPED else { continue }
            let pfn = Pfn(link: handles.pfn[slot])
            guard pages.state[pfn] & PageState.dirty != 0 else { continue }
            ns &+= writePage(pfn: pfn, zone: zoneId(ofPfn: pfn))
            n += 1
        }
        compactWritebackList()
        if n > 0 { bumpGeneration() }
        return (n, ns)
    }

    /// `->writepage` of a dirty page-cache page, for `pageout` and the flusher alike: the page is clean
    /// (no PG_writeback interval in the model), the blocks within its file are written
    /// (`writebackBytes`, counted in pgpgout by the KiB). Returns the disk time it takes.
    func writePage(pfn: Pfn, zone z: ZoneID) -> UInt64 {
        pages.state[pfn] &= ~PageState.dirty
        zoneCounters.dirty[z] &-= Int64(1) << Int64(pages.order[pfn] & PageOrderByte.orderMask)
        let bytes = writebackBytes(slot: Int(pages.nextOrOwner[pfn]))
        ev.pgpgout &+= UInt64(bytes >> 10)
        return costs.writePage &* UInt64(bytes) >> UInt64(pageShift)
    }

    /// Whether an entry of the list still names a dirty page (else it is stale: skipped when reached).
    func writebackEntryIsDirty(_ raw: UInt64) -> Bool {
        guard let slot = handles.resolve(PageHandle(raw: raw)), handles.pfn[slot] < SWAPPED else { return false }
        return pages.state[Pfn(link: handles.pfn[slot])] & PageState.dirty != 0
    }

    /// Drops the entries already reached once they are half the buffers (amortised O(1) an entry; the
    /// room counts only the entries past the head, so this changes nothing else).
    func compactWritebackList() {
        let h = writeback.head
        if h >= 4096 && h * 2 >= writeback.handles.count { dropReachedWritebackEntries() }
    }

    func dropReachedWritebackEntries() {
        let h = writeback.head
        writeback.handles.removeSubrange(0..<h)
        writeback.dirtiedAt.removeSubrange(0..<h)
        writeback.head = 0
    }

    /// The list is full: its stale entries go, and if more than half the room is still in use the room
    /// doubles (at least 16), when the state gate agrees to the two buffers' new size; if it refuses, the
    /// page dirtied now goes unlisted (the refusal is counted, and a workload's step ends with it).
    /// Amortised O(1) an entry.
    func makeWritebackRoom() {
        dropStaleWritebackEntries()
        guard writeback.pending * 2 > writeback.room || writeback.room == 0 else { return }
        let newRoom = Swift.max(16, writeback.room * 2)
        guard mayGrowState(by: 2 * HeapCost.array(capacity: newRoom, stride: 8)) else {
            if writeback.pending == writeback.room { writeback.full = true }
            return
        }
        writeback.room = newRoom
        writeback.handles.reserveCapacity(newRoom)
        writeback.dirtiedAt.reserveCapacity(newRoom)
    }

    /// Drops the entries reached and the stale ones (freed, or clean again), which would only be
    /// skipped: it changes nothing the flusher does.
    func dropStaleWritebackEntries() {
        var keep = 0
        let wb = writeback.handles.count
        for i in writeback.head..<wb where writebackEntryIsDirty(writeback.handles[i]) {
            writeback.handles[keep] = writeback.handles[i]
            writeback.dirtiedAt[keep] = writeback.dirtiedAt[i]
            keep += 1
        }
        writeback.handles.removeSubrange(keep..<wb)
        writeback.dirtiedAt.removeSubrange(keep..<wb)
        writeback.head = 0
    }
}

/// The flusher's own figures, for the stats document (none of them is a /proc/vmstat counter of 2.6.35).
public struct WritebackStats: Sendable, Equatable {
    /// Pages the flusher wrote, and pages writers wrote themselves in `balance_dirty_pages`.
    public let flusherPages: UInt64
    public let throttledPages: UInt64
    /// Simulated time writers spent throttled (ns).
    public let throttledNs: UInt64
    /// Dirty pages now, and the background threshold and dirty limit (pages).
    public let dirtyPages: Int
    public let backgroundThreshold: Int
    public let dirtyLimit: Int
}

extension Machine {
    public var writebackStats: WritebackStats {
        let l = dirtyLimits()
        return WritebackStats(flusherPages: writeback.flusherPages, throttledPages: writeback.throttledPages,
                              throttledNs: writeback.throttledNs, dirtyPages: nrDirtyPages,
                              backgroundThreshold: l.background, dirtyLimit: l.dirty)
    }
}
