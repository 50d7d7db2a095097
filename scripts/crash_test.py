#!/usr/bin/env python3
"""Crash test of --state-dir: SIGKILL at random moments, and nothing acknowledged is lost.

Each round starts compact-service on one state directory and drives random changes from several
threads, one machine each (with --modern every other one a kernel 6.6 machine, with its own sysctls; allocations in one section and stepped ones of more than 256 blocks,
frees by handle, by tag and one at a time, sysctls, the three compaction triggers, deleting and
re-creating the machine), while the server is killed with SIGKILL after a random 0.2-1.2 s. After
the restart, every machine must be back, pass the consistency checker (`GET …/debug/check`), and
equal a shadow: a second compact-service without
--state-dir (in memory) that got the same requests, each the moment it was answered. The request a
thread had in flight at the kill was not answered: the machine must then equal the shadow without it
or, once the shadow has been given it, with it (never anything in between; a stepped operation the kill interrupted is finished by
recovery, so the answer is with it), and the shadow goes on from whichever it was.

"Equal" is byte for byte: /proc/buddyinfo, pagetypeinfo, zoneinfo and vmstat, both extfrag files,
the tags' live counts, and the stats document without its `state_bytes` figures (an estimate of the
memory Swift arrays hold, which depends on malloc: README "Durable state"). Every answer the server
gave to a change is also compared with the shadow's answer to the same request (the handles it
allocated, what it freed, the compaction report): the simulator is deterministic, so they agree.

Prints one line per round, `N kills, N requests acknowledged, N in flight at a kill (N were applied)`,
and exits 1 on the first difference (with both documents' differing lines).

    scripts/crash_test.py --bin .build/debug/compact-service --kills 30
"""
import argparse, http.client, json, os, random, shutil, signal, subprocess, sys, tempfile, threading, time
from testlib import free_port, wait_for_port

DOCS = ["/proc/buddyinfo", "/proc/pagetypeinfo", "/proc/zoneinfo", "/proc/vmstat",
        "/debug/extfrag/unusable_index", "/debug/extfrag/extfrag_index", "/allocations"]


class Unanswered(Exception):
    """The server did not answer (it was killed, or the connection broke)."""


def call(port, method, path, body=None, timeout=30, ctype=None):
    """One request on its own connection: (status, bytes); Unanswered when there is no whole answer."""
    data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
    headers = {}
    if data is not None:
        headers["Content-Type"] = ctype or ("application/json" if not isinstance(body, str) else "text/plain")
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        payload = r.read()
        c.close()
        return r.status, payload
    except (OSError, http.client.HTTPException) as e:
        raise Unanswered(str(e))


def stats_without_sizes(body):
    d = json.loads(body)
    d.pop("state_bytes", None)
    d.pop("name", None)
    d.pop("state_bytes_by_part", None)
    return json.dumps(d, sort_keys=True, indent=0)


def fingerprint(port, name):
    """Everything compared of one machine, or None when it does not exist."""
    s, b = call(port, "GET", "/v1/machines/%s/stats" % name)
    if s == 404:
        return None
    if s != 200:
        raise AssertionError("GET %s stats answered %d: %s" % (name, s, b[:300]))
    out = {"stats": stats_without_sizes(b)}
    s, b = call(port, "GET", "/v1/machines/%s/debug/check" % name)
    if s != 200 or not json.loads(b).get("consistent"):
        raise AssertionError("machine %s fails the consistency checker: %s" % (name, b[:500]))
    for d in DOCS:
        s, b = call(port, "GET", "/v1/machines/%s%s" % (name, d))
        if s != 200:
            raise AssertionError("GET %s%s answered %d" % (name, d, s))
        out[d] = b.decode()
    return out


def diff(a, b):
    if a is None or b is None:
        return "one of them does not exist (%s / %s)" % (a is not None, b is not None)
    for k in a:
        if a[k] != b[k]:
            la, lb = a[k].splitlines(), b[k].splitlines()
            for i, (x, y) in enumerate(zip(la, lb)):
                if x != y:
                    return "%s line %d:\n  server: %s\n  shadow: %s" % (k, i + 1, x[:200], y[:200])
            return "%s: %d lines / %d lines" % (k, len(la), len(lb))
    return None


class Worker:
    """One thread's machine: its requests, and what it knows of its live handles."""

    def __init__(self, name, seed, modern=False):
        self.name, self.rng, self.modern = name, random.Random(seed), modern
        self.handles = []
        self.exists = False
        self.log = []          # (request, answer) pairs answered this round, in order
        self.inflight = None   # the request the kill cut off

    def config(self):
        # With --modern every other worker runs kernel 6.6 (kcompactd, proactive compaction, its sysctls).
        c = {"name": self.name, "memory_mib": 128, "nodes": 2, "seed": self.rng.randrange(1, 1000)}
        if self.modern:
            c["kernel"] = "6.6"
        return c

    def next_request(self):
        r = self.rng
        if not self.exists:
            return ("POST", "/v1/machines", self.config())
        m = "/v1/machines/" + self.name
        k = r.random()
        if k < 0.30:
            big = r.random() < 0.2
            body = {"count": r.randrange(300, 1500) if big else r.randrange(1, 120),
                    "order": r.choice([0, 0, 0, 0, 1, 2, 3, 9]), "kind": r.choice(["anon", "file", "slab", "kernel", "pinned"]),
                    "tag": "t%d" % r.randrange(4), "node": r.choice([None, 0, 1])}
            if r.random() < 0.3:
                body["gfp"] = {"wait": r.random() < 0.5, "repeat": r.random() < 0.3, "thisnode": r.random() < 0.3}
            if r.random() < 0.1:
                body["mlock"] = True
            return ("POST", m + "/allocations", body)
        if k < 0.45:
            return ("POST", m + "/allocations/free", {"tag": "t%d" % r.randrange(4),
                                                      "pattern": r.choice(["all", "every_other", "every_other", "random"]),
                                                      **({"fraction": 0.5, "seed": r.randrange(100)} if r.random() < 0.3 else {})})
        if k < 0.60 and self.handles:
            hs = list({r.choice(self.handles) for _ in range(r.randrange(1, 20))})
            return ("POST", m + "/allocations/free", {"handles": hs})
        if k < 0.68 and self.handles:
            return ("DELETE", m + "/allocations/%d" % r.choice(self.handles), None)
        if k < 0.76:
            choices = [("proc/sys/vm/extfrag_threshold", str(r.randrange(0, 1001))), ("proc/sys/vm/min_free_kbytes", str(r.randrange(1024, 8192))),
                       ("proc/sys/vm/compact_unevictable_allowed", str(r.randrange(2)))]
            if self.modern:
                choices += [("proc/sys/vm/compaction_proactiveness", str(r.choice([0, 20, 50]))),
                            ("proc/sys/vm/watermark_boost_factor", str(r.randrange(0, 20000))),
                            ("proc/sys/vm/watermark_scale_factor", str(r.randrange(1, 200))),
                            ("sys/kernel/mm/transparent_hugepage/defrag", r.choice(["always", "defer", "madvise", "never"]))]
            path, value = r.choice(choices)
            return ("PUT", m + "/" + path, value)
        if k < 0.90:
            return r.choice([("POST", m + "/compact", None), ("POST", m + "/nodes/%d/compact" % r.randrange(2), None),
                             ("PUT", m + "/proc/sys/vm/compact_memory", "1")])
        if k < 0.93:
            return ("DELETE", m, None)
        return ("POST", m + "/allocations", {"count": r.randrange(1, 40), "tag": "t%d" % r.randrange(4)})

    def learn(self, req, status, body):
        """What an answer tells about the machine (the shadow's answers teach the same)."""
        method, path, payload = req
        if path == "/v1/machines" and method == "POST":
            if status == 201:
                self.exists, self.handles = True, []
        elif method == "DELETE" and path == "/v1/machines/" + self.name:
            if status == 204:
                self.exists, self.handles = False, []
        elif path.endswith("/allocations") and status == 200:
            self.handles += json.loads(body).get("handles", [])
            self.handles = self.handles[-4000:]


def drive(port, w, stop, counts, lock):
    while not stop.is_set():
        req = w.next_request()
        method, path, body = req
        try:
            status, answer = call(port, method, path, body)
        except Unanswered:
            w.inflight = req
            return
        w.log.append((req, status, answer))
        w.learn(req, status, answer)
        with lock:
            counts["acknowledged" if status < 300 else "refused"] += 1


def start(binary, port, state_dir=None, extra=()):
    args = [binary, "--port", str(port), "--log-level", "warning", "--threads", "2"] + list(extra)
    if state_dir:
        args += ["--state-dir", state_dir]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_for_port(port, timeout=60):
        p.kill()
        raise SystemExit("the server did not start: " + p.stderr.read().decode()[-2000:])
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/compact-service")
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--snapshot-every", type=int, default=40, help="small, so snapshots are taken (and killed) too")
    ap.add_argument("--keep", action="store_true", help="keep the state directory")
    ap.add_argument("--modern", action="store_true",
                    help="every other machine runs kernel 6.6 (off by default: the 6.6 profile's own machines can fail the "
                         "consistency checker between requests, without any crash; README \"Durable state\")")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print("crash test: seed %d, %d kills, %d threads" % (args.seed, args.kills, args.threads), flush=True)
    state = tempfile.mkdtemp(prefix="crash-state-")
    shadow_port = free_port()
    shadow = start(args.bin, shadow_port)
    workers = [Worker("w%d" % i, rng.randrange(1 << 30), modern=args.modern and i % 2 == 1) for i in range(args.threads)]
    shadow_name = {w.name: None for w in workers}   # the shadow's machine standing for each worker's
    counts = {"acknowledged": 0, "refused": 0, "inflight": 0, "applied": 0}
    generation = [0]
    failed = False

    def shadow_apply(name, req, expect=None):
        """Applies a request to shadow machine `name`; returns (status, body)."""
        method, path, body = req
        path = path.replace("/v1/machines/" + req_owner(path), "/v1/machines/" + name, 1) if path != "/v1/machines" else path
        if path == "/v1/machines":
            body = dict(body, name=name)
        s, b = call(shadow_port, method, path, body)
        return s, b

    def req_owner(path):
        return path.split("/")[3] if path.startswith("/v1/machines/") else ""

    def fresh_name(w):
        generation[0] += 1
        return "%s-g%d" % (w.name, generation[0])

    def comparable(req, body):
        """An answer with the machine's name taken out (the shadow's machines are named differently)."""
        try:
            d = json.loads(body)
        except ValueError:
            return body
        if isinstance(d, dict):
            for k in ("name", "machine", "created_at", "instance", "request_id"):
                d.pop(k, None)
        return json.dumps(d, sort_keys=True)

    try:
        for kill in range(1, args.kills + 1):
            port = free_port()
            server = start(args.bin, port, state, ["--snapshot-every", str(args.snapshot_every)])
            # After the restart: each worker's machine equals its shadow, with or without its request in flight.
            for w in workers:
                served = fingerprint(port, w.name)
                base = shadow_name[w.name]
                if w.inflight is not None:
                    counts["inflight"] += 1
                    req = w.inflight
                    # Without the request: the shadow as it is. With it: the shadow once it has it (a new
                    # machine for a creation). The shadow is changed only when "without" does not match.
                    fp_without = fingerprint(shadow_port, base) if base else None
                    if served == fp_without:
                        pass
                    else:
                        if req[1] == "/v1/machines":
                            name = fresh_name(w)
                            s, b = shadow_apply(name, req)
                            with_it = name if s == 201 else None
                        elif base is not None:
                            s, b = shadow_apply(base, req)
                            with_it = None if (req[0] == "DELETE" and req[1] == "/v1/machines/" + w.name and s == 204) else base
                        else:
                            s, b, with_it = 404, b"", None
                        fp_with = fingerprint(shadow_port, with_it) if with_it else None
                        if served != fp_with:
                            print("FAIL after kill %d: machine %s equals its shadow neither with nor without the request in flight %s %s %s"
                                  % (kill - 1, w.name, req[0], req[1], json.dumps(req[2])[:200]), flush=True)
                            print("  without it: " + (diff(served, fp_without) or "same"), flush=True)
                            print("  with it:    " + (diff(served, fp_with) or "same"), flush=True)
                            failed = True
                            return 1
                        counts["applied"] += 1
                        if base and with_it != base:
                            call(shadow_port, "DELETE", "/v1/machines/" + base)
                        shadow_name[w.name] = with_it
                        w.learn(req, s, b)
                    w.inflight = None
                else:
                    expected = fingerprint(shadow_port, base) if base else None
                    d = diff(served, expected) if served != expected else None
                    if d:
                        print("FAIL after kill %d: machine %s differs from its shadow: %s" % (kill - 1, w.name, d), flush=True)
                        failed = True
                        return 1
                w.exists = served is not None
            # Drive, then kill.
            stop = threading.Event()
            lock = threading.Lock()
            threads = [threading.Thread(target=drive, args=(port, w, stop, counts, lock)) for w in workers]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 1.2))
            server.send_signal(signal.SIGKILL)
            server.wait()
            stop.set()
            for t in threads:
                t.join()
            # The shadow gets every answered request, in each machine's order; the answers must agree.
            for w in workers:
                for req, status, answer in w.log:
                    name = shadow_name[w.name]
                    if req[1] == "/v1/machines":
                        name = fresh_name(w)
                    if name is None:
                        s, b = status, answer
                        if status != 404:
                            print("FAIL: %s %s answered %d on the server for a machine the shadow does not have" % (req[0], req[1], status))
                            return 1
                        continue
                    s, b = shadow_apply(name, req)
                    if s != status or (s < 300 and comparable(req, b) != comparable(req, answer)):
                        print("FAIL before kill %d: %s %s %s answered %d on the server and %d on the shadow\n  server: %s\n  shadow: %s"
                              % (kill, req[0], req[1], json.dumps(req[2])[:200], status, s, answer[:300], b[:300]), flush=True)
                        return 1
                    if req[1] == "/v1/machines" and s == 201:
                        shadow_name[w.name] = name
                    elif req[0] == "DELETE" and req[1] == "/v1/machines/" + w.name and s == 204:
                        shadow_name[w.name] = None
                w.log = []
            print("kill %d: %d acknowledged, %d in flight at kills so far (%d applied)"
                  % (kill, counts["acknowledged"], counts["inflight"] + sum(w.inflight is not None for w in workers), counts["applied"]),
                  flush=True)
        # The last restart's check.
        port = free_port()
        server = start(args.bin, port, state)
        for w in workers:
            if w.inflight is None:
                served = fingerprint(port, w.name)
                expected = fingerprint(shadow_port, shadow_name[w.name]) if shadow_name[w.name] else None
                if served != expected:
                    print("FAIL at the end: machine %s: %s" % (w.name, diff(served, expected)), flush=True)
                    return 1
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        print("%d kills, %d requests acknowledged and found after every restart, %d in flight at a kill (%d of them applied)"
              % (args.kills, counts["acknowledged"], counts["inflight"], counts["applied"]), flush=True)
        return 0
    finally:
        shadow.kill()
        shadow.wait()
        if args.keep or failed:
            print("state directory kept: " + state)
        else:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
