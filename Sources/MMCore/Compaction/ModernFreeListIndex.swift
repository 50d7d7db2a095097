/// An index of the 6.6 profile's MOVABLE free lists by position, so that `fast_isolate_freepages` gets
/// its walk's answer without touching every entry it walks (ModernFreeScanner.swift).
///
/// The walk goes from a list's tail towards its head, up to a limit, and what it decides depends on each
/// entry's pfn only through three tests: at or above `low_pfn` (take it, stop), at or above `min_pfn`
/// (a candidate, halve the limit), and the highest pageblock seen. Entries below `min_pfn` only count and
/// raise the highest pageblock, and that is known from their number and their largest pfn. So each list
/// is cut into *segments* of consecutive entries (at most `capacity`), each with its count, its first
/// (head-most) and last (tail-most) entry, and its largest pfn; a walk passes a whole segment whose
/// largest pfn is below `min_pfn` in one step, and reads entries only where a candidate may be. On a
/// large machine each entry read is a cache miss, and most walks see no candidate for thousands of
/// entries: issue 12's proactive-gupta walked 3.8 G entries at 1 TiB.
///
/// Only what a walk reads is indexed: MOVABLE lists of orders below the largest, on 6.6 machines
/// (`Machine.freeListIndex` is nil on 2.6.34 and 2.6.35, whose paths pay one test of that). Every list
/// mutation keeps it (`FreeArea.swift`'s add and delete, the rotations of `move_freelist_head/tail`); it
/// changes nothing the lists hold, so the results are the same with it or without it.
///
/// Rules kept after every operation (checked by `Machine.checkFreeListIndex`):
/// * a list's entries, head to tail, are its segments' entries in segment order, each segment's
///   contiguous; `segmentOf[pfn]` names an entry's segment;
/// * a segment's largest pfn is exact unless it is marked stale (its largest entry left it); a stale
///   one is recomputed by the next walk that needs it;
/// * any two neighbouring segments hold more than `capacity / 2` entries together, so a list of n entries
///   has at most 2n / (capacity / 2 + 1) + 1 segments and the table never outgrows `totalPages / 16`.
final class FreeListIndex {
    static let capacity: UInt32 = 64
    /// Neighbours holding this many entries or fewer together are merged.
    static let mergeAt: UInt32 = capacity / 2

    /// The segment of each free head on an indexed list (stale for any other pfn).
    let segmentOf: RawArray<UInt32>
    // Per segment.
    let count: RawArray<UInt32>
    let first: RawArray<UInt32>
    let last: RawArray<UInt32>
    let maxPfn: RawArray<UInt32>
    /// Towards the list's head (`prev`) and tail (`next`); `next` chains the free segments.
    let prev: RawArray<UInt32>
    let next: RawArray<UInt32>
    let stale: RawArray<UInt8>
    // Per list (indexed like `FreeAreaStore.heads`).
    let headSegment: RawArray<UInt32>
    let tailSegment: RawArray<UInt32>
    /// Per pageblock: its free block heads (PageBuddy, any order and list) at pfns that are multiples of
    /// `1 << PAGE_ALLOC_COSTLY_ORDER`, the pages `__reset_isolation_pfn` samples in a whole block. A block
    /// with none has no free page among its samples, so the reset walk need not read them to know it
    /// (ModernSkipHints.swift). At most `pageblock_nr_pages / 8` (128), so a byte each.
    let sampledBuddyHeads: RawArray<UInt8>
    /// log2 of the pages of a pageblock, to find a pfn's entry in `sampledBuddyHeads`.
    let pageblockOrder: Int
    // Exclusivity: one Machine's, used by one thread at a time; no method keeps an access open across a call.
    /// Segments ever used, and the chain of freed ones.
    private(set) var used: UInt32 = 0
    private var freeSegment: UInt32 = NONE

    /// Segments the table holds for a machine of `totalPages` with `lists` free lists (see the rules
    /// above), and the bytes of the whole index once every part is in use (the memory budget's estimate).
    static func segments(totalPages: Int, lists: Int) -> Int { totalPages / 16 + 2 * lists + 16 }
    static func bytes(totalPages: Int, lists: Int) -> Int {
        // segmentOf a page; count, first, last, maxPfn, prev, next and stale a segment; head and tail a list.
        totalPages * 4 + segments(totalPages: totalPages, lists: lists) * (6 * 4 + 1) + lists * 8
    }

    init(totalPages: Int, lists: Int, pageblockOrder: Int, arena: RawArena) {
        precondition(pageblockOrder >= Machine.pageAllocCostlyOrder && pageblockOrder - Machine.pageAllocCostlyOrder <= 7)
        self.pageblockOrder = pageblockOrder
        sampledBuddyHeads = RawArray(zeroed: (totalPages + (1 << pageblockOrder) - 1) >> pageblockOrder, arena: arena)
        let segments = FreeListIndex.segments(totalPages: totalPages, lists: lists)
        segmentOf = RawArray(zeroed: totalPages, arena: arena)
        count = RawArray(zeroed: segments, arena: arena, lazy: true)
        first = RawArray(zeroed: segments, arena: arena, lazy: true)
        last = RawArray(zeroed: segments, arena: arena, lazy: true)
        maxPfn = RawArray(zeroed: segments, arena: arena, lazy: true)
        prev = RawArray(zeroed: segments, arena: arena, lazy: true)
        next = RawArray(zeroed: segments, arena: arena, lazy: true)
        stale = RawArray(zeroed: segments, arena: arena, lazy: true)
        headSegment = RawArray(repeating: NONE, count: lists, arena: arena)
        tailSegment = RawArray(repeating: NONE, count: lists, arena: arena)
    }

    var byteCount: Int {
        segmentOf.byteCount + count.byteCount + first.byteCount + last.byteCount + maxPfn.byteCount + prev.byteCount
            + next.byteCount + stale.byteCount + headSegment.byteCount + tailSegment.byteCount + sampledBuddyHeads.byteCount
    }

    /// A free block head at `pfn` joined a free list (any list: `addToFreeList`).
    @inline(__always) func noteBuddyHeadAdded(_ pfn: Pfn) {
        if pfn.rawValue & ((1 << Machine.pageAllocCostlyOrder) - 1) == 0 { sampledBuddyHeads[pfn.rawValue >> pageblockOrder] &+= 1 }
    }
    /// A free block head at `pfn` left its free list (`removeFromFreeList`).
    @inline(__always) func noteBuddyHeadRemoved(_ pfn: Pfn) {
        if pfn.rawValue & ((1 << Machine.pageAllocCostlyOrder) - 1) == 0 { sampledBuddyHeads[pfn.rawValue >> pageblockOrder] &-= 1 }
    }

    private func newSegment(entry: UInt32) -> UInt32 {
        let s: UInt32
        if freeSegment != NONE {
            s = freeSegment
            freeSegment = next[Int(s)]
        } else {
            precondition(Int(used) < count.count, "free-list index: segment table full")
            s = used
            used += 1
        }
        let i = Int(s)
        count[i] = 1; first[i] = entry; last[i] = entry; maxPfn[i] = entry; stale[i] = 0
        prev[i] = NONE; next[i] = NONE
        return s
    }

    private func unlinkSegment(_ s: UInt32, list li: Int) {
        let i = Int(s)
        let p = prev[i], n = next[i]
        if p != NONE { next[Int(p)] = n } else { headSegment[li] = n }
        if n != NONE { prev[Int(n)] = p } else { tailSegment[li] = p }
        next[i] = freeSegment
        freeSegment = s
    }

    /// `entry` joined list `li` at its head or tail.
    func add(_ entry: UInt32, list li: Int, atTail: Bool) {
        let end = atTail ? tailSegment[li] : headSegment[li]
        if end != NONE && count[Int(end)] < FreeListIndex.capacity {
            let i = Int(end)
            count[i] += 1
            if atTail { last[i] = entry } else { first[i] = entry }
            if stale[i] == 0 && entry > maxPfn[i] { maxPfn[i] = entry }
            segmentOf[Int(entry)] = end
            return
        }
        let s = newSegment(entry: entry)
        segmentOf[Int(entry)] = s
        if end == NONE {
            headSegment[li] = s; tailSegment[li] = s
        } else if atTail {
            prev[Int(s)] = end; next[Int(end)] = s; tailSegment[li] = s
        } else {
            next[Int(s)] = end; prev[Int(end)] = s; headSegment[li] = s
        }
    }

    /// `entry` left list `li`; `before` and `after` were its neighbours towards the head and the tail.
    func remove(_ entry: UInt32, list li: Int, before: UInt32, after: UInt32, links: PageArrays) {
        let s = segmentOf[Int(entry)]
        let i = Int(s)
        count[i] -= 1
        if count[i] == 0 {
            unlinkSegment(s, list: li)
            return
        }
        if first[i] == entry { first[i] = after }
        if last[i] == entry { last[i] = before }
        if stale[i] == 0 && maxPfn[i] == entry { stale[i] = 1 }
        // s shrank: check it against both neighbours (a merge only grows the survivor).
        let p = prev[i]
        let survivor = mergeIfSmall(p, s, list: li, links: links) ?? s
        mergeIfSmall(survivor, next[Int(survivor)], list: li, links: links)
    }

    /// Merges neighbouring segments `a` (towards the head) and `b` when they hold `mergeAt` entries or
    /// fewer together: the smaller's entries are relabelled, and it is freed.
    @discardableResult
    private func mergeIfSmall(_ a: UInt32, _ b: UInt32, list li: Int, links: PageArrays) -> UInt32? {
        guard a != NONE, b != NONE else { return nil }
        let ia = Int(a), ib = Int(b)
        guard count[ia] + count[ib] <= FreeListIndex.mergeAt else { return nil }
        let keep = count[ia] >= count[ib] ? a : b, gone = keep == a ? b : a
        let ik = Int(keep), ig = Int(gone)
        _ = relabel(from: first[ig], through: last[ig], to: keep, links: links)
        if keep == a { last[ik] = last[ig] } else { first[ik] = first[ig] }
        count[ik] += count[ig]
        if stale[ik] != 0 || stale[ig] != 0 { stale[ik] = 1 } else { maxPfn[ik] = max(maxPfn[ik], maxPfn[ig]) }
        count[ig] = 0
        unlinkSegment(gone, list: li)
        return keep
    }

    /// `move_freelist_head`'s rotation of list `li`, called once the list is rotated: `newHead` became the
    /// head and the entries before it (from the old head to `newTail`) went, in order, after the old
    /// tail. The segment holding `newHead` is split there first.
    func rotate(list li: Int, newHead: UInt32, newTail: UInt32, links: PageArrays, relabelBack: Bool) {
        let s = segmentOf[Int(newHead)]
        let i = Int(s)
        // The segments that end at newTail (the new tail) and start at newHead (the new head).
        let frontSeg: UInt32, backSeg: UInt32
        if first[i] == newHead {
            frontSeg = prev[i]
            backSeg = s
            precondition(frontSeg != NONE, "free-list index: rotation to the head it has")
        } else if relabelBack {
            // Split: the entries from newHead to last[s] (the ones a walk from the tail just read, so
            // in the cache) become a segment of their own, after s.
            frontSeg = s
            backSeg = splitOff(s, from: newHead, through: last[i], after: true, list: li, links: links)
            last[i] = newTail
        } else {
            // Split: the entries from first[s] to newTail (the ones a walk from the head just read)
            // become a segment of their own, before s. The list is rotated already: they end it.
            frontSeg = splitOff(s, from: first[i], through: newTail, after: false, list: li, links: links)
            backSeg = s
            first[i] = newHead
        }
        // Rotate the chain: [head ... frontSeg] goes after the old tail.
        let oldHead = headSegment[li], oldTail = tailSegment[li]
        next[Int(oldTail)] = oldHead
        prev[Int(oldHead)] = oldTail
        prev[Int(backSeg)] = NONE
        next[Int(frontSeg)] = NONE
        headSegment[li] = backSeg
        tailSegment[li] = frontSeg
        // New neighbours: the old tail and the old head; the split pieces with their other neighbours
        // (a piece merged away in the first check lives on in a survivor that only grew).
        mergeIfSmall(oldTail, oldHead, list: li, links: links)
        if count[Int(frontSeg)] != 0 { mergeIfSmall(prev[Int(frontSeg)], frontSeg, list: li, links: links) }
        if count[Int(backSeg)] != 0 { mergeIfSmall(backSeg, next[Int(backSeg)], list: li, links: links) }
    }

    /// Moves the run of `s`'s entries from `from` through `through` (one end of `s`; the caller sets the
    /// new end of `s`) into a new segment linked after `s` (`after`) or before it; returns the new one.
    private func splitOff(_ s: UInt32, from: UInt32, through: UInt32, after: Bool, list li: Int, links: PageArrays) -> UInt32 {
        let i = Int(s)
        let t = newSegment(entry: from)
        let ti = Int(t)
        let (n, mx) = relabel(from: from, through: through, to: t, links: links)
        count[ti] = n; last[ti] = through; maxPfn[ti] = mx
        count[i] -= n
        if stale[i] == 0 && mx == maxPfn[i] { stale[i] = 1 }
        if after {
            next[ti] = next[i]
            if next[i] != NONE { prev[Int(next[i])] = t } else { tailSegment[li] = t }
            prev[ti] = s
            next[i] = t
        } else {
            prev[ti] = prev[i]
            if prev[i] != NONE { next[Int(prev[i])] = t } else { headSegment[li] = t }
            next[ti] = s
            prev[i] = t
        }
        return t
    }

    /// Labels the entries from `from` through `through` (following the list towards its tail) as segment
    /// `t`; returns how many there were and the largest.
    private func relabel(from: UInt32, through: UInt32, to t: UInt32, links: PageArrays) -> (count: UInt32, max: UInt32) {
        var e = from, n: UInt32 = 0, mx: UInt32 = 0
        while true {
            segmentOf[Int(e)] = t
            if e > mx { mx = e }
            n += 1
            if e == through { return (n, mx) }
            e = links.nextOrOwner[Pfn(link: e)]
        }
    }

    /// A stale segment's largest pfn, recomputed from its entries (read tail to head).
    func refreshMax(_ s: UInt32, links: PageArrays) {
        let i = Int(s)
        var e = last[i], mx: UInt32 = 0
        for _ in 0..<count[i] {
            if e > mx { mx = e }
            e = links.prevOrContent[Pfn(link: e)]
        }
        maxPfn[i] = mx
        stale[i] = 0
    }

    /// Empties the index (a restore rebuilds it from the lists).
    func clear() {
        sampledBuddyHeads.fill(0)
        for li in 0..<headSegment.count { headSegment[li] = NONE; tailSegment[li] = NONE }
        used = 0
        freeSegment = NONE
    }
}

extension Machine {
    /// The indexed lists: MOVABLE, orders below the largest, every zone.
    func indexedFreeLists() -> [Int] {
        zoneIDs.flatMap { z in (0..<freeArea.maxOrder).map { freeArea.list(zone: z, order: $0, mt: .movable) } }
    }

    /// Calls `body` with every free block head at a pfn that is a multiple of
    /// `1 << PAGE_ALLOC_COSTLY_ORDER` (what `sampledBuddyHeads` counts), in pfn order.
    func forEachSampledBuddyHead(_ body: (Pfn) -> Void) {
        var pfn = Pfn(0)
        while pfn.rawValue < totalPages {
            if isBuddy(pfn) { body(pfn) }
            pfn += 1 << Machine.pageAllocCostlyOrder
        }
    }

    /// Builds the index from the lists as they are (after a restore).
    func rebuildFreeListIndex() {
        guard let ix = freeListIndex else { return }
        ix.clear()
        forEachSampledBuddyHead { ix.noteBuddyHeadAdded($0) }
        for li in indexedFreeLists() {
            var e = freeArea.heads[li]
            while e != NONE {
                ix.add(e, list: li, atTail: true)
                e = pages.nextOrOwner[Pfn(link: e)]
            }
        }
    }

    /// The index's rules (see `FreeListIndex`), list by list; appends what breaks them.
    func checkFreeListIndex(_ fail: (@autoclosure () -> String) -> Void) {
        guard let ix = freeListIndex else { return }
        var counts = [Int](repeating: 0, count: ix.sampledBuddyHeads.count)
        forEachSampledBuddyHead { counts[$0.blockIndex(order: pageblockOrder)] += 1 }
        for (b, n) in counts.enumerated() where Int(ix.sampledBuddyHeads[b]) != n {
            fail("free-list index: pageblock \(b) has \(n) sampled free heads, counted \(ix.sampledBuddyHeads[b])")
            return
        }
        for li in indexedFreeLists() {
            var e = freeArea.heads[li]
            var seg = ix.headSegment[li], prevSeg = NONE
            var segments = 0
            while seg != NONE {
                let si = Int(seg)
                segments += 1
                if segments > Int(ix.used) { fail("free-list index: list \(li)'s segments are cyclic"); return }
                if ix.prev[si] != prevSeg { fail("free-list index: list \(li), segment \(seg): broken prev link"); return }
                if ix.count[si] == 0 || ix.count[si] > FreeListIndex.capacity { fail("free-list index: segment \(seg) holds \(ix.count[si])"); return }
                if prevSeg != NONE && ix.count[Int(prevSeg)] + ix.count[si] <= FreeListIndex.mergeAt {
                    fail("free-list index: list \(li), segments \(prevSeg) and \(seg) hold \(ix.count[Int(prevSeg)] + ix.count[si]) together")
                }
                if ix.first[si] != e { fail("free-list index: list \(li), segment \(seg) starts at \(ix.first[si]), the list at \(e)"); return }
                var mx: UInt32 = 0
                var lastSeen = NONE
                for _ in 0..<ix.count[si] {
                    guard e != NONE else { fail("free-list index: list \(li) ends inside segment \(seg)"); return }
                    if ix.segmentOf[Int(e)] != seg { fail("free-list index: entry \(e) is in segment \(seg), labelled \(ix.segmentOf[Int(e)])") }
                    mx = max(mx, e)
                    lastSeen = e
                    e = pages.nextOrOwner[Pfn(link: e)]
                }
                if ix.last[si] != lastSeen { fail("free-list index: segment \(seg) ends at \(ix.last[si]), its entries at \(lastSeen)") }
                if ix.stale[si] == 0 && ix.maxPfn[si] != mx { fail("free-list index: segment \(seg)'s largest pfn \(ix.maxPfn[si]), its entries' \(mx)") }
                prevSeg = seg
                seg = ix.next[si]
            }
            if e != NONE { fail("free-list index: list \(li) goes on past its last segment") }
            if ix.tailSegment[li] != prevSeg { fail("free-list index: list \(li)'s tail segment is \(ix.tailSegment[li]), not \(prevSeg)") }
        }
    }
}
