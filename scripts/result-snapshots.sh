#!/usr/bin/env bash
# Writes the result JSON of every built-in workload preset (x86_64, seed 1, at 256 and 1024 MiB, with the
# machine's /proc/vmstat and /proc/buddyinfo after it; run to the end in one call, and again stepped 1024
# events at a time as the service's jobs step it) and of every examples/experiment-*.json to a
# directory, through MMCore (mm-bench result-json, release build). Run it before and after a change and
# compare: a change that must not move results leaves `diff -r BEFORE AFTER` empty.
#
#   scripts/result-snapshots.sh OUTDIR [MIB...]     # default sizes: 256 1024
#
# BIN=PATH uses another mm-bench (a copy built before the change) and skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/result-snapshots.sh OUTDIR [MIB...]}
shift
if [ $# -gt 0 ]; then sizes=("$@"); else sizes=(256 1024); fi
BIN_GIVEN=${BIN:-}
BIN=${BIN:-.build/release/mm-bench}
[ -n "${BIN_GIVEN:-}" ] || swift build -c release --product mm-bench >&2
mkdir -p "$out"
presets=(seed-easy-hugepages seed-highalloc-stress kselftest-compaction proactive-frag)
for mib in "${sizes[@]}"; do
    for p in "${presets[@]}"; do
        "$BIN" result-json "$p" "$mib" > "$out/workload-$p-$mib.txt"
        "$BIN" result-json "$p" "$mib" 1024 > "$out/workload-$p-$mib-stepped1024.txt"
    done
done
for f in examples/experiment-*.json; do
    "$BIN" result-json "$f" > "$out/$(basename "$f" .json).txt"
done
ls "$out"
