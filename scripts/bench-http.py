#!/usr/bin/env python3
"""HTTP speed of compact-service against a bare libmicrohttpd server (bench/bare-mhd.c), with wrk.

`make bench-http` builds both and runs this. Runs of the two servers alternate (C, Swift, then Swift, C,
...) so the machine's drift cancels out; each run is `wrk -t2 -c64 -d<duration>s --latency` on loopback.
Runs are short and many (8 rounds of 2 s by default): the speed of this shared machine drifts by ±15 %
within seconds, so each ratio is the median over rounds of the two adjacent runs' ratio, which a slow
spell during one run moves less than a ratio of means (printed too, as `*_of_means`).
Server CPU time per request comes from /proc/<pid>/stat (utime + stime) around each run.

Prints one figure per line as `name value unit` on stdout; progress goes to stderr.
"""
import argparse, json, os, re, selectors, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request
from testlib import free_port
from http.client import HTTPConnection

TICK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def out(name, value, unit):
    print(f"{name} {value:.3f} {unit}" if isinstance(value, float) else f"{name} {value} {unit}", flush=True)


def start(cmd, pattern, stderr=subprocess.DEVNULL):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    line = p.stdout.readline()
    m = re.search(pattern, line)
    if not m:
        p.kill()
        sys.exit(f"could not start {cmd[0]}: {line!r}")
    return p, int(m.group(1))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def http_thread_nice(pid):
    """The nice value of the server's libmicrohttpd threads (the lowest, should they differ)."""
    values = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if comm.startswith("MHD-"):
            values.append(int(fields[16]))  # nice (field 19)
    return min(values) if values else 0


def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    if not m:
        log(f"unparsed wrk latency {text!r}")
        return float("nan")
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000, "h": v * 3600000}[m.group(2)]


def latency(report, pct):
    # The line of wrk's latency distribution ("     50%    1.41ms"), not a thread-stats column ending in 50%.
    m = re.search(r"^\s*" + pct + r"\s+(\S+)", report, re.M)
    return m.group(1) if m else "?"


def wrk(url, pid, duration, connections=64):
    before = cpu_seconds(pid)
    run = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
                         capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"wrk {url} failed ({run.returncode}): {run.stdout[-500:]} {run.stderr[-500:]}"
                 " (server log: .build/bench-http-server.log)")
    r = run.stdout
    cpu = cpu_seconds(pid) - before
    reqs = int(re.search(r"(\d+) requests in", r).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r)
    if non2xx:
        sys.exit(f"{url}: {non2xx.group(1)} non-2xx answers")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", r).group(1)),
        "p50": ms(latency(r, "50%")),
        "p99": ms(latency(r, "99%")),
        "cpu_us": cpu / max(reqs, 1) * 1e6,
    }


def http(method, url, body=None, timeout=600):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def summary(runs):
    return {k: statistics.mean(r[k] for r in runs) for k in runs[0]}


def paired_ratio(runs, baseline):
    """The median over rounds of runs[i].rps / baseline[i].rps (round i's two runs were adjacent in time)."""
    ratios = [r["rps"] / b["rps"] for r, b in zip(runs, baseline)]
    log("  per-round ratios: " + " ".join(f"{x:.3f}" for x in ratios))
    return statistics.median(ratios)


def alternate(pairs, rounds, duration):
    """pairs: {label: [(name, url, pid), (name, url, pid)]} -> {name: [runs]}; order flips every round."""
    res = {}
    for i in range(rounds):
        for label, pair in pairs.items():
            for name, url, pid in (pair if i % 2 == 0 else pair[::-1]):
                r = wrk(url, pid, duration)
                res.setdefault(name, []).append(r)
                log(f"  round {i + 1} {name}: {r['rps']:.0f} req/s p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms {r['cpu_us']:.1f} us CPU/req")
    return res


class Streams:
    """n open SSE streams, drained by one thread."""

    def __init__(self, port, path, n):
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.events = 0
        self.bytes = 0
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.socks.append(s)
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            for key, _ in self.sel.select(timeout=0.1):
                try:
                    b = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                if not b:
                    self.sel.unregister(key.fileobj)
                    continue
                self.bytes += len(b)
                self.events += b.count(b"event: stats")

    def close(self):
        self.stop = True
        self.t.join()
        for s in self.socks:
            s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swift", default=".build/release/compact-service")
    ap.add_argument("--c", default=".build/bare-mhd")
    ap.add_argument("--duration", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--compaction-samples", type=int, default=300,
                    help="compaction rounds continue until this many stats requests were timed during them")
    ap.add_argument("--compaction-rounds", type=int, default=12, help="at most this many compactions")
    ap.add_argument("--c-nice", default="match",
                    help="nice value of the C server: 'match' (that of the service's HTTP threads) or a number")
    args = ap.parse_args()

    swift, sport = start([args.swift, "--port", "0", "--threads", str(args.threads), "--log-level", "warning"],
                         r":(\d+)$", stderr=open(".build/bench-http-server.log", "w"))
    base = f"http://127.0.0.1:{sport}"
    procs = [swift]
    try:
        st, b = http("POST", f"{base}/v1/machines", {"name": "bench", "memory_mib": 16384, "nodes": 2})
        assert st == 201, b
        st, stats = http("GET", f"{base}/v1/machines/bench/stats")
        assert st == 200
        tmp = tempfile.NamedTemporaryFile(delete=False, suffix=".json")
        tmp.write(stats)
        tmp.close()
        subprocess.run(["wrk", "-t1", "-c8", "-d1s", f"{base}/healthz"], capture_output=True)  # warm-up
        # The service raises its HTTP threads to nice -5 on their first request when it may (root or
        # CAP_SYS_NICE; CPUPriority.http). On this 2-core machine wrk shares the cores with the server,
        # and a server thread at -5 preempts wrk more often and serves fewer requests per wake-up: the
        # bare C server at -5 spends ~1.7 us more CPU per /healthz and answers ~13 % fewer req/s than at
        # 0. So the C server runs at the nice value the service's HTTP threads have, like for like.
        nice = http_thread_nice(swift.pid) if args.c_nice == "match" else int(args.c_nice)
        prefix = ["nice", "-n", str(nice)] if nice != 0 else []
        out("http_thread_nice", http_thread_nice(swift.pid), "")
        out("c_server_nice", nice, "")
        c_health, hport = start(prefix + [args.c, str(free_port()), str(args.threads)], r"listening on (\d+)")
        c_stats, cport = start(prefix + [args.c, str(free_port()), str(args.threads), tmp.name], r"listening on (\d+)")
        procs += [c_health, c_stats]
        for u in (f"http://127.0.0.1:{hport}/healthz", f"http://127.0.0.1:{cport}/stats"):  # warm-up
            subprocess.run(["wrk", "-t1", "-c8", "-d1s", u], capture_output=True)

        log(f"healthz and stats ({len(stats)} bytes, 2 nodes, 16 GiB): C and Swift alternating")
        res = alternate({
            "healthz": [("c_healthz", f"http://127.0.0.1:{hport}/healthz", c_health.pid),
                        ("swift_healthz", f"{base}/healthz", swift.pid)],
            "stats": [("c_stats", f"http://127.0.0.1:{cport}/v1/machines/bench/stats", c_stats.pid),
                      ("swift_stats", f"{base}/v1/machines/bench/stats", swift.pid)],
        }, args.rounds, args.duration)
        s = {k: summary(v) for k, v in res.items()}
        out("stats_bytes", len(stats), "bytes")
        for what in ("healthz", "stats"):
            for who in ("c", "swift"):
                r = s[f"{who}_{what}"]
                out(f"{what}_rps_{who}", r["rps"], "req/s")
                out(f"{what}_p50_ms_{who}", r["p50"], "ms")
                out(f"{what}_p99_ms_{who}", r["p99"], "ms")
                out(f"{what}_cpu_us_per_req_{who}", r["cpu_us"], "us")
            out(f"{what}_ratio_vs_c", paired_ratio(res[f"swift_{what}"], res[f"c_{what}"]), "x")
            out(f"{what}_ratio_vs_c_of_means", s[f"swift_{what}"]["rps"] / s[f"c_{what}"]["rps"], "x")
            out(f"{what}_cpu_ratio_vs_c", s[f"swift_{what}"]["cpu_us"] / s[f"c_{what}"]["cpu_us"], "x")

        log(f"healthz without and with {args.streams} SSE streams at 100 ms, alternating")
        without, with_ = [], []
        ev_rate = []
        for i in range(args.rounds):
            for mode in ((0, 1) if i % 2 == 0 else (1, 0)):
                if mode == 0:
                    r = wrk(f"{base}/healthz", swift.pid, args.duration)
                    without.append(r)
                else:
                    streams = Streams(sport, "/v1/machines/bench/stats/stream?interval_ms=100", args.streams)
                    time.sleep(1.0)  # all open and parked
                    e0, t0 = streams.events, time.time()
                    r = wrk(f"{base}/healthz", swift.pid, args.duration)
                    ev_rate.append((streams.events - e0) / (time.time() - t0))
                    streams.close()
                    with_.append(r)
                log(f"  round {i + 1} {'with' if mode else 'without'} streams: {r['rps']:.0f} req/s p99 {r['p99']:.2f} ms")
        a, b = summary(without), summary(with_)
        out("healthz_rps_without_streams", a["rps"], "req/s")
        out(f"healthz_rps_with_{args.streams}_streams", b["rps"], "req/s")
        out(f"healthz_ratio_with_{args.streams}_streams", paired_ratio(with_, without), "x")
        out(f"healthz_ratio_with_{args.streams}_streams_of_means", b["rps"] / a["rps"], "x")
        out(f"healthz_p99_ms_with_{args.streams}_streams", max(r["p99"] for r in with_), "ms")
        out("healthz_cpu_us_per_req_without_streams", a["cpu_us"], "us")
        out(f"healthz_cpu_us_per_req_with_{args.streams}_streams", b["cpu_us"], "us")
        out("sse_stats_events_per_s_during_wrk", statistics.mean(ev_rate), "events/s")

        log("stats during full compactions of a 64 GiB machine (fragment, compact; repeated)")
        st, b = http("POST", f"{base}/v1/machines", {"name": "big", "memory_mib": 65536, "nodes": 2})
        assert st == 201, b
        lat, seconds, failed = [], [], None
        # One keep-alive connection polls as fast as the server answers (about every 2 ms), so each
        # compaction (a few hundred ms) yields a hundred or more timed requests.
        poll = HTTPConnection("127.0.0.1", sport, timeout=60)
        for rnd in range(args.compaction_rounds):
            if len(lat) >= args.compaction_samples:
                break
            tag = f"frag{rnd}"
            for _ in range(8):  # 2M movable pages, then every other freed: 8 GiB scattered over 64 GiB
                st, b = http("POST", f"{base}/v1/machines/big/allocations", {"count": 262144, "tag": tag})
                assert st == 200, b
            st, b = http("POST", f"{base}/v1/machines/big/allocations/free", {"tag": tag, "pattern": "every_other"})
            assert st == 200, b
            result = {}

            def compact():
                t0 = time.time()
                st, body = http("POST", f"{base}/v1/machines/big/compact")
                result.update(status=st, seconds=time.time() - t0, body=body[:300])

            t = threading.Thread(target=compact)
            t.start()
            while t.is_alive():
                t0 = time.perf_counter()
                poll.request("GET", "/v1/machines/big/stats")
                r = poll.getresponse()
                r.read()
                if t.is_alive():
                    lat.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.001)
            t.join()
            if result["status"] != 200:
                failed = result
                break
            seconds.append(result["seconds"])
            # Free what is left, so every round compacts the same amount of memory.
            st, b = http("POST", f"{base}/v1/machines/big/allocations/free", {"tag": tag, "pattern": "all"})
            assert st == 200, b
        poll.close()
        if failed or not lat:
            log(f"compaction route answered {failed and failed['status']}: {failed and failed['body']!r}")
            out("stats_ms_during_compaction", float("nan"), "ms")
        else:
            lat.sort()
            out("compaction_rounds", len(seconds), "compactions")
            out("compaction_seconds", statistics.mean(seconds), "s")
            out("stats_samples_during_compaction", len(lat), "requests")
            out("stats_p50_ms_during_compaction", lat[len(lat) // 2], "ms")
            out("stats_p99_ms_during_compaction", lat[min(len(lat) - 1, int(len(lat) * 0.99))], "ms")
            out("stats_ms_during_compaction", lat[-1], "ms")
        os.unlink(tmp.name)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
