#!/usr/bin/env bash
# Regenerates the tables of docs/results.md: the seed's experiments (seed-easy-hugepages and
# seed-highalloc-stress, vanilla 2.6.34 against 2.6.35 compaction) on the x86, x86_64 and ppc64 presets,
# run as experiments through the service's own API, the way a CI job would, each on REPEAT seeds
# (SEED..SEED+REPEAT-1) with the per-variant mean, sd and 95 % confidence intervals.
#
#   scripts/seed-tables.sh [MEMORY_MIB] [REPEAT] [SEED]    # default 2048 MiB, 5 seeds from 1; prints Markdown
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-2048}
REPEAT=${2:-5}
SEED=${3:-1}
BIN=.build/release/compact-service
[ -x "$BIN" ] || swift build -c release >&2
. scripts/server-lib.sh
start_server "$BIN" --log-level warning
url="http://127.0.0.1:$port"
for preset in seed-easy-hugepages seed-highalloc-stress; do
    for arch in x86 x86_64 ppc64; do
        body="{\"name\":\"$preset-$arch\",\"repeat\":$REPEAT,\"template\":{\"preset\":\"$arch\",\"memory_mib\":$MIB,\"seed\":$SEED},\"variants\":[{\"name\":\"vanilla\",\"compaction\":false},{\"name\":\"compaction\",\"compaction\":true}],\"preset\":\"$preset\"}"
        start=$(date +%s.%N)
        id=$(curl -sf -XPOST "$url/v1/experiments?wait=true&timeout_s=3600" -H 'content-type: application/json' -d "$body" \
             | python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["state"]=="succeeded", j; print(j["id"])')
        end=$(date +%s.%N)
        echo "### $preset on $arch ($MIB MiB, $REPEAT seeds from $SEED), $(python3 -c "print(f'{$end-$start:.1f}')") s wall"
        echo
        curl -sf "$url/v1/jobs/$id/result?format=markdown"
        echo
    done
done
