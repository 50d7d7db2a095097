#!/usr/bin/env python3
"""A sweep through the front with 1, 2 and 3 instances: wall time per configuration (issue 17's scale
benchmark). Prints `name value unit` lines, then a short table.

For each instance count N it starts N instances (the release build, --peers/--self-url/--front as
deploy/k8s sets them) and nginx with the shipped front (deploy/nginx), then submits one spread
experiment through the front: --variants variants (kernels and policies) × --seeds seeds of the
stress preset on --memory-mib machines, and waits for it. It reports:

  fleet_N_wall_s          wall time from the PUT to the merged result
  fleet_N_cpu_s           CPU time the instances used (user + system, from /proc)
  fleet_N_cpu_per_unit_s  CPU time per unit (variant × seed)
  fleet_N_parallelism     CPU time / wall time: how many cores the fleet kept busy

and checks that every configuration's merged result is byte for byte the same document. On a host
with C cores, N instances each running up to C lanes compete for the same C cores, so the wall time
is bounded by (units × cpu_per_unit) / C whatever N is; on N hosts it divides by N (README "Sharding").

    scripts/bench_fleet.py --bin .build/release/compact-service [--instances 1,2,3] [--seeds 10]
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time
from testlib import Client, free_port, wait_for_port
from fleet_test import nginx_config

VARIANTS = [
    {"name": "vanilla", "kernel": "2.6.34"},
    {"name": "compaction"},
    {"name": "eager", "sysctl": {"extfrag_threshold": 0}},
    {"name": "lazy", "sysctl": {"extfrag_threshold": 1000}},
    {"name": "modern", "kernel": "6.6"},
    {"name": "modern-proactive0", "kernel": "6.6", "sysctl": {"compaction_proactiveness": 0}},
]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(a, n, prefix):
    ports = [free_port() for _ in range(n)]
    front = free_port()
    urls = ["http://127.0.0.1:%d" % p for p in ports]
    procs = [subprocess.Popen([a.bin, "--port", str(p), "--log-level", "error", "--peers", ",".join(urls), "--self-url", u,
                               "--front", "http://127.0.0.1:%d" % front], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p, u in zip(ports, urls)]
    nginx = None
    try:
        for p in ports:
            if not wait_for_port(p):
                raise SystemExit("an instance did not start")
        d = os.path.join(prefix, "front-%d" % n)
        # nginx_config wants three `server` lines in the shipped file; it writes as many as given.
        nginx_config(d, front, ports)
        nginx = subprocess.Popen([a.nginx, "-p", d + "/", "-c", os.path.join(d, "nginx.conf"), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(front)
        body = {"spread": True, "template": {"preset": a.preset, "memory_mib": a.memory_mib, "seed": 1},
                "repeat": a.seeds, "variants": VARIANTS[:a.variants], "preset": a.workload}
        c = Client(front, 3600)
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        t0 = time.perf_counter()
        st, payload = c.request("PUT", "/v1/experiments/fleet-bench", body)
        if st != 202:
            raise SystemExit("PUT: %d %s" % (st, payload[:300]))
        st, payload = c.request("GET", "/v1/experiments/fleet-bench?wait=true&timeout_s=3600")
        wall = time.perf_counter() - t0
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        state = json.loads(payload).get("state")
        if state != "succeeded":
            raise SystemExit("the sweep did not succeed: %s" % payload[:500])
        result = c.request("GET", "/v1/experiments/fleet-bench/result?format=json")[1]
        return wall, cpu, result
    finally:
        if nginx:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait()
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/release/compact-service")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--instances", default="1,2,3")
    ap.add_argument("--variants", type=int, default=6, choices=range(1, len(VARIANTS) + 1))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--preset", default="x86_64")
    ap.add_argument("--memory-mib", type=int, default=1024)
    ap.add_argument("--workload", default="seed-highalloc-stress")
    a = ap.parse_args()
    prefix = tempfile.mkdtemp(prefix="bench-fleet-")
    os.chmod(prefix, 0o755)
    units = a.variants * a.seeds
    print("# %d variants x %d seeds of %s on %s %d MiB machines (%d units); host: %d CPUs, load %.1f" % (
        a.variants, a.seeds, a.workload, a.preset, a.memory_mib, units, os.cpu_count(), os.getloadavg()[0]), flush=True)
    rows, docs = [], []
    for n in [int(x) for x in a.instances.split(",")]:
        wall, cpu, doc = run(a, n, prefix)
        docs.append(doc)
        print("fleet_%d_wall_s %.2f s" % (n, wall))
        print("fleet_%d_cpu_s %.2f s" % (n, cpu))
        print("fleet_%d_cpu_per_unit_s %.3f s" % (n, cpu / units))
        print("fleet_%d_parallelism %.2f cores" % (n, cpu / wall), flush=True)
        rows.append((n, wall, cpu))
    same = all(d == docs[0] for d in docs)
    print("fleet_results_identical %d bool" % same)
    print("\n| instances | wall s | CPU s | CPU s / unit | cores busy |\n|---|---|---|---|---|")
    for n, wall, cpu in rows:
        print("| %d | %.1f | %.1f | %.3f | %.2f |" % (n, wall, cpu, cpu / units, cpu / wall))
    shutil.rmtree(prefix, ignore_errors=True)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
