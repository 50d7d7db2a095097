import Testing
@testable import MMCore

/// /proc/vmstat under each kernel's own names and order: 2.6.35 counts reclaim per zone
/// (`pgrefill_<zone>` in `shrink_active_list`, `pgsteal_<zone>`, `pgscan_kswapd_<zone>`,
/// `pgscan_direct_<zone>` in `shrink_inactive_list`, with
/// `kswapd_steal` kswapd's share), 6.6 per node (`pgsteal_kswapd`, …) with its stalls per zone
/// (`allocstall_<zone>`, counted against `sc->reclaim_idx` in `do_try_to_free_pages`), its zone items
/// as `nr_zone_*` and its node items after the NUMA events (mm/vmstat.c `vmstat_text` of each release).
@Suite struct VmstatNamesTests {
    /// Page cache over the whole machine, then kernel and highmem allocations that must reclaim it.
    func reclaim(_ m: Machine) throws {
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .file, gfp: .atomic), count: m.totalPages, tag: "cache", keepHandles: 0)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .kernel), count: 3000, tag: "low", keepHandles: 0)
        _ = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .highuser), count: 3000, tag: "high", keepHandles: 0)
    }

    func names(_ m: Machine) -> [String] { m.vmstatPairs().map(\.0) }
    func values(_ m: Machine) -> [String: Int64] { Dictionary(m.vmstatPairs(), uniquingKeysWith: { a, _ in a }) }
    func sum(_ v: [String: Int64], _ prefix: String, _ m: Machine) -> Int64 {
        m.preset.zoneTypes.reduce(0) { $0 + v["\(prefix)_\($1.vmstatSuffix)"]! }
    }

    @Test func theSeedNamesReclaimPerZoneAndTheZonesAddUpToItsTotals() throws {
        let m = makeMachine(.x86, mib: 1024)
        try reclaim(m)
        let n = names(m), v = values(m), c = m.counters
        for gone in ["pgsteal_kswapd", "pgsteal_direct", "pgscan_kswapd", "pgscan_direct", "allocstall_normal"] {
            #expect(!n.contains(gone), "\(gone) is not a 2.6.35 item")
        }
        #expect(m.preset.zoneTypes.map { "pgsteal_\($0.vmstatSuffix)" } == ["pgsteal_dma", "pgsteal_normal", "pgsteal_high", "pgsteal_movable"])
        #expect(sum(v, "pgsteal", m) == Int64(c.pgstealKswapd + c.pgstealDirect))
        #expect(sum(v, "pgsteal", m) > 0)
        #expect(v["kswapd_steal"] == Int64(c.pgstealKswapd))
        #expect(sum(v, "pgscan_kswapd", m) == Int64(c.pgscanKswapd))
        #expect(sum(v, "pgscan_direct", m) == Int64(c.pgscanDirect) && c.pgscanDirect > 0)
        // Both lowmem and HighMem were reclaimed from, each under its own name.
        #expect(v["pgsteal_normal"]! > 0 && v["pgsteal_high"]! > 0)
        // vmstat_text's order: pgdeactivate, the three per-zone groups, pginodesteal; the hugetlb
        // counters straight after the seed's compaction counters.
        let at = { (s: String) in n.firstIndex(of: s)! }
        #expect(at("pgdeactivate") + 1 == at("pgrefill_dma") && at("pgrefill_movable") + 1 == at("pgsteal_dma"))
        #expect(sum(v, "pgrefill", m) == v["pgdeactivate"])
        #expect(at("nr_kernel_stack") + 1 == at("nr_vmscan_write") && at("nr_vmscan_write") + 1 == at("nr_isolated_anon"))
        #expect(at("pgsteal_movable") + 1 == at("pgscan_kswapd_dma"))
        #expect(at("pgscan_kswapd_movable") + 1 == at("pgscan_direct_dma"))
        #expect(at("pgscan_direct_movable") + 1 == at("pginodesteal"))
        #expect(at("compact_success") + 1 == at("htlb_buddy_alloc_success"))
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func sixSixPrintsItsZoneAndNodeItemsAndItsStallsPerZone() throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 128, seed: 3, kernel: .v6_6))
        try reclaim(m)
        let n = names(m), v = values(m), c = m.counters
        #expect(Array(n.prefix(8)) == ["nr_free_pages", "nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file",
                                       "nr_zone_active_file", "nr_zone_unevictable", "nr_zone_write_pending", "nr_mlock"])
        #expect(Array(n[8..<13]) == ["numa_hit", "numa_miss", "numa_foreign", "numa_local", "numa_other"])
        #expect(n[13] == "nr_inactive_anon")
        let at = { (s: String) in n.firstIndex(of: s)! }
        #expect(at("nr_dirty") + 1 == at("nr_vmscan_write") && at("nr_vmscan_write") + 1 == at("nr_kernel_stack"))
        #expect(at("nr_page_table_pages") + 1 == at("pgpgout"))
        #expect(at("pgdeactivate") + 1 == at("pgrefill") && at("pgrefill") + 1 == at("pgsteal_kswapd"))
        for gone in ["allocstall", "kswapd_steal", "compact_blocks_moved", "pgsteal_dma32"] {
            #expect(!n.contains(gone), "\(gone) is not a 6.6 item")
        }
        // One stall per direct reclaim, against the allocation's highest zone type.
        #expect(sum(v, "allocstall", m) == Int64(c.allocstall) && c.allocstall > 0)
        #expect(at("pgalloc_movable") + 1 == at("allocstall_dma"))
        // vmstat_show's deprecated line ends the kernel's items; the simulator's follow.
        #expect(v["nr_unstable"] == 0 && at("nr_unstable") == at("thp_fault_fallback") + 1 && at("nr_unstable") + 1 == at("extfrag_events"))
        // The zone items add up to the node items they mirror.
        #expect(v["nr_zone_inactive_file"] == v["nr_inactive_file"] && v["nr_zone_write_pending"] == v["nr_dirty"])
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func sixSixZoneinfoHasNodeItemsOnceAndZoneItemsInEachZone() throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 128, seed: 3, kernel: .v6_6))
        try reclaim(m)
        let text = m.renderZoneinfo()
        #expect(text.components(separatedBy: "\n  per-node stats").count == 2)
        #expect(text.contains("\n      nr_slab_reclaimable "))
        let zoneLines = text.split(separator: "\n").filter { $0.hasPrefix("      nr_zone_inactive_file ") }
        #expect(zoneLines.count == m.zones.filter(\.populated).count)
        let total = zoneLines.reduce(Int64(0)) { $0 + Int64($1.split(separator: " ").last!)! }
        #expect(total == values(m)["nr_inactive_file"])
    }

    /// A section of 64-bit words.
    func section(_ name: String, _ words: [UInt64]) -> MachineStateImage.Section {
        let bytes = words.flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) } }
        return MachineStateImage.Section(name: name, elementBytes: 8, count: words.count, extents: [.init(offset: 0, bytes: bytes)])
    }

    @Test func theZoneSplitSurvivesAnImageAndOlderImagesLoadTheirTotalsIntoTheTopZone() throws {
        for kernel in [KernelRelease.v2_6_35, .v6_6] {
            let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 128, seed: 5, kernel: kernel))
            try reclaim(m)
            let image = m.exportState()
            let copy = try Machine(m.config, restoring: image)
            #expect(copy.counters == m.counters)
            let c = m.counters
            #expect(c.pgscanDirect > 0 && c.pgdeactivate == c.pgrefillByZone.reduce(0, +))

            // As version 3 stored them: the totals, no split.
            var old = withReclaimTotalsOnly(image, c)
            old.version = 3
            let converted = try Machine(m.config, restoring: old).counters
            let top = m.zones.filter(\.populated).map(\.indexInNode).max()!
            #expect(converted.pgstealByZone[top] == c.pgstealKswapd + c.pgstealDirect)
            #expect(converted.pgstealDirect == c.pgstealDirect && converted.pgscanDirect == c.pgscanDirect)
            #expect(converted.pgscanKswapd == c.pgscanKswapd && converted.pgdeactivate == c.pgdeactivate)
            #expect(converted.allocstallByZone.reduce(0, +) == (kernel == .v6_6 ? c.allocstall : 0))
            // A version-3 image without its totals is refused, naming the one missing.
            var short = old
            short.sections.removeAll { $0.name == "vmstat.pgscan_direct" }
            #expect { try Machine(m.config, restoring: short) } throws: { "\($0)".contains("vmstat.pgscan_direct") }

            // A version-4 image with stalls by zone that 2.6.35 does not keep, or that do not add up to
            // 6.6's allocstall, is refused, naming the section.
            var bad = image
            let i = bad.sections.firstIndex { $0.name == "vmstat.allocstall_by_zone" }!
            bad.sections[i] = section("vmstat.allocstall_by_zone", c.allocstallByZone.map { $0 &+ 1 })
            #expect { try Machine(m.config, restoring: bad) } throws: { "\($0)".contains("vmstat.allocstall_by_zone") }
        }
    }
}
