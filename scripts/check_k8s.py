#!/usr/bin/env python3
"""Checks deploy/k8s against the service and the nginx front it mirrors (run by `make test`).

  * the manifests parse (and `kubectl kustomize deploy/k8s` renders them, when kubectl is installed);
  * the StatefulSet's memory request covers --memory-budget plus the fixed overhead README "Memory
    budget" names (96 MiB), and its limit is not below the request;
  * --state-dir is on the volume of the volumeClaimTemplate, one per pod;
  * --peers names every pod of `replicas` by its stable DNS name (pod.service:port), --self-url its own;
  * the ingress-nginx key map is deploy/nginx's `map $uri $compact_key` line for line, the Ingress hashes
    on it, never retries on another instance, does not buffer, and takes bodies up to the service's
    --max-snapshot-bytes default;
  * the pods carry the Prometheus scrape annotations on the service's port.
Prints one line per check; exits 1 if any failed.
"""
import os, re, shutil, subprocess, sys
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "k8s")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def size(text):
    m = re.fullmatch(r"(\d+)\s*([KMGTkmgt]?)(i?B?|i)?", text.strip())
    if not m:
        raise SystemExit("not a size: %r" % text)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]


def keymap(text):
    m = re.search(r"map \$uri \$compact_key \{(.*?)\}", text, re.S)
    return [" ".join(l.split()) for l in m.group(1).strip().splitlines()] if m else None


def main():
    docs = []
    for f in sorted(os.listdir(K8S)):
        if f.endswith(".yaml") and f != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(open(os.path.join(K8S, f))) if d]
    kinds = {d["kind"]: d for d in docs}
    check(set(kinds) >= {"StatefulSet", "Service", "Ingress", "ConfigMap"}, "deploy/k8s holds %s" % sorted(kinds))
    kubectl = shutil.which("kubectl")
    if kubectl:
        r = subprocess.run([kubectl, "kustomize", K8S], capture_output=True, text=True)
        rendered = [d["kind"] for d in yaml.safe_load_all(r.stdout) if d] if r.returncode == 0 else []
        check(r.returncode == 0 and sorted(rendered) == sorted(d["kind"] for d in docs),
              "kubectl kustomize deploy/k8s renders %s%s" % (rendered, (": " + r.stderr.strip()[-200:]) if r.returncode else ""))
    sts, svc, ing, cm = kinds["StatefulSet"], kinds["Service"], kinds["Ingress"], kinds["ConfigMap"]
    pod = sts["spec"]["template"]
    c = pod["spec"]["containers"][0]
    args = dict(a[2:].split("=", 1) for a in c["args"] if a.startswith("--") and "=" in a)
    budget = size(args["memory-budget"])
    req = size(c["resources"]["requests"]["memory"])
    lim = size(c["resources"]["limits"]["memory"])
    check(req >= budget + (96 << 20) and lim >= req,
          "memory request %d MiB covers --memory-budget %d MiB + 96 MiB, limit %d MiB" % (req >> 20, budget >> 20, lim >> 20))
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    claims = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])]
    check(any(mounts.get(n) == args.get("state-dir") for n in claims),
          "--state-dir %s is a volumeClaimTemplate's volume (one per pod)" % args.get("state-dir"))
    port = int(args.get("port", "8080"))
    name, service, n = sts["metadata"]["name"], sts["spec"]["serviceName"], sts["spec"]["replicas"]
    want = ["http://%s-%d.%s:%d" % (name, i, service, port) for i in range(n)]
    check(args.get("peers", "").split(",") == want, "--peers names the %d pods: %s" % (n, args.get("peers")))
    check(args.get("self-url") == "http://$(POD_NAME).%s:%d" % (service, port), "--self-url is the pod's own entry")
    check(svc["metadata"]["name"] == service and svc["spec"].get("clusterIP") == "None",
          "the Service %s is headless and the StatefulSet's serviceName" % svc["metadata"]["name"])
    front = keymap(open(os.path.join(ROOT, "deploy", "nginx", "compact-service.conf")).read())
    check(front is not None and keymap(cm["data"]["http-snippet"]) == front,
          "the ingress controller's key map is deploy/nginx's, line for line")
    ann = ing["metadata"]["annotations"]
    pre = "nginx.ingress.kubernetes.io/"
    check(ann.get(pre + "upstream-hash-by") == "$compact_key", "the Ingress hashes on $compact_key")
    check(ann.get(pre + "proxy-next-upstream") == "off" and ann.get(pre + "proxy-buffering") == "off",
          "the Ingress never retries on another instance and streams unbuffered")
    check(size(ann.get(pre + "proxy-body-size", "0")) == 256 << 20, "the Ingress takes bodies up to --max-snapshot-bytes (256 MiB)")
    pa = pod["metadata"].get("annotations", {})
    check(pa.get("prometheus.io/scrape") == "true" and int(pa.get("prometheus.io/port", 0)) == port and pa.get("prometheus.io/path") == "/metrics",
          "the pods carry Prometheus's scrape annotations for port %d" % port)
    if failures:
        print("deploy/k8s: %d checks failed" % len(failures))
        sys.exit(1)
    print("deploy/k8s: all checks passed")


if __name__ == "__main__":
    main()
