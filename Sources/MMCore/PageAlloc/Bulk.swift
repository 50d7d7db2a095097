/// Which allocations of a tag a bulk free releases.
public enum FreePattern: Sendable, Equatable {
    /// Every allocation of the tag.
    case all
    /// The 1st, 3rd, 5th … in allocation order (the kernel selftest's "unmap every other region").
    case everyOther
    /// Each allocation independently with probability `fraction`, drawn from `seed`.
    case random(fraction: Double, seed: UInt64)
}

/// A free pattern's verdicts, unit by unit in order (a unit is one allocation, or one run of them): the
/// random pattern draws from its own seed, once per unit.
struct FreePatternDraw {
    let pattern: FreePattern
    private var rng: SeededRandom

    init(_ pattern: FreePattern) {
        self.pattern = pattern
        if case .random(_, let seed) = pattern { rng = SeededRandom(seed: seed) } else { rng = SeededRandom(seed: 0) }
    }

    /// Whether unit `u` (0, 1, 2 … in order) is freed.
    mutating func drops(unit u: Int) -> Bool {
        switch pattern {
        case .all: return true
        case .everyOther: return u % 2 == 0
        case .random(let fraction, _): return rng.unit() < fraction
        }
    }
}

/// The result of a bulk allocation.
public struct BulkAllocResult: Sendable {
    public var succeeded: Int
    public var failed: Int
    /// The first `keepHandles` handles (all of them are on the tag, if one was given).
    public var handles: [PageHandle]
    public var latency: LatencySummary
    /// Attempts that entered direct compaction / direct reclaim.
    public var compactionStalls: Int
    public var reclaimStalls: Int
    public var pagesReclaimed: Int
    /// Simulated time the whole bulk operation took.
    public var simulatedNs: UInt64
    /// The state gate refused the growth the next allocation needed (a handle slot, or room in the tag's
    /// list): the bulk stopped before that allocation, after `succeeded + failed` attempts; the bytes it
    /// asked for. nil when it did not stop so.
    public var stateLimitBytes: Int? = nil
}

extension Machine {
    public static let maxTagLength = 64

    static func validateTag(_ tag: String) throws(MMError) {
        guard !tag.isEmpty, tag.utf8.count <= maxTagLength else {
            throw .invalidConfig(field: FieldPath("tag"), value: tag, reason: "must be 1..\(maxTagLength) bytes")
        }
    }

    /// Allocates `count` blocks of the same request one after another, recording each under `tag`.
    /// Stops early after `stopAfterFailures` consecutive failures (nil: never), and before an allocation
    /// whose growth (a handle slot, room in the tag's list) the state gate refuses (`stateLimitBytes`).
    /// - Complexity: O(count) allocations; latencies are summarised, handles kept up to `keepHandles`.
    public func allocateBulk(_ req: AllocRequest, count: Int, tag: String? = nil, keepHandles: Int = 1000,
                             stopAfterFailures: Int? = nil) throws(MMError) -> BulkAllocResult {
        try validate(req)
        guard count >= 0 && count <= 1 << 32 else {
            throw .invalidConfig(field: FieldPath("count"), value: "\(count)", reason: "must be 0..4294967296")
        }
        if let t = tag { try Machine.validateTag(t) }
        var ok = 0, failed = 0, consecutive = 0, cStalls = 0, rStalls = 0, reclaimed = 0
        var kept: [PageHandle] = []
        var latencies: [UInt64] = []
        latencies.reserveCapacity(min(count, 1 << 20))
        var tagList = tag.flatMap { tags.removeValue(forKey: $0) } ?? []
        let start = clockNs
        var refused: Int?
        for _ in 0..<count {
            if let t = tag, !reserveTagRoom(&tagList, 1, tag: t) { refused = lastRefusedBytes; break }
            let o: AllocOutcome
            do {
                o = try allocate(req)
            } catch {
                // The request was checked above: only the state gate can refuse it now.
                guard case .stateLimit(let bytes) = error else {
                    if let t = tag, !tagList.isEmpty { tags[t] = tagList }
                    throw error
                }
                refused = bytes
                break
            }
            latencies.append(o.latencyNs)
            if o.stalledInCompaction { cStalls += 1 }
            if o.stalledInReclaim { rStalls += 1 }
            reclaimed += o.pagesReclaimed
            if let h = o.handle {
                ok += 1
                consecutive = 0
                if kept.count < keepHandles { kept.append(h) }
                if tag != nil { tagList.append(h) }
            } else {
                failed += 1
                consecutive += 1
                if let s = stopAfterFailures, consecutive >= s { break }
            }
        }
        if let t = tag, !tagList.isEmpty { tags[t] = tagList }
        return BulkAllocResult(succeeded: ok, failed: failed, handles: kept, latency: LatencySummary(latencies),
                               compactionStalls: cStalls, reclaimStalls: rStalls, pagesReclaimed: reclaimed,
                               simulatedNs: clockNs &- start, stateLimitBytes: refused)
    }

    /// Live handles of a tag in allocation order.
    public func handles(ofTag tag: String) -> [PageHandle] {
        (tags[tag] ?? []).filter { handles.resolve($0) != nil }
    }

    /// Tags with live allocations, sorted, with their live counts (counted in place: no list is copied).
    public var tagCounts: [(tag: String, live: Int)] {
        tags.keys.sorted().map { t in (t, (tags[t] ?? []).reduce(0) { $0 + (handles.resolve($1) != nil ? 1 : 0) }) }.filter { $0.live > 0 }
    }

    /// Frees allocations of `tag` chosen by `pattern`; returns how many were freed. Allocations already
    /// freed by handle are skipped. Throws `unknownTag` if the tag has no live allocations.
    ///
    /// The tag's list is filtered in place (what stays keeps its order; dead handles go too), so freeing
    /// never needs memory a full budget would refuse.
    @discardableResult
    public func freeTag(_ tag: String, pattern: FreePattern) throws(MMError) -> Int {
        if case .random(let f, _) = pattern, !(f >= 0 && f <= 1) {
            throw .invalidConfig(field: FieldPath("fraction"), value: "\(f)", reason: "must be between 0 and 1")
        }
        guard (tags[tag]?.contains { handles.resolve($0) != nil }) ?? false else { throw .unknownTag(tag) }
        bumpGeneration()
        var list = tags.removeValue(forKey: tag) ?? []
        var freed = 0, i = 0
        var draw = FreePatternDraw(pattern)
        Machine.filterInPlace(&list) { h in
            guard let slot = handles.resolve(h) else { return false }
            let drop = draw.drops(unit: i)
            i += 1
            if drop { freeAllocation(slot: slot); freed += 1 }
            return !drop
        }
        if !list.isEmpty { tags[tag] = list }
        return freed
    }

    /// Keeps the elements `keep` says to keep, in order, calling it once for each element in order;
    /// the array keeps its storage (nothing is allocated).
    static func filterInPlace<T, E: Error>(_ a: inout [T], _ keep: (T) throws(E) -> Bool) throws(E) {
        var w = 0
        for k in a.indices {
            let x = a[k]
            if try keep(x) {
                if w != k { a[w] = x }
                w += 1
            }
        }
        a.removeLast(a.count - w)
    }
}
