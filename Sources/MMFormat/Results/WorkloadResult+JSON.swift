import MMCore

/// The JSON of a workload result (deterministic key order, simulated times in µs/ms).
extension LatencySummary {
    public var jsonMicroseconds: JSON {
        func us(_ ns: UInt64) -> JSON { .number((Double(ns) / 1000).rounded()) }
        return .object([("count", .number(Double(count))), ("min", us(min)), ("p50", us(p50)), ("p90", us(p90)),
                        ("p95", us(p95)), ("p99", us(p99)), ("max", us(max))])
    }
}

extension WorkloadResult {
    /// The counters a sample of a workload keeps.
    static let sampleCounters = VmCounters.fields(["compact_stall", "compact_success", "pages_reclaimed", "extfrag_events"])
}

extension CompactionSelftestResult {
    public var json: JSON {
        .object([("mem_free_kb", .number(Double(memFreeKB))), ("chunks_mapped", .number(Double(chunksMapped))),
                 ("chunks_unmapped", .number(Double(chunksUnmapped))), ("hugepages", .number(Double(hugepages))),
                 ("hugepage_kb", .number(Double(hugepageKB))), ("compaction_index", .number(Double(compactionIndex))),
                 ("passed", .bool(passed)), ("hugepage_alloc_ms", .number((Double(hugepageAllocNs) / 1e6 * 1000).rounded() / 1000))])
    }
}

extension WorkloadResult {
    /// At most this many attempt records are listed (the summary covers all of them).
    public static let maxAttemptsListed = 20_000

    public var json: JSON {
        func n(_ v: UInt64) -> JSON { .number(Double(v)) }
        func ms(_ ns: UInt64) -> JSON { .number((Double(ns) / 1e3).rounded() / 1e3) }
        let attemptsJSON: [JSON] = attempts.prefix(WorkloadResult.maxAttemptsListed).map {
            .object([("index", .number(Double($0.index))), ("success", .bool($0.success)),
                     ("latency_us", .number((Double($0.latencyNs) / 1000).rounded())), ("compaction_stall", .bool($0.stalledInCompaction)),
                     ("reclaim_stall", .bool($0.stalledInReclaim)), ("at_ms", ms($0.atNs))])
        }
        let samplesJSON: [JSON] = samples.map { s in
            .object([("name", .string(s.name)), ("at_ms", ms(s.atNs)), ("free_pages", .number(Double(s.freePages))),
                     ("free_blocks_per_order", .array(s.freeBlocksPerOrder.map { .number(Double($0)) })),
                     ("unusable_index_hugepage", .object(s.unusableIndexHugepage.keys.sorted().map { ($0, .number(Double(s.unusableIndexHugepage[$0]!))) })),
                     ("vmstat", .object(WorkloadResult.sampleCounters.map { ($0.name, n(s.counters[keyPath: $0.value])) }))])
        }
        var head: [(String, JSON)] = [
            ("workload", .string(workload)),
            ("machine", machine.json),
            ("steps_done", .number(Double(stepsDone))),
            ("cancelled", .bool(cancelled)),
        ]
        // Only a run with an actor that has `copies` lists them (every other result reads as before).
        if !actorCopies.isEmpty {
            head.append(("actor_copies", .array(actorCopies.map { .object([("actor", .string($0.actor)), ("copies", .number(Double($0.copies)))]) })))
        }
        return .object(head + [
            ("high_alloc", .object([("requested", .number(Double(requested))),
                                    ("attempts", .number(Double(highAllocAttempts))), ("successes", .number(Double(highAllocSuccesses))),
                                    ("request_pct", .number((requestPercent * 10).rounded() / 10)),
                                    ("success_pct", .number((successPercent * 10).rounded() / 10)),
                                    ("latency_us", latency.jsonMicroseconds)])),
            ("reclaim", .object([("pages_reclaimed", n(pagesReclaimedAsSeed)), ("pages_reclaimed_alloc", n(pagesReclaimedInAllocPhase)),
                                 ("pages_freed", n(delta(\.pagesReclaimed))),
                                 ("allocstall", n(delta(\.allocstall))),
                                 ("pgscan_kswapd", n(delta(\.pgscanKswapd))), ("pgscan_direct", n(delta(\.pgscanDirect))),
                                 ("pgsteal_kswapd", n(delta(\.pgstealKswapd))), ("pgsteal_direct", n(delta(\.pgstealDirect))),
                                 ("pginodesteal", n(delta(\.pginodesteal))), ("kswapd_inodesteal", n(delta(\.kswapdInodesteal))),
                                 ("pswpout", n(delta(\.pswpout)))])),
            ("compaction", .object([("stall", n(delta(\.compactStall))), ("success", n(delta(\.compactSuccess))),
                                    ("fail", n(delta(\.compactFail))), ("migrate_scanned", n(delta(\.compactMigrateScanned))),
                                    ("free_scanned", n(delta(\.compactFreeScanned))), ("isolated", n(delta(\.compactIsolated))),
                                    ("pages_migrated", n(delta(\.pgmigrateSuccess))), ("migrate_failed", n(delta(\.pgmigrateFail)))])),
            ("extfrag_events", n(delta(\.extfragEvents))),
            ("simulated_ms", ms(simulatedNs)),
            ("kswapd_ms", ms(kswapdNs)),
            ("samples", .array(samplesJSON)),
            ("selftest", selftest?.json ?? .null),
            ("attempts", .array(attemptsJSON)),
        ])
    }
}
