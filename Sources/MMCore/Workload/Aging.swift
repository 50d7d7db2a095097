/// Leaves a machine the way a running system leaves memory: page cache, slab and some unmovable kernel
/// allocations made side by side, then a part of the cache and slab freed again. On a fresh machine a
/// fragmentation test proves nothing (freed regions are already whole free blocks); on an aged one what
/// the test allocates lands interleaved with what stayed.
public struct AgingRecipe: Sendable, Equatable {
    /// Fractions of MemTotal (the pages boot handed to the buddy allocator) to fill with each kind, interleaved in small runs.
    public var fileFraction: Double = 0.5
    public var slabFraction: Double = 0.08
    public var kernelFraction: Double = 0.02
    /// Fractions of the page cache and slab to free afterwards (seeded, random).
    public var freeFileFraction: Double = 0.6
    public var freeSlabFraction: Double = 0.5
    /// Share of page-cache pages that are dirty.
    public var dirtyFraction: Double = 0.1
    /// Filesystem block size: a page written (dirty) gets page size / blockSize buffer heads, freed only
    /// with it; pages read in get none (ext3 reads contiguous blocks through mpage_readpage, which
    /// attaches no buffers). 0: none.
    public var blockSize: Int = WorkloadDefinition.defaultBlockSize
    public var seed: UInt64 = 1

    public init() {}
}

extension Machine {
    /// Ages the machine with `recipe` (tags `aging-file`, `aging-slab`, `aging-kernel` hold what stays).
    /// Allocations are atomic-style (no reclaim) so aging never reclaims what it just made. When the
    /// state gate refuses what aging needs, what it made goes back and it throws `stateLimit`.
    public func age(_ recipe: AgingRecipe = AgingRecipe()) throws(MMError) {
        var rng = SeededRandom(seed: recipe.seed ^ 0xA6E)
        let targets: [(AllocKind, Int, String)] = [
            (.file, Int(Double(memTotalPages) * recipe.fileFraction), "aging-file"),
            (.slab, Int(Double(memTotalPages) * recipe.slabFraction), "aging-slab"),
            (.kernel, Int(Double(memTotalPages) * recipe.kernelFraction), "aging-kernel"),
        ]
        var done = [0, 0, 0]
        var lists: [[PageHandle]] = [[], [], []]
        var failures = 0
        let buffers = recipe.blockSize > 0 ? max(1, (1 << pageShift) / recipe.blockSize) : 0
        while failures < 64 && (0..<3).contains(where: { done[$0] < targets[$0].1 }) {
            let i = rng.below(3)
            guard done[i] < targets[i].1 else { continue }
            let run = min(1 + rng.below(32), targets[i].1 - done[i])
            for _ in 0..<run {
                guard reserveGated(&lists[i]) else {
                    for l in lists { undoAllocations(l) }
                    throw .stateLimit(bytes: lastRefusedBytes)
                }
                let dirty = targets[i].0 == .file && rng.unit() < recipe.dirtyFraction
                let o: AllocOutcome
                do {
                    o = try allocate(AllocRequest(order: 0, kind: targets[i].0, gfp: .nowait, dirty: dirty))
                } catch {
                    for l in lists { undoAllocations(l) }
                    throw error
                }
                if let h = o.handle {
                    lists[i].append(h); done[i] += 1
                    if dirty && buffers > 0 { attachBuffers(h, count: buffers, gfp: .nowait) }
                } else { failures += 1; break }
            }
        }
        for i in 0..<3 where !lists[i].isEmpty {
            // When the state gate refuses the tags' room, what aging made goes back and it stops.
            guard appendToTag(targets[i].2, lists[i]) else {
                for j in i..<3 { undoAllocations(lists[j]) }
                throw .stateLimit(bytes: lastRefusedBytes)
            }
        }
        if !lists[0].isEmpty { try freeTag("aging-file", pattern: .random(fraction: recipe.freeFileFraction, seed: recipe.seed &+ 1)) }
        if !lists[1].isEmpty { try freeTag("aging-slab", pattern: .random(fraction: recipe.freeSlabFraction, seed: recipe.seed &+ 2)) }
    }
}
