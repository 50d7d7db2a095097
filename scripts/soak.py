#!/usr/bin/env python3
"""Soak test: does the service's memory stay flat under mixed load, within --memory-budget?

Starts the server binary on a free loopback port with a small memory budget and runs, for --minutes:
  - allocation churn on machines that come and go (sizes 256 MiB to 4 GiB, batches of 256 to 65536 with
    tags, frees by tag and pattern and by handle, manual compactions, deletes and re-creates);
  - a filler that fills a large machine until the budget refuses (507), then frees it again;
  - workload jobs (presets and fills) and small experiments, most forgotten when done, some left so the
    service keeps its 256 finished jobs;
  - SSE streams (stats with tracepoint events, job progress) that stay open for a while, some of whose
    clients stop reading.
Every --interval seconds it prints the process's resident memory (/proc/PID/statm), what the budget
charges (compact_service_memory_used_bytes) and the answers so far. Every --quiesce-every seconds it
pauses the load, cancels and forgets every job and deletes every machine, and once nothing is charged
prints the idle resident memory: what a leak would make grow, without the load's swings (machines of
up to 16 GiB come and go, so the resident memory under load moves by hundreds of MiB). At the end it
fits a line to each series after the warm-up (the first quarter of the run) and prints the slopes.

The run fails when:
  - the line fitted to the idle resident memory grows by more than --max-growth-mib after the warm-up;
  - the resident memory ever exceeds the budget plus --overhead-mib (the service's fixed overhead: its
    code, threads, connection buffers and request buffers, documented in the README);
  - what the budget charges ever exceeds the budget;
  - any answer is a 5xx other than 507, a request hangs (--request-s), or the server dies;
  - the budget never refused anything (then the load did not reach it, and the run proves nothing).

    scripts/soak.py --bin .build/release/compact-service --minutes 60 --interval 60 --quiesce-every 300  # make soak
    scripts/soak.py --bin .build/debug/compact-service --minutes 3 --interval 10 --quiesce-every 20 --budget-mib 128  # make test
"""
import argparse, http.client, json, os, random, signal, socket, subprocess, sys, threading, time
from testlib import Client, free_port, wait_for_port


def rss_bytes(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fit(points):
    """Least-squares line through (x, y): slope and intercept."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return slope, my - slope * mx


class Soak:
    def __init__(self, args):
        self.args, self.rng = args, random.Random(args.seed)
        self.failures, self.lock = [], threading.Lock()
        self.stopping = threading.Event()
        # Quiescing: `paused` asks the load threads to stop at their next request; each counts itself in
        # `idle` while it waits for `paused` to clear.
        self.paused = threading.Event()
        self.idle = 0
        self.counts = {}
        self.used = 0
        self.machines = 0
        self.budget = args.budget_mib << 20

    def pause_point(self):
        """Called by a load thread between requests: waits while the load is paused."""
        if not self.paused.is_set():
            return
        with self.lock:
            self.idle += 1
        while self.paused.is_set() and not self.stopping.is_set():
            time.sleep(0.05)
        with self.lock:
            self.idle -= 1

    def fail(self, msg):
        with self.lock:
            if len(self.failures) < 100:
                self.failures.append("%6.0f s  %s" % (time.time() - self.t0, msg))

    def call(self, c, method, path, body=None):
        t0 = time.perf_counter()
        try:
            status, payload = c.request(method, path, body)
        except socket.timeout:
            self.fail("%s %s hung for more than %s s" % (method, path, self.args.request_s))
            return None, b""
        except Exception as e:
            if not self.stopping.is_set():
                self.fail("%s %s: %s" % (method, path, e))
            return None, b""
        with self.lock:
            self.counts[status] = self.counts.get(status, 0) + 1
        if status >= 500 and status != 507 and not (status == 503 and self.stopping.is_set()):
            self.fail("%s %s answered %d: %s" % (method, path, status, payload[:200]))
        if time.perf_counter() - t0 > self.args.request_s:
            self.fail("%s %s took %.1f s" % (method, path, time.perf_counter() - t0))
        return status, payload

    # --- load -------------------------------------------------------------------------------------
    def churn(self, port, names, rng):
        """Machines that come and go, allocations and frees on them, compactions."""
        c = Client(port, self.args.request_s)
        handles = {}
        while not self.stopping.is_set():
            self.pause_point()
            name = rng.choice(names)
            p = rng.random()
            if p < 0.03:
                self.call(c, "DELETE", "/v1/machines/" + name)
                handles.pop(name, None)
                continue
            if p < 0.08:
                self.call(c, "POST", "/v1/machines", {"name": name, "memory_mib": rng.choice([256, 512, 1024, 2048, 4096]),
                                                      "nodes": rng.choice([1, 1, 2]), "seed": rng.randrange(1000)})
                continue
            if p < 0.55:
                body = {"count": rng.choice([256, 256, 4096, 4096, 65536]), "kind": rng.choice(["anon", "anon", "file", "slab", "kernel"]),
                        "order": rng.choice([0, 0, 0, 1, 3, 9]), "tag": "t%d" % rng.randrange(8)}
                if rng.random() < 0.3:
                    body["gfp"] = {"wait": False}
                st, payload = self.call(c, "POST", "/v1/machines/%s/allocations" % name, body)
                if st == 200:
                    handles[name] = json.loads(payload)["handles"][:200]
            elif p < 0.8:
                pattern = rng.choice(["all", "every_other", "random"])
                body = {"tag": "t%d" % rng.randrange(8), "pattern": pattern}
                if pattern == "random":
                    body.update(fraction=rng.random(), seed=rng.randrange(1 << 30))
                self.call(c, "POST", "/v1/machines/%s/allocations/free" % name, body)
            elif p < 0.88:
                hs = handles.pop(name, [])
                if hs:
                    self.call(c, "POST", "/v1/machines/%s/allocations/free" % name, {"handles": hs})
            elif p < 0.93:
                self.call(c, "POST", "/v1/machines/%s/compact" % name)
            else:
                for path in ("/stats", "/proc/buddyinfo", "/proc/zoneinfo", "/allocations", ""):
                    self.call(c, "GET", "/v1/machines/%s%s" % (name, path))
        c.close()

    def filler(self, port, rng):
        """Fills a large machine until the budget refuses, checks the refusal, frees, repeats."""
        c = Client(port, self.args.request_s)
        while not self.stopping.is_set():
            self.pause_point()
            st, _ = self.call(c, "POST", "/v1/machines", {"name": "big", "memory_mib": 16384})
            if st not in (201, 409, 507):
                time.sleep(0.5)
                continue
            if st == 507:
                time.sleep(1)
                continue
            for _ in range(400):
                if self.stopping.is_set() or self.paused.is_set():
                    break
                st, payload = self.call(c, "POST", "/v1/machines/big/allocations", {"count": rng.choice([65536, 262144, 262144]), "tag": "fill"})
                if st == 507:
                    d = json.loads(payload)
                    if d.get("used_bytes", 0) > d.get("budget_bytes", 0):
                        self.fail("a 507 says more is charged than the budget: %s" % d)
                    with self.lock:
                        self.counts["fill-refused"] = self.counts.get("fill-refused", 0) + 1
                    break
                if st != 200 or json.loads(payload)["succeeded"] == 0:
                    break
            self.call(c, "POST", "/v1/machines/big/allocations/free", {"tag": "fill", "pattern": rng.choice(["all", "every_other"])})
            if rng.random() < 0.3:
                self.call(c, "DELETE", "/v1/machines/big")
            time.sleep(rng.uniform(0.2, 1.0))
        c.close()

    def jobs(self, port, names, rng):
        """Workload jobs and small experiments; most are forgotten when done, some are kept."""
        c = Client(port, self.args.request_s)
        presets = ["kselftest-compaction", "proactive-frag", "seed-easy-hugepages"]
        while not self.stopping.is_set():
            self.pause_point()
            if rng.random() < 0.25:
                body = {"name": "soak", "template": {"memory_mib": rng.choice([256, 512])},
                        "variants": [{"name": "a"}, {"name": "b", "compaction": False}],
                        "workload": {"steps": [{"fill": {"kind": "anon", "fraction": 0.8, "tag": "f"}},
                                               {"free": {"tag": "f", "pattern": "every_other"}},
                                               {"high_alloc": {"fraction": 0.05, "gfp": ["GFP_HIGHUSER_MOVABLE"]}}]}}
                st, payload = self.call(c, "POST", "/v1/experiments?wait=true&timeout_s=120", body)
            else:
                name = rng.choice(names)
                if rng.random() < 0.5:
                    body = {"preset": rng.choice(presets)}
                else:
                    body = {"steps": [{"fill": {"kind": rng.choice(["anon", "file"]), "fraction": rng.choice([0.3, 0.6, 0.9]), "tag": "w"}},
                                      {"compact": {}}, {"free": {"tag": "w", "pattern": "every_other"}}, {"sample": {"name": "s"}},
                                      {"free": {"tag": "w", "pattern": "all"}}]}
                st, payload = self.call(c, "POST", "/v1/machines/%s/workloads?wait=true&timeout_s=120" % name, body)
            if st == 200 and rng.random() < 0.85:
                job = json.loads(payload)
                if job.get("state") in ("succeeded", "failed", "cancelled"):
                    self.call(c, "GET", "/v1/jobs/%s/result?format=%s" % (job["id"], rng.choice(["json", "csv", "markdown"])))
                    self.call(c, "DELETE", "/v1/jobs/" + job["id"])
                else:
                    self.call(c, "DELETE", "/v1/jobs/" + job["id"])
            if rng.random() < 0.05:
                self.call(c, "GET", "/v1/jobs")
            time.sleep(rng.uniform(0.05, 0.3))
        c.close()

    def streams(self, port, names, rng):
        """SSE streams: machine stats with tracepoint events, job progress; some clients stop reading."""
        while not self.stopping.is_set():
            self.pause_point()
            name = rng.choice(names + ["big"])
            path = "/v1/machines/%s/stats/stream?interval_ms=%d&events=compaction,extfrag,jobs" % (name, rng.choice([100, 250, 1000]))
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=self.args.request_s)
                s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
                reading = rng.random() < 0.7
                end = time.time() + rng.uniform(0.5, 5.0)
                while time.time() < end and not self.stopping.is_set() and not self.paused.is_set():
                    if reading:
                        if not s.recv(65536):
                            break
                    else:
                        time.sleep(0.1)
                s.close()
            except OSError:
                time.sleep(0.1)

    def metrics(self, c):
        st, payload = self.call(c, "GET", "/metrics")
        out = {}
        if st == 200:
            for line in payload.decode().splitlines():
                if line.startswith("compact_service_memory_used_bytes ") or line.startswith("compact_service_machines "):
                    k, v = line.split()
                    out[k] = float(v)
        return out

    def watch_metrics(self, port):
        """What the budget charges, every half second (on its own thread: /metrics reads every machine)."""
        c = Client(port, self.args.request_s)
        while not self.stopping.is_set():
            m = self.metrics(c)
            if "compact_service_memory_used_bytes" in m:
                self.used = m["compact_service_memory_used_bytes"]
                self.machines = m.get("compact_service_machines", 0)
                self.peak_used = max(self.peak_used, self.used)
                if self.used > self.budget:
                    self.fail("charged %d bytes, past the %d-byte budget" % (self.used, self.budget))
            time.sleep(0.5)
        c.close()

    def quiesce(self, c, workers, pid):
        """Pauses the load, cancels and forgets every job, deletes every machine; returns the resident
        memory once nothing is charged (None if that never came)."""
        self.paused.set()
        deadline = time.time() + self.args.request_s
        while time.time() < deadline:
            # Running jobs are cancelled, so that clients waiting for them are answered at once.
            st, payload = self.call(c, "GET", "/v1/jobs")
            if st == 200:
                for j in json.loads(payload)["jobs"]:
                    if j["state"] in ("queued", "running"):
                        self.call(c, "DELETE", "/v1/jobs/" + j["id"])
            with self.lock:
                if self.idle >= workers:
                    break
            time.sleep(0.2)
        else:
            self.fail("the load did not pause within %s s" % self.args.request_s)
        rss = None
        deadline = time.time() + 60
        while time.time() < deadline:
            st, payload = self.call(c, "GET", "/v1/jobs")
            if st == 200:
                for j in json.loads(payload)["jobs"]:
                    self.call(c, "DELETE", "/v1/jobs/" + j["id"])
            st, payload = self.call(c, "GET", "/v1/machines")
            if st == 200:
                for m in json.loads(payload)["machines"]:
                    self.call(c, "DELETE", "/v1/machines/" + m["name"])
            if self.metrics(c).get("compact_service_memory_used_bytes", -1) == 0:
                time.sleep(1)
                rss = rss_bytes(pid)
                break
            time.sleep(0.5)
        else:
            self.fail("something was still charged a minute after every job and machine was deleted")
        self.paused.clear()
        return rss

    # --- run --------------------------------------------------------------------------------------
    def run(self):
        a = self.args
        port = free_port()
        log_path = os.path.join(a.log_dir, "soak-server-%d.log" % os.getpid())
        log = open(log_path, "wb")
        proc = subprocess.Popen([a.bin, "--port", str(port), "--log-level", "warning", "--memory-budget", "%dMiB" % a.budget_mib,
                                 "--max-machines", "16", "--shutdown-timeout", "2"],
                                stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        wait_for_port(port)
        self.t0 = time.time()
        names = ["m%d" % i for i in range(6)]
        threads = [threading.Thread(target=self.churn, args=(port, names, random.Random(self.rng.random()))) for _ in range(2)]
        threads += [threading.Thread(target=self.filler, args=(port, random.Random(self.rng.random())))]
        threads += [threading.Thread(target=self.jobs, args=(port, names, random.Random(self.rng.random())))]
        threads += [threading.Thread(target=self.streams, args=(port, names, random.Random(self.rng.random()))) for _ in range(3)]
        workers = len(threads)
        self.peak_used = 0
        threads += [threading.Thread(target=self.watch_metrics, args=(port,))]
        for t in threads:
            t.daemon = True
            t.start()
        print("soak: %s, budget %d MiB, %.1f minutes, RSS every %g s (pid %d, port %d, seed %d)"
              % (a.bin, a.budget_mib, a.minutes, a.interval, proc.pid, port, a.seed), flush=True)
        print("%8s %10s %10s %9s %9s %6s" % ("t_s", "rss_mib", "used_mib", "machines", "requests", "507s"), flush=True)
        c = Client(port, a.request_s)
        samples, idle = [], []
        end = self.t0 + a.minutes * 60
        next_at, next_quiesce = self.t0, self.t0 + a.quiesce_every
        peak_rss = 0
        while time.time() < end:
            if proc.poll() is not None:
                self.fail("the server exited with %s" % proc.returncode)
                break
            # The peak is watched every 0.2 s; a line is printed every interval.
            try:
                rss = rss_bytes(proc.pid)
            except OSError:
                continue
            peak_rss = max(peak_rss, rss)
            if rss > self.budget + (a.overhead_mib << 20):
                self.fail("resident %.1f MiB, past the budget and its fixed overhead (%d + %d MiB)" % (rss / 2**20, a.budget_mib, a.overhead_mib))
            with self.lock:
                requests = sum(v for k, v in self.counts.items() if isinstance(k, int))
                refused = self.counts.get(507, 0)
            if time.time() >= next_quiesce and time.time() < end - a.interval / 2:
                r = self.quiesce(c, workers, proc.pid)
                if r is not None:
                    idle.append((time.time() - self.t0, r / 2**20))
                    print("%8.0f %10.1f %10.1f %9d %9d %6d  idle: load paused, every job and machine deleted"
                          % (time.time() - self.t0, r / 2**20, 0, 0, requests, refused), flush=True)
                next_quiesce = time.time() + a.quiesce_every
                next_at = time.time() + a.interval
                continue
            if time.time() >= next_at:
                t = time.time() - self.t0
                samples.append((t, rss / 2**20))
                print("%8.0f %10.1f %10.1f %9d %9d %6d" % (t, rss / 2**20, self.used / 2**20, self.machines, requests, refused), flush=True)
                next_at += a.interval
                while next_at < time.time():
                    next_at += a.interval
            time.sleep(0.2)
        self.stopping.set()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = "hung"
        for t in threads:
            t.join(timeout=a.request_s + 5)
        if code != 0:
            with open(log_path, "rb") as f:
                self.fail("exit status %s after SIGTERM; log tail: %s" % (code, f.read().decode(errors="replace")[-600:]))
        start = a.minutes * 60 * a.warmup
        loaded = [p for p in samples if p[0] >= start]
        if len(loaded) >= 3:
            slope, _ = fit(loaded)
            print("under load: %d samples after the warm-up over %.0f s, slope %+.1f MiB/hour, mean %.1f MiB, %.1f-%.1f MiB"
                  % (len(loaded), loaded[-1][0] - loaded[0][0], slope * 3600, sum(y for _, y in loaded) / len(loaded),
                     min(y for _, y in loaded), max(y for _, y in loaded)))
        quiet = [p for p in idle if p[0] >= start]
        if len(quiet) >= 3:
            slope, _ = fit(quiet)
            span = quiet[-1][0] - quiet[0][0]
            growth = slope * span
            print("idle: %d samples after the warm-up over %.0f s, slope %+.2f MiB/hour, fitted growth %+.1f MiB (bound %d MiB), %.1f-%.1f MiB"
                  % (len(quiet), span, slope * 3600, growth, a.max_growth_mib, min(y for _, y in quiet), max(y for _, y in quiet)))
            if growth > a.max_growth_mib:
                self.fail("the idle resident memory grew by %.1f MiB after the warm-up (bound %d MiB)" % (growth, a.max_growth_mib))
        else:
            self.fail("too few idle samples after the warm-up to fit a slope (%d)" % len(quiet))
        print("peak: %.1f MiB resident (bound: budget %d + overhead %d MiB), %.1f MiB charged"
              % (peak_rss / 2**20, a.budget_mib, a.overhead_mib, self.peak_used / 2**20), flush=True)
        if not self.counts.get(507):
            self.fail("the budget never refused anything: the load did not reach it")
        counts = " ".join("%s:%d" % kv for kv in sorted(self.counts.items(), key=lambda kv: str(kv[0])))
        print("answers: " + counts)
        return code


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/release/compact-service")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--interval", type=float, default=60, help="seconds between printed samples (the slope's points)")
    ap.add_argument("--warmup", type=float, default=0.25, help="fraction of the run before the slopes' first points")
    ap.add_argument("--quiesce-every", type=float, default=300, help="seconds between idle samples (load paused, everything deleted)")
    ap.add_argument("--budget-mib", type=int, default=192)
    ap.add_argument("--overhead-mib", type=int, default=96, help="fixed overhead the process may hold beyond the budget")
    ap.add_argument("--max-growth-mib", type=int, default=16, help="most the line fitted to the idle samples may grow after the warm-up")
    ap.add_argument("--request-s", type=float, default=150)
    ap.add_argument("--log-dir", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "0")) or int(time.time()))
    a = ap.parse_args()
    s = Soak(a)
    s.run()
    if s.failures:
        print("soak FAILED:")
        for f in s.failures[:30]:
            print("  - " + f)
        sys.exit(1)
    print("soak ok")


if __name__ == "__main__":
    main()
