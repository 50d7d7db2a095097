import MMCore

/// The built-in workloads, as JSON definitions (so they document the format, and a client can be shown
/// them as they are). Sizes are fractions of memory so they scale with the machine.
public enum WorkloadPresets {
    public static let all: [(name: String, summary: String, json: String)] = [
        ("seed-easy-hugepages",
         "The seed's first test: updatedb looks up a tree (a dentry and an inode per file, ten files a directory, unused afterwards; a directory's dentry pinned while it has children), then 4096 parallel dd writers of pagesize×128 files (4096 × 128 pages in all, the seed's full volume: more than memory on a 2 GiB machine, so reclaim runs while they write) fill the page cache through ext3 (each file an inode and a dentry, made when its writer creates it; each 4 KiB block a buffer head, freed only with its page; every page dirty when written, written back by the flusher and by writers throttled in balance_dirty_pages); every second file deleted (its pages, buffer heads, dentry and inode freed); the hugetlb pool grown 5% of MemTotal at a time by writes of nr_hugepages (alloc_fresh_huge_page: GFP_HIGHUSER|__GFP_COMP|__GFP_THISNODE|__GFP_REPEAT|__GFP_NOWARN, nodes round-robin).",
         """
         {"name": "seed-easy-hugepages", "seed": 1, "steps": [
           {"sysctl": {"name": "min_free_kbytes", "value": "recommended"}},
           {"metadata": {"fraction": 0.04, "files_per_directory": 10, "tag": "updatedb"}},
           {"fill": {"kind": "file", "count": 524288, "chunk_pages": 1, "writers": 4096, "file_pages": 128, "block_size": 4096, "tag": "files", "dirty_fraction": 1.0}},
           {"free": {"tag": "files", "pattern": "every_other"}},
           {"sample": {"name": "after-delete"}},
           {"hugetlb_pool": {"fraction": 1.0, "increment_fraction": 0.05, "tag": "hugepages"}},
           {"sample": {"name": "end"}}
         ]}
         """),
        ("seed-highalloc-stress",
         "The seed's third test: memory left full by simulated kernel builds (page cache, slab, unmovable kernel memory side by side), builds still running, as many as mmtests ran (MemTotal_MB / 400 copies of the tree plus the primary, make -j1 each: 6 on a 2 GiB machine, 11 on 4 GiB; 16.667 events a ms each) (anon, page cache, slab, other kernel memory, and compiler processes: about one a build alive at a time, each 8 MiB of anon with its task, mm, VMAs, kernel stack and page tables; the builds' demand is bytes, 4 KiB an event, and their page cache whole files of a Linux 2.6.35 tree, so 64 KiB pages hold more of it), while 90% of memory is requested as huge pages, one at a time, paced as mmtests' stress-highalloc paced them (16 MB/s: attempts start 125 ms apart for 2 MiB pages, 250 ms for 4 MiB, 1000 ms for 16 MiB; VMRegress bench-stresshighalloc.sh).",
         """
         {"name": "seed-highalloc-stress", "seed": 1, "steps": [
           {"sysctl": {"name": "min_free_kbytes", "value": "recommended"}},
           {"age": {"file_fraction": 0.6, "slab_fraction": 0.06, "kernel_fraction": 0.03, "free_file_fraction": 0.1, "free_slab_fraction": 0.2, "dirty_fraction": 0.3}},
           {"start_actor": {"name": "kernel-builds", "rate_per_ms": 16.667, "copies": {"per_memtotal_mib": 400, "plus": 1}, "mix": [
             {"kind": "file", "weight": 3, "dirty_fraction": 0.3, "unit_kib": 4, "file_sizes": "linux-2.6.35"},
             {"kind": "anon", "weight": 5, "lifetime_ms": 40, "unit_kib": 4},
             {"kind": "slab", "weight": 1, "lifetime_ms": 4000, "unit_kib": 4},
             {"kind": "kernel", "weight": 0.5, "lifetime_ms": 60, "unit_kib": 4},
             {"process": {"anon_kib": 8192, "vmas": 40}, "weight": 0.006, "lifetime_ms": 100}]}},
           {"run": {"ms": 1000}},
           {"sample": {"name": "under-load"}},
           {"high_alloc": {"fraction": 0.9, "mb_per_sec": 16, "stop_on_failure": false, "gfp": ["GFP_HIGHUSER_MOVABLE"], "tag": "hugepages"}},
           {"stop_actor": {"name": "kernel-builds"}},
           {"sample": {"name": "end"}}
         ]}
         """),
        ("kselftest-compaction",
         "tools/testing/selftests/mm/compaction_test on an aged machine: 100 MiB mlocked chunks to 80% of free memory, every other one unmapped, then as many huge pages as possible; pass if they cover at least a quarter of 80% of MemFree.",
         """
         {"name": "kselftest-compaction", "seed": 1, "steps": [
           {"age": {}},
           {"sample": {"name": "aged"}},
           {"selftest": {}},
           {"sample": {"name": "end"}}
         ]}
         """),
        ("proactive-frag",
         "The proactive-compaction evaluation recipe: allocate nearly all memory in base pages, free 3/4 of the pages of every huge-page-sized chunk, then fault huge pages THP-style (no retry) and measure their latency.",
         """
         {"name": "proactive-frag", "seed": 1, "steps": [
           {"fill": {"kind": "anon", "fraction": 1.0, "tag": "frag"}},
           {"keep_one_in": {"tag": "frag", "period": 4}},
           {"sample": {"name": "fragmented"}},
           {"high_alloc": {"fraction": 0.5, "stop_on_failure": false, "gfp": ["GFP_HIGHUSER_MOVABLE", "__GFP_NORETRY"], "tag": "thp"}},
           {"sample": {"name": "end"}}
         ]}
         """),
        ("thpcompact",
         "mmtests' thpcompact (config-workload-thpcompact, 4 threads): each thread faults a madvised anonymous mapping (80% of memory over all threads; as base pages here, the layout a split THP leaves), unmaps the first half of every 2 MiB of it, read-faults file pages (a quarter of its mapping), then faults huge pages into a madvised mapping the size of its holes, recording each fault's latency and whether it got a huge page (THP faults: the kernel's defrag rules on 6.6, GFP_HIGHUSER_MOVABLE|__GFP_NORETRY on the old kernels; a fault without a huge page falls back to base pages).",
         """
         {"name": "thpcompact", "seed": 1, "steps": [
           {"fill": {"kind": "anon", "fraction": 0.8, "chunk_pages": 512, "writers": 4, "block_size": 0, "tag": "first-mapping"}},
           {"free": {"tag": "first-mapping", "pattern": "every_other", "unit": 256}},
           {"fill": {"kind": "file", "fraction": 0.2, "chunk_pages": 128, "writers": 4, "block_size": 0, "tag": "file-mapping"}},
           {"sample": {"name": "holes-punched"}},
           {"high_alloc": {"fraction": 0.4, "stop_on_failure": false, "thp": {"madvise": true}, "tag": "second-mapping"}},
           {"sample": {"name": "end"}}
         ]}
         """),
        ("proactive-gupta",
         "Nitin Gupta's proactive-compaction experiment (workloads-and-results.md §2.4 item 5; his \"frag\" program): allocate nearly all memory in base pages, free 3/4 of the pages of every 2 MiB chunk, let 5 s pass (the program exits, the driver loads; kcompactd checks every 500 ms), then ask for huge pages covering 76% of memory (about all that is free), one after another, as his kernel driver did; run it with compaction_proactiveness 0 and 20.",
         """
         {"name": "proactive-gupta", "seed": 1, "steps": [
           {"fill": {"kind": "anon", "fraction": 0.97, "tag": "frag"}},
           {"keep_one_in": {"tag": "frag", "period": 4}},
           {"sample": {"name": "fragmented"}},
           {"run": {"ms": 5000}},
           {"sample": {"name": "settled"}},
           {"high_alloc": {"fraction": 0.76, "stop_on_failure": false, "gfp": ["GFP_HIGHUSER_MOVABLE", "__GFP_RETRY_MAYFAIL"], "tag": "hugepages"}},
           {"sample": {"name": "end"}}
         ]}
         """),
    ]

    /// A preset's definition as JSON (as a client is shown it).
    public static func definitionJSON(named name: String) -> JSON? {
        guard let p = all.first(where: { $0.name == name }) else { return nil }
        return try? JSON.parse(p.json)
    }

    /// The parsed definition of a preset.
    public static func definition(named name: String) -> WorkloadDefinition? {
        guard let p = all.first(where: { $0.name == name }), let j = try? JSON.parse(p.json) else { return nil }
        return try? WorkloadDefinition(json: j)
    }
}
