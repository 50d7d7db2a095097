#!/usr/bin/env python3
"""Compaction speed side by side with the native yardstick (`../shared/yardstick/cref.c`).

Runs `cref MIB sparse` and `mm-bench compact-sparse` (the same recipe: one zone, 100 MiB chunks of
order-0 movable pages to 80 %, the rest filled, 7 of every 8 pages freed in every other 80 % chunk
(newest first) and in every filler chunk, then a whole-zone compaction) alternately, --rounds times,
and prints each program's figures and, per adjacent pair of runs, the ratio of MMCore's rate to the C
program's for pages migrated per second and pages scanned (both scanners) per second, then the medians.
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
    env = dict(os.environ, MM_BENCH_SPARSE_MIB=str(a.mib))
    label = "64gib" if a.mib == 65536 else "%dmib" % a.mib
    key = "compact_sparse_%s_" % label
    migrated, scanned = [], []
    for r in range(a.rounds):
        c, cout = figures([a.cref, str(a.mib), "sparse"])
        if "invariants ok" not in cout:
            raise SystemExit("cref: invariants failed:\n" + cout[-500:])
        s, _ = figures([a.mm_bench, "compact-sparse"], env)
        c_scanned = c["compact_migrate_scanned_per_second"] + c["compact_free_scanned_per_second"]
        rm = s[key + "pages_migrated_per_second"] / c["compact_pages_migrated_per_second"]
        rs = s[key + "scanned_per_second"] / c_scanned
        migrated.append(rm)
        scanned.append(rs)
        print("round %d: C %.3f s, %.0f pages moved (%.3g/s), %.3g scanned/s | MMCore %.3f s, %.0f pages moved (%.3g/s), %.3g scanned/s"
              " | ratio migrated/s %.2f, scanned/s %.2f, seconds %.2f" % (
                  r, c["compact_seconds"], c["compact_pages_moved"], c["compact_pages_migrated_per_second"], c_scanned,
                  s[key + "seconds"], s[key + "pages_moved"], s[key + "pages_migrated_per_second"], s[key + "scanned_per_second"],
                  rm, rs, c["compact_seconds"] / s[key + "seconds"]), flush=True)
    print("compact_sparse_%s_migrated_per_second_ratio_vs_c %.3f ratio" % (label, statistics.median(migrated)))
    print("compact_sparse_%s_scanned_per_second_ratio_vs_c %.3f ratio" % (label, statistics.median(scanned)))


if __name__ == "__main__":
    main()
