#!/usr/bin/env python3
"""Limits per client, side by side: wrk reads a machine's stats from 127.0.0.1 while a misbehaving
client opens more connections than `--max-connections-per-ip` allows (from 127.0.0.2) and bursts
mutations past `--rate-limit` with its token (from 127.0.0.3). Checks that the misbehaving client is held to its limits (connections
refused past the cap, 429 with Retry-After past the rate) and that wrk's client is not starved: no
errors and at least a third of its rate alone (both share this machine's two cores, so some drop is
the load itself, not starvation).

Prints `name value unit` figures and closes with `limits: N passed, N failed`.

    scripts/limits.py --bin .build/debug/compact-service
"""
import argparse, json, os, re, socket, subprocess, sys, tempfile, threading, time
from testlib import free_port
from http.client import HTTPConnection


def wrk(url, seconds):
    out = subprocess.run(["wrk", "-t1", "-c8", "-d%ds" % seconds, "--latency", url], capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return rate, int(errors.group(1)) if errors else 0, socket_errors.group(1) if socket_errors else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/debug/compact-service")
    ap.add_argument("--seconds", type=int, default=4)
    a = ap.parse_args()
    port = free_port()
    tokens = tempfile.NamedTemporaryFile("w", delete=False)
    tokens.write("admin good-admin-token\nwrite noisy-write-token\n")
    tokens.close()
    proc = subprocess.Popen([a.bin, "--port", str(port), "--log-level", "error", "--token-file", tokens.name,
                             "--rate-limit", "20", "--max-connections-per-ip", "16"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checks = []

    def check(name, ok, detail=""):
        checks.append(ok)
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail else ""), flush=True)

    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        c = HTTPConnection("127.0.0.1", port)
        c.request("POST", "/v1/machines", json.dumps({"name": "l", "memory_mib": 256}),
                  {"Content-Type": "application/json", "Authorization": "Bearer good-admin-token"})
        check("machine created", c.getresponse().status == 201)
        url = "http://127.0.0.1:%d/v1/machines/l/stats" % port
        alone, _, _ = wrk(url, a.seconds)
        print("wrk_alone_requests_per_second %.0f req/s" % alone)

        stop = threading.Event()
        held, refused, statuses = [], [0], {}
        lock = threading.Lock()

        def hog_connections():
            # More connections than the per-IP cap, held open; the ones past it are closed by the server.
            for _ in range(48):
                try:
                    s = socket.socket()
                    s.bind(("127.0.0.2", 0))
                    s.settimeout(2)
                    s.connect(("127.0.0.1", port))
                    s.sendall(b"GET /v1/machines HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    data = s.recv(64)
                    if not data:
                        refused[0] += 1
                        s.close()
                    else:
                        held.append(s)
                except OSError:
                    refused[0] += 1

        def burst():
            while not stop.is_set():
                try:
                    s = socket.socket()
                    s.bind(("127.0.0.3", 0))
                    s.settimeout(5)
                    s.connect(("127.0.0.1", port))
                    body = b'{"count":1}'
                    for _ in range(50):
                        if stop.is_set():
                            break
                        s.sendall(b"POST /v1/machines/l/allocations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer noisy-write-token\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                        head = s.recv(65536).decode(errors="replace")
                        if not head:
                            break
                        code = int(head.split(" ", 2)[1])
                        with lock:
                            statuses[code] = statuses.get(code, 0) + 1
                            if code == 429 and "retry-after" not in head.lower():
                                statuses["429 without Retry-After"] = statuses.get("429 without Retry-After", 0) + 1
                    s.close()
                except (OSError, ValueError, IndexError):
                    time.sleep(0.01)

        hog_connections()
        bursters = [threading.Thread(target=burst) for _ in range(3)]
        t0 = time.monotonic()
        for t in bursters:
            t.start()
        beside, errors, socket_errors = wrk(url, a.seconds)
        stop.set()
        for t in bursters:
            t.join()
        # How long the bursters ran (wrk's start and end on a busy host take longer than --seconds).
        burst_s = time.monotonic() - t0
        for s in held:
            s.close()
        print("wrk_beside_misbehaving_client_requests_per_second %.0f req/s" % beside)
        print("misbehaving_connections_held %d connections" % len(held))
        print("misbehaving_connections_refused %d connections" % refused[0])
        print("misbehaving_statuses %s" % json.dumps({str(k): v for k, v in statuses.items()}, sort_keys=True))
        check("the per-IP cap held the misbehaving client", len(held) <= 16 and refused[0] >= 48 - 16,
              "%d held, %d refused" % (len(held), refused[0]))
        check("bursts past the rate were refused with 429 and Retry-After",
              statuses.get(429, 0) > 0 and "429 without Retry-After" not in statuses, json.dumps({str(k): v for k, v in statuses.items()}))
        # The token bucket: 20 a second, bursts of 40, over the time the bursters ran (+ a second's slack).
        allowed = 20 * (burst_s + 1) + 40
        rate_ok = statuses.get(200, 0) <= allowed
        check("the misbehaving client got no more than its rate", rate_ok,
              "%d successes in %.1f s (at most %.0f: 20/s, bursts of 40)" % (statuses.get(200, 0), burst_s, allowed))
        check("wrk's client saw no errors", errors == 0 and socket_errors is None, "%d non-2xx, socket errors %s" % (errors, socket_errors))
        check("wrk's client was not starved", beside >= alone / 3, "%.0f req/s beside, %.0f alone" % (beside, alone))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        os.unlink(tokens.name)
    failed = checks.count(False)
    print("limits: %d passed, %d failed" % (len(checks) - failed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
