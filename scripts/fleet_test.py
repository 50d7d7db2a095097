#!/usr/bin/env python3
"""Fleet test: three compact-service instances behind nginx with the shipped front (deploy/nginx).

Starts three instances on free loopback ports and nginx with deploy/nginx/nginx.conf and
compact-service.conf (the upstream's ports and the listen port rewritten to the free ones), then:
  1. `nginx -t` accepts the shipped configuration;
  2. creates 30 machines through the front (PUT /v1/machines/{name}) and finds each on exactly one
     instance, asking every instance directly; the three instances all own some;
  3. runs random allocations, frees, compactions and reads through the front from four threads, then
     runs each machine's invariant checker (GET …/debug/check) through the front: all consistent, and
     each machine's live allocations are what the clients' answers say they should be;
  4. starts a named experiment through the front (PUT /v1/experiments/{name}), waits for it through
     the front, and finds its job on exactly one instance;
  5. streams a machine's stats (SSE) through nginx: events arrive as they are sent (no buffering);
  6. kills one instance with SIGKILL: each of its machines answers 503 problem+json naming the machine
     through the front, while the other instances' machines keep answering 200; restarted with its
     --state-dir, its machines are back with the same /proc texts and allocations;
  7. a spread experiment (6 seeds) through the front: its parts run on the instances owning their names
     and the merged result equals the same experiment's on a lone instance, byte for byte;
  8. a fourth instance joins: scripts/move_machines.py (against a second nginx routing to four) moves
     exactly the machines whose owner changed, by snapshot; the front is reloaded with four instances
     and every machine answers through it as before.
Prints one line per check and exits 1 if any failed.

    scripts/fleet_test.py --bin .build/debug/compact-service
"""
import argparse, json, os, random, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time
from testlib import Client, free_port, wait_for_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nginx_config(prefix, front, backends):
    """Copies the shipped front to `prefix`, pointing it at `backends` and listening on `front`."""
    src = os.path.join(ROOT, "deploy", "nginx")
    main = open(os.path.join(src, "nginx.conf")).read()
    conf = open(os.path.join(src, "compact-service.conf")).read()
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ max_fails=0;\s*\n", conf, re.M)
    if len(servers) != 3:
        raise SystemExit("deploy/nginx/compact-service.conf: expected three `server` lines, found %d" % len(servers))
    block = "".join(re.sub(r":\d+", ":%d" % port, servers[0], count=1) for port in backends)
    start = conf.index(servers[0])
    end = conf.index(servers[-1]) + len(servers[-1])
    conf = conf[:start] + block + conf[end:]
    conf, n = re.subn(r"listen 127\.0\.0\.1:\d+;", "listen 127.0.0.1:%d;" % front, conf)
    if n != 1:
        raise SystemExit("deploy/nginx/compact-service.conf: expected one `listen` line")
    os.makedirs(prefix, exist_ok=True)
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(main)
    with open(os.path.join(prefix, "compact-service.conf"), "w") as f:
        f.write(conf)


class Fleet:
    def __init__(self, a):
        self.a = a
        self.failures = []
        self.prefix = tempfile.mkdtemp(prefix="fleet-")
        # nginx's workers (run as `nobody` when the test runs as root) write uploads to its temp dirs.
        os.chmod(self.prefix, 0o755)
        self.ports = [free_port() for _ in range(3)]
        self.front = free_port()
        self.procs = []
        self.nginx = None
        self.probe = None

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            self.failures.append(what)

    def url(self, i):
        return "http://127.0.0.1:%d" % self.ports[i]

    def launch(self, i):
        """Starts instance i on its port with its own state directory (appending to its log)."""
        log = open(os.path.join(self.prefix, "instance-%d.log" % i), "ab")
        proc = subprocess.Popen([self.a.bin, "--port", str(self.ports[i]), "--log-level", "error",
                                 "--state-dir", os.path.join(self.prefix, "state-%d" % i),
                                 # The same list on every instance, as a StatefulSet's pods get it.
                                 "--peers", ",".join(self.url(j) for j in range(len(self.ports))), "--self-url", self.url(i),
                                 "--front", "http://127.0.0.1:%d" % self.front],
                                stdout=subprocess.DEVNULL, stderr=log)
        if i < len(self.procs):
            self.procs[i] = proc
        else:
            self.procs.append(proc)
        if not wait_for_port(self.ports[i]):
            raise SystemExit("instance %d did not start on port %d" % (i, self.ports[i]))

    def start_nginx(self, prefix, port, backends):
        nginx_config(prefix, port, backends)
        conf = os.path.join(prefix, "nginx.conf")
        t = subprocess.run([self.a.nginx, "-t", "-p", prefix + "/", "-c", conf], capture_output=True, text=True)
        self.check(t.returncode == 0, "nginx -t accepts deploy/nginx for %d instances (%s)" % (
            len(backends), (t.stderr.strip().splitlines() or [""])[-1]))
        proc = subprocess.Popen([self.a.nginx, "-p", prefix + "/", "-c", conf, "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_port(port):
            raise SystemExit("nginx did not start on port %d" % port)
        return proc

    def start(self):
        for i in range(len(self.ports)):
            self.launch(i)
        self.nginx = self.start_nginx(self.prefix, self.front, self.ports)

    def stop(self):
        for ng in (self.nginx, self.probe):
            if ng:
                ng.send_signal(signal.SIGQUIT)
                try:
                    ng.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    ng.kill()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        if not self.failures:
            shutil.rmtree(self.prefix, ignore_errors=True)

    # --- the checks --------------------------------------------------------------------------------
    def owners(self, path):
        """The instances (indexes) that answer 200 for `path`."""
        found = []
        for i, p in enumerate(self.ports):
            if self.procs[i].poll() is not None:
                continue
            st, _ = Client(p, 30).request("GET", path)
            if st == 200:
                found.append(i)
        return found

    def machines(self):
        c = Client(self.front, 60)
        self.names = ["m%02d" % i for i in range(30)]
        created = 0
        for n in self.names:
            st, body = c.request("PUT", "/v1/machines/" + n, {"memory_mib": 128, "seed": 3})
            created += st == 201
        self.check(created == 30, "30 machines created through the front (%d answered 201)" % created)
        again = c.request("PUT", "/v1/machines/m00", {"memory_mib": 128, "seed": 3})[0]
        self.check(again == 200, "a retried PUT through the front finds the machine (%d)" % again)
        self.owner = {}
        bad = []
        for n in self.names:
            o = self.owners("/v1/machines/" + n)
            if len(o) != 1:
                bad.append("%s on %s" % (n, o))
            else:
                self.owner[n] = o[0]
        self.check(not bad, "every machine lives on exactly one instance" + (": " + ", ".join(bad[:5]) if bad else ""))
        spread = [sum(1 for v in self.owner.values() if v == i) for i in range(3)]
        self.check(all(s > 0 for s in spread), "the instances share the machines: %s" % spread)

    def traffic(self):
        lock = threading.Lock()
        expected = {n: 0 for n in self.names}
        errors = []

        def worker(seed):
            rng = random.Random(seed)
            c = Client(self.front, 120)
            end = time.time() + self.a.seconds
            while time.time() < end:
                n = rng.choice(self.names)
                r = rng.random()
                if r < 0.45:
                    count = rng.choice([1, 16, 256, 1024])
                    # One tag per thread and machine, so a free by tag frees what this thread made.
                    st, body = c.request("POST", "/v1/machines/%s/allocations" % n,
                                         {"count": count, "kind": rng.choice(["anon", "file", "kernel"]), "tag": "t%d" % seed})
                    if st == 200:
                        with lock:
                            expected[n] += json.loads(body)["succeeded"]
                    else:
                        errors.append("allocate on %s: %d %s" % (n, st, body[:120]))
                elif r < 0.7:
                    st, body = c.request("POST", "/v1/machines/%s/allocations/free" % n, {"tag": "t%d" % seed, "pattern": "all"})
                    if st == 200:
                        with lock:
                            expected[n] -= json.loads(body)["freed"]
                    elif st != 404:
                        errors.append("free on %s: %d %s" % (n, st, body[:120]))
                elif r < 0.8:
                    st, body = c.request("POST", "/v1/machines/%s/compact" % n, {})
                    if st != 200:
                        errors.append("compact on %s: %d %s" % (n, st, body[:120]))
                else:
                    st, body = c.request("GET", "/v1/machines/%s/stats" % n)
                    if st != 200:
                        errors.append("stats of %s: %d" % (n, st))

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.check(not errors, "random traffic through the front for %.0f s answered as expected%s" % (
            self.a.seconds, (": " + "; ".join(errors[:3])) if errors else ""))
        c = Client(self.front, 120)
        bad = []
        for n in self.names:
            st, body = c.request("GET", "/v1/machines/%s/debug/check" % n)
            d = json.loads(body) if st == 200 else {}
            if not d.get("consistent") or d.get("live_allocations") != expected[n]:
                bad.append("%s: %d consistent=%s live=%s expected=%d %s" % (n, st, d.get("consistent"), d.get("live_allocations"),
                                                                          expected[n], d.get("errors", [])[:2]))
        self.check(not bad, "every machine consistent, with the allocations its clients were told of" + (": " + "; ".join(bad[:3]) if bad else ""))

    def experiment(self):
        c = Client(self.front, 120)
        body = {"template": {"memory_mib": 128}, "variants": [{"name": "a"}, {"name": "b", "compaction": False}],
                "preset": "kselftest-compaction"}
        st, _ = c.request("PUT", "/v1/experiments/fleet-sweep", body)
        self.check(st == 202, "a named experiment starts through the front (%d)" % st)
        st, payload = c.request("GET", "/v1/experiments/fleet-sweep?wait=true&timeout_s=120")
        state = json.loads(payload).get("state") if st == 200 else None
        self.check(state == "succeeded", "its job, waited for through the front, succeeded (%s %s)" % (st, state))
        o = self.owners("/v1/experiments/fleet-sweep")
        self.check(len(o) == 1, "the experiment lives on exactly one instance (%s)" % o)

    def stream(self):
        n = self.names[0]
        s = socket.create_connection(("127.0.0.1", self.front), timeout=10)
        s.sendall(("GET /v1/machines/%s/stats/stream?interval_ms=100 HTTP/1.1\r\nHost: localhost\r\n\r\n" % n).encode())
        got, t0, data = [], time.time(), b""
        while len(got) < 4 and time.time() - t0 < 5:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            while b"event: stats" in data:
                got.append(time.time() - t0)
                data = data[data.index(b"event: stats") + 12:]
        s.close()
        spread = got[-1] - got[0] if len(got) >= 2 else 0
        self.check(len(got) >= 4 and spread >= 0.2, "SSE through nginx: %d stats events over %.2f s (not buffered)" % (len(got), spread))

    def fleet_lists(self):
        """GET /v1/fleet/machines and /v1/fleet/jobs through the front: every instance's, each item
        naming the instance that serves it."""
        c = Client(self.front, 60)
        st, body = c.request("GET", "/v1/fleet/machines")
        d = json.loads(body) if st == 200 else {}
        served = {m["name"]: m.get("served_by") for m in d.get("machines", [])}
        want = {n: self.url(self.owner[n]) for n in self.names}
        self.check(st == 200 and d.get("complete") is True and served == want and len(d.get("instances", [])) == 3,
                   "GET /v1/fleet/machines through the front lists all %d machines, each with the instance that serves it (%d, %d listed, complete=%s)" % (
                       len(self.names), st, len(served), d.get("complete")))
        st, body = c.request("GET", "/v1/fleet/jobs")
        d = json.loads(body) if st == 200 else {}
        exp = [j for j in d.get("jobs", []) if j.get("kind") == "experiment"]
        where = self.owners("/v1/experiments/fleet-sweep")
        self.check(st == 200 and d.get("complete") is True and len(exp) == 1 and len(where) == 1
                   and exp[0].get("served_by") == self.url(where[0]),
                   "GET /v1/fleet/jobs through the front finds the experiment job once, with the instance that serves it (%d, %d jobs)" % (st, len(d.get("jobs", []))))

    SWEEP = {"template": {"preset": "x86_64", "memory_mib": 64, "seed": 7}, "repeat": 6,
             "variants": [{"name": "vanilla", "compaction": False}, {"name": "compaction"}],
             "workload": {"seed": 3, "steps": [{"fill": {"kind": "anon", "fraction": 1.0, "tag": "a"}},
                                               {"free": {"tag": "a", "pattern": "random", "fraction": 0.6}},
                                               {"high_alloc": {"count": 12, "stop_on_failure": False}}]}}

    def spread(self):
        """A spread experiment through the front: its parts run on the instances that own their names,
        and its result equals the same experiment's on one instance alone, byte for byte."""
        c = Client(self.front, 300)
        body = dict(self.SWEEP, spread=True)
        st, payload = c.request("PUT", "/v1/experiments/spread-sweep", body)
        self.check(st == 202, "a spread experiment starts through the front (%d %s)" % (st, payload[:120]))
        st, payload = c.request("GET", "/v1/experiments/spread-sweep?wait=true&timeout_s=300")
        state = json.loads(payload).get("state") if st == 200 else None
        self.check(state == "succeeded", "the spread experiment succeeded (%s %s)" % (st, payload[:200] if state != "succeeded" else state))
        parts = ["spread-sweep"] + ["spread-sweep-part-%d" % i for i in (1, 2)]
        where = [self.owners("/v1/experiments/" + p) for p in parts]
        self.check(all(len(w) == 1 for w in where), "its three parts ran on the instances that own their names: %s" % where)
        got = [c.request("GET", "/v1/experiments/spread-sweep/result?format=" + f) for f in ("json", "csv", "markdown")]
        # The same experiment (not spread) on an instance of its own.
        port = free_port()
        alone = subprocess.Popen([self.a.bin, "--port", str(port), "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            a = Client(port, 300)
            a.request("PUT", "/v1/experiments/spread-sweep?wait=true&timeout_s=300", self.SWEEP)
            want = [a.request("GET", "/v1/experiments/spread-sweep/result?format=" + f) for f in ("json", "csv", "markdown")]
        finally:
            alone.terminate()
            alone.wait()
        same = all(g[0] == 200 for g in got) and got == want
        self.check(same, "its merged result (JSON, CSV, Markdown) equals the same experiment's on one instance, byte for byte (%d bytes of JSON)" % len(got[0][1]))

    def fleet_lists_degraded(self, victim, down):
        st, body = Client(self.front, 60).request("GET", "/v1/fleet/machines")
        if st == 503:
            # The front sends the fleet views (the empty key) to one instance: the dead one here.
            self.check(True, "GET /v1/fleet/machines: 503, the instance the front asks for fleet views is the one down")
            return
        d = json.loads(body) if st == 200 else {}
        bad = [i for i in d.get("instances", []) if i.get("status") != "ok"]
        self.check(st == 200 and d.get("complete") is False and len(d.get("machines", [])) == len(self.names) - down
                   and [i.get("url") for i in bad] == [self.url(victim)],
                   "with one instance down, /v1/fleet/machines says so (complete=false, %s unreachable) and lists the other %d machines" % (
                       [i.get("url") for i in bad], len(d.get("machines", []))))

    def texts(self, port, name):
        """A machine's /proc texts and live allocations as instance `port` (or the front) answers them."""
        c = Client(port, 60)
        out = []
        for f in ("buddyinfo", "pagetypeinfo", "vmstat", "zoneinfo"):
            st, body = c.request("GET", "/v1/machines/%s/proc/%s" % (name, f))
            out.append((st, body))
        st, body = c.request("GET", "/v1/machines/%s/debug/check" % name)
        d = json.loads(body) if st == 200 else {}
        out.append((st, d.get("consistent"), d.get("live_allocations")))
        return out

    def kill_one(self):
        victim = 0
        mine = [n for n in self.names if self.owner.get(n) == victim]
        before = {n: self.texts(self.front, n) for n in mine}
        self.procs[victim].send_signal(signal.SIGKILL)
        self.procs[victim].wait()
        c = Client(self.front, 30)
        down, bad = 0, []
        for n in self.names:
            st, body = c.request("GET", "/v1/machines/%s/stats" % n)
            if self.owner.get(n) == victim:
                down += 1
                try:
                    d = json.loads(body)
                except ValueError:
                    d = {}
                if st != 503 or d.get("status") != 503 or ("machine '%s'" % n) not in d.get("detail", ""):
                    bad.append("%s: %d %s" % (n, st, body[:100]))
            elif st != 200:
                bad.append("%s (alive): %d" % (n, st))
        self.check(down > 0 and not bad, "instance 0 killed: its %d machines answer 503 problem+json naming them, the others 200%s" % (
            down, (": " + "; ".join(bad[:3])) if bad else ""))
        self.fleet_lists_degraded(victim, down)
        # Restarted from its state directory, it has every machine back as it was.
        t0 = time.time()
        self.launch(victim)
        took = time.time() - t0
        changed = [n for n in mine if self.texts(self.front, n) != before[n]]
        ok = all(b[-1][1] is True for b in before.values())
        self.check(ok and not changed, "instance 0 restarted from its --state-dir in %.1f s: its %d machines are back unchanged "
                   "(/proc texts, live allocations, invariant checker)%s" % (took, len(mine), (": changed " + ", ".join(changed[:5])) if changed else ""))

    def move(self):
        """A fourth instance joins: only the machines whose owner changes move, by snapshot, and all
        are found through the front afterwards exactly as they were."""
        self.ports.append(free_port())
        self.launch(3)
        probe_port = free_port()
        self.probe = self.start_nginx(os.path.join(self.prefix, "front-4"), probe_port, self.ports)
        before = {n: self.texts(self.front, n) for n in self.names}
        old = ["http://127.0.0.1:%d" % p for p in self.ports[:3]]
        args = [sys.executable, os.path.join(ROOT, "scripts", "move_machines.py"), "--new-front", "http://127.0.0.1:%d" % probe_port]
        for u in old:
            args += ["--from", u]
        r = subprocess.run(args, capture_output=True, text=True, timeout=600)
        moved = [l.split()[1] for l in r.stdout.splitlines() if l.startswith("moved")]
        failed = [l for l in r.stdout.splitlines() if l.startswith("failed")]
        self.check(r.returncode == 0, "scripts/move_machines.py to four instances: %s" % (r.stdout.strip().splitlines() or ["(no output)"])[-1]
                   + ((" / " + (failed[0] if failed else r.stderr.strip()[-300:])) if r.returncode else ""))
        # Where every machine is now: exactly one instance each, the new one for exactly those moved.
        owner, bad = {}, []
        for n in self.names:
            o = self.owners("/v1/machines/" + n)
            if len(o) != 1:
                bad.append("%s on %s" % (n, o))
            else:
                owner[n] = o[0]
        switched = sorted(n for n in owner if owner[n] != self.owner[n])
        self.check(not bad and switched == sorted(moved) and all(owner[n] == 3 for n in switched) and switched,
                   "only the machines whose owner changed moved, all to the new instance (%d of %d)%s" % (
                       len(switched), len(self.names), (": " + ", ".join(bad[:5])) if bad else ""))
        # The front switches to four instances (nginx reload): every machine answers as before.
        nginx_config(self.prefix, self.front, self.ports)
        subprocess.run([self.a.nginx, "-p", self.prefix + "/", "-c", os.path.join(self.prefix, "nginx.conf"), "-s", "reload"],
                       capture_output=True)
        deadline, changed = time.time() + 10, self.names
        while changed and time.time() < deadline:
            time.sleep(0.3)
            changed = [n for n in self.names if self.texts(self.front, n) != before[n]]
        self.check(not changed, "after the front's reload every machine answers through it exactly as before%s" % (
            (": " + ", ".join(changed[:5])) if changed else ""))
        self.owner = owner

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/debug/compact-service")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--seconds", type=float, default=8)
    a = ap.parse_args()
    f = Fleet(a)
    try:
        f.start()
        f.machines()
        f.traffic()
        f.experiment()
        f.stream()
        f.fleet_lists()
        f.spread()
        f.kill_one()
        f.move()
    finally:
        f.stop()
    if f.failures:
        print("fleet: %d checks failed (logs in %s)" % (len(f.failures), f.prefix))
        sys.exit(1)
    print("fleet: all checks passed")


if __name__ == "__main__":
    main()
