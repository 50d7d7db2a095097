#!/usr/bin/env python3
"""The seed-highalloc-stress builds-rate table of docs/results.md: the preset as it is, and the same
workload with each build's `rate_per_ms` scaled so all builds together make 25, 50 and 200 events a ms
(six builds at 2048 MiB), on x86, x86_64 and ppc64, vanilla against compaction, seeds 1-3. Writes one
experiment file per cell to a scratch directory, runs each with `mm-bench experiment-parallel FILE 1
markdown` and prints the table (share of the request allocated, vanilla -> compaction, the paired gain
and its 95 % interval).

    scripts/builds-rate-table.py [--bin .build/release/mm-bench] [--jobs 1] [--dir /tmp/rate]
"""
import argparse, json, os, subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=".build/release/mm-bench")
ap.add_argument("--jobs", default="1")
ap.add_argument("--dir", default="/tmp/rate")
ap.add_argument("--mib", type=int, default=2048)
ap.add_argument("--builds", type=int, default=6, help="builds the preset runs at --mib (MemTotal_MB / 400 + 1)")
a = ap.parse_args()
os.makedirs(a.dir, exist_ok=True)
root = os.path.join(os.path.dirname(__file__), "..")
preset = json.load(open(os.path.join(root, "examples", "seed-highalloc-stress.json")))
arches, rates = ["x86", "x86_64", "ppc64"], [25, 50, 100, 200]

def request_pct(md):
    v = c = None
    for line in md.splitlines():
        cells = [x.strip() for x in line.strip("|").split("|")]
        if len(cells) >= 10 and cells[1] == "request_pct":
            if cells[0] == "vanilla":
                v = float(cells[3])
            else:
                c = tuple(float(cells[i]) for i in (3, 7, 8, 9))
    return v, c

rows = {}
for arch in arches:
    for rate in rates:
        e = {"name": "stress %s, builds at %d events a ms" % (arch, rate),
             "template": {"preset": arch, "memory_mib": a.mib, "seed": 1},
             "variants": [{"name": "vanilla", "compaction": False}, {"name": "compaction", "compaction": True}],
             "repeat": 3}
        if rate == 100:
            e["preset"] = "seed-highalloc-stress"
        else:
            w = json.loads(json.dumps(preset))
            for s in w["steps"]:
                if "start_actor" in s:
                    s["start_actor"]["rate_per_ms"] = round(rate / a.builds, 4)
            e["workload"] = w
        path = os.path.join(a.dir, "%s-%d.json" % (arch, rate))
        json.dump(e, open(path, "w"))
        md = subprocess.run([a.bin, "experiment-parallel", path, a.jobs, "markdown"], check=True,
                            capture_output=True, text=True).stdout
        rows[(arch, rate)] = request_pct(md)

def cell(v, c):
    return ("%.1f → %.1f, %+.1f (%.1f – %.1f)" % (v, c[0], c[1], c[2], c[3])).replace("-", "−")

print("| rate (events a ms) | " + " | ".join(arches) + " |")
print("|---|---|---|---|")
for rate in rates:
    print("| %d%s | " % (rate, " (the preset)" if rate == 100 else "")
          + " | ".join(cell(*rows[(arch, rate)]) for arch in arches) + " |")
