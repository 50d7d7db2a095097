#!/usr/bin/env python3
"""Compaction speed side by side with the native yardstick (`../shared/yardstick/cref.c`).

Runs `cref MIB sparse` and `mm-bench compact-sparse` (the same recipe: one zone, 100 MiB chunks of
order-0 movable pages to 80 %, the rest filled, 7 of every 8 pages freed in every other 80 % chunk
(newest first) and in every filler chunk, then a whole-zone compaction) alternately, --rounds times,
and prints each program's figures and, per adjacent pair of runs, the ratio of MMCore's rate to the C
program's for pages migrated per second and pages scanned (both scanners) per second, then the medians.

MMCore runs twice a round. First with the chunks' roles given by physical position
(MM_BENCH_SPARSE_LAYOUT=pfn), so it compacts the pattern the C program compacts: cref links a fresh
zone's blocks lowest pfn first and allocates bottom-up, while 2.6.35 frees boot memory onto the heads
of the free lists, so a fresh MMCore zone allocates top-down and the same allocation order puts the
chunks in the mirror image. Those are the headline ratios (`compact_sparse_64gib_*_ratio_vs_c`). Then
in allocation order, MMCore's own layout (`compact_sparse_64gib_alloc_order_*_ratio_vs_c`): there its
migration scanner crosses the sparse filler chunks first and moves about 30 % fewer pages over the same
scanned ranges, so pages migrated per second is not the same work.
The machine's speed drifts within seconds: compare the ratios of adjacent runs, on an idle machine.

    scripts/bench-compact.py --mm-bench .build/release/mm-bench --cref .build/cref --mib 65536 --rounds 5
"""
import argparse, os, statistics, subprocess


def figures(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    d = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            try:
                d[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return d, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mm-bench", default=".build/release/mm-bench")
    ap.add_argument("--cref", default=".build/cref")
    ap.add_argument("--mib", type=int, default=65536)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    label = "64gib" if a.mib == 65536 else "%dmib" % a.mib
    key = "compact_sparse_%s_" % label
    layouts = [("pfn", ""), ("alloc", "alloc_order_")]
    ratios = {name: ([], []) for name, _ in layouts}
    for r in range(a.rounds):
        c, cout = figures([a.cref, str(a.mib), "sparse"])
        if "invariants ok" not in cout:
            raise SystemExit("cref: invariants failed:\n" + cout[-500:])
        c_scanned = c["compact_migrate_scanned_per_second"] + c["compact_free_scanned_per_second"]
        line = "round %d: C %.3f s, %.0f pages moved (%.3g/s), %.3g scanned/s" % (
            r, c["compact_seconds"], c["compact_pages_moved"], c["compact_pages_migrated_per_second"], c_scanned)
        for name, _ in layouts:
            env = dict(os.environ, MM_BENCH_SPARSE_MIB=str(a.mib), MM_BENCH_SPARSE_LAYOUT=name)
            s, _ = figures([a.mm_bench, "compact-sparse"], env)
            rm = s[key + "pages_migrated_per_second"] / c["compact_pages_migrated_per_second"]
            rs = s[key + "scanned_per_second"] / c_scanned
            ratios[name][0].append(rm)
            ratios[name][1].append(rs)
            line += " | MMCore (%s layout) %.3f s, %.0f pages moved (%.3g/s), %.3g scanned/s, ratio migrated/s %.2f, scanned/s %.2f" % (
                name, s[key + "seconds"], s[key + "pages_moved"], s[key + "pages_migrated_per_second"],
                s[key + "scanned_per_second"], rm, rs)
        print(line, flush=True)
    for name, prefix in layouts:
        migrated, scanned = ratios[name]
        print("compact_sparse_%s_%smigrated_per_second_ratio_vs_c %.3f ratio" % (label, prefix, statistics.median(migrated)))
        print("compact_sparse_%s_%sscanned_per_second_ratio_vs_c %.3f ratio" % (label, prefix, statistics.median(scanned)))


if __name__ == "__main__":
    main()
