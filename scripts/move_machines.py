#!/usr/bin/env python3
"""Moves machines to their new owners after the set of instances behind the front changed.

Consistent hashing (deploy/nginx: `hash $compact_key consistent`) means that adding or removing an
instance changes the owner of only some machines. This script finds them and moves each by snapshot:

  1. lists the machines of every old instance, asking each directly (`--from URL`, repeatable);
  2. asks a front that already routes with the NEW set of instances (`--new-front URL`: a second
     nginx with the new upstream list, or the real front after its reload) for each machine: when the
     answer is 200 the new owner is the old one and the machine stays; when it is 404 the machine
     belongs to another instance and is moved;
  3. moves it: `GET …/snapshot` from the old instance, `PUT /v1/machines/{name}` with that snapshot
     through the new front (which sends it to the new owner), then compares the machine's /proc
     texts (buddyinfo, pagetypeinfo, vmstat, zoneinfo) on both sides, checks the copy with
     `GET …/debug/check`, makes sure the original did not change meanwhile, and only then DELETEs the
     original. A machine that changed during its copy is copied again (up to three times).

Nothing is deleted before its copy is verified, so an interrupted run can simply be run again: a
machine already copied answers 409 on the PUT, its copy is verified and the original removed.
Machines should be left alone while they move (README "Sharding": the procedure).

    scripts/move_machines.py --from http://10.0.0.1:8081 --from http://10.0.0.2:8081 \\
        --new-front http://127.0.0.1:9080 [--token TOKEN] [--dry-run]

Prints one line per machine (stays / moved / failed) and a summary; exits 1 if any move failed.
"""
import argparse, json, sys, urllib.error, urllib.request

SNAPSHOT = "application/vnd.compact-service.snapshot"
PROC = ["buddyinfo", "pagetypeinfo", "vmstat", "zoneinfo"]


class Http:
    def __init__(self, token, timeout):
        self.token, self.timeout = token, timeout

    def call(self, method, url, body=None, content_type=None):
        req = urllib.request.Request(url, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, url):
        st, body = self.call("GET", url)
        if st != 200:
            raise RuntimeError("GET %s: %d %s" % (url, st, body[:200].decode(errors="replace")))
        return json.loads(body)


def proc_texts(http, base, name):
    out = {}
    for f in PROC:
        st, body = http.call("GET", "%s/v1/machines/%s/proc/%s" % (base, name, f))
        if st != 200:
            raise RuntimeError("GET %s/v1/machines/%s/proc/%s: %d" % (base, name, f, st))
        out[f] = body
    return out


def move(http, old, front, name, dry_run):
    """'stays', 'moved' (or 'would move'), or raises with the reason."""
    st, _ = http.call("GET", "%s/v1/machines/%s" % (front, name))
    if st == 200:
        # Either the owner did not change, or an earlier run copied it: tell them apart by the copy's
        # instance answering for the same texts as the original.
        if proc_texts(http, front, name) == proc_texts(http, old, name) and owner_is(http, old, front, name):
            return "stays"
    elif st != 404:
        raise RuntimeError("the new front answers %d for machine '%s'" % (st, name))
    if dry_run:
        return "would move"
    for attempt in range(3):
        before = proc_texts(http, old, name)
        st, snap = http.call("GET", "%s/v1/machines/%s/snapshot" % (old, name))
        if st != 200:
            raise RuntimeError("snapshot of '%s' from %s: %d %s" % (name, old, st, snap[:200].decode(errors="replace")))
        st, body = http.call("PUT", "%s/v1/machines/%s" % (front, name), snap, SNAPSHOT)
        if st not in (201, 409):
            raise RuntimeError("PUT of '%s' through the new front: %d %s" % (name, st, body[:200].decode(errors="replace")))
        copy = proc_texts(http, front, name)
        check = http.json("%s/v1/machines/%s/debug/check" % (front, name))
        after = proc_texts(http, old, name)
        if copy == before == after and check.get("consistent"):
            st, body = http.call("DELETE", "%s/v1/machines/%s" % (old, name))
            if st not in (204, 404):
                raise RuntimeError("DELETE of the original '%s' on %s: %d" % (name, old, st))
            return "moved"
        # The original changed during the copy (or the copy differs): drop the copy and go again.
        http.call("DELETE", "%s/v1/machines/%s" % (front, name))
    raise RuntimeError("machine '%s' kept changing during its copy; left on %s" % (name, old))


def owner_is(http, old, front, name):
    """Whether the front's answer for `name` comes from the instance at `old` (the same instance id)."""
    a = http.json("%s/v1/machines/%s" % (front, name))
    b = http.json("%s/v1/machines/%s" % (old, name))
    return a.get("instance") == b.get("instance") and a.get("created_at") == b.get("created_at")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="old", action="append", required=True, help="an instance's base URL (repeat for each)")
    ap.add_argument("--new-front", required=True, help="a front that routes with the new set of instances")
    ap.add_argument("--token", help="admin bearer token, if the instances require one")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--dry-run", action="store_true", help="only print what would move")
    a = ap.parse_args()
    http = Http(a.token, a.timeout)
    front = a.new_front.rstrip("/")
    counts, failed = {}, []
    for old in (u.rstrip("/") for u in a.old):
        for m in http.json(old + "/v1/machines")["machines"]:
            name = m["name"]
            try:
                what = move(http, old, front, name, a.dry_run)
            except (RuntimeError, urllib.error.URLError, OSError) as e:
                what = "failed"
                failed.append("%s: %s" % (name, e))
                print("failed  %s (%s): %s" % (name, old, e), flush=True)
            else:
                print("%-7s %s (%s)" % (what, name, old), flush=True)
            counts[what] = counts.get(what, 0) + 1
    print("machines: " + ", ".join("%d %s" % (v, k) for k, v in sorted(counts.items())))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
