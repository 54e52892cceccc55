#!/usr/bin/env python3
"""Test-only Codex CLI command hook (tests/e2e_codex.rs): saves its stdin payload as
DIR/<nanoseconds>-<pid>.json, with `_rollout_at_hook` added: how many lines the rollout named
by `transcript_path` had when the hook ran and how many `event_msg/task_complete` lines (one
per finished turn) were there yet (the Stop race). Prints nothing, always exits 0. usage: codex_probe_hook.py DIR
"""
import json
import os
import sys
import time

try:
    raw = sys.stdin.read()
    payload = json.loads(raw)
    tp = payload.get("transcript_path") if isinstance(payload, dict) else None
    if tp and os.path.exists(tp):
        lines, done = 0, 0
        with open(tp, "rb") as f:
            for line in f:
                lines += 1
                try:
                    rec = json.loads(line)
                    done += (rec.get("type") == "event_msg"
                             and (rec.get("payload") or {}).get("type") == "task_complete")
                except ValueError:
                    pass
        payload["_rollout_at_hook"] = {"lines": lines, "task_completes": done}
    path = os.path.join(sys.argv[1], "%d-%d.json" % (time.time_ns(), os.getpid()))
    with open(path + ".tmp", "w") as f:
        json.dump(payload, f)
    os.rename(path + ".tmp", path)
except Exception:  # a probe must never disturb the run
    pass
