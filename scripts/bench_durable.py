#!/usr/bin/env python3
"""What --state-dir costs and how fast a machine comes back: prints `name value unit` lines.

- Request latency without and with --state-dir: one client in a loop (each change waits for its own
  fsync), then 8 clients at once on 8 machines (group commit: one fsync covers the changes of several
  requests), for a one-block allocation, a sysctl write and a read.
- Recovery: a large machine (--recovery-mib, default 65536) fragmented by a few requests and snapshotted,
  then restarted: start-up time and the recovery time the service reports; then a machine whose journal
  holds --records small changes after its snapshot, restarted: replay time and rate.

    scripts/bench_durable.py --bin .build/release/compact-service
"""
import argparse, json, os, re, shutil, signal, statistics, subprocess, tempfile, threading, time
from testlib import Client, free_port, wait_for_port


def start(binary, state=None, extra=()):
    port = free_port()
    args = [binary, "--port", str(port), "--log-level", "warning", "--memory-budget", "48GiB"] + list(extra)
    if state:
        args += ["--state-dir", state]
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_for_port(port, timeout=600):
        p.kill()
        raise SystemExit("server did not start: " + p.stderr.read().decode()[-2000:])
    return p, port, time.perf_counter() - t0


def stop(p, kill=False):
    p.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    p.wait(timeout=120)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def latency(port, machine, n, op):
    c = Client(port, 60)
    out = []
    for i in range(n):
        if op == "alloc":
            req = ("POST", "/v1/machines/%s/allocations" % machine, {"count": 1, "tag": "b%d" % (i % 8)})
        elif op == "sysctl":
            req = ("PUT", None, None)
        else:
            req = ("GET", "/v1/machines/%s/stats" % machine, None)
        t0 = time.perf_counter()
        if op == "sysctl":
            c.conn = c.conn or __import__("http.client").client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.conn.request("PUT", "/v1/machines/%s/proc/sys/vm/extfrag_threshold" % machine, body=str(100 + i % 800),
                           headers={"Content-Type": "text/plain"})
            r = c.conn.getresponse()
            r.read()
            status = r.status
        else:
            status, _ = c.request(*req)
        out.append((time.perf_counter() - t0) * 1e6)
        assert status < 300, (op, status)
    return out


def run_latency(binary, state, label, n):
    p, port, _ = start(binary, state)
    c = Client(port, 60)
    for i in range(8):
        c.request("POST", "/v1/machines", {"name": "m%d" % i, "memory_mib": 1024})
    for op in ("alloc", "sysctl", "read"):
        xs = latency(port, "m0", n, op)
        print("latency_%s_%s_p50 %.0f us" % (op, label, statistics.median(xs)))
        print("latency_%s_%s_p99 %.0f us" % (op, label, pct(xs, 0.99)))
    # 8 clients at once, one machine each.
    results = [None] * 8

    def one(i):
        results[i] = latency(port, "m%d" % i, n // 2, "alloc")
    t0 = time.perf_counter()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    allx = [x for r in results for x in r]
    print("alloc_8_clients_%s_p50 %.0f us" % (label, statistics.median(allx)))
    print("alloc_8_clients_%s_throughput %.0f requests/s" % (label, len(allx) / wall))
    stop(p)


def metric(port, name):
    c = Client(port, 60)
    _, body = c.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name):
            return line
    return None


def run_recovery(binary, mib, records):
    state = tempfile.mkdtemp(prefix="bench-durable-")
    try:
        p, port, _ = start(binary, state, ["--snapshot-every", "1000000"])
        c = Client(port, 600)
        c.request("POST", "/v1/machines", {"name": "big", "memory_mib": mib, "nodes": 2})
        pages = mib * 256
        chunk = 1 << 18
        t0 = time.perf_counter()
        for i in range(0, pages * 9 // 10, chunk):
            s, _ = c.request("POST", "/v1/machines/big/allocations", {"count": chunk, "tag": "f%d" % (i // chunk % 16)})
            assert s == 200, s
        for t in range(16):
            c.request("POST", "/v1/machines/big/allocations/free", {"tag": "f%d" % t, "pattern": "every_other"})
        print("recovery_machine_mib %d MiB" % mib)
        print("fragmenting_requests_s %.1f s" % (time.perf_counter() - t0))
        stop(p, kill=True)
        # Restart: the journal of those requests is replayed (a few big requests: the allocations again).
        p, port, took = start(binary, state)
        print("restart_replaying_big_requests %.2f s" % took)
        print("# " + (metric(port, "compact_service_recovery_seconds") or "no recovery metric"))
        stop(p)  # SIGTERM; then force a snapshot by a restart with a small --snapshot-every
        p, port, _ = start(binary, state, ["--snapshot-every", "1"])
        c = Client(port, 600)
        c.request("POST", "/v1/machines/big/allocations", {"count": 1})
        deadline = time.time() + 600
        while time.time() < deadline:
            m = metric(port, "compact_service_snapshots_total")
            if m and not m.endswith(" 0"):
                break
            time.sleep(0.2)
        snaps = [f for f in os.listdir(state + "/machines/m1") if f.endswith(".snap")]
        size = sum(os.path.getsize(state + "/machines/m1/" + f) for f in snaps)
        print("snapshot_file_bytes %d bytes" % size)
        print("# " + (metric(port, "compact_service_snapshot_seconds_total") or ""))
        stop(p, kill=True)
        p, port, took = start(binary, state)
        print("restart_from_snapshot %.2f s" % took)
        line = metric(port, "compact_service_recovery_seconds")
        print("recovery_from_snapshot %s s" % (line.split()[-1] if line else "?"))
        # Many small changes after the snapshot.
        c = Client(port, 600)
        c.request("POST", "/v1/machines", {"name": "small", "memory_mib": 256})
        stop(p, kill=True)
        p, port, _ = start(binary, state, ["--snapshot-every", "100000000"])
        c = Client(port, 600)
        t0 = time.perf_counter()
        for i in range(records):
            if i % 2 == 0:
                c.request("POST", "/v1/machines/small/allocations", {"count": 1, "tag": "s%d" % (i % 32)})
            else:
                c.request("POST", "/v1/machines/small/allocations/free", {"tag": "s%d" % ((i + 7) % 32), "pattern": "every_other"})
        print("small_changes_written %d records in %.1f s" % (records, time.perf_counter() - t0))
        stop(p, kill=True)
        p, port, took = start(binary, state)
        print("restart_replaying_small_changes %.2f s" % took)
        c = Client(port, 60)
        _, body = c.request("GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith("compact_service_recovery_seconds{machine=\"small\"}"):
                secs = float(line.split()[-1])
                print("replay_small_changes %.2f s" % secs)
                print("replay_rate %.0f records/s" % (records / secs))
        stop(p)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release/compact-service")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--recovery-mib", type=int, default=65536)
    ap.add_argument("--records", type=int, default=100000)
    args = ap.parse_args()
    run_latency(args.bin, None, "memory", args.requests)
    state = tempfile.mkdtemp(prefix="bench-durable-")
    try:
        run_latency(args.bin, state, "durable", args.requests)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    run_recovery(args.bin, args.recovery_mib, args.records)


if __name__ == "__main__":
    main()
