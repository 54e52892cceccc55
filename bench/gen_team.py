#!/usr/bin/env python3
"""Generate a team bucket for bench/team.sh: N sessions from A agents over D days, written
directly as files (the local store's layout, which is also s3s-fs's: one file per key).

    gen_team.py BUCKET_DIR PROJECT N [AGENTS=20] [DAYS=365] [SEED=1]

For each session: one small part and a meta.json with insight stats (tokens per model and
per day, tools, turns), as the flush engine writes them. The index objects under
<project>/@index/<agent>/ are what each agent's flushes would have left (session::index):
one day object per active day (the sessions indexed that day) and one month object per
month (every session indexed that month, "through" its last active day). Deterministic
for a given SEED. Prints one JSON line: sessions, files, bytes, seconds.
"""

import hashlib
import json
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone

MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001"]
TOOLS = ["Read", "Bash", "Edit", "Grep", "Write", "Glob"]
END = datetime(2026, 11, 29, 12, 0, 0, tzinfo=timezone.utc)


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    root, project, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    agents = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    days = int(sys.argv[5]) if len(sys.argv) > 5 else 365
    rnd = random.Random(int(sys.argv[6]) if len(sys.argv) > 6 else 1)
    t0 = time.time()
    files = 0
    total = 0
    # agent -> day -> [entry]
    index = {}
    for i in range(n):
        agent = f"agent-{i % agents:02d}"
        sid = "%08x-%04x-4%03x-8%03x-%012x" % (
            rnd.getrandbits(32), rnd.getrandbits(16), rnd.getrandbits(12), rnd.getrandbits(12), i)
        start = END - timedelta(seconds=rnd.randrange(days * 86400))
        end = start + timedelta(minutes=rnd.randrange(5, 120))
        model = MODELS[rnd.randrange(len(MODELS))]
        tok = [rnd.randrange(10, 5000), rnd.randrange(100, 40000), rnd.randrange(0, 200000), rnd.randrange(0, 3000000)]
        tools = {t: rnd.randrange(1, 30) for t in rnd.sample(TOOLS, 3)}
        turns = rnd.randrange(1, 40)
        day = start.strftime("%Y-%m-%d")
        day_end = end.strftime("%Y-%m-%d")
        if day_end != day:  # crossed midnight: split the tokens
            half = [x // 2 for x in tok]
            by_day = {day: {model: half}, day_end: {model: [a - b for a, b in zip(tok, half)]}}
        else:
            by_day = {day: {model: tok}}
        line = json.dumps({"type": "user", "sessionId": sid, "timestamp": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                           "message": {"role": "user", "content": "generated prompt " + "x" * 200}}) + "\n"
        body = line.encode()
        hex8 = hashlib.sha256(f"{sid}\n0\n0".encode()).hexdigest()[:8]
        prefix = os.path.join(root, project, "sessions", "claude-code", sid)
        write(os.path.join(prefix, f"part-00000-{hex8}.jsonl"), body)
        as_tokens = lambda q: {"input": q[0], "output": q[1], "cache_creation": q[2], "cache_read": q[3]}
        meta = {
            "schema_version": 1, "harness": "claude-code", "session_id": sid,
            "source_path": f"/home/{agent}/.claude/projects/-home-{agent}-app/{sid}.jsonl",
            "cwd": f"/home/{agent}/app", "agent_id": agent, "started_at": stamp(start),
            "last_uploaded_at": stamp(end), "ended_at": stamp(end), "total_source_bytes": len(body),
            "total_uploaded_bytes": len(body), "redaction_counts": {},
            "parts": [{"seq": 0, "uuid": hex8, "cursor_range": [0, len(body)], "source_bytes": len(body),
                       "uploaded_bytes": len(body), "redactions": {}, "uploaded_at": stamp(end)}],
            "writer": "tracecraft-hook/bench", "end_reason": "prompt_input_exit",
            "stats": {"turns": turns, "assistant_messages": turns * 3, "tool_calls": tools,
                      "tokens": {model: as_tokens(tok)}, "subagent_tokens": {},
                      "days": {d: {m: as_tokens(q) for m, q in by.items()} for d, by in by_day.items()},
                      "compactions": 0, "api_errors": 0, "tool_errors": 1, "lines": turns * 6,
                      "counter": {"counted_to": len(body), "recent": []}},
        }
        mbytes = json.dumps(meta, indent=2).encode()
        write(os.path.join(prefix, "meta.json"), mbytes)
        files += 2
        total += len(body) + len(mbytes)
        entry = {"id": sid, "harness": "claude-code", "agent": agent, "started": stamp(start),
                 "first_upload": stamp(start), "last_upload": stamp(end), "ended": stamp(end),
                 "end_reason": "prompt_input_exit", "parts": 1, "bytes": len(body), "counted": True,
                 "turns": turns, "messages": turns * 3, "tool_errors": 1, "tools": tools,
                 "tokens": {model: tok}, "days": by_day, "rev": stamp(end)}
        index.setdefault(agent, {}).setdefault(day_end, []).append(entry)
    # What each agent's writer leaves: a day object per active day, a month object per month.
    for agent, by_day in index.items():
        months = {}
        for day, entries in sorted(by_day.items()):
            doc = {"v": 1, "agent": agent, "period": day, "entries": entries}
            data = json.dumps(doc, separators=(",", ":")).encode()
            write(os.path.join(root, project, "@index", agent, f"{day}.json"), data)
            files += 1
            total += len(data)
            months.setdefault(day[:7], []).append(day)
        for month, ds in months.items():
            entries = [e for d in ds for e in by_day[d]]
            doc = {"v": 1, "agent": agent, "period": month, "through": max(ds), "entries": entries}
            data = json.dumps(doc, separators=(",", ":")).encode()
            write(os.path.join(root, project, "@index", agent, f"{month}.json"), data)
            files += 1
            total += len(data)
    print(json.dumps({"sessions": n, "files": files, "bytes": total, "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
