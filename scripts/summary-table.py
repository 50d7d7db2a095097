#!/usr/bin/env python3
# The summary table docs/results.md shows for a two-variant experiment (vanilla, compaction) with `repeat`:
# reads the Markdown that `mm-bench experiment-parallel FILE 2 markdown` prints (rows per variant and seed,
# then the summary with mean, 95 % interval and the paired difference) and prints, per figure, the mean and
# interval of each variant and of the difference, then the request and the per-seed request_pct.
#
#   scripts/summary-table.py RESULT.md "TITLE"
import sys, re
def num(s): return float(s)
def f(x, ref):
    a = abs(ref)
    if a >= 100: return f"{round(x):,}"
    if a >= 1: return f"{x:.1f}"
    return f"{x:.2f}"
def jnum(x):
    x = float(x); return str(int(x)) if x == int(x) else str(x)
def render(path, title):
    lines = open(path).read().split("\n")
    rows = [l for l in lines if l.startswith("| vanilla |") or l.startswith("| compaction |")]
    per = [r.split("|")[1:-1] for r in rows]
    per = [[c.strip() for c in r] for r in per]
    seedrows = [r for r in per if len(r) > 12]
    summ = [r for r in per if len(r) == 10]
    hdr = [c.strip() for c in lines[0].split("|")[1:-1]]
    rq = hdr.index("requested"); rp = hdr.index("request_pct")
    out = [f"#### {title}", "", "| figure | vanilla mean (95 % CI) | compaction mean (95 % CI) | compaction − vanilla, paired (95 % CI) |", "|---|---|---|---|"]
    figs = [r[1] for r in summ if r[0] == "vanilla"]
    for fig in figs:
        v = next(r for r in summ if r[0] == "vanilla" and r[1] == fig)
        c = next(r for r in summ if r[0] == "compaction" and r[1] == fig)
        vm, vl, vh = map(num, (v[3], v[5], v[6])); cm, cl, ch = map(num, (c[3], c[5], c[6])); dm, dl, dh = map(num, (c[7], c[8], c[9]))
        out.append(f"| {fig} | {f(vm,vm)} ({f(vl,vm)} – {f(vh,vm)}) | {f(cm,cm)} ({f(cl,cm)} – {f(ch,cm)}) | {f(dm,dm)} ({f(dl,dm)} – {f(dh,dm)}) |")
    req = seedrows[0][rq]
    van = [jnum(r[rp]) for r in seedrows if r[0] == "vanilla"]; com = [jnum(r[rp]) for r in seedrows if r[0] == "compaction"]
    out += ["", f"requested: {req} huge pages per run; per seed request_pct vanilla [{', '.join(van)}], compaction [{', '.join(com)}]", ""]
    return "\n".join(out)
print(render(sys.argv[1], sys.argv[2]))
