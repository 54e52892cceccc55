#!/usr/bin/env python3
"""Helpers of bench/run.sh (standard library only).

    tool.py free-port
    tool.py wait-idle STATE_FILE TRANSCRIPT [TIMEOUT_S]
    tool.py reqs S3S_LOG FROM_LINE [TO_LINE]
    tool.py gen-sessions STORE_DIR PROJECT N
    tool.py record RESULTS.jsonl KEY=VALUE...
    tool.py report RESULTS.jsonl MACHINE.json OUT.md OUT.json

`record` turns one measured row into a JSON line: timings from a hyperfine export
(`hf=FILE`), wall time and peak RSS from a `/usr/bin/time -f "%e %M"` probe
(`probe=FILE`), HTTP requests from the s3s-fs debug log between two line numbers
(`log=FILE from=N to=M`). `report` renders every row and the in-process bench results
as markdown, checks the targets, and writes the same data as JSON.
"""

import json
import math
import os
import re
import socket
import statistics
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def wait_idle(state, transcript, timeout="120"):
    """Wait until the hook's state says the whole transcript was seen (a detached worker
    finished). Exits 1 on timeout."""
    deadline = time.monotonic() + float(timeout)
    size = os.path.getsize(transcript)
    while time.monotonic() < deadline:
        try:
            with open(state, "rb") as f:
                st = json.load(f)
            if st.get("seen_len") == size and not st.get("meta_dirty"):
                return 0
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    print(f"wait-idle: {state} did not reach {size} bytes in {timeout}s", file=sys.stderr)
    return 1


REQ_RE = re.compile(r"s3s::service: req: Request \{ method: ([A-Z]+), uri: ([^ ,]+)")


def classify(method, uri):
    path, _, query = uri.partition("?")
    if method == "GET" and ("list-type=" in query or path.count("/") == 1 or path.endswith("/") and path.count("/") == 2):
        return "LIST"
    params = [p.partition("=")[0] for p in query.split("&")]
    if method == "POST" and "uploads" in params:
        return "MPU-start"
    if method == "PUT" and "partNumber" in params:
        return "MPU-part"
    if method == "POST" and "uploadId" in params:
        return "MPU-done"
    return method


def count_reqs(log, start, end=None):
    counts = {}
    with open(log, "r", errors="replace") as f:
        for i, line in enumerate(f):
            if i < start:
                continue
            if end is not None and i >= end:
                break
            m = REQ_RE.search(line)
            if m:
                k = classify(m.group(1), m.group(2))
                counts[k] = counts.get(k, 0) + 1
    return counts


def gen_sessions(store_dir, project, n):
    """N small sessions (one part + meta.json each) written straight into a directory that
    s3s-fs or the local store serves; the same layout as a flush writes."""
    n = int(n)
    base = os.path.join(store_dir, project, "sessions", "claude-code")
    for i in range(n):
        sid = "%08x-0000-4000-8000-%012x" % (i, i)
        d = os.path.join(base, sid)
        os.makedirs(d, exist_ok=True)
        body = (
            '{"type":"user","message":{"role":"user","content":"session %d"},"sessionId":"%s"}\n' % (i, sid)
        ).encode()
        name = "part-00000-%08x.jsonl" % (i * 2654435761 % (1 << 32))
        with open(os.path.join(d, name), "wb") as f:
            f.write(body)
        ts = "2026-11-%02dT%02d:%02d:00.000000+00:00" % (1 + i % 28, i % 24, i % 60)
        meta = {
            "schema_version": 1,
            "harness": "claude-code",
            "session_id": sid,
            "source_path": f"/home/me/.claude/projects/-home-me-p/{sid}.jsonl",
            "cwd": "/home/me/p",
            "agent_id": "bench",
            "started_at": ts,
            "last_uploaded_at": ts,
            "ended_at": None,
            "total_source_bytes": len(body),
            "total_uploaded_bytes": len(body),
            "redaction_counts": {},
            "parts": [
                {
                    "seq": 0,
                    "uuid": name[11:19],
                    "cursor_range": [0, len(body)],
                    "source_bytes": len(body),
                    "uploaded_bytes": len(body),
                    "redactions": {},
                    "uploaded_at": ts,
                }
            ],
        }
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)


def quartiles(xs):
    xs = sorted(xs)
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def record(results, *kv):
    row = {}
    for item in kv:
        k, _, v = item.partition("=")
        row[k] = v
    out = {k: v for k, v in row.items() if k not in ("hf", "probe", "log", "from", "to")}
    if row.get("hf") and os.path.exists(row["hf"]):
        with open(row["hf"]) as f:
            r = json.load(f)["results"][0]
        times = r["times"]
        q1, q3 = quartiles(times)
        out.update(
            cpu_s=r.get("user", 0) + r.get("system", 0),
            runs=len(times),
            median_s=statistics.median(times),
            min_s=min(times),
            max_s=max(times),
            q1_s=q1,
            q3_s=q3,
        )
    if row.get("probe") and os.path.exists(row["probe"]):
        with open(row["probe"]) as f:
            fields = f.read().split()
        # /usr/bin/time may prefix "Command exited with non-zero status N".
        nums = [x for x in fields if re.fullmatch(r"[0-9.]+", x)]
        if len(nums) >= 2:
            wall, rss_kb = float(nums[-2]), int(nums[-1])
            out["rss_kb"] = rss_kb
            out["probe_wall_s"] = wall
            if "median_s" not in out:
                out.update(runs=1, median_s=wall, min_s=wall, max_s=wall, q1_s=wall, q3_s=wall)
        if "status" in " ".join(fields):
            out["failed"] = " ".join(fields)
    if row.get("log") and row.get("from"):
        out["reqs"] = count_reqs(row["log"], int(row["from"]), int(row["to"]) if row.get("to") else None)
    with open(results, "a") as f:
        f.write(json.dumps(out) + "\n")


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------

# Targets per row id: ms (median wall), rss_mb, reqs (max total), no_list, ratio_to/ratio.
TARGETS = {
    "s3.noop": {"ms": 2},
    "local.noop": {"ms": 2},
    "s3.delta.1M.return": {"ms": 20},
    "local.delta.1M.return": {"ms": 20},
    "s3.delta.1K.inline": {"reqs": 2, "no_list": True},
    "s3.delta.64K.inline": {"reqs": 2, "no_list": True},
    "s3.delta.1M.inline": {"reqs": 2, "no_list": True},
    "s3.big": {"ratio_to": "s3.big.raw", "ratio": 1.3, "rss_mb": 32},
    "s3.bigu": {"ratio_to": "s3.bigu.raw", "ratio": 1.3, "rss_mb": 32},
    "local.big": {"rss_mb": 32},
    "s3.big.age": {"ratio_to": "s3.big", "ratio": 1.2, "rss_mb": 32},
    "s3.show": {"ms": 200, "rss_mb": 32},
    "local.show": {"ms": 200, "rss_mb": 32},
    "s3.compact": {"ms": 8000, "rss_mb": 64, "ratio_to": "s3.compact.floor", "ratio": 0.5},
    "local.compact": {"ms": 8000, "rss_mb": 64},
    "s3.list": {"pages": True},
    "s3.search.warm": {"ratio_to": "s3.search.rg", "ratio": 1.5, "rss_mb": 64},
    "s3.search.cold": {"ratio_to": "s3.search.rawget", "ratio": 1.3, "rss_mb": 64},
    "bin.version": {},
}

# Short names of reference rows.
SHORT = {
    "bin.true": "/bin/true",
    "s3.big.raw": "raw PUT",
    "s3.bigu.raw": "raw PUT",
    "s3.big": "plain flush",
    "local.big.cp": "cp",
    "s3.compact.floor": "raw GETs + PUT",
    "local.compact.floor": "cat",
    "s3.search.rg": "rg -F",
    "s3.search.rawget": "raw GETs",
}

# Reference rows shown beside ours (ratio = our median / theirs).
REFS = {
    "s3.noop.stop": ["py.noop"],
    "s3.delta.1M.inline": ["py.delta.1M"],
    "s3.big": ["s3.big.raw", "s3.big.py"],
    "s3.big.raw8": ["s3.big.raw"],
    "s3.bigu": ["s3.bigu.raw"],
    "s3.big.age": ["s3.big"],
    "local.big": ["local.big.cp"],
    "s3.show": ["py.show"],
    "s3.compact": ["s3.compact.floor", "py.compact"],
    "local.compact": ["local.compact.floor"],
    "s3.list": ["py.list"],
    "s3.search.warm": ["s3.search.rg"],
    "s3.search.cold": ["s3.search.rawget"],
    "s3.search.nocache": ["s3.search.rawget"],
    "bin.version": ["bin.true"],
    "s3.noop": ["bin.true", "py.noop"],
    "local.noop": ["bin.true"],
}


def fmt_time(s):
    if s is None:
        return "-"
    if s < 0.01:
        return f"{s * 1000:.2f} ms"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    return f"{s:.2f} s"


def fmt_reqs(r):
    if r is None:
        return "-"
    total = sum(r.values())
    if total == 0:
        return "0"
    parts = ", ".join(f"{k} {v}" for k, v in sorted(r.items()))
    return f"{total} ({parts})"


def check(row, rows, extra):
    """(verdict, explanation) of a row against its target, or ("", "") without one."""
    t = TARGETS.get(row["id"])
    if not t or row.get("na"):
        return "", ""
    if "median_s" not in row:
        return "n/a", ""
    fails, says = [], []
    med = row["median_s"]
    if "ms" in t:
        says.append(f"<= {t['ms']} ms")
        if med * 1000 > t["ms"]:
            fails.append("time")
    if "rss_mb" in t:
        says.append(f"<= {t['rss_mb']} MB RSS")
        if row.get("rss_kb", 0) / 1024 > t["rss_mb"]:
            fails.append("RSS")
    if "reqs" in t and row.get("reqs") is not None:
        says.append(f"<= {t['reqs']} requests" + (", no LIST" if t.get("no_list") else ""))
        if sum(row["reqs"].values()) > t["reqs"] or (t.get("no_list") and row["reqs"].get("LIST")):
            fails.append("requests")
    if "ratio_to" in t:
        ref = rows.get(t["ratio_to"])
        says.append(f"<= {t['ratio']}x {ref['label'] if ref else t['ratio_to']}")
        if ref and "median_s" in ref and med / ref["median_s"] > t["ratio"]:
            fails.append("ratio")
    if t.get("pages") and row.get("reqs") is not None:
        objects = int(extra.get("list_objects", 0))
        pages = max(1, math.ceil(objects / 1000))
        says.append(f"LIST <= {pages + 1}, GETs not O(sessions)")
        lists = row["reqs"].get("LIST", 0)
        gets = row["reqs"].get("GET", 0)
        if lists > pages + 1 or gets >= int(extra.get("list_sessions", 1)):
            fails.append("requests")
    return ("MISSED: " + ", ".join(fails) if fails else "met"), "; ".join(says)


def report(results, machine, out_md, out_json):
    rows, order = {}, []
    inproc = []
    with open(results) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if r.get("kind") == "inproc":
                inproc.append(r)
                continue
            rows[r["id"]] = r
            order.append(r["id"])
    with open(machine) as f:
        m = json.load(f)
    extra = m.get("extra", {})
    md = []
    md.append(f"# tracecraft-hook benchmarks{' (QUICK smoke run: tiny sizes, timings mean nothing)' if m.get('quick') else ''}")
    md.append("")
    md.append(f"- date: {m['date']}; commit: `{m['commit']}`")
    md.append(f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem']} RAM, kernel {m['kernel']}")
    md.append(f"- load average at start / end: {m.get('load_start', '?')} / {m.get('load_end', '?')}"
              + (" — **the machine was shared with other builds and tests while this ran**" if m.get("loaded") else ""))
    md.append(f"- binary: {m.get('bin_size', '?')} bytes ({m.get('profile', '?')}); s3s-fs {m.get('s3s', '?')} on 127.0.0.1;"
              f" tracecraft-ai {m.get('tracecraft_ai', 'not installed')}")
    md.append(f"- sizes: {m.get('sizes', '')}")
    md.append("")
    md.append("Whole-process figures: wall time is hyperfine's median over `runs` with [min–max] and the"
              " interquartile range (shown from 4 runs); CPU is the mean user+system time of those runs;"
              " RSS is the peak of one extra probe run under `/usr/bin/time`;"
              " requests are what s3s-fs received during that probe run (for a detached hook: including"
              " the background worker it started).")
    md.append("")
    md.append("| operation | store | tool | median | [min – max] | IQR | runs | CPU | peak RSS | HTTP requests | vs reference | target | |")
    md.append("|---|---|---|---:|---|---|---:|---:|---:|---|---|---|---|")
    verdicts = []
    for rid in order:
        r = rows[rid]
        store = {"s3": "s3s-fs", "local": "local store"}.get(r.get("group"), "")
        if r.get("na"):
            md.append(f"| {r['label']} | {store} | {r.get('tool', '')} | {r['na']} | | | | | | | | | |")
            continue
        med = r.get("median_s")
        rng = f"[{fmt_time(r.get('min_s'))} – {fmt_time(r.get('max_s'))}]" if med is not None else ""
        iqr = f"{fmt_time(r.get('q1_s'))} – {fmt_time(r.get('q3_s'))}" if r.get("runs", 0) > 3 else ""
        rss = f"{r['rss_kb'] / 1024:.1f} MB" if "rss_kb" in r else "-"
        refs = []
        for ref_id in REFS.get(rid, []):
            rr = rows.get(ref_id)
            if not rr or "median_s" not in rr or not med or not rr["median_s"]:
                continue
            ratio = med / rr["median_s"]
            name = SHORT.get(ref_id) or rr.get("tool") or rr["label"]
            if ratio < 0.5:
                refs.append(f"{1 / ratio:.0f}x faster than {name} ({fmt_time(rr['median_s'])})")
            else:
                refs.append(f"{ratio:.2f}x {name} ({fmt_time(rr['median_s'])})")
        ref = "; ".join(refs)
        verdict, says = check(r, rows, extra)
        if m.get("quick") and verdict:
            verdict = "(smoke run: not judged)"
        if verdict:
            verdicts.append((r["label"], verdict, says))
        failed = f" (FAILED: {r['failed']})" if r.get("failed") else ""
        note = f" {r['note']}" if r.get("note") else ""
        md.append(
            f"| {r['label']}{note} | {store} | {r.get('tool', '')} | {fmt_time(med)}{failed} | {rng} | {iqr} | {r.get('runs', '')} "
            f"| {fmt_time(r.get('cpu_s'))} | {rss} "
            f"| {fmt_reqs(r.get('reqs'))} | {ref} | {says} | {verdict} |"
        )
    md.append("")
    if inproc:
        md.append("In-process benches (`cargo bench`, one core, plain harness):")
        md.append("")
        md.append("| bench | case | median | best | target | |")
        md.append("|---|---|---:|---:|---|---|")
        for r in inproc:
            tgt, ok = "", ""
            if r.get("target") is not None:
                better_high = r["unit"].endswith("/s")
                tgt = (">= " if better_high else "<= ") + f"{r['target']:g} {r['unit']}"
                good = r["median"] >= r["target"] if better_high else r["median"] <= r["target"]
                ok = "met" if good else "MISSED"
                if m.get("quick"):
                    ok = "(smoke run: not judged)"
                verdicts.append((f"{r['bench']}: {r['case']}", ok, tgt))
            md.append(f"| {r['bench']} | {r['case']} | {r['median']:,.1f} {r['unit']} | {r['best']:,.1f} {r['unit']} | {tgt} | {ok} |")
        md.append("")
    missed = [v for v in verdicts if v[1].startswith("MISSED")]
    if m.get("quick"):
        md.append("Targets: not judged in a smoke run.")
    else:
        md.append(f"Targets: {len(verdicts) - len(missed)} of {len(verdicts)} met." + (" Missed:" if missed else ""))
        for label, v, says in missed:
            md.append(f"- {label}: {v} (target {says})")
    md.append("")
    text = "\n".join(md)
    with open(out_md, "w") as f:
        f.write(text)
    with open(out_json, "w") as f:
        json.dump({"machine": m, "rows": [rows[i] for i in order], "inproc": inproc}, f, indent=1)
    print(text)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "free-port":
        free_port()
    elif cmd == "wait-idle":
        return wait_idle(*args)
    elif cmd == "reqs":
        print(json.dumps(count_reqs(args[0], int(args[1]), int(args[2]) if len(args) > 2 else None)))
    elif cmd == "gen-sessions":
        gen_sessions(*args)
    elif cmd == "record":
        record(*args)
    elif cmd == "report":
        report(*args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
