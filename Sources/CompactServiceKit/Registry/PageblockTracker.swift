import MMCore
import MMFormat
import Synchronization

/// A machine's pageblock table as of one generation, and for every block the generation at which it
/// was last seen to change: what `GET …/pageblocks` encodes and what a stream's `pageblocks` events
/// are cut from (the blocks whose `changedAt` is past the generation the client has). Immutable.
final class PageblockSnapshot: Sendable {
    let generation: UInt64
    let table: PageblockTable
    let changedAt: [UInt64]
    /// Wall time the pass and the comparison took.
    let buildNs: UInt64

    init(generation: UInt64, table: PageblockTable, changedAt: [UInt64], buildNs: UInt64) {
        self.generation = generation
        self.table = table
        self.changedAt = changedAt
        self.buildNs = buildNs
    }

    /// The blocks that changed after generation `since`, in block order.
    func changed(since: UInt64) -> [Int] {
        var out: [Int] = []
        changedAt.withUnsafeBufferPointer { c in
            for b in 0..<c.count where c[b] > since { out.append(b) }
        }
        return out
    }
}

/// Keeps a machine's latest `PageblockSnapshot`. `update` runs with the machine's lock held (from a
/// document build), so updates are serialised by that lock; `current` is read by streams on HTTP
/// threads under the small lock here, never the machine's.
final class PageblockTracker: Sendable {
    private let latest = Mutex<PageblockSnapshot?>(nil)
    /// When the last build ended (monotonic ns; 0: never).
    private let lastBuildEndNs = Atomic<UInt64>(0)

    var current: PageblockSnapshot? { latest.withLock { $0 } }

    /// The snapshot of `m` now: the current one when the generation has not moved, else one pass over
    /// the machine compared block by block with the previous table. Call with the machine locked.
    func update(_ m: Machine) -> PageblockSnapshot {
        let previous = current
        if let p = previous, p.generation == m.generation { return p }
        let t0 = monotonicNs()
        let table = m.pageblockTable()
        var changedAt: [UInt64]
        if let p = previous, p.table.count == table.count {
            changedAt = p.changedAt
            let g = m.generation
            changedAt.withUnsafeMutableBufferPointer { c in
                for b in 0..<table.count where !table.same(b, as: p.table) { c[b] = g }
            }
        } else {
            // The first table: every block counts as changed at this generation, so a client holding an
            // older document is told to fetch a new one.
            changedAt = Array(repeating: m.generation, count: table.count)
        }
        let end = monotonicNs()
        let s = PageblockSnapshot(generation: m.generation, table: table, changedAt: changedAt, buildNs: end &- t0)
        latest.withLock { $0 = s }
        lastBuildEndNs.store(end, ordering: .relaxed)
        return s
    }

    /// Whether a stream may ask for a new snapshot now: at most one pass per ten times the last pass's
    /// duration, so the passes of a large machine (tens of ms at 1 TiB) take at most a tenth of its time.
    func mayRebuild(now: UInt64) -> Bool {
        guard let s = current else { return true }
        return now &- lastBuildEndNs.load(ordering: .relaxed) >= s.buildNs &* 10
    }
}

/// The `pageblocks` document and events.
enum PageblockWire {
    /// Blocks a `pageblocks` event lists at most; beyond that it says `reset` and the client fetches the
    /// whole document again (cached, binary, a few bytes a block).
    static let maxEventBlocks = 4096

    /// Builds the document under the machine's lock (updating the snapshot the streams read).
    static func document(_ box: MachineBox, _ m: Machine) -> [UInt8] {
        let s = box.pageblocks.update(m)
        return PageblockMap.document(header: m.pageblockMapHeader(name: box.name), table: s.table)
    }

    /// The data of an `event: pageblocks`: the blocks of `s` changed after `since`, each as
    /// `[index, flags, free, pcp, anon, file, slab, kernel, pinned, isolated_free]`, or `reset: true`
    /// when more than `maxEventBlocks` changed.
    static func event(_ s: PageblockSnapshot, since: UInt64, maxBlocks: Int = maxEventBlocks) -> [UInt8] {
        let changed = s.changed(since: since)
        var w = JSONWriter(capacity: 64 + min(changed.count, maxBlocks) * 32)
        w.beginObject()
        w.field("generation", s.generation)
        w.field("since", since)
        w.field("reset", changed.count > maxBlocks)
        w.key("blocks")
        w.beginArray()
        if changed.count <= maxBlocks {
            let n = PageblockInfo.Field.count
            for b in changed {
                w.beginArray()
                w.int(b)
                w.int(Int(s.table.flags[b]))
                for i in 0..<n { w.int(Int(s.table.counts[b * n + i])) }
                w.endArray()
            }
        }
        w.endArray()
        w.endObject()
        return w.bytes
    }
}
