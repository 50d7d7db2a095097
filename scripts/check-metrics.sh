#!/usr/bin/env bash
# Checks GET /metrics of a freshly started compact-service with `promtool check metrics` (Debian's
# prometheus package): the Prometheus text format, names and types. Starts the server on a free port,
# exercises a few routes (machines on two presets and on 2.6.35 and 6.6, an allocation, a 404, an SSE
# stream) so every metric family has samples, and always stops the server.
#
#   scripts/check-metrics.sh            # debug build (.build/debug)
#   BUILD=release scripts/check-metrics.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-debug}
BIN=.build/$BUILD/compact-service
command -v promtool >/dev/null 2>&1 || { echo "promtool not found (apt-get install prometheus)" >&2; exit 1; }
# The scrape configuration shipped for a fleet (README "Sharding").
promtool check config deploy/prometheus.yml
if [ ! -x "$BIN" ]; then
    if [ "$BUILD" = release ]; then swift build -c release; else swift build; fi
fi

metrics=$(mktemp)
. scripts/server-lib.sh
server_tmp+=("$metrics")
start_server "$BIN" --demo-machine demo --memory-budget 2GiB --log-level warning

curl -sf -o /dev/null -X POST "$base/v1/machines" -H 'Content-Type: application/json' \
    -d '{"name":"ppc","preset":"ppc64","memory_mib":512,"nodes":2}' || \
curl -sf -o /dev/null -X POST "$base/v1/machines" -H 'Content-Type: application/json' \
    -d '{"name":"two","memory_mib":512,"nodes":2}'
# A 6.6 machine too: the dashboard's queries cover both kernels' vmstat names.
curl -sf -o /dev/null -X POST "$base/v1/machines" -H 'Content-Type: application/json' \
    -d '{"name":"modern","memory_mib":256,"kernel":"6.6"}'
curl -sf -o /dev/null -X POST "$base/v1/machines/demo/allocations" -H 'Content-Type: application/json' \
    -d '{"order":3,"count":100,"kind":"slab"}'
curl -s -o /dev/null "$base/v1/machines/nope" || true
# A machine the budget refuses (507), so the refusals counter has a non-zero sample too.
curl -s -o /dev/null -X POST "$base/v1/machines" -H 'Content-Type: application/json' \
    -d '{"name":"toobig","memory_mib":1048576}' || true
curl -s -o /dev/null --max-time 0.5 "$base/v1/machines/demo/stats/stream?interval_ms=100&events=extfrag" || true
curl -sf "$base/metrics" >"$metrics"

echo "promtool check metrics: $(wc -l <"$metrics") lines, $(grep -c '^# TYPE' "$metrics") families"
promtool check metrics <"$metrics"
for family in node_buddyinfo_blocks node_vmstat_compact_stall compact_service_http_requests_total \
              compact_service_http_request_duration_seconds compact_service_machines compact_service_state_bytes \
              compact_service_memory_budget_bytes compact_service_memory_used_bytes compact_service_memory_refusals_total \
              process_resident_memory_bytes; do
    grep -q "^# TYPE $family " "$metrics" || { echo "missing family $family" >&2; exit 1; }
done
echo "metrics ok"

# The Grafana dashboard: every query parses as PromQL (promtool check rules, with the $machine
# variable at its "All" value) and names only metrics this /metrics serves.
rules=$(mktemp)
server_tmp+=("$rules")
python3 - "$metrics" "$rules" <<'PY'
import json, re, sys
metrics = open(sys.argv[1]).read()
names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", metrics, re.M))
d = json.load(open("dashboards/compact-service.json"))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
assert exprs, "no queries in the dashboard"
# A selector by name pattern ({__name__=~"..."}, where the kernels name an item differently) must match
# at least one metric served; every other metric name must be served.
patterns = [p for e in exprs for p in re.findall(r'__name__=~"([^"]+)"', e)]
unmatched = sorted({p for p in patterns if not any(re.fullmatch(p, n) for n in names)})
if unmatched:
    sys.exit(f"dashboard name patterns match no metric /metrics serves: {unmatched}")
bare = [re.sub(r'__name__=~"[^"]+"', "", e) for e in exprs]
missing = sorted({m for e in bare for m in re.findall(r"\b(node_[a-z_0-9]+|compact_service_[a-z_]+)\b", e)} - names)
if missing:
    sys.exit(f"dashboard queries name metrics /metrics lacks: {missing}")
var = {v["name"] for v in d["templating"]["list"]}
assert var == {"datasource", "machine"}, var
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        f.write(f"      - record: dashboard:query{i}\n        expr: {json.dumps(e.replace('$machine', '.*'))}\n")
print(f"dashboard: {len(d['panels'])} panels, {len(exprs)} queries, metrics all served")
PY
promtool check rules "$rules"
echo "dashboard ok"
