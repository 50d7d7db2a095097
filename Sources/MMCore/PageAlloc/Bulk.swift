/// Which allocations of a tag a bulk free releases.
public enum FreePattern: Sendable, Equatable {
    /// Every allocation of the tag.
    case all
    /// The 1st, 3rd, 5th … in allocation order (the kernel selftest's "unmap every other region").
    case everyOther
    /// Each allocation independently with probability `fraction`, drawn from `seed`.
    case random(fraction: Double, seed: UInt64)
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
}

extension Machine {
    public static let maxTagLength = 64

    static func validateTag(_ tag: String) throws(MMError) {
        guard !tag.isEmpty, tag.utf8.count <= maxTagLength else {
            throw .invalidConfig(field: "tag", value: tag, reason: "must be 1..\(maxTagLength) bytes")
        }
    }

    /// Allocates `count` blocks of the same request one after another, recording each under `tag`.
    /// Stops early after `stopAfterFailures` consecutive failures (nil: never).
    /// - Complexity: O(count) allocations; latencies are summarised, handles kept up to `keepHandles`.
    public func allocateBulk(_ req: AllocRequest, count: Int, tag: String? = nil, keepHandles: Int = 1000,
                             stopAfterFailures: Int? = nil) throws(MMError) -> BulkAllocResult {
        try validate(req)
        guard count >= 0 && count <= 1 << 32 else {
            throw .invalidConfig(field: "count", value: "\(count)", reason: "must be 0..4294967296")
        }
        if let t = tag { try Machine.validateTag(t) }
        var ok = 0, failed = 0, consecutive = 0, cStalls = 0, rStalls = 0, reclaimed = 0
        var kept: [PageHandle] = []
        var latencies: [UInt64] = []
        latencies.reserveCapacity(min(count, 1 << 20))
        var tagList = tag.flatMap { tags.removeValue(forKey: $0) } ?? []
        let start = clockNs
        for _ in 0..<count {
            let o = try allocate(req)
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
                               simulatedNs: clockNs &- start)
    }

    /// Live handles of a tag in allocation order.
    public func handles(ofTag tag: String) -> [PageHandle] {
        (tags[tag] ?? []).filter { handles.resolve($0) != nil }
    }

    /// Tags with live allocations, sorted, with their live counts.
    public var tagCounts: [(tag: String, live: Int)] {
        tags.keys.sorted().map { ($0, handles(ofTag: $0).count) }.filter { $0.live > 0 }
    }

    /// Frees allocations of `tag` chosen by `pattern`; returns how many were freed. Allocations already
    /// freed by handle are skipped. Throws `unknownTag` if the tag has no live allocations.
    @discardableResult
    public func freeTag(_ tag: String, pattern: FreePattern) throws(MMError) -> Int {
        if case .random(let f, _) = pattern, !(f >= 0 && f <= 1) {
            throw .invalidConfig(field: "fraction", value: "\(f)", reason: "must be between 0 and 1")
        }
        let live = handles(ofTag: tag)
        guard !live.isEmpty else { throw .unknownTag(tag) }
        bumpGeneration()
        var keep: [PageHandle] = []
        var freed = 0
        switch pattern {
        case .all:
            for h in live { freeAllocation(slot: handles.resolve(h)!) }
            freed = live.count
        case .everyOther:
            for (i, h) in live.enumerated() {
                if i % 2 == 0 { freeAllocation(slot: handles.resolve(h)!); freed += 1 } else { keep.append(h) }
            }
        case .random(let fraction, let seed):
            var r = SeededRandom(seed: seed)
            for h in live {
                if r.unit() < fraction { freeAllocation(slot: handles.resolve(h)!); freed += 1 } else { keep.append(h) }
            }
        }
        if keep.isEmpty { tags.removeValue(forKey: tag) } else { tags[tag] = keep }
        return freed
    }
}
