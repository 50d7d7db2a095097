/// Transparent huge page faults as a workload kind: a `high_alloc` step with `"thp": {"madvise": bool}`
/// faults huge pages the way `do_huge_pmd_anonymous_page` does on each kernel, so thpcompact- and
/// thpchallenge-like workloads can be written.
///
/// - Kernel 6.6: when THP applies to the mapping (`enabled` always, or madvise and the mapping is
///   madvised), an order-9 allocation with `vma_thp_gfp_mask` for the `defrag` setting (GFP_TRANSHUGE or
///   GFP_TRANSHUGE_LIGHT, with __GFP_NORETRY / __GFP_KSWAPD_RECLAIM as the setting says); success counts
///   `thp_fault_alloc`, failure `thp_fault_fallback`.
/// - 2.6.34 and 2.6.35 had no THP (it came in 2.6.38): the fault is an order-9 attempt with
///   GFP_HIGHUSER_MOVABLE | __GFP_NORETRY, as mmtests' GFP_ALLOC_LIKE_THP approximates one, and no
///   thp_* counter moves.
/// A fault that gets no huge page falls back to base pages (`fallback`, default true): 2^order order-0
/// pages for the same range, kept under the step's tag, their time part of the fault's latency.
public struct THPFaultSpec: Sendable, Equatable {
    /// The mapping was madvised (MADV_HUGEPAGE).
    public var madvise: Bool = true
    /// Fault base pages when no huge page came.
    public var fallback: Bool = true
    public init(madvise: Bool = true, fallback: Bool = true) { self.madvise = madvise; self.fallback = fallback }
}

extension Machine {
    /// Whether THP applies to a mapping (`hugepage_vma_check` for the `enabled` setting); always on the
    /// old kernels, whose faults are plain order-9 attempts.
    func thpApplies(madvise: Bool) -> Bool {
        switch thpEnabled {
        case nil: return true
        case .always?: return true
        case .madvise?: return madvise
        case .never?: return false
        }
    }

    /// One huge page fault (see `THPFaultSpec`). Returns the outcome of the huge page attempt (no handle
    /// when it fell back), with the fallback's time in its latency.
    func thpFault(_ t: THPFaultSpec, order: Int, kind: AllocKind, tag: String, run: WorkloadRun) throws(MMError) -> AllocOutcome {
        let start = clockNs
        var outcome = AllocOutcome()
        if thpApplies(madvise: t.madvise) {
            let gfp: GFPFlags = isModernKernel ? thpGfpMask(madvised: t.madvise) : [.wait, .io, .fs, .noretry]
            outcome = try allocate(AllocRequest(order: order, kind: kind, gfp: gfp))
            if isModernKernel {
                if outcome.succeeded { ev.modern.thpFaultAlloc &+= 1 } else { ev.modern.thpFaultFallback &+= 1 }
            }
        }
        if !outcome.succeeded && t.fallback {
            guard ensureTagRoom(tag, 1 << order) else { throw .stateLimit(bytes: lastRefusedBytes) }
            for _ in 0..<(1 << order) {
                let o = try allocate(AllocRequest(order: 0, kind: kind, gfp: .kernel))
                guard let h = o.handle else { break }
                tags[tag, default: []].append(h)
            }
            outcome.latencyNs = clockNs &- start
        }
        return outcome
    }
}
